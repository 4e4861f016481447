//! The REST API under `/api/v1`, for release pipelines and other automation. Handlers are
//! thin: authenticate, parse, call a service (which checks the permission: see the policy
//! in `app::error`), answer JSON. Errors are
//! `{"code", "message", "fields"}` with the matching HTTP status. The OpenAPI document at
//! `/api/v1/openapi.json` is generated from these handlers.
//!
//! One file per resource holds its handlers; this file assembles the router and the OpenAPI
//! document and keeps the helpers they share.

mod account;
mod assets;
mod audit;
mod copy;
mod extract;
mod images;
mod jobs;
mod listings;
mod maintenance;
mod notifications;
mod partners;
mod products;
mod publish;
mod rebuilds;
mod releases;
mod restrictions;
mod retention;
pub mod scopes;
mod search;
mod tasks;
mod tokens;
mod trains;
mod webhooks;
mod workflows;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use utoipa::OpenApi;

use app::{
    domain::CurrentUser,
    error::{AppError, ErrorCode},
    services::{AppState, assets::UPLOAD_BODY_LIMIT},
};
pub use extract::{ApiJson, ApiQuery, Authenticated};

/// The one route outside `/api/v1` anyone may reach without signing in: the file of a logo
/// an approved or live copy pins, which AWS Marketplace fetches when assets are kept in a
/// local folder (the handler serves nothing else). Every other path under it is a 404.
pub fn public_router() -> Router<AppState> {
    Router::new().route(
        "/public/assets/{*path}",
        get(assets::public_asset_file).fallback(|| async {
            AppError::bad_request("a public file is only read (GET or HEAD)")
        }),
    )
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route(
            "/partners",
            get(partners::list_partners).post(partners::create_partner),
        )
        .route(
            "/partners/{slug}",
            get(partners::get_partner).put(partners::update_partner),
        )
        .route(
            "/partners/{slug}/accounts",
            post(partners::add_partner_account),
        )
        .route(
            "/partners/{slug}/contacts",
            post(partners::add_partner_contact),
        )
        .route(
            "/products",
            get(products::list_products).post(products::create_product),
        )
        .route(
            "/products/{partner}/{slug}",
            get(products::get_product).put(products::update_product),
        )
        .route(
            "/products/{partner}/{slug}/matrix",
            get(products::product_matrix),
        )
        .route(
            "/products/{partner}/{slug}/license",
            axum::routing::put(products::set_license).delete(products::delete_license),
        )
        .route(
            "/products/{partner}/{slug}/delivery",
            axum::routing::put(products::set_delivery),
        )
        .route(
            "/releases",
            get(releases::list_releases).post(releases::create_release),
        )
        .route(
            "/releases/{version}",
            get(releases::get_release).put(releases::update_release),
        )
        .route("/releases/{version}/train", get(trains::release_train))
        .route("/trains", get(trains::list_trains))
        .route("/trains/{id}", get(trains::get_train))
        .route(
            "/products/{partner}/{slug}/build-policy",
            axum::routing::put(trains::set_build_policy),
        )
        .route(
            "/listings/{id}/publish-policy",
            axum::routing::put(trains::set_publish_policy),
        )
        .route(
            "/images",
            get(images::list_images).post(images::record_image),
        )
        .route("/images/lookup", get(images::lookup_image))
        .route("/images/{id}", get(images::get_image))
        .route(
            "/listings",
            get(listings::list_listings).post(listings::create_listing),
        )
        .route("/listings/{id}", get(listings::get_listing))
        .route(
            "/listings/{id}/policy",
            axum::routing::put(listings::set_listing_policy),
        )
        .route(
            "/listings/{id}/versions",
            post(listings::record_listing_version),
        )
        .route(
            "/assets",
            get(assets::list_assets)
                .post(assets::upload_asset)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/assets/{id}", get(assets::get_asset))
        .route(
            "/assets/{id}/versions",
            post(assets::upload_asset_version).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/assets/{id}/versions/{version}/file",
            get(assets::asset_file),
        )
        .route("/assets/{id}/links", post(assets::link_asset))
        .route(
            "/assets/{id}/links/{link_id}",
            axum::routing::delete(assets::unlink_asset),
        )
        .route("/listings/{id}/assets", get(assets::listing_assets))
        .route("/jobs", get(jobs::list_jobs))
        .route("/jobs/{id}", get(jobs::get_job))
        .route("/jobs/{id}/events", get(jobs::job_events))
        .route("/jobs/{id}/user-data", get(jobs::job_user_data))
        .route("/jobs/{id}/stream", get(jobs::job_stream))
        .route("/jobs/{id}/cancel", post(jobs::cancel_job))
        .route("/jobs/{id}/retry", post(jobs::retry_job))
        .route("/releases/{version}/build", post(jobs::build_release))
        .route("/releases/{version}/run", get(jobs::release_run))
        .route("/images/build", post(jobs::build_image))
        .route("/images/{id}/rebuild", post(jobs::rebuild_image))
        .route("/search", get(search::search))
        .route("/audit", get(audit::list_audit))
        .merge(copy::router())
        .merge(maintenance::router())
        .merge(notifications::router())
        .merge(publish::router())
        .merge(restrictions::router())
        .merge(tasks::router())
        .merge(webhooks::router())
        .merge(workflows::router())
        .merge(retention::router())
        .merge(rebuilds::router())
        .merge(tokens::router())
        .merge(account::router())
        // Every route above, and only those: a token's scope is checked against the route.
        .route_layer(axum::middleware::from_fn(scopes::token_scope))
        .fallback(|| async { AppError::not_found("this API route") })
}

/// A catalogue read answered through the portal's kept reads (the lookup and the main
/// lists, which automation polls): the same question a moment later is not read again,
/// until a write through this portal or [`FRESH_FOR`](app::services::read_cache::FRESH_FOR)
/// after it was read, whichever comes first. `question` is everything the answer depends on
/// (an unusually long one is read every time). What is kept is the JSON answer itself.
async fn kept<T, Fut>(
    s: &AppState,
    model: &'static str,
    question: &impl std::fmt::Debug,
    read: impl FnOnce() -> Fut,
) -> app::error::AppResult<Response>
where
    T: serde::Serialize,
    Fut: Future<Output = app::error::AppResult<T>>,
{
    let question = format!("{question:?}");
    let json = || async {
        let value = read().await?;
        serde_json::to_vec(&value)
            .map(bytes::Bytes::from)
            .map_err(|err| AppError::internal("writing a kept answer", err))
    };
    let body = s
        .reads
        .get_of_if(model, &question, s.clock.now(), |_| true, json)
        .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(copy::CopyApi::openapi());
    doc.merge(maintenance::MaintenanceApi::openapi());
    doc.merge(notifications::NotificationsApi::openapi());
    doc.merge(publish::PublishApi::openapi());
    doc.merge(restrictions::RestrictionsApi::openapi());
    doc.merge(tasks::TasksApi::openapi());
    doc.merge(webhooks::WebhooksApi::openapi());
    doc.merge(workflows::WorkflowsApi::openapi());
    doc.merge(retention::RetentionApi::openapi());
    doc.merge(rebuilds::RebuildsApi::openapi());
    doc.merge(tokens::TokensApi::openapi());
    doc.merge(account::AccountApi::openapi());
    Json(doc)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "meta", responses((status = 200, body = CurrentUser), (status = 401, body = AppError)))]
