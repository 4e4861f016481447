//! REST routes of workflows: the first-time image projects and maintenance runs, their
//! sign-offs and the launch.

use axum::{
    Json, Router,
    extract::{Path, State},
    response::Response,
    routing::{get, post},
};
use utoipa::OpenApi;

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, process},
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(list_workflows).post(start_first_time))
        .route("/workflows/{id}", get(get_workflow))
        .route("/workflows/{id}/sign-offs", post(sign_off))
        .route("/workflows/{id}/launch", post(approve_launch))
}

#[utoipa::path(get, path = "/api/v1/workflows", tag = "process", params(WorkflowFilter), responses((status = 200, body = Page<WorkflowSummary>)))]
async fn list_workflows(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(filter): ApiQuery<WorkflowFilter>,
) -> AppResult<Json<Page<WorkflowSummary>>> {
    Ok(Json(process::list(&s.db, s.clock.now(), &filter).await?))
}

#[utoipa::path(post, path = "/api/v1/workflows", tag = "process", request_body = FirstTimeInput,
    responses((status = 201, body = Workflow), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn start_first_time(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<FirstTimeInput>,
) -> AppResult<Response> {
    Ok(created(
        process::start_first_time(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "process", params(("id" = i32, Path)),
    responses((status = 200, body = Workflow), (status = 404, body = AppError)))]
async fn get_workflow(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Workflow>> {
    Ok(Json(
        process::get(&s.db, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/workflows/{id}/sign-offs", tag = "process", params(("id" = i32, Path)), request_body = SignOffInput,
    responses((status = 200, body = Workflow), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn sign_off(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SignOffInput>,
) -> AppResult<Json<Workflow>> {
    Ok(Json(
        process::sign_off(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/workflows/{id}/launch", tag = "process", params(("id" = i32, Path)),
    responses((status = 200, body = Workflow), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn approve_launch(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Workflow>> {
    Ok(Json(
        process::approve_launch(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(paths(
    list_workflows,
    start_first_time,
    get_workflow,
    sign_off,
    approve_launch
))]
pub struct WorkflowsApi;
