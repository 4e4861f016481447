//! Test harness: every test gets its own database (a SQLite file in a temporary folder, or a
//! fresh PostgreSQL database), its own asset folder, its own port and a clock it controls.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;
use chrono::{TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use app::services::{AppState, ManualClock};

pub mod account;
pub mod gitlab;
pub mod s3;

/// The smallest valid PNG: one transparent pixel.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the PostgreSQL server the PostgreSQL tests use (`PORTAL_TEST_POSTGRES_URL`).
pub fn postgres_url() -> Option<String> {
    std::env::var("PORTAL_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// SQLite always; PostgreSQL when a server is configured. CI always configures one and sets
/// `PORTAL_TEST_REQUIRE_POSTGRES`, so there a missing server fails instead of skipping.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        out.push(Backend::Postgres);
    } else {
        assert!(
            std::env::var_os("PORTAL_TEST_REQUIRE_POSTGRES").is_none(),
            "PORTAL_TEST_REQUIRE_POSTGRES is set but PORTAL_TEST_POSTGRES_URL is not"
        );
    }
    out
}

/// A database of a test's own, dropped when the test ends.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pg_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("portal.db").display()
                );
                Ok(TestDb {
                    url,
                    backend,
                    pg_admin: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = postgres_url().context("PORTAL_TEST_POSTGRES_URL is not set")?;
                let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
                let conn = Database::connect(&admin)
                    .await
                    .context("connecting to the test PostgreSQL server")?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                conn.close().await?;
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Ok(TestDb {
                    url: format!("{base}/{name}"),
                    backend,
                    pg_admin: Some((admin, name)),
                    _dir: None,
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Dropping needs async; do it on a thread of its own so any runtime state is fine.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(conn) = Database::connect(&admin).await {
                        let _ = conn
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// The moment every test starts at, unless it moves the clock.
pub fn test_epoch() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A running portal on a port of its own.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The simulated EC2 the jobs talk to (no delays, no faults unless a test sets them).
    pub sim: server::sim::Ec2Sim,
    pub cloud: Arc<server::cloud::Cloud>,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    /// The GitLab people sign in with, for a portal spawned with GitLab sign-in.
    pub gitlab: Option<gitlab::FakeGitLab>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The task serving the simulated cloud.
    sim_server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The command line the portal was started with, to start it again in `restart`.
    args: Vec<String>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(sim_server) = &self.sim_server {
            sim_server.abort();
        }
    }
}

/// Runs `test` once per database backend (SQLite, and PostgreSQL when configured).
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in backends() {
        test(backend).await;
    }
}

/// The token test portals expect on GitLab's release webhook.
pub const GITLAB_TOKEN: &str = "gitlab-webhook-test-token";

/// Where the built site is (the xtask sets `PORTAL_SITE_ROOT`).
pub fn site_root() -> PathBuf {
    std::env::var_os("PORTAL_SITE_ROOT").map_or_else(|| PathBuf::from("target/site"), PathBuf::from)
}

impl TestApp {
    /// A seeded portal (catalogue, development users and, as in the simulated cloud, history).
    pub async fn spawn(backend: Backend) -> anyhow::Result<Self> {
        Self::spawn_with(backend, true).await
    }

    pub async fn spawn_with(backend: Backend, seed: bool) -> anyhow::Result<Self> {
        Self::spawn_inner(backend, seed, None, &[]).await
    }

    /// A seeded portal with some settings other than the tests' usual ones: each pair is a
    /// flag of `portal serve` and its value, replacing the harness's own value for it.
    pub async fn spawn_configured(
        backend: Backend,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::spawn_inner(backend, true, None, settings).await
    }

    /// A seeded portal whose people sign in with a fake GitLab (no development sign-in);
    /// its groups map to roles as `PORTAL_GITLAB_ROLE_GROUPS` says by default.
    pub async fn spawn_gitlab(
        backend: Backend,
        people: Vec<gitlab::Person>,
        unmapped_viewer: bool,
    ) -> anyhow::Result<Self> {
        Self::spawn_inner(backend, true, Some((people, Some(unmapped_viewer))), &[]).await
    }

    /// A portal whose people sign in with a fake GitLab, with every GitLab setting at its
    /// default but for `settings` (pairs of flag and value).
    pub async fn spawn_gitlab_with(
        backend: Backend,
        people: Vec<gitlab::Person>,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::spawn_inner(backend, true, Some((people, None)), settings).await
    }

    async fn spawn_inner(
        backend: Backend,
        seed: bool,
        gitlab_people: Option<(Vec<gitlab::Person>, Option<bool>)>,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        init_tracing();
        let db = TestDb::new(backend).await?;
        let data_dir = tempfile::tempdir()?;
        let clock = Arc::new(ManualClock::new(test_epoch()));
        let site_root = site_root();
        let mut args: Vec<String> = [
            "portal",
            "--database-url",
            db.url.as_str(),
            "--database-max-connections",
            "4",
            "--bind",
            "127.0.0.1:0",
            "--cloud",
            "sim",
            "--workers",
            "0",
            "--gitlab-webhook-token",
            GITLAB_TOKEN,
            // The simulated cloud starts as an empty account and answers at once, with
            // AWS's default quota; waiting jobs come back after 15 s of the test's clock.
            "--sim-seed-images",
            "false",
            "--sim-public-image-quota",
            "5",
            "--sim-boot-seconds",
            "0",
            "--sim-install-seconds",
            "0",
            "--sim-image-seconds",
            "0",
            "--sim-stop-seconds",
            "0",
            "--sim-fault-rate",
            "0",
            "--cloud-poll-seconds",
            "15",
            // Webhook tests deliver to receivers on this machine, over http (testing only).
            "--webhooks-allow-http",
            "true",
            "--webhooks-allow-private",
            "true",
            // Every request of a test comes from 127.0.0.1 and tests sign in a lot: the
            // sign-in rate limit is tested on its own.
            "--sign-in-burst",
            "100000",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        args.extend([
            "--data-dir".to_owned(),
            data_dir.path().display().to_string(),
            "--site-root".to_owned(),
            site_root.display().to_string(),
            "--seed".to_owned(),
            seed.to_string(),
        ]);
        let gitlab = match gitlab_people {
            Some((people, unmapped_viewer)) => {
                let provider = gitlab::FakeGitLab::start(clock.clone(), people).await?;
                args.extend([
                    "--auth".to_owned(),
                    "gitlab".to_owned(),
                    "--gitlab-url".to_owned(),
                    provider.url.clone(),
                    "--gitlab-client-id".to_owned(),
                    provider.client_id.clone(),
                    "--gitlab-client-secret".to_owned(),
                    provider.client_secret.clone(),
                ]);
                if let Some(viewer) = unmapped_viewer {
                    args.extend([
                        "--gitlab-unmapped".to_owned(),
                        if viewer { "viewer" } else { "refuse" }.to_owned(),
                    ]);
                }
                Some(provider)
            }
            None => {
                // With GitLab sign-in the callback comes back to the address the test used.
                args.extend([
                    "--auth".to_owned(),
                    "dev".to_owned(),
                    "--public-url".to_owned(),
                    "https://portal.test".to_owned(),
                ]);
                None
            }
        };
        for (flag, value) in settings {
            match args.iter().position(|a| a == flag) {
                Some(at) => args[at + 1] = (*value).to_owned(),
                None => args.extend([(*flag).to_owned(), (*value).to_owned()]),
            }
        }
        let mut config =
            server::Config::from_args(args.clone()).context("the test configuration")?;
        s3::give_credentials(&mut config.store);
        let app = server::Application::build(config, clock.clone()).await?;
        let sim = app
            .cloud
            .sim
            .clone()
            .context("the simulated cloud runs in the tests")?;
        Ok(TestApp {
            addr: app.addr,
            sim,
            cloud: app.cloud.cloud,
            state: app.state,
            clock,
            db,
            data_dir,
            gitlab,
            server: app.server,
            sim_server: app.cloud.sim_server,
            args,
        })
    }

    /// Stops this portal and its simulated cloud, and starts them again as a restarted
    /// `portal serve` would: the same settings, database, data directory and clock, on a
    /// new port. The simulated cloud comes back from its world file; the old one has
    /// stopped listening and refuses whatever still reaches it.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let server = std::mem::replace(&mut self.server, tokio::spawn(async { Ok(()) }));
        server.abort();
        let _ = server.await;
        if let Some(sim_server) = self.sim_server.take() {
            sim_server.abort();
            let _ = sim_server.await;
        }
        self.sim.shut_down();
        let mut config =
            server::Config::from_args(self.args.clone()).context("the test configuration")?;
        s3::give_credentials(&mut config.store);
        let app = server::Application::build(config, self.clock.clone()).await?;
        self.sim = app
            .cloud
            .sim
            .clone()
            .context("the simulated cloud runs in the tests")?;
        self.sim_server = app.cloud.sim_server;
        self.cloud = app.cloud.cloud;
        self.state = app.state;
        self.addr = app.addr;
        self.server = app.server;
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// An HTTP client that keeps cookies and does not follow redirects.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    }

    /// A client that, like a browser on the portal's own pages, keeps cookies and sends
    /// the portal's `Origin` with every request.
    pub fn browser(&self) -> reqwest::Client {
        browser_at(&self.url(""))
    }

    /// A client signed in as `username` through the development sign-in.
    pub async fn signed_in(&self, username: &str) -> anyhow::Result<reqwest::Client> {
        sign_in(&self.url(""), username).await
    }
}

/// A client that, like a browser on the pages of the portal at `origin`, keeps cookies,
/// does not follow redirects and sends that `Origin` with every request.
fn browser_at(origin: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(origin) = reqwest::header::HeaderValue::from_str(origin) {
        headers.insert(reqwest::header::ORIGIN, origin);
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

/// A client of the portal at `origin`, signed in as `username` through its development
/// sign-in.
async fn sign_in(origin: &str, username: &str) -> anyhow::Result<reqwest::Client> {
    let client = browser_at(origin);
    let res = client
        .post(format!("{origin}/auth/dev"))
        .form(&[("username", username), ("next", "/")])
        .send()
        .await?;
    anyhow::ensure!(
        res.status().is_redirection(),
        "sign-in as {username} answered {}",
        res.status()
    );
    Ok(client)
}

impl TestApp {
    /// The omnibus engineer (oskar), who records releases and starts builds.
    pub async fn omnibus(&self) -> anyhow::Result<app::domain::CurrentUser> {
        use app::services::Clock as _;
        app::services::users::upsert(
            self.conn(),
            self.clock.now(),
            "oskar",
            "Oskar Novak",
            "oskar@example.com",
            &[app::domain::Role::Omnibus],
        )
        .await
        .map_err(anyhow::Error::msg)
    }

    /// Records a regular release with no images yet.
    pub async fn new_release(&self, version: &str) -> anyhow::Result<()> {
        use app::services::Clock as _;
        let user = self.omnibus().await?;
        let input = app::dto::ReleaseInput {
            version: version.into(),
            released_on: "2024-12-19".into(),
            kind: "regular".into(),
            notes_url: String::new(),
        };
        app::services::process::create_release_with_runs(
            self.conn(),
            &user,
            self.clock.now(),
            &input,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// Starts the build of one AWS image of release 17.7.0 as the omnibus engineer.
    pub async fn start_build(
        &self,
        product: &str,
        arch: app::domain::Arch,
    ) -> anyhow::Result<app::dto::Job> {
        use app::services::Clock as _;
        let user = self.omnibus().await?;
        app::services::builds::start(
            self.conn(),
            &user,
            self.clock.now(),
            "aws",
            product,
            "17.7.0",
            arch,
        )
        .await
        .map_err(anyhow::Error::msg)
    }

    /// Someone who may read the audit log, for tests that read it: made up, so reading
    /// adds no line of its own (signing someone in would).
    pub fn auditor(&self) -> app::domain::CurrentUser {
        app::domain::CurrentUser {
            id: 0,
            username: "auditor".into(),
            name: "Auditor".into(),
            roles: vec![app::domain::Role::Admin],
        }
    }

    /// A seeded user, signed in through the service (no browser, no cookie).
    pub async fn user(&self, username: &str) -> app::domain::CurrentUser {
        use app::services::Clock as _;
        app::services::users::sign_in(self.conn(), self.clock.now(), username)
            .await
            .unwrap_or_else(|e| panic!("{username} signs in: {e:?}"))
            .1
    }

    /// The marketplace listing of the AMI product with this entity name.
    pub async fn listing(&self, entity_name: &str) -> anyhow::Result<app::dto::Listing> {
        app::services::listings::list(
            self.conn(),
            app::dto::PageRequest {
                page: Some(1),
                per_page: Some(100),
            },
        )
        .await
        .map_err(anyhow::Error::msg)?
        .items
        .into_iter()
        .find(|l| l.entity_name == entity_name)
        .ok_or_else(|| anyhow::anyhow!("no listing named {entity_name}"))
    }

    /// A job runner of this portal, against its simulated cloud.
    pub fn runner(&self, name: &str) -> server::jobs::Runner {
        server::jobs::Runner::new(
            self.state.clone(),
            server::jobs::handlers(&self.cloud),
            name,
        )
    }

    /// Runs jobs until none is due, moving the clock on to whatever waits, until every job
    /// is over (or `rounds` passes of the clock, to stay bounded).
    pub async fn drive(&self, runner: &server::jobs::Runner, rounds: usize) -> anyhow::Result<()> {
        use app::services::Clock as _;
        for _ in 0..rounds {
            runner.run_until_idle().await?;
            match next_open_job(self.conn()).await? {
                None => return Ok(()),
                Some(at) => self
                    .clock
                    .set(at.max(self.clock.now()) + chrono::Duration::seconds(61)),
            }
        }
        anyhow::bail!("jobs still open after {rounds} rounds")
    }
}

impl TestApp {
    /// A copy of a listing that passes every check: what tests save and change.
    pub fn copy_input(entity_name: &str) -> app::dto::CopyInput {
        app::dto::CopyInput {
            base_revision: 0,
            title: format!("{entity_name}, self-managed"),
            short_description: format!("{entity_name} on AWS."),
            long_description: format!("# {entity_name}"),
            highlights: vec!["One application".into()],
            usage_instructions: "Browse to the instance; see https://docs.gitlab.com/install/aws/"
                .into(),
            release_notes_template: "GitLab {version}: {notes_url}".into(),
            categories: vec!["DevOps".into()],
            ..Default::default()
        }
    }

    /// Removes every copy revision of the listing with this entity name (the seed gives
    /// each one approved copy), for tests of a listing whose copy is not approved yet.
    pub async fn without_copy(&self, entity_name: &str) -> anyhow::Result<i32> {
        use app::services::entities::{copy_review, copy_revision};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let listing = self.listing(entity_name).await?.id;
        let ids: Vec<i32> = copy_revision::Entity::find()
            .filter(copy_revision::Column::ListingId.eq(listing))
            .all(self.conn())
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        copy_review::Entity::delete_many()
            .filter(copy_review::Column::RevisionId.is_in(ids))
            .exec(self.conn())
            .await?;
        copy_revision::Entity::delete_many()
            .filter(copy_revision::Column::ListingId.eq(listing))
            .exec(self.conn())
            .await?;
        Ok(listing)
    }

    /// Marketing writes the copy of the listing with this entity name (on top of its
    /// newest revision); Partnerships and Omnibus approve it. Returns the listing's id.
    pub async fn approve_copy(&self, entity_name: &str) -> anyhow::Result<i32> {
        let listing = self.listing(entity_name).await?.id;
        self.approve_copy_of(listing, Self::copy_input(entity_name))
            .await?;
        Ok(listing)
    }

    /// Marketing saves `input` on top of the listing's newest revision (whatever its
    /// `base_revision`); Partnerships and Omnibus approve it. Returns the approved revision.
    pub async fn approve_copy_of(
        &self,
        listing: i32,
        input: app::dto::CopyInput,
    ) -> anyhow::Result<app::dto::CopyRevision> {
        use app::services::{Clock as _, copy};
        let (maya, priya, oskar) = (
            self.user("maya").await,
            self.user("priya").await,
            self.user("oskar").await,
        );
        let now = self.clock.now();
        let base = copy::get(self.conn(), listing)
            .await
            .map_err(anyhow::Error::msg)?
            .head
            .map_or(0, |h| h.id);
        let input = app::dto::CopyInput {
            base_revision: base,
            ..input
        };
        let saved = copy::save(self.conn(), &maya, now, listing, &input)
            .await
            .map_err(anyhow::Error::msg)?;
        let app::dto::CopySave::Saved { revision } = saved else {
            anyhow::bail!("the copy of listing {listing} conflicts")
        };
        let review = app::dto::ReviewInput {
            revision: revision.id,
            comment: String::new(),
        };
        copy::request_approval(self.conn(), &maya, now, listing, &review)
            .await
            .map_err(anyhow::Error::msg)?;
        for reviewer in [&priya, &oskar] {
            copy::approve(self.conn(), reviewer, now, listing, &review)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        copy::revision(self.conn(), listing, revision.id)
            .await
            .map_err(anyhow::Error::msg)
    }

    /// A public Canonical image in us-east-1, one the marketplace can read.
    pub async fn canonical_image(&self) -> anyhow::Result<String> {
        let out = self
            .cloud
            .ec2("us-east-1")
            .describe_images()
            .owners("099720109477")
            .send()
            .await?;
        out.images()
            .first()
            .and_then(|i| i.image_id())
            .map(str::to_owned)
            .context("no Canonical image in us-east-1")
    }

    /// Gives the Premium product an arm64 architecture besides its amd64 one.
    pub async fn add_premium_arm64(&self) -> anyhow::Result<()> {
        use app::services::{Clock as _, products};
        let alex = self.user("alex").await;
        let product = products::get(self.conn(), "aws", "gitlab-ee-premium")
            .await
            .map_err(anyhow::Error::msg)?;
        let mut input = products::input_for(&product);
        input
            .architectures
            .push(app::dto::ProductArchitectureInput {
                arch: "arm64".into(),
                builder_instance_type: "m6g.large".into(),
                image_name_template: "GitLab EE {version} Premium (ARM64)".into(),
                type_tag: "GitLab Enterprise Edition Premium (ARM64)".into(),
            });
        products::update(
            self.conn(),
            &alex,
            self.clock.now(),
            &self.state.base_image_owners,
            "aws",
            "gitlab-ee-premium",
            &input,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// Works the portal as a serving one does, until no job is open: runs every due job,
    /// turns every open train, and moves the clock on to the next job that waits.
    pub async fn work_trains(&self, runner: &server::jobs::Runner) -> anyhow::Result<()> {
        use app::services::{Clock as _, trains};
        for _ in 0..400 {
            runner.run_until_idle().await?;
            trains::advance_open(self.conn(), self.clock.now())
                .await
                .map_err(anyhow::Error::msg)?;
            runner.run_until_idle().await?;
            match next_open_job(self.conn()).await? {
                None => {
                    // One more turn sees the last job's end.
                    trains::advance_open(self.conn(), self.clock.now())
                        .await
                        .map_err(anyhow::Error::msg)?;
                    return Ok(());
                }
                Some(at) => self
                    .clock
                    .set(at.max(self.clock.now()) + chrono::Duration::seconds(1)),
            }
        }
        anyhow::bail!("jobs still open after 400 turns")
    }
}

/// Another portal process beside a test's, as a second machine behind a load balancer runs
/// one: the same database and settings, a port of its own, and the first one's simulated
/// cloud (reached at an address of its own, as `PORTAL_SIM_EC2_URL` points a process at
/// another's).
pub struct OtherPortal {
    pub addr: SocketAddr,
    pub state: AppState,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    sim_server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for OtherPortal {
    fn drop(&mut self) {
        self.server.abort();
        self.sim_server.abort();
    }
}

impl OtherPortal {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client signed in as `username` through the development sign-in, sending this
    /// portal's `Origin` as its own pages do.
    pub async fn signed_in(&self, username: &str) -> anyhow::Result<reqwest::Client> {
        sign_in(&self.url(""), username).await
    }
}

impl TestApp {
    /// Starts another portal process sharing this one's database and settings (its data
    /// directory and asset store too), but for `settings` (pairs of flag and value).
    pub async fn another_process(&self, settings: &[(&str, &str)]) -> anyhow::Result<OtherPortal> {
        let (sim_url, sim_server) = server::sim::serve(&self.sim, "127.0.0.1:0".parse()?).await?;
        let mut args = self.args.clone();
        for (flag, value) in [("--sim-ec2-url", sim_url.as_str())]
            .into_iter()
            .chain(settings.iter().copied())
        {
            match args.iter().position(|a| a == flag) {
                Some(at) => args[at + 1] = value.to_owned(),
                None => args.extend([flag.to_owned(), value.to_owned()]),
            }
        }
        let mut config = server::Config::from_args(args).context("the other configuration")?;
        s3::give_credentials(&mut config.store);
        let app = server::Application::build(config, self.clock.clone()).await?;
        Ok(OtherPortal {
            addr: app.addr,
            state: app.state,
            server: app.server,
            sim_server,
        })
    }
}

/// When the first job that is queued, waiting or running is due, if any is.
pub async fn next_open_job(
    db: &DatabaseConnection,
) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
    use app::domain::JobState;
    Ok(app::services::jobs::list(
        db,
        &app::dto::JobFilter::default(),
        app::dto::PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
    .map_err(anyhow::Error::msg)?
    .items
    .into_iter()
    .filter(|j| {
        matches!(
            j.state,
            JobState::Queued | JobState::Waiting | JobState::Running
        )
    })
    .map(|j| j.run_at)
    .min())
}

/// Everything logged by every test of this process, at trace level (the noisiest
/// dependencies at info), for tests that check what must never be logged.
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// All log output captured so far in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(
        &CAPTURED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

fn init_tracing() {
    use tracing_subscriber::{
        EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
    };
    let shown = EnvFilter::try_from_env("PORTAL_TEST_LOG").unwrap_or_else(|_| "warn".into());
    let captured = EnvFilter::new(
        "trace,hyper=info,hyper_util=info,h2=info,rustls=info,tower=info,tokio=info,runtime=info,sqlx=info,sea_orm=info,\
         leptos=info,tachys=info,reactive_graph=info,html5ever=info,selectors=info",
    );
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(shown),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(|| Capture)
                .with_filter(captured),
        )
        .try_init();
}
