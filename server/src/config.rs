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
    #[arg(long, env = "PORTAL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Most database connections to hold open.
    #[arg(long, env = "PORTAL_DATABASE_MAX_CONNECTIONS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub database_max_connections: u32,

    /// The key secrets (license files, webhook secrets) are sealed with: base64 of 32 bytes. Default: the key file.
    #[arg(long, env = "PORTAL_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// File holding that key; generated on first start. Default: `<data dir>/secret.key`.
    #[arg(long, env = "PORTAL_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Where uploaded assets are kept: a folder (a path or `file:///path`; default `<data dir>/assets`) or `s3://bucket/prefix`, with credentials and region from the usual AWS environment.
    #[arg(long, env = "PORTAL_ASSETS_URL", default_value = "")]
    pub assets_url: String,

    /// The endpoint of an S3-compatible store (path-style requests) for an `s3://` PORTAL_ASSETS_URL. Default: AWS's S3.
    #[arg(long, env = "PORTAL_ASSETS_S3_ENDPOINT")]
    pub assets_s3_endpoint: Option<String>,

    /// Credentials for the S3 asset store given in code (a test's local S3 server); never a flag.
    #[arg(skip)]
    pub assets_s3_credentials: Option<crate::asset_store::S3Credentials>,
}

impl StoreConfig {
    /// Where assets are kept, after checking `PORTAL_ASSETS_URL` and `PORTAL_ASSETS_S3_ENDPOINT`.
    pub fn asset_store(&self) -> anyhow::Result<crate::asset_store::AssetStoreChoice> {
        let allow_http =
            std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
        crate::asset_store::parse(
            &self.assets_url,
            self.assets_s3_endpoint.as_deref(),
            &self.data_dir,
            allow_http,
        )
    }

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

    /// The key secrets are sealed with: `PORTAL_SECRET_KEY`, else the key file (made on
    /// first start, readable by its owner only).
    pub fn secret_key(&self) -> anyhow::Result<app::services::secrets::SecretKey> {
        use anyhow::Context as _;
        use app::services::secrets::SecretKey;
        if let Some(text) = &self.secret_key {
            return SecretKey::from_base64(text)
                .map_err(|e| anyhow::anyhow!("PORTAL_SECRET_KEY: {e}"));
        }
        let path = self
            .secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("secret.key"));
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("Failed to create {}", dir.display()))?;
            }
            write_private(&path, &SecretKey::generate())
                .with_context(|| format!("Failed to write the secret key to {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a secret key");
        }
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "PORTAL_SECRET_KEY_FILE: failed to read the secret key {}",
                path.display()
            )
        })?;
        SecretKey::from_base64(&text)
            .map_err(|e| anyhow::anyhow!("PORTAL_SECRET_KEY_FILE {}: {e}", path.display()))
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// The cloud the jobs talk to, shared by `serve` and `worker`.
#[derive(Debug, Clone, Args)]
pub struct CloudConfig {
    /// Which cloud jobs run against.
    #[arg(long, env = "PORTAL_CLOUD", value_enum, default_value_t = CloudChoice::Sim)]
    pub cloud: CloudChoice,

    /// Accounts a licensed image is shared with: AWS Marketplace's, comma-separated.
    #[arg(long, env = "PORTAL_MARKETPLACE_ACCOUNTS", value_delimiter = ',', default_value = crate::cloud::AWS_MARKETPLACE_ACCOUNT)]
    pub marketplace_accounts: Vec<String>,

    /// AWS accounts a product's base image may come from, comma-separated (Canonical's by default).
    #[arg(long, env = "PORTAL_BASE_IMAGE_OWNERS", value_delimiter = ',', default_value = app::services::products::CANONICAL_ACCOUNT)]
    pub base_image_owners: Vec<String>,

    /// The IAM role AWS Marketplace assumes to read a published version's image, when none is set in the portal.
    #[arg(long, env = "PORTAL_MARKETPLACE_ACCESS_ROLE_ARN")]
    pub marketplace_access_role_arn: Option<String>,

    /// Minutes a build waits for the builder's install to finish (it reports and powers off) before it terminates the builder and fails.
    #[arg(long, env = "PORTAL_BUILD_INSTALL_TIMEOUT_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub build_install_timeout_minutes: u32,

    /// Minutes a build waits for its image to become available before it fails.
    #[arg(long, env = "PORTAL_BUILD_IMAGE_TIMEOUT_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub build_image_timeout_minutes: u32,

