//! Server functions of the outbound webhooks that notify other systems.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_webhooks() -> Result<Vec<Webhook>, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::notify::list_webhooks(&app.db, &user).await)
}

#[server(prefix = "/rpc")]
pub async fn create_webhook(input: WebhookForm) -> Result<WebhookCreated, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = ctx::status_of(WebhookInput::try_from(input))?;
    ctx::status_of(
        crate::services::notify::create_webhook(
            &app.db,
            &app.secret_key,
            app.webhooks,
            &user,
            app.clock.now(),
            &input,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn delete_webhook(id: i32) -> Result<(), AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::notify::delete_webhook(&app.db, &user, app.clock.now(), id).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn test_webhook(id: i32) -> Result<Job, AppError> {
    let (app, user) = ctx::signed_in()?;
    let job = ctx::status_of(
        crate::services::notify::test_webhook(&app.db, &user, app.clock.now(), id).await,
    )?;
    ctx::flash(&crate::components::Flash {
        testid: "webhook-test".into(),
        text: "Test queued as".into(),
        link: Some((
            format!("/jobs/{}", job.id),
            format!("job #{}", job.id),
            "webhook-test-job".into(),
        )),
    });
    Ok(job)
}
