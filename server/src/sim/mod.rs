//! The simulated cloud: local emulators of the AWS services the portal calls, speaking their
//! real wire protocols so the real SDK clients are used in every mode.

pub mod ec2;
pub mod marketplace;
pub mod servicequotas;
mod world_file;

use std::net::SocketAddr;

use anyhow::Context;

pub use ec2::{Ec2Sim, SeedImage, SimConfig};
pub use marketplace::{
    MarketplaceConfig, MarketplaceFault, MarketplaceSim, SeedDelivery, SeedVersion,
};
pub use world_file::WORLD_FILE;

/// Serves the emulator on a loopback port of its own; returns its endpoint URL.
pub async fn serve(
    sim: &Ec2Sim,
    bind: SocketAddr,
) -> anyhow::Result<(String, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("Failed to listen on {bind} for the simulated cloud"))?;
    let addr = listener.local_addr()?;
    let app = sim.router();
    let handle = tokio::spawn(async move { axum::serve(listener, app.into_make_service()).await });
    Ok((format!("http://{addr}"), handle))
}

/// Gives the simulated marketplace the catalogue's listings: one AMI product per listing,
/// with the versions the catalogue records (so a publish meets what the catalogue says). A
/// listing the marketplace already holds (by name) is left as it is.
///
/// Each version's AMI is the catalogue's image of that listing's product and the version's
/// release in us-east-1 (the marketplace's region; amd64 first, the current image before a
/// superseded one), so a fresh world (with `seed_ec2`) holds every live version's image.
/// Where the catalogue has none, a private image is made in us-east-1, named as the
/// product's image name template renders the release (or, for a version of no release,
/// as the version's title), so the account has the image the version stands on.
pub async fn seed_marketplace(
    sim: &Ec2Sim,
    db: &sea_orm::DatabaseConnection,
) -> anyhow::Result<()> {
    use app::{
        domain::{Arch, ListingVersionVisibility, Version},
        dto::PageRequest,
        services::{
            entities::{listing, listing_version, product_architecture, release},
            listings, products,
        },
    };
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let region = crate::cloud::MARKETPLACE_REGION;
    let listings = listings::list(
        db,
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
    .map_err(anyhow::Error::msg)?;
    for l in listings
        .items
        .into_iter()
        .filter(|l| l.marketplace == "aws")
    {
        if sim.marketplace().product_id(&l.entity_name).is_some() {
            continue;
        }
        let Some(model) = listing::Entity::find_by_id(l.id).one(db).await? else {
            continue;
        };
        let mut archs = product_architecture::Entity::find()
            .filter(product_architecture::Column::ProductId.eq(model.product_id))
            .all(db)
            .await?;
        archs.sort_by_key(|a| (a.arch != Arch::Amd64, a.id));
        let releases: std::collections::HashMap<i32, Option<i32>> = listing_version::Entity::find()
            .filter(listing_version::Column::ListingId.eq(l.id))
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v.release_id))
            .collect();
        let mut versions = Vec::with_capacity(l.versions.len());
        for v in l.versions.iter().rev() {
            let release = match releases.get(&v.id).copied().flatten() {
                Some(id) => release::Entity::find_by_id(id).one(db).await?,
                None => None,
            };
            let catalogued = match &release {
                Some(r) => catalogue_image(db, model.product_id, r.id, region).await?,
                None => None,
            };
            let ami = match catalogued {
                Some(id) => id,
                None => {
                    let rendered = release.as_ref().zip(archs.first()).and_then(|(r, a)| {
                        Version::parse(&r.version).ok().map(|version| {
                            (
                                products::render_image_name(&a.image_name_template, &version),
                                a.arch,
                            )
                        })
                    });
                    let (name, arch) = rendered.unwrap_or_else(|| (v.title.clone(), Arch::Amd64));
                    sim.own_image_named(region, &name).unwrap_or_else(|| {
                        let id = app::services::seed::sample_image_id(&name, region);
                        sim.add_image(SeedImage {
                            region: region.to_owned(),
                            id: id.clone(),
                            name,
                            arch: ec2_arch(arch).to_owned(),
                            created_at: v.published_at,
                            public: false,
                            deprecated: false,
                        });
                        id
                    })
                }
            };
            versions.push(SeedVersion {
                title: v.title.clone(),
                release_notes: match &release {
                    Some(r) => format!(
                        "GitLab {}: https://gitlab.com/gitlab-org/gitlab/-/releases/v{}-ee",
                        r.version, r.version
                    ),
                    None => v.title.clone(),
                },
                delivery_option_id: v
                    .delivery_option_id
                    .clone()
                    .unwrap_or_else(|| format!("do-seed-{}", v.id)),
                public: v.visibility == ListingVersionVisibility::Public,
                ami,
                created: v.published_at,
            });
        }
        let (copy, delivery) = seed_information(db, &model).await?;
        sim.marketplace()
            .seed_product_with(&l.entity_name, &copy, &delivery, &versions);
    }
    Ok(())
}

