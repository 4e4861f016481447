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
    /// What happened: `create`, `approve`, `reject`, `sign_off`…
    pub action: Option<String>,
    /// First day to include, `YYYY-MM-DD` (UTC).
    pub from: Option<String>,
    /// Last day to include, `YYYY-MM-DD` (UTC).
    pub to: Option<String>,
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

// ---------------------------------------------------------------------------------------
// The process: workflows, tasks, the maintenance clock.

/// A person, as lists and pickers show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserRef {
    pub id: i32,
    pub username: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskLink {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Task {
    pub id: i32,
    pub workflow_id: i32,
    pub stage_key: String,
    pub title: String,
    pub description: String,
    /// The team that owns the task.
    pub team: Role,
    /// Whether the stage waits for it; optional tasks can be skipped.
    pub required: bool,
    pub state: TaskState,
    pub assignee: Option<UserRef>,
    pub due_on: Option<NaiveDate>,
    /// When the partner must have answered, while the task waits on them.
    pub response_due_on: Option<NaiveDate>,
    /// Set when the partner did not answer in time and Partnerships took it over.
    pub escalated_at: Option<DateTime<Utc>>,
    pub links: Vec<TaskLink>,
    /// The build job doing the work, for image updates.
    pub job_id: Option<i32>,
    pub job_state: Option<JobState>,
    pub arch: Option<Arch>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Stage {
    pub id: i32,
    pub key: String,
    pub name: String,
    pub team: Role,
    /// Keys of the stages that must be done before this one starts.
    pub depends_on: Vec<String>,
    pub state: StageState,
    pub completed_at: Option<DateTime<Utc>>,
    pub tasks: Vec<Task>,
}

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
pub struct WorkflowSummary {
    pub id: i32,
    pub kind: WorkflowKind,
    pub title: String,
    pub partner_slug: String,
    pub partner_name: String,
    pub product_slug: Option<String>,
    pub product_name: Option<String>,
    pub release: Option<String>,
    pub security: bool,
    pub state: WorkflowState,
    pub tasks_done: u32,
    pub tasks_total: u32,
    pub escalations: u32,
    pub sla: Option<Sla>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignOff {
    pub team: Role,
    pub username: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// What a first-time image's launch still waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LaunchGate {
    pub technical_done: bool,
    pub listing_id: Option<i32>,
    /// The approved copy revision the launch would use.
    pub approved_revision: Option<i32>,
    pub copy_approved: bool,
    pub missing_sign_offs: Vec<Role>,
    /// Why the launch cannot be approved yet; empty when it can.
    pub blockers: Vec<String>,
}

impl LaunchGate {
    pub fn ready(&self) -> bool {
        self.blockers.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Workflow {
    pub summary: WorkflowSummary,
    pub stages: Vec<Stage>,
    pub sign_offs: Vec<SignOff>,
    pub launch: Option<LaunchGate>,
    pub launched_at: Option<DateTime<Utc>>,
    pub launched_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskComment {
    pub id: i32,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A task with its context, for the task page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskDetail {
    pub task: Task,
    pub workflow: WorkflowSummary,
    pub stage_name: String,
    pub stage_state: StageState,
    /// Why the stage cannot start yet, if it cannot.
    pub blocked_by: Vec<String>,
    pub comments: Vec<TaskComment>,
    /// People of the task's team, who it can be assigned to.
    pub assignable: Vec<UserRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
pub struct WorkflowFilter {
    /// `first_time_image` or `maintenance`.
    pub kind: Option<String>,
    /// `open`, `done` or `launched`.
    pub state: Option<String>,
    pub page: Option<u64>,
}

/// Starts a first-time image project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FirstTimeInput {
    /// Partner slug.
    pub partner: String,
    /// Product slug (of that partner); may be left empty while the product is scoped.
    #[serde(default)]
    pub product: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskStateInput {
    pub state: String,
    /// Required when the task waits on the partner: when they must have answered.
    #[serde(default)]
    pub response_due_on: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskAssignInput {
    /// Username; empty to unassign.
    #[serde(default)]
    pub assignee: String,
    /// `YYYY-MM-DD`; empty for none.
    #[serde(default)]
    pub due_on: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskLinkInput {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignOffInput {
    /// The team signing off; the signer must belong to it.
    pub team: String,
    #[serde(default)]
    pub comment: String,
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
}

// ---------------------------------------------------------------------------------------
// Listing copy and its approvals.

/// The marketing copy of a listing, as one revision holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyFields {
    pub title: String,
    pub short_description: String,
    /// Markdown.
    pub long_description: String,
    pub highlights: Vec<String>,
    pub usage_instructions: String,
    pub release_notes_template: String,
    pub categories: Vec<String>,
}

/// A save of listing copy as the form sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyInput {
    /// The revision this edit started from (0 for the first one). A save on top of a
    /// revision that has been replaced is refused as a conflict.
    pub base_revision: i32,
    pub title: String,
    pub short_description: String,
    pub long_description: String,
    /// One highlight per line.
    pub highlights: String,
    pub usage_instructions: String,
    pub release_notes_template: String,
    /// Comma-separated.
    pub categories: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyReview {
    /// The team that reviewed.
    pub stage: Role,
    /// `approved` or `rejected`.
    pub decision: String,
    pub username: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyRevisionSummary {
    pub id: i32,
    pub number: i32,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub state: CopyState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyRevision {
    pub id: i32,
    pub listing_id: i32,
    pub number: i32,
    pub fields: CopyFields,
    pub author: String,
    pub author_id: i32,
    pub created_at: DateTime<Utc>,
    pub state: CopyState,
    /// Every review of this exact revision, oldest first.
    pub reviews: Vec<CopyReview>,
    pub publish_marked_at: Option<DateTime<Utc>>,
    pub publish_marked_by: Option<String>,
}

impl CopyRevision {
    /// The rejection that sent this revision back to draft, if that is where it stands.
    pub fn rejection(&self) -> Option<&CopyReview> {
        if self.state != CopyState::Draft {
            return None;
        }
        self.reviews.iter().rev().find(|r| r.decision == "rejected")
    }
}

/// A listing's copy: the newest revision, the history and the approved one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingCopy {
    pub listing_id: i32,
    pub listing_title: String,
    pub product_name: String,
    pub partner_slug: String,
    pub head: Option<CopyRevision>,
    pub revisions: Vec<CopyRevisionSummary>,
    /// The newest approved revision: what a publish would use.
    pub approved_revision: Option<i32>,
}

/// The answer to a save: the new revision, or a conflict showing both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CopySave {
    Saved {
        revision: CopyRevision,
    },
    /// Someone saved a newer revision since this edit started; nothing was written.
    Conflict {
        message: String,
        yours: CopyFields,
        theirs: CopyRevision,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReviewInput {
    /// The revision reviewed: the review is bound to it.
    pub revision: i32,
    /// Required for a rejection.
    #[serde(default)]
    pub comment: String,
}

/// One row of a side-by-side diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DiffRow {
    pub left: Option<String>,
    pub right: Option<String>,
    /// `same`, `changed`, `removed` or `added`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FieldDiff {
    pub field: String,
    pub label: String,
    pub changed: bool,
    pub rows: Vec<DiffRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyDiff {
    pub left: CopyRevisionSummary,
    pub right: CopyRevisionSummary,
    pub fields: Vec<FieldDiff>,
}

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

// ---------------------------------------------------------------------------------------
// Notifications and outbound webhooks.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Notification {
    pub id: i32,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    /// A path in the portal.
    pub link: String,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Inbox {
    pub items: Vec<Notification>,
    pub unread: u64,
    /// Notifications in all, read or not.
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Webhook {
    pub id: i32,
    pub name: String,
    pub url: String,
    /// The kinds of event sent; empty for all.
    pub events: Vec<NotificationKind>,
    pub active: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookInput {
    pub name: String,
    /// `https://…` (or `http://` for a receiver on this network).
    pub url: String,
    /// Comma-separated event kinds; empty for all.
    #[serde(default)]
    pub events: String,
    /// The HMAC key; empty to have one generated.
    #[serde(default)]
    pub secret: String,
}

/// A new webhook and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookCreated {
    pub webhook: Webhook,
    pub secret: String,
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

/// Public images of one region against the quota the account has there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RegionQuota {
    pub region: String,
    /// Public images the catalogue knows in this region (deprecated ones are still public).
    pub public_images: i32,
    pub quota: i32,
    /// Whether the quota was set for this region (otherwise AWS's default).
    pub quota_set: bool,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RetentionPolicyInput {
    pub keep_newest: String,
    pub support_days: String,
    /// deprecate, make_private or deregister.
    pub action: String,
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
    pub quota: String,
}

/// How a listing publishes and when restrictions are proposed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingPolicyInput {
    /// Whether a release that is not the newest stable one (a backport patch) publishes.
    #[serde(default)]
    pub publish_backports: bool,
    /// Public versions from which restrictions are proposed (1 to the version limit).
    pub restrict_threshold: String,
    /// Versions published within this many days are never restricted.
    pub keep_recent_days: String,
}

/// A personal API token, as its owner sees it (never the token itself after creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiToken {
    pub id: i32,
    pub name: String,
    /// The first characters of the token, to recognise it by.
    pub prefix: String,
    pub scopes: Vec<TokenScope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whose token it is (admins see everyone's).
    pub username: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenInput {
    pub name: String,
    /// read, write, jobs.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Days until it stops working, 1 to 365.
    pub expires_in_days: String,
}

/// A new token and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenCreated {
    pub token: ApiToken,
    pub secret: String,
}
