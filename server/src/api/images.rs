//! REST routes of image versions: list, record (as a build reports it), read, and the image lookup.

use axum::{
    Json,
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, images},
};

use super::extract::{self, ApiJson, ApiQuery, Authenticated};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct ImageListQuery {
    /// Partner slug of `product` (default `aws`).
    partner: Option<String>,
    /// Only this product's images.
    product: Option<String>,
    /// Only this release's images.
    release: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/images", tag = "images", params(ImageListQuery), responses((status = 200, body = Page<ImageVersionSummary>)))]
pub(super) async fn list_images(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<ImageListQuery>,
) -> AppResult<Response> {
    let partner = q
        .partner
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    let product = q
        .product
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| (partner, p));
    let release = q.release.as_deref().filter(|r| !r.is_empty());
    let page = PageRequest {
        page: q.page,
        per_page: q.per_page,
    };
    super::kept(&s, "images", &(product, release, page), || {
        images::list(&s.db, product, release, page)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/images", tag = "images", request_body = ImageVersionInput,
    responses((status = 200, body = ImageVersion), (status = 422, body = AppError)))]
pub(super) async fn record_image(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ImageVersionInput>,
) -> AppResult<Json<ImageVersion>> {
    Ok(Json(
        images::record(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", params(("id" = i32, Path)),
    responses((status = 200, body = ImageVersion), (status = 404, body = AppError)))]
pub(super) async fn get_image(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<ImageVersion>> {
    let id = extract::parse_id(&id)?;
    Ok(Json(images::get(&s.db, id).await?))
}

#[utoipa::path(get, path = "/api/v1/images/lookup", tag = "images", params(LookupQuery),
    responses((status = 200, body = ImageLookup), (status = 404, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn lookup_image(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> AppResult<Response> {
    super::kept(&s, "image lookup", &q, || images::lookup(&s.db, &q)).await
}
