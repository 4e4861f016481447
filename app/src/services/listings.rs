//! Marketplace listings of licensed products and the versions published on them, counted
//! against the marketplace's version limit (100 on AWS Marketplace). Once the cloud sync has
//! read a listing's entity, its public versions are the entity's (versions added in the
//! console count too); before that, the catalogue's.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};

use super::{
    DbResultExt,
    audit::{self, Change, snapshot},
    entities::{account_listing, listing, listing_version, release},
    releases,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode, Validator, required_text},
};

/// AWS Marketplace allows this many versions per product.
pub const DEFAULT_VERSION_LIMIT: i32 = 100;

pub(crate) async fn to_dto(db: &impl ConnectionTrait, l: listing::Model) -> AppResult<Listing> {
    let id = l.id;
    to_dtos(db, vec![l])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("listing without product", id))
}

/// These listings with their versions, as lists and pages show them: five queries for the
/// whole list.
pub(crate) async fn to_dtos(
    db: &impl ConnectionTrait,
    rows: Vec<listing::Model>,
) -> AppResult<Vec<Listing>> {
    use std::collections::HashMap;

    let ids: Vec<i32> = rows.iter().map(|l| l.id).collect();
    let products =
        super::products::with_partner_slugs(db, rows.iter().map(|l| l.product_id)).await?;
    let mut versions_by_listing: HashMap<i32, Vec<listing_version::Model>> = HashMap::new();
    for v in listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.is_in(ids.iter().copied()))
        .order_by_desc(listing_version::Column::PublishedAt)
        .order_by_desc(listing_version::Column::Id)
        .all(db)
        .await?
    {
        versions_by_listing.entry(v.listing_id).or_default().push(v);
    }
    let versions_of = super::lookup(
        db,
        release::Column::Id,
        versions_by_listing
            .values()
            .flatten()
            .filter_map(|v| v.release_id)
            .collect::<std::collections::BTreeSet<_>>(),
        |r| (r.id, r.version),
    )
    .await?;
    let synced = synced_public_versions_of(db, ids).await?;
    rows.into_iter()
        .map(|l| {
            let (product, partner_slug) = products
                .get(&l.product_id)
                .ok_or_else(|| AppError::internal("listing without product", l.id))?;
            let versions: Vec<ListingVersion> = versions_by_listing
                .remove(&l.id)
                .unwrap_or_default()
                .into_iter()
                .map(|v| ListingVersion {
                    id: v.id,
                    release: v.release_id.and_then(|id| versions_of.get(&id).cloned()),
                    visibility: v.visibility,
                    title: v.title,
                    delivery_option_id: v.delivery_option_id,
                    published_at: v.published_at,
                    arch: v.arch,
                })
                .collect();
            Ok(Listing {
                publish_policy: l.publish_policy,
                id: l.id,
                partner_slug: partner_slug.clone(),
                product_slug: product.slug.clone(),
                product_name: product.name.clone(),
                marketplace: l.marketplace.as_str().to_owned(),
                entity_type: l.entity_type,
                entity_name: l.entity_name,
                entity_id: l.entity_id,
                title: l.title,
                versions_used: versions.len() as u64,
                public_versions: public_versions(&synced, l.id, || {
                    versions
                        .iter()
                        .filter(|v| v.visibility == ListingVersionVisibility::Public)
                        .count() as u64
                }),
                version_limit: l.version_limit,
                restrict_threshold: l.restrict_threshold,
                keep_recent_days: l.keep_recent_days,
                publish_backports: l.publish_backports,
                versions,
                live_copy_revision: l.live_copy_revision_id,
                live_copy_at: l.live_copy_at,
            })
        })
        .collect()
}

/// How much of its version limit each of these listings uses, without its versions: two
/// queries for the whole list.
pub(crate) async fn usages(
    db: &impl ConnectionTrait,
    rows: Vec<listing::Model>,
) -> AppResult<Vec<ListingUsage>> {
    let ids: Vec<i32> = rows.iter().map(|l| l.id).collect();
    let synced = synced_public_versions_of(db, ids.clone()).await?;
    let unsynced = ids.iter().copied().filter(|id| !synced.contains_key(id));
    let counted = super::count_by(
        db,
        listing_version::Entity::find()
            .filter(listing_version::Column::Visibility.eq(ListingVersionVisibility::Public)),
        listing_version::Column::ListingId,
        unsynced.collect::<Vec<_>>(),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|l| ListingUsage {
            public_versions: public_versions(&synced, l.id, || {
                counted.get(&l.id).copied().unwrap_or(0)
            }),
            id: l.id,
            entity_name: l.entity_name,
            version_limit: l.version_limit,
        })
        .collect())
}

/// The versions a listing counts against its limit: what a cloud sync last read from the
/// marketplace entity, else the public versions the catalogue records (`counted`).
fn public_versions(
    synced: &std::collections::HashMap<i32, i32>,
    listing_id: i32,
    counted: impl FnOnce() -> u64,
) -> u64 {
    synced
        .get(&listing_id)
        .map_or_else(counted, |&n| u64::try_from(n).unwrap_or_default())
}

/// The public versions each of these listings' marketplace entity has, for those a cloud
/// sync has read: one query for a list.
async fn synced_public_versions_of(
    db: &impl ConnectionTrait,
    listing_ids: Vec<i32>,
) -> AppResult<std::collections::HashMap<i32, i32>> {
    Ok(account_listing::Entity::find()
        .filter(account_listing::Column::ListingId.is_in(listing_ids))
        .filter(account_listing::Column::SyncedAt.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.listing_id, a.public_versions))
        .collect())
}

