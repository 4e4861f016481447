//! REST routes of the public-image quota: quota use per region, retention policies, and the
//! dry runs Partnerships approves before old images are retired.

use axum::{
    Json, Router,
    extract::{Path, State},
    response::Response,
    routing::{get, post, put},
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use app::{dto::*, error::AppResult, services::AppState, services::retention};

use super::{
    created,
    extract::{ApiJson, Authenticated, parse_id},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/public-images", get(overview))
        .route("/public-images/quotas/{region}", put(set_quota))
        .route(
            "/products/{partner}/{slug}/retention",
            get(get_policy).put(set_policy),
        )
        .route(
            "/products/{partner}/{slug}/retention/dry-run",
            post(dry_run),
        )
        .route("/retention/{id}", get(get_proposal))
        .route("/retention/{id}/approve", post(approve))
        .route("/retention/{id}/reject", post(reject))
}

#[utoipa::path(get, path = "/api/v1/public-images", tag = "retention", responses((status = 200, body = PublicImages)))]
async fn overview(State(s): State<AppState>, _: Authenticated) -> AppResult<Json<PublicImages>> {
    Ok(Json(retention::overview(&s.db).await?))
}

#[utoipa::path(put, path = "/api/v1/public-images/quotas/{region}", tag = "retention", params(("region" = String, Path)), request_body = QuotaInput,
    responses((status = 200, body = RegionQuota), (status = 422, body = app::error::AppError)))]
async fn set_quota(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(region): Path<String>,
    ApiJson(input): ApiJson<QuotaInput>,
) -> AppResult<Json<RegionQuota>> {
    Ok(Json(
        retention::set_quota(&s.db, &user, s.clock.now(), &region, &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/products/{partner}/{slug}/retention", tag = "retention", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 200, body = RetentionPolicy), (status = 404, body = app::error::AppError)))]
async fn get_policy(
    State(s): State<AppState>,
    _: Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<Json<RetentionPolicy>> {
    Ok(Json(retention::policy(&s.db, &partner, &slug).await?))
}

#[utoipa::path(put, path = "/api/v1/products/{partner}/{slug}/retention", tag = "retention", params(("partner" = String, Path), ("slug" = String, Path)),
    request_body = RetentionPolicyInput,
    responses((status = 200, body = RetentionPolicy), (status = 422, body = app::error::AppError)))]
async fn set_policy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
    ApiJson(input): ApiJson<RetentionPolicyInput>,
) -> AppResult<Json<RetentionPolicy>> {
    Ok(Json(
        retention::set_policy(&s.db, &user, s.clock.now(), &partner, &slug, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/products/{partner}/{slug}/retention/dry-run", tag = "retention", params(("partner" = String, Path), ("slug" = String, Path)),
    responses((status = 201, body = RetentionProposal), (status = 409, body = app::error::AppError, description = "Nothing past the policy, or a proposal is open")))]
async fn dry_run(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((partner, slug)): Path<(String, String)>,
) -> AppResult<Response> {
    Ok(created(
        retention::dry_run(&s.db, &user, s.clock.now(), &partner, &slug).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/retention/{id}", tag = "retention", params(("id" = i32, Path)),
    responses((status = 200, body = RetentionProposal), (status = 404, body = app::error::AppError)))]
async fn get_proposal(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<RetentionProposal>> {
    Ok(Json(retention::get(&s.db, parse_id(&id)?).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct RetentionDecision {
    /// Required to reject.
    #[serde(default)]
    comment: String,
}

async fn decide(
    s: AppState,
    user: app::domain::CurrentUser,
    id: &str,
    approve: bool,
    comment: &str,
) -> AppResult<Json<RetentionProposal>> {
    Ok(Json(
        retention::decide(&s.db, &user, s.clock.now(), parse_id(id)?, approve, comment).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/retention/{id}/approve", tag = "retention", params(("id" = i32, Path)), request_body = RetentionDecision,
    responses((status = 200, body = RetentionProposal), (status = 403, body = app::error::AppError), (status = 409, body = app::error::AppError)))]
async fn approve(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RetentionDecision>,
) -> AppResult<Json<RetentionProposal>> {
    decide(s, user, &id, true, &input.comment).await
}

#[utoipa::path(post, path = "/api/v1/retention/{id}/reject", tag = "retention", params(("id" = i32, Path)), request_body = RetentionDecision,
    responses((status = 200, body = RetentionProposal), (status = 403, body = app::error::AppError), (status = 422, body = app::error::AppError)))]
async fn reject(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RetentionDecision>,
) -> AppResult<Json<RetentionProposal>> {
    decide(s, user, &id, false, &input.comment).await
}

#[derive(OpenApi)]
#[openapi(
    paths(
        overview,
        set_quota,
        get_policy,
        set_policy,
        dry_run,
        get_proposal,
        approve,
        reject
    ),
    components(schemas(RetentionDecision))
)]
pub struct RetentionApi;
