//! GitLab sign-in against a GitLab-compatible provider started by the test: the whole
//! OpenID Connect flow, and every way an answer can be wrong refused with no session; the
//! attempt bound to the browser that started it; people known by GitLab's user id; and
//! their groups and account state checked again while they stay signed in.

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
    started(app, client, next).await.0
}

/// Like [`to_gitlab_and_back`], also answering the sign-in cookie (`name=value`) the
/// browser was given, after checking what it looks like.
async fn started(app: &TestApp, client: &reqwest::Client, next: &str) -> (String, String) {
    let res = client
        .get(app.url(&format!(
            "/auth/gitlab?next={}",
            app::domain::percent_encode(next)
        )))
        .send()
        .await
        .expect("start");
    assert!(res.status().is_redirection(), "{}", res.status());
    let binding = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portal_sign_in="))
        .expect("the attempt is bound to this browser")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Lax", "Path=/auth", "Max-Age=600"] {
        assert!(binding.contains(part), "{part} in {binding}");
    }
    let binding = binding.split(';').next().unwrap_or_default().to_owned();
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
    (back, binding)
}

/// Signs `client` in as whoever the fake GitLab signs in next; answers `/api/v1/me`.
async fn signs_in(app: &TestApp, client: &reqwest::Client) -> Value {
    let back = to_gitlab_and_back(app, client, "/").await;
    let res = client.get(&back).send().await.expect("callback");
    assert!(res.status().is_redirection(), "{}", res.status());
    let (status, user) = me(app, client).await;
    assert_eq!(status, StatusCode::OK);
    user
}

/// A fresh API token of the signed-in `client`, with the read scope.
async fn api_token(app: &TestApp, client: &reqwest::Client) -> String {
    let res = client
        .post(app.url("/api/v1/tokens"))
        .json(&serde_json::json!({"name": "automation", "scopes": ["read"], "expires_in_days": 30}))
        .send()
        .await
        .expect("create token");
    assert_eq!(res.status(), StatusCode::CREATED, "token");
    let created: Value = res.json().await.expect("json");
    created["secret"].as_str().expect("secret").to_owned()
}

/// `/api/v1/me` with an API token.
async fn me_by_token(app: &TestApp, secret: &str) -> (StatusCode, Value) {
    let res = TestApp::client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("me");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Sets a cookie on the callback's answer (other than clearing one).
fn sets_cookie(res: &reqwest::Response, name: &str) -> bool {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with(&format!("{name}=")) && !c.contains("Max-Age=0"))
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
    assert!(!sets_cookie(&res, "portal_session"), "no session");
    if callback.contains("/auth/gitlab/callback") {
        assert!(
            res.headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|c| c.starts_with("portal_sign_in=;") && c.contains("Max-Age=0")),
            "the sign-in cookie is cleared"
        );
    }
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
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portal_session="))
        .expect("session cookie");
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

    // A state this portal never sent, in a browser that started a sign-in.
    to_gitlab_and_back(&app, &client, "/").await;
    refused(
        &app,
        &client,
        &app.url("/auth/gitlab/callback?code=code-1&state=forged"),
        "does not belong to a sign-in started here",
    )
    .await;

    // A replayed callback, even with the browser's sign-in cookie: the state is used up.
    let (back, binding) = started(&app, &client, "/").await;
    assert!(
        client
            .get(&back)
            .send()
            .await
            .expect("first")
            .status()
            .is_redirection()
    );
    let replay = TestApp::client()
        .get(&back)
        .header(header::COOKIE, &binding)
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(!sets_cookie(&replay, "portal_session"), "no session");
    assert!(replay.text().await.expect("page").contains("already used"));
    let signed_out = app.browser();
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

