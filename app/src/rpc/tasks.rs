//! Server functions of the tasks of a workflow: one task, its state, assignment,
//! comments and links.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_task(id: i32) -> Result<TaskDetail, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::process::task_detail(&app.db, app.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn set_task_state(id: i32, input: TaskStateInput) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::set_task_state(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn assign_task(id: i32, input: TaskAssignInput) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::assign_task(&app.db, &user, app.clock.now(), id, &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn comment_on_task(id: i32, body: String) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::comment_on_task(&app.db, &user, app.clock.now(), id, &body).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn add_task_link(id: i32, input: TaskLinkInput) -> Result<TaskDetail, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::add_task_link(&app.db, &user, app.clock.now(), id, &input).await,
    )
}
