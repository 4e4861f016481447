//! Restricts the marketplace versions of an approved proposal (`RestrictDeliveryOptions`)
//! and follows the change set to its end; the catalogue then shows them restricted.

use std::sync::Arc;

use anyhow::anyhow;
use aws_sdk_marketplacecatalog::types::{Change, Intent};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use app::services::limits::{self, RestrictVersions};

use super::{
    JobContext, JobError, JobHandler, JobResult, Outcome,
    publish_version::{CATALOG, Settled, api_err, entity_ref, find_entity, settled},
};
use crate::cloud::{Cloud, document};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RestrictState {
    #[serde(default)]
    change_set_id: Option<String>,
    #[serde(default)]
    polls: u32,
}

/// Runs [`RestrictVersions`] jobs.
pub struct Handler {
    cloud: Arc<Cloud>,
}

impl Handler {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Handler { cloud }
    }
}

impl JobHandler for Handler {
    type Kind = RestrictVersions;

    fn run<'a>(
        &'a self,
        ctx: &'a mut JobContext,
        payload: RestrictVersions,
    ) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            let (proposal, listing, options) = limits::plan(&ctx.state.db, payload.proposal_id)
                .await
                .map_err(|e| JobError::Fatal(anyhow!("{}", e.message)))?;
            let mut st: RestrictState = ctx.checkpoint()?;
            let client = self.cloud.marketplace();
            let id = match st.change_set_id.clone() {
                Some(id) => id,
                None => {
                    let entity = match &listing.entity_id {
                        Some(id) => id.clone(),
                        None => find_entity(&client, &listing.entity_name).await?,
                    };
                    let change = Change::builder()
                        .change_type("RestrictDeliveryOptions")
                        .entity(entity_ref(&entity)?)
                        .details_document(document(
                            serde_json::json!({ "DeliveryOptionIds": options }),
                        ))
                        .build()
                        .map_err(|e| JobError::Fatal(anyhow!("building the change: {e}")))?;
                    let out = client
                        .start_change_set()
                        .catalog(CATALOG)
                        .intent(Intent::Apply)
                        .change_set(change)
                        .change_set_name("Restrict old versions")
                        .client_request_token(format!("portal-job-{}-restrict", ctx.job.id))
                        .send()
                        .await
                        .map_err(|e| api_err("starting the restriction", e.into_service_error()))?;
                    let id = out.change_set_id().unwrap_or_default().to_owned();
                    ctx.log(format!(
                        "change set {id} restricts {} versions of {}",
                        options.len(),
                        listing.entity_name
                    ))
                    .await;
                    st.change_set_id = Some(id.clone());
                    ctx.save(40, "waiting for AWS Marketplace", &st).await?;
                    id
                }
            };
            match settled(ctx, &client, &id, "restriction").await? {
                Settled::Pending => {
                    st.polls += 1;
                    ctx.save(60, "waiting for AWS Marketplace", &st).await?;
                    let factor = 1_i32 << st.polls.min(7);
                    Ok(Outcome::WaitFor(
                        (self.cloud.poll * factor).min(chrono::Duration::hours(1)),
                    ))
                }
                Settled::Succeeded => {
                    limits::applied(&ctx.state.db, ctx.state.clock.now(), proposal.id)
                        .await
                        .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                    ctx.save(100, "restricted", &st).await?;
                    Ok(Outcome::Done(
                        serde_json::json!({ "change_set_id": id, "restricted": options }),
                    ))
                }
                Settled::Refused(why) => {
                    limits::failed(&ctx.state.db, ctx.state.clock.now(), proposal.id, &why)
                        .await
                        .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                    Err(JobError::Fatal(anyhow!(why)))
                }
            }
        })
    }
}
