//! The `portal` command line: `serve`, `worker`, `migrate`, `seed` and `seed-bench`, and the client
//! commands a release pipeline runs against a portal (`release`, `jobs`).

use clap::{Parser, Subcommand};

use crate::{
    client::{JobsCommand, ReleaseCommand},
    config::{Config, StoreConfig, WorkerConfig},
};

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
    /// Fill a fresh database with a catalogue the size of GitLab's real history, for
    /// measuring the portal (`cargo xtask bench`); prints what it holds.
    SeedBench {
        #[command(flatten)]
        store: StoreConfig,
        #[command(flatten)]
        size: crate::bench_seed::BenchSize,
    },
    /// Record a release in a portal and follow its train (client of the REST API, with an
    /// API token).
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Follow a portal's background job (client of the REST API, with an API token).
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

impl Command {
    /// Whether this is a client of another portal, whose output is its answer (the log
    /// then goes to standard error).
    pub fn is_client(&self) -> bool {
        matches!(self, Command::Release { .. } | Command::Jobs { .. })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every setting of every subcommand (nested ones too), as its environment variable.
    fn settings() -> Vec<String> {
        fn walk(command: &clap::Command, out: &mut Vec<String>) {
            out.extend(
                command
                    .get_arguments()
                    .filter_map(|a| a.get_env())
                    .map(|e| e.to_string_lossy().into_owned()),
            );
            for sub in command.get_subcommands() {
                walk(sub, out);
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), &mut out);
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
    fn the_client_commands_are_settings_too_and_never_show_the_token() {
        use clap::Parser as _;

        use super::Command;
        use crate::client::{JobsCommand, ReleaseCommand};

        let settings = settings();
        for name in ["PORTAL_URL", "PORTAL_TOKEN"] {
            assert!(settings.iter().any(|s| s == name), "{name} in {settings:?}");
        }
        let record = Cli::try_parse_from([
            "portal",
            "release",
            "record",
            "17.7.1",
            "--url",
            "https://images.example.com",
            "--token",
            "pip_not-to-be-shown",
            "--date",
            "2026-11-02",
        ])
        .expect("release record parses");
        assert!(record.command.is_client());
        let Command::Release {
            command: ReleaseCommand::Record(args),
        } = &record.command
        else {
            panic!("not release record: {record:?}");
        };
        assert_eq!(args.version, "17.7.1");
        assert_eq!(args.kind, None);
        assert_eq!(
            args.date.map(|d| d.to_string()).as_deref(),
            Some("2026-11-02")
        );
        assert!(!format!("{record:?}").contains("pip_not-to-be-shown"));

        let follow = Cli::try_parse_from([
            "portal",
            "jobs",
            "follow",
            "12",
            "--url",
            "http://127.0.0.1:3000",
            "--token",
            "t",
        ])
        .expect("jobs follow parses");
        let Command::Jobs {
            command: JobsCommand::Follow(args),
        } = &follow.command
        else {
            panic!("not jobs follow: {follow:?}");
        };
        assert_eq!(
            (args.id, args.poll.timeout, args.poll.interval),
            (12, 240, 15)
        );

        for bad in [
            vec![
                "portal", "release", "record", "17.7.0", "--date", "19 Dec", "--url", "u",
                "--token", "t",
            ],
            vec![
                "portal", "release", "record", "17.7.0", "--kind", "hotfix", "--url", "u",
                "--token", "t",
            ],
            vec![
                "portal",
                "release",
                "wait",
                "17.7.0",
                "--timeout",
                "0",
                "--url",
                "u",
                "--token",
                "t",
            ],
            vec![
                "portal", "release", "wait", "17.7.0", "--url", "u", "--token", " ",
            ],
        ] {
            let err = Cli::try_parse_from(&bad).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
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
