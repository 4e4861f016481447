//! Server functions of partners: the list, a partner, saving one, its accounts and contacts.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_partners(page: u64) -> Result<Page<PartnerSummary>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::partners::list(
        &state.db,
        PageRequest {
            page: Some(page),
            per_page: Some(25),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn get_partner(slug: String) -> Result<Partner, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::partners::get(&state.db, &slug).await)
}

/// Creates a partner (empty `original_slug`) or updates the one with that slug.
#[server(prefix = "/rpc")]
pub async fn save_partner(original_slug: String, input: PartnerInput) -> Result<Partner, AppError> {
    let (state, user) = ctx::signed_in()?;
    let now = state.clock.now();
    let partner = if original_slug.is_empty() {
        ctx::status_of(crate::services::partners::create(&state.db, &user, now, &input).await)?
    } else {
        ctx::status_of(
            crate::services::partners::update(&state.db, &user, now, &original_slug, &input).await,
        )?
    };
    leptos_axum::redirect(&format!("/partners/{}", partner.slug));
    Ok(partner)
}

#[server(prefix = "/rpc")]
pub async fn add_partner_account(
    partner: String,
    input: PartnerAccountInput,
) -> Result<Partner, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::partners::add_account(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &input,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn add_partner_contact(
    partner: String,
    input: PartnerContactInput,
) -> Result<Partner, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::partners::add_contact(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &input,
        )
        .await,
    )
}
