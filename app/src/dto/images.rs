//! Image versions: a product built for a release and architecture, per region; the product matrix and the image lookup.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Arch, ImageState, RegionImageState, ReleaseKind};

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImageRegion {
    pub region: String,
    pub image_id: Option<String>,
    pub state: RegionImageState,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImageVersionSummary {
    pub id: i32,
    pub partner_slug: String,
    pub product_slug: String,
    pub product_name: String,
    pub version: String,
    pub arch: Arch,
    pub name: String,
    pub state: ImageState,
    pub region_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImageVersion {
    pub id: i32,
    pub partner_slug: String,
    pub product_slug: String,
    pub product_name: String,
    pub version: String,
    pub release_kind: ReleaseKind,
    pub arch: Arch,
    pub name: String,
    pub state: ImageState,
    pub regions: Vec<ImageRegion>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Which image of this release, product and architecture: 1 for the first, 2 for the
    /// first rebuild (named `… (rebuild 2)`), and so on.
    pub rebuild: i32,
    /// Why this rebuild was made, as given when it was started.
    pub rebuild_reason: Option<String>,
    /// The image version that replaced this one as the current image, and when.
    pub superseded_by: Option<i32>,
    pub superseded_at: Option<DateTime<Utc>>,
    /// The base image it was built from (its id and name in the build region); `None` for
    /// an image recorded by hand or built before the portal recorded it.
    #[serde(default)]
    pub base_image_id: Option<String>,
    #[serde(default)]
    pub base_image_name: Option<String>,
}

/// Why an image is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RebuildReason {
    /// A security fix in the operating system or its packages.
    SecurityFix,
    /// A newer base image (the operating system's own image was updated).
    NewBaseImage,
}

impl RebuildReason {
    pub const ALL: [RebuildReason; 2] = [RebuildReason::SecurityFix, RebuildReason::NewBaseImage];

    pub fn as_str(self) -> &'static str {
        match self {
            RebuildReason::SecurityFix => "security_fix",
            RebuildReason::NewBaseImage => "new_base_image",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RebuildReason::SecurityFix => "Security fix",
            RebuildReason::NewBaseImage => "New base image",
        }
    }
}

impl std::str::FromStr for RebuildReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RebuildReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                format!("say why the image is rebuilt: security_fix or new_base_image, not '{s}'")
            })
    }
}

/// Rebuild an image version: a new image of the same release, product and architecture.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RebuildInput {
    /// security_fix or new_base_image.
    pub reason: String,
    /// What it fixes or brings (an advisory, the base image), up to 500 characters.
    #[serde(default)]
    pub note: String,
}

/// Record an image version (as a build or a person reports it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImageVersionInput {
    pub partner: String,
    pub product: String,
    pub version: String,
    pub arch: String,
    /// planned, building, available, failed or retired.
    pub state: String,
    #[serde(default)]
    pub regions: Vec<ImageRegionInput>,
    /// Which image of the release, product and architecture (1 for the first, 2 and up for
    /// rebuilds); without it, the current one (the first, when there is none).
    #[serde(default)]
    pub rebuild: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImageRegionInput {
    pub region: String,
    #[serde(default)]
    pub image_id: String,
    /// pending, public, private, deprecated or deregistered.
    pub state: String,
}

/// A cell of a product's release × architecture matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MatrixCell {
    pub arch: Arch,
    pub image: Option<ImageVersionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct MatrixRow {
    pub version: String,
    pub kind: ReleaseKind,
    pub cells: Vec<MatrixCell>,
}

/// The answer to "which image do I launch?".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ImageLookup {
    pub image_id: String,
    pub name: String,
    pub region: String,
    pub state: RegionImageState,
    pub version: String,
    pub product: String,
    pub arch: Arch,
    pub image_version_id: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct LookupQuery {
    /// A release version, or `latest` for the newest stable release.
    pub release: String,
    /// Product slug, e.g. gitlab-ee.
    pub product: String,
    /// amd64 or arm64.
    pub arch: String,
    pub region: String,
    /// Partner slug (default `aws`).
    pub partner: Option<String>,
}
