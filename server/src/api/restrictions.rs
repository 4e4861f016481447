//! REST routes of a listing's restriction proposals and Partnerships' decisions on them.

use axum::{
    Json, Router,
    extract::{Path, State},
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, limits},
};

use super::{
    created,
    extract::{ApiJson, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/listings/{id}/restrictions",
            get(list_restrictions).post(propose_restrictions),
        )
        .route("/restrictions/{id}/approve", post(approve_restrictions))
        .route("/restrictions/{id}/reject", post(reject_restrictions))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/restrictions", tag = "copy", params(("id" = i32, Path)), responses((status = 200, body = Vec<RestrictionProposal>)))]
async fn list_restrictions(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<RestrictionProposal>>> {
    Ok(Json(limits::proposals_of(&s.db, parse_id(&id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/restrictions", tag = "copy", params(("id" = i32, Path)),
    responses((status = 201, body = RestrictionProposal), (status = 409, body = AppError, description = "Under the threshold, nothing restrictable, or a proposal is open")))]
async fn propose_restrictions(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Response> {
    Ok(created(
        limits::propose(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct DecisionInput {
    /// Required to reject.
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/restrictions/{id}/approve", tag = "copy", params(("id" = i32, Path)), request_body = DecisionInput,
    responses((status = 200, body = RestrictionProposal), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn approve_restrictions(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> AppResult<Json<RestrictionProposal>> {
    Ok(Json(
        limits::decide(
            &s.db,
            &user,
            s.clock.now(),
            parse_id(&id)?,
            true,
            &input.comment,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/restrictions/{id}/reject", tag = "copy", params(("id" = i32, Path)), request_body = DecisionInput,
    responses((status = 200, body = RestrictionProposal), (status = 403, body = AppError), (status = 422, body = AppError)))]
async fn reject_restrictions(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> AppResult<Json<RestrictionProposal>> {
    Ok(Json(
        limits::decide(
            &s.db,
            &user,
            s.clock.now(),
            parse_id(&id)?,
            false,
            &input.comment,
        )
        .await?,
    ))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_restrictions,
        propose_restrictions,
        approve_restrictions,
        reject_restrictions
    ),
    components(schemas(DecisionInput))
)]
pub struct RestrictionsApi;
