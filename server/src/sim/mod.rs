//! The simulated cloud: local emulators of the AWS services the portal calls, speaking their
//! real wire protocols so the real SDK clients are used in every mode.

pub mod ec2;
pub mod marketplace;

use std::net::SocketAddr;

use anyhow::Context;

pub use ec2::{Ec2Sim, SimConfig};
pub use marketplace::{MarketplaceConfig, MarketplaceFault, MarketplaceSim, SeedVersion};

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
    use app::{domain::ListingVersionVisibility, dto::PageRequest, server::listings};
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
