//! The maintenance clock: SLAs, holidays, the release timeline, the sweep and release events.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::WorkflowSummary;
use crate::domain::SlaStatus;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A maintenance run's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Sla {
    pub released_on: NaiveDate,
    pub due_on: NaiveDate,
    pub status: SlaStatus,
    /// Business minutes left (negative: past the deadline by this much wall-clock time).
    pub business_minutes_left: i64,
    /// When every image of the run was out.
    pub image_out_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Holiday {
    pub id: i32,
    pub day: NaiveDate,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct HolidayInput {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub name: String,
}

/// One release on the maintenance timeline: from its date to the last image out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TimelineRow {
    pub release: String,
    pub security: bool,
    pub released_on: NaiveDate,
    pub due_on: NaiveDate,
    pub runs: u32,
    /// When the last image of the release was out; `None` while some are not.
    pub image_out_at: Option<DateTime<Utc>>,
    /// Calendar days from the start of the release day to the deadline.
    pub due_days: f64,
    /// Calendar days from the start of the release day to the last image out (or now).
    pub out_days: f64,
    pub status: SlaStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MaintenanceBoard {
    /// Open maintenance runs, the most urgent first.
    pub open: Vec<WorkflowSummary>,
    /// Recent releases, newest first.
    pub timeline: Vec<TimelineRow>,
    pub holidays: Vec<Holiday>,
}

/// What the clock sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SweepReport {
    pub escalated: u32,
    pub at_risk: u32,
    pub breached: u32,
}

/// A release event received from GitLab (or posted by automation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReleaseEventOutcome {
    /// `recorded`, or `duplicate` when the event or the release was already known.
    pub status: String,
    pub release: Option<String>,
    pub maintenance_runs: Vec<i32>,
    /// The train the release started (a stable release that was not known yet).
    pub train: Option<i32>,
}
