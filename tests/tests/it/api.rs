//! HTTP through the real router on a port of its own: the REST API, server functions,
//! sign-in, roles, errors and the operational endpoints.

use leptos::server_fn::ServerFn;
use portal_tests::{Backend, PNG_1X1, TestApp, backends};
use reqwest::{StatusCode, multipart};
use serde_json::{Value, json};

const USERS: [&str; 5] = ["priya", "oskar", "maya", "alex", "vic"];

fn partner_body(slug: &str) -> Value {
    json!({ "slug": slug, "name": format!("Partner {slug}"), "cloud": "other", "status": "prospect" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_api_answers_401_and_pages_send_you_to_sign_in() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = TestApp::client();
    let res = client
        .get(app.url("/api/v1/partners"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "unauthenticated");

    let res = client
        .get(app.url("/partners/aws?tab=1"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/sign-in?next=/partners/aws%3Ftab%3D1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_lands_on_the_page_asked_for_only_if_it_is_on_this_portal() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // Another site is refused with a page saying so, and nobody is signed in.
    for next in ["https://evil.example/", "//evil.example"] {
        let res = app
            .browser()
            .post(app.url("/auth/dev"))
            .form(&[("username", "vic"), ("next", next)])
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{next}");
        assert!(res.headers().get("set-cookie").is_none(), "{next}");
        assert!(
            res.text()
                .await
                .expect("page")
                .contains("only takes you to its own pages")
        );
    }
    for (next, expected) in [("/releases", "/releases"), ("/", "/")] {
        let client = app.browser();
        let res = client
            .post(app.url("/auth/dev"))
            .form(&[("username", "vic"), ("next", next)])
            .send()
            .await
            .expect("send");
        assert_eq!(res.headers()["location"], expected, "{next}");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
    }
    let res = app
        .browser()
        .post(app.url("/auth/dev"))
        .form(&[("username", "portal")])
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "the system user cannot sign in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("vic").await.expect("vic");
    assert_eq!(
        client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        StatusCode::OK
    );
    client
        .post(app.url("/auth/sign-out"))
        .send()
        .await
        .expect("sign out");
    assert_eq!(
        client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .expect("me")
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// One mutating route: who may call it, and how to call it as a given user.
struct Case {
    name: &'static str,
    allowed: &'static [&'static str],
}

async fn call(app: &TestApp, client: &reqwest::Client, case: &str, user: &str) -> StatusCode {
    let send =
        |req: reqwest::RequestBuilder| async move { req.send().await.expect("send").status() };
    match case {
        "create partner" => send(client.post(app.url("/api/v1/partners")).json(&partner_body(&format!("p-{user}")))).await,
        "update partner" => send(client.put(app.url("/api/v1/partners/google-cloud")).json(&json!({
            "slug": "google-cloud", "name": "Google Cloud", "cloud": "gcp", "status": "onboarding", "notes": format!("by {user}")
        })))
        .await,
        "add account" => send(client.post(app.url("/api/v1/partners/azure/accounts")).json(&json!({"label": "publisher", "account_id": user}))).await,
        "add contact" => send(client.post(app.url("/api/v1/partners/azure/contacts")).json(&json!({"role": "technical", "name": user, "email": format!("{user}@example.com")}))).await,
        "create product" => {
            let mut body: Value = client.get(app.url("/api/v1/products/aws/gitlab-ce")).send().await.expect("get").json().await.expect("json");
            body["partner"] = json!("aws");
            body["slug"] = json!(format!("ce-{user}"));
            body["edition"] = json!("ce");
            body["visibility"] = json!("public");
            body["maintenance_mode"] = json!("image");
            body["listing_entity_name"] = json!("");
            body["listing_entity_id"] = json!("");
            send(client.post(app.url("/api/v1/products")).json(&body)).await
        }
        "create release" => {
            let patch = USERS.iter().position(|u| *u == user).unwrap_or(0);
            send(client.post(app.url("/api/v1/releases")).json(&json!({"version": format!("18.0.{patch}"), "released_on": "2025-05-15", "kind": "patch"}))).await
        }
        "record image" => send(client.post(app.url("/api/v1/images")).json(&json!({
            "partner": "aws", "product": "gitlab-ee", "version": "17.6.0", "arch": "amd64", "state": "available", "regions": []
        })))
        .await,
        "record listing version" => send(client.post(app.url("/api/v1/listings/1/versions")).json(&json!({
            "title": format!("GitLab Premium test {user}"), "visibility": "restricted"
        })))
        .await,
        "upload asset" => {
            let form = multipart::Form::new()
                .text("partner", "aws")
                .text("kind", "logo")
                .text("title", format!("logo by {user}"))
                .part("file", multipart::Part::bytes(PNG_1X1.to_vec()).file_name("logo.png"));
            send(client.post(app.url("/api/v1/assets")).multipart(form)).await
        }
        "read audit" => send(client.get(app.url("/api/v1/audit"))).await,
        "save partner (server function)" => send(client.post(app.url(app::rpc::SavePartner::PATH)).form(&[
            ("original_slug", ""),
            ("input[slug]", &format!("sf-{user}")),
            ("input[name]", "Server function partner"),
            ("input[cloud]", "other"),
            ("input[status]", "prospect"),
            ("input[partner_docs_url]", ""),
            ("input[partnership_doc_url]", ""),
            ("input[notes]", ""),
        ]))
        .await,
        "create release (server function)" => {
            let patch = 10 + USERS.iter().position(|u| *u == user).unwrap_or(0);
            send(client.post(app.url(app::rpc::CreateRelease::PATH)).form(&[
                ("input[version]", format!("18.0.{patch}").as_str()),
                ("input[released_on]", "2025-05-15"),
                ("input[kind]", "patch"),
            ]))
            .await
        }
        "build release" => send(client.post(app.url("/api/v1/releases/17.6.0/build"))).await,
        "build release (server function)" => send(client.post(app.url(app::rpc::BuildRelease::PATH)).form(&[("version", "17.6.0")])).await,
        "list audit (server function)" => send(client.post(app.url(app::rpc::ListAudit::PATH)).form(&[("filter[page]", "1")])).await,
        "start first-time image" => send(client.post(app.url("/api/v1/workflows")).json(&json!({"partner": "azure"}))).await,
        "add holiday" | "add holiday (server function)" => {
            let n = USERS.iter().position(|u| *u == user).unwrap_or(0) + if case.ends_with(')') { 10 } else { 1 };
            let day = format!("2027-01-{n:02}");
            if case.ends_with(')') {
                send(client.post(app.url(app::rpc::AddHoliday::PATH)).form(&[("input[day]", day.as_str()), ("input[name]", "Company day")])).await
            } else {
                send(client.post(app.url("/api/v1/holidays")).json(&json!({"day": day, "name": "Company day"}))).await
            }
        }
        "list webhooks" => send(client.get(app.url("/api/v1/webhooks"))).await,
        "set listing policy" => send(client.put(app.url("/api/v1/listings/1/policy")).json(&json!({
            "publish_backports": false, "restrict_threshold": 90, "keep_recent_days": 30
        })))
        .await,
        "set quota" => send(client.put(app.url("/api/v1/public-images/quotas/us-east-1")).json(&json!({"quota": 50}))).await,
        "set retention policy" => send(client.put(app.url("/api/v1/products/aws/gitlab-ce/retention")).json(&json!({
            "keep_newest": 3, "support_days": 90, "action": "deprecate"
        })))
        .await,
        "set retention policy (server function)" => send(client.post(app.url(app::rpc::SetRetentionPolicy::PATH)).form(&[
            ("partner", "aws"),
            ("product", "gitlab-ee"),
            ("input[keep_newest]", "3"),
            ("input[support_days]", "90"),
            ("input[action]", "make_private"),
        ]))
        .await,
        "create token (server function)" => send(client.post(app.url(app::rpc::CreateApiToken::PATH)).form(&[
            ("input[name]", "from the page"),
            ("input[scopes][0]", "read"),
            ("input[expires_in_days]", "7"),
        ]))
        .await,
        "set listing policy (server function)" => send(client.post(app.url(app::rpc::SetListingPolicy::PATH)).form(&[
            ("listing_id", "1"),
            ("input[restrict_threshold]", "90"),
            ("input[keep_recent_days]", "30"),
        ]))
        .await,
        // Each may run one dry run of its own product (one open proposal per product).
        "retention dry run" => {
            let product = match user {
                "priya" => "gitlab-ce",
                "oskar" => "gitlab-ee",
                "alex" => "gitlab-ee-premium",
                _ => "gitlab-ce",
            };
            if user == "alex" {
                // Premium's images are private: only deregistering finds any past the policy.
                let res = client
                    .put(app.url("/api/v1/products/aws/gitlab-ee-premium/retention"))
                    .json(&json!({"keep_newest": 3, "support_days": 90, "action": "deregister"}))
                    .send()
                    .await
                    .expect("policy");
                assert!(res.status().is_success(), "{}", res.status());
            }
            send(client.post(app.url(&format!("/api/v1/products/aws/{product}/retention/dry-run")))).await
        }
        "create webhook" => send(client.post(app.url("/api/v1/webhooks")).json(&json!({
            "name": format!("hook of {user}"), "url": "https://hooks.example.com/portal"
        })))
        .await,
        "create token" => send(client.post(app.url("/api/v1/tokens")).json(&json!({
            "name": format!("{user}'s token"), "scopes": ["read"], "expires_in_days": 7
        })))
        .await,
        "save copy" => {
            let base = match client.get(app.url("/api/v1/listings/1/copy")).send().await {
                Ok(res) if res.status().is_success() => res.json::<Value>().await.expect("json")["head"]["id"].as_i64().unwrap_or(0),
                _ => 0,
            };
            send(client.post(app.url("/api/v1/listings/1/copy")).json(&json!({
                "base_revision": base, "title": format!("GitLab Premium by {user}"), "short_description": "Short.",
                "long_description": "Long.", "highlights": ["One"], "usage_instructions": "Use it.",
                "release_notes_template": "GitLab {version}", "categories": ["DevOps"]
            })))
            .await
        }
        other => panic!("no case {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_allowed_to_exactly_the_teams_that_own_it() {
    const CATALOGUE: &[&str] = &["priya", "oskar", "alex"];
    let cases = [
        Case {
            name: "create partner",
            allowed: CATALOGUE,
        },
        Case {
            name: "update partner",
            allowed: CATALOGUE,
        },
        Case {
            name: "add account",
            allowed: CATALOGUE,
        },
        Case {
            name: "add contact",
            allowed: CATALOGUE,
        },
        Case {
            name: "create product",
            allowed: CATALOGUE,
        },
        Case {
            name: "create release",
            allowed: &["oskar", "alex"],
        },
        Case {
            name: "record image",
            allowed: &["oskar", "alex"],
        },
        Case {
            name: "record listing version",
            allowed: CATALOGUE,
        },
        Case {
            name: "upload asset",
            allowed: &["maya", "alex"],
        },
        Case {
            name: "read audit",
            allowed: &["priya", "oskar", "maya", "alex"],
        },
        Case {
            name: "save partner (server function)",
            allowed: CATALOGUE,
        },
        Case {
            name: "create release (server function)",
            allowed: &["oskar", "alex"],
        },
        Case {
            name: "list audit (server function)",
            allowed: &["priya", "oskar", "maya", "alex"],
        },
        Case {
            name: "build release",
            allowed: &["oskar", "alex"],
        },
        Case {
            name: "build release (server function)",
            allowed: &["oskar", "alex"],
        },
        Case {
            name: "start first-time image",
            allowed: &["priya", "alex"],
        },
        Case {
            name: "add holiday",
            allowed: &["alex"],
        },
        Case {
            name: "add holiday (server function)",
            allowed: &["alex"],
        },
        Case {
            name: "list webhooks",
            allowed: &["alex"],
        },
        Case {
            name: "save copy",
            allowed: &["maya", "alex"],
        },
        Case {
            name: "set listing policy",
            allowed: CATALOGUE,
        },
        Case {
            name: "set quota",
            allowed: CATALOGUE,
        },
        Case {
            name: "set retention policy",
            allowed: CATALOGUE,
        },
        Case {
            name: "set retention policy (server function)",
            allowed: CATALOGUE,
        },
        Case {
            name: "create token",
            allowed: &USERS,
        },
        Case {
            name: "create token (server function)",
            allowed: &USERS,
        },
        Case {
            name: "set listing policy (server function)",
            allowed: CATALOGUE,
        },
        Case {
            name: "retention dry run",
            allowed: CATALOGUE,
        },
        Case {
            name: "create webhook",
            allowed: &["alex"],
        },
    ];
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let mut failures = Vec::new();
    for user in USERS {
        let client = app.signed_in(user).await.expect("sign in");
        for case in &cases {
            let status = call(&app, &client, case.name, user).await;
            let allowed = case.allowed.contains(&user);
            let ok = if allowed {
                status.is_success()
            } else {
                status == StatusCode::FORBIDDEN
            };
            if !ok {
                failures.push(format!(
                    "{user} → {}: {status} (allowed: {allowed})",
                    case.name
                ));
            }
        }
    }
    // Nobody anonymous changes anything either.
    let anonymous = TestApp::client();
    for case in &cases {
        let status = call(&app, &anonymous, case.name, "anonymous").await;
        if status != StatusCode::UNAUTHORIZED {
            failures.push(format!("anonymous → {}: {status}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_error_with_a_stable_code() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("alex").await.expect("alex");
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (client.post(app.url("/api/v1/partners")).header("content-type", "application/json").body("{\"slug\": "), StatusCode::BAD_REQUEST, "bad_request"),
        (client.post(app.url("/api/v1/partners")).json(&partner_body("aws")), StatusCode::CONFLICT, "conflict"),
        (client.post(app.url("/api/v1/releases")).json(&json!({"version": "seventeen", "released_on": "2024-01-01", "kind": "regular"})), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (client.get(app.url("/api/v1/partners/nope")), StatusCode::NOT_FOUND, "not_found"),
        (client.get(app.url("/api/v1/images/abc")), StatusCode::NOT_FOUND, "not_found"),
        (client.get(app.url("/api/v1/images/lookup?release=17.5.1&product=gitlab-ce&arch=sparc&region=us-east-1")), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (client.get(app.url("/api/v1/partners?page=x")), StatusCode::BAD_REQUEST, "bad_request"),
        (client.post(app.url("/api/v1/tasks/1/state")).json(&json!({"state": "finished"})), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (client.get(app.url("/api/v1/workflows/999999")), StatusCode::NOT_FOUND, "not_found"),
        (client.get(app.url("/api/v1/workflows?kind=other")), StatusCode::BAD_REQUEST, "bad_request"),
        (client.post(app.url("/api/v1/listings/1/copy")).json(&json!({"base_revision": 0, "title": "", "short_description": "", "long_description": "", "highlights": [], "usage_instructions": "", "release_notes_template": "", "categories": []})), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (client.get(app.url("/api/v1/audit?from=yesterday")), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (client.get(app.url("/api/v1/nothing-here")), StatusCode::NOT_FOUND, "not_found"),
    ];
    for (req, status, code) in cases {
        let res = req.send().await.expect("send");
        let url = res.url().to_string();
        assert_eq!(res.status(), status, "{url}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], code, "{url}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_policy_takes_json_numbers_and_refuses_a_number_in_a_string() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("oskar").await.expect("oskar");
    let put = |body: Value| {
        client
            .put(app.url("/api/v1/listings/1/policy"))
            .json(&body)
            .send()
    };
    let res =
        put(json!({"publish_backports": true, "restrict_threshold": 90, "keep_recent_days": 30}))
            .await
            .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let listing: Value = res.json().await.expect("json");
    assert_eq!(listing["restrict_threshold"], 90);
    assert_eq!(listing["keep_recent_days"], 30);
    assert_eq!(listing["publish_backports"], true);

    // A number in a string is the wrong JSON type: a bad request that names the field.
    let res = put(
        json!({"publish_backports": false, "restrict_threshold": "80", "keep_recent_days": 30}),
    )
    .await
    .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "bad_request", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("restrict_threshold") && message.contains("invalid type: string \"80\""),
        "{body}"
    );
    // A number out of range is still the service's field error.
    let res = put(json!({"restrict_threshold": 0, "keep_recent_days": 30}))
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "validation_failed", "{body}");
    assert_eq!(body["fields"][0]["field"], "restrict_threshold", "{body}");

    // Neither refusal changed anything.
    let listing: Value = client
        .get(app.url("/api/v1/listings/1"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(listing["restrict_threshold"], 90);
    assert_eq!(listing["publish_backports"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_and_oversize_uploads_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("maya").await.expect("maya");
    let upload = |bytes: Vec<u8>, name: &'static str| {
        let form = multipart::Form::new()
            .text("partner", "aws")
            .text("kind", "logo")
            .text("title", "hostile")
            .part("file", multipart::Part::bytes(bytes).file_name(name));
        client
            .post(app.url("/api/v1/assets"))
            .multipart(form)
            .send()
    };
    let script =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#
            .to_vec();
    let res = upload(script, "logo.svg").await.expect("send");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = upload(b"GIF89a not allowed".to_vec(), "logo.png")
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut big = PNG_1X1.to_vec();
    big.resize(10 * 1024 * 1024 + 1, 0);
    let res = upload(big, "big.png").await.expect("send");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "payload_too_large");

    let listed: Value = client
        .get(app.url("/api/v1/assets"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["total"], 0);
    let stored = std::fs::read_dir(app.data_dir.path().join("assets"))
        .expect("dir")
        .count();
    assert_eq!(stored, 0, "no bytes kept for refused uploads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_logo_is_served_back_with_its_type_and_a_sandbox() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("maya").await.expect("maya");
    let form = multipart::Form::new()
        .text("partner", "aws")
        .text("product", "gitlab-ee")
        .text("kind", "logo")
        .text("title", "GitLab logo")
        .part(
            "file",
            multipart::Part::bytes(PNG_1X1.to_vec()).file_name("logo.png"),
        );
    let res = client
        .post(app.url("/api/v1/assets"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), StatusCode::CREATED);
    let asset: Value = res.json().await.expect("json");
    let url = asset["versions"][0]["url"].as_str().expect("url");
    let file = client.get(app.url(url)).send().await.expect("file");
    assert_eq!(file.headers()["content-type"], "image/png");
    assert!(
        file.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), PNG_1X1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_lookup_answers_the_api() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await.expect("app");
        let client = app.signed_in("vic").await.expect("vic");
        let res = client
            .get(app.url("/api/v1/images/lookup?release=latest&product=gitlab-ce&arch=arm64&region=ap-northeast-3"))
            .send()
            .await
            .expect("lookup");
        assert_eq!(res.status(), StatusCode::OK, "{backend:?}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["name"], "GitLab CE 17.6.0 (ARM64)");
        assert!(
            body["image_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("ami-"))
        );
        // Ultimate 17.6.0 is still building: no image to launch yet.
        let res = client
            .get(app.url("/api/v1/images/lookup?release=17.6.0&product=gitlab-ee-ultimate&arch=amd64&region=us-east-1"))
            .send()
            .await
            .expect("lookup");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paginated() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("vic").await.expect("vic");
    let page: Value = client
        .get(app.url("/api/v1/images?per_page=7&page=2"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 7);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(page["total"], 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_leaves_an_audit_event_with_before_and_after() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("priya").await.expect("priya");
    let body = json!({ "slug": "google-cloud", "name": "Google Cloud", "cloud": "gcp", "status": "onboarding" });
    assert_eq!(
        client
            .put(app.url("/api/v1/partners/google-cloud"))
            .json(&body)
            .send()
            .await
            .expect("put")
            .status(),
        StatusCode::OK
    );
    let events: Value = client
        .get(app.url("/api/v1/audit?object_type=partner&object_id=google-cloud"))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let latest = &events["items"][0];
    assert_eq!(latest["actor"], "priya");
    assert_eq!(latest["action"], "update");
    assert!(
        latest["before"]
            .as_str()
            .is_some_and(|b| b.contains("prospect"))
    );
    assert!(
        latest["after"]
            .as_str()
            .is_some_and(|a| a.contains("onboarding"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_routes() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let doc: Value = TestApp::client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    for path in [
        "/api/v1/partners",
        "/api/v1/images/lookup",
        "/api/v1/assets",
        "/api/v1/releases/{version}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["AppError"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_types_numbers_as_integers_and_lists_as_arrays() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let doc: Value = TestApp::client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    let schemas = &doc["components"]["schemas"];
    let field = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();
    for (schema, name) in [
        ("ListingPolicyInput", "restrict_threshold"),
        ("ListingPolicyInput", "keep_recent_days"),
        ("RetentionPolicyInput", "keep_newest"),
        ("RetentionPolicyInput", "support_days"),
        ("QuotaInput", "quota"),
        ("ApiTokenInput", "expires_in_days"),
    ] {
        assert_eq!(field(schema, name)["type"], "integer", "{schema}.{name}");
    }
    assert_eq!(
        field("ListingPolicyInput", "publish_backports")["type"],
        "boolean"
    );
    for (schema, name, items) in [
        ("CopyInput", "highlights", json!({"type": "string"})),
        ("CopyInput", "categories", json!({"type": "string"})),
        (
            "ApiTokenInput",
            "scopes",
            json!({"$ref": "#/components/schemas/TokenScope"}),
        ),
        (
            "WebhookInput",
            "events",
            json!({"$ref": "#/components/schemas/NotificationKind"}),
        ),
    ] {
        let f = field(schema, name);
        assert_eq!(f["type"], "array", "{schema}.{name}: {f}");
        assert_eq!(f["items"], items, "{schema}.{name}: {f}");
    }
    assert_eq!(
        field("RetentionPolicyInput", "action")["$ref"],
        "#/components/schemas/RetentionAction"
    );
    assert!(schemas["RetentionAction"]["enum"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = TestApp::client();
    assert_eq!(
        client
            .get(app.url("/-/health"))
            .send()
            .await
            .expect("health")
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client
            .get(app.url("/-/readiness"))
            .send()
            .await
            .expect("ready")
            .status(),
        StatusCode::OK
    );
    let metrics = client
        .get(app.url("/-/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("portal_catalogue_objects{kind=\"partners\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portal_http_requests_total{method=\"GET\",status=\"200\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_on_the_server_with_their_status() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("vic").await.expect("vic");
    for path in [
        "/",
        "/partners",
        "/partners/aws",
        "/products",
        "/products/aws/gitlab-ce",
        "/releases",
        "/listings",
        "/assets",
        "/lookup",
        "/search?q=ee",
    ] {
        let res = client.get(app.url(path)).send().await.expect("page");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.expect("html");
        assert!(
            html.contains("Partner Image Portal")
                && html.contains("rel=\"stylesheet\" href=\"/pkg/portal."),
            "{path}"
        );
    }
    let res = client
        .get(app.url("/partners/no-such-partner"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_copy_save_is_a_conflict_that_shows_both_versions() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.without_copy("GitLab Premium")
        .await
        .expect("the seeded copy removed");
    let maya = app.signed_in("maya").await.expect("maya");
    let body = |base: i64, title: &str| {
        json!({
            "base_revision": base, "title": title, "short_description": "Short.", "long_description": "# Long",
            "highlights": ["One", "Two"], "usage_instructions": "Use it.", "release_notes_template": "GitLab {version}", "categories": ["DevOps"]
        })
    };
    let first = maya
        .post(app.url("/api/v1/listings/1/copy"))
        .json(&body(0, "GitLab Premium"))
        .send()
        .await
        .expect("save");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let stale = maya
        .post(app.url("/api/v1/listings/1/copy"))
        .json(&body(0, "GitLab Premium, edited from an old page"))
        .send()
        .await
        .expect("save");
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let conflict: Value = stale.json().await.expect("json");
    assert_eq!(conflict["code"], "conflict");
    assert_eq!(
        conflict["yours"]["title"],
        "GitLab Premium, edited from an old page"
    );
    assert_eq!(conflict["theirs"]["id"], first["id"]);
    let copy: Value = maya
        .get(app.url("/api/v1/listings/1/copy"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        copy["revisions"].as_array().map(Vec::len),
        Some(1),
        "nothing overwritten"
    );
    let approved = maya
        .get(app.url("/api/v1/listings/1/copy/approved"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        approved.status(),
        StatusCode::NOT_FOUND,
        "nothing approved yet"
    );
}

/// A server function or route reached with an id or input that does not exist: those whose
/// role allows it get past the gate (and then a 404, 409 or 422), everyone else a 403.
async fn gate(app: &TestApp, client: &reqwest::Client, case: &str, user: &str) -> StatusCode {
    use app::rpc::*;
    use leptos::server_fn::ServerFn as _;
    let send =
        |req: reqwest::RequestBuilder| async move { req.send().await.expect("send").status() };
    let rpc = |path: &str, form: &[(&str, &str)]| client.post(app.url(path)).form(form);
    const NONE: &str = "999999";
    match case {
        "cancel job" => send(rpc(CancelJob::PATH, &[("id", NONE)])).await,
        "retry job" => send(rpc(RetryJob::PATH, &[("id", NONE)])).await,
        "cancel job (REST)" => send(client.post(app.url("/api/v1/jobs/999999/cancel"))).await,
        "retry job (REST)" => send(client.post(app.url("/api/v1/jobs/999999/retry"))).await,
        "rebuild image" => {
            send(rpc(
                RebuildImage::PATH,
                &[("id", NONE), ("reason", "security_fix"), ("note", "")],
            ))
            .await
        }
        "rebuild image (REST)" => {
            send(
                client
                    .post(app.url("/api/v1/images/999999/rebuild"))
                    .json(&json!({"reason": "security_fix"})),
            )
            .await
        }
        "build image" => {
            send(rpc(
                BuildImage::PATH,
                &[
                    ("partner", "aws"),
                    ("product", "nope"),
                    ("version", "17.6.0"),
                    ("arch", "amd64"),
                ],
            ))
            .await
        }
        "set license" => {
            send(rpc(
                SetProductLicense::PATH,
                &[("partner", "aws"), ("product", "nope"), ("license", "x")],
            ))
            .await
        }
        "delete license" => {
            send(rpc(
                DeleteProductLicense::PATH,
                &[("partner", "aws"), ("product", "nope")],
            ))
            .await
        }
        "set license (REST)" => {
            send(
                client
                    .put(app.url("/api/v1/products/aws/nope/license"))
                    .json(&json!({"license": "x"})),
            )
            .await
        }
        "start first-time image" => {
            send(rpc(
                StartFirstTimeImage::PATH,
                &[("input[partner]", "nope"), ("input[product]", "")],
            ))
            .await
        }
        "approve launch" => send(rpc(ApproveLaunch::PATH, &[("id", NONE)])).await,
        "approve launch (REST)" => {
            send(client.post(app.url("/api/v1/workflows/999999/launch"))).await
        }
        // Each signs for their own team.
        "sign off" => {
            let team = match user {
                "priya" => "partnerships",
                "maya" => "marketing",
                _ => "omnibus",
            };
            send(rpc(
                SignOffLaunch::PATH,
                &[("id", NONE), ("input[team]", team), ("input[comment]", "")],
            ))
            .await
        }
        "set task state" => {
            send(rpc(
                SetTaskState::PATH,
                &[
                    ("id", NONE),
                    ("input[state]", "done"),
                    ("input[response_due_on]", ""),
                ],
            ))
            .await
        }
        "assign task" => {
            send(rpc(
                AssignTask::PATH,
                &[
                    ("id", NONE),
                    ("input[assignee]", "oskar"),
                    ("input[due_on]", ""),
                ],
            ))
            .await
        }
        "comment on task" => {
            send(rpc(CommentOnTask::PATH, &[("id", NONE), ("body", "hello")])).await
        }
        "add task link" => {
            send(rpc(
                AddTaskLink::PATH,
                &[
                    ("id", NONE),
                    ("input[label]", "x"),
                    ("input[url]", "https://example.com"),
                ],
            ))
            .await
        }
        "delete holiday" => send(rpc(DeleteHoliday::PATH, &[("id", NONE)])).await,
        "delete holiday (REST)" => send(client.delete(app.url("/api/v1/holidays/999999"))).await,
        "delete webhook" => send(rpc(DeleteWebhook::PATH, &[("id", NONE)])).await,
        "test webhook" => send(rpc(TestWebhook::PATH, &[("id", NONE)])).await,
        "delete webhook (REST)" => send(client.delete(app.url("/api/v1/webhooks/999999"))).await,
        "publish" => {
            send(rpc(
                PublishRelease::PATH,
                &[("listing_id", NONE), ("version", "latest")],
            ))
            .await
        }
        "publish (REST)" => {
            send(
                client
                    .post(app.url("/api/v1/listings/999999/publish"))
                    .json(&json!({"release": "latest"})),
            )
            .await
        }
        "cancel blocker" => send(rpc(CancelBlockerAndRetry::PATH, &[("job_id", NONE)])).await,
        "cancel blocker (REST)" => {
            send(client.post(app.url("/api/v1/jobs/999999/cancel-blocker"))).await
        }
        "propose restrictions" => {
            send(rpc(ProposeRestrictions::PATH, &[("listing_id", NONE)])).await
        }
        "propose restrictions (REST)" => {
            send(client.post(app.url("/api/v1/listings/999999/restrictions"))).await
        }
        "decide restrictions" => {
            send(rpc(
                DecideRestrictions::PATH,
                &[("proposal_id", NONE), ("approve", "true"), ("comment", "")],
            ))
            .await
        }
        "decide restrictions (REST)" => {
            send(
                client
                    .post(app.url("/api/v1/restrictions/999999/approve"))
                    .json(&json!({})),
            )
            .await
        }
        "decide retention" => {
            send(rpc(
                DecideRetention::PATH,
                &[("proposal_id", NONE), ("approve", "true"), ("comment", "")],
            ))
            .await
        }
        "decide retention (REST)" => {
            send(
                client
                    .post(app.url("/api/v1/retention/999999/approve"))
                    .json(&json!({})),
            )
            .await
        }
        "set quota" => {
            send(rpc(
                SetImageQuota::PATH,
                &[("region", "us-east-1"), ("input[quota]", "0")],
            ))
            .await
        }
        "set access role" => send(rpc(SetAccessRole::PATH, &[("value", "")])).await,
        "access role (REST)" => {
            send(client.get(app.url("/api/v1/settings/marketplace-access-role"))).await
        }
        "request copy approval" => {
            send(rpc(
                RequestCopyApproval::PATH,
                &[
                    ("listing_id", NONE),
                    ("input[revision]", "1"),
                    ("input[comment]", ""),
                ],
            ))
            .await
        }
        "add account" => {
            send(rpc(
                AddPartnerAccount::PATH,
                &[
                    ("partner", "nope"),
                    ("input[label]", "x"),
                    ("input[account_id]", "1"),
                    ("input[notes]", ""),
                ],
            ))
            .await
        }
        "revoke token" => send(rpc(RevokeApiToken::PATH, &[("id", NONE)])).await,
        "revoke token (REST)" => send(client.delete(app.url("/api/v1/tokens/999999"))).await,
        "approve copy" => {
            send(rpc(
                ApproveCopy::PATH,
                &[
                    ("listing_id", NONE),
                    ("input[revision]", "1"),
                    ("input[comment]", ""),
                ],
            ))
            .await
        }
        "reject copy" => {
            send(rpc(
                RejectCopy::PATH,
                &[
                    ("listing_id", NONE),
                    ("input[revision]", "1"),
                    ("input[comment]", "no"),
                ],
            ))
            .await
        }
        "set delivery (REST)" => {
            send(
                client
                    .put(app.url("/api/v1/products/aws/nope/delivery"))
                    .json(&json!({
                        "recommended_instance_type": "c5.2xlarge", "os_name": "UBUNTU", "os_version": "24.04",
                        "user_name": "ubuntu", "security_groups": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}]
                    })),
            )
            .await
        }
        "mark copy for publishing (REST)" => {
            send(
                client
                    .post(app.url("/api/v1/listings/999999/copy/mark-for-publishing"))
                    .json(&json!({"revision": 1})),
            )
            .await
        }
        "mark copy for publishing" => {
            send(rpc(
                MarkCopyForPublishing::PATH,
                &[
                    ("listing_id", NONE),
                    ("input[revision]", "1"),
                    ("input[comment]", ""),
                ],
            ))
            .await
        }
        "add contact" => {
            send(rpc(
                AddPartnerContact::PATH,
                &[
                    ("partner", "nope"),
                    ("input[role]", "technical"),
                    ("input[name]", "x"),
                    ("input[email]", "x@example.com"),
                ],
            ))
            .await
        }
        "create webhook" => {
            send(rpc(
                CreateWebhook::PATH,
                &[("input[name]", ""), ("input[url]", "")],
            ))
            .await
        }
        "retention dry run" => {
            send(rpc(
                RetentionDryRun::PATH,
                &[("partner", "aws"), ("product", "nope")],
            ))
            .await
        }
        "link asset" => {
            send(rpc(
                LinkAsset::PATH,
                &[
                    ("asset_id", NONE),
                    ("target[listing_id]", "1"),
                    ("target[task_id]", ""),
                ],
            ))
            .await
        }
        "unlink asset" => {
            send(rpc(UnlinkAsset::PATH, &[("asset_id", NONE), ("link_id", "1")])).await
        }
        "set delivery (server function)" => {
            send(rpc(
                SetProductDelivery::PATH,
                &[
                    ("partner", "aws"),
                    ("product", "nope"),
                    ("form[recommended_instance_type]", "c5.2xlarge"),
                    ("form[os_name]", "UBUNTU"),
                    ("form[os_version]", "24.04"),
                    ("form[user_name]", "ubuntu"),
                    ("form[security_groups]", "tcp 22 0.0.0.0/0"),
                ],
            ))
            .await
        }
        "mark notifications read" => send(rpc(MarkNotificationsRead::PATH, &[("id", "0")])).await,
        other => panic!("no gate {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_change_turns_away_exactly_the_teams_that_do_not_own_it() {
    const JOBS: &[&str] = &["oskar", "alex"];
    const CATALOGUE: &[&str] = &["priya", "oskar", "alex"];
    const WORKFLOWS: &[&str] = &["priya", "alex"];
    const TASKS: &[&str] = &["priya", "oskar", "maya", "alex"];
    const ADMIN: &[&str] = &["alex"];
    let gates: &[(&str, &[&str])] = &[
        ("cancel job", JOBS),
        ("retry job", JOBS),
        ("cancel job (REST)", JOBS),
        ("retry job (REST)", JOBS),
        ("build image", JOBS),
        ("rebuild image", JOBS),
        ("rebuild image (REST)", JOBS),
        ("set license", JOBS),
        ("delete license", JOBS),
        ("set license (REST)", JOBS),
        ("start first-time image", WORKFLOWS),
        ("approve launch", WORKFLOWS),
        ("approve launch (REST)", WORKFLOWS),
        // A member of the team signs; an admin is not one.
        ("sign off", &["priya", "oskar", "maya"]),
        ("set task state", TASKS),
        ("assign task", TASKS),
        ("comment on task", TASKS),
        ("add task link", TASKS),
        ("delete holiday", ADMIN),
        ("delete holiday (REST)", ADMIN),
        ("delete webhook", ADMIN),
        ("test webhook", ADMIN),
        ("delete webhook (REST)", ADMIN),
        ("publish", JOBS),
        ("publish (REST)", JOBS),
        ("cancel blocker", JOBS),
        ("cancel blocker (REST)", JOBS),
        ("propose restrictions", CATALOGUE),
        ("propose restrictions (REST)", CATALOGUE),
        // Partnerships alone decides what leaves the marketplace or the public images.
        ("decide restrictions", &["priya"]),
        ("decide restrictions (REST)", &["priya"]),
        ("decide retention", &["priya"]),
        ("decide retention (REST)", &["priya"]),
        ("set quota", CATALOGUE),
        ("set access role", ADMIN),
        ("access role (REST)", ADMIN),
        ("request copy approval", &["maya", "alex"]),
        ("add account", CATALOGUE),
        ("revoke token", &USERS),
        // Partnerships then Omnibus approve copy; an admin may stand in.
        ("approve copy", &["priya", "oskar", "alex"]),
        ("reject copy", &["priya", "oskar", "alex"]),
        // Marketing owns the copy; Partnerships launches it.
        ("mark copy for publishing", &["priya", "maya", "alex"]),
        (
            "mark copy for publishing (REST)",
            &["priya", "maya", "alex"],
        ),
        ("set delivery (REST)", CATALOGUE),
        ("add contact", CATALOGUE),
        ("link asset", &["maya", "alex"]),
        ("unlink asset", &["maya", "alex"]),
        ("set delivery (server function)", CATALOGUE),
        ("create webhook", ADMIN),
        ("retention dry run", CATALOGUE),
        ("mark notifications read", &USERS),
        ("revoke token (REST)", &USERS),
    ];
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let mut failures = Vec::new();
    for user in USERS {
        let client = app.signed_in(user).await.expect("sign in");
        for (name, allowed) in gates {
            let status = gate(&app, &client, name, user).await;
            let allowed = allowed.contains(&user);
            let ok = if allowed {
                !matches!(status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED)
                    && !status.is_server_error()
            } else {
                status == StatusCode::FORBIDDEN
            };
            if !ok {
                failures.push(format!("{user} → {name}: {status} (allowed: {allowed})"));
            }
        }
    }
    let anonymous = TestApp::client();
    for (name, _) in gates {
        let status = gate(&app, &anonymous, name, "anonymous").await;
        if status != StatusCode::UNAUTHORIZED {
            failures.push(format!("anonymous → {name}: {status}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_function_called_with_arguments_that_do_not_parse_answers_400() {
    use leptos::server_fn::ServerFn as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("oskar").await.expect("oskar");
    let res = client
        .post(app.url(app::rpc::CancelJob::PATH))
        .form(&[("id", "not-a-number")])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_form_sends_numbers_and_lists_as_typed_and_gets_field_errors() {
    use leptos::server_fn::ServerFn as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let client = app.signed_in("maya").await.expect("maya");
    // A number the form's text field does not hold is that field's error, as the page shows it.
    let res = client
        .post(app.url(app::rpc::CreateApiToken::PATH))
        .form(&[
            ("input[name]", "from the page"),
            ("input[scopes][0]", "read"),
            ("input[expires_in_days]", "ninety"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["fields"][0]["field"], "expires_in_days", "{body}");
    // The copy editor's highlights one per line and categories separated by commas.
    app.without_copy("GitLab Premium")
        .await
        .expect("the seeded copy removed");
    let res = client
        .post(app.url(app::rpc::SaveCopy::PATH))
        .form(&[
            ("listing_id", "1"),
            ("input[base_revision]", "0"),
            ("input[title]", "GitLab Premium"),
            ("input[short_description]", "Short."),
            ("input[long_description]", "Long."),
            ("input[highlights]", "One\r\n\r\n Two "),
            ("input[usage_instructions]", "Use it."),
            (
                "input[release_notes_template]",
                "GitLab {version}: {notes_url}",
            ),
            ("input[categories]", "DevOps, Source Control"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let saved: Value = res.json().await.expect("json");
    assert_eq!(
        saved["revision"]["fields"]["highlights"],
        json!(["One", "Two"])
    );
    assert_eq!(
        saved["revision"]["fields"]["categories"],
        json!(["DevOps", "Source Control"])
    );
}
