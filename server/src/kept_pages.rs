//! Rendered pages kept for a moment, per person and address, and served again with a
//! fresh CSP nonce.
//!
//! A page is rendered from the database, the portal's configuration, the business clock,
//! the address asked for and the person signed in; nothing else of the request reaches the
//! render. A page rendered for one person at one address is therefore kept and served to
//! that same person at that same address, on the same terms as the portal's kept read models
//! ([`ReadCache`]): any write through the portal's connection makes it stale, and it is
//! never served more than [`app::services::read_cache::FRESH_FOR`] after it was rendered,
//! nor for another business time.
//!
//! Each response still carries a nonce of its own. The render's nonce is random and made
//! during the render, so nothing stored before it (listing copy, an address) can contain it;
//! the places where it occurs in the page and its CSP header are recorded, and each serving
//! puts a new nonce in exactly those places.
//!
//! A page that is not kept is rendered once for everyone asking for it at that moment: the
//! first request renders it and the others wait for that render, so a kept page going stale
//! under load starts one render, not one per waiting request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::Bytes;

use app::{
    domain::CurrentUser,
    error::AppError,
    services::{
        Clock,
        read_cache::{QUESTION_AT_MOST, ReadCache, Stamp, Turns},
    },
};

/// The most bytes of pages one portal keeps at once. The bench's eight pages take under
/// a megabyte; past the limit the stale pages are dropped, and if none is, all of them.
pub const PAGE_BYTES_AT_MOST: usize = 16 * 1024 * 1024;

/// The largest single page kept: a page larger than a quarter of the limit is rendered
/// every time rather than crowding out everyone else's.
const ONE_PAGE_AT_MOST: usize = PAGE_BYTES_AT_MOST / 4;

/// The pages kept by one portal, stamped by its [`ReadCache`] and its business clock.
#[derive(Clone)]
pub struct KeptPages {
    reads: ReadCache,
    clock: Arc<dyn Clock>,
    pages: Arc<Mutex<Pages>>,
    /// The renders under way, by key: a request for a page being rendered waits for it.
    rendering: Turns<String>,
}

#[derive(Default)]
struct Pages {
    by_key: HashMap<Box<str>, Arc<KeptPage>>,
    bytes: usize,
}

/// One rendered page: its headers and body, and where its render's nonce occurs in them.
struct KeptPage {
    stamp: Stamp,
    headers: HeaderMap,
    body: Bytes,
    nonce: Box<str>,
    /// Byte offsets of the nonce in `body`, in order.
    at: Vec<usize>,
}

impl KeptPages {
    pub fn new(reads: ReadCache, clock: Arc<dyn Clock>) -> Self {
        KeptPages {
            reads,
            clock,
            pages: Arc::default(),
            rendering: Turns::default(),
        }
    }

    fn fresh(&self, key: &str) -> Option<Arc<KeptPage>> {
        let now = self.clock.now();
        let pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        let page = pages.by_key.get(key)?;
        self.reads.is_fresh(&page.stamp, now).then(|| page.clone())
    }

    fn keep(&self, key: String, page: KeptPage) {
        let size = page.body.len();
        if size > ONE_PAGE_AT_MOST {
            return;
        }
        let now = self.clock.now();
        let mut pages = self.pages.lock().unwrap_or_else(PoisonError::into_inner);
        if pages.bytes + size > PAGE_BYTES_AT_MOST {
            pages
                .by_key
                .retain(|_, p| self.reads.is_fresh(&p.stamp, now));
            pages.bytes = pages.by_key.values().map(|p| p.body.len()).sum();
            if pages.bytes + size > PAGE_BYTES_AT_MOST {
                pages.by_key.clear();
                pages.bytes = 0;
            }
        }
        if let Some(old) = pages.by_key.insert(key.into(), Arc::new(page)) {
            pages.bytes -= old.body.len();
        }
        pages.bytes += size;
    }

