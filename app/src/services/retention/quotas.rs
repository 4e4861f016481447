//! Public images per region against the account's quota there.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
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
        entities::{image_quota, image_region, image_version},
    },
};

/// Public images per region a new AWS account gets.
pub const DEFAULT_QUOTA: i32 = 5;

/// Region image states that count against the quota: a deprecated image is still public.
const PUBLIC_STATES: [RegionImageState; 2] =
    [RegionImageState::Public, RegionImageState::Deprecated];

/// Quota use per region, fullest first.
pub async fn regions(db: &impl ConnectionTrait) -> AppResult<Vec<RegionQuota>> {
    let products = aws_products(db).await?;
    let names: HashMap<i32, String> = products
        .iter()
        .map(|(_, p)| (p.id, p.name.clone()))
        .collect();
    let versions: HashMap<i32, i32> = image_version::Entity::find()
        .filter(image_version::Column::ProductId.is_in(names.keys().copied()))
        .filter(image_version::Column::State.ne(ImageState::Retired))
        .all(db)
        .await?
        .into_iter()
        .map(|v| (v.id, v.product_id))
        .collect();
    let public = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.is_in(versions.keys().copied()))
        .filter(image_region::Column::State.is_in(PUBLIC_STATES))
        .all(db)
        .await?;
    let quotas: HashMap<String, i32> = image_quota::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|q| (q.region, q.quota))
        .collect();
    // Every region a product ships to or a quota was set for, with or without images.
    let mut counts: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    for (_, p) in &products {
        for r in serde_json::from_str::<Vec<String>>(&p.target_regions).unwrap_or_default() {
            counts.entry(r).or_default();
        }
    }
    for r in quotas.keys() {
        counts.entry(r.clone()).or_default();
    }
    for r in public {
        let Some(name) = versions.get(&r.image_version_id).and_then(|p| names.get(p)) else {
            continue;
        };
        *counts
            .entry(r.region)
            .or_default()
            .entry(name.clone())
            .or_default() += 1;
    }
    let mut out: Vec<RegionQuota> = counts
        .into_iter()
        .map(|(region, per_product)| {
            let mut by_product: Vec<ProductCount> = per_product
                .into_iter()
                .map(|(product_name, count)| ProductCount {
                    product_name,
                    count,
                })
                .collect();
            by_product.sort_by_key(|p| std::cmp::Reverse(p.count));
            let public_images: i32 = by_product.iter().map(|p| p.count).sum();
            let quota = quotas.get(&region).copied().unwrap_or(DEFAULT_QUOTA);
            RegionQuota {
                public_images,
                quota,
                quota_set: quotas.contains_key(&region),
                quota_source: if quotas.contains_key(&region) {
                    QuotaSource::Manual
                } else {
                    QuotaSource::Default
                },
                service_quota: None,
                synced_at: None,
                outside_images: 0,
                after_next_release: public_images,
                near_quota: public_images * 5 >= quota * 4,
                region,
                by_product,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let used = |q: &RegionQuota| f64::from(q.public_images) / f64::from(q.quota.max(1));
        used(b).total_cmp(&used(a)).then(a.region.cmp(&b.region))
    });
    Ok(out)
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
    regions(db)
        .await?
        .into_iter()
        .find(|r| r.region == region)
        .ok_or_else(|| AppError::internal("quota", "region vanished"))
}

/// Records the quota a region has when nobody set one yet (the simulated cloud's).
pub async fn seed_quotas(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    regions: &[&str],
    quota: i32,
) -> AppResult<()> {
    for region in regions {
        let known = image_quota::Entity::find_by_id((*region).to_owned())
            .one(db)
            .await?;
        if known.is_none() {
            image_quota::ActiveModel {
                region: Set((*region).to_owned()),
                quota: Set(quota),
                updated_by: Set("seed".into()),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}
