//! Server functions of a listing's restriction proposals and Partnerships' decisions on
//! them, and of the listing policy that says when they are proposed.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn set_listing_policy(
    listing_id: i32,
    input: ListingPolicyForm,
) -> Result<Listing, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = ctx::status_of(ListingPolicyInput::try_from(input))?;
    ctx::status_of(
        crate::services::listings::set_policy(&app.db, &user, app.clock.now(), listing_id, &input)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn list_restrictions(listing_id: i32) -> Result<Vec<RestrictionProposal>, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::limits::proposals_of(&app.db, listing_id).await)
}

#[server(prefix = "/rpc")]
pub async fn propose_restrictions(listing_id: i32) -> Result<RestrictionProposal, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::limits::propose(&app.db, &user, app.clock.now(), listing_id).await,
    )
}

/// Partnerships approves (`approve` true) or rejects a restriction proposal.
#[server(prefix = "/rpc")]
pub async fn decide_restrictions(
    proposal_id: i32,
    approve: bool,
    comment: String,
) -> Result<RestrictionProposal, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::limits::decide(
            &app.db,
            &user,
            app.clock.now(),
            proposal_id,
            approve,
            &comment,
        )
        .await,
    )
}
