//! Public images: region quotas, retention policies and their proposals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Arch, ProposalState, QuotaSource, RegionImageState, RetentionAction},
    error::{AppError, AppResult, Validator, whole_number},
};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// Public images of one region against the quota the account has there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RegionQuota {
    pub region: String,
    /// Public images in this region (deprecated ones are still public, and so are public
    /// ones in the Recycle Bin): the account's, as the last sync read them, or the
    /// catalogue's until a sync has read the region.
    pub public_images: i32,
    pub quota: i32,
    /// Whether the quota was set by hand for this region, overriding Service Quotas.
    pub quota_set: bool,
    /// Where `quota` comes from: Service Quotas, set by hand, or AWS's default until
    /// Service Quotas answered.
    pub quota_source: QuotaSource,
    /// The quota Service Quotas reported, whatever overrides it.
    pub service_quota: Option<i32>,
    /// When the account's images in this region were last read; none means the counts
    /// are the catalogue's.
    pub synced_at: Option<DateTime<Utc>>,
    /// Public images made outside the portal (matched to no product).
    pub outside_images: i32,
    /// Public images after the next release, which adds one per public product and
    /// architecture shipped to this region.
    pub after_next_release: i32,
    /// At 80% of the quota or more.
    pub near_quota: bool,
    /// Public images per product, most first.
    pub by_product: Vec<ProductCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductCount {
    pub product_name: String,
    pub count: i32,
}

/// A product's retention policy for its public images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RetentionPolicy {
    pub product_id: i32,
    pub partner_slug: String,
    pub product_slug: String,
    pub product_name: String,
    /// Images of the newest this many releases stay, per architecture.
    pub keep_newest: i32,
    /// Images of a release younger than this many days stay.
    pub support_days: i32,
    pub action: RetentionAction,
    /// Who last changed it; `None` while the defaults apply.
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RetentionPolicyInput {
    /// Images of the newest this many releases stay, per architecture (1 to 100).
    pub keep_newest: i32,
    /// Images of a release younger than this many days stay (0 to 3650).
    pub support_days: i32,
    pub action: RetentionAction,
}

/// The public images page's policy form: the numbers as typed, checked to be numbers here
/// and for their range by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicyForm {
    pub keep_newest: String,
    pub support_days: String,
    pub action: RetentionAction,
}

impl TryFrom<RetentionPolicyForm> for RetentionPolicyInput {
    type Error = AppError;

    fn try_from(form: RetentionPolicyForm) -> AppResult<Self> {
        let mut v = Validator::new();
        let keep = v.check("keep_newest", whole_number(&form.keep_newest));
        let days = v.check("support_days", whole_number(&form.support_days));
        v.finish(|| {
            Some(RetentionPolicyInput {
                keep_newest: keep?,
                support_days: days?,
                action: form.action,
            })
        })
    }
}

/// One image a retention proposal acts on, as the dry run found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RetentionItem {
    pub image_region_id: i32,
    pub region: String,
    pub image_id: String,
    pub image_name: String,
    pub version: String,
    pub arch: Arch,
    pub state: RegionImageState,
}

/// What the retention job did to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RetentionOutcome {
    pub image_region_id: i32,
    /// The catalogue state the image is in now.
    pub state: RegionImageState,
    /// Snapshots deleted with a deregistered image.
    pub deleted_snapshots: Vec<String>,
    pub note: String,
}

/// A dry run of a product's retention policy, waiting for (or past) Partnerships' decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RetentionProposal {
    pub id: i32,
    pub product_id: i32,
    pub product_name: String,
    pub action: RetentionAction,
    /// Oldest release first.
    pub items: Vec<RetentionItem>,
    pub outcomes: Vec<RetentionOutcome>,
    pub state: ProposalState,
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: String,
    pub job_id: Option<i32>,
}

/// The public images page: quota use per region, the policies and the proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PublicImages {
    pub regions: Vec<RegionQuota>,
    pub policies: Vec<RetentionPolicy>,
    /// Newest first.
    pub proposals: Vec<RetentionProposal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct QuotaInput {
    /// Public images AWS allows in the region (1 to 100000).
    pub quota: i32,
}

/// A region's quota as the public images page's form sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaForm {
    pub quota: String,
}

impl TryFrom<QuotaForm> for QuotaInput {
    type Error = AppError;

    fn try_from(form: QuotaForm) -> AppResult<Self> {
        let mut v = Validator::new();
        let quota = v.check("quota", whole_number(&form.quota));
        v.finish(|| Some(QuotaInput { quota: quota? }))
    }
}
