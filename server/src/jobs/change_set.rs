//! One change set on a listing's AMI product, followed to its end: what the version publish
//! and the copy publish share, so both behave the same.
//!
//! find the entity by name → make sure no change set someone else started is open on it →
//! validate (`Intent=VALIDATE`) → apply, each with a `ClientRequestToken` made from the job,
//! what the change set is for and the round, so a resumed job finds the change set it
//! submitted instead of making a second one → follow the change set (re-scheduled, with
//! growing waits; it may take hours) → the job records what is live.
//!
//! A change set the portal did not start blocks the job (state `blocked`, with the change
//! set's id, name, start and status); "Cancel it and retry" puts its id in the checkpoint's
//! `cancel`: the job cancels it through the API, waits for CANCELLED and goes on. A FAILED
//! change set fails the job with every entry of its `ErrorDetailList`, in words a person can
//! act on.

use anyhow::anyhow;
use aws_sdk_marketplacecatalog::{
    error::ProvideErrorMetadata,
    types::{Change, ChangeStatus, Filter, Intent},
};
use chrono::Duration;
use serde::{Deserialize, Serialize};

use app::services::publish::{self, Blocker};

use super::{
    JobContext, JobError,
    entity::{CATALOG, api_err, find_entity},
};
use crate::cloud::Cloud;

/// Where a job that submits change sets stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    #[default]
    FindEntity,
    CheckPending,
    Validate,
    WaitValidate,
    Apply,
    WaitApply,
    /// Applied: the job records what is live.
    Record,
}

impl Step {
    /// The step in words, about `what` is sent ("GitLab Premium 17.7.0 Release", "the copy").
    pub fn label(self, what: &str) -> String {
        match self {
            Step::FindEntity => "finding the listing's product".to_owned(),
            Step::CheckPending => "checking for open change sets".to_owned(),
            Step::Validate => format!("validating {what}"),
            Step::WaitValidate => format!("waiting for the validation of {what}"),
            Step::Apply => format!("submitting {what}"),
            Step::WaitApply => format!("waiting for AWS Marketplace to apply {what}"),
            Step::Record => format!("recording {what}"),
        }
    }

    /// How far along one change set is, 0 to 100.
    pub fn share(self) -> i32 {
        match self {
            Step::FindEntity => 0,
            Step::CheckPending => 10,
            Step::Validate => 20,
            Step::WaitValidate => 30,
            Step::Apply => 50,
            Step::WaitApply => 60,
            Step::Record => 95,
        }
    }
}

/// The checkpoint of a job that submits change sets: where its current change set stands,
/// and what the job keeps besides (`job`, flattened beside it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Flow<T> {
    #[serde(default)]
    pub step: Step,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub validate_id: Option<String>,
    #[serde(default)]
    pub apply_id: Option<String>,
    /// A change set to cancel before going on (set by "Cancel it and retry").
    #[serde(default)]
    pub cancel: Option<String>,
    #[serde(default)]
    pub polls: u32,
    /// Bumped when a change set fails, so a retry submits a new one; unchanged by a crash,
    /// so a resumed job finds the one it submitted.
    #[serde(default)]
    pub round: u32,
    #[serde(flatten)]
    pub job: T,
}

impl<T> Flow<T> {
    /// Starts the next change set of the same job (another architecture's version).
    pub fn next_change_set(&mut self) {
        self.step = Step::CheckPending;
        self.validate_id = None;
        self.apply_id = None;
        self.polls = 0;
    }
}

/// One change set a job sends.
pub struct Submission {
    /// The changes, the same at every attempt.
    pub changes: Vec<Change>,
    /// The applied change set's name, e.g. `Patch version update`.
    pub name: String,
    /// The validation's name, e.g. `Validate version update`.
    pub validate_name: String,
    /// Tells this change set apart from the job's others in its client request tokens
    /// (`amd64`, `copy`).
    pub tag: String,
    /// What is sent, in words ("GitLab Premium 17.7.0 Release", "the copy").
    pub what: String,
    /// The job's progress at the start of this change set, and how much of it the change set
    /// takes.
    pub progress: (i32, i32),
}

impl Submission {
    fn progress(&self, step: Step) -> i32 {
        self.progress.0 + self.progress.1 * step.share() / 100
    }
}

/// How far [`follow`] got.
pub enum Followed {
    /// Applied: the job records it (its step is [`Step::Record`]).
    Applied,
    /// Still under way: come back after this long.
    Wait(Duration),
}

