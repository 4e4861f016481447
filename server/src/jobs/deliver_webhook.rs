//! Delivers one event to an outbound webhook: Slack-compatible JSON, signed with the
//! webhook's secret (`X-Portal-Signature: sha256=<hex HMAC-SHA256 of the body>`). A receiver
//! that is down, slow or throttling is retried with backoff by the runner; one that refuses
//! the request outright (4xx) is not.

use std::time::Duration as StdDuration;

use anyhow::anyhow;
use futures::future::BoxFuture;

use app::services::notify::{self, DeliverWebhook, SIGNATURE_HEADER};

use super::{JobContext, JobError, JobHandler, JobResult, Outcome};

/// Runs [`DeliverWebhook`] jobs.
pub struct Handler {
    client: reqwest::Client,
}

impl Handler {
    pub fn new() -> Self {
        Handler {
            client: reqwest::Client::builder()
                .timeout(StdDuration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("partner-image-portal")
                .build()
                .unwrap_or_default(),
        }
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
            let body = serde_json::to_vec(&delivery.payload(ctx.state.public_url.as_deref()))
                .map_err(|e| JobError::Fatal(anyhow!("encoding the event: {e}")))?;
            let signature = notify::sign(secret.expose(), &body);
            ctx.log(format!("sending {} to {}", delivery.kind, hook.name))
                .await;
            let response = self
                .client
                .post(&hook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header("X-Portal-Event", delivery.kind.as_str())
                .header("X-Portal-Delivery", ctx.job.id.to_string())
                .body(body)
                .send()
                .await
                .map_err(|e| JobError::Retryable(anyhow!("{} did not answer: {e}", hook.name)))?;
            let status = response.status();
            if status.is_success() {
                ctx.log(format!("{} answered {status}", hook.name)).await;
                return Ok(Outcome::Done(
                    serde_json::json!({ "sent": true, "status": status.as_u16() }),
                ));
            }
            let error = anyhow!("{} answered {status}", hook.name);
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
