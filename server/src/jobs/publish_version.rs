//! Publishes a release as a new version of a marketplace listing and follows it to the end:
//! find the entity by name → make sure no change set someone else started is open on it →
//! validate (`Intent=VALIDATE`) → apply with a `ClientRequestToken` made from the job, so a
//! retried job never makes a second version → follow the change set (re-scheduled, with
//! growing waits; it may take hours) → record the version and its delivery option id.
//!
//! A change set the portal did not start blocks the job (state `blocked`, with the change
//! set's id, name, start and status); "Cancel it and retry" cancels it through the API,
//! waits for CANCELLED and goes on. A FAILED change set fails the job with every entry of
//! its `ErrorDetailList`, in words a person can act on.
//!
//! Once the version is live its image gets deregistration protection (a refusal is logged
//! and does not fail the publish: the next sync of the account turns it on).

use std::{collections::BTreeSet, sync::Arc};

use anyhow::anyhow;
use aws_sdk_marketplacecatalog::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::{Change, ChangeStatus, Entity, Filter, Intent},
};
use chrono::Duration;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use app::services::{
    publish::{self, Blocker, PublishPlan, PublishVersion},
    users,
};

use super::{JobContext, JobError, JobHandler, JobResult, Outcome};
use crate::cloud::{Cloud, MARKETPLACE_REGION, document};