    /// Minutes a build waits for its copies in the target regions before it fails.
    #[arg(long, env = "PORTAL_BUILD_COPY_TIMEOUT_MINUTES", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=2880))]
    pub build_copy_timeout_minutes: u32,

    /// Seconds a waiting job sleeps before it looks again. Default: 30 on AWS, 2 in the simulated cloud.
    #[arg(long, env = "PORTAL_CLOUD_POLL_SECONDS", value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub cloud_poll_seconds: Option<u32>,

    /// Minutes between the syncs of the account (images, quotas, marketplace versions) the portal runs by itself; 0: only at start and on demand.
    #[arg(long, env = "PORTAL_CLOUD_SYNC_EVERY", default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=10_080))]
    pub cloud_sync_every: u32,

    #[command(flatten)]
    pub sim: SimConfigArgs,

    #[command(flatten)]
    pub webhooks: WebhookConfig,
}

/// Where outbound webhooks may be delivered. Both switches are for tests and local
/// development only: by default webhooks go over https to public addresses.
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// For testing only: also accept http:// webhook URLs (events then travel unencrypted).
    #[arg(long, env = "PORTAL_WEBHOOKS_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhooks_allow_http: bool,

    /// For testing only: also deliver webhooks to loopback, link-local and private addresses.
    #[arg(long, env = "PORTAL_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhooks_allow_private: bool,
}

impl WebhookConfig {
    pub fn policy(&self) -> app::services::outbound::WebhookPolicy {
        app::services::outbound::WebhookPolicy {
            allow_http: self.webhooks_allow_http,
            allow_private: self.webhooks_allow_private,
        }
    }
}

/// The simulated cloud's behaviour: quick enough to watch a build finish, slow enough to
/// watch it move.
#[derive(Debug, Clone, Args)]
pub struct SimConfigArgs {
    /// Use the simulated cloud of another process at this URL instead of starting one.
    #[arg(long, env = "PORTAL_SIM_EC2_URL")]
    pub sim_ec2_url: Option<String>,

    /// Start the simulated EC2 holding the images of the catalogue's sample history (false: an empty account).
    #[arg(long, env = "PORTAL_SIM_SEED_IMAGES", default_value_t = true, action = clap::ArgAction::Set)]
    pub sim_seed_images: bool,

    /// Public images the simulated account may have per region.
    #[arg(long, env = "PORTAL_SIM_PUBLIC_IMAGE_QUOTA", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sim_public_image_quota: u32,

    /// Regions whose simulated public-image quota was raised, as region=count pairs separated by commas (eu-west-1=50,us-east-1=100); other regions have the quota above.
    #[arg(long, env = "PORTAL_SIM_PUBLIC_IMAGE_QUOTAS", default_value = "", value_parser = region_quotas)]
    pub sim_public_image_quotas: RegionQuotas,

    /// Days a deregistered simulated image stays in the Recycle Bin (0: no retention rule, it is gone at once).
    #[arg(long, env = "PORTAL_SIM_RECYCLE_BIN_DAYS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=365))]
    pub sim_recycle_bin_days: u32,

    /// Seconds a simulated instance takes to boot.
    #[arg(long, env = "PORTAL_SIM_BOOT_SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub sim_boot_seconds: u32,

    /// Seconds a simulated builder's install takes.
    #[arg(long, env = "PORTAL_SIM_INSTALL_SECONDS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub sim_install_seconds: u32,

    /// Seconds a simulated image (or copy) takes to become available.
    #[arg(long, env = "PORTAL_SIM_IMAGE_SECONDS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub sim_image_seconds: u32,

    /// Seconds a simulated instance takes to stop.
    #[arg(long, env = "PORTAL_SIM_STOP_SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub sim_stop_seconds: u32,

    /// Share of simulated calls answered with throttling or a 5xx, 0 to 1.
    #[arg(long, env = "PORTAL_SIM_FAULT_RATE", default_value_t = 0.0, value_parser = fault_rate)]
    pub sim_fault_rate: f64,

    /// Make every simulated builder's install fail at this step of the install script (prerequisites, repository, license, package, installation-type, clean-up, first-boot). Unset: installs succeed.
    #[arg(long, env = "PORTAL_SIM_INSTALL_FAILURE", value_parser = install_step)]
    pub sim_install_failure: Option<String>,
}

/// Public-image quotas of particular regions: region → quota.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionQuotas(pub std::collections::BTreeMap<String, usize>);

