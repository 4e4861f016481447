//! Limits on what one person or client can make the portal do: live job event streams per
//! person ([`StreamSlots`]), the body a request without a session may send
//! ([`anonymous_body_limit`]), sign-in attempts per client address ([`sign_in_limited`]),
//! and how many pages render at once ([`PageRenders`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{Response, header},
    middleware::Next,
    response::IntoResponse,
};
use tower_governor::{
    GovernorError, GovernorLayer, governor::GovernorConfigBuilder,
    key_extractor::PeerIpKeyExtractor,
};

use app::{
    domain::CurrentUser,
    error::{AppError, ErrorCode},
};

/// The limits the HTTP server applies, from the configuration.
#[derive(Debug, Clone)]
pub struct WebLimits {
    /// Live job event streams one person may have open at once.
    pub event_streams_per_person: usize,
    /// Sign-in attempts one client address may make in a burst…
    pub sign_in_burst: u32,
    /// …and how long it waits for each one more.
    pub sign_in_period: Duration,
}

/// How many pages render at once: two per core. A page's render is work for the CPU alone
/// (its statements take microseconds), so more at once only holds more half-built pages in
/// memory; a page past the limit waits its turn, first come first served.
#[derive(Debug, Clone)]
pub struct PageRenders(Arc<tokio::sync::Semaphore>);

impl PageRenders {
    pub fn new(at_once: usize) -> Self {
        PageRenders(Arc::new(tokio::sync::Semaphore::new(at_once.max(1))))
    }

    /// Two per core of this machine.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get() * 2))
    }
}

/// Renders a page while holding one of [`PageRenders`]' turns, and renders it whole before
/// giving the turn back: a client that reads slowly holds no turn. Server functions
/// (`/rpc/…`) take no turn.
pub async fn page_render_turn(
    axum::extract::State(renders): axum::extract::State<PageRenders>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    if req.uri().path().starts_with("/rpc/") {
        return next.run(req).await;
    }
    let Ok(_turn) = renders.0.acquire().await else {
        // Never closed: the portal holds the semaphore for as long as it serves.
        return next.run(req).await;
    };
    let (parts, body) = next.run(req).await.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(page) => axum::response::Response::from_parts(parts, Body::from(page)),
        Err(err) => AppError::internal("rendering a page", err).into_response(),
    }
}

/// How many bytes a request without a session may send: enough for the sign-in forms,
/// far too little to make the portal read megabytes for someone it does not know.
pub const ANONYMOUS_BODY_LIMIT: usize = 16 * 1024;

/// GitLab's release webhook authenticates with its token, not a session; its events
/// (a tag push lists its commits) may be larger than a form.
pub const GITLAB_EVENT_BODY_LIMIT: usize = 1024 * 1024;

/// Keeps requests without a signed-in person (no session, no API token) to a small body:
/// one that says it is larger is refused with 413 before any of it is read, and one that
/// does not say is cut off at the limit. Runs after the session is resolved.
pub async fn anonymous_body_limit(req: Request, next: Next) -> axum::response::Response {
    if req.extensions().get::<CurrentUser>().is_some() {
        return next.run(req).await;
    }
    let limit = if req.uri().path() == "/api/v1/webhooks/gitlab" {
        GITLAB_EVENT_BODY_LIMIT
    } else {
        ANONYMOUS_BODY_LIMIT
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return AppError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "a request without a session may send at most {} KB: sign in first",
                limit / 1024
            ),
        )
        .into_response();
    }
    let req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    next.run(req).await
}

/// The live event streams each person has open, capped per person.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    per_person: usize,
    open: Arc<Mutex<HashMap<i32, usize>>>,
}

impl StreamSlots {
    pub fn new(per_person: usize) -> Self {
        StreamSlots {
            per_person,
            open: Arc::default(),
        }
    }

    /// Takes one of `user`'s slots for as long as the returned guard lives; 429 when they
    /// have every slot open already.
    pub fn take(&self, user: i32) -> Result<StreamSlot, AppError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user).or_insert(0);
        if *count >= self.per_person {
            return Err(AppError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "you have {} live job streams open, the most one person may: close one (a job page in another tab) first",
                    self.per_person
                ),
            ));
        }
        *count += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            user,
        })
    }

    /// How many streams `user` has open.
    pub fn open(&self, user: i32) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .copied()
            .unwrap_or(0)
    }
}

