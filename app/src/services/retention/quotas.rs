//! Public images per region against the account's quota there. Once the cloud sync has
//! read a region, its public images are the account's (every public image it owns there,
//! made by the portal or not, and the public ones in the Recycle Bin); before that, the
//! catalogue's. The quota is the one set by hand when there is one, otherwise the one
//! Service Quotas reported, otherwise AWS's default.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, ModelTrait, QueryFilter,
    QuerySelect, Set, TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait as _},
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
            account_image, account_region, image_quota, image_region, image_version,
            product_architecture,
        },
    },
};

/// Public images per region a new AWS account gets.
pub const DEFAULT_QUOTA: i32 = 5;

/// How the public images of a region count images matched to no product.
pub const MADE_OUTSIDE: &str = "Made outside the portal";

/// How the public images of a region count the public images in its Recycle Bin.
pub const IN_RECYCLE_BIN: &str = "In the Recycle Bin";

/// Region image states that count against the quota: a deprecated image is still public.
const PUBLIC_STATES: [RegionImageState; 2] =
    [RegionImageState::Public, RegionImageState::Deprecated];

/// Where a region's quota comes from: set by hand, Service Quotas, or AWS's default.
pub(crate) fn quota_of(manual: Option<i32>, service: Option<i32>) -> (i32, QuotaSource) {
    match (manual, service) {
        (Some(q), _) => (q, QuotaSource::Manual),
        (None, Some(q)) => (q, QuotaSource::ServiceQuotas),
        (None, None) => (DEFAULT_QUOTA, QuotaSource::Default),
    }
}

/// At 80% of the quota or more.
pub(crate) fn near_quota(public_images: i32, quota: i32) -> bool {
    i64::from(public_images) * 5 >= i64::from(quota) * 4
}

/// Quota use per region, fullest first.
pub async fn regions(db: &impl ConnectionTrait) -> AppResult<Vec<RegionQuota>> {
    regions_with(db, None).await
}

/// Quota use per region, fullest first, with `extra` listed even when nothing else names it.
async fn regions_with(
    db: &impl ConnectionTrait,
    extra: Option<&str>,
) -> AppResult<Vec<RegionQuota>> {
    let products = aws_products(db).await?;
    let names: HashMap<i32, String> = products
        .iter()
        .map(|(_, p)| (p.id, p.name.clone()))
        .collect();
    // The catalogue's public images per region and product, counted by the database.
    let public: Vec<(String, i32, i64)> = image_region::Entity::find()
        .select_only()
        .column(image_region::Column::Region)
        .column(image_version::Column::ProductId)
        .column_as(
            Expr::col((image_region::Entity, image_region::Column::Id)).count(),
            "n",
        )
        .join(
            JoinType::InnerJoin,
            image_region::Entity::belongs_to(image_version::Entity)
                .from(image_region::Column::ImageVersionId)
                .to(image_version::Column::Id)
                .into(),
        )
        .filter(image_version::Column::ProductId.is_in(names.keys().copied()))
        .filter(image_version::Column::State.ne(ImageState::Retired))
        .filter(image_region::Column::State.is_in(PUBLIC_STATES))
        .group_by(image_region::Column::Region)
        .group_by(image_version::Column::ProductId)
        .into_tuple()
        .all(db)
        .await?;
    let manual: HashMap<String, i32> = image_quota::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|q| (q.region, q.quota))
        .collect();
    let account: HashMap<String, account_region::Model> = account_region::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.region.clone(), r))
        .collect();
    let account_public: Vec<(String, Option<i32>, i64)> = account_image::Entity::find()
        .select_only()
        .column(account_image::Column::Region)
        .column(account_image::Column::ProductId)
        .column_as(Expr::col(account_image::Column::Id).count(), "n")
        .filter(account_image::Column::GoneAt.is_null())
        .filter(account_image::Column::Public.eq(true))
        .group_by(account_image::Column::Region)
        .group_by(account_image::Column::ProductId)
        .into_tuple()
        .all(db)
        .await?;
    // Architectures of the public products: the next release adds one image of each.
    let archs = product_architecture::Entity::find()
        .filter(product_architecture::Column::ProductId.is_in(names.keys().copied()))
        .all(db)
        .await?;
    let mut next_release: BTreeMap<String, i32> = BTreeMap::new();
    // Every region a product ships to or builds in, a quota was set for, or the sync read.
    let mut all: BTreeSet<String> = BTreeSet::new();
    for (_, p) in &products {
        let targets = serde_json::from_str::<Vec<String>>(&p.target_regions).unwrap_or_default();
        if p.visibility == Visibility::Public {
            let n = archs.iter().filter(|a| a.product_id == p.id).count() as i32;
            for r in &targets {
                *next_release.entry(r.clone()).or_default() += n;
            }
        }
        all.extend(targets);
        all.insert(p.build_region.clone());
    }
    all.extend(manual.keys().cloned());
    all.extend(account.keys().cloned());
    all.extend(extra.map(str::to_owned));
    // The catalogue's public images per region and product…
    let mut catalogue: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    for (region, product_id, n) in public {
        let Some(name) = names.get(&product_id) else {
            continue;
        };
        *catalogue
            .entry(region)
            .or_default()
            .entry(name.clone())
            .or_default() += i32::try_from(n).unwrap_or(i32::MAX);
    }
    // …and the account's, for the regions the sync read.
    let mut synced: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    for (region, product_id, n) in account_public {
        let name = product_id
            .and_then(|p| names.get(&p).cloned())
            .unwrap_or_else(|| MADE_OUTSIDE.to_owned());
        *synced.entry(region).or_default().entry(name).or_default() +=
            i32::try_from(n).unwrap_or(i32::MAX);
    }
    let mut out: Vec<RegionQuota> = all
        .into_iter()
        .map(|region| {
            let read = account.get(&region);
            let synced_at = read.and_then(|a| a.images_synced_at);
            let per_product = if synced_at.is_some() {
                let mut counts = synced.remove(&region).unwrap_or_default();
                let bin = read.map_or(0, |a| a.recycle_bin_public);
                if bin > 0 {
                    counts.insert(IN_RECYCLE_BIN.to_owned(), bin);
                }
                counts
            } else {
                catalogue.remove(&region).unwrap_or_default()
            };
            let mut by_product: Vec<ProductCount> = per_product
                .into_iter()
                .map(|(product_name, count)| ProductCount {
                    product_name,
                    count,
                })
                .collect();
            by_product.sort_by_key(|p| std::cmp::Reverse(p.count));
            let public_images: i32 = by_product.iter().map(|p| p.count).sum();
            let outside_images = by_product
                .iter()
                .filter(|p| p.product_name == MADE_OUTSIDE)
                .map(|p| p.count)
                .sum();
            let service_quota = read.and_then(|a| a.quota);
            let (quota, quota_source) = quota_of(manual.get(&region).copied(), service_quota);
            RegionQuota {
                public_images,
                quota,
                quota_set: quota_source == QuotaSource::Manual,
                quota_source,
                service_quota,
                synced_at,
                outside_images,
                after_next_release: public_images
                    + next_release.get(&region).copied().unwrap_or_default(),
                near_quota: near_quota(public_images, quota),
                region,
                by_product,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let used = |q: &RegionQuota| f64::from(q.public_images) / f64::from(Ord::max(q.quota, 1));
        used(b).total_cmp(&used(a)).then(a.region.cmp(&b.region))
    });
    Ok(out)
}

