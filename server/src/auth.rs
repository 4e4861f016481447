//! Sessions and sign-in. Every request passes through [`session_layer`], which turns the
//! session cookie into the [`CurrentUser`] in the request's extensions. Pages without a
//! user are sent to the sign-in page; API calls get 401 from their extractor.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use app::{
    domain::{CurrentUser, TokenScope},
    error::{AppError, AppResult, ErrorCode},
    services::{AppState, tokens, users},
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "portal_session";

pub use app::services::cookie;

pub(crate) fn session_cookie(token: &str, secure: bool, max_age_secs: i64) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Path=/; Max-Age=0"))
}

/// Paths anyone may reach without signing in.
fn is_public(path: &str) -> bool {
    path == "/sign-in"
        || path.starts_with("/auth/")
        || path.starts_with("/pkg/")
        || path.starts_with("/-/")
        || path == "/favicon.ico"
        || path == "/favicon.svg"
        || path == "/api/v1/openapi.json"
        || is_public_asset(path)
}

/// Under `/public/assets/`: the file of a logo an approved or live copy pins, which AWS
/// Marketplace fetches without signing in. One handler answers everything under it and
/// serves nothing but such a logo (anything else is a 404).
fn is_public_asset(path: &str) -> bool {
    path.strip_prefix("/public/assets/")
        .is_some_and(|rest| !rest.is_empty())
}

/// Marks a request authenticated by an API token rather than a session, with the token's
/// scopes, which the API's scope gate (`api::scopes`) holds against the route reached.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    pub scopes: Vec<TokenScope>,
}

/// Authenticates a request carrying `Authorization: Bearer`: only on the REST API. What the
/// token's scopes allow is decided per route, by `api::scopes`.
async fn bearer(state: &AppState, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let refuse = |message: &str| {
        AppError::new(ErrorCode::Unauthenticated, message.to_owned()).into_response()
    };
    if !path.starts_with("/api/") {
        return refuse("API tokens are accepted on /api/v1 only");
    }
    let Some(secret) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
    else {
        return refuse("use Authorization: Bearer <token>");
    };
    match tokens::authenticate_kept(&state.reads, &state.db, state.clock.now(), &secret).await {
        Ok(Ok((user, scopes))) => {
            req.extensions_mut().insert(user);
            req.extensions_mut().insert(TokenAuth { scopes });
            next.run(req).await
        }
        Ok(Err(refused)) => refuse(refused.message()),
        Err(err) => err.into_response(),
    }
}

/// Resolves the session (or API token) and guards pages.
pub async fn session_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // The public logo route is anyone's: it reads no session or token, and refuses none.
    if is_public_asset(req.uri().path()) {
        return next.run(req).await;
    }
    if req.headers().contains_key(header::AUTHORIZATION) {
        return bearer(&state, req, next).await;
    }
    let user = match cookie(req.headers(), SESSION_COOKIE) {
        Some(token) => {
            match users::resolve_session_kept(&state.reads, &state.db, state.clock.now(), token)
                .await
            {
                Ok(user) => user,
                Err(err) => return err.into_response(),
            }
        }
        None => None,
    };
    let path = req.uri().path().to_owned();
    match user {
        Some(user) => {
            req.extensions_mut().insert(user);
        }
        // API routes and server functions answer 401 themselves; pages redirect.
        None if !is_public(&path) && !path.starts_with("/api/") && !path.starts_with("/rpc/") => {
            let wanted = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
            return Redirect::to(&format!(
                "/sign-in?next={}",
                app::domain::percent_encode(wanted)
            ))
            .into_response();
        }
        None => {}
    }
    next.run(req).await
}

/// The origin (`scheme://host[:port]`) of a URL, lowercased.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// The `Host`s this portal answers to: its public URL's, and the loopback address it is
/// bound to when it has no public URL or signs people in for development. A page on
/// another name that resolves to this machine (DNS rebinding) is refused before routing.
#[derive(Clone, Debug)]
pub struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(state: &AppState, bound: std::net::SocketAddr) -> Self {
        let mut hosts = Vec::new();
        if let Some(authority) = state.public_url.as_deref().and_then(authority_of) {
            hosts.push(authority);
        }
        if (state.public_url.is_none() || state.dev_auth) && bound.ip().is_loopback() {
            hosts.push(bound.to_string().to_ascii_lowercase());
            hosts.push(format!("localhost:{}", bound.port()));
        }
        AllowedHosts(Arc::new(hosts))
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.0.contains(&host)
    }
}

