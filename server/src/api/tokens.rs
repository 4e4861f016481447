//! REST routes of personal API tokens: list, create (from a browser session only), revoke.

use axum::{
    Extension, Json, Router,
    extract::{Path, State},
    response::Response,
    routing::{delete, get},
};
use utoipa::OpenApi;

use app::{
    dto::*,
    error::{AppError, AppResult},
    server::{AppState, tokens},
};

use super::{
    created,
    extract::{ApiJson, Authenticated, parse_id},
};
use crate::auth::TokenAuth;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", delete(revoke))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, body = Vec<ApiToken>)))]
async fn list(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Json<Vec<ApiToken>>> {
    Ok(Json(tokens::list(&s.db, &user).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = ApiTokenInput,
    responses((status = 201, body = ApiTokenCreated), (status = 403, body = AppError, description = "Asked with a token"), (status = 422, body = AppError)))]
async fn create(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    token: Option<Extension<TokenAuth>>,
    ApiJson(input): ApiJson<ApiTokenInput>,
) -> AppResult<Response> {
    if token.is_some() {
        return Err(AppError::forbidden(
            "a token cannot make tokens: create one from a signed-in session",
        ));
    }
    Ok(created(
        tokens::create(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i32, Path)),
    responses((status = 200, body = ApiToken), (status = 404, body = AppError), (status = 409, body = AppError)))]
async fn revoke(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<ApiToken>> {
    Ok(Json(
        tokens::revoke(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[derive(OpenApi)]
#[openapi(paths(list, create, revoke))]
pub struct TokensApi;