/// One region's quota use.
async fn region_quota(db: &impl ConnectionTrait, region: &str) -> AppResult<RegionQuota> {
    regions_with(db, Some(region))
        .await?
        .into_iter()
        .find(|r| r.region == region)
        .ok_or_else(|| AppError::internal("quota", "region vanished"))
}

/// Sets the public-image quota the account has in a region (after AWS raised it).
pub async fn set_quota(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    region: &str,
    input: &QuotaInput,
) -> AppResult<RegionQuota> {
    actor.require(Permission::ManageCatalogue)?;
    let mut v = Validator::new();
    let region = v.check("region", Cloud::Aws.parse_region(region));
    let quota = v.check(
        "quota",
        Some(input.quota)
            .filter(|q| (1..=100_000).contains(q))
            .ok_or_else(|| "give the number of public images AWS allows, 1 or more".to_owned()),
    );
    let (region, quota) = v.finish(|| Some((region?, quota?)))?;
    let txn = begin_write(db).await?;
    let before = image_quota::Entity::find_by_id(region.clone())
        .one(&txn)
        .await?;
    let model = image_quota::ActiveModel {
        region: Set(region.clone()),
        quota: Set(quota),
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
            action: "set_quota",
            object_type: "region",
            object_id: region.clone(),
            summary: format!("public-image quota of {region} set to {quota}"),
            before: before.as_ref().and_then(audit::snapshot),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    region_quota(db, &region).await
}

/// Removes the quota set by hand for a region: Service Quotas' value (or AWS's default)
/// applies again.
pub async fn clear_quota(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    region: &str,
) -> AppResult<RegionQuota> {
    actor.require(Permission::ManageCatalogue)?;
    let region = Cloud::Aws
        .parse_region(region)
        .map_err(|m| AppError::validation("region", m))?;
    let txn = begin_write(db).await?;
    let Some(before) = image_quota::Entity::find_by_id(region.clone())
        .one(&txn)
        .await?
    else {
        return Err(AppError::not_found(format!(
            "a quota set by hand for {region}"
        )));
    };
    let snapshot = audit::snapshot(&before);
    let quota = before.quota;
    before.delete(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "clear_quota",
            object_type: "region",
            object_id: region.clone(),
            summary: format!(
                "public-image quota of {region} set by hand ({quota}) removed: Service Quotas' value applies"
            ),
            before: snapshot,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    region_quota(db, &region).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_set_by_hand_wins_then_service_quotas_then_the_default() {
        assert_eq!(quota_of(Some(40), Some(10)), (40, QuotaSource::Manual));
        assert_eq!(quota_of(None, Some(10)), (10, QuotaSource::ServiceQuotas));
        assert_eq!(quota_of(None, None), (DEFAULT_QUOTA, QuotaSource::Default));
    }

    #[test]
    fn near_the_quota_is_four_fifths_of_it() {
        assert!(!near_quota(3, 5));
        assert!(near_quota(4, 5));
        assert!(near_quota(8, 10));
        assert!(!near_quota(7, 10));
        assert!(near_quota(0, 0));
    }
}
