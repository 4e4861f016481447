//! Security rebuilds that are not a GitLab release: the daily check for a newer base image
//! and the rebuild proposals Omnibus decides.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Arch, ProposalState};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A newer base image than the one current images were built from, and the images it asks
/// Omnibus to rebuild on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RebuildProposal {
    pub id: i32,
    pub arch: Arch,
    /// The build region the base image was found in.
    pub region: String,
    pub base_image_id: String,
    pub base_image_name: String,
    /// When the base image was published, as EC2 says.
    pub base_image_created: Option<String>,
    /// The base images the images to rebuild were built from (an image built before the
    /// portal recorded its base image adds none).
    pub previous_base_images: Vec<String>,
    pub items: Vec<RebuildItem>,
    /// Proposed; approved (while its rebuild train runs), then applied (once the train is
    /// done); or rejected.
    pub state: ProposalState,
    /// `portal`: the daily check proposes.
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: String,
    /// The rebuild train an approval started.
    pub train_id: Option<i32>,
}

/// One image a rebuild proposal rebuilds, as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RebuildItem {
    pub image_version_id: i32,
    pub image_name: String,
    pub partner_slug: String,
    pub product_slug: String,
    pub product_name: String,
    /// The release it is an image of.
    pub version: String,
    pub arch: Arch,
    /// What it was built from; `None` when it was built before the portal recorded it.
    pub base_image_id: Option<String>,
    pub base_image_name: Option<String>,
    /// The image that replaced it since (the rebuild, once it is available).
    pub superseded_by: Option<i32>,
}

/// Approving or rejecting a rebuild proposal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RebuildDecision {
    /// Required to reject.
    #[serde(default)]
    pub comment: String,
}

/// What one run of the base-image check found and proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct BaseImageCheck {
    pub checked_at: DateTime<Utc>,
    /// Each base image filter asked about, with the newest image it found.
    pub base_images: Vec<CheckedBaseImage>,
    /// The proposals this run made (none when every image is up to date or was proposed
    /// before).
    pub proposals: Vec<RebuildProposal>,
}

/// The newest base image of one filter, and how many current images are built on an older
/// one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CheckedBaseImage {
    pub arch: Arch,
    pub region: String,
    pub owner: String,
    /// The name filter, with the architecture filled in.
    pub name_pattern: String,
    /// The newest image matching it; `None` when none does.
    pub newest_id: Option<String>,
    pub newest_name: Option<String>,
    pub newest_created: Option<String>,
    /// Current images of the supported releases built on it.
    pub up_to_date: u32,
    /// Current images of the supported releases built on an older one (or on one the
    /// portal did not record).
    pub outdated: u32,
}
