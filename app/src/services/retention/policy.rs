//! Each AWS product's retention policy, and the dry run: the images past it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use super::aws_products;
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
    services::{
        audit::{self, Change},
        begin_write,
        entities::{
            account_image, image_region, image_version, listing, listing_version, partner, product,
            release, retention_policy,
        },
        products,
    },
};

/// The policy of a product nobody has set one for.
pub const DEFAULT_KEEP_NEWEST: i32 = 3;
pub const DEFAULT_SUPPORT_DAYS: i32 = 90;
pub const DEFAULT_ACTION: RetentionAction = RetentionAction::MakePrivate;

fn policy_dto(
    partner: &partner::Model,
    p: &product::Model,
    row: Option<retention_policy::Model>,
) -> RetentionPolicy {
    match row {
        Some(r) => RetentionPolicy {
            product_id: p.id,
            partner_slug: partner.slug.clone(),
            product_slug: p.slug.clone(),
            product_name: p.name.clone(),
            keep_newest: r.keep_newest,
            support_days: r.support_days,
            action: r.action,
            updated_by: Some(r.updated_by),
            updated_at: Some(r.updated_at),
        },
        None => RetentionPolicy {
            product_id: p.id,
            partner_slug: partner.slug.clone(),
            product_slug: p.slug.clone(),
            product_name: p.name.clone(),
            keep_newest: DEFAULT_KEEP_NEWEST,
            support_days: DEFAULT_SUPPORT_DAYS,
            action: DEFAULT_ACTION,
            updated_by: None,
            updated_at: None,
        },
    }
}

/// Every AWS product's policy (the defaults where none was set).
pub async fn policies(db: &impl ConnectionTrait) -> AppResult<Vec<RetentionPolicy>> {
    let mut rows: HashMap<i32, retention_policy::Model> = retention_policy::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.product_id, r))
        .collect();
    Ok(aws_products(db)
        .await?
        .iter()
        .map(|(partner, p)| policy_dto(partner, p, rows.remove(&p.id)))
        .collect())
}

/// One product's policy.
pub async fn policy(
    db: &impl ConnectionTrait,
    partner_slug: &str,
    slug: &str,
) -> AppResult<RetentionPolicy> {
    let (partner, p) = products::find_model(db, partner_slug, slug).await?;
    let row = retention_policy::Entity::find_by_id(p.id).one(db).await?;
    Ok(policy_dto(&partner, &p, row))
}

/// Sets a product's retention policy.
pub async fn set_policy(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    slug: &str,
    input: &RetentionPolicyInput,
) -> AppResult<RetentionPolicy> {
    actor.require(Permission::ManageCatalogue)?;
    let mut v = Validator::new();
    let keep = v.check(
        "keep_newest",
        Some(input.keep_newest)
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                "keep the images of 1 to 100 releases: the newest always stays".to_owned()
            }),
    );
    let days = v.check(
        "support_days",
        Some(input.support_days)
            .filter(|n| (0..=3650).contains(n))
            .ok_or_else(|| "give the support window in days, 0 to 3650".to_owned()),
    );
    let action = input.action;
    let (keep, days) = v.finish(|| Some((keep?, days?)))?;
    let txn = begin_write(db).await?;
    let (partner, p) = products::find_model(&txn, partner_slug, slug).await?;
    if partner.cloud != Cloud::Aws {
        return Err(AppError::validation(
            "product",
            "retention policies are for products on AWS",
        ));
    }
    let before = retention_policy::Entity::find_by_id(p.id).one(&txn).await?;
    let model = retention_policy::ActiveModel {
        product_id: Set(p.id),
        keep_newest: Set(keep),
        support_days: Set(days),
        action: Set(action),
        updated_by: Set(actor.username.clone()),
        updated_at: Set(now),
    };
    let after = match &before {
        Some(_) => model.update(&txn).await,
        None => model.insert(&txn).await,
    }?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "set_retention",
            object_type: "product",
            object_id: p.id.to_string(),
            summary: format!(
                "retention of {}: keep the newest {keep}, {days} days of support, then {}",
                p.name,
                action.label().to_lowercase()
            ),
            before: before.as_ref().and_then(audit::snapshot),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(policy_dto(&partner, &p, Some(after)))
}

/// The states an image may be in for the action to apply to it.
pub(super) fn acts_on(action: RetentionAction, state: RegionImageState) -> bool {
    use RegionImageState::*;
    match action {
        RetentionAction::Deprecate => state == Public,
        RetentionAction::MakePrivate => matches!(state, Public | Deprecated),
        RetentionAction::Deregister => matches!(state, Public | Deprecated | Private),
    }
}

