//! Server functions of a user's notifications.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_inbox(page: u64) -> Result<Inbox, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::notify::inbox(&app.db, user.id, PageRequest::new(Some(page), 30)).await,
    )
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
