//! Importing an account image into the catalogue: the release recorded first if missing
//! (with no train and no maintenance run: the image exists already), the image version of
//! its product, release and architecture (imported, available), and its region image with
//! the account's state. Used by the sync for images whose tags or name say what they are,
//! and by "adopt" for images made outside the portal.
//!
//! Every insert tolerates a second sync doing the same at the same time (insert on
//! conflict do nothing, then read again).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::matching::{AccountState, Recognised};
use crate::{
    domain::*,
    error::{AppError, AppResult},
    services::{
        audit::{self, Change},
        entities::{image_region, image_version, release},
        images, insert_new,
    },
};

/// The release of this version, recorded if the catalogue lacks it (released on the day
/// the image was made).
async fn release_of(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    version: &Version,
    made: DateTime<Utc>,
) -> AppResult<release::Model> {
    let find = || release::Entity::find().filter(release::Column::Version.eq(version.to_string()));
    if let Some(r) = find().one(txn).await? {
        return Ok(r);
    }
    let number = |n: u32, what: &str| {
        i32::try_from(n).map_err(|_| AppError::internal("imported release", what.to_owned()))
    };
    let kind = if version.patch > 0 {
        ReleaseKind::Patch
    } else {
        ReleaseKind::Regular
    };
    let inserted = insert_new(
        txn,
        release::ActiveModel {
            version: Set(version.to_string()),
            major: Set(number(version.major, "major")?),
            minor: Set(number(version.minor, "minor")?),
            patch: Set(number(version.patch, "patch")?),
            pre: Set(version.pre.clone()),
            released_on: Set(made.date_naive()),
            kind: Set(kind),
            created_at: Set(now),
            ..Default::default()
        },
        [release::Column::Version],
    )
    .await?;
    let r = find()
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("imported release", version.to_string()))?;
    if inserted {
        audit::record(
            txn,
            Some(actor),
            now,
            Change {
                action: "create",
                object_type: "release",
                object_id: r.version.clone(),
                summary: format!(
                    "recorded release {} from an image in the account (no train, no maintenance run)",
                    r.version
                ),
                before: None,
                after: audit::snapshot(&r),
            },
        )
        .await?;
    }
    Ok(r)
}

/// What an import did.
pub(super) struct Imported {
    pub region: image_region::Model,
    pub version: image_version::Model,
}

/// An account image, as an import needs it.
#[derive(Clone, Copy)]
pub(super) struct Found<'a> {
    pub region: &'a str,
    pub image_id: &'a str,
    pub name: &'a str,
    pub created_on: Option<DateTime<Utc>>,
    pub state: AccountState,
}

/// Imports one account image as `what`. `None` when the catalogue already has another
/// image of that product, release and architecture in the region: the image cannot be
/// placed there.
pub(super) async fn import_image(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    found: &Found<'_>,
    what: &Recognised,
) -> AppResult<Option<Imported>> {
    let Found {
        region,
        image_id,
        name,
        created_on,
        state,
    } = *found;
    let made = created_on.unwrap_or(now);
    let release = release_of(txn, actor, now, &what.version, made).await?;
    let existing = images::versions_of(txn, what.product_id, release.id, what.arch).await?;
    let version = match images::current(&existing).cloned() {
        Some(iv) => iv,
        None => {
            let rebuild = existing.iter().map(|iv| iv.rebuild).max().unwrap_or(0) + 1;
            insert_new(
                txn,
                image_version::ActiveModel {
                    product_id: Set(what.product_id),
                    release_id: Set(release.id),
                    arch: Set(what.arch),
                    name: Set(name.to_owned()),
                    state: Set(ImageState::Available),
                    created_at: Set(made),
                    updated_at: Set(now),
                    rebuild: Set(rebuild),
                    superseded_by: Set(None),
                    superseded_at: Set(None),
                    rebuild_reason: Set(None),
                    base_image_id: Set(None),
                    base_image_name: Set(None),
                    source: Set(ImageSource::Imported),
                    ..Default::default()
                },
                [
                    image_version::Column::ProductId,
                    image_version::Column::ReleaseId,
                    image_version::Column::Arch,
                    image_version::Column::Rebuild,
                ],
            )
            .await?;
            image_version::Entity::find()
                .filter(image_version::Column::ProductId.eq(what.product_id))
                .filter(image_version::Column::ReleaseId.eq(release.id))
                .filter(image_version::Column::Arch.eq(what.arch))
                .filter(image_version::Column::Rebuild.eq(rebuild))
                .one(txn)
                .await?
                .ok_or_else(|| AppError::internal("imported image version", name.to_owned()))?
        }
    };
    let find_region = || {
        image_region::Entity::find()
            .filter(image_region::Column::ImageVersionId.eq(version.id))
            .filter(image_region::Column::Region.eq(region))
    };
    let placed = match find_region().one(txn).await? {
        // The catalogue holds another image there that is not deregistered.
        Some(r)
            if r.image_id.as_deref().is_some_and(|id| id != image_id)
                && r.state != RegionImageState::Deregistered =>
        {
            return Ok(None);
        }
        Some(r) => {
            let mut active: image_region::ActiveModel = r.into();
            active.image_id = Set(Some(image_id.to_owned()));
            active.state = Set(state.region_state());
            active.updated_at = Set(now);
            active.update(txn).await?
        }
        None => {
            insert_new(
                txn,
                image_region::ActiveModel {
                    image_version_id: Set(version.id),
                    region: Set(region.to_owned()),
                    image_id: Set(Some(image_id.to_owned())),
                    state: Set(state.region_state()),
                    updated_at: Set(now),
                    ..Default::default()
                },
                [
                    image_region::Column::ImageVersionId,
                    image_region::Column::Region,
                ],
            )
            .await?;
            let r = find_region()
                .one(txn)
                .await?
                .ok_or_else(|| AppError::internal("imported region image", image_id.to_owned()))?;
            if r.image_id.as_deref() != Some(image_id) {
                return Ok(None);
            }
            r
        }
    };
    // An image version that was still planned, building or failed has an image now.
    let version = if version.state == ImageState::Available {
        version
    } else {
        let mut active: image_version::ActiveModel = version.into();
        active.state = Set(ImageState::Available);
        active.updated_at = Set(now);
        active.update(txn).await?
    };
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "import_image",
            object_type: "image_version",
            object_id: version.id.to_string(),
            summary: format!(
                "imported {name} ({image_id}) in {region} from the account as {}",
                version.name
            ),
            before: None,
            after: audit::snapshot(&placed),
        },
    )
    .await?;
    Ok(Some(Imported {
        region: placed,
        version,
    }))
}
