//! REST routes of the account as it is: the cloud sync (run now, and what the syncs read),
//! the drift between the catalogue and the account with the actions that resolve it, and
//! the quota and retention actions of the public-images page that build on the sync.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::Deserialize;
use utoipa::OpenApi;

use app::{
    domain::{CurrentUser, DriftAction},
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, account, retention},
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cloud", get(status))
        .route("/cloud/sync", post(sync))
        .route("/cloud/drift", get(list_drift))
        .route("/cloud/drift/{id}", get(get_drift))
        .route("/cloud/drift/{id}/adopt", post(adopt))
        .route("/cloud/drift/{id}/forget", post(forget))
        .route(
            "/cloud/drift/{id}/propose-retirement",
            post(propose_retirement),
        )
        .route("/public-images/quotas/{region}", delete(clear_quota))
        .route(
            "/public-images/regions/{region}/retention-proposals",
            post(propose_region),
        )
}

#[utoipa::path(get, path = "/api/v1/cloud", tag = "cloud",
    responses((status = 200, body = CloudStatus, description = "What the syncs read of each region and listing, the newest sync and the open drift"), (status = 401, body = AppError)))]
async fn status(State(s): State<AppState>, _: Authenticated) -> AppResult<Json<CloudStatus>> {
    Ok(Json(
        account::status(&s.db, s.clock.now(), s.cloud_sync_every).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/cloud/sync", tag = "cloud",
    responses((status = 202, body = Job, description = "The sync job: queued now, or the one already queued or running"), (status = 401, body = AppError), (status = 403, body = AppError)))]
async fn sync(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Response> {
    let job = account::request_sync(&s.db, &user, s.clock.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DriftListQuery {
    /// `open` (the default) or `resolved`.
    state: Option<String>,
    product_id: Option<i32>,
    listing_id: Option<i32>,
    region: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/cloud/drift", tag = "cloud", params(DriftListQuery),
    responses((status = 200, body = Page<DriftItem>, description = "Newest first"), (status = 400, body = AppError), (status = 401, body = AppError)))]
async fn list_drift(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<DriftListQuery>,
) -> AppResult<Json<Page<DriftItem>>> {
    let filter = DriftFilter {
        state: q.state,
        product_id: q.product_id,
        listing_id: q.listing_id,
        region: q.region,
    };
    let page = PageRequest {
        page: q.page,
        per_page: q.per_page,
    };
    Ok(Json(account::drift(&s.db, &filter, page).await?))
}

#[utoipa::path(get, path = "/api/v1/cloud/drift/{id}", tag = "cloud", params(("id" = i32, Path)),
    responses((status = 200, body = DriftItem), (status = 401, body = AppError), (status = 404, body = AppError)))]
async fn get_drift(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<DriftItem>> {
    Ok(Json(account::drift_item(&s.db, parse_id(&id)?).await?))
}

async fn resolve(
    s: &AppState,
    user: &CurrentUser,
    id: &str,
    action: DriftAction,
    input: &AdoptInput,
) -> AppResult<Json<DriftResolution>> {
    Ok(Json(
        account::resolve(&s.db, user, s.clock.now(), parse_id(id)?, action, input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/cloud/drift/{id}/adopt", tag = "cloud", params(("id" = i32, Path)),
    request_body(content = AdoptInput, description = "For an image made outside the portal: its product, release and architecture; `{}` for every other item"),
    responses((status = 200, body = DriftResolution), (status = 403, body = AppError), (status = 404, body = AppError), (status = 409, body = AppError, description = "Resolved already, or adopting does not resolve this item"), (status = 422, body = AppError)))]
async fn adopt(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AdoptInput>,
) -> AppResult<Json<DriftResolution>> {
    resolve(&s, &user, &id, DriftAction::Adopt, &input).await
}

#[utoipa::path(post, path = "/api/v1/cloud/drift/{id}/forget", tag = "cloud", params(("id" = i32, Path)),
    responses((status = 200, body = DriftResolution), (status = 403, body = AppError), (status = 404, body = AppError), (status = 409, body = AppError, description = "Resolved already, or forgetting does not resolve this item")))]
async fn forget(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<DriftResolution>> {
    resolve(&s, &user, &id, DriftAction::Forget, &AdoptInput::default()).await
}

#[utoipa::path(post, path = "/api/v1/cloud/drift/{id}/propose-retirement", tag = "cloud", params(("id" = i32, Path)),
    responses((status = 200, body = DriftResolution, description = "Resolved, with the retention or restriction proposal it opened for Partnerships to decide"), (status = 403, body = AppError), (status = 404, body = AppError), (status = 409, body = AppError, description = "Resolved already, or a proposal does not resolve this item")))]
async fn propose_retirement(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<DriftResolution>> {
    resolve(
        &s,
        &user,
        &id,
        DriftAction::ProposeRetirement,
        &AdoptInput::default(),
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/public-images/quotas/{region}", tag = "retention", params(("region" = String, Path)),
    responses((status = 200, body = RegionQuota, description = "The region's quota is Service Quotas' again (or AWS's default until it answered)"), (status = 403, body = AppError), (status = 404, body = AppError)))]
async fn clear_quota(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(region): Path<String>,
) -> AppResult<Json<RegionQuota>> {
    Ok(Json(
        retention::clear_quota(&s.db, &user, s.clock.now(), &region).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/public-images/regions/{region}/retention-proposals", tag = "retention", params(("region" = String, Path)),
    responses((status = 201, body = Vec<RetentionProposal>, description = "A dry run of each AWS product with public images in the region and no open proposal"), (status = 403, body = AppError), (status = 404, body = AppError), (status = 409, body = AppError, description = "Nothing to propose")))]
async fn propose_region(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(region): Path<String>,
) -> AppResult<Response> {
    Ok(created(
        retention::propose_region(&s.db, &user, s.clock.now(), &region).await?,
    ))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        status,
        sync,
        list_drift,
        get_drift,
        adopt,
        forget,
        propose_retirement,
        clear_quota,
        propose_region
    ),
    components(schemas(AppError))
)]
pub struct AccountApi;