fn region_quotas(text: &str) -> Result<RegionQuotas, String> {
    let mut quotas = std::collections::BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((region, count)) = pair.split_once('=') else {
            return Err(format!(
                "'{pair}' is not region=count (such as eu-west-1=50)"
            ));
        };
        let region = region.trim();
        if !app::domain::AWS_REGIONS.contains(&region) {
            return Err(format!(
                "'{region}' is not a region of the simulated cloud; its regions are {}",
                app::domain::AWS_REGIONS.join(", ")
            ));
        }
        let count: usize = match count.trim().parse() {
            Ok(n) if (1..=100_000).contains(&n) => n,
            _ => {
                return Err(format!(
                    "the quota of {region}, '{}', is not a number from 1 to 100000",
                    count.trim()
                ));
            }
        };
        if quotas.insert(region.to_owned(), count).is_some() {
            return Err(format!("{region} is given twice"));
        }
    }
    Ok(RegionQuotas(quotas))
}

fn install_step(text: &str) -> Result<String, String> {
    let step = text.trim();
    if crate::jobs::build_image::console::INSTALL_STEPS.contains(&step) {
        Ok(step.to_owned())
    } else {
        Err(format!(
            "'{text}' is not a step of the install script; the steps are {}",
            crate::jobs::build_image::console::INSTALL_STEPS.join(", ")
        ))
    }
}

fn fault_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

impl SimConfigArgs {
    /// The simulator's settings.
    pub fn sim_config(&self) -> crate::sim::SimConfig {
        let seconds = |s: u32| chrono::Duration::seconds(i64::from(s));
        crate::sim::SimConfig {
            public_image_quota: usize::try_from(self.sim_public_image_quota).unwrap_or(usize::MAX),
            public_image_quotas: self.sim_public_image_quotas.0.clone(),
            recycle_bin_days: self.sim_recycle_bin_days,
            boot_delay: seconds(self.sim_boot_seconds),
            install_delay: seconds(self.sim_install_seconds),
            image_delay: seconds(self.sim_image_seconds),
            stop_delay: seconds(self.sim_stop_seconds),
            fault_rate: self.sim_fault_rate,
            install_failure: self.sim_install_failure.clone(),
        }
    }
}

