//! The Partner Image Portal server: configuration, the HTTP application (pages, server
//! functions, REST API, operational endpoints), sign-in, and the commands of the `portal`
//! binary. `main` only parses the command line and calls into here, so tests start the
//! same application on a port of their own.

// The pages' view types nest deeply.
#![recursion_limit = "256"]

pub mod api;
pub mod asset_store;
pub mod auth;
pub mod bench_seed;
pub mod cli;
pub mod client;
pub mod cloud;
pub mod config;
pub mod db;
pub mod jobs;
pub mod kept_pages;
pub mod limits;
pub mod ops;
pub mod sim;
pub mod site_files;
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
use tower_http::{
    limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer, trace::TraceLayer,
};

use app::services::{AppState, Clock, CloudMode};
use config::{AuthChoice, CloudChoice, CloudConfig, ServeConfig, StoreConfig};
pub use config::{Config, WorkerConfig};

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

/// Opens the database and the asset store, and seeds an empty catalogue when asked.
async fn open_state(
    store: &StoreConfig,
    cloud: &CloudConfig,
    clock: Arc<dyn Clock>,
    public_url: Option<String>,
    web: Option<&ServeConfig>,
) -> anyhow::Result<AppState> {
    let mut db =
        db::connect_and_migrate(&store.database_url()?, store.database_max_connections).await?;
    // Every statement counts toward its request, and every write drops the kept reads.
    let reads = app::services::read_cache::ReadCache::default();
    app::services::queries::count_per_request(&mut db, reads.writes());
    let (assets, asset_urls) =
        asset_store::open(&store.asset_store()?, store.assets_s3_credentials.as_ref())?;
    let dev_auth = web.is_some_and(|w| w.auth == AuthChoice::Dev);
    let state: AppState = app::services::AppStateParts {
        secret_key: store.secret_key()?,
        db,
        store: assets,
        clock,
        cloud: match cloud.cloud {
            CloudChoice::Sim => CloudMode::Simulated,
            CloudChoice::Aws => CloudMode::Aws,
        },
        dev_auth,
        https: public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
        public_url,
        gitlab: match web {
            Some(w) => w.gitlab_sso()?.map(Arc::new),
            None => None,
        },
        gitlab_token_sha256: web
            .and_then(|w| w.gitlab_webhook_token.as_deref())
            .map(|t| <sha2::Sha256 as sha2::Digest>::digest(t.trim().as_bytes()).into()),
        webhooks: cloud.webhooks.policy(),
        base_image_owners: cloud.base_image_owners()?,
        cloud_sync_every: cloud.cloud_sync_every(),
        asset_urls,
        marketplace: Default::default(),
        reads,
    }
    .into();
    let seed = web.is_some_and(|w| w.seed);
    if seed
        && app::services::seed::is_empty(&state.db)
            .await
            .map_err(anyhow::Error::msg)?
    {
        let report = app::services::seed::run(
            &state.db,
            state.clock.now(),
            dev_auth,
            (state.cloud == CloudMode::Simulated).then_some(&state.secret_key),
        )
        .await
        .map_err(anyhow::Error::msg)
        .context("Failed to seed the catalogue")?;
        tracing::info!(?report, "seeded the empty catalogue");
    } else if dev_auth {
        app::services::seed::dev_users(&state.db, state.clock.now())
            .await
            .map_err(anyhow::Error::msg)?;
    }
    Ok(state)
}

/// A portal assembled from its configuration: the database, the cloud (the simulated one
/// started on a loopback port of its own, in sim mode) and the HTTP server bound and
/// serving. `portal serve` and the tests both start the portal this way and no other.
pub struct Application {
    pub state: AppState,
    pub cloud: CloudHandle,
    /// Where the server listens (port 0 in the configuration picks a free one).
    pub addr: SocketAddr,
    /// The URL people reach it at.
    pub url: String,
    /// Background workers `spawn_workers` starts.
    pub workers: u32,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Application {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        config.validate()?;
        let state = open_state(
            &config.store,
            &config.cloud,
            clock,
            config.serve.public_url.clone(),
            Some(&config.serve),
        )
        .await?;
        let cloud = start_cloud(&state, &config.cloud, &config.store.data_dir).await?;
        // The copy page compares approved copy with what the marketplace shows now.
        state.marketplace.set(cloud.cloud.clone());
        let running = spawn(
            state.clone(),
            config.serve.site_root.clone(),
            config.serve.bind,
            &config.serve.web_limits(),
            jobs::base_image_check::Ec2BaseImages::finder(cloud.cloud.clone()),
        )
        .await?;
        let url = config.serve.public_url(running.addr);
        // Files in a local folder are served publicly (a pinned logo) at the portal's address.
        if let app::services::assets::AssetUrls::Local { portal } = &state.asset_urls {
            portal.set(url.clone());
        }
        Ok(Application {
            url,
            addr: running.addr,
            state,
            cloud,
            workers: config.serve.workers,
            server: running.handle,
        })
    }

