//! REST routes of the process: workflows and tasks, the maintenance clock, listing copy and
//! its approvals, notifications, outbound webhooks, and GitLab's release webhook.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use app::{
    domain::Permission,
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{
        AppState, copy, limits, notify,
        process::{self, ReleaseEvent},
        publish,
    },
};

use super::{
    created,
    extract::{ApiJson, ApiQuery, Authenticated, parse_id},
    require,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(list_workflows).post(start_first_time))
        .route("/workflows/{id}", get(get_workflow))
        .route("/workflows/{id}/sign-offs", post(sign_off))
        .route("/workflows/{id}/launch", post(approve_launch))
        .route("/tasks/{id}", get(get_task))
        .route("/tasks/{id}/state", post(set_task_state))
        .route("/tasks/{id}/assignment", axum::routing::put(assign_task))
        .route("/tasks/{id}/comments", post(comment_on_task))
        .route("/tasks/{id}/links", post(add_task_link))
        .route("/maintenance", get(maintenance))
        .route("/holidays", get(list_holidays).post(add_holiday))
        .route("/holidays/{id}", axum::routing::delete(delete_holiday))
        .route("/listings/{id}/copy", get(get_copy).post(save_copy))
        .route("/listings/{id}/copy/approved", get(approved_copy))
        .route("/listings/{id}/copy/diff", get(copy_diff))
        .route(
            "/listings/{id}/copy/request-approval",
            post(request_approval),
        )
        .route("/listings/{id}/copy/approve", post(approve_copy))
        .route("/listings/{id}/copy/reject", post(reject_copy))
        .route("/listings/{id}/copy/mark-for-publishing", post(mark_copy))
        .route("/approvals", get(approvals))
        .route(
            "/listings/{id}/publish",
            post(publish_release).get(publish_jobs),
        )
        .route("/jobs/{id}/cancel-blocker", post(cancel_blocker))
        .route(
            "/listings/{id}/restrictions",
            get(list_restrictions).post(propose_restrictions),
        )
        .route("/restrictions/{id}/approve", post(approve_restrictions))
        .route("/restrictions/{id}/reject", post(reject_restrictions))
        .route("/notifications", get(inbox))
        .route("/notifications/read", post(mark_read))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/gitlab", post(gitlab_webhook))
        .route("/webhooks/{id}", axum::routing::delete(delete_webhook))
        .route("/webhooks/{id}/test", post(test_webhook))
}

// ---- workflows and tasks ----

#[utoipa::path(get, path = "/api/v1/workflows", tag = "process", params(WorkflowFilter), responses((status = 200, body = Page<WorkflowSummary>)))]
async fn list_workflows(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(filter): ApiQuery<WorkflowFilter>,
) -> AppResult<Json<Page<WorkflowSummary>>> {
    Ok(Json(process::list(&s.db, s.clock.now(), &filter).await?))
}

