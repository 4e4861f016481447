//! REST routes of personal API tokens (list, create from a browser session only, revoke) and
//! of the portal's write-only settings secrets.

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
    services::{AppState, secrets, tokens},
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
        .route(
            "/settings/marketplace-access-role",
            get(access_role)
                .put(set_access_role)
                .delete(delete_access_role),
        )
}

/// Whether a secret is set; never its value.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct SecretState {
    set: bool,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
    updated_by: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
struct SecretInput {
    value: String,
}

#[utoipa::path(get, path = "/api/v1/settings/marketplace-access-role", tag = "settings", responses((status = 200, body = SecretState)))]
async fn access_role(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Json<SecretState>> {
    let info = secrets::access_role(&s.db, &user).await?;
    Ok(Json(SecretState {
        set: info.is_some(),
        updated_at: info.as_ref().map(|i| i.updated_at),
        updated_by: info.map(|i| i.updated_by),
    }))
}

#[utoipa::path(put, path = "/api/v1/settings/marketplace-access-role", tag = "settings", request_body = SecretInput,
    responses((status = 204, description = "Set; the value is never returned"), (status = 422, body = AppError)))]
async fn set_access_role(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<SecretInput>,
) -> AppResult<axum::http::StatusCode> {
    secrets::set_access_role(&s.db, &s.secret_key, &user, s.clock.now(), &input.value).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/settings/marketplace-access-role", tag = "settings", responses((status = 204, description = "Deleted")))]
async fn delete_access_role(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<axum::http::StatusCode> {
    secrets::delete_access_role(&s.db, &user, s.clock.now()).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
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
    // Not a permission but how the request came in, which only this edge knows.
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
#[openapi(
    paths(list, create, revoke, access_role, set_access_role, delete_access_role),
    components(schemas(SecretState, SecretInput))
)]
pub struct TokensApi;
