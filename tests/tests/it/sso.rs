//! GitLab sign-in against a GitLab-compatible provider started by the test: the whole
//! OpenID Connect flow, and every way an answer can be wrong refused with no session.

use app::domain::Role;
use portal_tests::{
    Backend, TestApp,
    gitlab::{Forgery, Person},
};
use reqwest::{StatusCode, header};
use serde_json::Value;

fn people() -> Vec<Person> {
    let person = |id, username: &str, name: &str, groups: &[&str]| Person {
        id,
        username: username.into(),
        name: name.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        state: "active".into(),
    };
    vec![
        person(
            101,
            "dana",
            "Dana Builder",
            &["gitlab-org", "gitlab-org/distribution/build"],
        ),
        person(102, "pat", "Pat Alliances", &["gitlab-com/alliances"]),
        person(103, "sam", "Sam Elsewhere", &["some-other/group"]),
    ]
}

/// Where a redirect goes.
fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Starts a sign-in asking for `next` and walks to GitLab and back: answers the callback's
/// URL (not yet visited).
async fn to_gitlab_and_back(app: &TestApp, client: &reqwest::Client, next: &str) -> String {
    let res = client
        .get(app.url(&format!(
            "/auth/gitlab?next={}",
            app::domain::percent_encode(next)
        )))
        .send()
        .await
        .expect("start");
    assert!(res.status().is_redirection(), "{}", res.status());
    let authorize = location(&res);
    let gitlab = app.gitlab.as_ref().expect("provider");
    assert!(authorize.starts_with(&format!("{}/oauth/authorize?", gitlab.url)));
    for part in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    let res = client.get(&authorize).send().await.expect("authorize");
    assert!(res.status().is_redirection(), "{}", res.status());
    let back = location(&res);
    assert!(
        back.starts_with(&app.url("/auth/gitlab/callback?")),
        "{back}"
    );
    back
}