pub(super) const CATALOG: &str = "AWSMarketplace";
const ENTITY_TYPE: &str = "AmiProduct@1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    #[default]
    FindEntity,
    CheckPending,
    Validate,
    WaitValidate,
    Apply,
    WaitApply,
    Record,
}

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::FindEntity => "finding the listing's product",
            Step::CheckPending => "checking for open change sets",
            Step::Validate => "validating the new version",
            Step::WaitValidate => "waiting for the validation",
            Step::Apply => "submitting the new version",
            Step::WaitApply => "waiting for AWS Marketplace to apply it",
            Step::Record => "recording the version",
        }
    }

    fn progress(self) -> i32 {
        match self {
            Step::FindEntity => 5,
            Step::CheckPending => 10,
            Step::Validate => 20,
            Step::WaitValidate => 30,
            Step::Apply => 50,
            Step::WaitApply => 60,
            Step::Record => 95,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PublishState {
    #[serde(default)]
    step: Step,
    #[serde(default)]
    entity_id: Option<String>,
    #[serde(default)]
    validate_id: Option<String>,
    #[serde(default)]
    apply_id: Option<String>,
    /// A change set to cancel before going on (set by "Cancel it and retry").
    #[serde(default)]
    cancel: Option<String>,
    #[serde(default)]
    polls: u32,
    /// Bumped when a change set fails, so a retry submits a new one; unchanged by a crash,
    /// so a resumed job finds the one it submitted.
    #[serde(default)]
    round: u32,
}

/// Where a change set stands.
pub(super) enum Settled {
    Pending,
    Succeeded,
    /// Failed or cancelled; the words say why and what to do.
    Refused(String),
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

pub(super) fn api_err(
    what: &str,
    e: impl std::error::Error + ProvideErrorMetadata + 'static,
) -> JobError {
    let code = e.code().unwrap_or_default().to_owned();
    let text = format!("{what}: {}", DisplayErrorContext(&e));
    match code.as_str() {
        "ThrottlingException" | "InternalServiceException" | "" => {
            JobError::Retryable(anyhow!(text))
        }
        _ => JobError::Fatal(anyhow!(text)),
    }
}

/// What to do about an error AWS Marketplace reported on a change.
fn advice(code: &str) -> &'static str {
    match code {
        "DUPLICATE_VERSION_TITLE" => {
            "a version with this title is already on the listing (published by hand?): record it on the listing page instead of publishing again"
        }
        "INVALID_AMI_ID" => {
            "AWS Marketplace cannot read the image: it must be in us-east-1 and shared with the marketplace's account; rebuild the image, then retry"
        }
        "VERSION_LIMIT_EXCEEDED" => {
            "the listing is at its version limit: restrict old versions, then retry"
        }
        "INVALID_ACCESS_ROLE_ARN" => {
            "set the marketplace access role (Settings, or PORTAL_MARKETPLACE_ACCESS_ROLE_ARN) to the IAM role AWS Marketplace assumes to scan images, then retry"
        }
        "LAST_PUBLIC_VERSION" => "a listing keeps at least one public version: restrict fewer",
        _ => "see AWS Marketplace's message",
    }
}

impl Handler {
    async fn resume(&self, ctx: &mut JobContext, payload: &PublishVersion) -> JobResult {
        let plan = publish::plan(&ctx.state.db, payload, false)
            .await
            .map_err(|e| JobError::Fatal(anyhow!("{}", e.message)))?;
        let mut st: PublishState = ctx.checkpoint()?;
        let client = self.cloud.marketplace();
        loop {
            ctx.check().await?;
            let step = st.step;
            match step {
                Step::FindEntity => {
                    let id = match &plan.entity_id {
                        Some(id) => id.clone(),
                        None => find_entity(&client, &plan.entity_name).await?,
                    };
                    publish::set_entity_id(&ctx.state.db, plan.listing_id, &id)
                        .await
                        .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                    ctx.log(format!("{} is entity {id}", plan.entity_name))
                        .await;
                    st.entity_id = Some(id);
                }
                Step::CheckPending => {
                    let entity = st.entity_id.clone().unwrap_or_default();
                    if let Some(cancel) = st.cancel.clone() {
                        if !self.cancel(ctx, &client, &cancel).await? {
                            return Ok(Outcome::WaitFor(self.cloud.poll));
                        }
                        st.cancel = None;
                    }
                    let mine = [st.validate_id.clone(), st.apply_id.clone()];
                    let open = self.open_change_sets(&client, &entity).await?;
                    if let Some(other) = open
                        .into_iter()
                        .find(|b| !mine.contains(&Some(b.change_set_id.clone())))
                    {
                        return Err(blocked(&plan, other));
                    }
                }
                Step::Validate => {
                    let id = self
                        .start(ctx, &client, &plan, &st, Intent::Validate)
                        .await?;
                    ctx.log(format!("validation change set {id} started")).await;
                    st.validate_id = Some(id);
                    st.polls = 0;
                }
                Step::WaitValidate | Step::WaitApply => {
                    let (id, what) = if step == Step::WaitValidate {
                        (st.validate_id.clone(), "validation")
                    } else {
                        (st.apply_id.clone(), "change set")
                    };
                    let id = id.unwrap_or_default();
                    match settled(ctx, &client, &id, what).await? {
                        Settled::Pending => {
                            st.polls += 1;
                            ctx.save(step.progress(), step.label(), &st).await?;
                            return Ok(Outcome::WaitFor(self.wait(st.polls)));
                        }
                        Settled::Succeeded => {
                            ctx.log(format!("{what} {id} succeeded")).await;
                        }
                        Settled::Refused(why) => {
                            // A retry starts over with new change sets.
                            st.step = Step::CheckPending;
                            st.validate_id = None;
                            st.apply_id = None;
                            st.round += 1;
                            ctx.save(
                                Step::CheckPending.progress(),
                                "refused by AWS Marketplace",
                                &st,
                            )
                            .await?;
                            return Err(JobError::Fatal(anyhow!(why)));
                        }
                    }
                }
                Step::Apply => {
                    let id = self.start(ctx, &client, &plan, &st, Intent::Apply).await?;
                    ctx.log(format!("change set {id} submitted")).await;
                    st.apply_id = Some(id);
                    st.polls = 0;
                }
                Step::Record => {
                    let entity = st.entity_id.clone().unwrap_or_default();
                    let option = self.delivery_option(&client, &entity, &plan).await?;
                    let actor = users::system_user(&ctx.state.db, ctx.state.clock.now())
                        .await
                        .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                    publish::record(&ctx.state.db, &actor, ctx.state.clock.now(), &plan, &option)
                        .await
                        .map_err(|e| JobError::Retryable(anyhow!("recording the version: {e}")))?;
                    // The live version's image must not be deregistered.
                    super::protection::protect_after(
                        &self.cloud,
                        ctx,
                        MARKETPLACE_REGION,
                        &BTreeSet::from([plan.image_id.clone()]),
                        true,
                    )
                    .await;
                    ctx.save(100, "published", &st).await?;
                    ctx.log(format!(
                        "published '{}' as delivery option {option}",
                        plan.version_title
                    ))
                    .await;
                    return Ok(Outcome::Done(serde_json::json!({
                        "version_title": plan.version_title,
                        "delivery_option_id": option,
                        "change_set_id": st.apply_id,
                    })));
                }
            }
            st.step = match step {
                Step::FindEntity => Step::CheckPending,
                Step::CheckPending => Step::Validate,
                Step::Validate => Step::WaitValidate,
                Step::WaitValidate => Step::Apply,
                Step::Apply => Step::WaitApply,
                Step::WaitApply | Step::Record => Step::Record,
            };
            ctx.save(st.step.progress(), st.step.label(), &st).await?;
        }
    }

    /// Waits grow from the poll interval to an hour: a change set may take hours.
    fn wait(&self, polls: u32) -> Duration {
        let factor = 1_i32 << polls.min(7);
        (self.cloud.poll * factor).min(Duration::hours(1))
    }

    async fn open_change_sets(
        &self,
        client: &aws_sdk_marketplacecatalog::Client,
        entity: &str,
    ) -> Result<Vec<Blocker>, JobError> {
        let mut token = None;
        let mut open = Vec::new();
        loop {
            let page = client
                .list_change_sets()
                .catalog(CATALOG)
                .filter_list(
                    Filter::builder()
                        .name("EntityId")
                        .value_list(entity)
                        .build(),
                )
                .filter_list(
                    Filter::builder()
                        .name("Status")
                        .value_list("PREPARING")
                        .value_list("APPLYING")
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| api_err("listing open change sets", e.into_service_error()))?;
            open.extend(page.change_set_summary_list().iter().map(|c| {
                Blocker {
                    change_set_id: c.change_set_id().unwrap_or_default().to_owned(),
                    name: c.change_set_name().map(str::to_owned),
                    started: c.start_time().map(str::to_owned),
                    status: c
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                }
            }));
            match page.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(open),
            }
        }
    }

    /// Cancels a change set; true once it is no longer open.
    async fn cancel(
        &self,
        ctx: &JobContext,
        client: &aws_sdk_marketplacecatalog::Client,
        id: &str,
    ) -> Result<bool, JobError> {
        let d = client
            .describe_change_set()
            .catalog(CATALOG)
            .change_set_id(id)
            .send()
            .await
            .map_err(|e| api_err("looking at the blocking change set", e.into_service_error()))?;
        match d.status() {
            Some(ChangeStatus::Preparing) => {
                client
                    .cancel_change_set()
                    .catalog(CATALOG)
                    .change_set_id(id)
                    .send()
                    .await
                    .map_err(|e| {
                        api_err("cancelling the blocking change set", e.into_service_error())
                    })?;
                ctx.log(format!("asked AWS Marketplace to cancel change set {id}"))
                    .await;
                Ok(false)
            }
            Some(ChangeStatus::Applying) => {
                ctx.log(format!("change set {id} is already applying and cannot be cancelled; waiting for it to end")).await;
                Ok(false)
            }
            status => {
                ctx.log(format!(
                    "change set {id} is {}",
                    status.map(|s| s.as_str()).unwrap_or("gone")
                ))
                .await;
                Ok(true)
            }
        }
    }

    async fn start(
        &self,
        ctx: &JobContext,
        client: &aws_sdk_marketplacecatalog::Client,
        plan: &PublishPlan,
        st: &PublishState,
        intent: Intent,
    ) -> Result<String, JobError> {
        let entity = st.entity_id.clone().unwrap_or_default();
        let stored = app::services::secrets::reveal(
            &ctx.state.db,
            &ctx.state.secret_key,
            app::services::secrets::ACCESS_ROLE,
        )
        .await
        .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
        let role = match stored {
            Some(role) => role.expose().to_owned(),
            None => self.cloud.marketplace_access_role.clone().ok_or_else(|| {
                JobError::Fatal(anyhow!(
                    "set the marketplace access role (Settings, or PORTAL_MARKETPLACE_ACCESS_ROLE_ARN) to the IAM role AWS Marketplace assumes to scan images"
                ))
            })?,
        };
        // SSH, HTTP and HTTPS, as GitLab's listing has them.
        let security_groups: Vec<serde_json::Value> = [22, 80, 443]
            .iter()
            .map(|port| {
                serde_json::json!({
                    "IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": ["0.0.0.0/0"]
                })
            })
            .collect();
        let mut changes = vec![
            Change::builder()
                .change_type("AddDeliveryOptions")
                .entity(entity_ref(&entity)?)
                .details_document(document(serde_json::json!({
                    "Version": { "VersionTitle": plan.version_title, "ReleaseNotes": plan.release_notes },
                    "DeliveryOptions": [{ "Details": { "AmiDeliveryOptionDetails": {
                        "AmiSource": {
                            "AmiId": plan.image_id,
                            "AccessRoleArn": role,
                            "UserName": "ubuntu",
                            "OperatingSystemName": plan.operating_system.0,
                            "OperatingSystemVersion": plan.operating_system.1,
                        },
                        "UsageInstructions": "https://docs.gitlab.com/install/aws/",
                        "RecommendedInstanceType": "c5.2xlarge",
                        "SecurityGroups": security_groups,
                    }}}],
                })))
                .build()
                .map_err(|e| JobError::Fatal(anyhow!("building the change: {e}")))?,
        ];
        if let Some(copy) = &plan.copy {
            let f = &copy.fields;
            changes.push(
                Change::builder()
                    .change_type("UpdateInformation")
                    .entity(entity_ref(&entity)?)
                    .details_document(document(serde_json::json!({
                        "ProductTitle": f.title,
                        "ShortDescription": f.short_description,
                        "LongDescription": f.long_description,
                        "Highlights": f.highlights,
                        "Categories": f.categories,
                    })))
                    .build()
                    .map_err(|e| JobError::Fatal(anyhow!("building the change: {e}")))?,
            );
        }
        let (token, name) = match intent {
            Intent::Validate => (
                format!("portal-job-{}-validate-{}", ctx.job.id, st.round),
                "Validate version update",
            ),
            _ => (
                format!("portal-job-{}-apply-{}", ctx.job.id, st.round),
                change_set_name(&plan.version),
            ),
        };
        match client
            .start_change_set()
            .catalog(CATALOG)
            .intent(intent)
            .set_change_set(Some(changes))
            .change_set_name(name)
            .client_request_token(token)
            .send()
            .await
        {
            Ok(out) => Ok(out.change_set_id().unwrap_or_default().to_owned()),
            Err(e) => {
                let e = e.into_service_error();
                if e.code() == Some("ResourceInUseException") {
                    // Someone started a change set between the check and now.
                    let open = self.open_change_sets(client, &entity).await?;
                    if let Some(other) = open.into_iter().next() {
                        return Err(blocked(plan, other));
                    }
                    return Err(JobError::Retryable(anyhow!(
                        "the product is locked by a change set"
                    )));
                }
                Err(api_err("starting the change set", e))
            }
        }
    }

    async fn delivery_option(
        &self,
        client: &aws_sdk_marketplacecatalog::Client,
        entity: &str,
        plan: &PublishPlan,
    ) -> Result<String, JobError> {
        let d = client
            .describe_entity()
            .catalog(CATALOG)
            .entity_id(entity)
            .send()
            .await
            .map_err(|e| api_err("reading the product", e.into_service_error()))?;
        let details: serde_json::Value = d
            .details()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        details["Versions"]
            .as_array()
            .and_then(|vs| {
                vs.iter()
                    .find(|v| v["VersionTitle"] == plan.version_title.as_str())
            })
            .and_then(|v| v["DeliveryOptions"][0]["Id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                JobError::Retryable(anyhow!(
                    "'{}' is not on the product yet",
                    plan.version_title
                ))
            })
    }
}

