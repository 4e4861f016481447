//! REST routes of releases: list, record, read and update.

use axum::{
    Json,
    extract::{Path, State},
    response::Response,
};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, releases},
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated},
};

#[utoipa::path(get, path = "/api/v1/releases", tag = "releases", params(PageRequest), responses((status = 200, body = Page<Release>)))]
pub(super) async fn list_releases(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Response> {
    super::kept(&s, "releases", &page, || releases::list(&s.db, page)).await
}

#[utoipa::path(post, path = "/api/v1/releases", tag = "releases", request_body = ReleaseInput,
    responses((status = 201, body = Release), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn create_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> AppResult<Response> {
    let (release, _, _) =
        app::services::trains::create_release(&s.db, &user, s.clock.now(), &input).await?;
    Ok(created(release))
}

#[utoipa::path(get, path = "/api/v1/releases/{version}", tag = "releases", params(("version" = String, Path, description = "A version, or `latest`")),
    responses((status = 200, body = Release), (status = 404, body = AppError)))]
pub(super) async fn get_release(
    State(s): State<AppState>,
    _: Authenticated,
    Path(version): Path<String>,
) -> AppResult<Json<Release>> {
    Ok(Json(releases::get(&s.db, &version).await?))
}

#[utoipa::path(put, path = "/api/v1/releases/{version}", tag = "releases", params(("version" = String, Path)), request_body = ReleaseInput,
    responses((status = 200, body = Release), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn update_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(version): Path<String>,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> AppResult<Json<Release>> {
    Ok(Json(
        releases::update(&s.db, &user, s.clock.now(), &version, &input).await?,
    ))
}
