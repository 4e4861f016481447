//! Server functions across the catalogue: the dashboard and search.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::catalogue::dashboard(&state.db).await
}

#[server(prefix = "/rpc")]
pub async fn search(q: String) -> Result<SearchResults, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::catalogue::search(&state.db, &q).await
}
