//! Server functions of the outbound webhooks that notify other systems.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
#[cfg(feature = "ssr")]
use crate::domain::*;
use crate::{dto::*, error::AppError};

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
    ctx::status_of(
        crate::services::notify::delete_webhook(&app.db, &user, app.clock.now(), id).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn test_webhook(id: i32) -> Result<Job, AppError> {
    let (app, user) = ctx::allowed(Permission::Administer)?;
    ctx::status_of(crate::services::notify::test_webhook(&app.db, &user, app.clock.now(), id).await)
}
