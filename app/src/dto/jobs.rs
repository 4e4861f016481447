//! Background jobs, their logs, and the builds of a release started together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::JobState;

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// A background job as people and automation see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Job {
    pub id: i32,
    pub kind: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    /// 0–100.
    pub progress: i32,
    /// The step the job is at, in words.
    pub step: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    /// The step a step-machine job saved last (for builds, a name of `BUILD_STEPS`).
    pub checkpoint_step: Option<String>,
    /// Jobs started together (e.g. `release:17.6.0`).
    pub group_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobEvent {
    pub id: i32,
    pub at: DateTime<Utc>,
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct JobFilter {
    pub state: Option<String>,
    pub kind: Option<String>,
    /// A release run, e.g. `release:17.6.0`.
    pub group: Option<String>,
}

/// All builds of one release, started together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReleaseRun {
    pub version: String,
    /// Mean progress of the builds, 0–100.
    pub progress: i32,
    pub jobs: Vec<Job>,
}