    /// Starts the configured number of background workers, and with GitLab sign-in the
    /// sweep that asks GitLab again about signed-in people once a minute; they stop after
    /// their current step once `stop` turns true.
    pub fn spawn_workers(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks =
            jobs::spawn_workers(&self.state, &self.cloud.cloud, self.workers, stop.clone());
        if self.state.gitlab.is_some() {
            tasks.push(tokio::spawn(sso::run_recheck(
                self.state.clone(),
                stop,
                std::time::Duration::from_secs(60),
            )));
        }
        tasks
    }
}

/// A worker process assembled from its configuration: no pages, no sign-in, no seeding.
pub struct WorkerProcess {
    pub state: AppState,
    pub cloud: CloudHandle,
    pub workers: u32,
}

impl WorkerProcess {
    pub async fn build(config: WorkerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        config.validate()?;
        let public_url = config.public_url.clone();
        let state =
            open_state(&config.store, &config.cloud, clock, config.public_url, None).await?;
        if let (Some(url), app::services::assets::AssetUrls::Local { portal }) =
            (public_url, &state.asset_urls)
        {
            portal.set(url);
        }
        let cloud = start_cloud(&state, &config.cloud, &config.store.data_dir).await?;
        state.marketplace.set(cloud.cloud.clone());
        Ok(WorkerProcess {
            state,
            cloud,
            workers: config.workers,
        })
    }

    pub fn spawn_workers(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        jobs::spawn_workers(&self.state, &self.cloud.cloud, self.workers, stop)
    }
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

/// The whole HTTP application, answering only to `hosts`, within `web_limits`.
pub fn router(
    state: AppState,
    site_root: PathBuf,
    hosts: auth::AllowedHosts,
    web_limits: &limits::WebLimits,
) -> anyhow::Result<Router> {
    // A site built with hashed names lists them in its hash file; the pages then name the
    // hashed files (read from that file, so a rebuilt site is picked up as it is).
    let hash_file = site_files::hash_file(&site_root);
    let leptos = LeptosOptions::builder()
        .output_name("portal")
        .site_root(site_root.display().to_string())
        .site_pkg_dir(site_files::PKG_DIR)
        .hash_files(hash_file.is_some())
        // An absolute path: leptos otherwise looks beside the executable.
        .hash_file(
            hash_file
                .unwrap_or_else(|| site_root.join(site_files::HASH_FILE))
                .display()
                .to_string()
                .into(),
        )
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
        >(context, app::shell))
        .layer(middleware::from_fn_with_state(
            limits::PageRenders::per_core(),
            limits::page_render_turn,
        ))
        // Outside the turns: a page served from what is kept waits for no render.
        .layer(middleware::from_fn_with_state(
            kept_pages::KeptPages::new(state.reads.clone(), state.clock.clone()),
            kept_pages::keep_pages,
        ));

    // Sign-in attempts are rate-limited per client address.
    let sign_in = limits::sign_in_limited(
        Router::new()
            .route("/auth/dev", post(auth::dev_sign_in))
            .route("/auth/gitlab", get(sso::start))
            .route("/auth/gitlab/callback", get(sso::callback)),
        web_limits,
    )?;

    let routes = Router::new()
        .nest("/api/v1", api::router().with_state(state.clone()))
        .merge(api::public_router().with_state(state.clone()))
        .merge(sign_in)
        .route("/auth/sign-out", post(auth::sign_out))
        .route("/-/health", get(ops::health))
        .route("/-/readiness", get(ops::readiness))
        .route("/-/metrics", get(ops::metrics))
        .nest_service(
            "/pkg",
            site_files::service(site_root.join(site_files::PKG_DIR)),
        )
        .merge(pages)
        .with_state(server_state.clone());

