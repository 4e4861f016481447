//! REST routes of webhooks: the outbound ones that notify other systems, and GitLab's
//! inbound release webhook.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{delete, get, post},
};
use utoipa::OpenApi;

use app::{
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{
        AppState, notify,
        trains::{self, GitlabDelivery, GitlabEvent},
    },
};

use super::{
    created,
    extract::{ApiJson, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/gitlab", post(gitlab_webhook))
        .route("/webhooks/{id}", delete(delete_webhook))
        .route("/webhooks/{id}/test", post(test_webhook))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", responses((status = 200, body = Vec<Webhook>), (status = 403, body = AppError)))]
async fn list_webhooks(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Json<Vec<Webhook>>> {
    Ok(Json(notify::list_webhooks(&s.db, &user).await?))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", request_body = WebhookInput,
    responses((status = 201, body = WebhookCreated, description = "The secret is shown this once"), (status = 403, body = AppError), (status = 422, body = AppError)))]
async fn create_webhook(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<WebhookInput>,
) -> AppResult<Response> {
    Ok(created(
        notify::create_webhook(
            &s.db,
            &s.secret_key,
            s.webhooks,
            &user,
            s.clock.now(),
            &input,
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications", params(("id" = i32, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
async fn delete_webhook(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    notify::delete_webhook(&s.db, &user, s.clock.now(), parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "notifications", params(("id" = i32, Path)),
    responses((status = 201, body = Job), (status = 404, body = AppError)))]
async fn test_webhook(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Response> {
    Ok(created(
        notify::test_webhook(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// GitLab's webhook for tag pushes and releases of the GitLab project: a new release opens
/// its maintenance runs. Authenticated by the webhook's secret token (`X-Gitlab-Token`).
#[utoipa::path(post, path = "/api/v1/webhooks/gitlab", tag = "process",
    request_body(content = String, content_type = "application/json", description = "GitLab's tag push or release event"),
    params(("X-Gitlab-Token" = String, Header), ("X-Gitlab-Event" = String, Header, description = "`Tag Push Hook` or `Release Hook`")),
    responses((status = 200, body = ReleaseEventOutcome), (status = 401, body = AppError), (status = 404, body = AppError, description = "The webhook is not configured"), (status = 422, body = AppError)))]
async fn gitlab_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<ReleaseEventOutcome>> {
    use sha2::Digest as _;
    let Some(expected) = s.gitlab_token_sha256 else {
        return Err(AppError::not_found(
            "the GitLab webhook (set PORTAL_GITLAB_WEBHOOK_TOKEN to turn it on)",
        ));
    };
    let given: [u8; 32] = sha2::Sha256::digest(
        header(&headers, "X-Gitlab-Token")
            .unwrap_or("")
            .trim()
            .as_bytes(),
    )
    .into();
    // Comparing digests keeps the comparison's time independent of the token.
    let matches = given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !matches || header(&headers, "X-Gitlab-Token").is_none() {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the X-Gitlab-Token header does not match this portal's webhook token",
        ));
    }
    let event: GitlabEvent = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(format!("the webhook body is not GitLab's event JSON: {e}"))
    })?;
    let delivery = GitlabDelivery {
        kind: header(&headers, "X-Gitlab-Event")
            .unwrap_or_default()
            .to_owned(),
        idempotency_key: header(&headers, "Idempotency-Key").map(str::to_owned),
        event_uuid: header(&headers, "X-Gitlab-Event-UUID").map(str::to_owned),
        body_sha256: sha2::Sha256::digest(&body).into(),
        event,
    };
    Ok(Json(
        trains::gitlab_delivery(&s.db, s.clock.now(), delivery).await?,
    ))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(paths(
    list_webhooks,
    create_webhook,
    delete_webhook,
    test_webhook,
    gitlab_webhook
))]
pub struct WebhooksApi;
