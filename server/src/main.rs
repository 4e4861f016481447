//! The `portal` binary: parses the command line and hands over to the library.

use std::sync::Arc;

use anyhow::Context;
use app::services::SystemClock;
use clap::Parser;
use server::{
    Application, WorkerProcess,
    cli::{Cli, Command},
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .init();
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
        Command::Serve(config) => {
            let app = Application::build(*config, Arc::new(SystemClock)).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let workers = app.spawn_workers(stopped);
            tracing::info!(workers = workers.len(), "background workers started");
            tracing::info!(url = %app.url, "Partner Image Portal is up");
            // The URL on standard output, alone, so scripts and people can pick it up.
            #[expect(clippy::print_stdout, reason = "the URL is the command's answer")]
            {
                println!("Partner Image Portal: {}", app.url);
            }
            tokio::select! {
                result = app.server => result.context("the server task failed")?.context("the server stopped")?,
                _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
            }
            let _ = stop.send(true);
            futures::future::join_all(workers).await;
            Ok(())
        }
        Command::Worker(config) => {
            let process = WorkerProcess::build(*config, Arc::new(SystemClock)).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let handles = process.spawn_workers(stopped);
            tracing::info!(workers = handles.len(), "workers started");
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
            let key = store.secret_key()?;
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