#[utoipa::path(post, path = "/api/v1/workflows", tag = "process", request_body = FirstTimeInput,
    responses((status = 201, body = Workflow), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn start_first_time(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<FirstTimeInput>,
) -> AppResult<Response> {
    require(&user, Permission::ManageWorkflows)?;
    Ok(created(
        process::start_first_time(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "process", params(("id" = i32, Path)),
    responses((status = 200, body = Workflow), (status = 404, body = AppError)))]
async fn get_workflow(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Workflow>> {
    Ok(Json(
        process::get(&s.db, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/workflows/{id}/sign-offs", tag = "process", params(("id" = i32, Path)), request_body = SignOffInput,
    responses((status = 200, body = Workflow), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn sign_off(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SignOffInput>,
) -> AppResult<Json<Workflow>> {
    require(&user, Permission::WorkOnTasks)?;
    Ok(Json(
        process::sign_off(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/workflows/{id}/launch", tag = "process", params(("id" = i32, Path)),
    responses((status = 200, body = Workflow), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn approve_launch(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Workflow>> {
    require(&user, Permission::ManageWorkflows)?;
    Ok(Json(
        process::approve_launch(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "process", params(("id" = i32, Path)),
    responses((status = 200, body = TaskDetail), (status = 404, body = AppError)))]
async fn get_task(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<TaskDetail>> {
    Ok(Json(
        process::task_detail(&s.db, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/state", tag = "process", params(("id" = i32, Path)), request_body = TaskStateInput,
    responses((status = 200, body = TaskDetail), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn set_task_state(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskStateInput>,
) -> AppResult<Json<TaskDetail>> {
    require(&user, Permission::WorkOnTasks)?;
    Ok(Json(
        process::set_task_state(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/tasks/{id}/assignment", tag = "process", params(("id" = i32, Path)), request_body = TaskAssignInput,
    responses((status = 200, body = TaskDetail), (status = 403, body = AppError), (status = 422, body = AppError)))]
async fn assign_task(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskAssignInput>,
) -> AppResult<Json<TaskDetail>> {
    require(&user, Permission::WorkOnTasks)?;
    Ok(Json(
        process::assign_task(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
struct CommentInput {
    body: String,
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/comments", tag = "process", params(("id" = i32, Path)), request_body = CommentInput,
    responses((status = 200, body = TaskDetail), (status = 422, body = AppError)))]
async fn comment_on_task(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CommentInput>,
) -> AppResult<Json<TaskDetail>> {
    require(&user, Permission::WorkOnTasks)?;
    Ok(Json(
        process::comment_on_task(&s.db, &user, s.clock.now(), parse_id(&id)?, &input.body).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/links", tag = "process", params(("id" = i32, Path)), request_body = TaskLinkInput,
    responses((status = 200, body = TaskDetail), (status = 422, body = AppError)))]
async fn add_task_link(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TaskLinkInput>,
) -> AppResult<Json<TaskDetail>> {
    require(&user, Permission::WorkOnTasks)?;
    Ok(Json(
        process::add_task_link(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/maintenance", tag = "process", responses((status = 200, body = MaintenanceBoard)))]
async fn maintenance(
    State(s): State<AppState>,
    _: Authenticated,
) -> AppResult<Json<MaintenanceBoard>> {
    Ok(Json(
        process::maintenance_board(&s.db, s.clock.now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/holidays", tag = "process", responses((status = 200, body = Vec<Holiday>)))]
async fn list_holidays(
    State(s): State<AppState>,
    _: Authenticated,
) -> AppResult<Json<Vec<Holiday>>> {
    Ok(Json(process::list_holidays(&s.db).await?))
}

#[utoipa::path(post, path = "/api/v1/holidays", tag = "process", request_body = HolidayInput,
    responses((status = 201, body = Holiday), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn add_holiday(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<HolidayInput>,
) -> AppResult<Response> {
    require(&user, Permission::Administer)?;
    Ok(created(
        process::add_holiday(&s.db, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/holidays/{id}", tag = "process", params(("id" = i32, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
async fn delete_holiday(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    require(&user, Permission::Administer)?;
    process::delete_holiday(&s.db, &user, s.clock.now(), parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- listing copy ----

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy", tag = "copy", params(("id" = i32, Path)),
    responses((status = 200, body = ListingCopy), (status = 404, body = AppError)))]
async fn get_copy(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(copy::get(&s.db, parse_id(&id)?).await?))
}

/// A save that lost to a newer revision: both versions, nothing written.
#[derive(serde::Serialize, ToSchema)]
struct CopyConflict {
    code: ErrorCode,
    message: String,
    yours: CopyFields,
    theirs: CopyRevision,
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy", tag = "copy", params(("id" = i32, Path)), request_body = CopyInput,
    responses((status = 201, body = CopyRevision), (status = 409, body = CopyConflict, description = "A newer revision was saved since `base_revision`"), (status = 422, body = AppError)))]
async fn save_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CopyInput>,
) -> AppResult<Response> {
    require(&user, Permission::EditCopy)?;
    Ok(
        match copy::save(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await? {
            CopySave::Saved { revision } => created(revision),
            CopySave::Conflict {
                message,
                yours,
                theirs,
            } => (
                StatusCode::CONFLICT,
                Json(CopyConflict {
                    code: ErrorCode::Conflict,
                    message,
                    yours,
                    theirs,
                }),
            )
                .into_response(),
        },
    )
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy/approved", tag = "copy", params(("id" = i32, Path)),
    responses((status = 200, body = CopyRevision, description = "The newest approved revision: what a publish uses"), (status = 404, body = AppError)))]
async fn approved_copy(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<CopyRevision>> {
    let id = parse_id(&id)?;
    copy::approved_revision(&s.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("an approved revision of listing {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
struct DiffQuery {
    /// Revision id on the left.
    left: i32,
    /// Revision id on the right.
    right: i32,
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/copy/diff", tag = "copy", params(("id" = i32, Path), DiffQuery),
    responses((status = 200, body = CopyDiff), (status = 404, body = AppError)))]
async fn copy_diff(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> AppResult<Json<CopyDiff>> {
    Ok(Json(
        copy::diff(&s.db, parse_id(&id)?, q.left, q.right).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/request-approval", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 409, body = AppError)))]
async fn request_approval(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    require(&user, Permission::EditCopy)?;
    Ok(Json(
        copy::request_approval(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/approve", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn approve_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(
        copy::approve(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/reject", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 403, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
async fn reject_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(
        copy::reject(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/copy/mark-for-publishing", tag = "copy", params(("id" = i32, Path)), request_body = ReviewInput,
    responses((status = 200, body = ListingCopy), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn mark_copy(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> AppResult<Json<ListingCopy>> {
    Ok(Json(
        copy::mark_for_publishing(&s.db, &user, s.clock.now(), parse_id(&id)?, &input).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "copy", responses((status = 200, body = ApprovalQueue)))]
async fn approvals(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Json<ApprovalQueue>> {
    Ok(Json(process::approvals(&s.db, s.clock.now(), &user).await?))
}

// ---- publishing ----

#[derive(Debug, Deserialize, ToSchema)]
struct PublishInput {
    /// A release version, or `latest`.
    release: String,
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/publish", tag = "copy", params(("id" = i32, Path)), request_body = PublishInput,
    responses((status = 201, body = Job), (status = 403, body = AppError), (status = 409, body = AppError, description = "Not the newest stable release, no image yet, already published or publishing")))]
async fn publish_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PublishInput>,
) -> AppResult<Response> {
    require(&user, Permission::RunJobs)?;
    Ok(created(
        publish::start(&s.db, &user, s.clock.now(), parse_id(&id)?, &input.release).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/publish", tag = "copy", params(("id" = i32, Path)), responses((status = 200, body = Vec<Job>)))]
async fn publish_jobs(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<Job>>> {
    Ok(Json(publish::jobs_of(&s.db, parse_id(&id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel-blocker", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 200, body = Job), (status = 409, body = AppError, description = "Not a blocked publish")))]
async fn cancel_blocker(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    require(&user, Permission::RunJobs)?;
    Ok(Json(
        publish::cancel_blocker_and_retry(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/restrictions", tag = "copy", params(("id" = i32, Path)), responses((status = 200, body = Vec<RestrictionProposal>)))]
async fn list_restrictions(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<RestrictionProposal>>> {
    Ok(Json(limits::proposals_of(&s.db, parse_id(&id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/listings/{id}/restrictions", tag = "copy", params(("id" = i32, Path)),
    responses((status = 201, body = RestrictionProposal), (status = 409, body = AppError, description = "Under the threshold, nothing restrictable, or a proposal is open")))]
async fn propose_restrictions(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Response> {
    require(&user, Permission::ManageCatalogue)?;
    Ok(created(
        limits::propose(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct DecisionInput {
    /// Required to reject.
    #[serde(default)]
    comment: String,
}

#[utoipa::path(post, path = "/api/v1/restrictions/{id}/approve", tag = "copy", params(("id" = i32, Path)), request_body = DecisionInput,
    responses((status = 200, body = RestrictionProposal), (status = 403, body = AppError), (status = 409, body = AppError)))]
async fn approve_restrictions(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> AppResult<Json<RestrictionProposal>> {
    Ok(Json(
        limits::decide(
            &s.db,
            &user,
            s.clock.now(),
            parse_id(&id)?,
            true,
            &input.comment,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/restrictions/{id}/reject", tag = "copy", params(("id" = i32, Path)), request_body = DecisionInput,
    responses((status = 200, body = RestrictionProposal), (status = 403, body = AppError), (status = 422, body = AppError)))]
async fn reject_restrictions(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> AppResult<Json<RestrictionProposal>> {
    Ok(Json(
        limits::decide(
            &s.db,
            &user,
            s.clock.now(),
            parse_id(&id)?,
            false,
            &input.comment,
        )
        .await?,
    ))
}

// ---- notifications and webhooks ----

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(PageRequest), responses((status = 200, body = Inbox)))]
async fn inbox(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(page): ApiQuery<PageRequest>,
) -> AppResult<Json<Inbox>> {
    Ok(Json(
        notify::inbox(&s.db, user.id, page.page.unwrap_or(1)).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct ReadInput {
    /// One notification; absent marks all read.
    #[serde(default)]
    id: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", request_body = ReadInput, responses((status = 200, body = u64)))]
async fn mark_read(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<ReadInput>,
) -> AppResult<Json<u64>> {
    Ok(Json(
        notify::mark_read(&s.db, user.id, input.id, s.clock.now()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", responses((status = 200, body = Vec<Webhook>), (status = 403, body = AppError)))]
async fn list_webhooks(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
) -> AppResult<Json<Vec<Webhook>>> {
    require(&user, Permission::Administer)?;
    Ok(Json(notify::list_webhooks(&s.db).await?))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", request_body = WebhookInput,
    responses((status = 201, body = WebhookCreated, description = "The secret is shown this once"), (status = 403, body = AppError), (status = 422, body = AppError)))]
async fn create_webhook(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<WebhookInput>,
) -> AppResult<Response> {
    require(&user, Permission::Administer)?;
    Ok(created(
        notify::create_webhook(&s.db, &s.secret_key, &user, s.clock.now(), &input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications", params(("id" = i32, Path)),
    responses((status = 204), (status = 404, body = AppError)))]
async fn delete_webhook(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    require(&user, Permission::Administer)?;
    notify::delete_webhook(&s.db, &user, s.clock.now(), parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "notifications", params(("id" = i32, Path)),
    responses((status = 201, body = Job), (status = 404, body = AppError)))]
async fn test_webhook(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Response> {
    require(&user, Permission::Administer)?;
    Ok(created(
        notify::test_webhook(&s.db, &user, s.clock.now(), parse_id(&id)?).await?,
    ))
}

/// The parts of GitLab's tag push and release events the portal reads.
#[derive(Debug, Deserialize)]
struct GitlabEvent {
    object_kind: Option<String>,
    /// Tag push: `refs/tags/v17.6.1-ee`.
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    /// Tag push: all zeros when the tag was deleted.
    after: Option<String>,
    /// Tag push: the annotated tag's message.
    message: Option<String>,
    /// Release: `create`, `update` or `delete`.
    action: Option<String>,
    tag: Option<String>,
    name: Option<String>,
    description: Option<String>,
    released_at: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// GitLab's webhook for tag pushes and releases of the GitLab project: a new release opens
/// its maintenance runs. Authenticated by the webhook's secret token (`X-Gitlab-Token`).
#[utoipa::path(post, path = "/api/v1/webhooks/gitlab", tag = "process",
    request_body(content = String, content_type = "application/json", description = "GitLab's tag push or release event"),
    params(("X-Gitlab-Token" = String, Header), ("X-Gitlab-Event" = String, Header, description = "`Tag Push Hook` or `Release Hook`")),
    responses((status = 200, body = ReleaseEventOutcome), (status = 401, body = AppError), (status = 404, body = AppError, description = "The webhook is not configured"), (status = 422, body = AppError)))]
async fn gitlab_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<ReleaseEventOutcome>> {
    use sha2::Digest as _;
    let Some(expected) = s.gitlab_token_sha256 else {
        return Err(AppError::not_found(
            "the GitLab webhook (set PORTAL_GITLAB_WEBHOOK_TOKEN to turn it on)",
        ));
    };
    let given: [u8; 32] = sha2::Sha256::digest(
        header(&headers, "X-Gitlab-Token")
            .unwrap_or("")
            .trim()
            .as_bytes(),
    )
    .into();
    // Comparing digests keeps the comparison's time independent of the token.
    let matches = given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !matches || header(&headers, "X-Gitlab-Token").is_none() {
        return Err(AppError::new(
            ErrorCode::Unauthenticated,
            "the X-Gitlab-Token header does not match this portal's webhook token",
        ));
    }
    let ignored = |why: &str| {
        Ok(Json(ReleaseEventOutcome {
            status: format!("ignored: {why}"),
            release: None,
            maintenance_runs: Vec::new(),
        }))
    };
    let event: GitlabEvent = serde_json::from_slice(&body).map_err(|e| {
        AppError::bad_request(format!("the webhook body is not GitLab's event JSON: {e}"))
    })?;
    let kind = header(&headers, "X-Gitlab-Event").unwrap_or_default();
    let now = s.clock.now();
    let (tag, released_on, text) = match (kind, event.object_kind.as_deref()) {
        ("Tag Push Hook", _) | (_, Some("tag_push")) => {
            if event
                .after
                .as_deref()
                .is_some_and(|a| a.chars().all(|c| c == '0'))
            {
                return ignored("a tag was deleted");
            }
            let Some(tag) = event.git_ref.clone() else {
                return Err(AppError::validation("ref", "a tag push without a ref"));
            };
            (
                tag,
                now.date_naive(),
                event.message.clone().unwrap_or_default(),
            )
        }
        ("Release Hook", _) | (_, Some("release")) => {
            if event.action.as_deref().is_some_and(|a| a != "create") {
                return ignored("only new releases open maintenance");
            }
            let Some(tag) = event.tag.clone() else {
                return Err(AppError::validation("tag", "a release event without a tag"));
            };
            let released_on = event
                .released_at
                .as_deref()
                .and_then(|d| d.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .unwrap_or_else(|| now.date_naive());
            (
                tag,
                released_on,
                format!(
                    "{} {}",
                    event.name.clone().unwrap_or_default(),
                    event.description.clone().unwrap_or_default()
                ),
            )
        }
        _ => return ignored("not a tag push or release event"),
    };
    let version = process::version_from_tag(&tag).map_err(|m| AppError::validation("tag", m))?;
    if !version.is_stable() {
        return ignored("release candidates get no images");
    }
    let delivery_id = header(&headers, "Idempotency-Key")
        .or_else(|| header(&headers, "X-Gitlab-Event-UUID"))
        .map(str::to_owned)
        .unwrap_or_else(|| hex::encode(sha2::Sha256::digest(&body)));
    let outcome = process::release_event(
        &s.db,
        now,
        &ReleaseEvent {
            source: "gitlab",
            delivery_id,
            security: text.to_lowercase().contains("security"),
            summary: format!("{kind}: {tag}"),
            version,
            released_on,
        },
    )
    .await?;
    Ok(Json(outcome))
}

/// The OpenAPI document of the routes above, merged into the API's.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_workflows,
        start_first_time,
        get_workflow,
        sign_off,
        approve_launch,
        get_task,
        set_task_state,
        assign_task,
        comment_on_task,
        add_task_link,
        maintenance,
        list_holidays,
        add_holiday,
        delete_holiday,
        get_copy,
        save_copy,
        approved_copy,
        copy_diff,
        request_approval,
        approve_copy,
        reject_copy,
        mark_copy,
        approvals,
        publish_release,
        publish_jobs,
        cancel_blocker,
        list_restrictions,
        propose_restrictions,
        approve_restrictions,
        reject_restrictions,
        inbox,
        mark_read,
        list_webhooks,
        create_webhook,
        delete_webhook,
        test_webhook,
        gitlab_webhook
    ),
    components(schemas(CopyConflict, CommentInput, ReadInput, PublishInput, DecisionInput))
)]
pub struct ProcessApi;
