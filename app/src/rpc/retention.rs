//! Server functions of the public images page: quota use, retention policies, dry runs and
//! Partnerships' decisions.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_public_images() -> Result<PublicImages, AppError> {
    let (app, _) = ctx::signed_in()?;
    let db = app.db.clone();
    let overview = app
        .reads
        .get("public images", app.clock.now(), || async move {
            crate::services::retention::overview(&db).await
        });
    ctx::status_of(overview.await)
}

#[server(prefix = "/rpc")]
pub async fn set_image_quota(region: String, input: QuotaForm) -> Result<RegionQuota, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = ctx::status_of(QuotaInput::try_from(input))?;
    ctx::status_of(
        crate::services::retention::set_quota(&app.db, &user, app.clock.now(), &region, &input)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn set_retention_policy(
    partner: String,
    product: String,
    input: RetentionPolicyForm,
) -> Result<RetentionPolicy, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = ctx::status_of(RetentionPolicyInput::try_from(input))?;
    ctx::status_of(
        crate::services::retention::set_policy(
            &app.db,
            &user,
            app.clock.now(),
            &partner,
            &product,
            &input,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn retention_dry_run(
    partner: String,
    product: String,
) -> Result<RetentionProposal, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::retention::dry_run(&app.db, &user, app.clock.now(), &partner, &product)
            .await,
    )
}

/// Partnerships approves (`approve` true) or rejects a retention proposal.
#[server(prefix = "/rpc")]
pub async fn decide_retention(
    proposal_id: i32,
    approve: bool,
    comment: String,
) -> Result<RetentionProposal, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::retention::decide(
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
