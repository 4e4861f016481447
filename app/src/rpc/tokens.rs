//! Server functions of personal API tokens.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_api_tokens() -> Result<Vec<ApiToken>, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::tokens::list(&app.db, &user).await)
}

#[server(prefix = "/rpc")]
pub async fn create_api_token(input: ApiTokenForm) -> Result<ApiTokenCreated, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = ctx::status_of(ApiTokenInput::try_from(input))?;
    ctx::status_of(crate::services::tokens::create(&app.db, &user, app.clock.now(), &input).await)
}

#[server(prefix = "/rpc")]
pub async fn revoke_api_token(id: i32) -> Result<ApiToken, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::tokens::revoke(&app.db, &user, app.clock.now(), id).await)
}

/// Whether the marketplace access role is set, and when (never its value).
#[server(prefix = "/rpc")]
pub async fn access_role_state() -> Result<Option<(chrono::DateTime<chrono::Utc>, String)>, AppError>
{
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::secrets::access_role(&app.db, &user)
            .await
            .map(|i| i.map(|i| (i.updated_at, i.updated_by))),
    )
}

/// Sets or replaces the marketplace access role; empty deletes it.
#[server(prefix = "/rpc")]
pub async fn set_access_role(value: String) -> Result<(), AppError> {
    let (app, user) = ctx::signed_in()?;
    let now = app.clock.now();
    ctx::status_of(if value.trim().is_empty() {
        crate::services::secrets::delete_access_role(&app.db, &user, now).await
    } else {
        crate::services::secrets::set_access_role(&app.db, &app.secret_key, &user, now, &value)
            .await
            .map(|_| ())
    })
}
