//! Server functions of a listing's copy: its revisions, their review, and the queue of
//! what waits for a team's approval.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

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
pub async fn save_copy(listing_id: i32, input: CopyForm) -> Result<CopySave, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = CopyInput::from(input);
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
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::copy::request_approval(
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

/// Marks an approved revision for publishing, which queues the job that publishes it.
#[server(prefix = "/rpc")]
pub async fn mark_copy_for_publishing(
    listing_id: i32,
    input: ReviewInput,
) -> Result<CopyPublish, AppError> {
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

/// An approved revision against the listing as the marketplace shows it now: read from the
/// marketplace at this moment, so what is about to be published can be checked first.
#[server(prefix = "/rpc")]
pub async fn get_copy_live_diff(listing_id: i32, revision: i32) -> Result<CopyLiveDiff, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::copy::read_live_diff(&app, listing_id, revision).await)
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
