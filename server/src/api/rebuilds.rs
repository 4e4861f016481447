//! REST routes of security rebuilds that are not a release: the base-image check, run now,
//! and the rebuild proposals it makes, which Omnibus approves or rejects.

use axum::{
    Extension, Json, Router,
    extract::{Path, State},
    routing::{get, post},
};
use utoipa::OpenApi;

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, rebuilds},
};

use super::extract::{ApiJson, ApiQuery, Authenticated, parse_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/base-images/check", post(check))
        .route("/rebuild-proposals", get(list))
        .route("/rebuild-proposals/{id}", get(get_proposal))
        .route("/rebuild-proposals/{id}/approve", post(approve))
        .route("/rebuild-proposals/{id}/reject", post(reject))
}

#[utoipa::path(post, path = "/api/v1/base-images/check", tag = "rebuilds",
    responses((status = 200, body = BaseImageCheck, description = "What the check found, and the proposals it made"), (status = 403, body = AppError)))]
async fn check(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    finder: Option<Extension<rebuilds::Finder>>,
) -> AppResult<Json<BaseImageCheck>> {
    let Some(Extension(finder)) = finder else {
        return Err(AppError::internal(
            "base-image check",
            "the web layer has no base image finder",
        ));
    };
    Ok(Json(
        rebuilds::check(&s.db, &user, s.clock.now(), finder.0.as_ref()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/rebuild-proposals", tag = "rebuilds", params(PageRequest),
    responses((status = 200, body = Page<RebuildProposal>)))]
async fn list(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Page<RebuildProposal>>> {
    Ok(Json(rebuilds::list(&s.db, page).await?))
}

#[utoipa::path(get, path = "/api/v1/rebuild-proposals/{id}", tag = "rebuilds", params(("id" = i32, Path)),
    responses((status = 200, body = RebuildProposal), (status = 404, body = AppError)))]
async fn get_proposal(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<RebuildProposal>> {
    Ok(Json(rebuilds::get(&s.db, parse_id(&id)?).await?))
}

async fn decide(
    s: AppState,
    user: app::domain::CurrentUser,
    id: &str,
    approve: bool,
    comment: &str,
) -> AppResult<Json<RebuildProposal>> {
    Ok(Json(
        rebuilds::decide(&s.db, &user, s.clock.now(), parse_id(id)?, approve, comment).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/rebuild-proposals/{id}/approve", tag = "rebuilds", params(("id" = i32, Path)), request_body = RebuildDecision,
    responses((status = 200, body = RebuildProposal, description = "Approved; its rebuild train has started"), (status = 403, body = AppError), (status = 409, body = AppError, description = "Decided already")))]
async fn approve(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RebuildDecision>,
) -> AppResult<Json<RebuildProposal>> {
    decide(s, user, &id, true, &input.comment).await
}

#[utoipa::path(post, path = "/api/v1/rebuild-proposals/{id}/reject", tag = "rebuilds", params(("id" = i32, Path)), request_body = RebuildDecision,
    responses((status = 200, body = RebuildProposal), (status = 403, body = AppError), (status = 409, body = AppError, description = "Decided already"), (status = 422, body = AppError, description = "No comment")))]
async fn reject(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RebuildDecision>,
) -> AppResult<Json<RebuildProposal>> {
    decide(s, user, &id, false, &input.comment).await
}

#[derive(OpenApi)]
#[openapi(paths(check, list, get_proposal, approve, reject))]
pub struct RebuildsApi;
