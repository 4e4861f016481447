//! Server functions of the process: workflows and tasks, the maintenance clock, listing
//! copy and its approvals, the inbox and outbound webhooks.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
#[cfg(feature = "ssr")]
use crate::domain::*;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_workflows(
    kind: String,
    state: String,
    page: u64,
) -> Result<Page<WorkflowSummary>, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::list(
            &app.db,
            app.clock.now(),
            &WorkflowFilter {
                kind: Some(kind),
                state: Some(state),
                page: Some(page),
            },
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn get_workflow(id: i32) -> Result<Workflow, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::process::get(&app.db, app.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn start_first_time_image(input: FirstTimeInput) -> Result<Workflow, AppError> {
    let (app, user) = ctx::allowed(Permission::ManageWorkflows)?;
    let workflow = ctx::status_of(
        crate::services::process::start_first_time(&app.db, &user, app.clock.now(), &input).await,
    )?;
    leptos_axum::redirect(&format!("/workflows/{}", workflow.summary.id));
    Ok(workflow)
}

#[server(prefix = "/rpc")]
pub async fn get_task(id: i32) -> Result<TaskDetail, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::process::task_detail(&app.db, app.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn set_task_state(id: i32, input: TaskStateInput) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::allowed(Permission::WorkOnTasks)?;
    ctx::status_of(
        crate::services::process::set_task_state(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn assign_task(id: i32, input: TaskAssignInput) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::allowed(Permission::WorkOnTasks)?;
    ctx::status_of(
        crate::services::process::assign_task(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn comment_on_task(id: i32, body: String) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::allowed(Permission::WorkOnTasks)?;
    ctx::status_of(
        crate::services::process::comment_on_task(&app.db, &user, app.clock.now(), id, &body).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn add_task_link(id: i32, input: TaskLinkInput) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::allowed(Permission::WorkOnTasks)?;
    ctx::status_of(
        crate::services::process::add_task_link(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn sign_off_launch(id: i32, input: SignOffInput) -> Result<Workflow, AppError> {
    let (app, user) = ctx::allowed(Permission::WorkOnTasks)?;
    ctx::status_of(
        crate::services::process::sign_off(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn approve_launch(id: i32) -> Result<Workflow, AppError> {
    let (app, user) = ctx::allowed(Permission::ManageWorkflows)?;
    ctx::status_of(
        crate::services::process::approve_launch(&app.db, &user, app.clock.now(), id).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn get_maintenance() -> Result<MaintenanceBoard, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::process::maintenance_board(&app.db, app.clock.now()).await)
}

#[server(prefix = "/rpc")]
pub async fn add_holiday(input: HolidayInput) -> Result<Holiday, AppError> {
    let (app, user) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(
        crate::services::process::add_holiday(&app.db, &user, app.clock.now(), &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn delete_holiday(id: i32) -> Result<(), AppError> {
    let (app, user) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(
        crate::services::process::delete_holiday(&app.db, &user, app.clock.now(), id).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn get_listing_copy(listing_id: i32) -> Result<ListingCopy, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::copy::get(&app.db, listing_id).await)
}

#[server(prefix = "/rpc")]
pub async fn get_copy_revision(listing_id: i32, revision: i32) -> Result<CopyRevision, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::copy::revision(&app.db, listing_id, revision).await)
}

#[server(prefix = "/rpc")]
pub async fn save_copy(listing_id: i32, input: CopyInput) -> Result<CopySave, AppError> {
    let (app, user) = ctx::allowed(Permission::EditCopy)?;
    ctx::status_of(
        crate::services::copy::save(&app.db, &user, app.clock.now(), listing_id, &input).await,
    )
}

/// The Markdown as the listing will show it, sanitised.
#[server(prefix = "/rpc")]
pub async fn preview_markdown(text: String) -> Result<String, AppError> {
    ctx::signed_in()?;
    if text.len() > 100_000 {
        return ctx::status_of(Err(AppError::validation(
            "long_description",
            "too long to preview",
        )));
    }
    Ok(crate::services::copy::render_markdown(&text))
}

#[server(prefix = "/rpc")]
pub async fn request_copy_approval(
    listing_id: i32,
    input: ReviewInput,
) -> Result<ListingCopy, AppError> {
    let (app, user) = ctx::allowed(Permission::EditCopy)?;
    ctx::status_of(
        crate::services::copy::request_approval(&app.db, &user, app.clock.now(), listing_id, &input)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn approve_copy(listing_id: i32, input: ReviewInput) -> Result<ListingCopy, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::copy::approve(&app.db, &user, app.clock.now(), listing_id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn reject_copy(listing_id: i32, input: ReviewInput) -> Result<ListingCopy, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::copy::reject(&app.db, &user, app.clock.now(), listing_id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn mark_copy_for_publishing(
    listing_id: i32,
    input: ReviewInput,
) -> Result<ListingCopy, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::copy::mark_for_publishing(
            &app.db,
            &user,
            app.clock.now(),
            listing_id,
            &input,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn compare_copy_revisions(
    listing_id: i32,
    left: i32,
    right: i32,
) -> Result<CopyDiff, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::copy::diff(&app.db, listing_id, left, right).await)
}

#[server(prefix = "/rpc")]
pub async fn get_approvals() -> Result<ApprovalQueue, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::process::approvals(&app.db, app.clock.now(), &user).await)
}

#[server(prefix = "/rpc")]
pub async fn get_inbox(page: u64) -> Result<Inbox, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::notify::inbox(&app.db, user.id, page).await)
}

#[server(prefix = "/rpc")]
pub async fn unread_notifications() -> Result<u64, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::notify::unread(&app.db, user.id).await)
}

/// Marks one notification read, or all of them when `id` is 0.
#[server(prefix = "/rpc")]
pub async fn mark_notifications_read(id: i32) -> Result<u64, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::notify::mark_read(
            &app.db,
            user.id,
            (id != 0).then_some(id),
            app.clock.now(),
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn list_webhooks() -> Result<Vec<Webhook>, AppError> {
    let (app, _) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(crate::services::notify::list_webhooks(&app.db).await)
}

#[server(prefix = "/rpc")]
pub async fn create_webhook(input: WebhookInput) -> Result<WebhookCreated, AppError> {
    let (app, user) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(
        crate::services::notify::create_webhook(
            &app.db,
            &app.secret_key,
            &user,
            app.clock.now(),
            &input,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn delete_webhook(id: i32) -> Result<(), AppError> {
    let (app, user) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(crate::services::notify::delete_webhook(&app.db, &user, app.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn test_webhook(id: i32) -> Result<Job, AppError> {
    let (app, user) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(crate::services::notify::test_webhook(&app.db, &user, app.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn publish_release(listing_id: i32, version: String) -> Result<Job, AppError> {
    let (app, user) = ctx::allowed(Permission::RunJobs)?;
    ctx::status_of(
        crate::services::publish::start(&app.db, &user, app.clock.now(), listing_id, &version).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn list_publish_jobs(listing_id: i32) -> Result<Vec<Job>, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::publish::jobs_of(&app.db, listing_id).await)
}

/// "Cancel it and retry" on a publish blocked by someone else's change set.
#[server(prefix = "/rpc")]
pub async fn cancel_blocker_and_retry(job_id: i32) -> Result<Job, AppError> {
    let (app, user) = ctx::allowed(Permission::RunJobs)?;
    ctx::status_of(
        crate::services::publish::cancel_blocker_and_retry(&app.db, &user, app.clock.now(), job_id)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn set_listing_policy(
    listing_id: i32,
    input: ListingPolicyInput,
) -> Result<Listing, AppError> {
    let (app, user) = ctx::allowed(Permission::ManageCatalogue)?;
    ctx::status_of(
        crate::services::listings::set_policy(&app.db, &user, app.clock.now(), listing_id, &input)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn list_restrictions(listing_id: i32) -> Result<Vec<RestrictionProposal>, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::limits::proposals_of(&app.db, listing_id).await)
}

#[server(prefix = "/rpc")]
pub async fn propose_restrictions(listing_id: i32) -> Result<RestrictionProposal, AppError> {
    let (app, user) = ctx::allowed(Permission::ManageCatalogue)?;
    ctx::status_of(
        crate::services::limits::propose(&app.db, &user, app.clock.now(), listing_id).await,
    )
}

/// Partnerships approves (`approve` true) or rejects a restriction proposal.
#[server(prefix = "/rpc")]
pub async fn decide_restrictions(
    proposal_id: i32,
    approve: bool,
    comment: String,
) -> Result<RestrictionProposal, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::limits::decide(
            &app.db,
            &user,
            app.clock.now(),
            proposal_id,
            approve,
            &comment,
        )
        .await,
    )
}
