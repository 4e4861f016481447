//! Server functions of publishing a release to a listing, and of the publish jobs.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn publish_release(listing_id: i32, version: String) -> Result<Job, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::publish::start(&app.db, &user, app.clock.now(), listing_id, &version)
            .await,
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
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::publish::cancel_blocker_and_retry(&app.db, &user, app.clock.now(), job_id)
            .await,
    )
}