async fn me(Authenticated(user): Authenticated) -> Json<CurrentUser> {
    Json(user)
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
        partners::list_partners,
        partners::create_partner,
        partners::get_partner,
        partners::update_partner,
        partners::add_partner_account,
        partners::add_partner_contact,
        products::list_products,
        products::create_product,
        products::get_product,
        products::update_product,
        products::product_matrix,
        products::set_license,
        products::delete_license,
        products::set_delivery,
        releases::list_releases,
        releases::create_release,
        releases::get_release,
        releases::update_release,
        trains::release_train,
        trains::list_trains,
        trains::get_train,
        trains::set_build_policy,
        trains::set_publish_policy,
        images::list_images,
        images::record_image,
        images::get_image,
        images::lookup_image,
        listings::list_listings,
        listings::get_listing,
        listings::set_listing_policy,
        listings::create_listing,
        listings::record_listing_version,
        assets::list_assets,
        assets::get_asset,
        assets::upload_asset,
        assets::upload_asset_version,
        assets::asset_file,
        assets::link_asset,
        assets::unlink_asset,
        assets::listing_assets,
        assets::public_asset_file,
        search::search,
        audit::list_audit,
        jobs::list_jobs,
        jobs::get_job,
        jobs::job_events,
        jobs::job_user_data,
        jobs::job_stream,
        jobs::cancel_job,
        jobs::retry_job,
        jobs::build_release,
        jobs::release_run,
        jobs::build_image,
        jobs::rebuild_image
    ),
    components(schemas(AppError, ErrorCode))
)]
pub struct ApiDoc;
