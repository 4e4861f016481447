//! Server functions of the session: who is signed in, and whom the development sign-in offers.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{domain::*, dto::*, error::AppError};

/// Who is signed in and what the portal is connected to, for the layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<CurrentUser>,
    /// Jobs run against the simulated cloud.
    pub simulated_cloud: bool,
    pub dev_auth: bool,
    /// The GitLab people sign in with, when GitLab sign-in is on.
    pub gitlab_sign_in: Option<String>,
}

#[server(prefix = "/rpc")]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    session_info()
}

/// Who is signed in (from the request) and what the portal is connected to (from its
/// state): known at once, without the database.
#[cfg(feature = "ssr")]
pub fn session_info() -> Result<SessionInfo, AppError> {
    let state = ctx::state()?;
    Ok(SessionInfo {
        user: ctx::user(),
        simulated_cloud: state.cloud == crate::services::CloudMode::Simulated,
        dev_auth: state.dev_auth,
        gitlab_sign_in: state.gitlab.as_ref().map(|g| g.url.clone()),
    })
}

#[server(prefix = "/rpc")]
pub async fn dev_users() -> Result<Vec<DevUser>, AppError> {
    let state = ctx::state()?;
    if !state.dev_auth {
        return Ok(Vec::new());
    }
    crate::services::users::dev_users(&state.db).await
}
