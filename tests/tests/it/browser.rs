//! The portal in a real browser: headless Chromium driven through chromedriver, against a
//! portal of the test's own. Every test saves screenshots (see `PORTAL_SCREENSHOTS`).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use portal_tests::{Backend, TestApp};
use serde_json::json;

struct Browser {
    client: Client,
    driver: Child,
    name: &'static str,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("PORTAL_SCREENSHOTS").map_or_else(
        || std::env::temp_dir().join("portal-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

impl Browser {
    async fn start(name: &'static str) -> Self {
        // Several TLS backends are linked in; the WebDriver client needs one chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chromedriver =
            std::env::var("PORTAL_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium =
            std::env::var("PORTAL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} ({e}); install chromium and chromium-driver")
            });
        let profile = tempfile::tempdir().expect("profile dir").keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                    "--disable-dev-shm-usage", "--disable-component-update", "--disable-sync", "--window-size=1440,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen; try for a bounded number of rounds.
        let mut last_error = String::new();
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .expect("tls")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        name,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver at {url} did not answer: {last_error}");
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
        self.hydrated().await;
    }

    /// Waits until the page's wasm has hydrated it, so clicks reach the app.
    async fn hydrated(&self) {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("body[data-hydrated='true']"))
            .await
            .expect("the page hydrates");
    }

    async fn shot(&self, step: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(
            screenshot_dir().join(format!("{}-{step}.png", self.name)),
            png,
        )
        .expect("write screenshot");
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
    }

    async fn sign_in(&self, app: &TestApp, username: &str, next: &str) {
        self.goto(&app.url(&format!("/sign-in?next={next}"))).await;
        self.css(&format!("[data-testid='sign-in-{username}']"))
            .await
            .click()
            .await
            .expect("click sign-in");
        self.hydrated().await;
    }

    async fn text_of(&self, selector: &str) -> String {
        self.css(selector).await.text().await.expect("text")
    }

