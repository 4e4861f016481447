//! Server functions of releases: the list and recording a new one (which starts its train).

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_releases(page: u64) -> Result<Page<Release>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::releases::list(
        &state.db,
        PageRequest {
            page: Some(page),
            per_page: Some(25),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn create_release(input: ReleaseInput) -> Result<Release, AppError> {
    let (state, user) = ctx::signed_in()?;
    let (release, _runs, _train) = ctx::status_of(
        crate::services::trains::create_release(&state.db, &user, state.clock.now(), &input).await,
    )?;
    Ok(release)
}
