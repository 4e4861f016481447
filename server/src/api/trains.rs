//! REST routes of the release train: a release's train, every train, one train, and the
//! policies that say whether builds and publishes run by themselves.

use axum::{
    Json,
    extract::{Path, State},
};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, trains},
};

use super::extract::{self, ApiJson, ApiQuery, Authenticated};

#[utoipa::path(get, path = "/api/v1/releases/{version}/train", tag = "trains",
    params(("version" = String, Path, description = "A version, or `latest`")),
    responses((status = 200, body = ReleaseTrain), (status = 404, body = AppError)))]
pub(super) async fn release_train(
    State(s): State<AppState>,
    _: Authenticated,
    Path(version): Path<String>,
) -> AppResult<Json<ReleaseTrain>> {
    Ok(Json(
        trains::release_train(&s.db, s.clock.now(), &version).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/trains", tag = "trains", params(PageRequest),
    responses((status = 200, body = Page<TrainSummary>)))]
pub(super) async fn list_trains(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Page<TrainSummary>>> {
    Ok(Json(trains::list(&s.db, s.clock.now(), page).await?))
}

#[utoipa::path(get, path = "/api/v1/trains/{id}", tag = "trains", params(("id" = i32, Path)),
    responses((status = 200, body = ReleaseTrain), (status = 404, body = AppError)))]
pub(super) async fn get_train(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<ReleaseTrain>> {
    Ok(Json(
        trains::get(&s.db, s.clock.now(), extract::parse_id(&id)?).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}/build-policy", tag = "trains",
    params(("partner" = String, Path), ("slug" = String, Path)), request_body = StepPolicyInput,
    responses((status = 200, body = Product), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn set_build_policy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<StepPolicyInput>,
) -> AppResult<Json<Product>> {
    Ok(Json(
        trains::set_build_policy(&s.db, &user, s.clock.now(), &partner, &slug, &input).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/listings/{id}/publish-policy", tag = "trains",
    params(("id" = i32, Path)), request_body = StepPolicyInput,
    responses((status = 200, body = Listing), (status = 403, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn set_publish_policy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StepPolicyInput>,
) -> AppResult<Json<Listing>> {
    Ok(Json(
        trains::set_publish_policy(&s.db, &user, s.clock.now(), extract::parse_id(&id)?, &input)
            .await?,
    ))
}