impl CloudConfig {
    /// Refuses settings the cloud would refuse later, naming the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        for account in &self.marketplace_accounts {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                anyhow::bail!(
                    "PORTAL_MARKETPLACE_ACCOUNTS must be 12-digit AWS account ids, got '{account}'"
                );
            }
        }
        self.base_image_owners()?;
        if let Some(arn) = self
            .marketplace_access_role_arn
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            let valid = arn
                .strip_prefix("arn:aws:iam::")
                .and_then(|rest| rest.split_once(":role/"))
                .is_some_and(|(account, name)| {
                    account.len() == 12
                        && account.bytes().all(|b| b.is_ascii_digit())
                        && !name.is_empty()
                });
            if !valid {
                anyhow::bail!(
                    "PORTAL_MARKETPLACE_ACCESS_ROLE_ARN must look like arn:aws:iam::<12 digits>:role/<name>, got '{arn}'"
                );
            }
        }
        if let Some(url) = &self.sim.sim_ec2_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("PORTAL_SIM_EC2_URL must be an http(s) URL, got '{url}'");
        }
        Ok(())
    }

    /// How long a waiting job sleeps before it looks again.
    pub fn poll(&self) -> chrono::Duration {
        let default = match self.cloud {
            CloudChoice::Aws => 30,
            CloudChoice::Sim => 2,
        };
        chrono::Duration::seconds(i64::from(self.cloud_poll_seconds.unwrap_or(default)))
    }

    /// The non-empty optional strings, trimmed.
    fn set(value: &Option<String>) -> Option<String> {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The accounts products' base images may come from.
    pub fn base_image_owners(&self) -> anyhow::Result<app::services::products::BaseImageOwners> {
        app::services::products::BaseImageOwners::new(&self.base_image_owners)
            .map_err(|e| anyhow::anyhow!("PORTAL_BASE_IMAGE_OWNERS: {e}"))
    }

    /// How long each wait of a build may last.
    pub fn build_timeouts(&self) -> crate::cloud::BuildTimeouts {
        let minutes = |m: u32| chrono::Duration::minutes(i64::from(m));
        crate::cloud::BuildTimeouts {
            install: minutes(self.build_install_timeout_minutes),
            image: minutes(self.build_image_timeout_minutes),
            copies: minutes(self.build_copy_timeout_minutes),
        }
    }

    pub fn marketplace_access_role_arn(&self) -> Option<String> {
        Self::set(&self.marketplace_access_role_arn)
    }

    /// How often the portal syncs the account by itself; zero when only at start and on demand.
    pub fn cloud_sync_every(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.cloud_sync_every))
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

    /// Someone in no mapped group: `refuse` (turned away) or `viewer` (may read everything, partner contacts included).
    #[arg(long, env = "PORTAL_GITLAB_UNMAPPED", value_enum, default_value_t = UnmappedChoice::Refuse)]
    pub gitlab_unmapped: UnmappedChoice,

    /// Minutes GitLab's confirmation of a person's account state and groups holds; the portal asks GitLab again before then, or their sessions and API tokens stop working.
    #[arg(long, env = "PORTAL_GITLAB_RECHECK_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(5..=60))]
    pub gitlab_recheck_minutes: u32,

    /// Minutes GitLab's OpenID configuration and signing keys are kept before they are fetched again (sooner when an ID token does not check out with them).
    #[arg(long, env = "PORTAL_GITLAB_DISCOVERY_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub gitlab_discovery_minutes: u32,

    /// Background workers to run inside the server process (0 runs none).
    #[arg(long, env = "PORTAL_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub workers: u32,

    /// Live job event streams one person may have open at once; one more is refused with 429.
    #[arg(long, env = "PORTAL_EVENT_STREAMS_PER_PERSON", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub event_streams_per_person: u32,

    /// Sign-in attempts (development sign-in, GitLab sign-in and its callback) one client address may make in a burst.
    #[arg(long, env = "PORTAL_SIGN_IN_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub sign_in_burst: u32,

    /// Seconds after which a client address gets one more sign-in attempt back.
    #[arg(long, env = "PORTAL_SIGN_IN_PERIOD_SECONDS", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub sign_in_period_seconds: u32,
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
        check_public_url(self.public_url.as_deref())?;
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
            recheck: chrono::Duration::minutes(i64::from(self.gitlab_recheck_minutes)),
            discovery_ttl: chrono::Duration::minutes(i64::from(self.gitlab_discovery_minutes)),
            provider: Default::default(),
            url,
        }))
    }

    /// The limits the HTTP server applies.
    pub fn web_limits(&self) -> crate::limits::WebLimits {
        crate::limits::WebLimits {
            event_streams_per_person: usize::try_from(self.event_streams_per_person)
                .unwrap_or(usize::MAX),
            sign_in_burst: self.sign_in_burst,
            sign_in_period: std::time::Duration::from_secs(u64::from(self.sign_in_period_seconds)),
        }
    }

    /// The URL to print and link to.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// Everything `portal serve` runs with: the one way a portal is configured, in production
/// and in the tests alike.
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub cloud: CloudConfig,
    #[command(flatten)]
    pub serve: ServeConfig,
}

impl Config {
    /// A configuration as `portal serve` would read it from these arguments and the
    /// environment.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            config: Config,
        }
        <Serve as clap::Parser>::try_parse_from(args).map(|s| s.config)
    }

    /// Checks every setting before anything starts; the message names the setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.store.database_url()?;
        self.store.asset_store()?;
        self.cloud.validate()?;
        self.serve.validate()?;
        self.serve.gitlab_sso()?;
        Ok(())
    }
}

/// Everything `portal worker` runs with.
#[derive(Debug, Clone, Args)]
pub struct WorkerConfig {
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub cloud: CloudConfig,

    /// The URL people reach the portal at, for links in notifications the workers send.
    #[arg(long, env = "PORTAL_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Workers to run in this process.
    #[arg(long, env = "PORTAL_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
}

impl WorkerConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.store.database_url()?;
        self.store.asset_store()?;
        self.cloud.validate()?;
        check_public_url(self.public_url.as_deref())
    }
}

