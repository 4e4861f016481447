//! Catalogue-wide views: the dashboard and the search box.

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
    let mut partner_rows = Vec::new();
    for p in partner::Entity::find()
        .order_by_asc(partner::Column::Name)
        .all(db)
        .await?
    {
        partner_rows.push(partners::summary(db, p).await?);
    }
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
            for p in all_products {
                let partner = partner::Entity::find_by_id(p.partner_id).one(db).await?;
                let Some(partner) = partner else { continue };
                if partner.cloud != Cloud::Aws {
                    continue;
                }
                let targets: Vec<String> =
                    serde_json::from_str(&p.target_regions).unwrap_or_default();
                for arch in products::architectures_of(db, p.id).await? {
                    let iv =
                        images::current(&images::versions_of(db, p.id, r.id, arch.arch).await?)
                            .cloned();
                    let live = [RegionImageState::Public, RegionImageState::Private];
                    let public_regions = match &iv {
                        Some(iv) => {
                            image_region::Entity::find()
                                .filter(image_region::Column::ImageVersionId.eq(iv.id))
                                .filter(image_region::Column::State.is_in(live))
                                .count(db)
                                .await?
                        }
                        None => 0,
                    };
                    latest_release_images.push(ReleaseImageStatus {
                        product_name: p.name.clone(),
                        product_slug: p.slug.clone(),
                        partner_slug: partner.slug.clone(),
                        arch: arch.arch,
                        state: iv.as_ref().map(|iv| iv.state),
                        image_version_id: iv.map(|iv| iv.id),
                        public_regions,
                        target_regions: targets.len() as u64,
                    });
                }
            }
            let id = r.id;
            Some(releases::to_dto(db, r, Some(id)).await?)
        }
        None => None,
    };
    let mut listing_rows = Vec::new();
    for l in listing::Entity::find()
        .order_by_asc(listing::Column::EntityName)
        .all(db)
        .await?
    {
        listing_rows.push(listings::to_dto(db, l).await?);
    }
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
    for p in partner::Entity::find()
        .filter(ci_like(partner::Column::Name, &lower, true).or(ci_like(
            partner::Column::Slug,
            &lower,
            true,
        )))
        .order_by_asc(partner::Column::Name)
        .limit(LIMIT)
        .all(db)
        .await?
    {
        out.partners.push(partners::summary(db, p).await?);
    }
    for p in product::Entity::find()
        .filter(ci_like(product::Column::Name, &lower, true).or(ci_like(
            product::Column::Slug,
            &lower,
            true,
        )))
        .order_by_asc(product::Column::Name)
        .limit(LIMIT)
        .all(db)
        .await?
    {
        let Some(partner) = partner::Entity::find_by_id(p.partner_id).one(db).await? else {
            continue;
        };
        out.products.push(products::summary(db, &partner, p).await?);
    }
    let latest = releases::latest_stable(db).await?.map(|r| r.id);
    for r in release::Entity::find()
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
        .await?
    {
        out.releases.push(releases::to_dto(db, r, latest).await?);
    }
    if needle.len() >= 4 {
        out.images = images::search_image_ids(db, &lower, LIMIT).await?;
    }
    Ok(out)
}