async fn me(app: &TestApp, client: &reqwest::Client) -> (StatusCode, Value) {
    let res = client.get(app.url("/api/v1/me")).send().await.expect("me");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A callback that must be refused: a page saying why, no cookie, nobody signed in.
async fn refused(app: &TestApp, client: &reqwest::Client, callback: &str, expected: &str) {
    let res = client.get(callback).send().await.expect("callback");
    assert!(
        res.status().is_client_error() || res.status().is_server_error(),
        "{callback} answered {}",
        res.status()
    );
    assert!(
        res.headers().get(header::SET_COOKIE).is_none(),
        "no session"
    );
    let page = res.text().await.expect("page");
    assert!(page.contains("Sign-in with GitLab did not work"), "{page}");
    assert!(page.contains(expected), "'{expected}' in {page}");
    assert_eq!(me(app, client).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_gitlab_lands_on_the_page_asked_for_with_roles_from_groups() {
    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), true)
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    let client = app.browser();
    // Development sign-in is off.
    let res = client
        .post(app.url("/auth/dev"))
        .form(&[("username", "alex")])
        .send()
        .await
        .expect("dev");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let back = to_gitlab_and_back(&app, &client, "/releases?page=2").await;
    let res = client.get(&back).send().await.expect("callback");
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/releases?page=2");
    let cookie = res.headers()[header::SET_COOKIE].to_str().expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let (status, user) = me(&app, &client).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["username"], "dana");
    assert_eq!(user["name"], "Dana Builder");
    assert_eq!(
        user["roles"],
        serde_json::json!(["omnibus"]),
        "a subgroup of distribution"
    );

    // Roles follow the groups at every sign-in; the old session ends.
    gitlab.update("dana", |p| p.groups.push("gitlab-com/alliances".into()));
    let back = to_gitlab_and_back(&app, &client, "/").await;
    let old_cookie = cookie.split(';').next().unwrap_or_default().to_owned();
    let res = client.get(&back).send().await.expect("callback");
    assert!(res.status().is_redirection());
    let (_, user) = me(&app, &client).await;
    assert_eq!(
        user["roles"],
        serde_json::json!(["partnerships", "omnibus"])
    );
    let stale = TestApp::client()
        .get(app.url("/api/v1/me"))
        .header(header::COOKIE, old_cookie)
        .send()
        .await
        .expect("old session");
    assert_eq!(
        stale.status(),
        StatusCode::UNAUTHORIZED,
        "the session id was replaced"
    );

    // Someone in no mapped group is a viewer here.
    let other = app.browser();
    gitlab.sign_in_as("sam");
    let back = to_gitlab_and_back(&app, &other, "/").await;
    assert!(
        other
            .get(&back)
            .send()
            .await
            .expect("callback")
            .status()
            .is_redirection()
    );
    let (_, user) = me(&app, &other).await;
    assert_eq!(user["roles"], serde_json::json!(["viewer"]));
    let users = app::services::users::by_id(app.conn(), user["id"].as_i64().unwrap_or(0) as i32)
        .await
        .expect("user")
        .expect("exists");
    assert_eq!(users.roles, vec![Role::Viewer]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_badly_signed_answers_are_refused_with_no_session() {
    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), true)
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    let client = app.browser();

    // A state this portal never sent.
    refused(
        &app,
        &client,
        &app.url("/auth/gitlab/callback?code=code-1&state=forged"),
        "does not belong to a sign-in started here",
    )
    .await;

    // A replayed callback: the state is used up.
    let back = to_gitlab_and_back(&app, &client, "/").await;
    assert!(
        client
            .get(&back)
            .send()
            .await
            .expect("first")
            .status()
            .is_redirection()
    );
    let signed_out = app.browser();
    refused(&app, &signed_out, &back, "already used").await;
    // A replayed code under a fresh state: GitLab refuses it.
    let fresh = to_gitlab_and_back(&app, &signed_out, "/").await;
    let code = back
        .split("code=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .expect("code");
    let state = fresh
        .split("state=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("state");
    refused(
        &app,
        &signed_out,
        &app.url(&format!("/auth/gitlab/callback?code={code}&state={state}")),
        "refused the sign-in code",
    )
    .await;

    // ID tokens wrong in one way each.
    for (forgery, expected) in [
        (Forgery::WrongNonce, "did not check out"),
        (Forgery::BadSignature, "did not check out"),
        (Forgery::Expired, "did not check out"),
        (Forgery::WrongAudience, "did not check out"),
    ] {
        gitlab.forge(forgery);
        let client = app.browser();
        let back = to_gitlab_and_back(&app, &client, "/").await;
        refused(&app, &client, &back, expected).await;
    }
    gitlab.forge(Forgery::None);

    // An answer naming another issuer (RFC 9207 `iss`).
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    refused(
        &app,
        &client,
        &format!("{back}&iss=https%3A%2F%2Fevil.example"),
        "names the issuer https://evil.example",
    )
    .await;
    // The right `iss` is welcome.
    let back = to_gitlab_and_back(&app, &client, "/").await;
    let iss = app::domain::percent_encode(&gitlab.url);
    let res = client
        .get(format!("{back}&iss={iss}"))
        .send()
        .await
        .expect("callback");
    assert!(res.status().is_redirection(), "{}", res.status());

    // GitLab says no.
    refused(
        &app,
        &app.browser(),
        &app.url(
            "/auth/gitlab/callback?error=access_denied&error_description=The+user+denied+access",
        ),
        "The user denied access",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_and_unmapped_people_are_turned_away_and_next_stays_on_the_portal() {
    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), false)
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");

    // Another host as the place to return to: refused before anyone leaves for GitLab.
    for evil in [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
    ] {
        let client = app.browser();
        let res = client
            .get(app.url(&format!(
                "/auth/gitlab?next={}",
                app::domain::percent_encode(evil)
            )))
            .send()
            .await
            .expect("start");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{evil}");
        assert!(res.headers().get(header::SET_COOKIE).is_none());
        let page = res.text().await.expect("page");
        assert!(page.contains("only takes you to its own pages"), "{page}");
        assert_eq!(me(&app, &client).await.0, StatusCode::UNAUTHORIZED);
    }

    // Dana has signed in before.
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    assert!(
        client
            .get(&back)
            .send()
            .await
            .expect("callback")
            .status()
            .is_redirection()
    );

    // Blocked on GitLab.
    gitlab.update("dana", |p| p.state = "blocked".into());
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    refused(&app, &client, &back, "dana is blocked").await;
    gitlab.update("dana", |p| p.state = "active".into());

    // Blocked on the portal.
    app::services::users::set_blocked(app.conn(), "dana", true)
        .await
        .expect("block");
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    refused(&app, &client, &back, "blocked").await;

    // In no mapped group, with unmapped people refused.
    gitlab.sign_in_as("sam");
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    refused(&app, &client, &back, "in none of the GitLab groups").await;
}
