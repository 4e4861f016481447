//! A GitLab-compatible OAuth 2 / OpenID Connect provider for the tests: discovery,
//! authorize (an approval page, or straight back when a test says so), token (with PKCE
//! S256 and single-use codes, and refresh tokens that are spent at each refresh), userinfo
//! with `groups`, JWKS, and `/api/v4/user`. People are known by their numeric id, as on
//! GitLab: a username can change, and a freed one can be taken by someone else. ID tokens
//! are RS256-signed on the portal's test clock; a test can make them wrong in one way at a
//! time to see the portal refuse them. It counts how often its discovery document and
//! keys are fetched.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use base64::Engine as _;
use chrono::Duration;
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserUsername, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey as _, StandardClaims, SubjectIdentifier,
    core::{
        CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
        CoreRsaPrivateSigningKey,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use app::services::{Clock, ManualClock};

/// One way to make the next ID tokens wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forgery {
    #[default]
    None,
    WrongNonce,
    BadSignature,
    Expired,
    WrongAudience,
}

/// A person on the fake GitLab.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub groups: Vec<String>,
    /// `active` or `blocked`.
    pub state: String,
}

#[derive(Debug, Clone)]
struct Grant {
    person: u64,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    used: bool,
}

struct World {
    clock: Arc<ManualClock>,
    people: HashMap<u64, Person>,
    /// Who signs in at the authorize step (a username).
    signing_in: String,
    /// Whether authorize answers at once instead of showing its page.
    auto_approve: bool,
    forgery: Forgery,
    grants: HashMap<String, Grant>,
    /// Access token → the person's id.
    access: HashMap<String, u64>,
    /// Refresh token → the person's id; each is spent when used.
    refresh: HashMap<String, u64>,
    next: u64,
    discovery_fetches: usize,
    jwks_fetches: usize,
    /// Whether userinfo and the REST API answer 503.
    outage: bool,
}

impl World {
    fn by_username(&self, username: &str) -> Option<&Person> {
        self.people
            .values()
            .find(|p| p.username.eq_ignore_ascii_case(username))
    }

    fn token(&mut self, kind: &str) -> String {
        self.next += 1;
        format!("{kind}-{}", self.next)
    }
}

/// The fake provider; clone freely.
#[derive(Clone)]
pub struct FakeGitLab {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    world: Arc<Mutex<World>>,
}

/// The fake provider's signing key, and another that GitLab does not publish (for
/// forged signatures). Both are fixed test keys that sign the fake provider's ID tokens
/// and nothing else. They are not made at run time: making a 2048-bit RSA key takes
/// seconds of CPU in a debug build, and made inside the JWKS handler it kept the portal's
/// discovery (which fetches the keys) waiting past its 15 s timeout on a loaded machine.
const SIGNING_KEY_PEM: &str = include_str!("gitlab/signing-key.pem");
const FORGED_KEY_PEM: &str = include_str!("gitlab/forged-key.pem");

fn signing_key(forged: bool) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        if forged {
            FORGED_KEY_PEM
        } else {
            SIGNING_KEY_PEM
        },
        Some(JsonWebKeyId::new("fake-gitlab-1".into())),
    )
    .unwrap_or_else(|e| panic!("signing key: {e}"))
}