/// A person on the fake GitLab.
fn someone(id: u64, username: &str, groups: &[&str]) -> Person {
    Person {
        id,
        username: username.into(),
        name: format!("{username} on GitLab"),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        state: "active".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_answer_opened_in_another_browser_signs_nobody_in() {
    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), true)
        .await
        .expect("app");
    // Someone starts a sign-in as themselves and sends the answer's link to a victim.
    let attacker = app.browser();
    let (lure, _) = started(&app, &attacker, "/partners").await;
    let victim = app.browser();
    refused(&app, &victim, &lure, "not started in this browser").await;
    // A victim with a sign-in of their own under way is not signed in as them either.
    let victim = app.browser();
    let (own, _) = started(&app, &victim, "/").await;
    let (lure, _) = started(&app, &attacker, "/").await;
    refused(&app, &victim, &lure, "not started in this browser").await;
    // The victim's own attempt was not spent by the lure; its cookie was cleared, though,
    // so it starts again.
    refused(&app, &victim, &own, "not started in this browser").await;
    let user = signs_in(&app, &victim).await;
    assert_eq!(user["username"], "dana");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlabs_discovery_is_fetched_once_and_kept_for_its_time() {
    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), true)
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    assert_eq!(gitlab.discovery_fetches(), (0, 0));
    signs_in(&app, &app.browser()).await;
    gitlab.sign_in_as("pat");
    signs_in(&app, &app.browser()).await;
    assert_eq!(
        gitlab.discovery_fetches(),
        (1, 1),
        "two sign-ins, one discovery and one key set"
    );
    // An ID token that does not check out with the kept keys fetches them once more (GitLab
    // may have rotated them), and is refused all the same.
    gitlab.forge(Forgery::BadSignature);
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    refused(&app, &client, &back, "did not check out").await;
    assert_eq!(gitlab.discovery_fetches(), (2, 2));
    gitlab.forge(Forgery::None);
    signs_in(&app, &app.browser()).await;
    assert_eq!(gitlab.discovery_fetches(), (2, 2));
    // After PORTAL_GITLAB_DISCOVERY_MINUTES (60 by default) it is fetched again.
    app.clock
        .set(portal_tests::test_epoch() + chrono::Duration::minutes(61));
    signs_in(&app, &app.browser()).await;
    assert_eq!(gitlab.discovery_fetches(), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_known_by_their_gitlab_id_not_by_their_username() {
    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), true)
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    let dana_browser = app.browser();
    let dana = signs_in(&app, &dana_browser).await;
    let dana_token = api_token(&app, &dana_browser).await;

    // Dana renames herself on GitLab; someone else takes the name "dana".
    gitlab.update("dana", |p| p.username = "dana-b".into());
    gitlab.register(someone(201, "dana", &["gitlab-com/alliances"]));
    let newcomer = signs_in(&app, &app.browser()).await;
    assert_eq!(newcomer["username"], "dana");
    assert_ne!(newcomer["id"], dana["id"], "a new account, not Dana's");
    assert_eq!(newcomer["roles"], serde_json::json!(["partnerships"]));
    // Dana's account keeps its history and tokens under a name no GitLab user can have.
    let (status, by_token) = me_by_token(&app, &dana_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_token["id"], dana["id"]);
    assert_eq!(by_token["username"], format!("dana~{}", dana["id"]));

    // Dana signs in under her new name: her own account, renamed.
    gitlab.sign_in_as("dana-b");
    let again = signs_in(&app, &app.browser()).await;
    assert_eq!(again["id"], dana["id"]);
    assert_eq!(again["username"], "dana-b");
    assert_eq!(again["roles"], serde_json::json!(["omnibus"]));
    assert_eq!(me_by_token(&app, &dana_token).await.1["username"], "dana-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_user_named_like_the_portal_itself_is_refused_before_anything_changes() {
    use app::services::entities::user;
    use sea_orm::{EntityTrait as _, PaginatorTrait as _};

    let app = TestApp::spawn_gitlab(
        Backend::Sqlite,
        vec![
            someone(666, "portal", &["gitlab-com/partner-image-portal-admins"]),
            someone(667, "System", &["gitlab-com/partner-image-portal-admins"]),
        ],
        true,
    )
    .await
    .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    let before = user::Entity::find().all(app.conn()).await.expect("users");
    let system = before
        .iter()
        .find(|u| u.username == app::services::users::SYSTEM_USERNAME)
        .expect("the seed made the portal's own account")
        .clone();
    for name in ["portal", "System"] {
        gitlab.sign_in_as(name);
        let client = app.browser();
        let back = to_gitlab_and_back(&app, &client, "/").await;
        refused(&app, &client, &back, "is reserved for the portal itself").await;
    }
    let after = user::Entity::find().all(app.conn()).await.expect("users");
    assert_eq!(after, before, "no account was written or changed");
    assert_eq!(
        user::Entity::find_by_id(system.id)
            .one(app.conn())
            .await
            .expect("read"),
        Some(system)
    );
    assert_eq!(
        user::Entity::find().count(app.conn()).await.expect("count"),
        before.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_from_before_gitlab_ids_goes_to_the_person_with_its_name_and_email() {
    use app::services::{Clock as _, entities::user};
    use sea_orm::{ActiveModelTrait as _, EntityTrait as _, Set};

    let app = TestApp::spawn_gitlab(Backend::Sqlite, people(), true)
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    // Accounts made by GitLab sign-in before GitLab ids were recorded.
    let legacy = |username: &str, email: &str| user::ActiveModel {
        username: Set(username.into()),
        name: Set(username.into()),
        email: Set(email.into()),
        blocked: Set(false),
        created_at: Set(app.clock.now()),
        ..Default::default()
    };
    let dana = legacy("dana", "dana@example.com")
        .insert(app.conn())
        .await
        .expect("dana");
    let pat = legacy("pat", "someone-else@example.com")
        .insert(app.conn())
        .await
        .expect("pat");
    // Until their owner signs in with GitLab, they cannot act.
    let user = app::domain::CurrentUser {
        id: dana.id,
        username: "dana".into(),
        name: "dana".into(),
        roles: vec![Role::Viewer],
    };
    let token = app::services::tokens::create(
        app.conn(),
        &user,
        app.clock.now(),
        &app::dto::ApiTokenInput {
            name: "old".into(),
            scopes: vec![app::domain::TokenScope::Read],
            expires_in_days: 30,
        },
    )
    .await
    .expect("token")
    .secret;
    let (status, answer) = me_by_token(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("must sign in with GitLab again")),
        "{answer}"
    );
    // Same username and email: the account is hers.
    let signed = signs_in(&app, &app.browser()).await;
    assert_eq!(signed["id"], dana.id);
    assert_eq!(me_by_token(&app, &token).await.0, StatusCode::OK);
    // Same username, another email: not the same person; the old account steps aside.
    gitlab.sign_in_as("pat");
    let signed = signs_in(&app, &app.browser()).await;
    assert_ne!(signed["id"], pat.id);
    let old = user::Entity::find_by_id(pat.id)
        .one(app.conn())
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(old.username, format!("pat~{}", pat.id));
    assert_eq!(old.gitlab_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_in_no_mapped_group_are_refused_unless_the_portal_says_viewer() {
    let app = TestApp::spawn_gitlab_with(Backend::Sqlite, people(), &[])
        .await
        .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    gitlab.sign_in_as("sam");
    let client = app.browser();
    let back = to_gitlab_and_back(&app, &client, "/").await;
    refused(&app, &client, &back, "in none of the GitLab groups").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_account_state_are_checked_again_within_the_hour() {
    use server::sso::{RecheckReport, recheck_due};

    let app = TestApp::spawn_gitlab_with(
        Backend::Sqlite,
        vec![
            someone(1, "dana", &["gitlab-org/distribution"]),
            someone(2, "pat", &["gitlab-com/alliances"]),
            someone(3, "eve", &["gitlab-com/marketing/partner-marketing"]),
            someone(4, "kim", &["gitlab-org/distribution"]),
        ],
        &[],
    )
    .await
    .expect("app");
    let gitlab = app.gitlab.clone().expect("provider");
    let at = |minutes: i64| portal_tests::test_epoch() + chrono::Duration::minutes(minutes);
    let mut browsers = Vec::new();
    for name in ["dana", "pat", "eve", "kim"] {
        gitlab.sign_in_as(name);
        let browser = app.browser();
        signs_in(&app, &browser).await;
        let token = api_token(&app, &browser).await;
        browsers.push((name, browser, token));
    }
    app.clock.set(at(30));
    assert_eq!(
        recheck_due(&app.state).await.expect("sweep"),
        RecheckReport::default(),
        "nobody is due yet"
    );

    // On GitLab: Dana moves to Alliances, Pat is blocked, Eve revokes the portal's access,
    // Kim leaves every group that grants a role.
    gitlab.update("dana", |p| p.groups = vec!["gitlab-com/alliances".into()]);
    gitlab.update("pat", |p| p.state = "blocked".into());
    gitlab.revoke_access("eve");
    gitlab.update("kim", |p| p.groups.clear());
    app.clock.set(at(58));
    let report = recheck_due(&app.state).await.expect("sweep");
    assert_eq!(
        report,
        RecheckReport {
            confirmed: 1,
            ended: 3,
            deferred: 0
        }
    );
    for (name, browser, token) in &browsers {
        let (session, user) = me(&app, browser).await;
        let (by_token, answer) = me_by_token(&app, token).await;
        if *name == "dana" {
            assert_eq!(session, StatusCode::OK);
            assert_eq!(user["roles"], serde_json::json!(["partnerships"]));
            assert_eq!(by_token, StatusCode::OK);
            assert_eq!(answer["roles"], serde_json::json!(["partnerships"]));
        } else {
            assert_eq!(session, StatusCode::UNAUTHORIZED, "{name}'s session ended");
            assert_eq!(by_token, StatusCode::UNAUTHORIZED, "{name}'s token");
            assert!(
                answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("GitLab no longer confirms")),
                "{answer}"
            );
        }
    }
    // Pat is unblocked: the ended session stays ended, a new sign-in works.
    gitlab.update("pat", |p| p.state = "active".into());
    assert_eq!(me(&app, &browsers[1].1).await.0, StatusCode::UNAUTHORIZED);

    // Nobody asked GitLab again in time: Dana cannot act until someone does.
    app.clock.set(at(58 + 61));
    let (_, dana, dana_token) = &browsers[0];
    assert_eq!(me(&app, dana).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_by_token(&app, dana_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let report = recheck_due(&app.state).await.expect("sweep");
    assert_eq!(report.confirmed, 1);
    assert_eq!(me(&app, dana).await.0, StatusCode::OK);
    assert_eq!(me_by_token(&app, dana_token).await.0, StatusCode::OK);

    // GitLab's API out of order: nothing ends, and the sweep tries again (with the refresh
    // token GitLab handed out meanwhile); Dana cannot act while her confirmation has run out.
    gitlab.outage(true);
    app.clock.set(at(58 + 61 + 58));
    let report = recheck_due(&app.state).await.expect("sweep");
    assert_eq!(
        report,
        RecheckReport {
            confirmed: 0,
            ended: 0,
            deferred: 1
        }
    );
    assert_eq!(me(&app, dana).await.0, StatusCode::OK, "still confirmed");
    app.clock.set(at(58 + 61 + 61));
    assert_eq!(me(&app, dana).await.0, StatusCode::UNAUTHORIZED);
    gitlab.outage(false);
    let report = recheck_due(&app.state).await.expect("sweep");
    assert_eq!(report.confirmed, 1, "{report:?}");
    assert_eq!(me(&app, dana).await.0, StatusCode::OK);
}