/// What a listing's product shows before the portal publishes anything: the listing's
/// title, the rest of its approved copy (when it has one), and versions delivered as its
/// product's delivery configuration says.
async fn seed_information(
    db: &sea_orm::DatabaseConnection,
    listing: &app::services::entities::listing::Model,
) -> anyhow::Result<(app::dto::LiveCopy, SeedDelivery)> {
    use app::services::{copy, entities::product, products};
    use sea_orm::EntityTrait;
    let approved = copy::approved_revision(db, listing.id)
        .await
        .map_err(anyhow::Error::msg)?;
    let fields = approved.map(|r| r.fields).unwrap_or_default();
    let copy = app::dto::LiveCopy {
        title: listing.title.clone(),
        short_description: fields.short_description,
        long_description: fields.long_description,
        highlights: fields.highlights,
        categories: fields.categories,
        search_keywords: fields.search_keywords,
        sku: fields.sku,
        support_description: fields.support_description,
        logo_url: String::new(),
        video_url: fields.video_url,
        additional_resources: fields.additional_resources,
    };
    let mut delivery = SeedDelivery::default();
    if !fields.usage_instructions.trim().is_empty() {
        delivery.usage_instructions = fields.usage_instructions;
    }
    if let Some(p) = product::Entity::find_by_id(listing.product_id)
        .one(db)
        .await?
    {
        delivery.config = products::delivery_of(&p).map_err(anyhow::Error::msg)?;
    }
    Ok((copy, delivery))
}

/// EC2's name of an architecture.
fn ec2_arch(arch: app::domain::Arch) -> &'static str {
    match arch {
        app::domain::Arch::Amd64 => "x86_64",
        app::domain::Arch::Arm64 => "arm64",
    }
}

/// The catalogue's image of a product and release in a region that the account holds
/// (public, private or deprecated; not one pending or deregistered): amd64 first, and the
/// current image before one a rebuild superseded.
async fn catalogue_image(
    db: &sea_orm::DatabaseConnection,
    product_id: i32,
    release_id: i32,
    region: &str,
) -> anyhow::Result<Option<String>> {
    use app::{
        domain::{Arch, RegionImageState},
        services::entities::{image_region, image_version},
    };
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut versions = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(product_id))
        .filter(image_version::Column::ReleaseId.eq(release_id))
        .all(db)
        .await?;
    versions.sort_by_key(|v| {
        (
            v.arch != Arch::Amd64,
            v.superseded_by.is_some(),
            std::cmp::Reverse(v.rebuild),
        )
    });
    for v in versions {
        let found = image_region::Entity::find()
            .filter(image_region::Column::ImageVersionId.eq(v.id))
            .filter(image_region::Column::Region.eq(region))
            .all(db)
            .await?
            .into_iter()
            .filter(|r| {
                matches!(
                    r.state,
                    RegionImageState::Public
                        | RegionImageState::Private
                        | RegionImageState::Deprecated
                )
            })
            .find_map(|r| r.image_id);
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Gives the simulated EC2 the images the catalogue records (public, deprecated or private,
/// each with a snapshot), so retiring them meets what the catalogue says.
pub async fn seed_ec2(sim: &Ec2Sim, db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use app::{
        domain::RegionImageState,
        services::entities::{image_region, image_version},
    };
    use sea_orm::EntityTrait;
    let versions: std::collections::HashMap<i32, image_version::Model> =
        image_version::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
    for r in image_region::Entity::find().all(db).await? {
        let (Some(id), Some(v)) = (r.image_id, versions.get(&r.image_version_id)) else {
            continue;
        };
        let state = r.state;
        if matches!(
            state,
            RegionImageState::Pending | RegionImageState::Deregistered
        ) {
            continue;
        }
        sim.add_image(SeedImage {
            region: r.region,
            id,
            name: v.name.clone(),
            arch: ec2_arch(v.arch).to_owned(),
            created_at: v.created_at,
            public: matches!(
                state,
                RegionImageState::Public | RegionImageState::Deprecated
            ),
            deprecated: state == RegionImageState::Deprecated,
        });
    }
    Ok(())
}
