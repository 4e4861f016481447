//! The `portal` command line: `serve`, `worker`, `migrate` and `seed`.

use clap::{Parser, Subcommand};

use crate::config::{Config, StoreConfig, WorkerConfig};

/// Partner Image Portal: GitLab's cloud images and marketplace listings, from one place.
#[derive(Debug, Parser)]
#[command(name = "portal", version, about)]
pub struct Cli {
    /// What to log: a tracing filter such as `info`, or `info,app=debug`.
    #[arg(
        long,
        global = true,
        env = "PORTAL_LOG",
        default_value = "info,sqlx=warn,tower_http=info"
    )]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal (pages, REST API) with background workers in the same process.
    Serve(Box<Config>),
    /// Run background workers only; several may share one PostgreSQL database.
    Worker(Box<WorkerConfig>),
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every setting of every subcommand, as its environment variable.
    fn settings() -> Vec<String> {
        let cli = Cli::command();
        let mut out: Vec<String> = cli
            .get_arguments()
            .chain(cli.get_subcommands().flat_map(|c| c.get_arguments()))
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_setting_is_a_checked_flag_with_its_variable_in_the_readme() {
        Cli::command().debug_assert();
        let readme = include_str!("../../README.md");
        let settings = settings();
        assert!(settings.len() > 30, "{settings:?}");
        for name in &settings {
            let short = name.trim_start_matches("PORTAL_SIM");
            assert!(
                readme.contains(&format!("`{name}`")) || readme.contains(&format!("`…{short}`")),
                "{name} is a setting the README does not list"
            );
        }
    }

    #[test]
    fn serve_help_lists_the_cloud_and_simulator_settings() {
        let mut cli = Cli::command();
        let serve = cli.find_subcommand_mut("serve").expect("serve");
        let help = serve.render_long_help().to_string();
        for name in [
            "PORTAL_MARKETPLACE_ACCOUNTS",
            "PORTAL_BUILD_INSTALL_TIMEOUT_MINUTES",
            "PORTAL_SIM_INSTALL_FAILURE",
            "PORTAL_MARKETPLACE_ACCESS_ROLE_ARN",
            "PORTAL_SECRET_KEY",
            "PORTAL_SIM_FAULT_RATE",
            "PORTAL_SIM_EC2_URL",
        ] {
            assert!(help.contains(name), "{name} missing from serve --help");
        }
    }
}
