//! The REST API under `/api/v1`, for release pipelines and other automation. Handlers are
//! thin: authenticate, check the role, call a service, answer JSON. Errors are
//! `{"code", "message", "fields"}` with the matching HTTP status. The OpenAPI document at
//! `/api/v1/openapi.json` is generated from these handlers.

mod extract;
mod process;
mod retention;
mod tokens;

use axum::{
    Json, Router,
    body::Body,
    extract::{DefaultBodyLimit, Multipart, Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use app::{
    domain::{Arch, CurrentUser, ListingVersionVisibility, Permission},
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{
        AppState, assets, audit, builds, catalogue, images, jobs, listings, partners, products,
        releases,
    },
};
pub use extract::{ApiJson, ApiQuery, Authenticated};

/// Uploads may be 10 MB; the limit is set a little higher so the size check can answer
/// with a clear message instead of a dropped connection.
const UPLOAD_BODY_LIMIT: usize = assets::MAX_ASSET_BYTES + 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/partners", get(list_partners).post(create_partner))
        .route("/partners/{slug}", get(get_partner).put(update_partner))
        .route("/partners/{slug}/accounts", post(add_partner_account))
        .route("/partners/{slug}/contacts", post(add_partner_contact))
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{partner}/{slug}",
            get(get_product).put(update_product),
        )
        .route("/products/{partner}/{slug}/matrix", get(product_matrix))
        .route(
            "/products/{partner}/{slug}/license",
            axum::routing::put(set_license).delete(delete_license),
        )
        .route("/releases", get(list_releases).post(create_release))
        .route("/releases/{version}", get(get_release).put(update_release))
        .route("/images", get(list_images).post(record_image))
        .route("/images/lookup", get(lookup_image))
        .route("/images/{id}", get(get_image))
        .route("/listings", get(list_listings).post(create_listing))
        .route("/listings/{id}", get(get_listing))
        .route(
            "/listings/{id}/policy",
            axum::routing::put(set_listing_policy),
        )
        .route("/listings/{id}/versions", post(record_listing_version))
        .route(
            "/assets",
            get(list_assets)
                .post(upload_asset)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/assets/{id}", get(get_asset))
        .route(
            "/assets/{id}/versions",
            post(upload_asset_version).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/assets/{id}/versions/{version}/file", get(asset_file))
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/events", get(job_events))
        .route("/jobs/{id}/stream", get(job_stream))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/jobs/{id}/retry", post(retry_job))
        .route("/releases/{version}/build", post(build_release))
        .route("/releases/{version}/run", get(release_run))
        .route("/images/build", post(build_image))
        .route("/search", get(search))
        .route("/audit", get(list_audit))
        .merge(process::router())
        .merge(retention::router())
        .merge(tokens::router())
        .fallback(|| async { AppError::not_found("this API route") })
}

fn require(user: &CurrentUser, permission: Permission) -> AppResult<()> {
    if user.can(permission) {
        Ok(())
    } else {
        let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
        Err(AppError::forbidden(format!(
            "this needs one of the roles: {}",
            roles.join(", ")
        )))
    }
}

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(process::ProcessApi::openapi());
    doc.merge(retention::RetentionApi::openapi());
    doc.merge(tokens::TokensApi::openapi());
    Json(doc)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "meta", responses((status = 200, body = CurrentUser), (status = 401, body = AppError)))]
async fn me(Authenticated(user): Authenticated) -> Json<CurrentUser> {
    Json(user)
}

// ---- partners ----

#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", params(PageRequest), responses((status = 200, body = Page<PartnerSummary>)))]
async fn list_partners(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Page<PartnerSummary>>> {
    Ok(Json(partners::list(&s.db, page).await?))
}

#[utoipa::path(post, path = "/api/v1/partners", tag = "partners", request_body = PartnerInput,
    responses((status = 201, body = Partner), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn create_partner(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<PartnerInput>,
) -> AppResult<Response> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(created(
        partners::create(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/partners/{slug}", tag = "partners", params(("slug" = String, Path)),
    responses((status = 200, body = Partner), (status = 404, body = AppError)))]
async fn get_partner(
    State(s): State<AppState>,
    _: Authenticated,
    Path(slug): Path<String>,
) -> AppResult<Json<Partner>> {
    Ok(Json(partners::get(&s.db, &slug).await?))
}

#[utoipa::path(put, path = "/api/v1/partners/{slug}", tag = "partners", params(("slug" = String, Path)), request_body = PartnerInput,
    responses((status = 200, body = Partner), (status = 404, body = AppError), (status = 422, body = AppError)))]
async fn update_partner(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<PartnerInput>,
) -> AppResult<Json<Partner>> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(Json(
        partners::update(&s.db, &user, s.clock.now(), &slug, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/partners/{slug}/accounts", tag = "partners", params(("slug" = String, Path)), request_body = PartnerAccountInput,
    responses((status = 200, body = Partner), (status = 422, body = AppError)))]
async fn add_partner_account(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<PartnerAccountInput>,
) -> AppResult<Json<Partner>> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(Json(
        partners::add_account(&s.db, &user, s.clock.now(), &slug, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/partners/{slug}/contacts", tag = "partners", params(("slug" = String, Path)), request_body = PartnerContactInput,
    responses((status = 200, body = Partner), (status = 422, body = AppError)))]
async fn add_partner_contact(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(slug): Path<String>,
    ApiJson(input): ApiJson<PartnerContactInput>,
) -> AppResult<Json<Partner>> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(Json(
        partners::add_contact(&s.db, &user, s.clock.now(), &slug, &input).await?,
    ))
}

// ---- products ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ProductListQuery {
    /// Only this partner's products.
    partner: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ProductListQuery), responses((status = 200, body = Page<ProductSummary>)))]