/// One open stream; gives its slot back when dropped, however the stream ends.
#[derive(Debug)]
pub struct StreamSlot {
    slots: StreamSlots,
    user: i32,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Puts the rate limit on sign-in attempts on every route of `routes`, keyed by the
/// client's address as the connection shows it (the server must be served with
/// `ConnectInfo`; no forwarding header is trusted). Beyond the burst a client gets 429 with
/// `Retry-After` until the period gives it another attempt. The routes share one count.
pub fn sign_in_limited<S>(routes: Router<S>, limits: &WebLimits) -> anyhow::Result<Router<S>>
where
    S: Clone + Send + Sync + 'static,
{
    let config = GovernorConfigBuilder::default()
        .period(limits.sign_in_period)
        .burst_size(limits.sign_in_burst)
        .finish()
        .ok_or_else(|| {
            anyhow::anyhow!("PORTAL_SIGN_IN_BURST and PORTAL_SIGN_IN_PERIOD_SECONDS must not be 0")
        })?;
    let config = Arc::new(config);
    // Forget clients that have their whole burst back, so the table stays small; the task
    // ends with the router that holds the limiter.
    let limiter = Arc::downgrade(config.limiter());
    let every = limits.sign_in_period.max(Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match limiter.upgrade() {
                Some(limiter) => limiter.retain_recent(),
                None => return,
            }
        }
    });
    let layer: GovernorLayer<PeerIpKeyExtractor, _, Body> =
        GovernorLayer::new(config).error_handler(too_many_sign_ins);
    Ok(routes.route_layer(layer))
}

fn too_many_sign_ins(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, headers } => {
            let mut response = AppError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "too many sign-in attempts from this address: try again in {} s",
                    wait_time.max(1)
                ),
            )
            .into_response();
            if let Some(headers) = headers {
                response.headers_mut().extend(headers);
            }
            response
        }
        GovernorError::UnableToExtractKey => {
            AppError::internal("sign-in rate limit", "the client address is unknown")
                .into_response()
        }
        GovernorError::Other { code, msg, .. } => AppError::internal(
            "sign-in rate limit",
            format!("{code}: {}", msg.unwrap_or_default()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eight requests at once to a page that takes a while and arrives in parts: no more
    /// than the turns render together, each comes whole, and server functions take no turn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_render_in_turns_and_whole() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

        use axum::body::HttpBody as _;
        use futures::StreamExt;
        use tower::ServiceExt;

        #[derive(Default)]
        struct Seen {
            rendering: AtomicUsize,
            most: AtomicUsize,
        }
        let render = |seen: Arc<Seen>| async move {
            let now = seen.rendering.fetch_add(1, SeqCst) + 1;
            seen.most.fetch_max(now, SeqCst);
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            seen.rendering.fetch_sub(1, SeqCst);
            let parts = futures::stream::iter(["<p>", "whole", "</p>"])
                .map(Ok::<_, std::convert::Infallible>);
            Body::from_stream(parts)
        };
        let (pages, rpc) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
        let router = {
            let (pages, rpc) = (pages.clone(), rpc.clone());
            Router::new()
                .route("/page", axum::routing::get(move || render(pages.clone())))
                .route("/rpc/call", axum::routing::get(move || render(rpc.clone())))
                .layer(axum::middleware::from_fn_with_state(
                    PageRenders::new(2),
                    page_render_turn,
                ))
        };
        for path in ["/page", "/rpc/call"] {
            let answers = (0..8).map(|_| {
                let router = router.clone();
                tokio::spawn(async move {
                    let req = Request::get(path).body(Body::empty()).unwrap_or_default();
                    router.oneshot(req).await
                })
            });
            for answer in futures::future::join_all(answers).await {
                let Ok(Ok(res)) = answer else {
                    panic!("{path} answered");
                };
                if path == "/page" {
                    assert_eq!(res.body().size_hint().exact(), Some(12), "whole");
                }
                let body = axum::body::to_bytes(res.into_body(), 1024).await;
                assert_eq!(body.ok().as_deref(), Some(&b"<p>whole</p>"[..]));
            }
        }
        assert!(pages.most.load(SeqCst) <= 2, "{:?}", pages.most);
        assert!(rpc.most.load(SeqCst) > 2, "{:?}", rpc.most);
    }

    #[test]
    fn a_person_gets_a_slot_back_when_a_stream_ends() {
        let slots = StreamSlots::new(2);
        let first = slots.take(7).expect("first");
        let _second = slots.take(7).expect("second");
        let err = slots.take(7).expect_err("third is one too many");
        assert_eq!(err.code, ErrorCode::TooManyRequests);
        assert_eq!(err.code.http_status(), 429);
        assert!(slots.take(8).is_ok(), "someone else has slots of their own");
        drop(first);
        assert_eq!(slots.open(7), 1);
        assert!(slots.take(7).is_ok());
    }
}
