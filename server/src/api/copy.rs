//! REST routes of a listing's copy: its revisions, their review, and the queue of what
//! waits for a team's approval.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use app::{
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{AppState, copy, process},
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/listings/{id}/copy", get(get_copy).post(save_copy))
        .route("/listings/{id}/copy/approved", get(approved_copy))
        .route("/listings/{id}/copy/diff", get(copy_diff))
        .route("/listings/{id}/copy/live-diff", get(copy_live_diff))
        .route(
            "/listings/{id}/copy/request-approval",
            post(request_approval),
        )
        .route("/listings/{id}/copy/approve", post(approve_copy))
        .route("/listings/{id}/copy/reject", post(reject_copy))
        .route("/listings/{id}/copy/mark-for-publishing", post(mark_copy))
        .route("/approvals", get(approvals))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy", tag = "copy", params(("id" = i32, Path)),
    responses((status = 200, body = ListingCopy), (status = 404, body = AppError)))]
async fn get_copy(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(copy::get(&s.db, parse_id(&id)?).await?))
}

/// A save that lost to a newer revision: both versions, nothing written.
#[derive(serde::Serialize, ToSchema)]
struct CopyConflict {
    code: ErrorCode,
    message: String,
    yours: CopyFields,
    theirs: CopyRevision,
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy", tag = "copy", params(("id" = i32, Path)), request_body = CopyInput,
    responses((status = 201, body = CopyRevision), (status = 409, body = CopyConflict, description = "A newer revision was saved since `base_revision`"), (status = 422, body = AppError)))]
async fn save_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CopyInput>,
) -> AppResult<Response> {
    Ok(
        match copy::save(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await? {
            CopySave::Saved { revision } => created(revision),
            CopySave::Conflict {
                message,
                yours,
                theirs,
            } => (
                StatusCode::CONFLICT,
                Json(CopyConflict {
                    code: ErrorCode::Conflict,
                    message,
                    yours,
                    theirs,
                }),
            )
                .into_response(),
        },
    )
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy/approved", tag = "copy", params(("id" = i32, Path)),
    responses((status = 200, body = CopyRevision, description = "The newest approved revision: what a publish uses"), (status = 404, body = AppError)))]
async fn approved_copy(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<CopyRevision>> {
    let id = parse_id(&id)?;
    copy::approved_revision(&s.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("an approved revision of listing {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
struct DiffQuery {
    /// Revision id on the left.
    left: i32,
    /// Revision id on the right.
    right: i32,
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy/diff", tag = "copy", params(("id" = i32, Path), DiffQuery),
    responses((status = 200, body = CopyDiff), (status = 404, body = AppError)))]
async fn copy_diff(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> AppResult<Json<CopyDiff>> {
    Ok(Json(
        copy::diff(&s.db, parse_id(&id)?, q.left, q.right).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/request-approval", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 409, body = AppError)))]
async fn request_approval(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(
        copy::request_approval(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/approve", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn approve_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(
        copy::approve(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/reject", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn reject_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(
        copy::reject(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/mark-for-publishing", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 202, body = CopyPublish, description = "Marked; the `publish_copy` job that publishes it is queued"), (status = 403, body = AppError), (status = 409, body = AppError, description = "Not approved, or a copy publish of this listing is already under way")))]
async fn mark_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Response> {
    let published =
        copy::mark_for_publishing(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?;
    Ok((StatusCode::ACCEPTED, Json(published)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
struct LiveDiffQuery {
    /// The revision (id) to compare with what is live.
    revision: i32,
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy/live-diff", tag = "copy", params(("id" = i32, Path), LiveDiffQuery),
    responses((status = 200, body = CopyLiveDiff, description = "The revision against the copy live on the marketplace, read now (left: live; right: after publishing the revision)"),
        (status = 404, body = AppError), (status = 409, body = AppError, description = "The marketplace is not connected yet")))]
async fn copy_live_diff(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LiveDiffQuery>,
) -> AppResult<Json<CopyLiveDiff>> {
    Ok(Json(
        copy::read_live_diff(&s, parse_id(&id)?, q.revision).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "copy", responses((status = 200, body = ApprovalQueue)))]
async fn approvals(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Json<ApprovalQueue>> {
    Ok(Json(process::approvals(&s.db, s.clock.now(), &user).await?))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_copy,
        save_copy,
        approved_copy,
        copy_diff,
        request_approval,
        approve_copy,
        reject_copy,
        mark_copy,
        copy_live_diff,
        approvals
    ),
    components(schemas(CopyConflict))
)]
pub struct CopyApi;
