//! The Partner Image Portal server: configuration, the HTTP application (pages, server
//! functions, REST API, operational endpoints), sign-in, and the commands of the `portal`
//! binary. `main` only parses the command line and calls into here, so tests start the
//! same application on a port of their own.

// The pages' view types nest deeply.
#![recursion_limit = "256"]

pub mod api;
pub mod auth;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod db;
pub mod jobs;
pub mod ops;
pub mod sim;
pub mod sso;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use axum::{
    Router,
    extract::FromRef,
    http::{HeaderValue, header},
    middleware,
    routing::{get, post},
};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use object_store::local::LocalFileSystem;
use tower_http::{
    limit::RequestBodyLimitLayer, services::ServeDir, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use app::services::{AppState, Clock, CloudMode, SystemClock};
use config::{AuthChoice, CloudChoice, ServeConfig, StoreConfig};

/// State of the HTTP router: the app's state plus what only the web layer needs.
#[derive(Clone, Debug)]
pub struct ServerState {
    pub app: AppState,
    pub leptos: LeptosOptions,
    pub metrics: ops::Metrics,
}

impl FromRef<ServerState> for AppState {
    fn from_ref(s: &ServerState) -> Self {
        s.app.clone()
    }
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(s: &ServerState) -> Self {
        s.leptos.clone()
    }
}

impl FromRef<ServerState> for ops::Metrics {
    fn from_ref(s: &ServerState) -> Self {
        s.metrics.clone()
    }
}

/// Everything needed to build the application, resolved from configuration.
pub struct Settings {
    pub database_url: String,
    pub database_max_connections: u32,
    pub data_dir: PathBuf,
    pub site_root: PathBuf,
    pub cloud: CloudMode,
    pub dev_auth: bool,
    pub https: bool,
    pub seed: bool,
    pub clock: Arc<dyn Clock>,
    /// Where people reach the portal, for links in webhooks.
    pub public_url: Option<String>,
    /// The token GitLab's release webhook must present.
    pub gitlab_webhook_token: Option<String>,
    /// GitLab sign-in (`PORTAL_AUTH=gitlab`).
    pub gitlab: Option<Arc<app::services::sso::GitLabSso>>,
}

impl Settings {
    pub fn from_config(store: &StoreConfig, serve: &ServeConfig) -> anyhow::Result<Self> {
        serve.validate()?;
        Ok(Settings {
            database_url: store.database_url()?,
            database_max_connections: store.database_max_connections,
            data_dir: store.data_dir.clone(),
            site_root: serve.site_root.clone(),
            cloud: match serve.cloud {
                CloudChoice::Sim => CloudMode::Simulated,
                CloudChoice::Aws => CloudMode::Aws,
            },
            dev_auth: serve.auth == AuthChoice::Dev,
            https: serve
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            seed: serve.seed,
            clock: Arc::new(SystemClock),
            public_url: serve.public_url.clone(),
            gitlab_webhook_token: serve.gitlab_webhook_token.clone(),
            gitlab: serve.gitlab_sso()?.map(Arc::new),
        })
    }
}

impl Settings {
    /// A worker process: no pages, no sign-in, no seeding.
    pub fn for_worker(store: &StoreConfig, cloud: CloudChoice) -> anyhow::Result<Self> {
        Ok(Settings {
            database_url: store.database_url()?,
            database_max_connections: store.database_max_connections,
            data_dir: store.data_dir.clone(),
            site_root: PathBuf::new(),
            cloud: match cloud {
                CloudChoice::Sim => CloudMode::Simulated,
                CloudChoice::Aws => CloudMode::Aws,
            },
            dev_auth: false,
            https: false,
            seed: false,
            clock: Arc::new(SystemClock),
            public_url: std::env::var("PORTAL_PUBLIC_URL").ok(),
            gitlab_webhook_token: None,
            gitlab: None,
        })
    }
}

/// Opens the database and the asset store; seeds an empty catalogue when asked.
pub async fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let db =
        db::connect_and_migrate(&settings.database_url, settings.database_max_connections).await?;
    let assets_dir = settings.data_dir.join("assets");
    std::fs::create_dir_all(&assets_dir)
        .with_context(|| format!("Failed to create the asset folder {}", assets_dir.display()))?;
    let store = LocalFileSystem::new_with_prefix(&assets_dir)
        .with_context(|| format!("Failed to open the asset folder {}", assets_dir.display()))?;
    let secret_key = load_secret_key(&settings.data_dir)?;
    let state = AppState {
        secret_key,
        db,
        store: Arc::new(store),
        clock: settings.clock.clone(),
        cloud: settings.cloud,
        dev_auth: settings.dev_auth,
        https: settings.https,
        public_url: settings.public_url.clone(),
        gitlab: settings.gitlab.clone(),
        gitlab_token_sha256: settings
            .gitlab_webhook_token
            .as_deref()
            .map(|t| <sha2::Sha256 as sha2::Digest>::digest(t.trim().as_bytes()).into()),
    };
    if settings.seed
        && app::services::seed::is_empty(&state.db)
            .await
            .map_err(anyhow::Error::msg)?
    {
        let report = app::services::seed::run(
            &state.db,
            state.clock.now(),
            settings.dev_auth,
            (settings.cloud == CloudMode::Simulated).then_some(&state.secret_key),
        )
        .await
        .map_err(anyhow::Error::msg)
        .context("Failed to seed the catalogue")?;
        tracing::info!(?report, "seeded the empty catalogue");
    } else if settings.dev_auth {
        app::services::seed::dev_users(&state.db, state.clock.now())
            .await
            .map_err(anyhow::Error::msg)?;
    }
    Ok(state)
}

