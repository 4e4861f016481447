//! The security baseline: API tokens, the same-origin guard on everything that changes
//! state, and the security headers.

use app::{
    domain::TokenScope,
    dto::{ApiTokenCreated, ApiTokenInput},
    services::{Clock as _, entities::api_token, tokens},
};
use chrono::Duration;
use leptos::server_fn::ServerFn as _;
use portal_tests::{Backend, TestApp};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

async fn token(app: &TestApp, user: &str, scopes: &[TokenScope], days: i64) -> ApiTokenCreated {
    tokens::create(
        app.conn(),
        &app.user(user).await,
        app.clock.now(),
        &ApiTokenInput {
            name: format!("{user} automation"),
            scopes: scopes.to_vec(),
            expires_in_days: days,
        },
    )
    .await
    .expect("token")
}

/// Asserts a 403 whose message says `expected`.
async fn refused_saying(res: reqwest::Response, expected: &str) {
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(expected),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_works_within_its_scopes_until_it_expires_or_is_revoked() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let reader = token(&app, "oskar", &[TokenScope::Read], 30).await;
    assert!(reader.secret.starts_with("pip_"));
    // Only the hash is stored.
    let rows = api_token::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert!(!format!("{rows:?}").contains(&reader.secret));
    assert_eq!(rows[0].last_used_at, None);

    let client = TestApp::client();
    let bearer = |secret: &str| format!("Bearer {secret}");
    let res = client
        .get(app.url("/api/v1/partners"))
        .header("authorization", bearer(&reader.secret))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = client
        .get(app.url("/api/v1/me"))
        .header("authorization", bearer(&reader.secret))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "oskar");
    let rows = api_token::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    assert_eq!(rows[0].last_used_at, Some(app.clock.now()), "use recorded");

    // A read token cannot change anything, even with its owner's roles.
    let res = client
        .post(app.url("/api/v1/releases"))
        .header("authorization", bearer(&reader.secret))
        .json(&json!({"version": "17.7.0", "released_on": "2024-12-19", "kind": "regular"}))
        .send()
        .await
        .expect("send");
    refused_saying(res, "'write' scope").await;
    // A write token can; starting a build needs the jobs scope on top.
    let writer = token(&app, "oskar", &[TokenScope::Read, TokenScope::Write], 30).await;
    let res = client
        .post(app.url("/api/v1/releases"))
        .header("authorization", bearer(&writer.secret))
        .json(&json!({"version": "17.7.0", "released_on": "2024-12-19", "kind": "regular"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client
        .post(app.url("/api/v1/releases/17.7.0/build"))
        .header("authorization", bearer(&writer.secret))
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Tokens do not make tokens, and work only on the API.
    let res = client
        .post(app.url("/api/v1/tokens"))
        .header("authorization", bearer(&writer.secret))
        .json(&json!({"name": "more", "scopes": ["read"], "expires_in_days": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = client
        .get(app.url("/partners"))
        .header("authorization", bearer(&writer.secret))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Unknown, expired and revoked tokens get 401 with the reason.
    let status_and_message = |secret: String| {
        let client = client.clone();
        let url = app.url("/api/v1/partners");
        async move {
            let res = client
                .get(url)
                .header("authorization", format!("Bearer {secret}"))
                .send()
                .await
                .expect("send");
            let status = res.status();
            let body: Value = res.json().await.expect("json");
            (
                status,
                body["message"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (status, message) = status_and_message("pip_nonsense".into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message.contains("not known"), "{message}");

    let oskar = app.user("oskar").await;
    tokens::revoke(app.conn(), &oskar, app.clock.now(), writer.token.id)
        .await
        .expect("revoked");
    let (status, message) = status_and_message(writer.secret.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message.contains("revoked"), "{message}");
    // Nobody else revokes oskar's token (it does not exist for them).
    let err = tokens::revoke(
        app.conn(),
        &app.user("maya").await,
        app.clock.now(),
        reader.token.id,
    )
    .await
    .expect_err("not maya's");
    assert_eq!(err.code, app::error::ErrorCode::NotFound);

    app.clock.set(app.clock.now() + Duration::days(31));
    let (status, message) = status_and_message(reader.secret.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message.contains("expired"), "{message}");

    // Creating and revoking are audited.
    let audit = app::services::audit::list(
        app.conn(),
        &app.auditor(),
        &app::dto::AuditFilter {
            object_type: Some("api_token".into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit");
    let actions: Vec<&str> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["revoke_token", "create_token", "create_token"]);
    assert!(
        !format!("{audit:?}").contains(&reader.secret),
        "no secret in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_requests_are_refused_with_field_errors_and_write_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let err = tokens::create(
        app.conn(),
        &app.user("oskar").await,
        app.clock.now(),
        &ApiTokenInput {
            name: " ".into(),
            scopes: vec![],
            expires_in_days: 900,
        },
    )
    .await
    .expect_err("bad input");
    let mut fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["expires_in_days", "name", "scopes"]);
    assert!(
        api_token::Entity::find()
            .all(app.conn())
            .await
            .expect("rows")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_from_another_site_is_refused_and_the_same_one_from_the_portal_passes() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("oskar").await.expect("signed in");
    let release =
        |version: &str| json!({"version": version, "released_on": "2024-12-19", "kind": "regular"});
    // A form another site posts into the REST API with the session cookie.
    let res = client
        .post(app.url("/api/v1/releases"))
        .header("origin", "https://evil.example")
        .json(&release("17.7.0"))
        .send()
        .await
        .expect("send");
    refused_saying(res, "evil.example").await;
    // A server function, the same (the browser tests show they work from the portal).
    let res = client
        .post(app.url(app::rpc::MarkNotificationsRead::PATH))
        .header("origin", "https://evil.example")
        .form(&[("id", "0")])
        .send()
        .await
        .expect("send");
    refused_saying(res, "cross-site").await;
    // Signing someone in from another site (login CSRF) too.
    let res = TestApp::client()
        .post(app.url("/auth/dev"))
        .header("origin", "https://evil.example")
        .form(&[("username", "alex")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Without Origin or Referer nothing passes either.
    let bare = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let res = bare
        .post(app.url("/auth/dev"))
        .form(&[("username", "alex")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let releases = app::services::releases::list(
        app.conn(),
        app::dto::PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
    .expect("releases");
    assert!(
        releases.items.iter().all(|r| r.version != "17.7.0"),
        "nothing written"
    );

    // The same request from the portal's own page passes.
    let res = client
        .post(app.url("/api/v1/releases"))
        .json(&release("17.7.0"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = client
        .post(app.url("/api/v1/releases"))
        .header("origin", "null")
        .header("referer", app.url("/releases"))
        .json(&release("17.7.1"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED, "Referer stands in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_answers_carry_the_security_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("oskar").await.expect("signed in");
    let page = client.get(app.url("/partners")).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("csp");
    let html = page.text().await.expect("html");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "scripts carry it"
    );
    for part in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(
        !csp.contains("'unsafe-inline' 'wasm")
            && !csp.contains("script-src 'self' 'unsafe-inline'")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    // Another page gets another nonce.
    let again = client.get(app.url("/partners")).send().await.expect("page");
    assert_ne!(
        again.headers()["content-security-policy"]
            .to_str()
            .expect("csp"),
        csp
    );
    let api = client
        .get(app.url("/api/v1/partners"))
        .send()
        .await
        .expect("api");
    assert!(
        api.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_after_12_idle_hours_and_after_7_days_whatever_happens() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let me = |client: reqwest::Client| {
        let url = app.url("/api/v1/me");
        async move { client.get(url).send().await.expect("me").status() }
    };
    let idle = app.signed_in("oskar").await.expect("signed in");
    app.clock.set(app.clock.now() + Duration::hours(11));
    assert_eq!(
        me(idle.clone()).await,
        StatusCode::OK,
        "used within 12 hours"
    );
    app.clock
        .set(app.clock.now() + Duration::hours(12) + Duration::minutes(1));
    assert_eq!(me(idle).await, StatusCode::UNAUTHORIZED, "idle too long");

    let busy = app.signed_in("oskar").await.expect("signed in");
    for _ in 0..(7 * 24 / 6 - 1) {
        app.clock.set(app.clock.now() + Duration::hours(6));
        assert_eq!(me(busy.clone()).await, StatusCode::OK);
    }
    app.clock.set(app.clock.now() + Duration::hours(6));
    assert_eq!(me(busy).await, StatusCode::UNAUTHORIZED, "7 days at most");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marketplace_access_role_is_write_only_and_sealed_at_rest() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let role = "arn:aws:iam::210987654321:role/MarketplaceIngestionSecretName";
    let logged_before = portal_tests::captured_logs().len();
    let admin = app.signed_in("alex").await.expect("admin");
    let url = app.url("/api/v1/settings/marketplace-access-role");
    let res = admin
        .put(&url)
        .json(&json!({"value": "not-an-arn"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .put(&url)
        .json(&json!({"value": role}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .put(&url)
        .json(&json!({"value": role}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let state = admin
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        state.contains("\"set\":true") && state.contains("alex"),
        "{state}"
    );

    // The publish job reads it back; nothing a person sees does.
    let revealed = app::services::secrets::reveal(
        app.conn(),
        &app.state.secret_key,
        app::services::secrets::ACCESS_ROLE,
    )
    .await
    .expect("reveal")
    .expect("set");
    assert_eq!(revealed.expose(), role);
    let rows = app::services::entities::secret::Entity::find()
        .all(app.conn())
        .await
        .expect("rows");
    let mut seen = vec![
        ("the secrets table", format!("{rows:?}")),
        ("the settings answer", state),
    ];
    for path in [
        "/settings/webhooks",
        "/audit",
        "/api/v1/audit",
        "/api/v1/openapi.json",
    ] {
        let body = admin
            .get(app.url(path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        seen.push((path, body));
    }
    seen.push((
        "the logs",
        portal_tests::captured_logs()[logged_before..].to_owned(),
    ));
    for (place, text) in seen {
        assert!(
            !text.contains("MarketplaceIngestionSecretName"),
            "the role shows in {place}"
        );
    }

    let res = admin.delete(&url).send().await.expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let state = admin
        .get(&url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(state.contains("\"set\":false"), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_a_foreign_host_cannot_sign_in_or_read_anything() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let port = app.addr.port();
    let rebound = format!("rebind.attacker.example:{port}");
    let client = TestApp::client();
    // A page on a name the attacker points at 127.0.0.1 signs in with its own Host and Origin.
    let res = client
        .post(app.url("/auth/dev"))
        .header(reqwest::header::HOST, &rebound)
        .header(reqwest::header::ORIGIN, format!("http://{rebound}"))
        .form(&[("username", "alex"), ("next", "/")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers().get(reqwest::header::SET_COOKIE).is_none(),
        "no session for a foreign host"
    );
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "bad_request", "{body}");
    let res = client
        .get(app.url("/api/v1/me"))
        .header(reqwest::header::HOST, &rebound)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The portal's own loopback address (and `localhost`) still work for development sign-in.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let res = client
            .post(app.url("/auth/dev"))
            .header(reqwest::header::HOST, &host)
            .header(reqwest::header::ORIGIN, format!("http://{host}"))
            .form(&[("username", "alex"), ("next", "/")])
            .send()
            .await
            .expect("send");
        assert!(res.status().is_redirection(), "{host}: {}", res.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_scope_is_the_routes_not_how_its_path_ends() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = TestApp::client();
    let jobs_only = token(&app, "alex", &[TokenScope::Jobs], 30).await;
    let writer = token(&app, "alex", &[TokenScope::Write], 30).await;
    let bearer = |secret: &str| format!("Bearer {secret}");

    // The report: a jobs-only token changed a partner whose slug is `build`.
    let res = client
        .put(app.url("/api/v1/partners/build"))
        .header("authorization", bearer(&jobs_only.secret))
        .json(&json!({"slug": "build", "name": "Build", "cloud": "aws", "status": "live"}))
        .send()
        .await
        .expect("send");
    refused_saying(res, "lacks the 'write' scope").await;
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/products/aws/retry"),
        (reqwest::Method::PUT, "/api/v1/releases/publish"),
        (reqwest::Method::POST, "/api/v1/partners/aws/contacts"),
    ] {
        let res = client
            .request(method.clone(), app.url(path))
            .header("authorization", bearer(&jobs_only.secret))
            .json(&json!({}))
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    // Job routes take the jobs scope, and only those do.
    let res = client
        .post(app.url("/api/v1/jobs/999999/cancel"))
        .header("authorization", bearer(&jobs_only.secret))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "past the scope gate");
    let res = client
        .post(app.url("/api/v1/jobs/999999/cancel"))
        .header("authorization", bearer(&writer.secret))
        .send()
        .await
        .expect("send");
    refused_saying(res, "lacks the 'jobs' scope").await;
    // Reading needs read.
    let res = client
        .get(app.url("/api/v1/partners"))
        .header("authorization", bearer(&jobs_only.secret))
        .send()
        .await
        .expect("send");
    refused_saying(res, "lacks the 'read' scope").await;
}

/// The path patterns of every route of a router, as axum prints it (`Debug`): those of its
/// path router, not of its fallback.
fn paths_of(router: &axum::Router<app::services::AppState>) -> Vec<String> {
    let printed = format!("{router:?}");
    let routes = printed.split("fallback_router:").next().unwrap_or_default();
    let mut paths: Vec<String> = routes
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains("__private__"))
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// Walks every route of the API router: its paths from the router itself, the methods of
/// each from the `Allow` header of the router's own 405 (a method no route has, so no
/// handler runs), and holds each (method, route) to the scope table, and the table to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_has_a_token_scope() {
    use server::api::scopes::{PREFIX, ROUTE_SCOPES, scope_of};
    use std::collections::BTreeSet;

    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let router = server::api::router();
    let paths = paths_of(&router);
    assert!(
        paths.len() > 60,
        "the router's routes were not found: {paths:?}"
    );
    let api = axum::Router::new().nest(PREFIX, router.with_state(app.state.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, api).await });

    let client = reqwest::Client::new();
    let mut routes = BTreeSet::new();
    for path in &paths {
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let res = client
            .request(
                reqwest::Method::TRACE,
                format!("http://{addr}{PREFIX}{concrete}"),
            )
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        for method in allow.split(',').map(str::trim).filter(|m| *m != "HEAD") {
            let method = axum::http::Method::from_bytes(method.as_bytes()).expect("method");
            assert!(
                scope_of(&method, path).is_some(),
                "{method} {PREFIX}{path} has no token scope in server::api::scopes::ROUTE_SCOPES"
            );
            routes.insert((method.to_string(), path.clone()));
        }
    }
    server.abort();
    // And the table names nothing the router does not have.
    let table: BTreeSet<(String, String)> = ROUTE_SCOPES
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        table.difference(&routes).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in the scope table but not routes"
    );
    assert_eq!(routes.len(), ROUTE_SCOPES.len());
}

/// Signs `username` in on the portal at `origin` and gives back the session cookie, to send
/// to any process of the portal.
async fn session_cookie(origin: &str, username: &str) -> String {
    let res = TestApp::client()
        .post(format!("{origin}/auth/dev"))
        .header("origin", origin)
        .form(&[("username", username), ("next", "/")])
        .send()
        .await
        .expect("sign in");
    assert!(res.status().is_redirection(), "{}", res.status());
    let set = res.headers()["set-cookie"].to_str().expect("cookie");
    set.split(';').next().expect("name=value").to_owned()
}

/// `GET /api/v1/me` with a session cookie or a bearer token: the status and the roles.
async fn me_with(url: String, cookie: Option<&str>, bearer: Option<&str>) -> (StatusCode, Value) {
    let mut req = TestApp::client().get(url);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    if let Some(bearer) = bearer {
        req = req.bearer_auth(bearer);
    }
    let res = req.send().await.expect("me");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["roles"].clone())
}

/// Sessions and tokens are kept for a moment between requests. A sign-out, a block or a
/// role change holds from the next request on in the process that made it (its write drops
/// what is kept), and in another process sharing the database within
/// [`FRESH_FOR`](app::services::read_cache::FRESH_FOR), which the test shows by moving the
/// portals' clock that far rather than waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_a_block_and_a_role_change_hold_at_once_here_and_within_moments_elsewhere() {
    use app::{domain::Role, services::read_cache::FRESH_FOR, services::users};
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let other = app.another_process(&[]).await.expect("another process");
    let cookie = session_cookie(&app.url(""), "oskar").await;
    let bearer = token(&app, "oskar", &[TokenScope::Read], 30).await.secret;
    let (here, there) = (app.url("/api/v1/me"), other.url("/api/v1/me"));
    let both_ways = |url: String| {
        let (cookie, bearer) = (cookie.clone(), bearer.clone());
        async move {
            [
                me_with(url.clone(), Some(&cookie), None).await,
                me_with(url, None, Some(&bearer)).await,
            ]
        }
    };
    let moments_later = || {
        let by = chrono::Duration::from_std(FRESH_FOR).unwrap_or_default();
        app.clock.set(app.clock.now() + by);
    };
    let as_omnibus = (StatusCode::OK, json!(["omnibus"]));
    for url in [&here, &there] {
        // Twice: the second answer comes from what the first kept.
        for _ in 0..2 {
            assert_eq!(
                both_ways(url.clone()).await,
                [as_omnibus.clone(), as_omnibus.clone()]
            );
        }
    }

    // A role change through this process: it answers with the new roles at once, the
    // other within moments.
    users::upsert(
        app.conn(),
        app.clock.now(),
        "oskar",
        "Oskar Novak",
        "oskar@example.com",
        &[Role::Admin, Role::Omnibus],
    )
    .await
    .expect("roles changed");
    let both = (StatusCode::OK, json!(["omnibus", "admin"]));
    assert_eq!(
        both_ways(here.clone()).await,
        [both.clone(), both.clone()],
        "roles follow at once where they changed"
    );
    moments_later();
    assert_eq!(
        both_ways(there.clone()).await,
        [both.clone(), both.clone()],
        "and within moments elsewhere"
    );

    // Blocked: neither the session nor the token works here at once, nor there within
    // moments; unblocked, both work again.
    users::set_blocked(app.conn(), "oskar", true)
        .await
        .expect("blocked");
    let statuses = |seen: [(StatusCode, Value); 2]| seen.map(|(s, _)| s);
    assert_eq!(
        statuses(both_ways(here.clone()).await),
        [StatusCode::UNAUTHORIZED; 2],
        "blocked at once"
    );
    moments_later();
    assert_eq!(
        statuses(both_ways(there.clone()).await),
        [StatusCode::UNAUTHORIZED; 2],
        "blocked within moments elsewhere"
    );
    users::set_blocked(app.conn(), "oskar", false)
        .await
        .expect("unblocked");
    moments_later();
    for url in [&here, &there] {
        assert_eq!(both_ways(url.clone()).await, [both.clone(), both.clone()]);
    }

    // Signing out on the other process ends the session there at once, and here within
    // moments.
    let res = TestApp::client()
        .post(other.url("/auth/sign-out"))
        .header("cookie", &cookie)
        .header("origin", other.url(""))
        .send()
        .await
        .expect("sign out");
    assert!(res.status().is_redirection(), "{}", res.status());
    let signed_out = |url: String| {
        let cookie = cookie.clone();
        async move { me_with(url, Some(&cookie), None).await.0 }
    };
    assert_eq!(
        signed_out(there.clone()).await,
        StatusCode::UNAUTHORIZED,
        "signed out at once where it was done"
    );
    moments_later();
    assert_eq!(
        signed_out(here.clone()).await,
        StatusCode::UNAUTHORIZED,
        "and within moments everywhere"
    );
}

/// A kept session or token is never used past the moment it runs out: its idle limit, its
/// expiry, however long the portal keeps what it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_session_or_token_is_not_used_past_its_limits() {
    use app::services::users::SESSION_IDLE;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // Kept for two days, longer than a session may idle and than the token lives.
    app.state
        .reads
        .keep_for(std::time::Duration::from_secs(48 * 3600));
    let cookie = session_cookie(&app.url(""), "oskar").await;
    let bearer = token(&app, "oskar", &[TokenScope::Read], 1).await.secret;
    let me = app.url("/api/v1/me");
    // Each twice: the token's first use records it (a write, which drops what was kept),
    // so the second reads are what is kept.
    for _ in 0..2 {
        assert_eq!(
            me_with(me.clone(), None, Some(&bearer)).await.0,
            StatusCode::OK
        );
        assert_eq!(
            me_with(me.clone(), Some(&cookie), None).await.0,
            StatusCode::OK
        );
    }
    // A day on: past the token's expiry and the session's idle limit.
    app.clock
        .set(app.clock.now() + chrono::Duration::days(1) + chrono::Duration::seconds(1));
    assert!(chrono::Duration::days(1) > SESSION_IDLE);
    assert_eq!(
        me_with(me.clone(), None, Some(&bearer)).await.0,
        StatusCode::UNAUTHORIZED,
        "the token expired"
    );
    assert_eq!(
        me_with(me, Some(&cookie), None).await.0,
        StatusCode::UNAUTHORIZED,
        "the session idled out"
    );
}

/// Counts the statements run on a connection of the test's own.
async fn counting_connection(
    url: &str,
) -> (
    sea_orm::DatabaseConnection,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let mut conn = sea_orm::Database::connect(url).await.expect("connect");
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    conn.set_metric_callback(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    (conn, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_or_a_token_with_its_person_and_roles_is_read_with_one_statement() {
    use std::sync::atomic::Ordering;

    use app::{
        domain::Role,
        services::{users, users::SESSION_IDLE},
    };
    portal_tests::each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let now = app.clock.now();
        // Two roles (two rows of the join), and none (a row without a role: a viewer).
        users::upsert(
            app.conn(),
            now,
            "oskar",
            "Oskar Novak",
            "oskar@example.com",
            &[Role::Admin, Role::Omnibus],
        )
        .await
        .expect("two roles");
        users::upsert(
            app.conn(),
            now,
            "nora",
            "Nora None",
            "nora@example.com",
            &[],
        )
        .await
        .expect("no role");
        let (conn, count) = counting_connection(&app.db.url).await;
        let statements = |count: &std::sync::atomic::AtomicUsize| count.swap(0, Ordering::SeqCst);

        for (who, roles) in [
            ("oskar", vec![Role::Omnibus, Role::Admin]),
            ("nora", vec![Role::Viewer]),
        ] {
            let (session, _) = users::sign_in(app.conn(), now, who)
                .await
                .expect("signed in");
            statements(&count);
            let user = users::resolve_session(&conn, now, &session)
                .await
                .expect("resolved")
                .expect("alive");
            assert_eq!((user.username.as_str(), &user.roles), (who, &roles));
            assert_eq!(statements(&count), 1, "{who}'s session: one statement");
            // The idle clock is refreshed at most once a minute, with one more statement.
            let later = now + Duration::minutes(2);
            users::resolve_session(&conn, later, &session)
                .await
                .expect("resolved")
                .expect("alive");
            assert_eq!(statements(&count), 2, "read and touched");
            users::resolve_session(&conn, later + Duration::seconds(30), &session)
                .await
                .expect("resolved")
                .expect("alive");
            assert_eq!(statements(&count), 1, "touched a minute ago");
            // Touched, so it lives on past twelve hours from its start.
            let touched = later + SESSION_IDLE - Duration::minutes(1);
            assert!(
                users::resolve_session(&conn, touched, &session)
                    .await
                    .expect("resolved")
                    .is_some()
            );
            statements(&count);

            let secret = token(&app, who, &[TokenScope::Read], 30).await.secret;
            let (user, scopes) = tokens::authenticate(&conn, now, &secret)
                .await
                .expect("read")
                .expect("accepted");
            assert_eq!((user.username.as_str(), &user.roles), (who, &roles));
            assert_eq!(scopes, [TokenScope::Read]);
            assert_eq!(statements(&count), 2, "read, and its first use recorded");
            tokens::authenticate(&conn, now + Duration::seconds(59), &secret)
                .await
                .expect("read")
                .expect("accepted");
            assert_eq!(statements(&count), 1, "{who}'s token: one statement");
        }
        // Unknown, blocked: one statement each, and nobody.
        assert!(
            users::resolve_session(&conn, now, "no-such-session")
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(statements(&count), 1);
        let (session, _) = users::sign_in(app.conn(), now, "nora").await.expect("in");
        users::set_blocked(app.conn(), "nora", true)
            .await
            .expect("blocked");
        statements(&count);
        assert!(
            users::resolve_session(&conn, now, &session)
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(statements(&count), 1);
    })
    .await;
}
