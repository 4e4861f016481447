//! Server functions across the catalogue: the dashboard and search.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    let (state, _) = ctx::signed_in()?;
    let db = state.db.clone();
    state
        .reads
        .get("dashboard", state.clock.now(), || async move {
            crate::services::catalogue::dashboard(&db).await
        })
        .await
}

#[server(prefix = "/rpc")]
pub async fn search(q: String) -> Result<SearchResults, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::catalogue::search(&state.db, &q).await
}