impl FakeGitLab {
    /// Starts the provider on a port of its own, with the people who can sign in.
    pub async fn start(clock: Arc<ManualClock>, people: Vec<Person>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let signing_in = people
            .first()
            .map(|p| p.username.clone())
            .unwrap_or_default();
        let provider = FakeGitLab {
            url: format!("http://{addr}"),
            client_id: "portal-app-id".into(),
            client_secret: "portal-app-secret".into(),
            world: Arc::new(Mutex::new(World {
                clock,
                people: people.into_iter().map(|p| (p.id, p)).collect(),
                signing_in,
                auto_approve: true,
                forgery: Forgery::None,
                grants: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                next: 1,
                discovery_fetches: 0,
                jwks_fetches: 0,
                outage: false,
            })),
        };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/oauth/discovery/keys", get(jwks))
            .route("/oauth/authorize", get(authorize).post(approve))
            .route("/oauth/token", axum::routing::post(token))
            .route("/oauth/userinfo", get(userinfo))
            .route("/api/v4/user", get(api_user))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(provider)
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Who signs in next.
    pub fn sign_in_as(&self, username: &str) {
        self.with(|w| w.signing_in = username.to_owned());
    }

    /// Changes a person (their groups, their state, their username), found by username.
    pub fn update(&self, username: &str, change: impl FnOnce(&mut Person)) {
        self.with(|w| {
            let id = w.by_username(username).map(|p| p.id);
            if let Some(p) = id.and_then(|id| w.people.get_mut(&id)) {
                change(p);
            }
        });
    }

    /// Someone new registers (possibly with a username another person gave up).
    pub fn register(&self, person: Person) {
        self.with(|w| {
            assert!(
                w.by_username(&person.username).is_none(),
                "GitLab usernames are unique"
            );
            w.people.insert(person.id, person);
        });
    }

    /// The person revokes the portal's access in their GitLab settings: every token GitLab
    /// gave the portal for them stops working.
    pub fn revoke_access(&self, username: &str) {
        self.with(|w| {
            if let Some(id) = w.by_username(username).map(|p| p.id) {
                w.access.retain(|_, p| *p != id);
                w.refresh.retain(|_, p| *p != id);
            }
        });
    }

    /// Puts userinfo and the REST API out of order (503), or back in order.
    pub fn outage(&self, down: bool) {
        self.with(|w| w.outage = down);
    }

    /// How often the discovery document and the keys (JWKS) were fetched.
    pub fn discovery_fetches(&self) -> (usize, usize) {
        self.with(|w| (w.discovery_fetches, w.jwks_fetches))
    }

    /// Makes the following ID tokens wrong in one way (or right again).
    pub fn forge(&self, forgery: Forgery) {
        self.with(|w| w.forgery = forgery);
    }

    /// Shows the approval page at authorize instead of answering at once.
    pub fn show_approval_page(&self) {
        self.with(|w| w.auto_approve = false);
    }

    fn issue_code(&self, q: &AuthorizeQuery, username: &str) -> Option<String> {
        self.with(|w| {
            let person = w.by_username(username)?.id;
            let code = w.token("code");
            w.grants.insert(
                code.clone(),
                Grant {
                    person,
                    redirect_uri: q.redirect_uri.clone(),
                    nonce: q.nonce.clone(),
                    challenge: q.code_challenge.clone().unwrap_or_default(),
                    used: false,
                },
            );
            Some(code)
        })
    }
}

async fn discovery(State(p): State<FakeGitLab>) -> Json<Value> {
    p.with(|w| w.discovery_fetches += 1);
    let u = &p.url;
    Json(json!({
        "issuer": u,
        "authorization_endpoint": format!("{u}/oauth/authorize"),
        "token_endpoint": format!("{u}/oauth/token"),
        "userinfo_endpoint": format!("{u}/oauth/userinfo"),
        "jwks_uri": format!("{u}/oauth/discovery/keys"),
        "scopes_supported": ["openid", "profile", "email", "read_user"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "preferred_username", "groups_direct"],
    }))
}

async fn jwks(State(p): State<FakeGitLab>) -> Json<CoreJsonWebKeySet> {
    p.with(|w| w.jwks_fetches += 1);
    Json(CoreJsonWebKeySet::new(vec![
        signing_key(false).as_verification_key(),
    ]))
}

#[derive(Debug, Clone, Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    username: Option<String>,
}

fn back(q: &AuthorizeQuery, code: &str) -> Response {
    let sep = if q.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Redirect::to(&format!(
        "{}{sep}code={code}&state={}",
        q.redirect_uri,
        app::domain::percent_encode(&q.state)
    ))
    .into_response()
}

