//! Whether a release builds a product's images by itself (Omnibus decides) and publishes a
//! listing's version by itself (Partnerships decides). Turning a policy to automatic lets
//! the open trains go on at their next turn.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionSession, TransactionTrait};

use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        audit::{self, Change, snapshot},
        begin_write,
        entities::{listing, product},
        listings, products,
    },
};

fn parse(input: &StepPolicyInput) -> AppResult<Policy> {
    input
        .policy
        .parse::<Policy>()
        .map_err(|m| AppError::validation("policy", m))
}

/// Sets whether a release builds the product's images by itself.
pub async fn set_build_policy(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    product_slug: &str,
    input: &StepPolicyInput,
) -> AppResult<Product> {
    actor.require(Permission::SetBuildPolicy)?;
    let policy = parse(input)?;
    let txn = begin_write(db).await?;
    let (partner, before) = products::find_model(&txn, partner_slug, product_slug).await?;
    if policy == Policy::Automatic && partner.cloud != Cloud::Aws {
        return Err(AppError::conflict(
            "policy",
            format!(
                "{} images are maintained by hand: the portal builds AWS images only",
                partner.name
            ),
        ));
    }
    if before.build_policy != policy {
        let mut active: product::ActiveModel = before.clone().into();
        active.build_policy = Set(policy);
        active.updated_at = Set(now);
        let after = active.update(&txn).await?;
        audit::record(
            &txn,
            Some(actor),
            now,
            Change {
                action: "set_build_policy",
                object_type: "product",
                object_id: format!("{}/{}", partner.slug, after.slug),
                summary: format!(
                    "{}: a release builds its images {}",
                    after.name,
                    describe(policy)
                ),
                before: snapshot(&before),
                after: snapshot(&after),
            },
        )
        .await?;
    }
    txn.commit().await?;
    products::get(db, partner_slug, product_slug).await
}

/// Sets whether a release publishes the listing's version by itself.
pub async fn set_publish_policy(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &StepPolicyInput,
) -> AppResult<Listing> {
    actor.require(Permission::SetPublishPolicy)?;
    let policy = parse(input)?;
    let txn = begin_write(db).await?;
    let before = listings::find_model(&txn, listing_id).await?;
    if before.publish_policy != policy {
        let mut active: listing::ActiveModel = before.clone().into();
        active.publish_policy = Set(policy);
        active.updated_at = Set(now);
        let after = active.update(&txn).await?;
        audit::record(
            &txn,
            Some(actor),
            now,
            Change {
                action: "set_publish_policy",
                object_type: "listing",
                object_id: after.id.to_string(),
                summary: format!(
                    "{}: a release publishes its version {}",
                    after.entity_name,
                    describe(policy)
                ),
                before: snapshot(&before),
                after: snapshot(&after),
            },
        )
        .await?;
    }
    txn.commit().await?;
    listings::get(db, listing_id).await
}

fn describe(policy: Policy) -> &'static str {
    match policy {
        Policy::Automatic => "by itself",
        Policy::Manual => "only when a person starts it",
    }
}
