//! The release train: what a release (or a new base image) set moving, step by step.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Job, WorkflowSummary};
use crate::domain::{
    Arch, Policy, SlaStatus, TrainKind, TrainState, TrainStepKind, TrainStepState,
};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// One train: its steps, the maintenance runs it completes and how it went against the
/// clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReleaseTrain {
    pub id: i32,
    pub kind: TrainKind,
    /// `Release 17.7.0`, `Security rebuild: new base image …`.
    pub title: String,
    /// What set it moving, in words.
    pub catalyst: String,
    /// The release it carries (a rebuild train may carry several: see its steps).
    pub release: Option<String>,
    /// The day the clock started.
    pub started_on: NaiveDate,
    /// Three business days later: when every image should be out.
    pub due_on: NaiveDate,
    pub state: TrainState,
    /// The clock of the whole train: met on time, on track, at risk, met late or breached.
    pub sla: SlaStatus,
    /// 0–100: the steps' progress, averaged.
    pub progress: i32,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Builds first, then publishes, in the order they run.
    pub steps: Vec<TrainStep>,
    /// The maintenance runs whose tasks the steps complete, with their clocks.
    pub runs: Vec<WorkflowSummary>,
    /// From the start of the clock to each image and each live version.
    pub timeline: TrainTimeline,
}

/// One build or publish of a train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TrainStep {
    pub id: i32,
    /// Unique in the train: `build:<product id>:<arch>` or `publish:<listing id>`.
    pub key: String,
    pub kind: TrainStepKind,
    /// `GitLab EE 17.7.0 (arm64)`, `GitLab Premium 17.7.0 Release`.
    pub label: String,
    pub release: String,
    pub partner_slug: String,
    pub product_slug: String,
    pub product_name: String,
    pub arch: Option<Arch>,
    pub listing_id: Option<i32>,
    /// The listing's marketplace entity name.
    pub listing: Option<String>,
    /// The image version a rebuild replaces.
    pub rebuild_of: Option<i32>,
    pub state: TrainStepState,
    /// What it waits for, why it was skipped, or how it failed; empty when nothing.
    pub wait: String,
    /// The policy that decides whether it runs by itself.
    pub policy: Policy,
    pub job: Option<Job>,
    pub image_version_id: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Days from the start of the clock (midnight UTC of `started_on`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TrainTimeline {
    /// The end of the due day.
    pub due_days: f64,
    /// Now, or when the train finished.
    pub now_days: f64,
    pub milestones: Vec<TrainMilestone>,
}

/// An image out or a version live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TrainMilestone {
    pub step_key: String,
    pub label: String,
    pub kind: TrainStepKind,
    pub at: DateTime<Utc>,
    pub days: f64,
    /// Within the due date.
    pub on_time: bool,
}

/// A train in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TrainSummary {
    pub id: i32,
    pub kind: TrainKind,
    pub title: String,
    pub release: Option<String>,
    pub state: TrainState,
    pub sla: SlaStatus,
    pub progress: i32,
    pub steps_done: u32,
    pub steps_total: u32,
    pub waiting: u32,
    pub failed: u32,
    pub due_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Whether a product's builds (Omnibus) or a listing's publishes (Partnerships) run by
/// themselves when a release comes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StepPolicyInput {
    /// `automatic` or `manual`.
    pub policy: String,
}
