//! Sign-in with GitLab: OpenID Connect authorisation code flow with PKCE (S256), `state` and
//! `nonce`. `/auth/gitlab` discovers the provider, remembers the attempt and sends the person
//! to GitLab; `/auth/gitlab/callback` takes the attempt back (once, within 10 minutes),
//! exchanges the code with its PKCE verifier, checks the ID token (signature against the
//! provider's JWKS, issuer, audience, expiry on the portal's clock, nonce), reads the groups
//! from `/oauth/userinfo` (the ID token carries only direct groups) and the account's state
//! from `/api/v4/user`, maps the groups to roles, and starts a fresh session. Anything that
//! does not check out ends on a page saying what went wrong, with no session.

use std::time::Duration;

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
};
use serde::Deserialize;

use app::services::{
    AppState,
    sso::{self, Attempt, GitLabSso},
    users,
};

use crate::auth::{SESSION_COOKIE, cookie, safe_next, session_cookie};

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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        tracing::warn!(status = %self.status, reason = %self.message, "GitLab sign-in refused");
        let page = format!(
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title>
<link rel="stylesheet" href="/pkg/portal.css"></head>
<body class="min-h-screen flex items-center justify-center bg-gray-100">
<main class="max-w-lg bg-white rounded-xl shadow p-8">
<h1 class="text-xl font-semibold mb-3">Sign-in with GitLab did not work</h1>
<p class="text-sm text-gray-800 mb-6" data-testid="sign-in-error">{}</p>
<a class="text-violet-700 hover:underline" href="/sign-in">Try again</a>
</main></body></html>"#,
            escape(&self.message)
        );
        (self.status, Html(page)).into_response()
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

async fn discover(cfg: &GitLabSso, http: &reqwest::Client) -> Result<CoreProviderMetadata, Failed> {
    let issuer = IssuerUrl::new(cfg.url.clone()).map_err(|e| {
        failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("PORTAL_GITLAB_URL: {e}"),
        )
    })?;
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| {
            failed(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} did not answer its OpenID configuration ({}/.well-known/openid-configuration): {e}",
                    cfg.url, cfg.url
                ),
            )
        })
}

/// The OpenID Connect client of the portal's GitLab application, coming back here.
fn client_for(
    state: &AppState,
    headers: &HeaderMap,
    cfg: &GitLabSso,
    metadata: CoreProviderMetadata,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    Failed,
> {
    let redirect = RedirectUrl::new(redirect_uri(state, headers)).map_err(|e| {
        failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("redirect URI: {e}"),
        )
    })?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(cfg.client_id.clone()),
        Some(ClientSecret::new(cfg.client_secret.expose().to_owned())),
    )
    .set_redirect_uri(redirect))
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /auth/gitlab`: leaves for GitLab's authorisation page.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    match begin(&state, &headers, q).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn begin(state: &AppState, headers: &HeaderMap, q: StartQuery) -> Result<String, Failed> {
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
    let metadata = discover(cfg, &http).await?;
    let client = client_for(state, headers, cfg, metadata)?;
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
    sso::begin(
        &state.db,
        state.clock.now(),
        csrf.secret(),
        Attempt {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next,
        },
    )
    .await
    .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    Ok(url.to_string())
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

/// `/api/v4/user`: the account's state (active, blocked…).
#[derive(Debug, Deserialize)]
struct GitLabUser {
    username: String,
    state: String,
}

/// `GET /auth/gitlab/callback`: checks GitLab's answer and signs the person in.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    match finish(&state, &headers, q).await {
        Ok((token, next)) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
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
    }
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
    let now = state.clock.now();
    let attempt = sso::take(&state.db, now, &returned_state)
        .await
        .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?
        .ok_or_else(|| {
            failed(
                StatusCode::BAD_REQUEST,
                "This sign-in answer does not belong to a sign-in started here: its state is unknown, already used or older than 10 minutes. Start the sign-in again.",
            )
        })?;
    let http = http_client()?;
    let metadata = discover(cfg, &http).await?;
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
    let userinfo_url = metadata.userinfo_endpoint().map(|u| u.url().clone());
    let client = client_for(state, headers, cfg, metadata)?;
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
    let id_token = tokens.id_token().ok_or_else(|| {
        failed(
            StatusCode::BAD_GATEWAY,
            "GitLab answered without an ID token.",
        )
    })?;
    let clock = state.clock.clone();
    let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
    let claims = id_token
        .claims(&verifier, &Nonce::new(attempt.nonce))
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
    let access = tokens.access_token().secret().clone();
    let userinfo_url = userinfo_url
        .ok_or_else(|| failed(StatusCode::BAD_GATEWAY, "GitLab has no userinfo endpoint."))?;
    let info: UserInfo = get_json(&http, userinfo_url.as_str(), &access, "userinfo").await?;
    if info.sub != claims.subject().as_str() {
        return Err(failed(
            StatusCode::FORBIDDEN,
            "GitLab's userinfo is about someone else than its ID token.",
        ));
    }
    let account: GitLabUser =
        get_json(&http, &format!("{}/api/v4/user", cfg.url), &access, "user").await?;
    if account.state != "active" {
        return Err(failed(
            StatusCode::FORBIDDEN,
            format!(
                "The GitLab account {} is {}: it cannot sign in.",
                account.username, account.state
            ),
        ));
    }
    let username = info
        .preferred_username
        .clone()
        .or(info.nickname.clone())
        .unwrap_or(account.username.clone());
    let roles = cfg.roles_for(&info.groups).ok_or_else(|| {
        failed(
            StatusCode::FORBIDDEN,
            format!(
                "{username} is in none of the GitLab groups that grant a role here ({}). Ask an admin to add you to one.",
                cfg.groups
                    .iter()
                    .map(|(g, r)| format!("{g} → {}", r.label()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    users::upsert(
        &state.db,
        now,
        &username,
        info.name.as_deref().unwrap_or(&username),
        info.email.as_deref().unwrap_or_default(),
        &roles,
    )
    .await
    .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    // A new session id at every sign-in: whatever session the browser had ends.
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        users::sign_out(&state.db, old)
            .await
            .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    }
    let (token, _) = users::sign_in(&state.db, now, &username)
        .await
        .map_err(|e| failed(StatusCode::FORBIDDEN, e.message))?;
    Ok((token, attempt.next))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    access: &str,
    what: &str,
) -> Result<T, Failed> {
    let res = http
        .get(url)
        .bearer_auth(access)
        .send()
        .await
        .map_err(|e| {
            failed(
                StatusCode::BAD_GATEWAY,
                format!("GitLab's {what} endpoint: {e}"),
            )
        })?;
    if !res.status().is_success() {
        return Err(failed(
            StatusCode::BAD_GATEWAY,
            format!("GitLab's {what} endpoint answered {}", res.status()),
        ));
    }
    res.json().await.map_err(|e| {
        failed(
            StatusCode::BAD_GATEWAY,
            format!("GitLab's {what} answer: {e}"),
        )
    })
}
