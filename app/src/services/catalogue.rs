//! Catalogue-wide views: the dashboard and the search box.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::ExprTrait,
};

use super::{
    ci_like,
    entities::{image_region, image_version, listing, partner, product, release},
    images, listings, partners, products, releases,
};
use crate::{domain::*, dto::*, error::AppResult};

/// What the home page shows: partners, counts, the latest release and how its images stand.
pub async fn dashboard(db: &impl ConnectionTrait) -> AppResult<Dashboard> {
    let partner_rows = partners::summaries(
        db,
        partner::Entity::find()
            .order_by_asc(partner::Column::Name)
            .all(db)
            .await?,
    )
    .await?;
    let product_count = product::Entity::find().count(db).await?;
    let image_version_count = image_version::Entity::find().count(db).await?;
    let latest = releases::latest_stable(db).await?;
    let mut latest_release_images = Vec::new();
    let latest_release = match latest {
        Some(r) => {
            let all_products = product::Entity::find()
                .filter(product::Column::MaintenanceMode.eq(MaintenanceMode::Image))
                .order_by_asc(product::Column::PartnerId)
                .order_by_asc(product::Column::Name)
                .all(db)
                .await?;
            let partners = super::lookup(
                db,
                partner::Column::Id,
                all_products.iter().map(|p| p.partner_id),
                |p| (p.id, p),
            )
            .await?;
            let all_products: Vec<product::Model> = all_products
                .into_iter()
                .filter(|p| {
                    partners
                        .get(&p.partner_id)
                        .is_some_and(|p| p.cloud == Cloud::Aws)
                })
                .collect();
            let archs =
                products::architectures_by_product(db, all_products.iter().map(|p| p.id)).await?;
            // The release's images of those products, newest first within each product ×
            // architecture, and how many regions each current one is live in.
            let mut versions: HashMap<(i32, Arch), Vec<image_version::Model>> = HashMap::new();
            for iv in image_version::Entity::find()
                .filter(image_version::Column::ReleaseId.eq(r.id))
                .filter(image_version::Column::ProductId.is_in(all_products.iter().map(|p| p.id)))
                .order_by_desc(image_version::Column::Rebuild)
                .all(db)
                .await?
            {
                versions
                    .entry((iv.product_id, iv.arch))
                    .or_default()
                    .push(iv);
            }
            let current: HashMap<(i32, Arch), image_version::Model> = versions
                .iter()
                .filter_map(|(key, rows)| Some((*key, images::current(rows)?.clone())))
                .collect();
            let live = [RegionImageState::Public, RegionImageState::Private];
            let live_regions = super::count_by(
                db,
                image_region::Entity::find().filter(image_region::Column::State.is_in(live)),
                image_region::Column::ImageVersionId,
                current.values().map(|iv| iv.id),
            )
            .await?;
            for p in &all_products {
                let Some(partner) = partners.get(&p.partner_id) else {
                    continue;
                };
                let targets: Vec<String> =
                    serde_json::from_str(&p.target_regions).unwrap_or_default();
                for arch in archs.get(&p.id).into_iter().flatten() {
                    let iv = current.get(&(p.id, arch.arch));
                    latest_release_images.push(ReleaseImageStatus {
                        product_name: p.name.clone(),
                        product_slug: p.slug.clone(),
                        partner_slug: partner.slug.clone(),
                        arch: arch.arch,
                        state: iv.map(|iv| iv.state),
                        image_version_id: iv.map(|iv| iv.id),
                        public_regions: iv
                            .and_then(|iv| live_regions.get(&iv.id).copied())
                            .unwrap_or(0),
                        target_regions: targets.len() as u64,
                    });
                }
            }
            let id = r.id;
            Some(releases::to_dto(db, r, Some(id)).await?)
        }
        None => None,
    };
    let listing_rows = listings::usages(
        db,
        listing::Entity::find()
            .order_by_asc(listing::Column::EntityName)
            .all(db)
            .await?,
    )
    .await?;
    Ok(Dashboard {
        partners: partner_rows,
        product_count,
        image_version_count,
        latest_release,
        latest_release_images,
        listings: listing_rows,
    })
}

/// Partners, products, releases and image ids matching the query text.
pub async fn search(db: &impl ConnectionTrait, text: &str) -> AppResult<SearchResults> {
    const LIMIT: u64 = 20;
    let needle = text.trim();
    if needle.is_empty() {
        return Ok(SearchResults::default());
    }
    let lower = needle.to_lowercase();
    let mut out = SearchResults::default();
    let partner_rows = partner::Entity::find()
        .filter(ci_like(partner::Column::Name, &lower, true).or(ci_like(
            partner::Column::Slug,
            &lower,
            true,
        )))
        .order_by_asc(partner::Column::Name)
        .limit(LIMIT)
        .all(db)
        .await?;
    out.partners = partners::summaries(db, partner_rows).await?;
    let product_rows = product::Entity::find()
        .filter(ci_like(product::Column::Name, &lower, true).or(ci_like(
            product::Column::Slug,
            &lower,
            true,
        )))
        .order_by_asc(product::Column::Name)
        .limit(LIMIT)
        .all(db)
        .await?;
    out.products = products::summaries(db, product_rows).await?;
    let latest = releases::latest_stable(db).await?.map(|r| r.id);
    let release_rows = release::Entity::find()
        .filter(ci_like(
            release::Column::Version,
            lower.trim_start_matches('v'),
            false,
        ))
        .order_by_desc(release::Column::Major)
        .order_by_desc(release::Column::Minor)
        .order_by_desc(release::Column::Patch)
        .limit(LIMIT)
        .all(db)
        .await?;
    out.releases = releases::to_dtos(db, release_rows, latest).await?;
    if needle.len() >= 4 {
        out.images = images::search_image_ids(db, &lower, LIMIT).await?;
    }
    Ok(out)
}
