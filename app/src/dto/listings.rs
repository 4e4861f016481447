//! Marketplace listings: their published versions, their policy and proposals to restrict old versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Arch, ListingVersionVisibility, Policy, ProposalState},
    error::{AppError, AppResult, Validator, whole_number},
};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingVersion {
    pub id: i32,
    pub title: String,
    pub release: Option<String>,
    pub delivery_option_id: Option<String>,
    pub visibility: ListingVersionVisibility,
    pub published_at: DateTime<Utc>,
    /// The architecture of the version's image, when known.
    #[serde(default)]
    pub arch: Option<Arch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Listing {
    pub id: i32,
    pub partner_slug: String,
    pub product_slug: String,
    pub product_name: String,
    pub marketplace: String,
    pub entity_type: String,
    pub entity_name: String,
    pub entity_id: Option<String>,
    pub title: String,
    /// Every version ever published, restricted ones included.
    pub versions_used: u64,
    pub version_limit: i32,
    /// Versions counted against the marketplace's limit.
    pub public_versions: u64,
    /// Public versions past which the portal proposes restricting the oldest.
    pub restrict_threshold: i32,
    /// Versions published this recently are never proposed for restriction.
    pub keep_recent_days: i32,
    /// Whether a release other than the newest stable one publishes.
    pub publish_backports: bool,
    /// Whether a release publishes its version by itself (Partnerships decides).
    pub publish_policy: Policy,
    /// Newest first.
    pub versions: Vec<ListingVersion>,
    /// The copy revision last published to the marketplace, and when.
    #[serde(default)]
    pub live_copy_revision: Option<i32>,
    #[serde(default)]
    pub live_copy_at: Option<DateTime<Utc>>,
}

/// How a listing publishes and when restrictions are proposed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingPolicyInput {
    /// Whether a release that is not the newest stable one (a backport patch) publishes.
    #[serde(default)]
    pub publish_backports: bool,
    /// Public versions from which restrictions are proposed (1 to the version limit).
    pub restrict_threshold: i32,
    /// Versions published within this many days are never restricted (0 to 3650).
    pub keep_recent_days: i32,
}

/// The listing page's policy form: the numbers as typed, checked to be numbers here and
/// for their range by the service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListingPolicyForm {
    #[serde(default)]
    pub publish_backports: bool,
    pub restrict_threshold: String,
    pub keep_recent_days: String,
}

impl TryFrom<ListingPolicyForm> for ListingPolicyInput {
    type Error = AppError;

    fn try_from(form: ListingPolicyForm) -> AppResult<Self> {
        let mut v = Validator::new();
        let threshold = v.check("restrict_threshold", whole_number(&form.restrict_threshold));
        let days = v.check("keep_recent_days", whole_number(&form.keep_recent_days));
        v.finish(|| {
            Some(ListingPolicyInput {
                publish_backports: form.publish_backports,
                restrict_threshold: threshold?,
                keep_recent_days: days?,
            })
        })
    }
}

/// A proposal to restrict a listing's oldest public versions, before the limit is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RestrictionProposal {
    pub id: i32,
    pub listing_id: i32,
    /// The versions to restrict, oldest first.
    pub versions: Vec<ListingVersion>,
    pub state: ProposalState,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: String,
    pub job_id: Option<i32>,
}
