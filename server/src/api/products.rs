//! REST routes of products: list, create, read, update, a product's release matrix, its write-only license file and how its marketplace versions are delivered.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use utoipa::ToSchema;

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, images, products},
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated},
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct ProductListQuery {
    /// Only this partner's products.
    partner: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductListQuery), responses((status = 200, body = Page<ProductSummary>)))]
pub(super) async fn list_products(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<ProductListQuery>,
) -> AppResult<Response> {
    let page = PageRequest {
        page: q.page,
        per_page: q.per_page,
    };
    let partner = q.partner.as_deref().filter(|p| !p.is_empty());
    super::kept(&s, "products", &(partner, page), || {
        products::list(&s.db, partner, page)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn create_product(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ProductInput>,
) -> AppResult<Response> {
    Ok(created(
        products::create(&s.db, &user, s.clock.now(), &s.base_image_owners, &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{partner}/{slug}", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = AppError)))]
pub(super) async fn get_product(
    State(s): State<AppState>,
    _: Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<Json<Product>> {
    Ok(Json(products::get(&s.db, &partner, &slug).await?))
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    request_body = ProductInput, responses((status = 200, body = Product), (status = 422, body = AppError)))]
pub(super) async fn update_product(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<ProductInput>,
) -> AppResult<Json<Product>> {
    Ok(Json(
        products::update(
            &s.db,
            &user,
            s.clock.now(),
            &s.base_image_owners,
            &partner,
            &slug,
            &input,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{partner}/{slug}/matrix", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 200, body = Vec<MatrixRow>)))]
pub(super) async fn product_matrix(
    State(s): State<AppState>,
    _: Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<Json<Vec<MatrixRow>>> {
    Ok(Json(images::matrix(&s.db, &partner, &slug, 20).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct LicenseInput {
    /// The license file's text. Write-only: it is never returned.
    license: String,
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}/license", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    request_body = LicenseInput, responses((status = 204, description = "Set; the value is never returned"), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn set_license(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<LicenseInput>,
) -> AppResult<StatusCode> {
    products::set_license(
        &s.db,
        &s.secret_key,
        &user,
        s.clock.now(),
        &partner,
        &slug,
        &input.license,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/products/{partner}/{slug}/license", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub(super) async fn delete_license(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    products::delete_license(&s.db, &user, s.clock.now(), &partner, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}/delivery", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    request_body = DeliveryConfig, responses((status = 200, body = Product, description = "How the product's marketplace versions are delivered, as set"), (status = 403, body = AppError), (status = 404, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn set_delivery(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<DeliveryConfig>,
) -> AppResult<Json<Product>> {
    Ok(Json(
        products::set_delivery(&s.db, &user, s.clock.now(), &partner, &slug, &input).await?,
    ))
}