fn check_public_url(url: Option<&str>) -> anyhow::Result<()> {
    if let Some(url) = url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        anyhow::bail!("PORTAL_PUBLIC_URL must be an http(s) URL, got '{url}'");
    }
    Ok(())
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
    fn raised_region_quotas_of_the_simulated_cloud_parse_and_name_what_is_wrong() {
        let quotas = region_quotas(" eu-west-1=50, us-east-1 = 100 ").expect("parses");
        assert_eq!(
            quotas.0.into_iter().collect::<Vec<_>>(),
            [("eu-west-1".to_owned(), 50), ("us-east-1".to_owned(), 100)]
        );
        assert_eq!(region_quotas("").expect("empty"), RegionQuotas::default());
        for (text, says) in [
            ("eu-west-1", "is not region=count"),
            ("mars-north-1=5", "is not a region of the simulated cloud"),
            ("eu-west-1=0", "is not a number from 1 to 100000"),
            ("eu-west-1=many", "is not a number from 1 to 100000"),
            ("eu-west-1=5,eu-west-1=6", "eu-west-1 is given twice"),
        ] {
            let err = region_quotas(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
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
        assert_eq!(
            sso.recheck,
            chrono::Duration::minutes(60),
            "hourly by default"
        );
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
    fn gitlab_turns_away_people_in_no_mapped_group_unless_told_otherwise() {
        let gitlab = |extra: &[&str]| {
            let mut args = vec![
                "portal",
                "--auth",
                "gitlab",
                "--gitlab-client-id",
                "id",
                "--gitlab-client-secret",
                "s",
            ];
            args.extend_from_slice(extra);
            Probe::try_parse_from(args)
                .expect("parses")
                .serve
                .gitlab_sso()
                .expect("valid")
                .expect("on")
        };
        assert!(!gitlab(&[]).unmapped_viewer, "refused by default");
        assert!(gitlab(&["--gitlab-unmapped", "viewer"]).unmapped_viewer);
        let sso = gitlab(&[
            "--gitlab-recheck-minutes",
            "15",
            "--gitlab-discovery-minutes",
            "5",
        ]);
        assert_eq!(sso.recheck, chrono::Duration::minutes(15));
        assert_eq!(sso.discovery_ttl, chrono::Duration::minutes(5));
        for too_rare in [
            ["--gitlab-recheck-minutes", "61"],
            ["--gitlab-recheck-minutes", "0"],
        ] {
            let mut args = vec!["portal"];
            args.extend_from_slice(&too_rare);
            assert!(Probe::try_parse_from(args).is_err(), "{too_rare:?}");
        }
    }

    #[test]
    fn webhooks_are_https_to_public_addresses_and_limits_are_on_unless_told_otherwise() {
        use app::services::outbound::WebhookPolicy;
        let config = Config::from_args(["portal"]).expect("parses");
        assert_eq!(config.cloud.webhooks.policy(), WebhookPolicy::default());
        assert!(!WebhookPolicy::default().allow_http && !WebhookPolicy::default().allow_private);
        let limits = config.serve.web_limits();
        assert_eq!(limits.event_streams_per_person, 8);
        assert_eq!(limits.sign_in_burst, 10);
        assert_eq!(limits.sign_in_period, std::time::Duration::from_secs(6));
        let config = Config::from_args([
            "portal",
            "--webhooks-allow-http",
            "true",
            "--webhooks-allow-private",
            "true",
        ])
        .expect("parses");
        assert_eq!(
            config.cloud.webhooks.policy(),
            WebhookPolicy {
                allow_http: true,
                allow_private: true
            }
        );
        assert!(Config::from_args(["portal", "--event-streams-per-person", "0"]).is_err());
        assert!(Config::from_args(["portal", "--sign-in-burst", "0"]).is_err());
    }

    #[test]
    fn base_images_come_from_canonical_unless_other_accounts_are_set() {
        use app::services::products::BaseImageOwners;
        let config = Config::from_args(["portal"]).expect("parses");
        assert_eq!(
            config.cloud.base_image_owners().expect("valid"),
            BaseImageOwners::default()
        );
        let config =
            Config::from_args(["portal", "--base-image-owners", "111122223333,099720109477"])
                .expect("parses");
        let owners = config.cloud.base_image_owners().expect("valid");
        assert!(owners.allows("111122223333") && owners.allows("099720109477"));
        let config =
            Config::from_args(["portal", "--base-image-owners", "canonical"]).expect("parses");
        let err = config
            .cloud
            .validate()
            .expect_err("not an account")
            .to_string();
        assert!(
            err.contains("PORTAL_BASE_IMAGE_OWNERS") && err.contains("'canonical'"),
            "{err}"
        );
    }

    #[test]
    fn the_account_syncs_hourly_unless_told_and_zero_leaves_only_start_and_demand() {
        let config = Config::from_args(["portal"]).expect("parses");
        assert_eq!(
            config.cloud.cloud_sync_every(),
            chrono::Duration::minutes(60)
        );
        let config = Config::from_args(["portal", "--cloud-sync-every", "0"]).expect("parses");
        assert_eq!(config.cloud.cloud_sync_every(), chrono::Duration::zero());
        for bad in ["-5", "10081", "hourly"] {
            assert!(
                Config::from_args(["portal", "--cloud-sync-every", bad]).is_err(),
                "{bad}"
            );
        }
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
