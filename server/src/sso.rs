//! Sign-in with GitLab: OpenID Connect authorisation code flow with PKCE (S256), `state` and
//! `nonce`. `/auth/gitlab` remembers the attempt, gives the browser a short-lived cookie
//! that binds the attempt to it, and sends the person to GitLab; `/auth/gitlab/callback`
//! takes the attempt back (once, within 10 minutes, only in the browser holding that
//! cookie), exchanges the code with its PKCE verifier, checks the ID token (signature
//! against the provider's JWKS, issuer, audience, expiry on the portal's clock, nonce),
//! reads the groups from `/oauth/userinfo` (the ID token carries only direct groups) and the
//! account's state from `/api/v4/user`, maps the groups to roles, records the person under
//! GitLab's user id, and starts a fresh session. Anything that does not check out ends on a
//! page saying what went wrong, with no session.
//!
//! The provider's discovery document and keys are kept for `PORTAL_GITLAB_DISCOVERY_MINUTES`
//! (and fetched again at once when an ID token does not check out with them). GitLab's
//! refresh token is kept, sealed, so that [`recheck_due`] can ask GitLab again about every
//! signed-in person before their confirmation runs out (`PORTAL_GITLAB_RECHECK_MINUTES`):
//! roles follow the groups, and someone GitLab no longer vouches for loses their sessions
//! and API tokens.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse as _,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse},
};
use rand::RngCore as _;
use serde::Deserialize;

use app::{
    error::ErrorCode,
    services::{
        AppState,
        secrets::SecretValue,
        sso::{self, ATTEMPT_TTL, Attempt, GitLabSso, Taken},
        users::{self, GitLabIdentity},
    },
};

use crate::auth::{SESSION_COOKIE, cookie, safe_next, session_cookie};

/// The cookie that binds a sign-in attempt to the browser that started it.
pub const SIGN_IN_COOKIE: &str = "portal_sign_in";

/// The sign-in cookie: HttpOnly, sent back only to `/auth` on a top-level return from
/// GitLab (SameSite=Lax), for as long as an attempt lives; `max_age_secs` 0 clears it.
fn sign_in_cookie(value: &str, secure: bool, max_age_secs: i64) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SIGN_IN_COOKIE}={value}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("portal_sign_in=; Path=/auth; Max-Age=0"))
}

/// Why a sign-in stopped, as the person sees it.
struct Failed {
    status: StatusCode,
    message: String,
}

fn failed(status: StatusCode, message: impl Into<String>) -> Failed {
    Failed {
        status,
        message: message.into(),
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        tracing::warn!(status = %self.status, reason = %self.message, "GitLab sign-in refused");
        crate::auth::sign_in_stopped_page(
            self.status,
            "Sign-in failed",
            "Sign-in with GitLab did not work",
            &self.message,
        )
    }
}

fn http_client() -> Result<reqwest::Client, Failed> {
    reqwest::Client::builder()
        // Following redirects would let a provider point the portal anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| {
            failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("HTTP client: {e}"),
            )
        })
}

fn config(state: &AppState) -> Result<&GitLabSso, Failed> {
    state.gitlab.as_deref().ok_or_else(|| {
        failed(
            StatusCode::NOT_FOUND,
            "GitLab sign-in is off on this portal.",
        )
    })
}

/// Where GitLab sends people back: under the public URL, or the address they used.
fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    let base = state.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let scheme = if state.https { "https" } else { "http" };
        format!("{scheme}://{host}")
    });
    format!("{}/auth/gitlab/callback", base.trim_end_matches('/'))
}

/// GitLab's discovery document and keys: the kept copy while it lasts (unless `fresh` is
/// asked for), otherwise fetched now and kept. The flag says whether it was fetched now.
async fn provider(
    state: &AppState,
    cfg: &GitLabSso,
    http: &reqwest::Client,
    fresh: bool,
) -> Result<(Arc<CoreProviderMetadata>, bool), Failed> {
    let now = state.clock.now();
    if !fresh
        && let Some(kept) = cfg
            .provider
            .get::<CoreProviderMetadata>(now, cfg.discovery_ttl)
    {
        return Ok((kept, false));
    }
    let issuer = IssuerUrl::new(cfg.url.clone()).map_err(|e| {
        failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("PORTAL_GITLAB_URL: {e}"),
        )
    })?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| {
            failed(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} did not answer its OpenID configuration ({}/.well-known/openid-configuration): {e}",
                    cfg.url, cfg.url
                ),
            )
        })?;
    let metadata = Arc::new(metadata);
    cfg.provider.put(now, metadata.clone());
    Ok((metadata, true))
}

type GitLabClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The OpenID Connect client of the portal's GitLab application.
fn client(cfg: &GitLabSso, metadata: &CoreProviderMetadata) -> GitLabClient {
    CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(cfg.client_id.clone()),
        Some(ClientSecret::new(cfg.client_secret.expose().to_owned())),
    )
}

/// The client, coming back here.
fn client_for(
    state: &AppState,
    headers: &HeaderMap,
    cfg: &GitLabSso,
    metadata: &CoreProviderMetadata,
) -> Result<GitLabClient, Failed> {
    let redirect = RedirectUrl::new(redirect_uri(state, headers)).map_err(|e| {
        failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("redirect URI: {e}"),
        )
    })?;
    Ok(client(cfg, metadata).set_redirect_uri(redirect))
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /auth/gitlab`: leaves for GitLab's authorisation page, with the cookie that ties
/// the attempt to this browser.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    match begin(&state, &headers, q).await {
        Ok((url, browser)) => {
            let mut response = Redirect::to(&url).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                sign_in_cookie(&browser, state.secure_cookies(), ATTEMPT_TTL.num_seconds()),
            );
            response
        }
        Err(f) => f.into_response(),
    }
}

async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    q: StartQuery,
) -> Result<(String, String), Failed> {
    let cfg = config(state)?;
    let next = safe_next(q.next.as_deref());
    if let Some(asked) = q.next.as_deref()
        && asked != next
    {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            format!(
                "After signing in the portal only takes you to its own pages, and '{asked}' is not one. Start from the page you want on this portal."
            ),
        ));
    }
    let http = http_client()?;
    let (metadata, _) = provider(state, cfg, &http, false).await?;
    let client = client_for(state, headers, cfg, &metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("read_user".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let browser = hex::encode(bytes);
    sso::begin(
        &state.db,
        state.clock.now(),
        csrf.secret(),
        &browser,
        Attempt {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next,
        },
    )
    .await
    .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    Ok((url.to_string(), browser))
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// RFC 9207: the issuer that answered, when the provider says.
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// GitLab's answer to the userinfo endpoint, as far as the portal reads it.
#[derive(Debug, Deserialize)]
struct UserInfo {
    sub: String,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// `/api/v4/user`: the account's id and state (active, blocked…).
#[derive(Debug, Deserialize)]
struct GitLabUser {
    id: u64,
    username: String,
    state: String,
}

/// Why GitLab did not vouch for someone.
#[derive(Debug)]
enum Denied {
    /// GitLab answered, and the answer keeps the person out.
    Refused(String),
    /// GitLab could not be asked (unreachable, an error of its own, an unreadable answer).
    Unavailable(String),
}

impl Denied {
    fn page(self) -> Failed {
        match self {
            Denied::Refused(why) => failed(StatusCode::FORBIDDEN, why),
            Denied::Unavailable(why) => failed(StatusCode::BAD_GATEWAY, why),
        }
    }
}

/// What GitLab says about the holder of `access`, whose GitLab user id is `sub`: who they
/// are now, and the roles their groups grant. Refused when the account is not active or
/// its groups grant nothing here (with unmapped people refused).
async fn vouch(
    cfg: &GitLabSso,
    http: &reqwest::Client,
    metadata: &CoreProviderMetadata,
    access: &str,
    sub: &str,
) -> Result<(String, String, String, Vec<app::domain::Role>), Denied> {
    let userinfo_url = metadata
        .userinfo_endpoint()
        .map(|u| u.url().clone())
        .ok_or_else(|| Denied::Unavailable("GitLab has no userinfo endpoint.".into()))?;
    let info: UserInfo = get_json(http, userinfo_url.as_str(), access, "userinfo").await?;
    if info.sub != sub {
        return Err(Denied::Refused(
            "GitLab's userinfo is about someone else than its ID token.".into(),
        ));
    }
    let account: GitLabUser =
        get_json(http, &format!("{}/api/v4/user", cfg.url), access, "user").await?;
    if account.id.to_string() != sub {
        return Err(Denied::Refused(
            "GitLab's /api/v4/user is about someone else than its ID token.".into(),
        ));
    }
    if account.state != "active" {
        return Err(Denied::Refused(format!(
            "The GitLab account {} is {}: it cannot sign in.",
            account.username, account.state
        )));
    }
    let username = info
        .preferred_username
        .clone()
        .or(info.nickname.clone())
        .unwrap_or(account.username.clone());
    let roles = cfg.roles_for(&info.groups).ok_or_else(|| {
        Denied::Refused(format!(
            "{username} is in none of the GitLab groups that grant a role here ({}). Ask an admin to add you to one.",
            cfg.groups
                .iter()
                .map(|(g, r)| format!("{g} → {}", r.label()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let name = info.name.clone().unwrap_or_else(|| username.clone());
    Ok((username, name, info.email.unwrap_or_default(), roles))
}

/// `GET /auth/gitlab/callback`: checks GitLab's answer and signs the person in. Whatever
/// the outcome, the browser's sign-in cookie is cleared.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let mut response = match finish(&state, &headers, q).await {
        Ok((token, next)) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(
                    &token,
                    state.secure_cookies(),
                    users::SESSION_ABSOLUTE.num_seconds(),
                ),
            );
            response
        }
        Err(f) => f.into_response(),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        sign_in_cookie("", state.secure_cookies(), 0),
    );
    response
}

/// The refusal of an answer that came back to another browser than the one that started
/// the sign-in: someone may be trying to sign this browser in as themselves.
fn other_browser() -> Failed {
    failed(
        StatusCode::BAD_REQUEST,
        "This sign-in answer belongs to a sign-in that was not started in this browser (or whose 10 minutes are over), so it does not sign you in. If you did not just start signing in, someone may have sent you this link. Start the sign-in again from this browser.",
    )
}

/// Checks the ID token against `metadata`; answers GitLab's user id (the subject).
fn check_id_token(
    state: &AppState,
    headers: &HeaderMap,
    cfg: &GitLabSso,
    metadata: &CoreProviderMetadata,
    tokens: &CoreTokenResponse,
    nonce: &str,
) -> Result<String, Failed> {
    let client = client_for(state, headers, cfg, metadata)?;
    let id_token = tokens.id_token().ok_or_else(|| {
        failed(
            StatusCode::BAD_GATEWAY,
            "GitLab answered without an ID token.",
        )
    })?;
    let clock = state.clock.clone();
    let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
    let claims = id_token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(|e| {
            failed(
                StatusCode::FORBIDDEN,
                format!("GitLab's ID token did not check out: {e}"),
            )
        })?;
    if let Some(expected) = claims.access_token_hash() {
        let hash_err = |e: String| failed(StatusCode::FORBIDDEN, format!("access token hash: {e}"));
        let alg = id_token
            .signing_alg()
            .map_err(|e| hash_err(e.to_string()))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| hash_err(e.to_string()))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
            .map_err(|e| hash_err(e.to_string()))?;
        if actual != *expected {
            return Err(failed(
                StatusCode::FORBIDDEN,
                "GitLab's access token does not belong to its ID token.",
            ));
        }
    }
    Ok(claims.subject().as_str().to_owned())
}

async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Result<(String, String), Failed> {
    let cfg = config(state)?;
    if let Some(error) = q.error {
        return Err(failed(
            StatusCode::FORBIDDEN,
            format!(
                "GitLab did not sign you in: {}",
                q.error_description.unwrap_or(error)
            ),
        ));
    }
    let (Some(code), Some(returned_state)) = (q.code, q.state) else {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "GitLab's answer has no code or state. Start the sign-in again.",
        ));
    };
    let browser = cookie(headers, SIGN_IN_COOKIE)
        .filter(|b| !b.is_empty())
        .ok_or_else(other_browser)?;
    let now = state.clock.now();
    let attempt = match sso::take(&state.db, now, &returned_state, browser)
        .await
        .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?
    {
        Taken::Attempt(attempt) => attempt,
        Taken::OtherBrowser => return Err(other_browser()),
        Taken::Unknown => {
            return Err(failed(
                StatusCode::BAD_REQUEST,
                "This sign-in answer does not belong to a sign-in started here: its state is unknown, already used or older than 10 minutes. Start the sign-in again.",
            ));
        }
    };
    let http = http_client()?;
    let (mut metadata, fresh) = provider(state, cfg, &http, false).await?;
    if let Some(iss) = q.iss
        && iss.trim_end_matches('/') != metadata.issuer().as_str().trim_end_matches('/')
    {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            format!(
                "The answer names the issuer {iss}, not {}.",
                metadata.issuer().as_str()
            ),
        ));
    }
    let client = client_for(state, headers, cfg, &metadata)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| failed(StatusCode::BAD_GATEWAY, format!("GitLab has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier))
        .request_async(&http)
        .await
        .map_err(|e| {
            failed(
                StatusCode::FORBIDDEN,
                format!("GitLab refused the sign-in code (used already, expired, or not this portal's): {e}"),
            )
        })?;
    let sub = match check_id_token(state, headers, cfg, &metadata, &tokens, &attempt.nonce) {
        Ok(sub) => sub,
        // The kept keys may be out of date (GitLab rotated them): fetch them once more.
        Err(_) if !fresh => {
            cfg.provider.forget();
            metadata = provider(state, cfg, &http, true).await?.0;
            check_id_token(state, headers, cfg, &metadata, &tokens, &attempt.nonce)?
        }
        Err(f) => return Err(f),
    };
    let access = tokens.access_token().secret().clone();
    let (username, name, email, roles) = vouch(cfg, &http, &metadata, &access, &sub)
        .await
        .map_err(Denied::page)?;
    let user = users::record_gitlab(
        &state.db,
        &state.secret_key,
        now,
        &GitLabIdentity {
            id: sub,
            username,
            name,
            email,
            roles,
            refresh_token: tokens
                .refresh_token()
                .map(|t| SecretValue::new(t.secret().clone())),
            valid_until: now + cfg.recheck,
        },
    )
    .await
    .map_err(|e| refusal(&e))?;
    // A new session id at every sign-in: whatever session the browser had ends.
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        users::sign_out(&state.db, old)
            .await
            .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    }
    let (token, _) = users::sign_in_id(&state.db, now, user.id)
        .await
        .map_err(|e| refusal(&e))?;
    Ok((token, attempt.next))
}

/// A service's refusal as the page; an internal error stays "internal error".
fn refusal(e: &app::error::AppError) -> Failed {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    failed(status, e.message.clone())
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    access: &str,
    what: &str,
) -> Result<T, Denied> {
    let res = http
        .get(url)
        .bearer_auth(access)
        .send()
        .await
        .map_err(|e| Denied::Unavailable(format!("GitLab's {what} endpoint: {e}")))?;
    let status = res.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(Denied::Refused(format!(
            "GitLab's {what} endpoint refused the account's token ({status})"
        )));
    }
    if !status.is_success() {
        return Err(Denied::Unavailable(format!(
            "GitLab's {what} endpoint answered {status}"
        )));
    }
    res.json()
        .await
        .map_err(|e| Denied::Unavailable(format!("GitLab's {what} answer: {e}")))
}

/// How far ahead of its end a confirmation is renewed, so the sweep has several goes.
const RECHECK_AHEAD: chrono::Duration = chrono::Duration::minutes(3);
/// How long one sweep holds an account it is asking GitLab about.
const RECHECK_LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecheckReport {
    /// GitLab vouched for them again (roles follow their groups).
    pub confirmed: usize,
    /// GitLab no longer vouches for them: sessions ended, API tokens refused.
    pub ended: usize,
    /// GitLab could not be asked; tried again at a later sweep (they cannot act once their
    /// confirmation runs out).
    pub deferred: usize,
}

/// Asks GitLab again about everyone whose confirmation runs out soon, with their refresh
/// token: their groups (roles follow them) and their account's state. Someone GitLab no
/// longer vouches for (blocked, removed from the groups, the refresh token refused) loses
/// their sessions, and their API tokens stop working. Does nothing without GitLab sign-in.
pub async fn recheck_due(state: &AppState) -> anyhow::Result<RecheckReport> {
    let mut report = RecheckReport::default();
    let Some(cfg) = state.gitlab.as_deref() else {
        return Ok(report);
    };
    let now = state.clock.now();
    let due = users::due_for_recheck(
        &state.db,
        &state.secret_key,
        now,
        RECHECK_AHEAD,
        RECHECK_LEASE,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    if due.is_empty() {
        return Ok(report);
    }
    let http = http_client().map_err(|f| anyhow::anyhow!(f.message))?;
    for person in due {
        match recheck_one(state, cfg, &http, &person).await {
            Ok(()) => report.confirmed += 1,
            Err(Denied::Refused(why)) => {
                tracing::info!(user = %person.username, reason = %why, "GitLab no longer vouches for a person; their sessions end");
                users::end_gitlab(&state.db, now, person.user_id, &why)
                    .await
                    .map_err(anyhow::Error::msg)?;
                report.ended += 1;
            }
            Err(Denied::Unavailable(why)) => {
                tracing::warn!(user = %person.username, reason = %why, "could not ask GitLab about a person; trying again later");
                report.deferred += 1;
            }
        }
    }
    Ok(report)
}

async fn recheck_one(
    state: &AppState,
    cfg: &GitLabSso,
    http: &reqwest::Client,
    person: &users::RecheckDue,
) -> Result<(), Denied> {
    let refresh = person
        .refresh_token
        .as_ref()
        .ok_or_else(|| Denied::Refused("GitLab gave no refresh token to ask again with".into()))?;
    let (metadata, _) = provider(state, cfg, http, false)
        .await
        .map_err(|f| Denied::Unavailable(f.message))?;
    let refresh = RefreshToken::new(refresh.expose().to_owned());
    let tokens = client(cfg, &metadata)
        .exchange_refresh_token(&refresh)
        .map_err(|e| Denied::Unavailable(format!("GitLab has no token endpoint: {e}")))?
        .request_async(http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(answer) => {
                Denied::Refused(format!("GitLab refused the refresh token: {answer}"))
            }
            other => Denied::Unavailable(format!("GitLab's token endpoint: {other}")),
        })?;
    // GitLab hands out a new refresh token with every refresh; the old one is spent.
    let next_refresh = tokens
        .refresh_token()
        .map(|t| SecretValue::new(t.secret().clone()))
        .unwrap_or_else(|| SecretValue::new(refresh.secret().clone()));
    let now = state.clock.now();
    let vouched = vouch(
        cfg,
        http,
        &metadata,
        tokens.access_token().secret(),
        &person.gitlab_id,
    )
    .await;
    let (username, name, email, roles) = match vouched {
        Ok(found) => found,
        Err(Denied::Unavailable(why)) => {
            // Keep the new refresh token for the next go.
            users::keep_refresh_token(
                &state.db,
                &state.secret_key,
                person.user_id,
                &person.gitlab_id,
                &next_refresh,
            )
            .await
            .map_err(|e| Denied::Unavailable(e.message))?;
            return Err(Denied::Unavailable(why));
        }
        Err(refused) => return Err(refused),
    };
    users::record_gitlab(
        &state.db,
        &state.secret_key,
        now,
        &GitLabIdentity {
            id: person.gitlab_id.clone(),
            username,
            name,
            email,
            roles,
            refresh_token: Some(next_refresh),
            valid_until: now + cfg.recheck,
        },
    )
    .await
    .map_err(|e| match e.code {
        ErrorCode::Internal => Denied::Unavailable(e.message),
        _ => Denied::Refused(e.message),
    })?;
    Ok(())
}

/// Runs [`recheck_due`] every `every` until `shutdown` turns true.
pub async fn run_recheck(
    state: AppState,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    every: Duration,
) {
    loop {
        match recheck_due(&state).await {
            Ok(report) if report != RecheckReport::default() => {
                tracing::info!(?report, "GitLab accounts checked again");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "checking GitLab accounts again failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_cookie_is_for_sign_in_only_and_secure_over_https() {
        let cookie = sign_in_cookie("abc", true, 600);
        let cookie = cookie.to_str().expect("text");
        assert_eq!(
            cookie,
            "portal_sign_in=abc; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=600; Secure"
        );
        let cleared = sign_in_cookie("", false, 0);
        assert_eq!(
            cleared.to_str().expect("text"),
            "portal_sign_in=; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }
}
