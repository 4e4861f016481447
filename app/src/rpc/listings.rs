//! Server functions of marketplace listings: the list and one listing.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_listings() -> Result<Page<Listing>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::listings::list(
        &state.db,
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn get_listing(id: i32) -> Result<Listing, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::listings::get(&state.db, id).await)
}