/// What is wrong with an authorisation request, if anything.
fn check_request(p: &FakeGitLab, q: &AuthorizeQuery) -> Result<(), &'static str> {
    if q.client_id != p.client_id {
        return Err("unknown client_id");
    }
    if q.code_challenge_method.as_deref() != Some("S256") || q.code_challenge.is_none() {
        return Err("PKCE with S256 is required");
    }
    if !q.scope.split(' ').any(|s| s == "openid") {
        return Err("the openid scope is required");
    }
    Ok(())
}

async fn authorize(State(p): State<FakeGitLab>, Query(q): Query<AuthorizeQuery>) -> Response {
    if let Err(why) = check_request(&p, &q) {
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    let (auto, who) = p.with(|w| (w.auto_approve, w.signing_in.clone()));
    if auto {
        return match p.issue_code(&q, &who) {
            Some(code) => back(&q, &code),
            None => (StatusCode::NOT_FOUND, "no such user").into_response(),
        };
    }
    let hidden = |name: &str, value: &str| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            value.replace('"', "&quot;")
        )
    };
    Html(format!(
        r#"<!DOCTYPE html><html><head><title>Authorize application</title></head><body>
<h1>Authorize Partner Image Portal to use your account?</h1>
<form method="post" action="/oauth/authorize">{}{}{}{}{}{}{}{}
<button type="submit" id="authorize">Authorize</button></form></body></html>"#,
        hidden("client_id", &q.client_id),
        hidden("redirect_uri", &q.redirect_uri),
        hidden("state", &q.state),
        hidden("nonce", q.nonce.as_deref().unwrap_or_default()),
        hidden(
            "code_challenge",
            q.code_challenge.as_deref().unwrap_or_default()
        ),
        hidden(
            "code_challenge_method",
            q.code_challenge_method.as_deref().unwrap_or_default()
        ),
        hidden("scope", &q.scope),
        hidden("username", &who),
    ))
    .into_response()
}

async fn approve(State(p): State<FakeGitLab>, Form(q): Form<AuthorizeQuery>) -> Response {
    if let Err(why) = check_request(&p, &q) {
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    let who = q.username.clone().unwrap_or_default();
    match p.issue_code(&q, &who) {
        Some(code) => back(&q, &code),
        None => (StatusCode::NOT_FOUND, "no such user").into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(p): State<FakeGitLab>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Response {
    // Client authentication: HTTP Basic (as openidconnect sends it) or the form.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    let (id, secret) = basic.unwrap_or((
        req.client_id.clone().unwrap_or_default(),
        req.client_secret.clone().unwrap_or_default(),
    ));
    let id = app_percent_decode(&id);
    let secret = app_percent_decode(&secret);
    if id != p.client_id || secret != p.client_secret {
        return oauth_error("invalid_client", "client authentication failed");
    }
    if req.grant_type == "refresh_token" {
        return refresh(&p, req.refresh_token.as_deref().unwrap_or_default());
    }
    if req.grant_type != "authorization_code" {
        return oauth_error(
            "unsupported_grant_type",
            "only authorization_code and refresh_token",
        );
    }
    let grant = p.with(|w| {
        let g = w.grants.get_mut(&req.code)?;
        let before = g.clone();
        g.used = true;
        Some(before)
    });
    let Some(grant) = grant else {
        return oauth_error("invalid_grant", "unknown code");
    };
    if grant.used {
        return oauth_error("invalid_grant", "the code was used already");
    }
    if grant.redirect_uri != req.redirect_uri {
        return oauth_error("invalid_grant", "redirect_uri differs");
    }
    let verifier = req.code_verifier.unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge {
        return oauth_error("invalid_grant", "PKCE verification failed");
    }
    let (person, now, forgery) = p.with(|w| {
        (
            w.people.get(&grant.person).cloned(),
            w.clock.now(),
            w.forgery,
        )
    });
    let Some(person) = person else {
        return oauth_error("invalid_grant", "no such user");
    };
    let (access, refresh) = issue_tokens(&p, person.id);
    let issuer = IssuerUrl::new(p.url.clone()).unwrap_or_else(|e| panic!("issuer: {e}"));
    let audience = if forgery == Forgery::WrongAudience {
        "someone-elses-app".to_owned()
    } else {
        p.client_id.clone()
    };
    let (issued, expires) = if forgery == Forgery::Expired {
        (now - Duration::hours(2), now - Duration::hours(1))
    } else {
        (now, now + Duration::minutes(2))
    };
    let nonce = if forgery == Forgery::WrongNonce {
        Some("not-the-nonce".to_owned())
    } else {
        grant.nonce
    };
    let claims = CoreIdTokenClaims::new(
        issuer,
        vec![Audience::new(audience)],
        expires,
        issued,
        StandardClaims::new(SubjectIdentifier::new(person.id.to_string()))
            .set_preferred_username(Some(EndUserUsername::new(person.username.clone()))),
        EmptyAdditionalClaims {},
    )
    .set_nonce(nonce.map(Nonce::new));
    let id_token = CoreIdToken::new(
        claims,
        &signing_key(forgery == Forgery::BadSignature),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap_or_else(|e| panic!("signing an ID token: {e}"));
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 7200,
        "refresh_token": refresh,
        "scope": "openid profile email read_user",
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

/// A fresh access token and refresh token for a person.
fn issue_tokens(p: &FakeGitLab, person: u64) -> (String, String) {
    p.with(|w| {
        let access = w.token("access");
        let refresh = w.token("refresh");
        w.access.insert(access.clone(), person);
        w.refresh.insert(refresh.clone(), person);
        (access, refresh)
    })
}

/// `grant_type=refresh_token`: spends the refresh token and hands out new tokens, as GitLab
/// does; an unknown or spent one is `invalid_grant`.
fn refresh(p: &FakeGitLab, token: &str) -> Response {
    let Some(person) = p.with(|w| w.refresh.remove(token)) else {
        return oauth_error(
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        );
    };
    let (access, refresh) = issue_tokens(p, person);
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 7200,
        "refresh_token": refresh,
        "scope": "openid profile email read_user",
    }))
    .into_response()
}

