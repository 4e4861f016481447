//! Input the portal must not trust: where sign-in sends people back to (`next`), days and
//! page numbers far out of range, and stored text holding markup that would end the element
//! it is shown in.

use app::services::Clock as _;
use leptos::server_fn::ServerFn as _;
use portal_tests::{Backend, TestApp};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

/// Where a session lands after signing in, and whether a session cookie was set.
fn session_set(res: &reqwest::Response) -> bool {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("portal_session=") && !c.starts_with("portal_session=;"))
}

/// Places to return to after sign-in that a browser would read as another site.
const LEAVING: &[&str] = &[
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "/\\evil.example/",
    "/ /evil.example/",
    "//evil.example/",
    "https://evil.example/",
    "/%zz",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_that_would_leave_the_portal_is_refused_with_a_page_before_any_sign_in() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    for next in LEAVING {
        let client = app.browser();
        let res = client
            .post(app.url("/auth/dev"))
            .form(&[("username", "alex"), ("next", next)])
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{next:?}");
        assert!(res.headers().get(reqwest::header::LOCATION).is_none());
        assert!(!session_set(&res), "no session for {next:?}");
        assert!(
            res.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/html"),
            "a page for {next:?}"
        );
        let page = res.text().await.expect("page");
        assert!(page.contains("only takes you to its own pages"), "{page}");
        assert!(!page.contains("<script"), "{page}");
    }
    // A page of the portal, with its query, is where the person lands.
    let res = app
        .browser()
        .post(app.url("/auth/dev"))
        .form(&[("username", "alex"), ("next", "/releases?page=2")])
        .send()
        .await
        .expect("send");
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()[reqwest::header::LOCATION], "/releases?page=2");

    // GitLab sign-in refuses the same before anyone leaves for GitLab.
    let app = TestApp::spawn_gitlab(Backend::Sqlite, Vec::new(), false)
        .await
        .expect("gitlab app");
    for next in LEAVING {
        let res = app
            .browser()
            .get(app.url(&format!(
                "/auth/gitlab?next={}",
                app::domain::percent_encode(next)
            )))
            .send()
            .await
            .expect("start");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{next:?}");
        assert!(res.headers().get(reqwest::header::LOCATION).is_none());
        assert!(res.headers().get(reqwest::header::SET_COOKIE).is_none());
        let page = res.text().await.expect("page");
        assert!(page.contains("only takes you to its own pages"), "{page}");
    }
}

