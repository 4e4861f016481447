//! Server functions of the rebuilds page: the rebuild proposals of a newer base image,
//! Omnibus's decisions, and running the base-image check now.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_rebuild_proposals(page: u64) -> Result<Page<RebuildProposal>, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::rebuilds::list(
            &app.db,
            PageRequest {
                page: Some(page),
                per_page: Some(25),
            },
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn get_rebuild_proposal(id: i32) -> Result<RebuildProposal, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::rebuilds::get(&app.db, id).await)
}

/// Omnibus approves (`approve` true: the rebuild train starts) or rejects a rebuild
/// proposal.
#[server(prefix = "/rpc")]
pub async fn decide_rebuild(
    proposal_id: i32,
    approve: bool,
    comment: String,
) -> Result<RebuildProposal, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::rebuilds::decide(
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

/// Runs the base-image check now, through the portal's cloud.
#[server(prefix = "/rpc")]
pub async fn check_base_images() -> Result<BaseImageCheck, AppError> {
    use crate::services::rebuilds::Finder;
    let (app, user) = ctx::signed_in()?;
    let finder = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Finder>().cloned())
        .ok_or_else(|| {
            AppError::internal("base-image check", "the web layer has no base image finder")
        })?;
    let report = ctx::status_of(
        crate::services::rebuilds::check(&app.db, &user, app.clock.now(), finder.0.as_ref()).await,
    )?;
    let made = match report.proposals.len() {
        0 => "nothing new to propose".to_owned(),
        1 => "one new proposal".to_owned(),
        n => format!("{n} new proposals"),
    };
    let newest = report
        .base_images
        .iter()
        .map(|b| {
            format!(
                "{} in {}: {} ({} up to date, {} built on an older one)",
                b.arch.as_str(),
                b.region,
                b.newest_name.as_deref().unwrap_or("none found"),
                b.up_to_date,
                b.outdated
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    ctx::flash(&crate::components::Flash {
        testid: "check-result".into(),
        text: if newest.is_empty() {
            format!("Checked: {made}.")
        } else {
            format!("Checked: {made}. Newest base images: {newest}.")
        },
        link: None,
    });
    Ok(report)
}
