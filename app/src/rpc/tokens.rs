//! Server functions of personal API tokens.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_api_tokens() -> Result<Vec<ApiToken>, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::server::tokens::list(&app.db, &user).await)
}

#[server(prefix = "/rpc")]
pub async fn create_api_token(input: ApiTokenInput) -> Result<ApiTokenCreated, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::server::tokens::create(&app.db, &user, app.clock.now(), &input).await)
}

#[server(prefix = "/rpc")]
pub async fn revoke_api_token(id: i32) -> Result<ApiToken, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::server::tokens::revoke(&app.db, &user, app.clock.now(), id).await)
}
