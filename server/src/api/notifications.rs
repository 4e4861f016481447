//! REST routes of a user's notifications.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use app::{
    dto::*,
    error::AppResult,
    services::{AppState, notify},
};

use super::extract::{ApiJson, ApiQuery, Authenticated};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(inbox))
        .route("/notifications/read", post(mark_read))
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(PageRequest), responses((status = 200, body = Inbox)))]
async fn inbox(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Inbox>> {
    Ok(Json(notify::inbox(&s.db, user.id, page).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct ReadInput {
    /// One notification; absent marks all read.
    #[serde(default)]
    id: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", request_body = ReadInput, responses((status = 200, body = u64)))]
async fn mark_read(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ReadInput>,
) -> AppResult<Json<u64>> {
    Ok(Json(
        notify::mark_read(&s.db, user.id, input.id, s.clock.now()).await?,
    ))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(paths(inbox, mark_read), components(schemas(ReadInput)))]
pub struct NotificationsApi;
