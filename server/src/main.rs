//! The `portal` binary: parses the command line and hands over to the library.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use app::services::SystemClock;
use clap::Parser;
use server::{
    Application, WorkerProcess,
    cli::{Cli, Command},
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    if cli.command.is_client() {
        // The client's answer is its standard output; its log goes beside it.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // The whole cause chain on one line; no backtrace for a configuration mistake.
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { store } => {
            let url = store.database_url()?;
            server::db::connect_and_migrate(&url, store.database_max_connections).await?;
            tracing::info!(database = %server::db::redact(&url), "migrations applied");
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
        Command::SeedBench { store, size } => {
            let url = store.database_url()?;
            let db = server::db::connect_and_migrate(&url, store.database_max_connections).await?;
            let key = store.secret_key()?;
            let report = server::bench_seed::run(&db, &key, chrono::Utc::now(), &size).await?;
            // What the catalogue holds, `name=value` a line: the benchmark reads it.
            #[expect(clippy::print_stdout, reason = "the summary is the command's answer")]
            {
                println!("{report}");
            }
            Ok(ExitCode::SUCCESS)
        }
        // The client commands report on standard output and end with their own status.
        Command::Release { command } => {
            let today = chrono::Utc::now().date_naive();
            let exit = server::client::release(command, today, &mut std::io::stdout()).await;
            Ok(ExitCode::from(exit.code()))
        }
        Command::Jobs { command } => {
            let exit = server::client::jobs(command, &mut std::io::stdout()).await;
            Ok(ExitCode::from(exit.code()))
        }
    }
}
