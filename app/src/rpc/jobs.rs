//! Server functions of background jobs and builds: the list, a job and its log, cancel and retry, building a release or one image, a release run.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{domain::*, dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_jobs(filter: JobFilter, page: u64) -> Result<Page<Job>, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::jobs::list(
            &state.db,
            &filter,
            PageRequest {
                page: Some(page),
                per_page: Some(50),
            },
        )
        .await,
    )
}

/// A job and its log so far.
#[server(prefix = "/rpc")]
pub async fn get_job(id: i32) -> Result<(Job, Vec<JobEvent>), AppError> {
    let (state, _) = ctx::signed_in()?;
    let job = ctx::status_of(crate::services::jobs::get(&state.db, id).await)?;
    let events = crate::services::jobs::events(&state.db, id, 0).await?;
    Ok((job, events))
}

/// The user data a build's builder was given, license redacted; `None` before it has one.
#[server(prefix = "/rpc")]
pub async fn get_job_user_data(id: i32) -> Result<Option<String>, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::jobs::user_data(&state.db, id).await)
}

#[server(prefix = "/rpc")]
pub async fn cancel_job(id: i32) -> Result<Job, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::jobs::cancel(&state.db, &user, state.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn retry_job(id: i32) -> Result<Job, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::jobs::retry(&state.db, &user, state.clock.now(), id).await)
}

/// Builds every image of a release that is not built yet; lands on the release run.
#[server(prefix = "/rpc")]
pub async fn build_release(version: String) -> Result<ReleaseRun, AppError> {
    let (state, user) = ctx::signed_in()?;
    let run = ctx::status_of(
        crate::services::builds::start_release(&state.db, &user, state.clock.now(), &version).await,
    )?;
    leptos_axum::redirect(&format!("/jobs?group=release:{}", run.version));
    Ok(run)
}

/// Builds one image; lands on its job.
#[server(prefix = "/rpc")]
pub async fn build_image(
    partner: String,
    product: String,
    version: String,
    arch: Arch,
) -> Result<Job, AppError> {
    let (state, user) = ctx::signed_in()?;
    let job = ctx::status_of(
        crate::services::builds::start(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &product,
            &version,
            arch,
        )
        .await,
    )?;
    leptos_axum::redirect(&format!("/jobs/{}", job.id));
    Ok(job)
}

/// Rebuilds an image version with the reason given; lands on the new image's build job.
#[server(prefix = "/rpc")]
pub async fn rebuild_image(id: i32, reason: String, note: String) -> Result<Job, AppError> {
    let (state, user) = ctx::signed_in()?;
    let job = ctx::status_of(
        crate::services::builds::rebuild(
            &state.db,
            &user,
            state.clock.now(),
            id,
            &RebuildInput { reason, note },
        )
        .await,
    )?;
    leptos_axum::redirect(&format!("/jobs/{}", job.id));
    Ok(job)
}

#[server(prefix = "/rpc")]
pub async fn get_release_run(version: String) -> Result<ReleaseRun, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::builds::run(&state.db, &version).await)
}
