//! Typed configuration, read once from flags and `PORTAL_*` environment variables and
//! checked before anything starts, so a bad setting fails with a clear message.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};

/// Which cloud the jobs talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudChoice {
    /// The built-in AWS emulator: no account needed, nothing real is touched.
    Sim,
    /// Real AWS through the normal credential chain and region configuration.
    Aws,
}

/// How people sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthChoice {
    /// Pick a seeded user from a list. Only on a loopback address.
    Dev,
    /// Sign in with GitLab (OpenID Connect with PKCE); roles come from GitLab groups.
    Gitlab,
}

/// What happens to someone in no GitLab group mapped to a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnmappedChoice {
    /// They may look (the viewer role).
    Viewer,
    /// They are turned away.
    Refuse,
}

/// Settings shared by every subcommand that opens the database.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// Folder for the SQLite database and uploaded assets.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://…` or `postgres://…`. Default: a SQLite file in the data dir.
    #[arg(long, env = "PORTAL_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most database connections to hold open.
    #[arg(long, env = "PORTAL_DATABASE_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub database_max_connections: u32,
}

impl StoreConfig {
    /// The database URL to connect to, after checking its scheme.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url)
                if url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:") =>
            {
                Ok(url.clone())
            }
            Some(url) => {
                let scheme = url.split("://").next().unwrap_or(url);
                anyhow::bail!(
                    "PORTAL_DATABASE_URL must start with sqlite: or postgres:// (got a URL starting with '{scheme}')"
                )
            }
            None => Ok(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("portal.db").display()
            )),
        }
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "PORTAL_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,

    /// The URL people reach the portal at (used in links and printed at start). Default: from the bind address.
    #[arg(long, env = "PORTAL_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Which cloud jobs run against.
    #[arg(long, env = "PORTAL_CLOUD", value_enum, default_value_t = CloudChoice::Sim)]
    pub cloud: CloudChoice,

    /// How people sign in.
    #[arg(long, env = "PORTAL_AUTH", value_enum, default_value_t = AuthChoice::Dev)]
    pub auth: AuthChoice,

    /// Folder with the built site (`pkg/` with the wasm bundle and CSS, and the public files).
    #[arg(long, env = "PORTAL_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Seed the catalogue when the database is empty (and sample history in the simulated cloud).
    #[arg(long, env = "PORTAL_SEED", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed: bool,

    /// The secret token of the GitLab webhook that reports releases (`POST /api/v1/webhooks/gitlab`); unset turns the webhook off.
    #[arg(long, env = "PORTAL_GITLAB_WEBHOOK_TOKEN", hide_env_values = true)]
    pub gitlab_webhook_token: Option<String>,

    /// The GitLab people sign in with (gitlab.com or a self-managed instance).
    #[arg(long, env = "PORTAL_GITLAB_URL", default_value = "https://gitlab.com")]
    pub gitlab_url: String,

    /// Application ID of the portal's OAuth application on GitLab (scopes: openid, profile, email, read_user).
    #[arg(long, env = "PORTAL_GITLAB_CLIENT_ID")]
    pub gitlab_client_id: Option<String>,

    /// Secret of that OAuth application.
    #[arg(long, env = "PORTAL_GITLAB_CLIENT_SECRET", hide_env_values = true)]
    pub gitlab_client_secret: Option<String>,

    /// Which GitLab groups grant which role: `role=group/path,…` (members of subgroups too).
    #[arg(long, env = "PORTAL_GITLAB_ROLE_GROUPS", default_value = app::services::sso::DEFAULT_ROLE_GROUPS)]
    pub gitlab_role_groups: String,

    /// Someone in no mapped group: `viewer` or `refuse`.
    #[arg(long, env = "PORTAL_GITLAB_UNMAPPED", value_enum, default_value_t = UnmappedChoice::Viewer)]
    pub gitlab_unmapped: UnmappedChoice,

    /// Background workers to run inside the server process (0 runs none).
    #[arg(long, env = "PORTAL_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub workers: u32,
}

