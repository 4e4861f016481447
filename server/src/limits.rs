//! Limits on what one person or client can make the portal do: live job event streams per
//! person ([`StreamSlots`]), the body a request without a session may send
//! ([`anonymous_body_limit`]), and sign-in attempts per client address ([`sign_in_limiter`]).

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