    // Around the whole router once, outermost first: a request clones this stack's shared
    // handles, not each route's boxed copy of every layer.
    let layered = tower::ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        // Outermost but for tracing: a foreign Host is refused before anything else runs.
        .layer(middleware::from_fn_with_state(hosts, auth::host_guard))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&app::content_security_policy(None))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn_with_state(
            server_state.metrics.clone(),
            ops::track,
        ))
        .layer(middleware::from_fn(ops::server_fn_status))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::same_origin_guard,
        ))
        .layer(axum::Extension(limits::StreamSlots::new(
            web_limits.event_streams_per_person,
        )))
        // Outside the session layer: a request's statements include resolving its session.
        .layer(middleware::from_fn(db::count_queries))
        .layer(middleware::from_fn_with_state(state, auth::session_layer))
        // Inside the session layer: knows whether someone is signed in.
        .layer(middleware::from_fn(limits::anonymous_body_limit))
        // Innermost: the middleware above takes a plain body, the router any body.
        .layer(RequestBodyLimitLayer::new(
            app::services::assets::UPLOAD_BODY_LIMIT,
        ))
        .service(routes);
    Ok(Router::new().fallback_service(layered))
}

/// A started server: where it listens and the task serving it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds (port 0 picks a free one) and serves in the background. `base_images` is how a
/// request runs the base-image check now (through the portal's cloud).
pub async fn spawn(
    state: AppState,
    site_root: PathBuf,
    bind: SocketAddr,
    web_limits: &limits::WebLimits,
    base_images: app::services::rebuilds::Finder,
) -> anyhow::Result<RunningServer> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("Failed to listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let hosts = auth::AllowedHosts::new(&state, addr);
    let app = router(state, site_root, hosts, web_limits)?.layer(axum::Extension(base_images));
    // The client's address (for the sign-in rate limit) comes from the connection.
    let handle = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Ok(RunningServer { addr, handle })
}

/// The cloud the jobs use, and the simulator behind it when there is one.
pub struct CloudHandle {
    pub cloud: Arc<cloud::Cloud>,
    /// The simulated EC2, in sim mode.
    pub sim: Option<sim::Ec2Sim>,
    /// The task serving the simulated cloud, in sim mode.
    pub sim_server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// In sim mode starts the simulated cloud on a loopback port (or uses `PORTAL_SIM_EC2_URL`,
/// the simulator of another process), keeping its world in the data directory; in aws mode
/// loads the AWS configuration.
async fn start_cloud(
    state: &AppState,
    config: &CloudConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<CloudHandle> {
    let settings = cloud::CloudSettings {
        marketplace_accounts: config.marketplace_accounts.clone(),
        poll: config.poll(),
        build_timeouts: config.build_timeouts(),
        marketplace_access_role: config.marketplace_access_role_arn(),
    };
    match config.cloud {
        CloudChoice::Aws => Ok(CloudHandle {
            cloud: Arc::new(cloud::Cloud::aws(settings).await),
            sim: None,
            sim_server: None,
        }),
        CloudChoice::Sim => {
            if let Some(url) = &config.sim.sim_ec2_url {
                return Ok(CloudHandle {
                    cloud: Arc::new(cloud::Cloud::endpoint(url.clone(), settings)),
                    sim: None,
                    sim_server: None,
                });
            }
            let sim_config = config.sim.sim_config();
            let mut simulator = sim::Ec2Sim::new(state.clock.clone(), sim_config);
            // The world file is the truth: found, nothing is seeded into what it holds (only
            // a listing the catalogue gained since gets its AMI product).
            let world_file = data_dir.join(sim::WORLD_FILE);
            let kept = simulator.keep_in(&world_file)?;
            sim::seed_marketplace(&simulator, &state.db).await?;
            if kept {
                tracing::info!(file = %world_file.display(), "simulated cloud: world loaded");
            } else if config.sim.sim_seed_images {
                sim::seed_ec2(&simulator, &state.db).await?;
            }
            simulator.save().await?;
            let (url, handle) = sim::serve(&simulator, "127.0.0.1:0".parse()?).await?;
            tracing::info!(%url, "simulated EC2 is up");
            Ok(CloudHandle {
                cloud: Arc::new(cloud::Cloud::endpoint(url, settings)),
                sim: Some(simulator),
                sim_server: Some(handle),
            })
        }
    }
}
