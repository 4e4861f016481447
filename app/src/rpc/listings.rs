//! Server functions of marketplace listings: the list, one listing and its assets.

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

/// The marketing assets linked to a listing (its logo, quotes, posts).
#[server(prefix = "/rpc")]
pub async fn list_listing_assets(listing_id: i32) -> Result<Vec<Asset>, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::assets::of_listing(&state.db, listing_id).await)
}