pub(super) fn entity_ref(id: &str) -> Result<Entity, JobError> {
    Entity::builder()
        .r#type(ENTITY_TYPE)
        .identifier(id)
        .build()
        .map_err(|e| JobError::Fatal(anyhow!("building the entity: {e}")))
}

/// `Major|Minor|Patch version update`, as GitLab names its change sets.
fn change_set_name(version: &str) -> &'static str {
    match app::domain::Version::parse(version) {
        Ok(v) if v.patch > 0 => "Patch version update",
        Ok(v) if v.minor > 0 => "Minor version update",
        _ => "Major version update",
    }
}

fn blocked(plan: &PublishPlan, other: Blocker) -> JobError {
    let error = anyhow!(
        "{} is locked by change set {} ({}, {}, started {}), which this portal did not start. Cancel it and retry, or wait for it to end.",
        plan.entity_name,
        other.change_set_id,
        other.name.clone().unwrap_or_else(|| "unnamed".into()),
        other.status,
        other.started.clone().unwrap_or_default()
    );
    JobError::Blocked {
        error,
        blocker: serde_json::to_value(&other).unwrap_or_default(),
    }
}

pub(super) async fn find_entity(
    client: &aws_sdk_marketplacecatalog::Client,
    name: &str,
) -> Result<String, JobError> {
    let mut token = None;
    loop {
        let page = client
            .list_entities()
            .catalog(CATALOG)
            .entity_type("AmiProduct")
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| api_err("listing the marketplace's products", e.into_service_error()))?;
        if let Some(found) = page
            .entity_summary_list()
            .iter()
            .find(|e| e.name() == Some(name))
        {
            return found
                .entity_id()
                .map(str::to_owned)
                .ok_or_else(|| JobError::Fatal(anyhow!("the product has no entity id")));
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => {
                return Err(JobError::Fatal(anyhow!(
                    "AWS Marketplace has no AMI product named '{}': check the listing's entity name",
                    name
                )));
            }
        }
    }
}