impl ServeConfig {
    /// Refuses combinations that would be unsafe.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.auth == AuthChoice::Dev && !self.bind.ip().is_loopback() {
            anyhow::bail!(
                "PORTAL_AUTH=dev lets anyone sign in as anyone, so it only listens on a loopback address; \
                 {} is not one. Bind to 127.0.0.1 or configure GitLab sign-in.",
                self.bind.ip()
            );
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("PORTAL_PUBLIC_URL must be an http(s) URL, got '{url}'");
        }
        if let Some(token) = &self.gitlab_webhook_token
            && token.trim().len() < 16
        {
            anyhow::bail!(
                "PORTAL_GITLAB_WEBHOOK_TOKEN is too short to keep anyone out: use at least 16 characters"
            );
        }
        Ok(())
    }

    /// GitLab sign-in, when `PORTAL_AUTH=gitlab`, with everything it needs checked.
    pub fn gitlab_sso(&self) -> anyhow::Result<Option<app::services::sso::GitLabSso>> {
        use app::services::{secrets::SecretValue, sso::GitLabSso};
        if self.auth != AuthChoice::Gitlab {
            return Ok(None);
        }
        let url = self.gitlab_url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            anyhow::bail!("PORTAL_GITLAB_URL must be an http(s) URL, got '{url}'");
        }
        let required = |value: &Option<String>, name: &str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "PORTAL_AUTH=gitlab needs {name}: register an OAuth application on {url} with the redirect URI <public URL>/auth/gitlab/callback"
                    )
                })
        };
        Ok(Some(GitLabSso {
            client_id: required(&self.gitlab_client_id, "PORTAL_GITLAB_CLIENT_ID")?,
            client_secret: SecretValue::new(required(
                &self.gitlab_client_secret,
                "PORTAL_GITLAB_CLIENT_SECRET",
            )?),
            groups: GitLabSso::parse_groups(&self.gitlab_role_groups)
                .map_err(|e| anyhow::anyhow!("PORTAL_GITLAB_ROLE_GROUPS: {e}"))?,
            unmapped_viewer: self.gitlab_unmapped == UnmappedChoice::Viewer,
            url,
        }))
    }

    /// The URL to print and link to.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        serve: ServeConfig,
        #[command(flatten)]
        store: StoreConfig,
    }

    #[test]
    fn dev_sign_in_is_refused_off_loopback() {
        let probe = Probe::try_parse_from(["portal", "--bind", "0.0.0.0:3000"]).expect("parses");
        let err = probe.serve.validate().expect_err("refused").to_string();
        assert!(err.contains("loopback"), "{err}");
        let probe = Probe::try_parse_from(["portal", "--bind", "127.0.0.1:0"]).expect("parses");
        assert!(probe.serve.validate().is_ok());
    }

    #[test]
    fn gitlab_sign_in_needs_its_application_and_a_valid_mapping() {
        let probe = Probe::try_parse_from(["portal", "--auth", "gitlab", "--bind", "0.0.0.0:3000"])
            .expect("parses");
        assert!(
            probe.serve.validate().is_ok(),
            "any bind address with GitLab"
        );
        let err = probe.serve.gitlab_sso().expect_err("no client").to_string();
        assert!(err.contains("PORTAL_GITLAB_CLIENT_ID"), "{err}");
        let probe = Probe::try_parse_from([
            "portal",
            "--auth",
            "gitlab",
            "--gitlab-url",
            "https://gitlab.example.com/",
            "--gitlab-client-id",
            "id",
            "--gitlab-client-secret",
            "very-secret",
            "--gitlab-unmapped",
            "refuse",
        ])
        .expect("parses");
        let sso = probe.serve.gitlab_sso().expect("valid").expect("on");
        assert_eq!(sso.url, "https://gitlab.example.com");
        assert!(!sso.unmapped_viewer);
        assert!(!format!("{sso:?}").contains("very-secret"), "never printed");
        let probe = Probe::try_parse_from([
            "portal",
            "--auth",
            "gitlab",
            "--gitlab-client-id",
            "id",
            "--gitlab-client-secret",
            "s",
            "--gitlab-role-groups",
            "wizard=gitlab-org",
        ])
        .expect("parses");
        let err = probe
            .serve
            .gitlab_sso()
            .expect_err("bad mapping")
            .to_string();
        assert!(err.contains("PORTAL_GITLAB_ROLE_GROUPS"), "{err}");
    }

    #[test]
    fn the_database_defaults_to_sqlite_in_the_data_dir() {
        let probe = Probe::try_parse_from(["portal", "--data-dir", "/tmp/x"]).expect("parses");
        assert_eq!(
            probe.store.database_url().expect("url"),
            "sqlite:///tmp/x/portal.db?mode=rwc"
        );
        let probe =
            Probe::try_parse_from(["portal", "--database-url", "mysql://x"]).expect("parses");
        assert!(probe.store.database_url().is_err());
    }
}