/// The public versions the marketplace entity has, as the last cloud sync read them; `None`
/// until a sync has read the listing (the catalogue's count stands until then).
pub(crate) async fn synced_public_versions(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Option<i32>> {
    Ok(account_listing::Entity::find_by_id(listing_id)
        .one(db)
        .await?
        .filter(|a| a.synced_at.is_some())
        .map(|a| a.public_versions))
}

pub async fn list(db: &impl ConnectionTrait, page: PageRequest) -> AppResult<Page<Listing>> {
    let Paging { index, per_page } = page.checked()?;
    let paginator = listing::Entity::find()
        .order_by_asc(listing::Column::EntityName)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: to_dtos(db, rows).await?,
        page: index + 1,
        per_page,
        total,
    })
}

/// A listing's row, or "not found".
pub(crate) async fn find_model(db: &impl ConnectionTrait, id: i32) -> AppResult<listing::Model> {
    listing::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("listing {id}")))
}

pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<Listing> {
    to_dto(db, find_model(db, id).await?).await
}

/// Creates the listing of a licensed product on a marketplace.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    product_slug: &str,
    title: &str,
) -> AppResult<Listing> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let (partner, product) = super::products::find_model(&txn, partner_slug, product_slug).await?;
    if product.visibility != Visibility::Private {
        return Err(AppError::conflict(
            "product",
            format!(
                "{} is a public community image; only licensed products have listings",
                product.name
            ),
        ));
    }
    let mut v = Validator::new();
    let title = v.check("title", required_text(title, 200));
    let entity_name = v.check(
        "product",
        product
            .listing_entity_name
            .clone()
            .ok_or_else(|| format!("{} names no marketplace entity", product.name)),
    );
    let (title, entity_name) = v.finish(|| Some((title?, entity_name?)))?;
    let model = listing::ActiveModel {
        product_id: Set(product.id),
        marketplace: Set(partner.cloud),
        entity_type: Set("AmiProduct".to_owned()),
        entity_name: Set(entity_name),
        entity_id: Set(product.listing_entity_id.clone()),
        title: Set(title),
        version_limit: Set(DEFAULT_VERSION_LIMIT),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique(
        "product",
        format!("{} already has a listing on this marketplace", product.name),
    )?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "listing",
            object_id: model.id.to_string(),
            summary: format!("created listing {} for {}", model.entity_name, product.name),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, model.id).await
}

/// Sets whether backport patches publish, and when restrictions are proposed.
pub async fn set_policy(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
    input: &ListingPolicyInput,
) -> AppResult<Listing> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let before = find_model(&txn, id).await?;
    let mut v = Validator::new();
    let limit = before.version_limit;
    let threshold = v.check(
        "restrict_threshold",
        Some(input.restrict_threshold)
            .filter(|n| (1..=limit).contains(n))
            .ok_or_else(|| format!("give a number of public versions from 1 to {limit}")),
    );
    let days = v.check(
        "keep_recent_days",
        Some(input.keep_recent_days)
            .filter(|n| (0..=3650).contains(n))
            .ok_or_else(|| "give a number of days, 0 to 3650".to_owned()),
    );
    let (threshold, days) = v.finish(|| Some((threshold?, days?)))?;
    let mut active: listing::ActiveModel = before.clone().into();
    active.publish_backports = Set(input.publish_backports);
    active.restrict_threshold = Set(threshold);
    active.keep_recent_days = Set(days);
    active.updated_at = Set(now);
    let after = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "update",
            object_type: "listing",
            object_id: id.to_string(),
            summary: format!(
                "{}: backports {}, restrictions proposed from {threshold} public versions, the last {days} days kept",
                after.entity_name,
                if input.publish_backports {
                    "publish"
                } else {
                    "do not publish"
                }
            ),
            before: snapshot(&before),
            after: snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, id).await
}

/// Records a version published on a listing.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per boundary; a struct would only rename the list"
)]
pub async fn record_version(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    release_version: Option<&str>,
    title: &str,
    delivery_option_id: Option<&str>,
    visibility: ListingVersionVisibility,
) -> AppResult<Listing> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let listing = get(&txn, listing_id).await?;
    // The marketplace counts public versions: restricted ones free their place.
    if visibility == ListingVersionVisibility::Public
        && listing.public_versions >= listing.version_limit as u64
    {
        return Err(AppError::conflict(
            "title",
            format!(
                "{} has {} public versions, its limit; restrict old versions first",
                listing.entity_name, listing.version_limit
            ),
        ));
    }
    let release_id = match release_version {
        Some(v) => Some(
            releases::find_model(&txn, v)
                .await
                .map_err(|e| match e.code {
                    ErrorCode::NotFound | ErrorCode::ValidationFailed => {
                        AppError::conflict("release", e.message)
                    }
                    _ => e,
                })?
                .id,
        ),
        None => None,
    };
    let title =
        required_text(title, 200).map_err(|m| AppError::conflict("title", format!("title {m}")))?;
    let model = listing_version::ActiveModel {
        listing_id: Set(listing_id),
        release_id: Set(release_id),
        title: Set(title.clone()),
        delivery_option_id: Set(delivery_option_id.map(str::to_owned)),
        visibility: Set(visibility),
        published_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique(
        "title",
        format!("a version titled '{title}' is already on this listing"),
    )?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "publish_version",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "recorded version '{}' on {}",
                model.title, listing.entity_name
            ),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, listing_id).await
}
