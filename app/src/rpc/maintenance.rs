//! Server functions of the maintenance clock: the board of runs and the holidays it skips.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_maintenance() -> Result<MaintenanceBoard, AppError> {
    let (app, _) = ctx::signed_in()?;
    let (db, now) = (app.db.clone(), app.clock.now());
    let board = app.reads.get("maintenance board", now, || async move {
        crate::services::process::maintenance_board(&db, now).await
    });
    ctx::status_of(board.await)
}

#[server(prefix = "/rpc")]
pub async fn add_holiday(input: HolidayInput) -> Result<Holiday, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::add_holiday(&app.db, &user, app.clock.now(), &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn delete_holiday(id: i32) -> Result<(), AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::process::delete_holiday(&app.db, &user, app.clock.now(), id).await,
    )
}