/// `host[:port]` of a URL as a `Host` header carries it (no port when it is the default).
fn authority_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// True for a `Host` naming this machine's loopback interface.
fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a request whose `Host` is not one of the portal's (see [`AllowedHosts`]).
pub async fn host_guard(State(allowed): State<AllowedHosts>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(h) if allowed.allows(&h) => next.run(req).await,
        Some(h) => AppError::bad_request(format!(
            "this portal does not answer to the host '{}'",
            h.chars().take(100).collect::<String>()
        ))
        .into_response(),
        None => AppError::bad_request("the request names no host").into_response(),
    }
}

/// Refuses a state-changing request a browser sent from another site: forms, server
/// functions and REST calls that ride on the session cookie, and the sign-in forms, must
/// come from this portal's own pages (`Origin`, or `Referer` when a browser sends no
/// `Origin`). Requests without the cookie (API tokens, GitLab's webhook) carry no ambient
/// authority and pass.
pub async fn same_origin_guard(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let path = req.uri().path();
    let ambient = cookie(req.headers(), SESSION_COOKIE).is_some() || path.starts_with("/auth/");
    if safe || !ambient {
        return next.run(req).await;
    }
    let headers = req.headers();
    let sent = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")
        .and_then(origin_of)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(origin_of)
        });
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let ours = |origin: &str| {
        state
            .public_url
            .as_deref()
            .and_then(origin_of)
            .is_some_and(|p| p == origin)
            || host.is_some_and(|h| {
                origin
                    .split_once("://")
                    .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(h))
            })
    };
    match sent {
        Some(origin) if ours(&origin) => next.run(req).await,
        Some(origin) => AppError::forbidden(format!(
            "refused a cross-site request from {origin}: changes are only accepted from the portal's own pages"
        ))
        .into_response(),
        None => AppError::forbidden(
            "refused a request without Origin or Referer: changes are only accepted from the portal's own pages",
        )
        .into_response(),
    }
}

/// The longest `next` taken: longer than any page of the portal, shorter than any header limit.
const MAX_NEXT: usize = 2000;

/// Where to go after signing in, when `next` names a page of this portal (absent: the
/// dashboard). It must start with a single `/` and hold only what a URL's path and query
/// are made of: letters, digits, `-._~!$&'()*+,;=:@/?#`, and `%` before two hex digits.
/// Refused: control characters, spaces, a backslash, anything outside ASCII, a scheme
/// (`://`) and an authority (`//`). Browsers drop tabs and newlines from a URL and read `\`
/// as `/`, so `/<TAB>/evil.example/` or `/\evil.example` would take the person away.
pub fn checked_next(next: Option<&str>) -> Result<String, String> {
    let Some(next) = next else {
        return Ok("/".to_owned());
    };
    let shown: String = next
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    let refuse = |why: &str| {
        Err(format!(
            "After signing in the portal only takes you to its own pages, and '{shown}' is not one: {why}. Start from the page you want on this portal."
        ))
    };
    if next.len() > MAX_NEXT {
        return refuse("it is too long");
    }
    if !next.starts_with('/') {
        return refuse("it does not start with /");
    }
    if next.starts_with("//") || next.contains("://") {
        return refuse("it names another site");
    }
    let bytes = next.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let allowed = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&b);
        if !allowed {
            return refuse("it holds a character no path of the portal has");
        }
        if b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            return refuse("it holds a % that starts no escape");
        }
    }
    Ok(next.to_owned())
}

