//! What outbound webhooks may reach and what they record, and the limits on one person or
//! client: live job streams, the body of a request without a session, sign-in attempts.

use app::{
    dto::{Job, WebhookInput},
    error::ErrorCode,
    services::{
        Clock as _,
        entities::audit_event,
        jobs::{JobKind as _, Noop},
        notify,
        outbound::WebhookPolicy,
    },
};
use leptos::server_fn::ServerFn as _;
use portal_tests::{Backend, TestApp};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The settings a real portal runs with: webhooks over https to public addresses only.
const STRICT_WEBHOOKS: &[(&str, &str)] = &[
    ("--webhooks-allow-http", "false"),
    ("--webhooks-allow-private", "false"),
];

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

/// Adds a webhook through the service under the portal's own policy.
async fn add_webhook(app: &TestApp, name: &str, url: &str) -> i32 {
    notify::create_webhook(
        app.conn(),
        &app.state.secret_key,
        app.state.webhooks,
        &app.user("alex").await,
        app.clock.now(),
        &WebhookInput {
            name: name.into(),
            url: url.into(),
            events: vec![],
            secret: String::new(),
        },
    )
    .await
    .expect("webhook added")
    .webhook
    .id
}

/// Queues a test delivery to a webhook and runs it once with a runner under `policy`.
async fn deliver_once(app: &TestApp, webhook: i32, policy: WebhookPolicy) -> i32 {
    let job = notify::test_webhook(
        app.conn(),
        &app.user("alex").await,
        app.clock.now(),
        webhook,
    )
    .await
    .expect("queued");
    let state = app.state.with(|parts| parts.webhooks = policy);
    server::jobs::Runner::new(state, server::jobs::handlers(&app.cloud), "w1")
        .run_until_idle()
        .await
        .expect("ran");
    job.id
}

