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