    /// How many bytes of pages are kept now.
    pub fn bytes(&self) -> usize {
        self.pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

/// What a request's page is kept by: the person and the address. Only a signed-in
/// person's `GET` of a page (not a server function) is kept, and not for an address longer
/// than [`QUESTION_AT_MOST`]; nor a request that brings a form's flash, which its page
/// shows once.
fn key_of(req: &Request) -> Option<String> {
    if req.method() != Method::GET || req.uri().path().starts_with("/rpc/") {
        return None;
    }
    if crate::auth::cookie(req.headers(), app::components::FLASH_COOKIE).is_some() {
        return None;
    }
    let user = req.extensions().get::<CurrentUser>()?;
    let address = req.uri().path_and_query()?.as_str();
    (address.len() <= QUESTION_AT_MOST).then(|| format!("{user:?} {address}"))
}

/// Serves a signed-in person's page from what is kept when it is fresh, and otherwise
/// renders it and keeps it when it may be: a whole `200` page that sets no cookie and names
/// its nonce in its CSP header.
pub async fn keep_pages(State(kept): State<KeptPages>, req: Request, next: Next) -> Response {
    let Some(key) = key_of(&req) else {
        return next.run(req).await;
    };
    if let Some(page) = kept.fresh(&key) {
        return page.serve();
    }
    let _turn = kept.rendering.take(&key).await;
    match kept.fresh(&key) {
        // Rendered while this request waited (and nothing written since it began).
        Some(page) => page.serve(),
        None => render_and_keep(&kept, key, req, next).await,
    }
}

/// Renders the page and keeps it when it may be kept.
async fn render_and_keep(kept: &KeptPages, key: String, req: Request, next: Next) -> Response {
    let stamp = kept.reads.stamp(kept.clock.now());
    let response = next.run(req).await;
    if response.status() != StatusCode::OK || response.headers().contains_key(header::SET_COOKIE) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => return AppError::internal("rendering a page", err).into_response(),
    };
    if let Some(page) = KeptPage::of(stamp, &parts.headers, body.clone()) {
        kept.keep(key, page);
    }
    Response::from_parts(parts, Body::from(body))
}

impl KeptPage {
    /// The page to keep, if its CSP header names a nonce and its body is text.
    fn of(stamp: Stamp, headers: &HeaderMap, body: Bytes) -> Option<KeptPage> {
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)?
            .to_str()
            .ok()?;
        let nonce = nonce_in(csp)?;
        let at = std::str::from_utf8(&body)
            .ok()?
            .match_indices(nonce)
            .map(|(i, _)| i)
            .collect();
        let mut headers = headers.clone();
        headers.remove(header::CONTENT_LENGTH);
        Some(KeptPage {
            stamp,
            nonce: nonce.into(),
            headers,
            body,
            at,
        })
    }

    /// The page again, with a nonce of its own wherever the render's nonce was.
    fn serve(&self) -> Response {
        let nonce = leptos::nonce::Nonce::new().to_string();
        let mut body = Vec::with_capacity(self.body.len() + self.at.len() * nonce.len());
        let mut from = 0;
        for &at in &self.at {
            body.extend_from_slice(&self.body[from..at]);
            body.extend_from_slice(nonce.as_bytes());
            from = at + self.nonce.len();
        }
        body.extend_from_slice(&self.body[from..]);
        let mut headers = self.headers.clone();
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.replace(&*self.nonce, &nonce))
            .and_then(|v| HeaderValue::from_str(&v).ok());
        match csp {
            Some(csp) => {
                headers.insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            // Never serve a page with a policy for another response's nonce.
            None => {
                return AppError::internal("serving a kept page", "its policy was lost")
                    .into_response();
            }
        }
        let mut response = Response::new(Body::from(body));
        *response.headers_mut() = headers;
        response
    }
}

