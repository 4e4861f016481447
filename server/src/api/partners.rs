//! REST routes of partners: list, create, read, update, and their accounts and contacts.

use axum::{
    Json,
    extract::{Path, State},
    response::Response,
};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, partners},
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated},
};

#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", params(PageRequest), responses((status = 200, body = Page<PartnerSummary>)))]
pub(super) async fn list_partners(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Response> {
    super::kept(&s, "partners", &page, || partners::list(&s.db, page)).await
}

#[utoipa::path(post, path = "/api/v1/partners", tag = "partners", request_body = PartnerInput,
    responses((status = 201, body = Partner), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn create_partner(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<PartnerInput>,
) -> AppResult<Response> {
    Ok(created(
        partners::create(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/partners/{slug}", tag = "partners", params(("slug" = String, Path)),
    responses((status = 200, body = Partner), (status = 404, body = AppError)))]
pub(super) async fn get_partner(
    State(s): State<AppState>,
    _: Authenticated,
    Path(slug): Path<String>,
) -> AppResult<Json<Partner>> {
    Ok(Json(partners::get(&s.db, &slug).await?))
}

#[utoipa::path(put, path = "/api/v1/partners/{slug}", tag = "partners", params(("slug" = String, Path)), request_body = PartnerInput,
    responses((status = 200, body = Partner), (status = 404, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn update_partner(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<PartnerInput>,
) -> AppResult<Json<Partner>> {
    Ok(Json(
        partners::update(&s.db, &user, s.clock.now(), &slug, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/partners/{slug}/accounts", tag = "partners", params(("slug" = String, Path)), request_body = PartnerAccountInput,
    responses((status = 200, body = Partner), (status = 422, body = AppError)))]
pub(super) async fn add_partner_account(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<PartnerAccountInput>,
) -> AppResult<Json<Partner>> {
    Ok(Json(
        partners::add_account(&s.db, &user, s.clock.now(), &slug, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/partners/{slug}/contacts", tag = "partners", params(("slug" = String, Path)), request_body = PartnerContactInput,
    responses((status = 200, body = Partner), (status = 422, body = AppError)))]
pub(super) async fn add_partner_contact(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<PartnerContactInput>,
) -> AppResult<Json<Partner>> {
    Ok(Json(
        partners::add_contact(&s.db, &user, s.clock.now(), &slug, &input).await?,
    ))
}