/// Only a path on this portal is a place to return to (see [`checked_next`]); anything
/// else is the dashboard. Callers that can say no compare the two and refuse.
pub fn safe_next(next: Option<&str>) -> String {
    checked_next(next).unwrap_or_else(|_| "/".to_owned())
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page saying why sign-in stopped, with the status it stopped with.
pub(crate) fn refused_page(status: axum::http::StatusCode, message: &str) -> Response {
    sign_in_stopped_page(status, "Sign-in refused", "Sign-in refused", message)
}

/// The one page for a sign-in that stopped: its title, its heading and why, escaped.
pub(crate) fn sign_in_stopped_page(
    status: axum::http::StatusCode,
    title: &str,
    heading: &str,
    message: &str,
) -> Response {
    let page = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title>
<link rel="stylesheet" href="/pkg/portal.css"></head>
<body class="min-h-screen flex items-center justify-center bg-gray-100">
<main class="max-w-lg bg-white rounded-xl shadow p-8">
<h1 class="text-xl font-semibold mb-3">{}</h1>
<p class="text-sm text-gray-800 mb-6" data-testid="sign-in-error">{}</p>
<a class="text-violet-700 hover:underline" href="/sign-in">Try again</a>
</main></body></html>"#,
        escape_html(title),
        escape_html(heading),
        escape_html(message)
    );
    (status, axum::response::Html(page)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct DevSignIn {
    username: String,
    next: Option<String>,
}

/// `POST /auth/dev`: signs in as a seeded user (development sign-in only).
pub async fn dev_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DevSignIn>,
) -> AppResult<Response> {
    if !state.dev_auth {
        return Err(AppError::not_found("development sign-in"));
    }
    // Development sign-in is for someone at this machine, whatever name it is reached by.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !loopback_host(host) {
        return Err(AppError::forbidden(
            "development sign-in is only for a portal reached on a loopback address",
        ));
    }
    // Where to go afterwards is checked before anyone is signed in.
    let next = match checked_next(form.next.as_deref()) {
        Ok(next) => next,
        Err(why) => return Ok(refused_page(axum::http::StatusCode::BAD_REQUEST, &why)),
    };
    // A new session id at every sign-in: whatever session the browser had ends.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        users::sign_out(&state.db, old).await?;
    }
    let (token, _user): (String, CurrentUser) =
        users::sign_in(&state.db, state.clock.now(), form.username.trim()).await?;
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(
            &token,
            state.secure_cookies(),
            users::SESSION_ABSOLUTE.num_seconds(),
        ),
    );
    Ok(response)
}

/// `POST /auth/sign-out`: ends the session on the server and clears the cookie.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        users::sign_out(&state.db, token).await?;
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", state.secure_cookies(), 0),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_next(Some("/partners/aws?x=1")), "/partners/aws?x=1");
        assert_eq!(safe_next(None), "/");
        for fine in [
            "/",
            "/releases?page=2",
            "/listings/3/copy#top",
            "/search?q=gitlab%20ee&kind=image",
            "/a-b_c.d~e/!$&'()*+,;=:@",
        ] {
            assert_eq!(checked_next(Some(fine)), Ok(fine.to_owned()), "{fine}");
        }
        for evil in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "evil",
            "",
            "/redirect?u=http://x",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r//evil.example/",
            "/ /evil.example/",
            "/\u{0}/evil.example/",
            "/\u{7f}/evil.example/",
            "/\u{a0}/evil.example/",
            "/\u{3000}/evil.example/",
            "/%",
            "/%zz/evil.example/",
            "/\"onmouseover=x",
            "/<script>",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
            let why = checked_next(Some(evil)).expect_err(evil);
            assert!(!why.chars().any(char::is_control), "{why:?}");
        }
        assert!(checked_next(Some(&format!("/{}", "a".repeat(MAX_NEXT)))).is_err());
    }

    #[test]
    fn only_the_public_logo_route_is_reached_without_signing_in_beside_the_old_ones() {
        for public in ["/public/assets/12/3/logo.png", "/public/assets/x"] {
            assert!(is_public(public), "{public}");
        }
        for private in [
            "/public/assets/",
            "/public/assets",
            "/public/other/1/1/x",
            "/public/",
            "/api/v1/assets/12/versions/3/file",
            "/assets/12",
        ] {
            assert!(!is_public(private), "{private}");
        }
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; portal_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
    }
}