/// The key secrets are sealed with: `PORTAL_SECRET_KEY` (base64 of 32 bytes),
/// `PORTAL_SECRET_KEY_FILE`, or `<data dir>/secret.key`, generated on first start.
pub fn load_secret_key(
    data_dir: &std::path::Path,
) -> anyhow::Result<app::services::secrets::SecretKey> {
    use app::services::secrets::SecretKey;
    if let Ok(text) = std::env::var("PORTAL_SECRET_KEY") {
        return SecretKey::from_base64(&text)
            .map_err(|e| anyhow::anyhow!("PORTAL_SECRET_KEY: {e}"));
    }
    let path = std::env::var_os("PORTAL_SECRET_KEY_FILE")
        .map_or_else(|| data_dir.join("secret.key"), PathBuf::from);
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create {}", dir.display()))?;
        }
        write_private(&path, &SecretKey::generate())
            .with_context(|| format!("Failed to write the secret key to {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a secret key");
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Failed to read the secret key {}", path.display()))?;
    SecretKey::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
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

/// The pages' routes, generated once per process. Generating them runs the app with
/// resource loading suppressed process-wide (leptos_server's `SuppressResourceLoad`): a page
/// another router of the same process renders at that moment would wait forever on its
/// resources, so a process that builds several routers (the tests do) must not generate
/// the list again while pages render.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The whole HTTP application.
pub fn router(state: AppState, site_root: PathBuf) -> Router {
    let leptos = LeptosOptions::builder()
        .output_name("portal")
        .site_root(site_root.display().to_string())
        .site_pkg_dir("pkg")
        .build();
    let server_state = ServerState {
        app: state.clone(),
        leptos: leptos.clone(),
        metrics: ops::Metrics::default(),
    };
    let routes = route_list();
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let pages = Router::new()
        .leptos_routes_with_context(&server_state, routes, context.clone(), {
            let leptos = leptos.clone();
            move || app::shell(leptos.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            ServerState,
            _,
        >(context, app::shell));

    Router::new()
        .nest("/api/v1", api::router().with_state(state.clone()))
        .route("/auth/dev", post(auth::dev_sign_in))
        .route("/auth/gitlab", get(sso::start))
        .route("/auth/gitlab/callback", get(sso::callback))
        .route("/auth/sign-out", post(auth::sign_out))
        .route("/-/health", get(ops::health))
        .route("/-/readiness", get(ops::readiness))
        .route("/-/metrics", get(ops::metrics))
        .nest_service("/pkg", ServeDir::new(site_root.join("pkg")))
        .merge(pages)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::session_layer,
        ))
        .layer(middleware::from_fn_with_state(
            state,
            auth::same_origin_guard,
        ))
        .layer(middleware::from_fn(ops::server_fn_status))
        .layer(middleware::from_fn_with_state(
            server_state.metrics.clone(),
            ops::track,
        ))
        .layer(RequestBodyLimitLayer::new(
            app::services::assets::MAX_ASSET_BYTES + 2 * 1024 * 1024,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&app::content_security_policy(None))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(server_state)
}

/// A started server: where it listens and the task serving it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds (port 0 picks a free one) and serves in the background.
pub async fn spawn(
    state: AppState,
    site_root: PathBuf,
    bind: SocketAddr,
) -> anyhow::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("Failed to listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let app = router(state, site_root);
    let handle = tokio::spawn(async move { axum::serve(listener, app.into_make_service()).await });
    Ok(RunningServer { addr, handle })
}

/// The cloud the jobs use, and the simulator behind it when there is one.
pub struct CloudHandle {
    pub cloud: Arc<cloud::Cloud>,
    /// The simulated EC2, in sim mode.
    pub sim: Option<sim::Ec2Sim>,
}

/// In sim mode starts the simulated cloud on a loopback port (or uses `PORTAL_SIM_EC2_URL`,
/// the simulator of another process); in aws mode loads the AWS configuration.
pub async fn start_cloud(state: &AppState, mode: CloudMode) -> anyhow::Result<CloudHandle> {
    let accounts = std::env::var("PORTAL_MARKETPLACE_ACCOUNTS")
        .map(|v| {
            v.split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_else(|_| vec![cloud::AWS_MARKETPLACE_ACCOUNT.to_owned()]);
    match mode {
        CloudMode::Aws => Ok(CloudHandle {
            cloud: Arc::new(cloud::Cloud::aws(accounts).await),
            sim: None,
        }),
        CloudMode::Simulated => {
            if let Ok(url) = std::env::var("PORTAL_SIM_EC2_URL") {
                return Ok(CloudHandle {
                    cloud: Arc::new(cloud::Cloud::endpoint(
                        url,
                        accounts,
                        chrono::Duration::seconds(2),
                    )),
                    sim: None,
                });
            }
            let config = sim_config_from_env()?;
            let simulator = sim::Ec2Sim::new(state.clock.clone(), config.clone());
            sim::seed_marketplace(simulator.marketplace(), &state.db).await?;
            sim::seed_ec2(&simulator, &state.db).await?;
            // The portal knows the simulated account's quota, as an operator would set it.
            let quota = i32::try_from(config.public_image_quota).unwrap_or(i32::MAX);
            app::services::retention::seed_quotas(
                &state.db,
                state.clock.now(),
                app::domain::AWS_REGIONS,
                quota,
            )
            .await
            .map_err(anyhow::Error::msg)?;
            let (url, _handle) = sim::serve(&simulator, "127.0.0.1:0".parse()?).await?;
            tracing::info!(%url, "simulated EC2 is up");
            Ok(CloudHandle {
                cloud: Arc::new(cloud::Cloud::endpoint(
                    url,
                    accounts,
                    chrono::Duration::seconds(2),
                )),
                sim: Some(simulator),
            })
        }
    }
}

/// The simulated cloud's behaviour: quick enough to watch a build finish, slow enough to
/// watch it move, unless `PORTAL_SIM_*` says otherwise.
fn sim_config_from_env() -> anyhow::Result<sim::SimConfig> {
    fn var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{name} must be a number, got '{v}'")),
            Err(_) => Ok(default),
        }
    }
    let seconds = |name: &str, default: i64| var(name, default).map(chrono::Duration::seconds);
    let fault_rate: f64 = var("PORTAL_SIM_FAULT_RATE", 0.0)?;
    anyhow::ensure!(
        (0.0..=1.0).contains(&fault_rate),
        "PORTAL_SIM_FAULT_RATE must be between 0 and 1, got {fault_rate}"
    );
    Ok(sim::SimConfig {
        public_image_quota: var("PORTAL_SIM_PUBLIC_IMAGE_QUOTA", 30)?,
        boot_delay: seconds("PORTAL_SIM_BOOT_SECONDS", 3)?,
        install_delay: seconds("PORTAL_SIM_INSTALL_SECONDS", 8)?,
        image_delay: seconds("PORTAL_SIM_IMAGE_SECONDS", 4)?,
        stop_delay: seconds("PORTAL_SIM_STOP_SECONDS", 2)?,
        fault_rate,
    })
}