async fn list_products(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<ProductListQuery>,
) -> AppResult<Json<Page<ProductSummary>>> {
    let page = PageRequest {
        page: q.page,
        per_page: q.per_page,
    };
    Ok(Json(
        products::list(&s.db, q.partner.as_deref().filter(|p| !p.is_empty()), page).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn create_product(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ProductInput>,
) -> AppResult<Response> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(created(
        products::create(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{partner}/{slug}", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 200, body = Product), (status = 404, body = AppError)))]
async fn get_product(
    State(s): State<AppState>,
    _: Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<Json<Product>> {
    Ok(Json(products::get(&s.db, &partner, &slug).await?))
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    request_body = ProductInput, responses((status = 200, body = Product), (status = 422, body = AppError)))]
async fn update_product(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<ProductInput>,
) -> AppResult<Json<Product>> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(Json(
        products::update(&s.db, &user, s.clock.now(), &partner, &slug, &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{partner}/{slug}/matrix", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 200, body = Vec<MatrixRow>)))]
async fn product_matrix(
    State(s): State<AppState>,
    _: Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<Json<Vec<MatrixRow>>> {
    Ok(Json(images::matrix(&s.db, &partner, &slug, 20).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
struct LicenseInput {
    /// The license file's text. Write-only: it is never returned.
    license: String,
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}/license", tag = "products", params(("partner" = String, Path), ("slug" = String, Path)),
    request_body = LicenseInput, responses((status = 204, description = "Set; the value is never returned"), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn set_license(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<LicenseInput>,
) -> AppResult<StatusCode> {
    require(&user, Permission::ManageReleases)?;
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
async fn delete_license(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    require(&user, Permission::ManageReleases)?;
    products::delete_license(&s.db, &user, s.clock.now(), &partner, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- releases ----

#[utoipa::path(get, path = "/api/v1/releases", tag = "releases", params(PageRequest), responses((status = 200, body = Page<Release>)))]
async fn list_releases(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Page<Release>>> {
    Ok(Json(releases::list(&s.db, page).await?))
}

#[utoipa::path(post, path = "/api/v1/releases", tag = "releases", request_body = ReleaseInput,
    responses((status = 201, body = Release), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn create_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> AppResult<Response> {
    require(&user, Permission::ManageReleases)?;
    Ok(created(
        releases::create(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/releases/{version}", tag = "releases", params(("version" = String, Path, description = "A version, or `latest`")),
    responses((status = 200, body = Release), (status = 404, body = AppError)))]
async fn get_release(
    State(s): State<AppState>,
    _: Authenticated,
    Path(version): Path<String>,
) -> AppResult<Json<Release>> {
    Ok(Json(releases::get(&s.db, &version).await?))
}

#[utoipa::path(put, path = "/api/v1/releases/{version}", tag = "releases", params(("version" = String, Path)), request_body = ReleaseInput,
    responses((status = 200, body = Release), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn update_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(version): Path<String>,
    ApiJson(input): ApiJson<ReleaseInput>,
) -> AppResult<Json<Release>> {
    require(&user, Permission::ManageReleases)?;
    Ok(Json(
        releases::update(&s.db, &user, s.clock.now(), &version, &input).await?,
    ))
}

// ---- image versions ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ImageListQuery {
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
async fn list_images(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<ImageListQuery>,
) -> AppResult<Json<Page<ImageVersionSummary>>> {
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
    Ok(Json(
        images::list(
            &s.db,
            product,
            release,
            PageRequest {
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/images", tag = "images", request_body = ImageVersionInput,
    responses((status = 200, body = ImageVersion), (status = 422, body = AppError)))]
async fn record_image(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ImageVersionInput>,
) -> AppResult<Json<ImageVersion>> {
    require(&user, Permission::ManageReleases)?;
    Ok(Json(
        images::record(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", params(("id" = i32, Path)),
    responses((status = 200, body = ImageVersion), (status = 404, body = AppError)))]
async fn get_image(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<ImageVersion>> {
    let id = extract::parse_id(&id)?;
    Ok(Json(images::get(&s.db, id).await?))
}

#[utoipa::path(get, path = "/api/v1/images/lookup", tag = "images", params(LookupQuery),
    responses((status = 200, body = ImageLookup), (status = 404, body = AppError), (status = 422, body = AppError)))]
async fn lookup_image(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> AppResult<Json<ImageLookup>> {
    Ok(Json(images::lookup(&s.db, &q).await?))
}

// ---- listings ----

#[utoipa::path(get, path = "/api/v1/listings", tag = "listings", params(PageRequest), responses((status = 200, body = Page<Listing>)))]
async fn list_listings(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Page<Listing>>> {
    Ok(Json(listings::list(&s.db, page).await?))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}", tag = "listings", params(("id" = i32, Path)),
    responses((status = 200, body = Listing), (status = 404, body = AppError)))]
async fn get_listing(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Listing>> {
    Ok(Json(listings::get(&s.db, extract::parse_id(&id)?).await?))
}

#[utoipa::path(put, path = "/api/v1/listings/{id}/policy", tag = "listings", params(("id" = i32, Path)), request_body = ListingPolicyInput,
    responses((status = 200, body = Listing), (status = 404, body = AppError), (status = 422, body = AppError)))]
async fn set_listing_policy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ListingPolicyInput>,
) -> AppResult<Json<Listing>> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(Json(
        listings::set_policy(&s.db, &user, s.clock.now(), extract::parse_id(&id)?, &input).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
struct ListingInput {
    partner: String,
    product: String,
    title: String,
}

#[utoipa::path(post, path = "/api/v1/listings", tag = "listings", request_body = ListingInput,
    responses((status = 201, body = Listing), (status = 409, body = AppError)))]
async fn create_listing(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ListingInput>,
) -> AppResult<Response> {
    require(&user, Permission::ManageCatalogue)?;
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
struct ListingVersionInput {
    /// Release version the listing version ships.
    release: Option<String>,
    title: String,
    delivery_option_id: Option<String>,
    /// public or restricted.
    visibility: String,
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/versions", tag = "listings", params(("id" = i32, Path)), request_body = ListingVersionInput,
    responses((status = 200, body = Listing), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn record_listing_version(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ListingVersionInput>,
) -> AppResult<Json<Listing>> {
    require(&user, Permission::ManageCatalogue)?;
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
        Some(&user),
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

// ---- assets ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AssetListQuery {
    partner: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetListQuery), responses((status = 200, body = Page<Asset>)))]
async fn list_assets(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<AssetListQuery>,
) -> AppResult<Json<Page<Asset>>> {
    Ok(Json(
        assets::list(
            &s.db,
            q.partner.as_deref(),
            PageRequest {
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = i32, Path)),
    responses((status = 200, body = Asset), (status = 404, body = AppError)))]
async fn get_asset(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Asset>> {
    Ok(Json(assets::get(&s.db, extract::parse_id(&id)?).await?))
}

/// Reads the fields of a multipart upload; the file is capped at the asset limit.
async fn read_multipart(mut form: Multipart) -> AppResult<assets::UploadInput> {
    let mut input = assets::UploadInput::default();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                input.filename = field.file_name().unwrap_or("upload").to_owned();
                input.bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(&e.body_text()))?;
            }
            "partner" | "product" | "kind" | "title" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(&e.body_text()))?;
                match name.as_str() {
                    "partner" => input.partner = text,
                    "product" => input.product = text,
                    "kind" => input.kind = text,
                    _ => input.title = text,
                }
            }
            _ => {}
        }
    }
    Ok(input)
}

fn multipart_error(detail: &str) -> AppError {
    if detail.contains("length limit") || detail.contains("too large") {
        AppError::new(
            ErrorCode::PayloadTooLarge,
            "the file is larger than the 10 MB limit",
        )
    } else {
        AppError::bad_request(format!(
            "the upload is not a well-formed multipart form: {detail}"
        ))
    }
}

#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form in the OpenAPI document"
)]
struct AssetUploadForm {
    partner: String,
    product: Option<String>,
    kind: String,
    title: String,
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body(content = AssetUploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Asset), (status = 413, body = AppError), (status = 415, body = AppError), (status = 422, body = AppError)))]
async fn upload_asset(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<Response> {
    require(&user, Permission::ManageAssets)?;
    let form = form.map_err(|e| AppError::bad_request(e.body_text()))?;
    let input = read_multipart(form).await?;
    Ok(created(
        assets::create(&s.db, s.store.as_ref(), &user, s.clock.now(), input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/versions", tag = "assets", params(("id" = i32, Path)),
    request_body(content = AssetUploadForm, content_type = "multipart/form-data", description = "Only `file` is read"),
    responses((status = 200, body = Asset), (status = 409, body = AppError), (status = 413, body = AppError), (status = 415, body = AppError)))]
async fn upload_asset_version(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<Json<Asset>> {
    require(&user, Permission::ManageAssets)?;
    let id = extract::parse_id(&id)?;
    let form = form.map_err(|e| AppError::bad_request(e.body_text()))?;
    let input = read_multipart(form).await?;
    Ok(Json(
        assets::add_version(
            &s.db,
            s.store.as_ref(),
            &user,
            s.clock.now(),
            id,
            &input.filename,
            input.bytes,
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/assets/{id}/versions/{version}/file", tag = "assets", params(("id" = i32, Path), ("version" = i32, Path)),
    responses((status = 200, description = "The file's bytes with their content type"), (status = 404, body = AppError)))]
async fn asset_file(
    State(s): State<AppState>,
    _: Authenticated,
    Path((id, version)): Path<(String, String)>,
) -> AppResult<Response> {
    let (id, version) = (extract::parse_id(&id)?, extract::parse_id(&version)?);
    let (content_type, filename, bytes): (String, String, Bytes) =
        assets::read_version(&s.db, s.store.as_ref(), id, version).await?;
    let safe_name: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{safe_name}\""),
        )
        .header(header::CACHE_CONTROL, "private, max-age=3600, immutable")
        // An uploaded SVG is shown as an image, never run as a document.
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(bytes))
        .map_err(|e| AppError::internal("building a file response", e))
}

// ---- jobs and builds ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct JobListQuery {
    /// queued, running, waiting, succeeded, failed or cancelled.
    state: Option<String>,
    kind: Option<String>,
    /// A release run, e.g. `release:17.6.0`.
    group: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobListQuery), responses((status = 200, body = Page<Job>)))]
async fn list_jobs(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<JobListQuery>,
) -> AppResult<Json<Page<Job>>> {
    let filter = JobFilter {
        state: q.state,
        kind: q.kind,
        group: q.group,
    };
    Ok(Json(
        jobs::list(
            &s.db,
            &filter,
            PageRequest {
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i32, Path)), responses((status = 200, body = Job), (status = 404, body = AppError)))]
async fn get_job(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    Ok(Json(jobs::get(&s.db, extract::parse_id(&id)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AfterQuery {
    /// Only events after this event id.
    after: Option<i32>,
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs", params(("id" = i32, Path), AfterQuery), responses((status = 200, body = Vec<JobEvent>)))]
async fn job_events(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> AppResult<Json<Vec<JobEvent>>> {
    let id = extract::parse_id(&id)?;
    jobs::get(&s.db, id).await?;
    Ok(Json(jobs::events(&s.db, id, q.after.unwrap_or(0)).await?))
}

/// `GET /api/v1/jobs/{id}/stream`: server-sent events — `log` for each new log line, `job`
/// when the job changes, `end` once it is over.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/stream", tag = "jobs", params(("id" = i32, Path), AfterQuery),
    responses((status = 200, description = "text/event-stream of `log`, `job` and `end` events")))]
async fn job_stream(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> AppResult<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    let id = extract::parse_id(&id)?;
    jobs::get(&s.db, id).await?;
    struct Cursor {
        after: i32,
        last: Option<Job>,
        ended: bool,
        first_round: bool,
    }
    let start = Cursor {
        after: q.after.unwrap_or(0),
        last: None,
        ended: false,
        first_round: true,
    };
    let stream = futures::stream::unfold((s, start), move |(s, mut cur)| async move {
        if cur.ended {
            return None;
        }
        if !cur.first_round {
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        }
        cur.first_round = false;
        let mut out: Vec<Event> = Vec::new();
        let (events, job) = match (
            jobs::events(&s.db, id, cur.after).await,
            jobs::get(&s.db, id).await,
        ) {
            (Ok(e), Ok(j)) => (e, j),
            _ => {
                return Some((
                    futures::stream::iter(out),
                    (s, Cursor { ended: true, ..cur }),
                ));
            }
        };
        for e in events {
            cur.after = e.id;
            if let Ok(ev) = Event::default().event("log").json_data(&e) {
                out.push(ev);
            }
        }
        if cur.last.as_ref() != Some(&job) {
            if let Ok(ev) = Event::default().event("job").json_data(&job) {
                out.push(ev);
            }
            cur.last = Some(job.clone());
        }
        if matches!(
            job.state,
            app::domain::JobState::Succeeded
                | app::domain::JobState::Failed
                | app::domain::JobState::Cancelled
        ) {
            out.push(Event::default().event("end").data("over"));
            cur.ended = true;
        }
        Some((futures::stream::iter(out), (s, cur)))
    })
    .flatten()
    .map(Ok::<_, std::convert::Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = i32, Path)), responses((status = 200, body = Job), (status = 409, body = AppError)))]
async fn cancel_job(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    require(&user, Permission::RunJobs)?;
    Ok(Json(
        jobs::cancel(&s.db, &user, s.clock.now(), extract::parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs", params(("id" = i32, Path)), responses((status = 200, body = Job), (status = 409, body = AppError)))]
async fn retry_job(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    require(&user, Permission::RunJobs)?;
    Ok(Json(
        jobs::retry(&s.db, &user, s.clock.now(), extract::parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/releases/{version}/build", tag = "jobs", params(("version" = String, Path)),
    responses((status = 201, body = ReleaseRun), (status = 404, body = AppError)))]
async fn build_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(version): Path<String>,
) -> AppResult<Response> {
    require(&user, Permission::RunJobs)?;
    Ok(created(
        builds::start_release(&s.db, &user, s.clock.now(), &version).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/releases/{version}/run", tag = "jobs", params(("version" = String, Path)), responses((status = 200, body = ReleaseRun)))]
async fn release_run(
    State(s): State<AppState>,
    _: Authenticated,
    Path(version): Path<String>,
) -> AppResult<Json<ReleaseRun>> {
    Ok(Json(builds::run(&s.db, &version).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
struct BuildInput {
    partner: String,
    product: String,
    version: String,
    /// amd64 or arm64.
    arch: String,
}

#[utoipa::path(post, path = "/api/v1/images/build", tag = "jobs", request_body = BuildInput,
    responses((status = 201, body = Job), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn build_image(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<BuildInput>,
) -> AppResult<Response> {
    require(&user, Permission::RunJobs)?;
    let arch: Arch = input.arch.parse().map_err(|m: String| AppError {
        fields: vec![app::error::FieldError {
            field: "arch".into(),
            message: m.clone(),
        }],
        ..AppError::new(ErrorCode::ValidationFailed, m)
    })?;
    Ok(created(
        builds::start(
            &s.db,
            &user,
            s.clock.now(),
            &input.partner,
            &input.product,
            &input.version,
            arch,
        )
        .await?,
    ))
}

// ---- search and audit ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct SearchQuery {
    /// Text to look for in partner and product names, release versions and image ids.
    q: String,
}

#[utoipa::path(get, path = "/api/v1/search", tag = "meta", params(SearchQuery), responses((status = 200, body = SearchResults)))]
async fn search(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> AppResult<Json<SearchResults>> {
    Ok(Json(catalogue::search(&s.db, &q.q).await?))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "meta", params(AuditFilter), responses((status = 200, body = Page<AuditEvent>), (status = 403, body = AppError)))]
async fn list_audit(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> AppResult<Json<Page<AuditEvent>>> {
    require(&user, Permission::ReadAudit)?;
    Ok(Json(audit::list(&s.db, &filter).await?))
}

/// The OpenAPI document of every route above.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Partner Image Portal API",
        description = "The catalogue of cloud partners, products, releases, images, listings and marketing assets."
    ),
    paths(
        openapi,
        me,
        list_partners,
        create_partner,
        get_partner,
        update_partner,
        add_partner_account,
        add_partner_contact,
        list_products,
        create_product,
        get_product,
        update_product,
        product_matrix,
        set_license,
        delete_license,
        list_releases,
        create_release,
        get_release,
        update_release,
        list_images,
        record_image,
        get_image,
        lookup_image,
        list_listings,
        get_listing,
        set_listing_policy,
        create_listing,
        record_listing_version,
        list_assets,
        get_asset,
        upload_asset,
        upload_asset_version,
        asset_file,
        search,
        list_audit,
        list_jobs,
        get_job,
        job_events,
        job_stream,
        cancel_job,
        retry_job,
        build_release,
        release_run,
        build_image
    ),
    components(schemas(AppError, ErrorCode))
)]
pub struct ApiDoc;
