//! The account as it is: what the cloud sync read, and what differs from the catalogue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Job;
use crate::domain::{DriftAction, DriftKind, DriftState};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// One difference between the catalogue and the account, and what resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DriftItem {
    pub id: i32,
    pub kind: DriftKind,
    pub state: DriftState,
    /// One sentence: what differs, where.
    pub summary: String,
    /// What the catalogue says (empty when it knows nothing of it).
    pub catalogue: String,
    /// What the account says (empty when the account no longer has it).
    pub account: String,
    pub region: Option<String>,
    pub image_id: Option<String>,
    pub image_name: Option<String>,
    pub product_id: Option<i32>,
    pub product_name: Option<String>,
    pub partner_slug: Option<String>,
    pub product_slug: Option<String>,
    pub listing_id: Option<i32>,
    pub listing: Option<String>,
    pub version_title: Option<String>,
    /// A live marketplace version is affected: an incident, not only a difference.
    pub incident: bool,
    /// Since when the difference is seen.
    pub since: DateTime<Utc>,
    /// The last sync that still saw it.
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
    /// The actions that resolve it (none once resolved).
    pub actions: Vec<DriftAction>,
    /// For an image made outside the portal: the product, release and architecture its
    /// name or tags suggest, to adopt it as.
    pub suggestion: Option<AdoptInput>,
}

/// Adopting an image made outside the portal: the product, release and architecture it
/// belongs to. Other drift items take no input (an empty object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AdoptInput {
    pub product_id: Option<i32>,
    /// The GitLab release, such as `17.5.1`; recorded if the catalogue does not have it.
    pub release: Option<String>,
    /// `amd64` or `arm64`.
    pub arch: Option<String>,
}

/// What a drift action did: the item, resolved, and the proposal it opened, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DriftResolution {
    pub item: DriftItem,
    /// The retention or restriction proposal opened by "propose retirement".
    pub proposal_link: Option<String>,
}

/// Filters of the drift list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, utoipa::IntoParams))]
pub struct DriftFilter {
    /// `open` (the default) or `resolved`.
    pub state: Option<String>,
    pub product_id: Option<i32>,
    pub listing_id: Option<i32>,
    pub region: Option<String>,
}

/// Open drift per scope, for the banners of the product, listing and public-image pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DriftCount {
    pub open: i32,
    /// Open items that affect a live marketplace version.
    pub incidents: i32,
}

/// What the last syncs read of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AccountRegion {
    pub region: String,
    /// The quota Service Quotas reports (none until it answered).
    pub service_quota: Option<i32>,
    pub quota_checked_at: Option<DateTime<Utc>>,
    pub quota_error: Option<String>,
    pub images_synced_at: Option<DateTime<Utc>>,
    pub images_error: Option<String>,
    /// Images the account owns there now, public ones, ones made outside the portal and
    /// ones with deregistration protection on.
    pub images: i32,
    pub public_images: i32,
    pub outside_images: i32,
    pub protected_images: i32,
    pub recycle_bin_public: i32,
}

/// What the last syncs read of one listing's marketplace entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AccountListing {
    pub listing_id: i32,
    pub entity_name: String,
    pub entity_id: String,
    pub public_versions: i32,
    pub total_versions: i32,
    pub version_limit: i32,
    pub restrict_threshold: i32,
    pub synced_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// The cloud page: the account as the syncs read it, and the drift it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CloudStatus {
    pub regions: Vec<AccountRegion>,
    pub listings: Vec<AccountListing>,
    /// The newest sync job.
    pub last_sync: Option<Job>,
    pub drift: DriftCount,
    /// How often the sync runs by itself, in minutes (0: only at start and on demand).
    pub every_minutes: i64,
}
