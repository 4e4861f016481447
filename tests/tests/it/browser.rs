//! The portal in a real browser: headless Chromium driven through chromedriver, against a
//! portal of the test's own. Every test saves screenshots (see `PORTAL_SCREENSHOTS`).

use std::os::unix::process::CommandExt as _;
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
    /// Chromium's profile, where it logs what the pages wrote to the console.
    profile: PathBuf,
}

impl Drop for Browser {
    /// Stops chromedriver and the browsers it started: they share its process group, and
    /// killing chromedriver alone would leave every test's Chromium running.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--"])
            .arg(format!("-{}", self.driver.id()))
            .status();
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
            .process_group(0)
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
                    "--disable-dev-shm-usage", "--disable-component-update",
                    // The console goes to the profile's chrome_debug.log (see `panics`).
                    "--enable-logging", "--v=0", "--disable-sync", "--disable-breakpad", "--disable-crash-reporter", "--window-size=1440,1000",
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
                        profile,
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

    /// What the pages' wasm panicked with so far (a hydration that went wrong leaves the
    /// page as the server rendered it, dead to clicks, and says so only on the console).
    fn panics(&self) -> Vec<String> {
        std::fs::read_to_string(self.profile.join("chrome_debug.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("panicked at"))
            .map(str::to_owned)
            .collect()
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
        let console = self.console();
        panic!(
            "{selector} never showed '{expected}'; the console's last words:\n{}",
            console[console.len().saturating_sub(30)..].join("\n")
        );
    }

    /// The pages' console messages so far.
    fn console(&self) -> Vec<String> {
        std::fs::read_to_string(self.profile.join("chrome_debug.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("CONSOLE") || line.contains("panicked at"))
            .map(str::to_owned)
            .collect()
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
        ("copy", "/listings/1/copy", "[data-testid='copy-form']"),
        ("lookup", "/lookup", "[data-testid='lookup-form']"),
        (
            "search",
            "/search?q=premium",
            "[data-testid='search-results']",
        ),
        ("audit", "/audit", "[data-testid='audit']"),
        ("account", "/cloud", "[data-testid='sync']"),
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
    // A page loaded again is served as it was kept for Alex, under a nonce of its own that
    // its scripts carry: it hydrates each time.
    app.state.reads.keep_for(Duration::from_secs(3600));
    let mut nonces = Vec::new();
    for _ in 0..2 {
        b.goto(&app.url("/releases")).await;
        b.css("[data-testid='releases']").await;
        let nonce = b
            .client
            .execute(
                "return document.querySelector('script[nonce]').nonce",
                vec![],
            )
            .await
            .expect("the scripts' nonce");
        nonces.push(nonce.as_str().unwrap_or_default().to_owned());
        b.shot(&format!("releases-load-{}", nonces.len())).await;
    }
    assert!(
        !nonces[0].is_empty() && nonces[0] != nonces[1],
        "a nonce per answer: {nonces:?}"
    );
    // A link followed loads the page it names, which hydrates its islands again.
    b.goto(&app.url("/")).await;
    b.css("a[href='/releases']")
        .await
        .click()
        .await
        .expect("nav");
    b.css("[data-testid='releases']").await;
    b.hydrated().await;
    // Every island on these pages found its code in the bundle, and none panicked: the
    // pages and the bundle were built from the same source.
    let unhydrated: Vec<String> = b
        .console()
        .into_iter()
        .filter(|line| {
            line.contains("Could not find WASM function") || line.contains("panicked at")
        })
        .collect();
    assert!(unhydrated.is_empty(), "{}", unhydrated.join("\n"));
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
        b.css(&format!("select[name='{name}'] option[value='{value}']"))
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
    let expected = app::services::seed::sample_image_id("GitLab EE 17.5.1 (ARM64)", "eu-west-3");
    b.wait_for_text("[data-testid='lookup-image-id']", &expected)
        .await;
    b.shot("answer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_engineer_presses_build_and_watches_the_job_finish_live() {
    use app::services::Clock as _;
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
    // The script the builder ran is on the page, folded.
    b.css("[data-testid='job-user-data'] summary")
        .await
        .click()
        .await
        .expect("open the user data");
    b.wait_for_text("[data-testid='job-user-data'] pre", "PORTAL-BUILD-RESULT")
        .await;
    b.shot("succeeded").await;
    let _ = stop.send(true);
    futures::future::join_all(workers).await;
}

/// Types into a field after clearing it.
async fn fill(b: &Browser, selector: &str, text: &str) {
    let el = b.css(selector).await;
    el.clear().await.expect("clear");
    el.send_keys(text).await.expect("type");
}

async fn copy_state(b: &Browser, expected: &str) {
    b.css(&format!(
        "[data-testid='copy-state'][data-state='{expected}']"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_copy_goes_from_marketing_through_partnerships_and_omnibus_to_approved() {
    use app::services::Clock as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // Marketing and Partnerships at once: may ask for approval, never approve her own copy.
    app::services::users::upsert(
        app.conn(),
        app.clock.now(),
        "mona",
        "Mona Marketing-Partnerships",
        "mona@example.com",
        &[
            app::domain::Role::Marketing,
            app::domain::Role::Partnerships,
        ],
    )
    .await
    .expect("mona");
    let listing = app
        .listing("GitLab Ultimate")
        .await
        .expect("Ultimate listing")
        .id;
    let page = format!("/listings/{listing}/copy");
    let b = Browser::start("copy").await;

    // Marketing writes the copy, watches the preview, saves and asks for approval.
    b.sign_in(&app, "maya", &page).await;
    fill(&b, "#input_title_", "GitLab Ultimate").await;
    fill(
        &b,
        "#input_short_description_",
        "The complete DevSecOps platform, self-managed on AWS.",
    )
    .await;
    fill(
        &b,
        "#input_long_description_",
        "## Ship secure software faster\n\n**One application** for the whole lifecycle.\n\n<img src=x onerror=alert(1)>",
    )
    .await;
    b.wait_for_text("[data-testid='preview'] h2", "Ship secure software faster")
        .await;
    let preview = b
        .css("[data-testid='preview']")
        .await
        .html(true)
        .await
        .expect("preview html");
    assert!(!preview.contains("onerror"), "{preview}");
    fill(
        &b,
        "#input_highlights_",
        "Single application\nSecurity scanning built in",
    )
    .await;
    fill(&b, "#input_categories_", "DevOps, Source Control").await;
    b.shot("editor").await;
    b.css("[data-testid='save-copy']")
        .await
        .click()
        .await
        .expect("save");
    copy_state(&b, "draft").await;
    b.css("[data-testid='request-approval']")
        .await
        .click()
        .await
        .expect("request");
    copy_state(&b, "awaiting_partnerships").await;

    // Partnerships finds it in the queue and approves.
    b.sign_in(&app, "priya", "/approvals").await;
    b.wait_for_text("[data-testid='copy-queue']", "GitLab Ultimate")
        .await;
    b.shot("queue").await;
    b.goto(&app.url(&page)).await;
    b.css("[data-testid='approve']")
        .await
        .click()
        .await
        .expect("approve");
    copy_state(&b, "awaiting_omnibus").await;

    // Omnibus checks technical accuracy and approves: the copy is approved.
    b.sign_in(&app, "oskar", &page).await;
    b.css("[data-testid='approve']")
        .await
        .click()
        .await
        .expect("approve");
    copy_state(&b, "approved").await;
    let reviews = b.text_of("[data-testid='reviews']").await;
    assert!(
        reviews.contains("priya approved for Partnerships")
            && reviews.contains("oskar approved for Omnibus"),
        "{reviews}"
    );
    b.wait_for_text("[data-testid='approved']", "can be published")
        .await;
    b.shot("approved").await;

    // An edit starts over; its author's own approve button is refused by the server.
    b.sign_in(&app, "mona", &page).await;
    fill(&b, "#input_title_", "GitLab Ultimate on AWS").await;
    b.css("[data-testid='save-copy']")
        .await
        .click()
        .await
        .expect("save");
    copy_state(&b, "draft").await;
    b.css("[data-testid='request-approval']")
        .await
        .click()
        .await
        .expect("request");
    copy_state(&b, "awaiting_partnerships").await;
    b.css("[data-testid='approve']")
        .await
        .click()
        .await
        .expect("approve own");
    b.wait_for_text(
        "[data-testid='error']",
        "nobody approves a revision they wrote",
    )
    .await;
    b.shot("own-approval-refused").await;
    let head = app::services::copy::get(app.conn(), listing)
        .await
        .expect("copy")
        .head
        .expect("head");
    // Revision 1 is the seed's approved copy; Marketing's two edits are 2 and 3.
    assert_eq!(
        (head.number, head.state),
        (3, app::domain::CopyState::AwaitingPartnerships)
    );
    assert!(
        head.reviews.is_empty(),
        "the refused approval left no trace"
    );

    // The two revisions side by side.
    let copy = app::services::copy::get(app.conn(), listing)
        .await
        .expect("copy");
    let (r2, r1) = (copy.revisions[0].id, copy.revisions[1].id);
    b.goto(&app.url(&format!("{page}/diff?left={r1}&right={r2}")))
        .await;
    b.css("[data-testid='diff-title'] tr[data-kind='changed']")
        .await;
    b.shot("diff").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_pages_show_boards_clocks_and_the_inbox() {
    use app::services::Clock as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let oskar = app.omnibus().await.expect("oskar");
    // A release on the test's day opens runs whose clocks run.
    app.clock.set(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 19, 9, 0, 0)
            .single()
            .expect("time"),
    );
    let (_, runs) = app::services::process::create_release_with_runs(
        app.conn(),
        &oskar,
        app.clock.now(),
        &app::dto::ReleaseInput {
            version: "18.6.0".into(),
            released_on: "2026-11-19".into(),
            kind: "regular".into(),
            notes_url: String::new(),
        },
    )
    .await
    .expect("release");
    let first_time = app::services::process::list(
        app.conn(),
        app.clock.now(),
        &app::dto::WorkflowFilter {
            kind: Some("first_time_image".into()),
            ..Default::default()
        },
    )
    .await
    .expect("workflows")
    .items[0]
        .id;
    let board = app::services::process::get(app.conn(), app.clock.now(), first_time)
        .await
        .expect("board");
    let blocked_task = board.stages[1].tasks[0].id;

    let b = Browser::start("process").await;
    b.sign_in(&app, "oskar", "/").await;
    b.css("[data-testid='clocks'] [data-testid='sla'][data-status='on_track']")
        .await;
    b.shot("dashboard").await;
    for (step, path, marker) in [
        (
            "workflows",
            "/workflows".to_owned(),
            "[data-testid='workflows']",
        ),
        (
            "board",
            format!("/workflows/{first_time}"),
            "[data-testid='stage-technical'][data-state='blocked']",
        ),
        (
            "run",
            format!("/workflows/{}", runs[0]),
            "[data-testid='stage-implementation']",
        ),
        (
            "maintenance",
            "/maintenance".to_owned(),
            "[data-testid='timeline'] g[data-release='17.5.2'][data-status='met_late']",
        ),
        (
            "inbox",
            "/inbox".to_owned(),
            "[data-testid='inbox'] li[data-kind='maintenance_opened']",
        ),
        (
            "approvals",
            "/approvals".to_owned(),
            "[data-testid='copy-queue']",
        ),
    ] {
        b.goto(&app.url(&path)).await;
        b.css(marker).await;
        b.shot(step).await;
    }
    assert_eq!(b.text_of("[data-testid='unread']").await, "1");

    // A task of a stage that cannot start yet: the server refuses, the page says why.
    b.goto(&app.url(&format!("/tasks/{blocked_task}"))).await;
    b.wait_for_text("[data-testid='blocked']", "Introduction & scope")
        .await;
    b.css("#input_state_ option[value='in_progress']")
        .await
        .click()
        .await
        .expect("state");
    b.css("[data-testid='save-state']")
        .await
        .click()
        .await
        .expect("save");
    b.wait_for_text("[data-testid='error-input_state_']", "cannot start before")
        .await;
    b.shot("task-blocked").await;

    b.sign_in(&app, "alex", "/settings/webhooks").await;
    b.css("[data-testid='webhooks']").await;
    b.shot("webhooks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_blocked_by_a_pending_change_set_is_cancelled_and_retried_from_the_listing_page()
{
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.new_release("17.7.0").await.expect("release");
    app.start_build("gitlab-ee-premium", app::domain::Arch::Amd64)
        .await
        .expect("build");
    let runner = app.runner("worker");
    app.drive(&runner, 200).await.expect("built");
    let listing = app.listing("GitLab Premium").await.expect("Premium").id;
    // Someone left a change set open on the product in the Marketplace Management Portal.
    let mp = app.sim.marketplace();
    let entity = mp.seed_product("GitLab Premium", &[]);
    let foreign = mp.start_foreign_change_set(&entity, "Edit from the management portal");

    let page = app.url(&format!("/listings/{listing}"));
    let b = Browser::start("publish").await;
    b.sign_in(&app, "oskar", &format!("/listings/{listing}"))
        .await;
    b.css("[data-testid='publish']")
        .await
        .click()
        .await
        .expect("publish");
    b.css("[data-testid='publish-jobs'] li").await;
    app.drive(&runner, 50).await.expect("stops blocked");
    b.goto(&page).await;
    let blocked = b
        .wait_for_text(
            "[data-testid='publish-jobs'] li[data-state='blocked']",
            "Blocked",
        )
        .await;
    assert!(
        blocked.contains(&foreign) && blocked.contains("Edit from the management portal"),
        "{blocked}"
    );
    b.shot("blocked").await;
    b.css("[data-testid='cancel-blocker']")
        .await
        .click()
        .await
        .expect("cancel and retry");
    b.css("[data-testid='publish-jobs'] li[data-state='queued']")
        .await;
    app.drive(&runner, 50).await.expect("published");
    b.goto(&page).await;
    b.css("[data-testid='publish-jobs'] li[data-state='succeeded']")
        .await;
    b.wait_for_text("table", "GitLab Premium 17.7.0 Release")
        .await;
    b.shot("published").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_images_page_shows_the_quota_and_runs_a_dry_run_partnerships_approves() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    server::sim::seed_ec2(&app.sim, app.conn())
        .await
        .expect("seed ec2");
    let b = Browser::start("public-images").await;
    b.sign_in(&app, "oskar", "/public-images").await;
    let region = b
        .css("[data-testid='region'][data-region='us-east-1']")
        .await;
    assert_eq!(
        region.attr("data-used").await.expect("attr").as_deref(),
        Some("24")
    );
    assert!(
        b.text_of("[data-testid='region'][data-region='us-east-1']")
            .await
            .contains("24 / 5 public images"),
        "the AWS default quota of 5 is far exceeded"
    );
    b.css("[data-testid='policy'][data-product='gitlab-ce'] [data-testid='dry-run']")
        .await
        .click()
        .await
        .expect("dry run");
    let proposal = b
        .wait_for_text(
            "[data-testid='retention-proposal'][data-state='proposed']",
            "GitLab CE",
        )
        .await;
    assert!(
        proposal.contains("make private 114 images in 19 regions"),
        "{proposal}"
    );
    b.shot("dry-run").await;

    b.sign_in(&app, "priya", "/public-images").await;
    b.css("[data-testid='approve-retention']")
        .await
        .click()
        .await
        .expect("approve");
    b.css("[data-testid='retention-proposal'][data-state='approved']")
        .await;
    app.drive(&app.runner("worker"), 50).await.expect("retired");
    b.goto(&app.url("/public-images")).await;
    b.css("[data-testid='retention-proposal'][data-state='applied']")
        .await;
    let region = b
        .css("[data-testid='region'][data-region='us-east-1']")
        .await;
    assert_eq!(
        region.attr("data-used").await.expect("attr").as_deref(),
        Some("18")
    );
    b.shot("retired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_is_shown_once_works_on_the_api_and_stops_when_revoked() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let b = Browser::start("tokens").await;
    b.sign_in(&app, "oskar", "/settings/tokens").await;
    b.css("#input_name_")
        .await
        .send_keys("release pipeline")
        .await
        .expect("type name");
    b.css("input[value='jobs']")
        .await
        .click()
        .await
        .expect("tick jobs");
    b.css("[data-testid='create-token']")
        .await
        .click()
        .await
        .expect("create");
    let secret = b
        .wait_for_text("[data-testid='token-secret']", "pip_")
        .await;
    b.wait_for_text("[data-testid='tokens']", "Read, Run jobs")
        .await;
    b.shot("created").await;
    let me = |secret: String| {
        let url = app.url("/api/v1/me");
        async move {
            TestApp::client()
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    assert_eq!(me(secret.clone()).await, reqwest::StatusCode::OK);
    // Shown once: the page no longer has it after a reload.
    b.goto(&app.url("/settings/tokens")).await;
    b.wait_for_text("[data-testid='tokens']", "release pipeline")
        .await;
    assert!(!b.text_of("main").await.contains(&secret));
    b.css("[data-testid='revoke']")
        .await
        .click()
        .await
        .expect("revoke");
    b.css("[data-testid='token'][data-state='revoked']").await;
    b.shot("revoked").await;
    assert_eq!(me(secret).await, reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_gitlabs_page_lands_on_the_page_asked_for() {
    let person = portal_tests::gitlab::Person {
        id: 7,
        username: "dana".into(),
        name: "Dana Builder".into(),
        groups: vec!["gitlab-org/distribution".into()],
        state: "active".into(),
    };
    let app = TestApp::spawn_gitlab(Backend::Sqlite, vec![person], true)
        .await
        .expect("app");
    app.gitlab.as_ref().expect("provider").show_approval_page();
    let b = Browser::start("gitlab-sign-in").await;
    b.goto(&app.url("/releases")).await;
    b.css("[data-testid='sign-in-gitlab']").await;
    b.shot("sign-in").await;
    b.css("[data-testid='sign-in-gitlab']")
        .await
        .click()
        .await
        .expect("sign in with GitLab");
    b.css("#authorize").await.click().await.expect("authorize");
    b.wait_for_text("h1", "Releases").await;
    assert!(
        b.client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/releases")
    );
    assert!(b.text_of("header").await.contains("Dana Builder"));
    b.shot("landed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_saved_in_the_listing_copy_stays_text_in_every_reviewers_editor() {
    const HOSTILE: &str = "x</textarea><img src=x id=pwned onerror=alert(1)><b>bold</b>";
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    app.without_copy("GitLab Premium")
        .await
        .expect("the seeded copy removed");
    let res = maya
        .post(app.url("/api/v1/listings/1/copy"))
        .json(&json!({
            "base_revision": 0, "title": "GitLab Premium", "short_description": HOSTILE,
            "long_description": HOSTILE, "highlights": ["One"], "usage_instructions": HOSTILE,
            "release_notes_template": "GitLab {version}", "categories": ["DevOps"]
        }))
        .send()
        .await
        .expect("save copy");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let b = Browser::start("copy-markup").await;
    // A reviewer opens the editor: the text is in the fields, and no element came of it.
    b.sign_in(&app, "oskar", "/listings/1/copy").await;
    for field in [
        "#input_short_description_",
        "#input_long_description_",
        "#input_usage_instructions_",
    ] {
        let value = b.css(field).await.prop("value").await.expect("value");
        assert_eq!(value.as_deref(), Some(HOSTILE), "{field}");
    }
    b.shot("editor").await;
    assert!(
        b.client
            .find_all(Locator::Id("pwned"))
            .await
            .expect("find")
            .is_empty(),
        "an element with id=pwned came out of the stored text"
    );
    let after_textarea = b
        .client
        .find_all(Locator::Css("textarea + img, textarea + b, textarea ~ b"))
        .await
        .expect("find");
    assert!(after_textarea.is_empty(), "markup after a textarea");
}

/// A screenshot with the element `selector` scrolled to the top of the window.
async fn shot_at(b: &Browser, selector: &str, step: &str) {
    b.client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView();",
            vec![json!(selector)],
        )
        .await
        .expect("scroll");
    b.shot(step).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_recorded_in_the_ui_starts_a_train_whose_page_moves_to_done_by_itself() {
    use app::{domain::TrainState, services::Clock as _};
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // Premium's copy is approved; Ultimate's is not yet, so its publish waits on Marketing.
    app.without_copy("GitLab Ultimate")
        .await
        .expect("the seeded copy removed");
    app.approve_copy("GitLab Premium")
        .await
        .expect("copy approved");
    let released_on = app.clock.now().date_naive().to_string();

    let b = Browser::start("train").await;
    b.sign_in(&app, "oskar", "/").await;
    b.css("[data-testid='dashboard-train-empty']").await;
    b.goto(&app.url("/releases")).await;
    b.css("#input_version_")
        .await
        .send_keys("17.7.0")
        .await
        .expect("type the version");
    b.client
        .execute(
            "document.getElementById('input_released_on_').value = arguments[0];",
            vec![json!(released_on)],
        )
        .await
        .expect("set the release date");
    b.css("[data-testid='release-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("record the release");
    // Recording it started its train: the list links to it, and the link opens its page.
    b.css("[data-testid='train-17.7.0']")
        .await
        .click()
        .await
        .expect("open the train");
    b.wait_for_text("h1", "Release 17.7.0").await;
    assert_eq!(
        b.client.current_url().await.expect("url").path(),
        "/releases/17.7.0/train"
    );
    // A mark on this document: it is still there at the end only if nothing reloaded it.
    b.client
        .execute("window.trainPageMark = 'kept';", vec![])
        .await
        .expect("mark the page");
    b.css("[data-testid='train-step'][data-kind='build'][data-state='running']")
        .await;
    b.css("[data-testid='train-step'][data-kind='publish'][data-state='waiting']")
        .await;
    let builds = b
        .client
        .find_all(Locator::Css(
            "[data-testid='train-step'][data-kind='build']",
        ))
        .await
        .expect("builds");
    assert_eq!(
        builds.len(),
        6,
        "every image-maintained product × architecture"
    );
    b.css("[data-testid='train-runs'] a[href^='/workflows/']")
        .await;
    b.shot("started").await;
    shot_at(
        &b,
        "[data-testid='train-step'][data-kind='publish']",
        "started-publishes",
    )
    .await;
    shot_at(&b, "[data-testid='train-timeline']", "started-timeline").await;

    // The work goes on while the page stays open: the builds and Premium's publish finish,
    // and Ultimate's publish waits on Marketing, which the page says by itself.
    let runner = app.runner("train");
    app.work_trains(&runner).await.expect("the portal works");
    let train = app::services::trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    assert_eq!(train.state, TrainState::Waiting, "{train:#?}");
    let ultimate = b
        .wait_for_text(
            "[data-testid='train-step'][data-kind='publish'][data-state='waiting'] [data-testid='step-wait']",
            "Marketing's copy approval",
        )
        .await;
    assert!(
        ultimate.contains("waiting on Marketing's copy approval"),
        "{ultimate}"
    );
    b.wait_for_text("[data-testid='train-state']", "Waiting")
        .await;
    b.shot("waiting-on-copy").await;
    shot_at(
        &b,
        "[data-testid='train-step'][data-kind='publish']",
        "waiting-on-copy-publishes",
    )
    .await;

    // Marketing's copy is approved: the train goes on by itself, and the page follows it.
    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    app.work_trains(&runner).await.expect("the portal works");
    let train = app::services::trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    assert_eq!(train.state, TrainState::Done, "{train:#?}");
    b.wait_for_text("[data-testid='train-state']", "Done").await;
    b.css("[data-testid='train-sla'][data-status='met_on_time']")
        .await;
    let on_time = b
        .client
        .find_all(Locator::Css(
            "[data-testid='timeline-row'][data-on-time='true']",
        ))
        .await
        .expect("milestones");
    assert_eq!(
        on_time.len(),
        8,
        "six images out and two versions live, on time"
    );
    assert!(
        b.client
            .find_all(Locator::Css(
                "[data-testid='train-step']:not([data-state='done'])"
            ))
            .await
            .expect("steps")
            .is_empty(),
        "every step is done"
    );
    assert_eq!(
        b.client
            .execute("return window.trainPageMark || null;", vec![])
            .await
            .expect("read the mark"),
        json!("kept"),
        "the page moved to done without a reload"
    );
    b.shot("done").await;
    shot_at(
        &b,
        "[data-testid='train-step'][data-kind='publish']",
        "done-publishes",
    )
    .await;
    shot_at(&b, "[data-testid='train-timeline']", "done-timeline").await;

    // The list of trains has it, done.
    b.goto(&app.url("/trains")).await;
    b.wait_for_text(
        "[data-testid='trains'] tr[data-state='done']",
        "Release 17.7.0",
    )
    .await;
    b.shot("list").await;

    // The dashboard shows the newest release's train.
    b.goto(&app.url("/")).await;
    b.wait_for_text(
        "[data-testid='dashboard-train'][data-state='done']",
        "Release 17.7.0",
    )
    .await;
    b.shot("dashboard").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omnibus_sets_a_products_builds_and_partnerships_a_listings_publishing_by_hand() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.listing("GitLab Premium").await.expect("Premium").id;
    let product = "/products/aws/gitlab-ee-premium";
    let listing_page = format!("/listings/{listing}");
    let b = Browser::start("policies").await;
    let controls = |selector: &'static str| {
        let client = b.client.clone();
        async move {
            client
                .find_all(Locator::Css(selector))
                .await
                .expect("find")
                .len()
        }
    };

    // Omnibus decides whether a release builds the product's images by itself.
    b.sign_in(&app, "oskar", product).await;
    b.css("[data-testid='build-policy'][data-policy='automatic']")
        .await;
    b.css("[data-testid='build-policy'] select option[value='manual']")
        .await
        .click()
        .await
        .expect("by hand");
    b.css("[data-testid='save-build-policy']")
        .await
        .click()
        .await
        .expect("save");
    b.wait_for_text(
        "[data-testid='build-policy'][data-policy='manual']",
        "By hand",
    )
    .await;
    b.shot("builds-by-hand").await;
    b.goto(&app.url(&listing_page)).await;
    b.css("[data-testid='publish-policy'][data-policy='automatic']")
        .await;
    assert_eq!(
        controls("[data-testid='publish-policy'] select").await,
        0,
        "Omnibus does not set publishing"
    );

    // Partnerships decides whether a release publishes the listing's version by itself.
    b.sign_in(&app, "priya", &listing_page).await;
    b.css("[data-testid='publish-policy'] select option[value='manual']")
        .await
        .click()
        .await
        .expect("by hand");
    b.css("[data-testid='save-publish-policy']")
        .await
        .click()
        .await
        .expect("save");
    b.wait_for_text(
        "[data-testid='publish-policy'][data-policy='manual']",
        "By hand",
    )
    .await;
    b.shot("publishing-by-hand").await;
    b.goto(&app.url(product)).await;
    b.css("[data-testid='build-policy'][data-policy='manual']")
        .await;
    assert_eq!(
        controls("[data-testid='build-policy'] select").await,
        0,
        "Partnerships does not set builds"
    );
    let stored = app.listing("GitLab Premium").await.expect("Premium");
    assert_eq!(stored.publish_policy, app::domain::Policy::Manual);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omnibus_forgets_an_image_made_outside_the_portal_and_the_public_images_page_shows_the_account()
 {
    use portal_tests::account::{account_with_quota, hand_made_image, set_public, sync};
    let app = account_with_quota(100).await;
    let forgotten = hand_made_image(&app, "us-east-1", "someones-experiment", true).await;
    let open = hand_made_image(&app, "eu-west-1", "load-test-copy", true).await;
    // And someone made one of GitLab CE's public images private in the console.
    let ec2 = app.cloud.ec2("us-west-2");
    let ce = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("describe")
        .images()
        .iter()
        .find(|i| i.public() == Some(true) && i.name().is_some_and(|n| n.starts_with("GitLab CE ")))
        .and_then(|i| i.image_id().map(str::to_owned))
        .expect("a public GitLab CE image");
    set_public(&app.cloud, "us-west-2", &ce, false)
        .await
        .expect("made private by hand");

    // The sync runs as Omnibus asks for it, through the API, and the runner works it.
    sync(&app).await;
    // The differences are looked at a while later.
    app.clock
        .set(app::services::Clock::now(app.clock.as_ref()) + chrono::Duration::hours(2));

    let b = Browser::start("account").await;
    b.sign_in(&app, "oskar", "/cloud").await;
    b.css("[data-testid='last-sync'][data-state='succeeded']")
        .await;
    let item = |image: &str| {
        format!("[data-testid='drift-item'][data-kind='outside_image'][data-image='{image}']")
    };
    let text = b
        .wait_for_text(&item(&forgotten), "Image made outside the portal")
        .await;
    assert!(text.contains("us-east-1"), "{text}");
    b.css(&item(&open)).await;
    assert_eq!(
        b.text_of(
            "[data-testid='account-region'][data-region='us-east-1'] [data-testid='service-quota']"
        )
        .await,
        "100",
        "the quota Service Quotas reports"
    );
    b.shot("drift").await;

    // Adopting needs the product, release and architecture: each missing one is named next
    // to its field, in that item's form only.
    let adopt = format!("{} [data-testid='adopt']", item(&open));
    b.css(&format!("{adopt} summary"))
        .await
        .click()
        .await
        .expect("open the adopt form");
    b.css(&format!("{adopt} [data-testid='drift-adopt']"))
        .await
        .click()
        .await
        .expect("adopt with nothing chosen");
    b.wait_for_text(&format!("{adopt} [data-testid='field-error']"), "")
        .await;
    assert_eq!(
        b.client
            .find_all(Locator::Css(&format!(
                "{} [data-testid='field-error']",
                item(&forgotten)
            )))
            .await
            .expect("find")
            .len(),
        0,
        "the other item's form shows no error"
    );
    shot_at(&b, &item(&open), "adopt-errors").await;

    b.css(&format!(
        "{} [data-testid='drift-forget']",
        item(&forgotten)
    ))
    .await
    .click()
    .await
    .expect("forget");
    b.wait_for_text("[data-testid='drift-resolved']", "Resolved")
        .await;
    // It leaves the open list; the other stays.
    for _ in 0..200 {
        let left = b
            .client
            .find_all(Locator::Css(&item(&forgotten)))
            .await
            .expect("find")
            .is_empty();
        if left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        b.client
            .find_all(Locator::Css(&item(&forgotten)))
            .await
            .expect("find")
            .is_empty(),
        "the forgotten image is still listed as open"
    );
    b.shot("forgotten").await;
    b.css(&item(&open)).await;

    // It is among the resolved ones, with who resolved it.
    b.css("[data-testid='tab-resolved']")
        .await
        .click()
        .await
        .expect("resolved tab");
    let resolved = b
        .wait_for_text(
            &format!("{} [data-testid='drift-resolution']", item(&forgotten)),
            "Resolved by oskar",
        )
        .await;
    assert!(!resolved.is_empty());
    b.css(&format!("{}[data-state='resolved']", item(&forgotten)))
        .await;
    b.shot("resolved").await;

    // The public images page counts from the account, with Service Quotas' quota, and its
    // banner leads to the difference still open; the region a link names is highlighted.
    b.goto(&app.url("/public-images?region=eu-west-1")).await;
    let east = "[data-testid='region'][data-region='us-east-1']";
    b.css(&format!("{east}[data-quota-source='service_quotas']"))
        .await;
    assert_eq!(
        b.text_of(&format!("{east} [data-testid='quota-source']"))
            .await,
        "Service Quotas"
    );
    assert!(
        b.text_of(&format!("{east} [data-testid='counted']"))
            .await
            .starts_with("counted from the account"),
    );
    let west = "[data-testid='region'][data-region='eu-west-1']";
    b.css(&format!("{west}[data-highlighted='true']")).await;
    assert!(
        b.text_of(&format!("{west} [data-testid='outside-images']"))
            .await
            .contains("made outside the portal"),
    );
    let banner = b
        .wait_for_text(
            "[data-testid='drift-banner']",
            "between the catalogue and the account",
        )
        .await;
    assert!(
        banner.starts_with("2 differences ") && banner.contains("hours ago"),
        "{banner}"
    );
    shot_at(&b, "[data-testid='drift-banner']", "public-images").await;

    // A quota set by hand overrides Service Quotas': at 25 of 30 the region is near it, and
    // one click proposes retention there; clearing it brings Service Quotas' back.
    let quota = b
        .css(&format!("{west} input[aria-label='Quota of eu-west-1']"))
        .await;
    quota.clear().await.expect("clear");
    quota.send_keys("30").await.expect("type the quota");
    b.css(&format!("{west} form button"))
        .await
        .click()
        .await
        .expect("set");
    b.css(&format!("{west}[data-quota-source='manual']")).await;
    let source = b
        .text_of(&format!("{west} [data-testid='quota-source']"))
        .await;
    assert_eq!(source, "set by hand; Service Quotas says 100");
    let warning = b
        .text_of(&format!(
            "{west} [data-testid='quota-warning'][data-tone='amber']"
        ))
        .await;
    assert!(warning.contains("Near the quota"), "{warning}");
    assert_eq!(
        b.text_of(&format!("{west} [data-testid='after-next-release']"))
            .await,
        "29 of 30"
    );
    shot_at(&b, west, "public-images-near-quota").await;
    b.css(&format!("{west} [data-testid='propose-retention']"))
        .await
        .click()
        .await
        .expect("propose retention");
    b.css("[data-testid='region-proposed']").await;
    shot_at(
        &b,
        "[data-testid='region-proposed']",
        "public-images-proposed",
    )
    .await;
    b.css(&format!("{west} [data-testid='clear-quota']"))
        .await
        .click()
        .await
        .expect("clear the quota");
    b.css(&format!("{west}[data-quota-source='service_quotas']"))
        .await;
    b.css("[data-testid='drift-banner-link']")
        .await
        .click()
        .await
        .expect("follow the banner");
    b.css(&item(&open)).await;

    // GitLab CE's page carries the banner of its own difference, which leads to it alone.
    b.goto(&app.url("/products/aws/gitlab-ce")).await;
    let banner = b
        .wait_for_text("[data-testid='drift-banner']", "1 difference ")
        .await;
    assert!(!banner.contains("live version"), "{banner}");
    b.shot("product-banner").await;
    b.css("[data-testid='drift-banner-link']")
        .await
        .click()
        .await
        .expect("follow the banner");
    // Followed in the browser, the link opens the account page filtered to the product.
    b.wait_for_text("h1", "Account").await;
    b.css(&format!(
        "[data-testid='drift-item'][data-kind='image_private'][data-image='{ce}']"
    ))
    .await;
    assert_eq!(
        b.client
            .find_all(Locator::Css("[data-testid='drift-item']"))
            .await
            .expect("find")
            .len(),
        1,
        "only GitLab CE's difference"
    );
    b.shot("product-drift").await;
}

/// Picks `value` in the `<select>` matched by `select`.
async fn choose(b: &Browser, select: &str, value: &str) {
    b.css(&format!("{select} option[value='{value}']"))
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("choose {value} in {select}: {e}"));
}

/// Starts an asset in the gallery's form as whoever is signed in: partner, kind, title and
/// the listing it is linked to; the test then fills what the kind takes and submits.
async fn add_asset(b: &Browser, app: &TestApp, kind: &str, title: &str, listing: Option<i32>) {
    b.goto(&app.url("/assets")).await;
    choose(
        b,
        "[data-testid='upload-form'] select[name='partner']",
        "aws",
    )
    .await;
    choose(b, "[data-testid='upload-form'] select[name='kind']", kind).await;
    fill(b, "[data-testid='upload-form'] input[name='title']", title).await;
    if let Some(listing) = listing {
        choose(
            b,
            "[data-testid='upload-form'] select[name='listing_id']",
            &listing.to_string(),
        )
        .await;
    }
}

/// Sends the gallery's form; lands on the new asset's page and returns its id.
async fn submit_asset(b: &Browser, title: &str) -> i32 {
    b.css("[data-testid='upload-form'] button[type='submit']")
        .await
        .click()
        .await
        .expect("add");
    b.wait_for_text("h1", title).await;
    let url = b.client.current_url().await.expect("url");
    url.path()
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("an asset's page: {url}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_publishes_the_whole_copy_on_its_own_and_the_listing_follows_it() {
    use app::services::{Clock as _, copy};
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.listing("GitLab Premium").await.expect("Premium").id;
    let b = Browser::start("content").await;

    // Marketing adds the listing's logo and a customer quote the customer agreed to, each
    // linked to the listing as it is added, and a quote still waiting for agreement.
    b.sign_in(&app, "maya", "/assets").await;
    add_asset(&b, &app, "logo", "GitLab tanuki", Some(listing)).await;
    let logo = write_fixture(
        "logo.svg",
        br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#fc6d26"/><circle cx="32" cy="32" r="14" fill="#fff"/></svg>"##,
    );
    b.css("[data-testid='upload-form'] input[name='file']")
        .await
        .send_keys(&logo.display().to_string())
        .await
        .expect("file");
    let logo = submit_asset(&b, "GitLab tanuki").await;
    b.css("[data-testid='current-image']").await;

    add_asset(&b, &app, "customer_quote", "Acme on GitLab", Some(listing)).await;
    fill(
        &b,
        "[data-testid='upload-form'] textarea[name='text']",
        "We ship twice as often since we moved to GitLab on AWS.",
    )
    .await;
    fill(
        &b,
        "[data-testid='upload-form'] input[name='attribution']",
        "Dana Smith, CTO, Acme",
    )
    .await;
    b.css("[data-testid='upload-form'] input[name='customer_agreed']")
        .await
        .click()
        .await
        .expect("agreed");
    let quote = submit_asset(&b, "Acme on GitLab").await;
    b.wait_for_text("[data-testid='current-content']", "— Dana Smith, CTO, Acme")
        .await;
    b.wait_for_text("[data-testid='asset-links']", "GitLab Premium")
        .await;

    // The quote is linked to the marketing task of a first-time image too, whose page
    // then shows it.
    let workflow = app::services::process::start_first_time(
        app.conn(),
        &app.user("priya").await,
        app.clock.now(),
        &app::dto::FirstTimeInput {
            partner: "aws".into(),
            product: "gitlab-ee-premium".into(),
        },
    )
    .await
    .expect("first-time image");
    let task = workflow
        .stages
        .iter()
        .find(|s| s.key == "marketing")
        .and_then(|s| s.tasks.first())
        .expect("a marketing task")
        .id;
    fill(
        &b,
        "[data-testid='link-form'] input[name='target[task_id]']",
        &task.to_string(),
    )
    .await;
    b.css("[data-testid='link-asset']")
        .await
        .click()
        .await
        .expect("link");
    b.wait_for_text("[data-testid='asset-links']", "Task: ")
        .await;
    shot_at(&b, "h1", "quote").await;
    b.goto(&app.url(&format!("/tasks/{task}"))).await;
    let linked = b
        .text_of("[data-testid='task-assets'] li[data-kind='customer_quote']")
        .await;
    assert!(
        linked.contains("Acme on GitLab") && linked.contains("agreed"),
        "{linked}"
    );
    b.css(&format!(
        "[data-testid='task-assets'] a[href='/assets/{quote}']"
    ))
    .await;

    add_asset(&b, &app, "customer_quote", "Initech, unconfirmed", None).await;
    fill(
        &b,
        "[data-testid='upload-form'] textarea[name='text']",
        "Our releases went from monthly to daily.",
    )
    .await;
    fill(
        &b,
        "[data-testid='upload-form'] input[name='attribution']",
        "Bill Lumbergh, Initech",
    )
    .await;
    let unconfirmed = submit_asset(&b, "Initech, unconfirmed").await;
    b.wait_for_text("[data-testid='agreement']", "not agreed")
        .await;
    b.goto(&app.url("/assets")).await;
    b.css("[data-testid='gallery-item'][data-kind='customer_quote'] blockquote")
        .await;
    b.shot("assets").await;

    // Marketing writes the copy with the new fields; sixteen keywords are one too many,
    // said next to the field, and what was typed stays.
    let page = format!("/listings/{listing}/copy");
    b.goto(&app.url(&page)).await;
    fill(&b, "#input_title_", "GitLab Premium, self-managed on AWS").await;
    let sixteen: Vec<String> = (1..=16).map(|n| format!("keyword {n}")).collect();
    fill(&b, "#input_search_keywords_", &sixteen.join(", ")).await;
    fill(&b, "#input_sku_", "GL-PREMIUM-SM").await;
    fill(
        &b,
        "#input_support_description_",
        "GitLab Support answers Premium customers within a business day.",
    )
    .await;
    choose(&b, "#input_logo_asset_id_", &logo.to_string()).await;
    fill(
        &b,
        "#input_video_url_",
        "https://www.youtube.com/watch?v=MqL6BMOySIQ",
    )
    .await;
    fill(
        &b,
        "#input_additional_resources_",
        "Install on AWS | https://docs.gitlab.com/install/aws/\nRelease notes | https://about.gitlab.com/releases/",
    )
    .await;
    b.css("[data-testid='save-copy']")
        .await
        .click()
        .await
        .expect("save");
    let refused = b
        .wait_for_text("[data-testid='error-input_search_keywords_']", "at most 15")
        .await;
    assert!(refused.contains("16"), "{refused}");
    shot_at(&b, "#input_search_keywords_", "keywords-refused").await;
    let kept = b.css("#input_sku_").await.prop("value").await.expect("sku");
    assert_eq!(
        kept.as_deref(),
        Some("GL-PREMIUM-SM"),
        "the form kept what was typed"
    );
    fill(
        &b,
        "#input_search_keywords_",
        "GitLab, DevSecOps, CI/CD, self-managed",
    )
    .await;
    b.css("[data-testid='save-copy']")
        .await
        .click()
        .await
        .expect("save");
    copy_state(&b, "draft").await;
    b.css("[data-testid='pinned-logo']").await;
    shot_at(&b, "[data-testid='copy-form']", "editor").await;
    let head = copy::get(app.conn(), listing)
        .await
        .expect("copy")
        .head
        .expect("head");
    assert_eq!(
        (
            head.fields.search_keywords.clone(),
            head.fields.sku.as_str(),
            head.fields.logo_asset_id,
            head.fields.video_url.as_str(),
            head.fields.additional_resources.len(),
        ),
        (
            vec![
                "GitLab".to_owned(),
                "DevSecOps".into(),
                "CI/CD".into(),
                "self-managed".into()
            ],
            "GL-PREMIUM-SM",
            Some(logo),
            "https://www.youtube.com/watch?v=MqL6BMOySIQ",
            2,
        )
    );

    // Partnerships and Omnibus approve it.
    let review = app::dto::ReviewInput {
        revision: head.id,
        comment: String::new(),
    };
    let now = app.clock.now();
    copy::request_approval(app.conn(), &app.user("maya").await, now, listing, &review)
        .await
        .expect("request");
    for reviewer in ["priya", "oskar"] {
        copy::approve(app.conn(), &app.user(reviewer).await, now, listing, &review)
            .await
            .expect("approve");
    }

    // "Mark for publishing" first shows the revision against what the marketplace shows.
    b.goto(&app.url(&page)).await;
    copy_state(&b, "approved").await;
    b.css("[data-testid='mark-publish']")
        .await
        .click()
        .await
        .expect("mark");
    let count = b
        .wait_for_text("[data-testid='live-diff-count']", "fields differ")
        .await;
    let differ: usize = count
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count: {count}"));
    assert!(differ >= 5, "{count}");
    let title = b.text_of("[data-testid='live-diff-title']").await;
    assert!(
        title.contains("GitLab Premium, self-managed on AWS"),
        "{title}"
    );
    b.text_of("[data-testid='live-diff-search_keywords']").await;
    shot_at(&b, "[data-testid='publish-copy']", "live-diff").await;

    // Marking it starts the job; the panel follows it until the revision is live.
    b.css("[data-testid='confirm-mark-publish']")
        .await
        .click()
        .await
        .expect("confirm");
    b.css("[data-testid='copy-publish-job'][data-state='queued']")
        .await;
    assert!(
        b.client
            .find_all(Locator::Css("[data-testid='live-diff']"))
            .await
            .expect("find")
            .is_empty(),
        "the diff is gone once the revision is marked"
    );
    shot_at(&b, "[data-testid='publish-copy']", "job-queued").await;
    let runner = app.runner("worker");
    app.drive(&runner, 50).await.expect("published");
    b.css("[data-testid='copy-publish-job'][data-state='succeeded']")
        .await;
    let live = b
        .wait_for_text("[data-testid='live-copy']", "revision 2")
        .await;
    assert!(
        live.contains("GitLab Premium, self-managed on AWS"),
        "{live}"
    );
    shot_at(&b, "[data-testid='publish-copy']", "published").await;

    // The listing page shows the live title and revision, and the quote with its
    // agreement; a quote without it cannot be attached.
    b.goto(&app.url(&format!("/listings/{listing}"))).await;
    b.wait_for_text(
        "[data-testid='listing-title']",
        "GitLab Premium, self-managed on AWS",
    )
    .await;
    b.wait_for_text("[data-testid='listing-live-copy']", "revision 2")
        .await;
    let quote = b
        .text_of("[data-testid='listing-asset'][data-kind='customer_quote']")
        .await;
    assert!(
        quote.contains("Acme on GitLab") && quote.contains("Dana Smith, CTO, Acme"),
        "{quote}"
    );
    assert_eq!(
        b.text_of(
            "[data-testid='listing-asset'][data-kind='customer_quote'] [data-testid='agreement']"
        )
        .await,
        "agreed"
    );
    choose(
        &b,
        "[data-testid='attach-asset'] select[name='asset_id']",
        &unconfirmed.to_string(),
    )
    .await;
    b.css("[data-testid='attach']")
        .await
        .click()
        .await
        .expect("attach");
    b.wait_for_text("[data-testid='error']", "has not agreed")
        .await;
    shot_at(&b, "h1", "listing").await;
    let panics = b.panics();
    assert!(panics.is_empty(), "a page's wasm panicked: {panics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omnibus_changes_how_a_products_versions_are_delivered_field_by_field() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let b = Browser::start("delivery").await;
    let page = "/products/aws/gitlab-ee-premium";
    b.sign_in(&app, "oskar", page).await;
    let shown = b.text_of("[data-testid='security-groups']").await;
    assert!(
        shown.contains("443") && shown.contains("0.0.0.0/0"),
        "{shown}"
    );
    b.css("[data-testid='edit-delivery']")
        .await
        .click()
        .await
        .expect("open the form");
    fill(&b, "#form_user_name_", "9ubuntu").await;
    fill(
        &b,
        "#form_security_groups_",
        "tcp 22 0.0.0.0/0\ntcp 443 10.0.0.1/8",
    )
    .await;
    b.css("[data-testid='save-delivery']")
        .await
        .click()
        .await
        .expect("save");
    b.css("[data-testid='error-form_user_name_']").await;
    let rules = b
        .wait_for_text("[data-testid='error-form_security_groups_']", "rule 2")
        .await;
    assert!(rules.contains("10.0.0.1/8"), "{rules}");
    shot_at(&b, "[data-testid='delivery-form']", "refused").await;
    fill(&b, "#form_user_name_", "gitlab").await;
    fill(
        &b,
        "#form_security_groups_",
        "tcp 22 0.0.0.0/0\ntcp 443 10.0.0.0/8\nudp 8000-8100 0.0.0.0/0",
    )
    .await;
    fill(&b, "#form_recommended_instance_type_", "m6i.xlarge").await;
    b.css("[data-testid='save-delivery']")
        .await
        .click()
        .await
        .expect("save");
    b.css("[data-testid='delivery-saved']").await;
    let delivery = b.text_of("[data-testid='delivery']").await;
    assert!(
        delivery.contains("m6i.xlarge") && delivery.contains("gitlab"),
        "{delivery}"
    );
    assert!(
        b.text_of("[data-testid='security-groups']")
            .await
            .contains("8000–8100")
    );
    let product = app::services::products::get(app.conn(), "aws", "gitlab-ee-premium")
        .await
        .expect("product");
    assert_eq!(
        (
            product.delivery.user_name.as_str(),
            product.delivery.security_groups.len()
        ),
        ("gitlab", 3)
    );
    shot_at(&b, "[data-testid='delivery']", "saved").await;
    let panics = b.panics();
    assert!(panics.is_empty(), "a page's wasm panicked: {panics:?}");
}
