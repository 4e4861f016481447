//! A release recorded with its maintenance runs. A release that should also set its train
//! moving comes in through `services::trains`, which calls this in its transaction.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, TransactionSession, TransactionTrait};

use super::maintenance::open_maintenance_runs;
use crate::{
    domain::*,
    dto::*,
    error::AppResult,
    services::{begin_write, entities::release, releases},
};

/// Records a release and opens its maintenance runs (one per product whose image the
/// portal maintains), in one transaction, without starting its train: for history and
/// imports. Returns the release and the runs' ids.
pub async fn create_release_with_runs(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &ReleaseInput,
) -> AppResult<(Release, Vec<i32>)> {
    let txn = begin_write(db).await?;
    let (model, runs) = record_release(&txn, actor, now, input).await?;
    txn.commit().await?;
    Ok((releases::get(db, &model.version).await?, runs))
}

/// Records a checked release and opens its maintenance runs, in the caller's transaction.
pub async fn record_release(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &ReleaseInput,
) -> AppResult<(release::Model, Vec<i32>)> {
    actor.require(Permission::ManageReleases)?;
    let parsed = releases::parse(input, now.date_naive())?;
    let model = releases::insert(db, actor, now, &parsed).await?;
    let runs = open_maintenance_runs(db, Some(actor), now, &model).await?;
    Ok((model, runs))
}