/// The nonce a CSP header allows scripts by (`'nonce-…'`).
fn nonce_in(csp: &str) -> Option<&str> {
    let from = csp.find("'nonce-")? + "'nonce-".len();
    let len = csp[from..].find('\'')?;
    (len > 0).then(|| &csp[from..from + len])
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use axum::{Router, routing::get};
    use chrono::{DateTime, Utc};
    use tower::ServiceExt;

    use app::{
        domain::Role,
        services::{ManualClock, read_cache::FRESH_FOR},
    };

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap_or_default()
    }

    /// A page rendered the way the portal renders one: a fresh nonce in its CSP header and
    /// its scripts, and copy that shows a person's text (here one that names a nonce).
    async fn render(renders: Arc<AtomicUsize>) -> Response {
        let n = renders.fetch_add(1, SeqCst) + 1;
        let nonce = leptos::nonce::Nonce::new().to_string();
        let mut response = format!(
            "<script nonce=\"{nonce}\">go()</script><p>render {n}</p><p>&lt;script nonce=\"x\"&gt;</p><script nonce=\"{nonce}\"></script>"
        )
        .into_response();
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&format!("script-src 'self' 'nonce-{nonce}'"))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        );
        response
    }

    struct Site {
        router: Router,
        renders: Arc<AtomicUsize>,
        reads: ReadCache,
        clock: Arc<ManualClock>,
        kept: KeptPages,
    }

    fn site() -> Site {
        let renders = Arc::new(AtomicUsize::new(0));
        let reads = ReadCache::default();
        let clock = Arc::new(ManualClock::new(at(0)));
        let kept = KeptPages::new(reads.clone(), clock.clone());
        let r = renders.clone();
        let router = Router::new()
            .route("/page", get(move || render(r.clone())))
            .route("/rpc/call", get(|| async { "called" }))
            .route(
                "/cookie",
                get(|| async {
                    let mut response = render(Arc::default()).await;
                    response
                        .headers_mut()
                        .insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
                    response
                }),
            )
            .route(
                "/missing",
                get(|| async { (StatusCode::NOT_FOUND, render(Arc::default()).await) }),
            )
            .layer(axum::middleware::from_fn_with_state(
                kept.clone(),
                keep_pages,
            ));
        Site {
            router,
            renders,
            reads,
            clock,
            kept,
        }
    }

    fn person(id: i32, roles: Vec<Role>) -> CurrentUser {
        CurrentUser {
            id,
            username: format!("p{id}"),
            name: format!("Person {id}"),
            roles,
        }
    }

    /// The page's body and its CSP header's nonce, as `site` serves them.
    async fn get_as(site: &Site, who: Option<&CurrentUser>, path: &str) -> (String, String) {
        get_from(&site.router, who, path).await
    }

    /// The page's body and its CSP header's nonce, as `router` serves them to `who`.
    async fn get_from(router: &Router, who: Option<&CurrentUser>, path: &str) -> (String, String) {
        let mut req = Request::get(path).body(Body::empty()).unwrap_or_default();
        if let Some(who) = who {
            req.extensions_mut().insert(who.clone());
        }
        let Ok(res) = router.clone().oneshot(req).await;
        let csp = res
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .and_then(nonce_in)
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (String::from_utf8_lossy(&body).into_owned(), csp)
    }

    fn renders(site: &Site) -> usize {
        site.renders.load(SeqCst)
    }

    #[tokio::test]
    async fn a_page_is_served_again_to_its_person_with_a_nonce_of_its_own() {
        let site = site();
        let viewer = person(1, vec![Role::Viewer]);
        let (first, first_nonce) = get_as(&site, Some(&viewer), "/page").await;
        let (second, second_nonce) = get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(renders(&site), 1, "the second is served from what was kept");
        assert!(second.contains("render 1"), "{second}");
        assert_ne!(first_nonce, second_nonce, "each response has its own nonce");
        assert!(!second_nonce.is_empty());
        assert_eq!(
            second
                .matches(&format!("<script nonce=\"{second_nonce}\">"))
                .count(),
            2,
            "both scripts carry the new nonce: {second}"
        );
        assert!(
            !second.contains(&first_nonce),
            "no trace of the render's nonce"
        );
        assert!(
            second.contains("&lt;script nonce=\"x\"&gt;"),
            "the person's text is as rendered"
        );
        assert_eq!(
            first.replace(&first_nonce, "N"),
            second.replace(&second_nonce, "N")
        );
        assert!(site.kept.bytes() > 0);
    }

    #[tokio::test]
    async fn a_page_is_rendered_again_for_someone_else_a_write_or_another_time() {
        let site = site();
        let viewer = person(1, vec![Role::Viewer]);
        get_as(&site, Some(&viewer), "/page").await;
        get_as(&site, Some(&person(2, vec![Role::Viewer])), "/page").await;
        assert_eq!(renders(&site), 2, "another person");
        get_as(
            &site,
            Some(&person(1, vec![Role::Viewer, Role::Marketing])),
            "/page",
        )
        .await;
        assert_eq!(renders(&site), 3, "the same person with another role");
        get_as(&site, Some(&viewer), "/page?tab=2").await;
        assert_eq!(renders(&site), 4, "another address");

        get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(renders(&site), 4, "kept");
        site.reads
            .writes()
            .note_statement("UPDATE \"listings\" SET \"title\" = $1");
        let (after_write, _) = get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(renders(&site), 5, "a write makes it stale");
        assert!(after_write.contains("render 5"), "{after_write}");

        let later = chrono::Duration::from_std(FRESH_FOR).unwrap_or_default();
        site.clock.set(at(0) + later);
        get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(renders(&site), 6, "another business time");

        site.reads.clear();
        get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(renders(&site), 7, "cleared");
    }

    #[tokio::test]
    async fn only_a_signed_in_persons_whole_page_is_kept() {
        let site = site();
        let viewer = person(1, vec![Role::Viewer]);
        get_as(&site, None, "/page").await;
        get_as(&site, None, "/page").await;
        assert_eq!(renders(&site), 2, "nobody signed in: rendered each time");
        let long = format!("/page?q={}", "x".repeat(QUESTION_AT_MOST));
        get_as(&site, Some(&viewer), &long).await;
        get_as(&site, Some(&viewer), &long).await;
        assert_eq!(renders(&site), 4, "an address too long to keep");

        for path in ["/cookie", "/missing", "/rpc/call"] {
            get_as(&site, Some(&viewer), path).await;
        }
        assert_eq!(site.kept.bytes(), 0, "a cookie, a 404 or a server function");

        let req = Request::post("/page")
            .body(Body::empty())
            .unwrap_or_default();
        let Ok(res) = site.router.clone().oneshot(req).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    /// A form's flash is shown once, by a page rendered for the request that brings it.
    #[tokio::test]
    async fn a_request_bringing_a_flash_is_rendered_and_not_kept() {
        let site = site();
        let viewer = person(1, vec![Role::Viewer]);
        get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(renders(&site), 1);
        for _ in 0..2 {
            let mut req = Request::get("/page")
                .body(Body::empty())
                .unwrap_or_default();
            req.extensions_mut().insert(viewer.clone());
            req.headers_mut().insert(
                header::COOKIE,
                HeaderValue::from_static("portal_session=s; portal_flash=e30"),
            );
            let Ok(res) = site.router.clone().oneshot(req).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        assert_eq!(renders(&site), 3, "rendered for each request with a flash");
        get_as(&site, Some(&viewer), "/page").await;
        assert_eq!(
            renders(&site),
            3,
            "the page kept before is served again without one"
        );
    }

    /// Eight requests for a page that is not kept: one renders it, the seven others wait
    /// for that render and are served it, each with a nonce of its own.
    #[tokio::test(flavor = "current_thread")]
    async fn a_page_asked_for_by_many_at_once_is_rendered_once() {
        let renders = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let kept = KeptPages::new(ReadCache::default(), Arc::new(ManualClock::new(at(0))));
        let router = {
            let (renders, gate, arrived) = (renders.clone(), gate.clone(), arrived.clone());
            Router::new()
                .route(
                    "/page",
                    get(move || {
                        let (renders, gate) = (renders.clone(), gate.clone());
                        async move {
                            let _open = gate.acquire().await;
                            render(renders).await
                        }
                    }),
                )
                .layer(axum::middleware::from_fn_with_state(
                    kept.clone(),
                    keep_pages,
                ))
                .layer(axum::middleware::from_fn(
                    move |req: Request, next: Next| {
                        arrived.fetch_add(1, SeqCst);
                        next.run(req)
                    },
                ))
        };
        let viewer = person(1, vec![Role::Viewer]);
        let answers: Vec<_> = (0..8)
            .map(|_| {
                let (router, viewer) = (router.clone(), viewer.clone());
                tokio::spawn(async move { get_from(&router, Some(&viewer), "/page").await })
            })
            .collect();
        // Every request is in before the first render may finish.
        while arrived.load(SeqCst) < 8 {
            tokio::task::yield_now().await;
        }
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(8);
        let mut nonces = std::collections::BTreeSet::new();
        for answer in futures::future::join_all(answers).await {
            let Ok((page, nonce)) = answer else {
                panic!("a request answered");
            };
            assert!(page.contains("render 1") && !nonce.is_empty(), "{page}");
            nonces.insert(nonce);
        }
        assert_eq!(renders.load(SeqCst), 1, "rendered once for all eight");
        assert_eq!(nonces.len(), 8, "a nonce for each answer");
        assert_eq!(kept.rendering.remembered(), 0, "no turn is left behind");
    }

    #[tokio::test]
    async fn a_page_without_a_nonce_in_its_policy_is_not_kept() {
        let reads = ReadCache::default();
        let kept = KeptPages::new(reads.clone(), Arc::new(ManualClock::new(at(0))));
        let mut headers = HeaderMap::new();
        let body = Bytes::from_static(b"<p>page</p>");
        assert!(KeptPage::of(reads.stamp(at(0)), &headers, body.clone()).is_none());
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'self'"),
        );
        assert!(KeptPage::of(reads.stamp(at(0)), &headers, body).is_none());
        assert_eq!(kept.bytes(), 0);
        assert_eq!(nonce_in("script-src 'nonce-' 'self'"), None);
        assert_eq!(nonce_in("script-src 'nonce-abc' 'self'"), Some("abc"));
    }

    #[tokio::test]
    async fn no_more_than_so_many_bytes_of_pages_are_kept() {
        let reads = ReadCache::default();
        let kept = KeptPages::new(reads.clone(), Arc::new(ManualClock::new(at(0))));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'nonce-abc'"),
        );
        let page = |size: usize| {
            KeptPage::of(reads.stamp(at(0)), &headers, Bytes::from(vec![b'a'; size]))
                .unwrap_or_else(|| panic!("a page of {size} bytes"))
        };
        let quarter = ONE_PAGE_AT_MOST;
        for i in 0..4 {
            kept.keep(format!("p{i}"), page(quarter));
        }
        assert_eq!(kept.bytes(), PAGE_BYTES_AT_MOST);
        kept.keep("p4".into(), page(10));
        assert_eq!(kept.bytes(), 10, "all were fresh, so all were dropped");
        kept.keep("big".into(), page(quarter + 1));
        assert_eq!(kept.bytes(), 10, "a page larger than a quarter is not kept");
        kept.keep("p4".into(), page(20));
        assert_eq!(kept.bytes(), 20, "the same page again replaces it");
    }
}
