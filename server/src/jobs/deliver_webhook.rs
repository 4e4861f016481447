//! Delivers one event to an outbound webhook: Slack-compatible JSON, signed with the
//! webhook's secret (`X-Portal-Signature: sha256=<hex HMAC-SHA256 of the body>`). A receiver
//! that is down, slow or throttling is retried with backoff by the runner; one that refuses
//! the request outright (4xx) is not.
//!
//! A delivery reaches only what the portal's [`WebhookPolicy`] allows: the URL's scheme and
//! literal address are checked, and a host name is resolved by [`CheckedResolver`], which
//! hands the connection only the addresses that pass, so a name that resolves to this
//! machine or a private network (even one that changed since the webhook was added) is never
//! connected to. Redirects are not followed and no proxy is used. What the job records of a
//! failure is a fixed category ("connection refused", "HTTP 503"), never the client's own
//! error text, which carries the URL, a secret.

use std::{net::SocketAddr, sync::Arc, time::Duration as StdDuration};

use anyhow::anyhow;
use futures::future::BoxFuture;

use app::services::{
    notify::{self, DeliverWebhook, SIGNATURE_HEADER},
    outbound::{self, AddressNotAllowed, WebhookPolicy},
};

use super::{JobContext, JobError, JobHandler, JobResult, Outcome};

/// Resolves a receiver's host name and keeps only the addresses the policy allows; with
/// none left the connection fails with [`AddressNotAllowed`].
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    pub policy: WebhookPolicy,
}

/// A receiver's host name that does not resolve.
#[derive(Debug)]
struct NameNotResolved;

impl std::fmt::Display for NameNotResolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("name not resolved")
    }
}

impl std::error::Error for NameNotResolved {}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| NameNotResolved)?
                .collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| outbound::address_allowed(addr.ip(), policy))
                .collect();
            if allowed.is_empty() {
                return Err(AddressNotAllowed.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client deliveries use under one policy.
fn client(policy: WebhookPolicy) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(StdDuration::from_secs(10))
        .connect_timeout(StdDuration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(CheckedResolver { policy }))
        .user_agent("partner-image-portal")
        .build()
        .map_err(|e| e.without_url().to_string())
}

/// What a failed request is recorded as: a category that says what to look at, with
/// nothing of the URL or the network behind it.
pub fn failure_category(err: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut refused = false;
    while let Some(e) = source {
        if e.is::<AddressNotAllowed>() {
            return "address not allowed";
        }
        if e.is::<NameNotResolved>() {
            return "name not resolved";
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => refused = true,
                std::io::ErrorKind::TimedOut => return "timed out",
                _ => {}
            }
        }
        source = e.source();
    }
    if err.is_timeout() {
        "timed out"
    } else if refused {
        "connection refused"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// Runs [`DeliverWebhook`] jobs.
pub struct Handler {
    /// For the default policy, which connects to public addresses only.
    public: Result<reqwest::Client, String>,
    /// For a policy that also lets private receivers through (testing).
    private: Result<reqwest::Client, String>,
}

impl Handler {
    pub fn new() -> Self {
        Handler {
            public: client(WebhookPolicy {
                allow_http: false,
                allow_private: false,
            }),
            private: client(WebhookPolicy {
                allow_http: false,
                allow_private: true,
            }),
        }
    }

    fn client(&self, policy: WebhookPolicy) -> Result<&reqwest::Client, JobError> {
        let client = if policy.allow_private {
            &self.private
        } else {
            &self.public
        };
        client.as_ref().map_err(|e| {
            JobError::Retryable(anyhow!("the HTTP client for webhooks failed to start: {e}"))
        })
    }
}

impl Default for Handler {
    fn default() -> Self {
        Self::new()
    }
}

impl JobHandler for Handler {
    type Kind = DeliverWebhook;

    fn run<'a>(
        &'a self,
        ctx: &'a mut JobContext,
        delivery: DeliverWebhook,
    ) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            let found = notify::webhook_for_delivery(
                &ctx.state.db,
                &ctx.state.secret_key,
                delivery.webhook_id,
            )
            .await
            .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
            let Some((hook, secret)) = found.filter(|(h, _)| h.active) else {
                ctx.log("the webhook was removed or turned off: nothing sent")
                    .await;
                return Ok(Outcome::Done(serde_json::json!({ "sent": false })));
            };
            let policy = ctx.state.webhooks;
            let Ok(target) = outbound::delivery_target(&hook.url, policy) else {
                return Err(JobError::Fatal(anyhow!(
                    "{}: address not allowed (webhooks go over https to receivers on the internet)",
                    hook.name
                )));
            };
            let client = self.client(policy)?;
            let body = serde_json::to_vec(&delivery.payload(ctx.state.public_url.as_deref()))
                .map_err(|e| JobError::Fatal(anyhow!("encoding the event: {e}")))?;
            let signature = notify::sign(secret.expose(), &body);
            ctx.log(format!("sending {} to {}", delivery.kind, hook.name))
                .await;
            let response = match client
                .post(target)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header("X-Portal-Event", delivery.kind.as_str())
                .header("X-Portal-Delivery", ctx.job.id.to_string())
                .body(body)
                .send()
                .await
            {
                Ok(response) => response,
                Err(err) => {
                    let category = failure_category(&err);
                    // The operator's log gets the cause, still without the URL.
                    tracing::warn!(webhook = hook.id, error = %err.without_url(), "{category}");
                    let error = anyhow!("{}: {category}", hook.name);
                    return Err(if category == "address not allowed" {
                        JobError::Fatal(error)
                    } else {
                        JobError::Retryable(error)
                    });
                }
            };
            let status = response.status();
            if status.is_success() {
                ctx.log(format!("{} answered HTTP {}", hook.name, status.as_u16()))
                    .await;
                return Ok(Outcome::Done(
                    serde_json::json!({ "sent": true, "status": status.as_u16() }),
                ));
            }
            let error = anyhow!("{}: HTTP {}", hook.name, status.as_u16());
            if status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
            {
                Err(JobError::Retryable(error))
            } else {
                Err(JobError::Fatal(error))
            }
        })
    }
}
