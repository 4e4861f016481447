//! The approval queue: what waits for one of my teams.

use serde::{Deserialize, Serialize};

use super::{CopyRevisionSummary, RestrictionProposal, RetentionProposal, WorkflowSummary};
use crate::domain::Role;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A revision waiting for one of my teams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyQueueItem {
    pub listing_id: i32,
    pub listing_title: String,
    pub revision: CopyRevisionSummary,
    pub awaiting: Role,
}

/// A launch waiting for one of my teams' sign-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LaunchQueueItem {
    pub workflow: WorkflowSummary,
    pub missing_sign_offs: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApprovalQueue {
    pub teams: Vec<Role>,
    pub copy: Vec<CopyQueueItem>,
    pub launches: Vec<LaunchQueueItem>,
    /// Proposals to restrict old marketplace versions (Partnerships decides).
    pub restrictions: Vec<RestrictionProposal>,
    /// Retention dry runs waiting for Partnerships.
    #[serde(default)]
    pub retention: Vec<RetentionProposal>,
}
