//! REST routes of publishing a release to a listing, and of the publish jobs.

use axum::{
    Json, Router,
    extract::{Path, State},
    response::Response,
    routing::post,
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, publish},
};

use super::{
    created,
    extract::{ApiJson, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/listings/{id}/publish",
            post(publish_release).get(publish_jobs),
        )
        .route("/jobs/{id}/cancel-blocker", post(cancel_blocker))
}

#[derive(Debug, Deserialize, ToSchema)]
struct PublishInput {
    /// A release version, or `latest`.
    release: String,
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/publish", tag = "copy", params(("id" = i32, Path)), request_body = PublishInput,
    responses((status = 201, body = Job), (status = 403, body = AppError), (status = 409, body = AppError, description = "Not the newest stable release, no image yet, already published or publishing")))]
async fn publish_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PublishInput>,
) -> AppResult<Response> {
    Ok(created(
        publish::start(&s.db, &user, s.clock.now(), parse_id(&id)?, &input.release).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/publish", tag = "copy", params(("id" = i32, Path)), responses((status = 200, body = Vec<Job>)))]
async fn publish_jobs(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<Job>>> {
    Ok(Json(publish::jobs_of(&s.db, parse_id(&id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel-blocker", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 200, body = Job), (status = 409, body = AppError, description = "Not a blocked publish")))]
async fn cancel_blocker(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    Ok(Json(
        publish::cancel_blocker_and_retry(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(
    paths(publish_release, publish_jobs, cancel_blocker),
    components(schemas(PublishInput))
)]
pub struct PublishApi;
