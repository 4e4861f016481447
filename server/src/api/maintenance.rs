//! REST routes of the maintenance clock: the board of runs and the holidays it skips.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{delete, get},
};
use utoipa::OpenApi;

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, process},
};

use super::{
    created,
    extract::{ApiJson, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/maintenance", get(maintenance))
        .route("/holidays", get(list_holidays).post(add_holiday))
        .route("/holidays/{id}", delete(delete_holiday))
}

#[utoipa::path(get, path = "/api/v1/maintenance", tag = "process", responses((status = 200, body = MaintenanceBoard)))]
async fn maintenance(
    State(s): State<AppState>,
    _: Authenticated,
) -> AppResult<Json<MaintenanceBoard>> {
    Ok(Json(
        process::maintenance_board(&s.db, s.clock.now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/holidays", tag = "process", responses((status = 200, body = Vec<Holiday>)))]
async fn list_holidays(
    State(s): State<AppState>,
    _: Authenticated,
) -> AppResult<Json<Vec<Holiday>>> {
    Ok(Json(process::list_holidays(&s.db).await?))
}

#[utoipa::path(post, path = "/api/v1/holidays", tag = "process", request_body = HolidayInput,
    responses((status = 201, body = Holiday), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn add_holiday(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<HolidayInput>,
) -> AppResult<Response> {
    Ok(created(
        process::add_holiday(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/holidays/{id}", tag = "process", params(("id" = i32, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
async fn delete_holiday(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    process::delete_holiday(&s.db, &user, s.clock.now(), parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(paths(maintenance, list_holidays, add_holiday, delete_holiday))]
pub struct MaintenanceApi;
