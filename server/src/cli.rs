//! The `portal` command line: `serve`, `worker`, `migrate` and `seed`.

use clap::{Parser, Subcommand};

use crate::config::{CloudChoice, ServeConfig, StoreConfig};

/// Partner Image Portal: GitLab's cloud images and marketplace listings, from one place.
#[derive(Debug, Parser)]
#[command(name = "portal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal (pages, REST API) with background workers in the same process.
    Serve {
        #[command(flatten)]
        store: StoreConfig,
        #[command(flatten)]
        serve: ServeConfig,
    },
    /// Run background workers only; several may share one PostgreSQL database.
    Worker {
        #[command(flatten)]
        store: StoreConfig,
        /// Which cloud jobs run against.
        #[arg(long, env = "PORTAL_CLOUD", value_enum, default_value_t = CloudChoice::Sim)]
        cloud: CloudChoice,
        /// Workers to run in this process.
        #[arg(long, env = "PORTAL_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
        workers: u32,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        store: StoreConfig,
    },
    /// Seed the catalogue (idempotent: only adds what is missing).
    Seed {
        #[command(flatten)]
        store: StoreConfig,
        /// Also add the sample release history used with the simulated cloud.
        #[arg(long, env = "PORTAL_SEED_HISTORY", default_value_t = false)]
        with_history: bool,
        /// Also add the development users.
        #[arg(long, env = "PORTAL_SEED_DEV_USERS", default_value_t = false)]
        with_dev_users: bool,
    },
}
