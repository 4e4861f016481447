//! REST routes of marketplace listings: list, read, create, their policy and published versions.

use axum::{
    Json,
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;
use utoipa::ToSchema;

use app::{
    domain::ListingVersionVisibility,
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{AppState, listings},
};

use super::{
    created,
    extract::{self, ApiJson, ApiQuery, Authenticated},
};

#[utoipa::path(get, path = "/api/v1/listings", tag = "listings", params(PageRequest), responses((status = 200, body = Page<Listing>)))]
pub(super) async fn list_listings(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Page<Listing>>> {
    Ok(Json(listings::list(&s.db, page).await?))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}", tag = "listings", params(("id" = i32, Path)),
    responses((status = 200, body = Listing), (status = 404, body = AppError)))]
pub(super) async fn get_listing(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Listing>> {
    Ok(Json(listings::get(&s.db, extract::parse_id(&id)?).await?))
}

#[utoipa::path(put, path = "/api/v1/listings/{id}/policy", tag = "listings", params(("id" = i32, Path)), request_body = ListingPolicyInput,
    responses((status = 200, body = Listing), (status = 404, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn set_listing_policy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ListingPolicyInput>,
) -> AppResult<Json<Listing>> {
    Ok(Json(
        listings::set_policy(&s.db, &user, s.clock.now(), extract::parse_id(&id)?, &input).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ListingInput {
    partner: String,
    product: String,
    title: String,
}

#[utoipa::path(post, path = "/api/v1/listings", tag = "listings", request_body = ListingInput,
    responses((status = 201, body = Listing), (status = 409, body = AppError)))]
pub(super) async fn create_listing(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ListingInput>,
) -> AppResult<Response> {
    Ok(created(
        listings::create(
            &s.db,
            &user,
            s.clock.now(),
            &input.partner,
            &input.product,
            &input.title,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct ListingVersionInput {
    /// Release version the listing version ships.
    release: Option<String>,
    title: String,
    delivery_option_id: Option<String>,
    /// public or restricted.
    visibility: String,
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/versions", tag = "listings", params(("id" = i32, Path)), request_body = ListingVersionInput,
    responses((status = 200, body = Listing), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn record_listing_version(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ListingVersionInput>,
) -> AppResult<Json<Listing>> {
    let id = extract::parse_id(&id)?;
    let visibility: ListingVersionVisibility =
        input.visibility.parse().map_err(|m: String| AppError {
            fields: vec![app::error::FieldError {
                field: "visibility".into(),
                message: m.clone(),
            }],
            ..AppError::new(ErrorCode::ValidationFailed, m)
        })?;
    let listing = listings::record_version(
        &s.db,
        &user,
        s.clock.now(),
        id,
        input.release.as_deref().filter(|r| !r.is_empty()),
        &input.title,
        input
            .delivery_option_id
            .as_deref()
            .filter(|d| !d.is_empty()),
        visibility,
    )
    .await?;
    Ok(Json(listing))
}