/// `application/x-www-form-urlencoded` decoding of a Basic credential half.
fn app_percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn person_of(p: &FakeGitLab, headers: &HeaderMap) -> Option<Person> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .to_owned();
    p.with(|w| {
        let id = w.access.get(&token)?;
        w.people.get(id).cloned()
    })
}

async fn userinfo(State(p): State<FakeGitLab>, headers: HeaderMap) -> Response {
    if p.with(|w| w.outage) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match person_of(&p, &headers) {
        Some(person) => Json(json!({
            "sub": person.id.to_string(),
            "nickname": person.username,
            "preferred_username": person.username,
            "name": person.name,
            "email": format!("{}@example.com", person.username),
            "groups": person.groups,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn api_user(State(p): State<FakeGitLab>, headers: HeaderMap) -> Response {
    if p.with(|w| w.outage) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match person_of(&p, &headers) {
        Some(person) => Json(json!({
            "id": person.id,
            "username": person.username,
            "name": person.name,
            "state": person.state,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use openidconnect::core::CoreJsonWebKey;
    use rsa::{pkcs1::DecodeRsaPrivateKey as _, traits::PublicKeyParts as _};

    use super::*;

    fn modulus(pem: &str) -> Vec<u8> {
        rsa::RsaPrivateKey::from_pkcs1_pem(pem)
            .unwrap_or_else(|e| panic!("a fixed test key: {e}"))
            .n()
            .to_bytes_be()
    }

    /// The JWKS answers with a key that is there from the start, so fetching it costs no
    /// key generation; the forged key is another one.
    #[test]
    fn the_fake_providers_keys_are_fixed_and_the_forged_one_differs() {
        let published: CoreJsonWebKey = signing_key(false).as_verification_key();
        let published = serde_json::to_value(&published).expect("JWK as JSON");
        let n = published["n"].as_str().expect("the JWK's modulus");
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(n)
            .expect("base64url modulus");
        assert_eq!(n, modulus(SIGNING_KEY_PEM));
        assert_eq!(n.len() * 8, 2048);
        assert_ne!(modulus(FORGED_KEY_PEM), modulus(SIGNING_KEY_PEM));
    }
}
