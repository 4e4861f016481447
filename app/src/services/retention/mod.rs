//! The public-image quota. Each AWS region allows a number of public images per account;
//! once it is used up a build cannot make its image public. The portal counts the public
//! images per region against the quota (`quotas`): the account's, as the cloud sync read
//! them, or the catalogue's until a sync has read the region; the quota is the one set by
//! hand, otherwise Service Quotas', otherwise AWS's default. A retention policy per product
//! says which old images go (`policy`): the images of the newest N releases per
//! architecture stay, so does anything of a release inside the support window or behind a
//! public marketplace version, and never an image the account protects from
//! deregistration or that backs a public version. A dry run stores exactly the images past
//! the policy as a proposal (so does the quota warning's one click, per product, and a
//! drift item's "propose retirement", for exactly its image); once Partnerships approves it
//! (`proposals`), the `retire_images` job deprecates them, makes them private, or
//! deregisters them and deletes their snapshots, as the policy says.

mod policy;
mod proposals;
mod quotas;

pub(crate) use self::{proposals::propose_images_in, quotas::near_quota};

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

pub use self::{
    policy::{
        DEFAULT_ACTION, DEFAULT_KEEP_NEWEST, DEFAULT_SUPPORT_DAYS, candidates, policies, policy,
        set_policy,
    },
    proposals::{
        RetireImages, decide, dry_run, finish, get, plan, proposals, propose_images,
        propose_region, record_outcome,
    },
    quotas::{DEFAULT_QUOTA, IN_RECYCLE_BIN, MADE_OUTSIDE, clear_quota, regions, set_quota},
};
use super::entities::{partner, product};
use crate::{domain::*, dto::*, error::AppResult};

/// The AWS products with their partners.
pub(crate) async fn aws_products(
    db: &impl ConnectionTrait,
) -> AppResult<Vec<(partner::Model, product::Model)>> {
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Cloud.eq(Cloud::Aws))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(product::Entity::find()
        .filter(product::Column::PartnerId.is_in(partners.keys().copied()))
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|p| Some((partners.get(&p.partner_id)?.clone(), p)))
        .collect())
}

/// The public images page.
pub async fn overview(db: &impl ConnectionTrait) -> AppResult<PublicImages> {
    Ok(PublicImages {
        regions: regions(db).await?,
        policies: policies(db).await?,
        proposals: proposals(db, false).await?,
    })
}