/// Of these image ids, the ones the account protects from deregistration or that back a
/// public marketplace version, as the last cloud sync saw them.
pub(super) async fn guarded_images(
    db: &impl ConnectionTrait,
    image_ids: impl IntoIterator<Item = String>,
) -> AppResult<HashSet<String>> {
    use sea_orm::Condition;
    let ids: BTreeSet<String> = image_ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(account_image::Entity::find()
        .filter(account_image::Column::ImageId.is_in(ids))
        .filter(account_image::Column::GoneAt.is_null())
        .filter(
            Condition::any()
                .add(account_image::Column::Protected.eq(true))
                .add(account_image::Column::Live.eq(true)),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|i| i.image_id)
        .collect())
}

/// The images of a product past its policy, oldest release first: the dry run. An image
/// the account protects from deregistration or that backs a public marketplace version is
/// never among them.
pub async fn candidates(
    db: &impl ConnectionTrait,
    product_id: i32,
    policy: &RetentionPolicy,
    today: NaiveDate,
) -> AppResult<Vec<RetentionItem>> {
    let versions = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(product_id))
        .filter(image_version::Column::State.eq(ImageState::Available))
        .all(db)
        .await?;
    let releases: HashMap<i32, release::Model> = release::Entity::find()
        .filter(release::Column::Id.is_in(versions.iter().map(|v| v.release_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    // Releases behind a public marketplace version of this product are in use.
    let listings: Vec<i32> = listing::Entity::find()
        .filter(listing::Column::ProductId.eq(product_id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let public_versions = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.is_in(listings))
        .filter(listing_version::Column::Visibility.eq(ListingVersionVisibility::Public))
        .all(db)
        .await?;
    let in_use: HashSet<i32> = public_versions
        .iter()
        .filter_map(|v| v.release_id)
        .collect();
    // When each release was first published: an image replaced after that may be what the
    // marketplace version launches.
    let mut published_since: HashMap<i32, DateTime<Utc>> = HashMap::new();
    for v in &public_versions {
        if let Some(release_id) = v.release_id {
            let first = published_since.entry(release_id).or_insert(v.published_at);
            *first = (*first).min(v.published_at);
        }
    }
    let window_start = today - Duration::days(i64::from(policy.support_days));
    let mut by_arch: BTreeMap<Arch, Vec<(Version, &image_version::Model, &release::Model)>> =
        BTreeMap::new();
    let mut past: Vec<(Version, &image_version::Model)> = Vec::new();
    for v in &versions {
        let Some(r) = releases.get(&v.release_id) else {
            continue;
        };
        let version =
            Version::parse(&r.version).map_err(|e| AppError::internal("stored release", e))?;
        if v.superseded_by.is_some() {
            // A rebuild replaced it: past the policy whatever its release, unless a public
            // marketplace version published before it was replaced may launch it. It takes
            // no place among the newest releases, which count the current images.
            let launched_by_marketplace = match (published_since.get(&r.id), v.superseded_at) {
                (Some(published), Some(replaced)) => *published < replaced,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !launched_by_marketplace {
                past.push((version, v));
            }
            continue;
        }
        by_arch.entry(v.arch).or_default().push((version, v, r));
    }
    for list in by_arch.values_mut() {
        list.sort_by(|a, b| b.0.cmp(&a.0));
        for (i, (version, v, r)) in list.iter().enumerate() {
            let newest = i < policy.keep_newest.max(1) as usize;
            let supported = r.released_on > window_start;
            if !newest && !supported && !in_use.contains(&r.id) {
                past.push((version.clone(), v));
            }
        }
    }
    past.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.arch.cmp(&b.1.arch))
            .then(a.1.rebuild.cmp(&b.1.rebuild))
    });
    let regions = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.is_in(past.iter().map(|(_, v)| v.id)))
        .order_by_asc(image_region::Column::Region)
        .all(db)
        .await?;
    // An image whose account image is protected from deregistration, or behind a public
    // marketplace version, is never proposed: nor is anything else of its image version.
    let guarded = guarded_images(db, regions.iter().filter_map(|r| r.image_id.clone())).await?;
    let kept: HashSet<i32> = regions
        .iter()
        .filter(|r| r.image_id.as_ref().is_some_and(|id| guarded.contains(id)))
        .map(|r| r.image_version_id)
        .collect();
    let mut items = Vec::new();
    for (version, v) in past {
        if kept.contains(&v.id) {
            continue;
        }
        for r in regions.iter().filter(|r| r.image_version_id == v.id) {
            let state = r.state;
            let Some(image_id) = &r.image_id else {
                continue;
            };
            if acts_on(policy.action, state) {
                items.push(RetentionItem {
                    image_region_id: r.id,
                    region: r.region.clone(),
                    image_id: image_id.clone(),
                    image_name: v.name.clone(),
                    version: version.to_string(),
                    arch: v.arch,
                    state,
                });
            }
        }
    }
    Ok(items)
}
