//! What crosses the wire: the shapes the pages, server functions and REST API exchange.
//! Inputs are plain strings as a form sends them; the services parse them into domain
//! types and answer with field errors.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::*;

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.per_page.max(1)).max(1)
    }
}

/// `?page=&per_page=` of a list request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct PageRequest {
    /// 1-based page number (default 1).
    pub page: Option<u64>,
    /// Items per page, 1–100 (default 25).
    pub per_page: Option<u64>,
}

impl PageRequest {
    pub const MAX_PER_PAGE: u64 = 100;

    /// The page as (0-based index, size), clamped to sane bounds.
    pub fn normalized(self) -> (u64, u64) {
        let per_page = self.per_page.unwrap_or(25).clamp(1, Self::MAX_PER_PAGE);
        (self.page.unwrap_or(1).max(1) - 1, per_page)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerSummary {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub cloud: Cloud,
    pub status: PartnerStatus,
    pub product_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerAccount {
    pub id: i32,
    pub label: String,
    pub account_id: String,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerContact {
    pub id: i32,
    pub role: ContactRole,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Partner {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub cloud: Cloud,
    pub status: PartnerStatus,
    pub partner_docs_url: Option<String>,
    pub partnership_doc_url: Option<String>,
    pub notes: String,
    pub accounts: Vec<PartnerAccount>,
    pub contacts: Vec<PartnerContact>,
    pub products: Vec<ProductSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Create or replace a partner's own fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerInput {
    pub slug: String,
    pub name: String,
    /// aws, azure, gcp, digitalocean or other.
    pub cloud: String,
    /// prospect, onboarding, live or retired.
    pub status: String,
    #[serde(default)]
    pub partner_docs_url: String,
    #[serde(default)]
    pub partnership_doc_url: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerAccountInput {
    pub label: String,
    pub account_id: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerContactInput {
    /// partnership, technical or marketing.
    pub role: String,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductSummary {
    pub id: i32,
    pub partner_slug: String,
    pub partner_name: String,
    pub slug: String,
    pub name: String,
    pub edition: Edition,
    pub visibility: Visibility,
    pub architectures: Vec<Arch>,
    pub maintenance_mode: MaintenanceMode,
}

/// One architecture a product is built for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductArchitecture {
    pub arch: Arch,
    /// Instance type of the builder, e.g. m3.medium or m6g.medium.
    pub builder_instance_type: String,
    /// Image name with `{version}` for the release, e.g. `GitLab CE {version} (ARM64)`.
    pub image_name_template: String,
    /// Value of the image's `Type` tag, e.g. `GitLab Community Edition (ARM64)`.
    pub type_tag: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Product {
    pub id: i32,
    pub partner_slug: String,
    pub partner_name: String,
    pub cloud: Cloud,
    pub slug: String,
    pub name: String,
    pub edition: Edition,
    pub visibility: Visibility,
    pub architectures: Vec<ProductArchitecture>,
    /// Owner account of the base image, e.g. Canonical's 099720109477.
    pub base_image_owner: String,
    /// Name pattern with `{arch}`, e.g. `ubuntu/images/*ubuntu-noble-24.04-{arch}-server-*`.
    pub base_image_name_pattern: String,
    pub build_region: String,
    pub target_regions: Vec<String>,
    pub license_required: bool,
    /// When the license file was last set (its content is never shown).
    pub license_updated_at: Option<DateTime<Utc>>,
    pub license_updated_by: Option<String>,
    pub listing_entity_name: Option<String>,
    pub listing_entity_id: Option<String>,
    pub maintenance_mode: MaintenanceMode,
    pub root_volume_gb: i32,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductArchitectureInput {
    pub arch: String,
    pub builder_instance_type: String,
    pub image_name_template: String,
    pub type_tag: String,
}

/// Create or replace a product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductInput {
    /// Slug of the partner the product belongs to.
    pub partner: String,
    pub slug: String,
    pub name: String,
    /// ce, ee, ee_premium or ee_ultimate.
    pub edition: String,
    /// public or private.
    pub visibility: String,
    pub architectures: Vec<ProductArchitectureInput>,
    pub base_image_owner: String,
    pub base_image_name_pattern: String,
    pub build_region: String,
    pub target_regions: Vec<String>,
    #[serde(default)]
    pub license_required: bool,
    #[serde(default)]
    pub listing_entity_name: String,
    #[serde(default)]
    pub listing_entity_id: String,
    /// image or partner_package.
    pub maintenance_mode: String,
    #[serde(default = "default_root_volume")]
    pub root_volume_gb: i32,
    #[serde(default)]
    pub description: String,
}

fn default_root_volume() -> i32 {
    20
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Release {
    pub id: i32,
    pub version: String,
    pub released_on: NaiveDate,
    pub kind: ReleaseKind,
    /// Derived: the newest stable release in the catalogue.
    pub latest_stable: bool,
    pub image_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReleaseInput {
    pub version: String,
    /// YYYY-MM-DD.
    pub released_on: String,
    /// regular, patch or security.
    pub kind: String,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingVersion {
    pub id: i32,
    pub title: String,
    pub release: Option<String>,
    pub delivery_option_id: Option<String>,
    pub visibility: ListingVersionVisibility,
    pub published_at: DateTime<Utc>,
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
    /// Versions counted against the marketplace's limit (every published version).
    pub versions_used: u64,
    pub version_limit: i32,
    pub public_versions: u64,
    /// Newest first.
    pub versions: Vec<ListingVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetVersion {
    pub version: i32,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub filename: String,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Where the bytes of this version are served.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Asset {
    pub id: i32,
    pub partner_slug: String,
    pub partner_name: String,
    pub product_slug: Option<String>,
    pub kind: AssetKind,
    pub title: String,
    /// Newest first; the first is the current version.
    pub versions: Vec<AssetVersion>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

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
    pub page: Option<u64>,
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
    pub listings: Vec<Listing>,
}

/// A user the development sign-in page offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevUser {
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
}

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
