//! The `portal` binary: parses the command line and hands over to the library.

use anyhow::Context;
use clap::Parser;
use server::{
    Settings, build_state,
    cli::{Cli, Command},
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTAL_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // The whole cause chain on one line; no backtrace for a configuration mistake.
            tracing::error!("{err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { store, serve } => {
            let settings = Settings::from_config(&store, &serve)?;
            let state = build_state(&settings).await?;
            let cloud = server::start_cloud(&state, settings.cloud).await?;
            let running =
                server::spawn(state.clone(), settings.site_root.clone(), serve.bind).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let workers = server::jobs::spawn_workers(&state, &cloud.cloud, serve.workers, stopped);
            tracing::info!(workers = workers.len(), "background workers started");
            let url = serve.public_url(running.addr);
            tracing::info!(%url, "Partner Image Portal is up");
            // The URL on standard output, alone, so scripts and people can pick it up.
            #[expect(clippy::print_stdout, reason = "the URL is the command's answer")]
            {
                println!("Partner Image Portal: {url}");
            }
            tokio::select! {
                result = running.handle => result.context("the server task failed")?.context("the server stopped")?,
                _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
            }
            let _ = stop.send(true);
            futures::future::join_all(workers).await;
            Ok(())
        }
        Command::Worker {
            store,
            cloud,
            workers,
        } => {
            let settings = Settings::for_worker(&store, cloud)?;
            let state = build_state(&settings).await?;
            let cloud = server::start_cloud(&state, settings.cloud).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let handles = server::jobs::spawn_workers(&state, &cloud.cloud, workers, stopped);
            tracing::info!(workers, "workers started");
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping workers after their current step");
            let _ = stop.send(true);
            futures::future::join_all(handles).await;
            Ok(())
        }
        Command::Migrate { store } => {
            let url = store.database_url()?;
            server::db::connect_and_migrate(&url, store.database_max_connections).await?;
            tracing::info!(database = %server::db::redact(&url), "migrations applied");
            Ok(())
        }
        Command::Seed {
            store,
            with_history,
            with_dev_users,
        } => {
            let url = store.database_url()?;
            let db = server::db::connect_and_migrate(&url, store.database_max_connections).await?;
            let key = server::load_secret_key(&store.data_dir)?;
            let report = app::services::seed::run(
                &db,
                chrono::Utc::now(),
                with_dev_users,
                with_history.then_some(&key),
            )
            .await
            .map_err(anyhow::Error::msg)?;
            tracing::info!(?report, "seed finished");
            Ok(())
        }
    }
}
