//! The simulated cloud: local emulators of the AWS services the portal calls, speaking their
//! real wire protocols so the real SDK clients are used in every mode.

pub mod ec2;
pub mod marketplace;
mod world_file;

use std::net::SocketAddr;

use anyhow::Context;

pub use ec2::{Ec2Sim, SeedImage, SimConfig};
pub use marketplace::{MarketplaceConfig, MarketplaceFault, MarketplaceSim, SeedVersion};
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
/// with the versions the catalogue records (so a publish meets what the catalogue says).
pub async fn seed_marketplace(
    sim: &MarketplaceSim,
    db: &sea_orm::DatabaseConnection,
) -> anyhow::Result<()> {
    use app::{domain::ListingVersionVisibility, dto::PageRequest, services::listings};
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
        let versions: Vec<SeedVersion> = l
            .versions
            .iter()
            .rev()
            .map(|v| SeedVersion {
                title: v.title.clone(),
                delivery_option_id: v
                    .delivery_option_id
                    .clone()
                    .unwrap_or_else(|| format!("do-seed-{}", v.id)),
                public: v.visibility == ListingVersionVisibility::Public,
                ami: format!("ami-seed{:09}", v.id),
                created: v.published_at,
            })
            .collect();
        sim.seed_product(&l.entity_name, &versions);
    }
    Ok(())
}

/// Gives the simulated EC2 the images the catalogue records (public, deprecated or private,
/// each with a snapshot), so retiring them meets what the catalogue says.
pub async fn seed_ec2(sim: &Ec2Sim, db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use app::{
        domain::{Arch, RegionImageState},
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
            arch: match v.arch {
                Arch::Amd64 => "x86_64".to_owned(),
                Arch::Arm64 => "arm64".to_owned(),
            },
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