/// Where a change set stands.
pub(crate) enum Settled {
    Pending,
    Succeeded,
    /// Failed or cancelled; the words say why and what to do.
    Refused(String),
}

/// Finds the listing's product (by name, when the listing has no entity id yet), remembers
/// its id on the listing and in the checkpoint, and moves on to the pending check.
pub async fn locate<T: Serialize>(
    ctx: &mut JobContext,
    client: &aws_sdk_marketplacecatalog::Client,
    st: &mut Flow<T>,
    listing_id: i32,
    entity_id: Option<&str>,
    entity_name: &str,
) -> Result<String, JobError> {
    if st.step == Step::FindEntity || st.entity_id.is_none() {
        let id = match entity_id {
            Some(id) => id.to_owned(),
            None => find_entity(client, entity_name).await?,
        };
        publish::set_entity_id(&ctx.state.db, listing_id, &id)
            .await
            .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
        ctx.log(format!("{entity_name} is entity {id}")).await;
        st.entity_id = Some(id);
        if st.step == Step::FindEntity {
            st.step = Step::CheckPending;
        }
        ctx.save(
            Step::CheckPending.share() / 10,
            &Step::CheckPending.label(""),
            st,
        )
        .await?;
    }
    Ok(st.entity_id.clone().unwrap_or_default())
}

/// Moves the current change set on from the pending check to its end, saving after every
/// step. Returns once it is applied (the step is then [`Step::Record`]), or when it must be
/// looked at again later.
pub async fn follow<T: Serialize>(
    ctx: &mut JobContext,
    cloud: &Cloud,
    client: &aws_sdk_marketplacecatalog::Client,
    st: &mut Flow<T>,
    entity_name: &str,
    submission: &Submission,
) -> Result<Followed, JobError> {
    let entity = st.entity_id.clone().unwrap_or_default();
    loop {
        ctx.check().await?;
        let step = st.step;
        match step {
            Step::FindEntity => {
                return Err(JobError::Fatal(anyhow!(
                    "the listing's product was not found before its change set"
                )));
            }
            Step::Record => return Ok(Followed::Applied),
            Step::CheckPending => {
                if !check_pending(ctx, client, st, &entity, entity_name).await? {
                    return Ok(Followed::Wait(cloud.poll));
                }
            }
            Step::Validate | Step::Apply => {
                let intent = if step == Step::Validate {
                    Intent::Validate
                } else {
                    Intent::Apply
                };
                let id = start(
                    ctx,
                    client,
                    &entity,
                    entity_name,
                    st.round,
                    submission,
                    intent,
                )
                .await?;
                if step == Step::Validate {
                    ctx.log(format!(
                        "validation change set {id} of {} started",
                        submission.what
                    ))
                    .await;
                    st.validate_id = Some(id);
                } else {
                    ctx.log(format!("change set {id} submits {}", submission.what))
                        .await;
                    st.apply_id = Some(id);
                }
                st.polls = 0;
            }
            Step::WaitValidate | Step::WaitApply => {
                if let Some(wait) = wait_settled(ctx, cloud, client, st, submission).await? {
                    return Ok(Followed::Wait(wait));
                }
            }
        }
        st.step = match step {
            Step::FindEntity | Step::CheckPending => Step::Validate,
            Step::Validate => Step::WaitValidate,
            Step::WaitValidate => Step::Apply,
            Step::Apply => Step::WaitApply,
            Step::WaitApply | Step::Record => Step::Record,
        };
        ctx.save(
            submission.progress(st.step),
            &st.step.label(&submission.what),
            st,
        )
        .await?;
    }
}

/// Cancels the change set the user asked to cancel, then looks for one the portal did not
/// start. False while the cancelled one is still open.
async fn check_pending<T: Serialize>(
    ctx: &JobContext,
    client: &aws_sdk_marketplacecatalog::Client,
    st: &mut Flow<T>,
    entity: &str,
    entity_name: &str,
) -> Result<bool, JobError> {
    if let Some(cancel) = st.cancel.clone() {
        if !cancel_change_set(ctx, client, &cancel).await? {
            return Ok(false);
        }
        st.cancel = None;
    }
    let mine = [st.validate_id.clone(), st.apply_id.clone()];
    let open = open_change_sets(client, entity).await?;
    if let Some(other) = open
        .into_iter()
        .find(|b| !mine.contains(&Some(b.change_set_id.clone())))
    {
        return Err(blocked(entity_name, other));
    }
    Ok(true)
}