/// Where a change set stands; a refusal lists every error, in words.
pub(super) async fn settled(
    ctx: &JobContext,
    client: &aws_sdk_marketplacecatalog::Client,
    id: &str,
    what: &str,
) -> Result<Settled, JobError> {
    let d = client
        .describe_change_set()
        .catalog(CATALOG)
        .change_set_id(id)
        .send()
        .await
        .map_err(|e| api_err("looking at the change set", e.into_service_error()))?;
    match d.status() {
        Some(ChangeStatus::Succeeded) => Ok(Settled::Succeeded),
        Some(ChangeStatus::Failed) => {
            let mut lines = Vec::new();
            for change in d.change_set() {
                for e in change.error_detail_list() {
                    let code = e.error_code().unwrap_or_default();
                    let line = format!(
                        "{} {code}: {} — {}",
                        change.change_type().unwrap_or_default(),
                        e.error_message().unwrap_or_default(),
                        advice(code)
                    );
                    ctx.log(&line).await;
                    lines.push(line);
                }
            }
            if lines.is_empty() {
                lines.push(format!(
                    "{}: {}",
                    d.failure_code().map(|c| c.as_str()).unwrap_or("FAILED"),
                    d.failure_description().unwrap_or_default()
                ));
            }
            Ok(Settled::Refused(format!(
                "AWS Marketplace refused the {what} {id}: {}",
                lines.join("; ")
            )))
        }
        Some(ChangeStatus::Cancelled) => Ok(Settled::Refused(format!(
            "the {what} {id} was cancelled in AWS Marketplace; retry to submit it again"
        ))),
        _ => Ok(Settled::Pending),
    }
}
