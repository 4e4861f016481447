//! The audit log: who changed what, and how to filter it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AuditEvent {
    pub id: i32,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub summary: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct AuditFilter {
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub actor: Option<String>,
    /// What happened: `create`, `approve`, `reject`, `sign_off`…
    pub action: Option<String>,
    /// First day to include, `YYYY-MM-DD` (UTC).
    pub from: Option<String>,
    /// Last day to include, `YYYY-MM-DD` (UTC).
    pub to: Option<String>,
    pub page: Option<u64>,
}