/// Looks at the validation or the change set being applied: how long to wait while it is
/// pending, nothing once it succeeded; a refusal fails the job, and a retry starts over.
async fn wait_settled<T: Serialize>(
    ctx: &mut JobContext,
    cloud: &Cloud,
    client: &aws_sdk_marketplacecatalog::Client,
    st: &mut Flow<T>,
    submission: &Submission,
) -> Result<Option<Duration>, JobError> {
    let step = st.step;
    let (id, what) = if step == Step::WaitValidate {
        (st.validate_id.clone(), "validation")
    } else {
        (st.apply_id.clone(), "change set")
    };
    let id = id.unwrap_or_default();
    match settled(ctx, client, &id, what).await? {
        Settled::Pending => {
            st.polls += 1;
            ctx.save(submission.progress(step), &step.label(&submission.what), st)
                .await?;
            Ok(Some(wait(cloud, st.polls)))
        }
        Settled::Succeeded => {
            ctx.log(format!("{what} {id} succeeded")).await;
            Ok(None)
        }
        Settled::Refused(why) => {
            // A retry starts this change set over with new ones.
            st.next_change_set();
            st.round += 1;
            ctx.save(
                submission.progress(Step::CheckPending),
                "refused by AWS Marketplace",
                st,
            )
            .await?;
            Err(JobError::Fatal(anyhow!(why)))
        }
    }
}

/// Waits grow from the poll interval to an hour: a change set may take hours.
pub fn wait(cloud: &Cloud, polls: u32) -> Duration {
    let factor = 1_i32 << polls.min(7);
    (cloud.poll * factor).min(Duration::hours(1))
}

/// The IAM role AWS Marketplace assumes to read a version's image: the one set in the
/// portal, else the configured one.
pub async fn access_role(ctx: &JobContext, cloud: &Cloud) -> Result<String, JobError> {
    let stored = app::services::secrets::reveal(
        &ctx.state.db,
        &ctx.state.secret_key,
        app::services::secrets::ACCESS_ROLE,
    )
    .await
    .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
    match stored {
        Some(role) => Ok(role.expose().to_owned()),
        None => cloud.marketplace_access_role.clone().ok_or_else(|| {
            JobError::Fatal(anyhow!(
                "set the marketplace access role (Settings, or PORTAL_MARKETPLACE_ACCESS_ROLE_ARN) to the IAM role AWS Marketplace assumes to scan images"
            ))
        }),
    }
}

/// A change of `change_type` on the entity, with its details document.
pub fn change(
    entity_id: &str,
    change_type: &str,
    details: serde_json::Value,
) -> Result<Change, JobError> {
    Change::builder()
        .change_type(change_type)
        .entity(super::entity::entity_ref(entity_id)?)
        .details_document(crate::cloud::document(details))
        .build()
        .map_err(|e| JobError::Fatal(anyhow!("building the change: {e}")))
}

/// The client request token of one of a job's change sets: unique per job, change set,
/// intent and round, and within AWS's 36 characters.
pub fn token(job_id: i32, tag: &str, intent: &Intent, round: u32) -> String {
    let intent = match intent {
        Intent::Validate => "validate",
        _ => "apply",
    };
    format!("job-{job_id}-{tag}-{intent}-{round}")
}

async fn start(
    ctx: &JobContext,
    client: &aws_sdk_marketplacecatalog::Client,
    entity: &str,
    entity_name: &str,
    round: u32,
    submission: &Submission,
    intent: Intent,
) -> Result<String, JobError> {
    let name = match intent {
        Intent::Validate => submission.validate_name.clone(),
        _ => submission.name.clone(),
    };
    match client
        .start_change_set()
        .catalog(CATALOG)
        .set_change_set(Some(submission.changes.clone()))
        .change_set_name(name)
        .client_request_token(token(ctx.job.id, &submission.tag, &intent, round))
        .intent(intent)
        .send()
        .await
    {
        Ok(out) => Ok(out.change_set_id().unwrap_or_default().to_owned()),
        Err(e) => {
            let e = e.into_service_error();
            if e.code() == Some("ResourceInUseException") {
                // Someone started a change set between the check and now.
                let open = open_change_sets(client, entity).await?;
                if let Some(other) = open.into_iter().next() {
                    return Err(blocked(entity_name, other));
                }
                return Err(JobError::Retryable(anyhow!(
                    "the product is locked by a change set"
                )));
            }
            Err(api_err("starting the change set", e))
        }
    }
}

