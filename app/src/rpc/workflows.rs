//! Server functions of workflows: the list, one workflow, opening a first-time image,
//! the teams' sign-offs and the launch.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
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
    let (app, user) = ctx::signed_in()?;
    let workflow = ctx::status_of(
        crate::services::process::start_first_time(&app.db, &user, app.clock.now(), &input).await,
    )?;
    leptos_axum::redirect(&format!("/workflows/{}", workflow.summary.id));
    Ok(workflow)
}

#[server(prefix = "/rpc")]
pub async fn sign_off_launch(id: i32, input: SignOffInput) -> Result<Workflow, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::sign_off(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn approve_launch(id: i32) -> Result<Workflow, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::approve_launch(&app.db, &user, app.clock.now(), id).await,
    )
}