/// What a viewer reads of a job: the job, its log, and the job list.
async fn as_viewer_reads(app: &TestApp, job: i32) -> (Job, String) {
    let vic = app.signed_in("vic").await.expect("viewer");
    let get = |path: String| {
        let vic = vic.clone();
        async move {
            let res = vic.get(app.url(&path)).send().await.expect("sent");
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.text().await.expect("text")
        }
    };
    let one = get(format!("/api/v1/jobs/{job}")).await;
    let everything = [
        one.clone(),
        get(format!("/api/v1/jobs/{job}/events")).await,
        get("/api/v1/jobs".to_owned()).await,
    ]
    .join("\n");
    (serde_json::from_str(&one).expect("job"), everything)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_to_this_machine_a_private_network_or_over_http_is_refused_when_added() {
    let app = TestApp::spawn_configured(Backend::Sqlite, STRICT_WEBHOOKS)
        .await
        .expect("app");
    let alex = app.signed_in("alex").await.expect("admin");
    for url in [
        "http://127.0.0.1:22/",
        "https://127.0.0.1:22/",
        "https://[::ffff:127.0.0.1]:22/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/hook",
        "https://100.64.0.1/hook",
        "https://[fd00::1]/hook",
        "https://localhost:8443/hook",
        "http://hooks.example.com/services/T0/B0/plain",
    ] {
        let res = alex
            .post(app.url("/api/v1/webhooks"))
            .json(&json!({ "name": "probe", "url": url }))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{url}");
        let body = json_of(res).await;
        assert_eq!(body["fields"][0]["field"], "url", "{url}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("https://") || message.contains("private network"),
            "{url}: {body}"
        );
    }
    let listed = json_of(
        alex.get(app.url("/api/v1/webhooks"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(listed, json!([]), "nothing was added");

    // A public https receiver is added; past this answer its path (Slack's secret) is gone.
    let secret_path = "/services/T0001/B0002/XXXXsecretXXXX";
    let res = alex
        .post(app.url("/api/v1/webhooks"))
        .json(&json!({ "name": "Slack", "url": format!("https://hooks.slack.com{secret_path}") }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = json_of(res).await;
    assert_eq!(created["webhook"]["url"], "https://hooks.slack.com/…");
    let listed = alex
        .get(app.url("/api/v1/webhooks"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(listed.contains("https://hooks.slack.com/…"), "{listed}");
    assert!(!listed.contains("XXXXsecretXXXX"), "{listed}");
    let audit = audit_event::Entity::find()
        .all(app.conn())
        .await
        .expect("audit");
    let audit = format!("{audit:?}");
    assert!(
        audit.contains("hooks.slack.com"),
        "the audit names the host"
    );
    assert!(
        !audit.contains("XXXXsecretXXXX"),
        "the audit log never holds the URL's secret path"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_a_name_that_resolves_to_this_machine_never_connects() {
    // Added while the portal allowed private receivers (or before its name was pointed at
    // this machine); delivered under the real policy.
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    receiver.set_nonblocking(true).expect("nonblocking");
    let port = receiver.local_addr().expect("addr").port();
    let hook = add_webhook(&app, "Rebound", &format!("https://localhost:{port}/hook")).await;
    let job = deliver_once(&app, hook, WebhookPolicy::default()).await;

    let err = receiver.accept().expect_err("nobody connected");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    let (job, everything) = as_viewer_reads(&app, job).await;
    assert_eq!(
        job.state,
        app::domain::JobState::Failed,
        "not worth retrying"
    );
    assert_eq!(
        job.last_error.as_deref(),
        Some("Rebound: address not allowed")
    );
    assert!(!everything.contains("localhost"), "{everything}");
    assert!(!everything.contains(&port.to_string()), "{everything}");

    // A literal address is refused the same way, without any lookup.
    let hook = add_webhook(&app, "Metadata", "https://169.254.169.254/latest/").await;
    let job = deliver_once(&app, hook, WebhookPolicy::default()).await;
    let (job, everything) = as_viewer_reads(&app, job).await;
    assert_eq!(job.state, app::domain::JobState::Failed);
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("Metadata: address not allowed")),
        "{job:?}"
    );
    assert!(!everything.contains("169.254"), "{everything}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_records_what_went_wrong_and_nothing_of_the_url() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // A port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let hook = add_webhook(
        &app,
        "Closed",
        &format!("http://127.0.0.1:{port}/secret-token-path"),
    )
    .await;
    let job = deliver_once(&app, hook, app.state.webhooks).await;
    let (job, everything) = as_viewer_reads(&app, job).await;
    assert_eq!(
        job.last_error.as_deref(),
        Some("Closed: connection refused")
    );
    for internal in ["secret-token-path", "127.0.0.1", &port.to_string()] {
        assert!(!everything.contains(internal), "{internal} in {everything}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_may_hold_only_so_many_live_job_streams() {
    let app = TestApp::spawn_configured(Backend::Sqlite, &[("--event-streams-per-person", "2")])
        .await
        .expect("app");
    let job = Noop { n: 1 }
        .enqueue(app.conn(), app.clock.now(), None, None)
        .await
        .expect("queued");
    let stream = app.url(&format!("/api/v1/jobs/{}/stream", job.id));
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let open = || async { oskar.get(&stream).send().await.expect("sent") };
    let first = open().await;
    let second = open().await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let third = open().await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_of(third).await["code"], "too_many_requests");
    // Someone else has streams of their own.
    let maya = app.signed_in("maya").await.expect("maya");
    assert_eq!(
        maya.get(&stream).send().await.expect("sent").status(),
        StatusCode::OK
    );

    // The job ends, so does a stream, and its slot is free again.
    app.runner("w1").run_until_idle().await.expect("ran");
    let ended = first.text().await.expect("stream");
    assert!(ended.contains("event: end"), "{ended}");
    let again = open().await;
    assert_eq!(again.status(), StatusCode::OK);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_session_is_refused_a_large_body_before_it_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let path = app::rpc::CreateWebhook::PATH;
    // Announce a megabyte, send one kilobyte, and wait for the answer: it must come without
    // the rest of the body.
    let mut conn = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    conn.write_all(&[b'a'; 1024]).await.expect("some body");
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), conn.read(&mut answer))
        .await
        .expect("answered before the body was sent in full")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Signed in, the same size is the server function's to judge.
    let alex = app.signed_in("alex").await.expect("alex");
    let res = alex
        .post(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("input[name]={}", "a".repeat(64 * 1024)))
        .send()
        .await
        .expect("sent");
    assert_ne!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_ne!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_client_address() {
    let app = TestApp::spawn_configured(
        Backend::Sqlite,
        &[
            ("--sign-in-burst", "3"),
            ("--sign-in-period-seconds", "3600"),
        ],
    )
    .await
    .expect("app");
    for user in ["alex", "oskar", "maya"] {
        app.signed_in(user).await.expect("within the burst");
    }
    let res = app
        .browser()
        .post(app.url("/auth/dev"))
        .form(&[("username", "vic"), ("next", "/")])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body = json_of(res).await;
    assert_eq!(body["code"], "too_many_requests");
    // GitLab sign-in and its callback share the count.
    for path in ["/auth/gitlab", "/auth/gitlab/callback?code=x&state=y"] {
        let res = TestApp::client()
            .get(app.url(path))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    // Nothing else is limited.
    let health = TestApp::client()
        .get(app.url("/-/health"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(ErrorCode::TooManyRequests.http_status(), 429);
}
