//! REST routes of the tasks of a workflow: their state, assignment, comments and links.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::{get, post, put},
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, process},
};

use super::extract::{ApiJson, Authenticated, parse_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tasks/{id}", get(get_task))
        .route("/tasks/{id}/state", post(set_task_state))
        .route("/tasks/{id}/assignment", put(assign_task))
        .route("/tasks/{id}/comments", post(comment_on_task))
        .route("/tasks/{id}/links", post(add_task_link))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "process", params(("id" = i32, Path)),
    responses((status = 200, body = TaskDetail), (status = 404, body = AppError)))]
async fn get_task(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<TaskDetail>> {
    Ok(Json(
        process::task_detail(&s.db, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/state", tag = "process", params(("id" = i32, Path)), request_body = TaskStateInput,
    responses((status = 200, body = TaskDetail), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn set_task_state(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskStateInput>,
) -> AppResult<Json<TaskDetail>> {
    Ok(Json(
        process::set_task_state(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/tasks/{id}/assignment", tag = "process", params(("id" = i32, Path)), request_body = TaskAssignInput,
    responses((status = 200, body = TaskDetail), (status = 403, body = AppError), (status = 422, body = AppError)))]
async fn assign_task(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskAssignInput>,
) -> AppResult<Json<TaskDetail>> {
    Ok(Json(
        process::assign_task(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
struct CommentInput {
    body: String,
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/comments", tag = "process", params(("id" = i32, Path)), request_body = CommentInput,
    responses((status = 200, body = TaskDetail), (status = 422, body = AppError)))]
async fn comment_on_task(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CommentInput>,
) -> AppResult<Json<TaskDetail>> {
    Ok(Json(
        process::comment_on_task(&s.db, &user, s.clock.now(), parse_id(&id)?, &input.body).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/links", tag = "process", params(("id" = i32, Path)), request_body = TaskLinkInput,
    responses((status = 200, body = TaskDetail), (status = 422, body = AppError)))]
async fn add_task_link(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskLinkInput>,
) -> AppResult<Json<TaskDetail>> {
    Ok(Json(
        process::add_task_link(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(
    paths(get_task, set_task_state, assign_task, comment_on_task, add_task_link),
    components(schemas(CommentInput))
)]
pub struct TasksApi;
