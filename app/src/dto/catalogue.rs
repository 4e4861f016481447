//! Across the catalogue: the dashboard and search results.

use serde::{Deserialize, Serialize};

use super::{ImageLookup, PartnerSummary, ProductSummary, Release};
use crate::domain::{Arch, ImageState};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SearchResults {
    pub partners: Vec<PartnerSummary>,
    pub products: Vec<ProductSummary>,
    pub releases: Vec<Release>,
    pub images: Vec<ImageLookup>,
}

impl SearchResults {
    pub fn is_empty(&self) -> bool {
        self.partners.is_empty()
            && self.products.is_empty()
            && self.releases.is_empty()
            && self.images.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReleaseImageStatus {
    pub product_name: String,
    pub product_slug: String,
    pub partner_slug: String,
    pub arch: Arch,
    pub state: Option<ImageState>,
    pub image_version_id: Option<i32>,
    pub public_regions: u64,
    pub target_regions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Dashboard {
    pub partners: Vec<PartnerSummary>,
    pub product_count: u64,
    pub image_version_count: u64,
    pub latest_release: Option<Release>,
    pub latest_release_images: Vec<ReleaseImageStatus>,
    pub listings: Vec<ListingUsage>,
}

/// A marketplace listing as the dashboard shows it: how much of its version limit is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingUsage {
    pub id: i32,
    pub entity_name: String,
    /// Versions counted against the marketplace's limit.
    pub public_versions: u64,
    pub version_limit: i32,
}
