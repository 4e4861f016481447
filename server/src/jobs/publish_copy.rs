//! Publishes a listing's approved copy on its own, without a new version: one
//! `UpdateInformation` change set whose details document is exactly the copy plan's (the
//! approved revision's fields, the logo as its public URL), followed to the end as
//! [`super::change_set`] does it. Once applied, the product is read back (DescribeEntity)
//! and what it shows is recorded as the listing's live copy; the catalogue's listing title
//! follows it.

use std::sync::Arc;

use anyhow::anyhow;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use app::services::copy::{self, PublishCopy};

use super::{
    JobContext, JobError, JobHandler, JobResult, Outcome,
    change_set::{self, Flow, Followed, Submission},
    entity::{entity_details, live_copy_of},
};
use crate::cloud::Cloud;

/// Nothing is kept besides the change set's own state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Nothing {}

/// Runs [`PublishCopy`] jobs.
pub struct Handler {
    cloud: Arc<Cloud>,
}

impl Handler {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Handler { cloud }
    }
}

impl JobHandler for Handler {
    type Kind = PublishCopy;

    fn run<'a>(
        &'a self,
        ctx: &'a mut JobContext,
        payload: PublishCopy,
    ) -> BoxFuture<'a, JobResult> {
        Box::pin(async move { self.resume(ctx, &payload).await })
    }
}

impl Handler {
    async fn resume(&self, ctx: &mut JobContext, payload: &PublishCopy) -> JobResult {
        let plan = copy::copy_plan(&ctx.state.db, &ctx.state.asset_urls, payload)
            .await
            .map_err(|e| JobError::Fatal(anyhow!("{}", e.message)))?;
        let details = serde_json::to_value(&plan.update)
            .map_err(|e| JobError::Fatal(anyhow!("writing the copy's details: {e}")))?;
        let mut st: Flow<Nothing> = ctx.checkpoint()?;
        let client = self.cloud.marketplace();
        let entity = change_set::locate(
            ctx,
            &client,
            &mut st,
            plan.listing_id,
            plan.entity_id.as_deref(),
            &plan.entity_name,
        )
        .await?;
        let submission = Submission {
            changes: vec![change_set::change(&entity, "UpdateInformation", details)?],
            name: "Update product information".to_owned(),
            validate_name: "Validate product information".to_owned(),
            tag: "copy".to_owned(),
            what: "the copy".to_owned(),
            progress: (5, 90),
        };
        match change_set::follow(
            ctx,
            &self.cloud,
            &client,
            &mut st,
            &plan.entity_name,
            &submission,
        )
        .await?
        {
            Followed::Wait(wait) => return Ok(Outcome::WaitFor(wait)),
            Followed::Applied => {}
        }
        let live = live_copy_of(&entity_details(&client, &entity).await?);
        copy::record_live(
            &ctx.state.db,
            ctx.state.clock.now(),
            plan.listing_id,
            plan.revision_id,
            &live,
        )
        .await
        .map_err(|e| JobError::Retryable(anyhow!("recording the live copy: {e}")))?;
        ctx.log(format!(
            "the copy of revision {} is live on {}: '{}'",
            plan.revision_id, plan.entity_name, live.title
        ))
        .await;
        ctx.save(100, "published", &st).await?;
        Ok(Outcome::Done(json!({
            "revision_id": plan.revision_id,
            "title": live.title,
            "change_set_id": st.apply_id,
        })))
    }
}
