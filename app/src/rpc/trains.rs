//! Server functions of release trains: a release's train, one train, the newest, the list,
//! and the policies that say whether a product's builds and a listing's publishes run by
//! themselves.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

/// The train of a release (`latest` for the newest stable one).
#[server(prefix = "/rpc")]
pub async fn get_release_train(version: String) -> Result<ReleaseTrain, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::trains::release_train(&state.db, state.clock.now(), &version).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn get_train(id: i32) -> Result<ReleaseTrain, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::trains::get(&state.db, state.clock.now(), id).await)
}

/// The newest stable release's train, else the newest train; `None` before the first.
#[server(prefix = "/rpc")]
pub async fn newest_train() -> Result<Option<ReleaseTrain>, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::trains::newest(&state.db, state.clock.now()).await)
}

/// Trains, newest first.
#[server(prefix = "/rpc")]
pub async fn list_trains(page: u64) -> Result<Page<TrainSummary>, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::trains::list(
            &state.db,
            state.clock.now(),
            PageRequest {
                page: Some(page),
                per_page: Some(25),
            },
        )
        .await,
    )
}

/// Whether a release builds the product's images by itself (`automatic` or `manual`).
#[server(prefix = "/rpc")]
pub async fn set_build_policy(
    partner: String,
    product: String,
    policy: String,
) -> Result<Product, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::trains::set_build_policy(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &product,
            &StepPolicyInput { policy },
        )
        .await,
    )
}

/// Whether a release publishes the listing's version by itself (`automatic` or `manual`).
#[server(prefix = "/rpc")]
pub async fn set_publish_policy(listing_id: i32, policy: String) -> Result<Listing, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::trains::set_publish_policy(
            &state.db,
            &user,
            state.clock.now(),
            listing_id,
            &StepPolicyInput { policy },
        )
        .await,
    )
}
