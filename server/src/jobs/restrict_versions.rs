//! Restricts the marketplace versions of an approved proposal (`RestrictDeliveryOptions`)
//! and follows the change set to its end; the catalogue then shows them restricted, and the
//! images only those versions delivered lose their deregistration protection.

use std::{collections::BTreeSet, sync::Arc};

use anyhow::anyhow;
use aws_sdk_marketplacecatalog::types::{Change, Intent};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use app::services::{
    account::ListingTarget,
    entities::listing,
    limits::{self, RestrictVersions},
};

use super::{
    JobContext, JobError, JobHandler, JobResult, Outcome,
    change_set::{Settled, settled, wait},
    cloud_sync,
    entity::{CATALOG, api_err, entity_ref, find_entity},
    protection,
};
use crate::cloud::{Cloud, MARKETPLACE_REGION, document};

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

    /// Turns deregistration protection off for the images of the restricted delivery
    /// options, except an image a public version of the product still delivers. The
    /// product is read again for the images: the catalogue does not keep them. What fails
    /// is logged; the next sync of the account plans it again.
    async fn unprotect(&self, ctx: &JobContext, listing: &listing::Model, restricted: &[String]) {
        let target = ListingTarget {
            listing_id: listing.id,
            entity_id: listing.entity_id.clone(),
            entity_name: listing.entity_name.clone(),
        };
        let read = cloud_sync::read_listing(&self.cloud, &target).await;
        let Some(versions) = read.versions else {
            ctx.log(format!(
                "the images of the restricted versions keep their deregistration protection for now: {} could not be read ({}); the next sync of the account turns it off",
                listing.entity_name,
                read.error.unwrap_or_default()
            ))
            .await;
            return;
        };
        let was_restricted = |option: &str| restricted.iter().any(|r| r == option);
        let still_live: BTreeSet<&String> = versions
            .iter()
            .filter(|v| !was_restricted(&v.delivery_option_id) && cloud_sync::is_public(v))
            .flat_map(|v| &v.amis)
            .collect();
        let off: BTreeSet<String> = versions
            .iter()
            .filter(|v| was_restricted(&v.delivery_option_id))
            .flat_map(|v| &v.amis)
            .filter(|ami| !still_live.contains(ami))
            .cloned()
            .collect();
        protection::protect_after(&self.cloud, ctx, MARKETPLACE_REGION, &off, false).await;
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
                    Ok(Outcome::WaitFor(wait(&self.cloud, st.polls)))
                }
                Settled::Succeeded => {
                    limits::applied(&ctx.state.db, ctx.state.clock.now(), proposal.id)
                        .await
                        .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                    self.unprotect(ctx, &listing, &options).await;
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
