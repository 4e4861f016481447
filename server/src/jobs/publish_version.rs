//! Publishes a release on a marketplace listing: one new version per architecture of the
//! product, each its own `AddDeliveryOptions` change set (AWS keeps one image per version
//! and one change of a type per entity in a change set), one after the other, followed to
//! the end as [`super::change_set`] does it. Everything sent comes from the publish plan:
//! the approved copy's usage instructions and rendered release notes, the product's delivery
//! configuration (instance type, security groups, operating system, user name) and each
//! architecture's us-east-1 image. Nothing here is a literal.
//!
//! The checkpoint says which architectures are published: a resumed or retried job never
//! submits one again. Each version is recorded as soon as it is live, and its image gets
//! deregistration protection (a refusal is logged and does not fail the publish: the next
//! sync of the account turns it on).

use std::{collections::BTreeSet, sync::Arc};

use anyhow::anyhow;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use app::{
    domain::Arch,
    services::{
        publish::{self, PublishPlan, PublishVersion, VersionTarget},
        users,
    },
};

use super::{
    JobContext, JobError, JobHandler, JobResult, Outcome,
    change_set::{self, Flow, Followed, Step, Submission},
    entity::entity_details,
};
use crate::cloud::{Cloud, MARKETPLACE_REGION};

/// What the job keeps besides its change set: the versions already live.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Published {
    #[serde(default)]
    published: Vec<PublishedVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PublishedVersion {
    arch: Arch,
    version_title: String,
    delivery_option_id: String,
    change_set_id: Option<String>,
}

/// Runs [`PublishVersion`] jobs.
pub struct Handler {
    cloud: Arc<Cloud>,
}

impl Handler {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Handler { cloud }
    }
}

impl JobHandler for Handler {
    type Kind = PublishVersion;

    fn run<'a>(
        &'a self,
        ctx: &'a mut JobContext,
        payload: PublishVersion,
    ) -> BoxFuture<'a, JobResult> {
        Box::pin(async move { self.resume(ctx, &payload).await })
    }
}

/// The `AddDeliveryOptions` details of one architecture's version, all from the plan.
fn add_delivery_options(plan: &PublishPlan, target: &VersionTarget, role: &str) -> Value {
    let d = &plan.delivery;
    let security_groups: Vec<Value> = d
        .security_groups
        .iter()
        .map(|rule| {
            json!({
                "IpProtocol": rule.protocol,
                "FromPort": rule.from_port,
                "ToPort": rule.to_port,
                "IpRanges": [rule.cidr],
            })
        })
        .collect();
    json!({
        "Version": {
            "VersionTitle": target.version_title,
            "ReleaseNotes": plan.release_notes,
        },
        "DeliveryOptions": [{ "Details": { "AmiDeliveryOptionDetails": {
            "AmiSource": {
                "AmiId": target.image_id,
                "AccessRoleArn": role,
                "UserName": d.user_name,
                "OperatingSystemName": d.os_name,
                "OperatingSystemVersion": d.os_version,
            },
            "UsageInstructions": plan.usage_instructions,
            "RecommendedInstanceType": d.recommended_instance_type,
            "SecurityGroups": security_groups,
        }}}],
    })
}

/// `Major|Minor|Patch version update`, as GitLab names its change sets.
fn change_set_name(version: &str) -> &'static str {
    match app::domain::Version::parse(version) {
        Ok(v) if v.patch > 0 => "Patch version update",
        Ok(v) if v.minor > 0 => "Minor version update",
        _ => "Major version update",
    }
}

/// The delivery option of the version titled `title`, once the product shows it.
async fn delivery_option(
    client: &aws_sdk_marketplacecatalog::Client,
    entity: &str,
    title: &str,
) -> Result<String, JobError> {
    let details = entity_details(client, entity).await?;
    details["Versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["VersionTitle"] == title))
        .and_then(|v| v["DeliveryOptions"][0]["Id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| JobError::Retryable(anyhow!("'{title}' is not on the product yet")))
}

impl Handler {
    /// Records a version once the product shows it, protects its image and returns its
    /// delivery option.
    async fn record_version(
        &self,
        ctx: &JobContext,
        client: &aws_sdk_marketplacecatalog::Client,
        entity: &str,
        plan: &PublishPlan,
        target: &VersionTarget,
    ) -> Result<String, JobError> {
        let option = delivery_option(client, entity, &target.version_title).await?;
        let now = ctx.state.clock.now();
        let actor = users::system_user(&ctx.state.db, now)
            .await
            .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
        publish::record(&ctx.state.db, &actor, now, plan, target, &option)
            .await
            .map_err(|e| JobError::Retryable(anyhow!("recording the version: {e}")))?;
        // The live version's image must not be deregistered.
        super::protection::protect_after(
            &self.cloud,
            ctx,
            MARKETPLACE_REGION,
            &BTreeSet::from([target.image_id.clone()]),
            true,
        )
        .await;
        ctx.log(format!(
            "published '{}' ({}) as delivery option {option}",
            target.version_title,
            target.arch.as_str()
        ))
        .await;
        Ok(option)
    }

    async fn resume(&self, ctx: &mut JobContext, payload: &PublishVersion) -> JobResult {
        let plan = publish::plan(&ctx.state.db, payload, false)
            .await
            .map_err(|e| JobError::Fatal(anyhow!("{}", e.message)))?;
        let mut st: Flow<Published> = ctx.checkpoint()?;
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
        let count = i32::try_from(plan.targets.len().max(1)).unwrap_or(1);
        let span = 90 / count;
        for (i, target) in plan.targets.iter().enumerate() {
            if st.job.published.iter().any(|p| p.arch == target.arch) {
                continue;
            }
            let role = change_set::access_role(ctx, &self.cloud).await?;
            let submission = Submission {
                changes: vec![change_set::change(
                    &entity,
                    "AddDeliveryOptions",
                    add_delivery_options(&plan, target, &role),
                )?],
                name: change_set_name(&plan.version).to_owned(),
                validate_name: "Validate version update".to_owned(),
                tag: target.arch.as_str().to_owned(),
                what: target.version_title.clone(),
                progress: (5 + span * i32::try_from(i).unwrap_or(0), span),
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
            let option = self
                .record_version(ctx, &client, &entity, &plan, target)
                .await?;
            st.job.published.push(PublishedVersion {
                arch: target.arch,
                version_title: target.version_title.clone(),
                delivery_option_id: option,
                change_set_id: st.apply_id.clone(),
            });
            st.next_change_set();
            ctx.save(
                submission.progress.0 + span,
                &Step::CheckPending.label(""),
                &st,
            )
            .await?;
        }
        ctx.save(100, "published", &st).await?;
        let first = st.job.published.first();
        Ok(Outcome::Done(json!({
            "version_title": first.map(|p| p.version_title.clone()),
            "delivery_option_id": first.map(|p| p.delivery_option_id.clone()),
            "change_set_id": first.and_then(|p| p.change_set_id.clone()),
            "versions": st.job.published,
        })))
    }
}