    async fn wait_for_text(&self, selector: &str, expected: &str) -> String {
        for _ in 0..200 {
            if let Ok(el) = self.client.find(Locator::Css(selector)).await
                && let Ok(text) = el.text().await
                && text.contains(expected)
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{selector} never showed '{expected}'");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_loads_and_hydrates() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let b = Browser::start("pages").await;
    b.sign_in(&app, "alex", "/").await;
    assert_eq!(
        b.text_of("[data-testid='current-user']").await,
        "Alex Rivera"
    );
    assert_eq!(
        b.text_of("[data-testid='sim-badge']").await,
        "Simulated cloud"
    );
    b.shot("dashboard").await;
    for (step, path, marker) in [
        ("partners", "/partners", "table"),
        ("partner", "/partners/aws", "[data-testid='accounts']"),
        ("products", "/products", "table"),
        (
            "product",
            "/products/aws/gitlab-ce",
            "[data-testid='matrix']",
        ),
        ("image", "/images/1", "[data-testid='regions']"),
        ("releases", "/releases", "[data-testid='releases']"),
        ("listings", "/listings", "[data-testid='listing']"),
        ("listing", "/listings/1", "[role='progressbar']"),
        ("assets", "/assets", "[data-testid='upload-form']"),
        ("lookup", "/lookup", "[data-testid='lookup-form']"),
        (
            "search",
            "/search?q=premium",
            "[data-testid='search-results']",
        ),
        ("audit", "/audit", "[data-testid='audit']"),
        (
            "new-partner",
            "/partners/new",
            "[data-testid='partner-form']",
        ),
        (
            "edit-product",
            "/products/aws/gitlab-ee/edit",
            "[data-testid='product-form']",
        ),
    ] {
        b.goto(&app.url(path)).await;
        b.css(marker).await;
        b.shot(step).await;
    }
    // A link followed in the browser renders on the client, without a full load.
    b.goto(&app.url("/")).await;
    b.css("a[href='/releases']")
        .await
        .click()
        .await
        .expect("nav");
    b.css("[data-testid='releases']").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_is_created_through_the_form_after_a_validation_error() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let b = Browser::start("partner-form").await;
    b.sign_in(&app, "priya", "/partners/new").await;
    let name = b.css("#input_name_").await;
    name.send_keys("DigitalOcean").await.expect("type name");
    let slug = b.css("#input_slug_").await;
    assert_eq!(
        slug.prop("value").await.expect("value").as_deref(),
        Some("digitalocean"),
        "the slug follows the name"
    );
    slug.clear().await.expect("clear");
    slug.send_keys("Digital Ocean").await.expect("type slug");
    b.css("[data-testid='partner-form'] select[name='input[cloud]'] option[value='digitalocean']")
        .await
        .click()
        .await
        .expect("cloud");
    b.css("[data-testid='partner-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("submit");
    let message = b
        .wait_for_text("[data-testid='error-input_slug_']", "not a valid slug")
        .await;
    assert!(message.contains("Digital Ocean"), "{message}");
    b.shot("validation-error").await;

    let slug = b.css("#input_slug_").await;
    slug.clear().await.expect("clear");
    slug.send_keys("digitalocean").await.expect("type slug");
    b.css("[data-testid='partner-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("submit");
    b.wait_for_text("h1", "DigitalOcean").await;
    let url = b.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/partners/digitalocean");
    b.shot("created").await;
}

fn write_fixture(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "portal-fixture-{}-{name}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, bytes).expect("fixture");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logo_is_uploaded_and_a_hostile_svg_is_refused_next_to_the_field() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let b = Browser::start("upload").await;
    b.sign_in(&app, "maya", "/assets").await;
    let logo = write_fixture(
        "logo.svg",
        br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#fc6d26"/><circle cx="32" cy="32" r="14" fill="#fff"/></svg>"##,
    );
    b.css("[data-testid='upload-form'] select[name='partner'] option[value='aws']")
        .await
        .click()
        .await
        .expect("partner");
    b.css("[data-testid='upload-form'] input[name='title']")
        .await
        .send_keys("GitLab tanuki")
        .await
        .expect("title");
    b.css("[data-testid='upload-form'] input[name='file']")
        .await
        .send_keys(&logo.display().to_string())
        .await
        .expect("file");
    b.css("[data-testid='upload-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("upload");
    b.css("[data-testid='current-image']").await;
    b.wait_for_text("h1", "GitLab tanuki").await;
    assert!(
        b.text_of("[data-testid='versions']")
            .await
            .contains("image/svg+xml")
    );
    b.shot("uploaded").await;

    let hostile = write_fixture("evil.svg", br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>"#);
    b.css("[data-testid='version-form'] input[name='file']")
        .await
        .send_keys(&hostile.display().to_string())
        .await
        .expect("file");
    b.css("[data-testid='version-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("upload");
    b.wait_for_text("[data-testid='error-file']", "event handler")
        .await;
    b.shot("hostile-refused").await;
    assert!(
        !b.text_of("[data-testid='versions']").await.contains("v2"),
        "the refused file made no version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_lookup_answers_with_the_image_id() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let b = Browser::start("lookup").await;
    b.sign_in(&app, "vic", "/lookup").await;
    for (name, value) in [
        ("release", "17.5.1"),
        ("product", "gitlab-ee"),
        ("arch", "arm64"),
        ("region", "eu-west-3"),
    ] {
        b.css(&format!(
            "select[name='query[{name}]'] option[value='{value}']"
        ))
        .await
        .click()
        .await
        .expect("choose");
    }
    b.css("[data-testid='lookup-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("submit");
    let expected = app::server::seed::sample_image_id("GitLab EE 17.5.1 (ARM64)", "eu-west-3");
    b.wait_for_text("[data-testid='lookup-image-id']", &expected)
        .await;
    b.shot("answer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_engineer_presses_build_and_watches_the_job_finish_live() {
    use app::server::Clock as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // The builder's install takes ten minutes of the test's clock, so the build visibly waits.
    app.sim
        .configure(|c| c.install_delay = chrono::Duration::minutes(10));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = server::jobs::spawn_workers(&app.state, &app.cloud, 2, stopped);
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let created = oskar
        .post(app.url("/api/v1/releases"))
        .json(&json!({"version": "17.7.0", "released_on": "2024-12-19", "kind": "regular"}))
        .send()
        .await
        .expect("release");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);

    let b = Browser::start("build").await;
    b.sign_in(&app, "oskar", "/releases").await;
    b.css("[data-testid='build-17.7.0']")
        .await
        .click()
        .await
        .expect("build");
    b.css("[data-testid='release-run']").await;
    b.shot("release-run").await;
    b.css("[data-testid='jobs'] a")
        .await
        .click()
        .await
        .expect("open a job");
    b.wait_for_text("[data-testid='job-step']", "installing GitLab")
        .await;
    b.shot("waiting").await;

    // Time passes: the install finishes and the build goes on, and the open page follows.
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(11));
    b.wait_for_text("[data-testid='job-state']", "Succeeded")
        .await;
    b.wait_for_text("[data-testid='job-log']", "built GitLab")
        .await;
    assert_eq!(
        b.css("[data-testid='job-progress']")
            .await
            .attr("aria-valuenow")
            .await
            .expect("attr")
            .as_deref(),
        Some("100")
    );
    b.shot("succeeded").await;
    let _ = stop.send(true);
    futures::future::join_all(workers).await;
}