/// A body whose only problem is the day in `field`: a 400 naming that field.
async fn refused_day(res: reqwest::Response, field: &str) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "bad_request", "{body}");
    assert_eq!(body["fields"][0]["field"], field, "{body}");
    let message = body["fields"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2000-01-01") && message.contains("2027-11-02"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_outside_2000_to_a_year_ahead_are_refused_naming_their_field() {
    use app::services::entities::{release, task};
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let alex = app.signed_in("alex").await.expect("alex");
    // The test clock reads 2026-11-02: days run from 2000-01-01 to 2027-11-02.
    for day in ["+262142-12-20", "2027-11-03", "1999-12-31"] {
        let res = oskar
            .post(app.url("/api/v1/releases"))
            .json(&json!({"version": "18.9.0", "released_on": day, "kind": "regular"}))
            .send()
            .await
            .expect("send");
        refused_day(res, "released_on").await;
        let res = alex
            .post(app.url("/api/v1/holidays"))
            .json(&json!({"day": day, "name": "Far away"}))
            .send()
            .await
            .expect("send");
        refused_day(res, "day").await;
    }
    let latest = release::Entity::find()
        .all(app.conn())
        .await
        .expect("releases")
        .into_iter()
        .map(|r| r.released_on)
        .max()
        .expect("the sample history");
    assert!(latest < chrono::NaiveDate::from_ymd_opt(2027, 1, 1).expect("day"));
    // The last day accepted, through the API and a release update.
    let res = oskar
        .post(app.url("/api/v1/releases"))
        .json(&json!({"version": "18.9.0", "released_on": "2027-11-02", "kind": "regular"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = oskar
        .put(app.url("/api/v1/releases/18.9.0"))
        .json(&json!({"version": "18.9.0", "released_on": "+262142-12-20", "kind": "regular"}))
        .send()
        .await
        .expect("send");
    refused_day(res, "released_on").await;

    // A task's due date and the day a partner must answer by.
    let t = task::Entity::find()
        .all(app.conn())
        .await
        .expect("tasks")
        .into_iter()
        .find(|t| t.team == app::domain::Role::Omnibus && !t.state.is_closed())
        .expect("an open omnibus task");
    let res = oskar
        .put(app.url(&format!("/api/v1/tasks/{}/assignment", t.id)))
        .json(&json!({"assignee": "", "due_on": "+262142-12-20"}))
        .send()
        .await
        .expect("send");
    refused_day(res, "due_on").await;
    let res = oskar
        .post(app.url(&format!("/api/v1/tasks/{}/state", t.id)))
        .json(&json!({"state": "waiting_on_partner", "response_due_on": "+262142-12-20"}))
        .send()
        .await
        .expect("send");
    refused_day(res, "response_due_on").await;
    let unchanged = task::Entity::find_by_id(t.id)
        .one(app.conn())
        .await
        .expect("task")
        .expect("task");
    assert_eq!((unchanged.due_on, unchanged.state), (t.due_on, t.state));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_run_due_in_a_far_year_does_not_stall_the_clock_or_the_board() {
    use app::services::{
        entities::{release, workflow},
        process,
    };
    use sea_orm::{ActiveModelTrait as _, ColumnTrait as _, QueryFilter as _, Set};
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // A release of year 262142, as one could be recorded before days were bounded.
    let far = chrono::NaiveDate::from_ymd_opt(262_142, 12, 20).expect("day");
    let model = release::ActiveModel {
        version: Set("99.0.0".into()),
        major: Set(99),
        minor: Set(0),
        patch: Set(0),
        pre: Set(None),
        released_on: Set(far),
        kind: Set(app::domain::ReleaseKind::Regular),
        created_at: Set(app.clock.now()),
        ..Default::default()
    }
    .insert(app.conn())
    .await
    .expect("release");
    let bounded = std::time::Duration::from_secs(20);
    let runs = tokio::time::timeout(
        bounded,
        process::open_maintenance_runs(app.conn(), None, app.clock.now(), &model),
    )
    .await
    .expect("the due date is computed at once")
    .expect("runs");
    assert!(!runs.is_empty());
    let due = workflow::Entity::find()
        .filter(workflow::Column::ReleaseId.eq(model.id))
        .one(app.conn())
        .await
        .expect("run")
        .expect("run")
        .due_on;
    assert_eq!(due, chrono::NaiveDate::from_ymd_opt(262_142, 12, 25));

    let client = app.signed_in("oskar").await.expect("oskar");
    let res = tokio::time::timeout(bounded, client.get(app.url("/api/v1/maintenance")).send())
        .await
        .expect("the board answers at once")
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let board: Value = res.json().await.expect("json");
    assert!(
        board["open"]
            .as_array()
            .expect("open runs")
            .iter()
            .any(|w| w["sla"]["due_on"] == "+262142-12-25"),
        "{board}"
    );
    for page in ["/maintenance", "/"] {
        let res = tokio::time::timeout(bounded, client.get(app.url(page)).send())
            .await
            .unwrap_or_else(|_| panic!("{page} answers at once"))
            .expect("send");
        assert_eq!(res.status(), StatusCode::OK, "{page}");
    }
    tokio::time::timeout(bounded, process::sweep(app.conn(), app.clock.now()))
        .await
        .expect("the sweep ends at once")
        .expect("sweep");
    // A new holiday re-derives every open run's due date.
    let alex = app.signed_in("alex").await.expect("alex");
    let res = tokio::time::timeout(
        bounded,
        alex.post(app.url("/api/v1/holidays"))
            .json(&json!({"day": "2026-12-24", "name": "Christmas Eve"}))
            .send(),
    )
    .await
    .expect("the holiday is added at once")
    .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_number_or_size_out_of_bounds_is_a_400_on_every_list() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let alex = app.signed_in("alex").await.expect("alex");
    let lists = [
        "/api/v1/partners",
        "/api/v1/products",
        "/api/v1/releases",
        "/api/v1/images",
        "/api/v1/listings",
        "/api/v1/assets",
        "/api/v1/jobs",
        "/api/v1/notifications",
        "/api/v1/audit",
        "/api/v1/workflows",
    ];
    for list in lists {
        let res = alex
            .get(app.url(&format!("{list}?page=18446744073709551615")))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{list} dropped the connection: {e}"));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{list}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "bad_request", "{list}: {body}");
        assert_eq!(body["fields"][0]["field"], "page", "{list}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("pages run from 1 to 1000000"),
            "{list}: {body}"
        );
        for page in ["0", "1000001"] {
            let res = alex
                .get(app.url(&format!("{list}?page={page}")))
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{list}?page={page}");
        }
        let res = alex
            .get(app.url(&format!("{list}?page=1000000")))
            .send()
            .await
            .expect("send");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{list}: the last page is empty"
        );
    }
    for list in [
        "/api/v1/partners",
        "/api/v1/products",
        "/api/v1/releases",
        "/api/v1/images",
        "/api/v1/listings",
        "/api/v1/assets",
        "/api/v1/jobs",
        "/api/v1/notifications",
    ] {
        for per_page in ["0", "101", "18446744073709551615"] {
            let res = alex
                .get(app.url(&format!("{list}?per_page={per_page}")))
                .send()
                .await
                .expect("send");
            assert_eq!(
                res.status(),
                StatusCode::BAD_REQUEST,
                "{list}?per_page={per_page}"
            );
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["fields"][0]["field"], "per_page", "{list}: {body}");
        }
    }
    // The pages' server functions take a page too.
    for path in [
        app::rpc::ListReleases::PATH,
        app::rpc::ListPartners::PATH,
        app::rpc::GetInbox::PATH,
    ] {
        let res = alex
            .post(app.url(path))
            .form(&[("page", "18446744073709551615")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} dropped the connection: {e}"));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["fields"][0]["field"], "page", "{path}: {body}");
    }
}

/// Text that would end the element it is shown in, were it written unescaped.
const HOSTILE: &str = "x</textarea><img src=x id=pwned onerror=alert(1)><b>bold</b>\
    </script><script id=pwned-script>alert(2)</script></style><style id=pwned-style>body{}</style>";

/// Asserts that a server-rendered page shows [`HOSTILE`] only as text.
fn shows_only_as_text(page: &str, html: &str) {
    for raw in ["<img src=x id=pwned", "<script id=pwned", "<style id=pwned"] {
        assert!(!html.contains(raw), "{page} holds the live markup {raw}");
    }
    for (open, close) in [
        ("<textarea", "</textarea>"),
        ("<script", "</script>"),
        ("<style", "</style>"),
    ] {
        assert_eq!(
            html.matches(open).count(),
            html.matches(close).count(),
            "{page}: every {open} is closed by its own {close}"
        );
    }
    // Shown on first paint, before any script runs.
    assert!(
        html.contains("x&lt;/textarea&gt;&lt;img src=x id=pwned onerror=alert(1)&gt;"),
        "{page} shows the text escaped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_text_cannot_close_the_textarea_script_or_style_it_is_shown_in() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let alex = app.signed_in("alex").await.expect("alex");
    let maya = app.signed_in("maya").await.expect("maya");
    app.without_copy("GitLab Premium")
        .await
        .expect("the seeded copy removed");

    // Listing copy: every text field of the copy editor.
    let res = maya
        .post(app.url("/api/v1/listings/1/copy"))
        .json(&json!({
            "base_revision": 0, "title": "GitLab Premium", "short_description": HOSTILE,
            "long_description": HOSTILE, "highlights": [HOSTILE], "usage_instructions": HOSTILE,
            // A template's braces are its placeholders: the rest of the hostile text stays.
            "release_notes_template": HOSTILE.replace("{}", ""), "categories": ["DevOps"]
        }))
        .send()
        .await
        .expect("save copy");
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap_or_default()
    );
    // A partner's notes.
    let res = alex
        .put(app.url("/api/v1/partners/google-cloud"))
        .json(&json!({
            "slug": "google-cloud", "name": "Google Cloud", "cloud": "gcp", "status": "onboarding", "notes": HOSTILE
        }))
        .send()
        .await
        .expect("save partner");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    // A product's description.
    let mut product: Value = alex
        .get(app.url("/api/v1/products/aws/gitlab-ce"))
        .send()
        .await
        .expect("product")
        .json()
        .await
        .expect("json");
    product["partner"] = json!("aws");
    product["edition"] = json!("ce");
    product["visibility"] = json!("public");
    product["maintenance_mode"] = json!("image");
    for key in ["listing_entity_name", "listing_entity_id"] {
        product[key] = json!(product[key].as_str().unwrap_or_default());
    }
    product["description"] = json!(HOSTILE);
    let res = alex
        .put(app.url("/api/v1/products/aws/gitlab-ce"))
        .json(&product)
        .send()
        .await
        .expect("save product");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );

    for (who, page) in [
        (&maya, "/listings/1/copy"),
        (&alex, "/listings/1/copy"),
        (&alex, "/partners/google-cloud/edit"),
        (&alex, "/products/aws/gitlab-ce/edit"),
    ] {
        let res = who.get(app.url(page)).send().await.expect("page");
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        let html = res.text().await.expect("html");
        shows_only_as_text(page, &html);
    }
    // Shown as text elsewhere too: the partner's and the product's own pages.
    for page in ["/partners/google-cloud", "/products/aws/gitlab-ce"] {
        let html = alex
            .get(app.url(page))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(!html.contains("<img src=x id=pwned"), "{page}");
        assert!(!html.contains("<script id=pwned"), "{page}");
    }
}
