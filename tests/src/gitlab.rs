//! A GitLab-compatible OAuth 2 / OpenID Connect provider for the tests: discovery,
//! authorize (an approval page, or straight back when a test says so), token (with PKCE
//! S256 and single-use codes), userinfo with `groups`, JWKS, and `/api/v4/user`. ID tokens
//! are RS256-signed on the portal's test clock; a test can make them wrong in one way at a
//! time to see the portal refuse them.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock, PoisonError},
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
use rsa::pkcs1::EncodeRsaPrivateKey as _;
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
    username: String,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    used: bool,
}

struct World {
    clock: Arc<ManualClock>,
    people: HashMap<String, Person>,
    /// Who signs in at the authorize step.
    signing_in: String,
    /// Whether authorize answers at once instead of showing its page.
    auto_approve: bool,
    forgery: Forgery,
    grants: HashMap<String, Grant>,
    access: HashMap<String, String>,
    next: u64,
}

/// The fake provider; clone freely.
#[derive(Clone)]
pub struct FakeGitLab {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    world: Arc<Mutex<World>>,
}

/// Signing keys, made once per test process (RSA key generation is slow).
fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = || {
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .unwrap_or_else(|e| panic!("generating an RSA key: {e}"));
            key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                .unwrap_or_else(|e| panic!("encoding an RSA key: {e}"))
                .to_string()
        };
        (pem(), pem())
    })
}

fn signing_key(forged: bool) -> CoreRsaPrivateSigningKey {
    let (good, other) = keys();
    CoreRsaPrivateSigningKey::from_pem(
        if forged { other } else { good },
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
                people: people
                    .into_iter()
                    .map(|p| (p.username.clone(), p))
                    .collect(),
                signing_in,
                auto_approve: true,
                forgery: Forgery::None,
                grants: HashMap::new(),
                access: HashMap::new(),
                next: 1,
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

    /// Changes a person (their groups, their state).
    pub fn update(&self, username: &str, change: impl FnOnce(&mut Person)) {
        self.with(|w| {
            if let Some(p) = w.people.get_mut(username) {
                change(p);
            }
        });
    }

    /// Makes the following ID tokens wrong in one way (or right again).
    pub fn forge(&self, forgery: Forgery) {
        self.with(|w| w.forgery = forgery);
    }

    /// Shows the approval page at authorize instead of answering at once.
    pub fn show_approval_page(&self) {
        self.with(|w| w.auto_approve = false);
    }

    fn issue_code(&self, q: &AuthorizeQuery, username: &str) -> String {
        self.with(|w| {
            w.next += 1;
            let code = format!("code-{}", w.next);
            w.grants.insert(
                code.clone(),
                Grant {
                    username: username.to_owned(),
                    redirect_uri: q.redirect_uri.clone(),
                    nonce: q.nonce.clone(),
                    challenge: q.code_challenge.clone().unwrap_or_default(),
                    used: false,
                },
            );
            code
        })
    }
}

async fn discovery(State(p): State<FakeGitLab>) -> Json<Value> {
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

async fn jwks() -> Json<CoreJsonWebKeySet> {
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
        let code = p.issue_code(&q, &who);
        return back(&q, &code);
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
    let code = p.issue_code(&q, &who);
    back(&q, &code)
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: String,
    code: String,
    redirect_uri: String,
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
    if req.grant_type != "authorization_code" {
        return oauth_error("unsupported_grant_type", "only authorization_code");
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
            w.people.get(&grant.username).cloned(),
            w.clock.now(),
            w.forgery,
        )
    });
    let Some(person) = person else {
        return oauth_error("invalid_grant", "no such user");
    };
    let access = p.with(|w| {
        w.next += 1;
        let t = format!("access-{}", w.next);
        w.access.insert(t.clone(), person.username.clone());
        t
    });
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
        "scope": "openid profile email read_user",
        "id_token": id_token.to_string(),
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
        let name = w.access.get(&token)?;
        w.people.get(name).cloned()
    })
}

async fn userinfo(State(p): State<FakeGitLab>, headers: HeaderMap) -> Response {
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
