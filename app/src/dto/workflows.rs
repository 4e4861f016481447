//! The process: workflows, their stages and tasks, sign-offs and the launch gate.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{AssetRef, Sla, UserRef};
use crate::domain::{Arch, JobState, Role, StageState, TaskState, WorkflowKind, WorkflowState};

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskLink {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Task {
    pub id: i32,
    pub workflow_id: i32,
    pub stage_key: String,
    pub title: String,
    pub description: String,
    /// The team that owns the task.
    pub team: Role,
    /// Whether the stage waits for it; optional tasks can be skipped.
    pub required: bool,
    pub state: TaskState,
    pub assignee: Option<UserRef>,
    pub due_on: Option<NaiveDate>,
    /// When the partner must have answered, while the task waits on them.
    pub response_due_on: Option<NaiveDate>,
    /// Set when the partner did not answer in time and Partnerships took it over.
    pub escalated_at: Option<DateTime<Utc>>,
    pub links: Vec<TaskLink>,
    /// The build job doing the work, for image updates.
    pub job_id: Option<i32>,
    pub job_state: Option<JobState>,
    pub arch: Option<Arch>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Marketing assets linked to the task (the blog post, the quote).
    #[serde(default)]
    pub assets: Vec<AssetRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Stage {
    pub id: i32,
    pub key: String,
    pub name: String,
    pub team: Role,
    /// Keys of the stages that must be done before this one starts.
    pub depends_on: Vec<String>,
    pub state: StageState,
    pub completed_at: Option<DateTime<Utc>>,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WorkflowSummary {
    pub id: i32,
    pub kind: WorkflowKind,
    pub title: String,
    pub partner_slug: String,
    pub partner_name: String,
    pub product_slug: Option<String>,
    pub product_name: Option<String>,
    pub release: Option<String>,
    pub security: bool,
    pub state: WorkflowState,
    pub tasks_done: u32,
    pub tasks_total: u32,
    pub escalations: u32,
    pub sla: Option<Sla>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignOff {
    pub team: Role,
    pub username: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// What a first-time image's launch still waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LaunchGate {
    pub technical_done: bool,
    pub listing_id: Option<i32>,
    /// The approved copy revision the launch would use.
    pub approved_revision: Option<i32>,
    pub copy_approved: bool,
    pub missing_sign_offs: Vec<Role>,
    /// Why the launch cannot be approved yet; empty when it can.
    pub blockers: Vec<String>,
}

impl LaunchGate {
    pub fn ready(&self) -> bool {
        self.blockers.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Workflow {
    pub summary: WorkflowSummary,
    pub stages: Vec<Stage>,
    pub sign_offs: Vec<SignOff>,
    pub launch: Option<LaunchGate>,
    pub launched_at: Option<DateTime<Utc>>,
    pub launched_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskComment {
    pub id: i32,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A task with its context, for the task page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskDetail {
    pub task: Task,
    pub workflow: WorkflowSummary,
    pub stage_name: String,
    pub stage_state: StageState,
    /// Why the stage cannot start yet, if it cannot.
    pub blocked_by: Vec<String>,
    pub comments: Vec<TaskComment>,
    /// People of the task's team, who it can be assigned to.
    pub assignable: Vec<UserRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
pub struct WorkflowFilter {
    /// `first_time_image` or `maintenance`.
    pub kind: Option<String>,
    /// `open`, `done` or `launched`.
    pub state: Option<String>,
    pub page: Option<u64>,
}

/// Starts a first-time image project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FirstTimeInput {
    /// Partner slug.
    pub partner: String,
    /// Product slug (of that partner); may be left empty while the product is scoped.
    #[serde(default)]
    pub product: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskStateInput {
    pub state: String,
    /// Required when the task waits on the partner: when they must have answered.
    #[serde(default)]
    pub response_due_on: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskAssignInput {
    /// Username; empty to unassign.
    #[serde(default)]
    pub assignee: String,
    /// `YYYY-MM-DD`; empty for none.
    #[serde(default)]
    pub due_on: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskLinkInput {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignOffInput {
    /// The team signing off; the signer must belong to it.
    pub team: String,
    #[serde(default)]
    pub comment: String,
}