async fn open_change_sets(
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

/// DescribeChangeSet of one change set; `doing` names it in an error.
async fn describe(
    client: &aws_sdk_marketplacecatalog::Client,
    id: &str,
    doing: &str,
) -> Result<
    aws_sdk_marketplacecatalog::operation::describe_change_set::DescribeChangeSetOutput,
    JobError,
> {
    client
        .describe_change_set()
        .catalog(CATALOG)
        .change_set_id(id)
        .send()
        .await
        .map_err(|e| api_err(doing, e.into_service_error()))
}

/// Cancels a change set; true once it is no longer open.
async fn cancel_change_set(
    ctx: &JobContext,
    client: &aws_sdk_marketplacecatalog::Client,
    id: &str,
) -> Result<bool, JobError> {
    let d = describe(client, id, "looking at the blocking change set").await?;
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
            ctx.log(format!(
                "change set {id} is already applying and cannot be cancelled; waiting for it to end"
            ))
            .await;
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

fn blocked(entity_name: &str, other: Blocker) -> JobError {
    let error = anyhow!(
        "{} is locked by change set {} ({}, {}, started {}), which this portal did not start. Cancel it and retry, or wait for it to end.",
        entity_name,
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
        "INVALID_PRODUCT_TITLE"
        | "INVALID_SHORT_DESCRIPTION"
        | "INVALID_LONG_DESCRIPTION"
        | "INVALID_HIGHLIGHTS"
        | "INVALID_CATEGORIES"
        | "INVALID_SEARCH_KEYWORDS"
        | "INVALID_SKU"
        | "INVALID_SUPPORT_DESCRIPTION"
        | "INVALID_LOGO_URL"
        | "INVALID_VIDEO_URLS"
        | "INVALID_ADDITIONAL_RESOURCES" => {
            "correct the listing's copy (a new revision, approved again), then mark it for publishing"
        }
        "INVALID_USAGE_INSTRUCTIONS" | "INVALID_RELEASE_NOTES" => {
            "correct the usage instructions or the release-notes template in the listing's copy (approved again), then retry"
        }
        "INVALID_SECURITY_GROUPS"
        | "INVALID_USER_NAME"
        | "INVALID_INSTANCE_TYPE"
        | "INVALID_OPERATING_SYSTEM" => {
            "correct the product's delivery configuration on its page, then retry"
        }
        "INCONSISTENT_AMI_SOURCE" => {
            "every delivery option of a version must deliver the same image: each architecture is a version of its own"
        }
        _ => "see AWS Marketplace's message",
    }
}

/// Where a change set stands; a refusal lists every error, in words.
pub(crate) async fn settled(
    ctx: &JobContext,
    client: &aws_sdk_marketplacecatalog::Client,
    id: &str,
    what: &str,
) -> Result<Settled, JobError> {
    let d = describe(client, id, "looking at the change set").await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_tell_change_sets_apart_and_fit_awss_limit() {
        let a = token(1_234_567, "arm64", &Intent::Validate, 100);
        assert!(a.len() <= 36, "{a}");
        assert_ne!(
            token(7, "amd64", &Intent::Apply, 0),
            token(7, "arm64", &Intent::Apply, 0)
        );
        assert_ne!(
            token(7, "copy", &Intent::Apply, 0),
            token(7, "copy", &Intent::Validate, 0)
        );
        assert_ne!(
            token(7, "copy", &Intent::Apply, 0),
            token(7, "copy", &Intent::Apply, 1)
        );
    }

    #[test]
    fn a_checkpoint_keeps_the_jobs_own_state_beside_the_change_sets() {
        #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
        struct Own {
            #[serde(default)]
            done: Vec<String>,
        }
        let mut flow = Flow::<Own> {
            step: Step::WaitApply,
            apply_id: Some("cs-1".into()),
            ..Default::default()
        };
        flow.job.done.push("amd64".into());
        let mut stored = serde_json::to_value(&flow).expect("json");
        // "Cancel it and retry" writes the blocker beside the rest.
        stored["cancel"] = "cs-9".into();
        let back: Flow<Own> = serde_json::from_value(stored).expect("read back");
        assert_eq!(back.step, Step::WaitApply);
        assert_eq!(back.cancel.as_deref(), Some("cs-9"));
        assert_eq!(back.job.done, ["amd64"]);
        // A checkpoint written before the job kept anything of its own still reads.
        let old: Flow<Own> =
            serde_json::from_value(serde_json::json!({ "step": "validate", "round": 2 }))
                .expect("old");
        assert_eq!((old.step, old.round), (Step::Validate, 2));
        assert!(old.job.done.is_empty());
    }
}
