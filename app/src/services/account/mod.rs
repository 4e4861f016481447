//! The account as it is. The cloud sync (job kind `cloud_sync`, run by
//! `server::jobs::cloud_sync`) reads, per target region, the images the account owns, the
//! public-image quota Service Quotas reports and the images in the Recycle Bin, and per
//! marketplace listing the versions of its entity; the server turns what it read into an
//! [`AccountSnapshot`] and [`apply`] brings it into the catalogue:
//!
//! - an image the catalogue knows is linked to it; one of the portal's builds still under
//!   way (tagged `portal:job`) waits for its build to record it; one whose tags or name say
//!   its product, architecture and release is imported; anything else is kept as made
//!   outside the portal;
//! - a marketplace version the catalogue lacks is recorded as added in the console;
//! - what differs is a drift item (`drift`), open from when a sync first saw it until
//!   someone resolves it ([`resolve`]) or a sync no longer sees it;
//! - the images behind public versions are marked live, and the protection they need is
//!   planned ([`SyncReport::protect`]) for the server to apply;
//! - a region near its quota and a listing past its threshold warn once (`warnings`).
//!
//! Counts against the quota (`retention::regions`) and the version limit
//! (`listings`) come from what the sync read once it has read them.

mod drift;
mod imports;
mod matching;
mod sync;
mod warnings;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionSession,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};

pub use self::{
    drift::{drift, drift_count, drift_item, resolve},
    sync::apply,
};
use super::{
    audit::{self, Change},
    begin_write, claim_turn,
    entities::{
        account_image, account_listing, account_region, image_quota, image_region, image_version,
        job, listing, listing_version, product_architecture,
    },
    jobs::{self, JobKind},
    publish,
    retention::aws_products,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
};

/// The cloud sync job: the account read and brought into the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudSync {
    /// Who asked for it: a person's username, or `portal` for the start and the schedule.
    pub requested_by: String,
}

impl JobKind for CloudSync {
    const NAME: &'static str = "cloud_sync";
    const MAX_ATTEMPTS: i32 = 5;
}

/// The schedule mark of the periodic sync.
pub const SCHEDULE_MARK: &str = "cloud_sync";

/// Who resolves a difference a sync no longer sees.
pub const PORTAL: &str = "portal";

/// What one sync read of the account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub regions: Vec<RegionSnapshot>,
    pub listings: Vec<ListingSnapshot>,
}

/// What one sync read of one region; a read that failed has its error instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionSnapshot {
    pub region: String,
    /// Every image the account owns there (DescribeImages, `Owners=self`).
    pub images: Option<Vec<SeenImage>>,
    pub images_error: Option<String>,
    /// The public-image quota (Service Quotas, `ec2` / `L-0E3CBAB9`).
    pub quota: Option<i32>,
    pub quota_error: Option<String>,
    /// The ids of the images in the Recycle Bin.
    pub recycle_bin: Option<Vec<String>>,
    pub recycle_bin_error: Option<String>,
}

/// One image the account owns, as EC2 describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeenImage {
    pub image_id: String,
    pub name: String,
    /// EC2's architecture (`x86_64`, `arm64`).
    pub arch: String,
    /// EC2's state (`available`, `pending`, …).
    pub state: String,
    pub public: bool,
    pub deprecation_time: Option<DateTime<Utc>>,
    pub created_on: Option<DateTime<Utc>>,
    pub tags: std::collections::BTreeMap<String, String>,
    /// Deregistration protection is on.
    pub protected: bool,
}

/// What one sync read of one listing's marketplace entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListingSnapshot {
    pub listing_id: i32,
    pub entity_id: String,
    pub versions: Option<Vec<SeenVersion>>,
    pub error: Option<String>,
}

/// One version of an entity, with its delivery option (one per version for AMI products).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeenVersion {
    pub version_id: String,
    pub delivery_option_id: String,
    pub title: String,
    /// As AWS says it: `Public`, `Restricted`, `Limited`…
    pub visibility: String,
    pub created: Option<DateTime<Utc>>,
    /// The source images of the version.
    pub amis: Vec<String>,
}

/// What a sync reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTargets {
    pub regions: Vec<String>,
    pub listings: Vec<ListingTarget>,
}

/// A listing to read: by its entity id when known, otherwise found by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingTarget {
    pub listing_id: i32,
    pub entity_id: Option<String>,
    pub entity_name: String,
}

/// What a sync did: the job's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    pub regions: usize,
    pub listings: usize,
    pub images: usize,
    pub imported: usize,
    pub outside: usize,
    pub drift_opened: usize,
    pub drift_resolved: usize,
    pub incidents: usize,
    pub warnings: usize,
    /// Deregistration protection to turn on or off, for the server to do.
    pub protect: Vec<ProtectionChange>,
    /// The reads that failed, each with where.
    pub errors: Vec<String>,
}

/// Deregistration protection one image needs turned on or off, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionChange {
    pub region: String,
    pub image_id: String,
    pub enable: bool,
    pub why: String,
}

/// Which open drift a banner counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriftScope {
    All,
    Product(i32),
    Listing(i32),
    Region(String),
    /// Every item about an image.
    PublicImages,
}

/// How these products name and tag their images: each architecture's name template and
/// `Type` tag, in the catalogue's order.
async fn namings(
    db: &impl ConnectionTrait,
    products: impl IntoIterator<Item = i32>,
) -> AppResult<Vec<matching::Naming>> {
    Ok(product_architecture::Entity::find()
        .filter(product_architecture::Column::ProductId.is_in(products))
        .order_by_asc(product_architecture::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|a| matching::Naming {
            product_id: a.product_id,
            arch: a.arch,
            template: a.image_name_template,
            type_tag: a.type_tag,
        })
        .collect())
}

/// What a sync reads: every AWS product's target regions and build region, the
/// marketplace's region and every region with a quota set by hand; every AWS listing.
pub async fn targets(db: &impl ConnectionTrait) -> AppResult<SyncTargets> {
    let mut regions = std::collections::BTreeSet::from([publish::IMAGE_REGION.to_owned()]);
    for (_, p) in aws_products(db).await? {
        regions.extend(serde_json::from_str::<Vec<String>>(&p.target_regions).unwrap_or_default());
        regions.insert(p.build_region);
    }
    regions.extend(
        image_quota::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|q| q.region),
    );
    let listings = listing::Entity::find()
        .filter(listing::Column::Marketplace.eq(Cloud::Aws))
        .order_by_asc(listing::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|l| ListingTarget {
            listing_id: l.id,
            entity_id: l.entity_id.filter(|e| !e.is_empty()),
            entity_name: l.entity_name,
        })
        .collect();
    Ok(SyncTargets {
        regions: regions.into_iter().collect(),
        listings,
    })
}

const OPEN_JOB: [JobState; 3] = [JobState::Queued, JobState::Running, JobState::Waiting];

/// The sync queued or under way, if there is one.
async fn open_sync(db: &impl ConnectionTrait) -> AppResult<Option<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::Kind.eq(CloudSync::NAME))
        .filter(job::Column::State.is_in(OPEN_JOB))
        .order_by_desc(job::Column::Id)
        .one(db)
        .await?)
}

/// Someone asks for a sync now: answers the one queued or under way, if there is one,
/// otherwise queues one.
pub async fn request_sync(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
) -> AppResult<Job> {
    actor.require(Permission::SyncCloud)?;
    let txn = begin_write(db).await?;
    let (id, summary) = match open_sync(&txn).await? {
        Some(j) => (
            j.id,
            format!("asked for a cloud sync: job {} is already under way", j.id),
        ),
        None => {
            let j = CloudSync {
                requested_by: actor.username.clone(),
            }
            .enqueue(&txn, now, Some(actor.id), Some(SCHEDULE_MARK.to_owned()))
            .await?;
            (j.id, format!("asked for a cloud sync (job {})", j.id))
        }
    };
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "sync_cloud",
            object_type: "job",
            object_id: id.to_string(),
            summary,
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    jobs::get(db, id).await
}

/// The portal's own sync (at start, on the schedule): the id of the one queued or under
/// way, or of a new one.
pub async fn queue_sync(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    requested_by: &str,
) -> AppResult<i32> {
    let txn = begin_write(db).await?;
    let id = match open_sync(&txn).await? {
        Some(j) => j.id,
        None => {
            CloudSync {
                requested_by: requested_by.to_owned(),
            }
            .enqueue(&txn, now, None, Some(SCHEDULE_MARK.to_owned()))
            .await?
            .id
        }
    };
    txn.commit().await?;
    Ok(id)
}

/// The periodic sync: queues one when `every` has passed since the last one was queued by
/// the schedule in any process, and answers its id; `None` otherwise, and always when
/// `every` is zero (only at start and on demand).
pub async fn scheduled_sync(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    every: Duration,
) -> AppResult<Option<i32>> {
    if every <= Duration::zero() || !claim_turn(db, SCHEDULE_MARK, now, every).await? {
        return Ok(None);
    }
    Ok(Some(queue_sync(db, now, PORTAL).await?))
}

/// Records the deregistration protection the server turned on or off for an image.
pub async fn record_protection(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    region: &str,
    image_id: &str,
    enabled: bool,
) -> AppResult<()> {
    account_image::Entity::update_many()
        .col_expr(account_image::Column::Protected, Expr::value(enabled))
        .col_expr(account_image::Column::ChangedAt, Expr::value(now))
        .filter(account_image::Column::Region.eq(region))
        .filter(account_image::Column::ImageId.eq(image_id))
        .filter(account_image::Column::Protected.ne(enabled))
        .exec(db)
        .await?;
    Ok(())
}

/// The images behind a listing's public versions, as the catalogue knows them: the image
/// of each public version's release in the marketplace's region.
pub async fn live_amis(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<Vec<String>> {
    let l = listing::Entity::find_by_id(listing_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("listing {listing_id}")))?;
    let releases: Vec<i32> = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(listing_id))
        .filter(listing_version::Column::Visibility.eq(ListingVersionVisibility::Public))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|v| v.release_id)
        .collect();
    let versions: Vec<i32> = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(l.product_id))
        .filter(image_version::Column::ReleaseId.is_in(releases))
        .all(db)
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    let mut ids: Vec<String> = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.is_in(versions))
        .filter(image_region::Column::Region.eq(publish::IMAGE_REGION))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| r.image_id)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The cloud page: what the syncs read of every region and listing, the newest sync and
/// the open drift.
pub async fn status(
    db: &(impl ConnectionTrait + TransactionTrait),
    _now: DateTime<Utc>,
    every: Duration,
) -> AppResult<CloudStatus> {
    let targets = targets(db).await?;
    let read: Vec<account_region::Model> = account_region::Entity::find().all(db).await?;
    let mut names: std::collections::BTreeSet<String> = targets.regions.into_iter().collect();
    names.extend(read.iter().map(|r| r.region.clone()));
    let images = account_image::Entity::find()
        .filter(account_image::Column::GoneAt.is_null())
        .all(db)
        .await?;
    let regions = names
        .into_iter()
        .map(|region| {
            let row = read.iter().find(|r| r.region == region);
            let here: Vec<&account_image::Model> =
                images.iter().filter(|i| i.region == region).collect();
            let count = |f: &dyn Fn(&account_image::Model) -> bool| {
                here.iter().filter(|i| f(i)).count() as i32
            };
            AccountRegion {
                service_quota: row.and_then(|r| r.quota),
                quota_checked_at: row.and_then(|r| r.quota_checked_at),
                quota_error: row.and_then(|r| r.quota_error.clone()),
                images_synced_at: row.and_then(|r| r.images_synced_at),
                images_error: row.and_then(|r| r.images_error.clone()),
                images: here.len() as i32,
                public_images: count(&|i| i.public),
                outside_images: count(&|i| i.source == ImageSource::Outside),
                protected_images: count(&|i| i.protected),
                recycle_bin_public: row.map_or(0, |r| r.recycle_bin_public),
                region,
            }
        })
        .collect();
    let read_listings: std::collections::HashMap<i32, account_listing::Model> =
        account_listing::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.listing_id, a))
            .collect();
    let listings = listing::Entity::find()
        .filter(listing::Column::Marketplace.eq(Cloud::Aws))
        .order_by_asc(listing::Column::EntityName)
        .all(db)
        .await?
        .into_iter()
        .map(|l| {
            let a = read_listings.get(&l.id);
            AccountListing {
                listing_id: l.id,
                entity_id: a
                    .map(|a| a.entity_id.clone())
                    .or(l.entity_id)
                    .unwrap_or_default(),
                entity_name: l.entity_name,
                public_versions: a.map_or(0, |a| a.public_versions),
                total_versions: a.map_or(0, |a| a.total_versions),
                version_limit: l.version_limit,
                restrict_threshold: l.restrict_threshold,
                synced_at: a.and_then(|a| a.synced_at),
                error: a.and_then(|a| a.error.clone()),
            }
        })
        .collect();
    let last_sync = job::Entity::find()
        .filter(job::Column::Kind.eq(CloudSync::NAME))
        .order_by_desc(job::Column::Id)
        .one(db)
        .await?
        .map(jobs::to_dto)
        .transpose()?;
    Ok(CloudStatus {
        regions,
        listings,
        last_sync,
        drift: drift_count(db, DriftScope::All).await?,
        every_minutes: every.num_minutes(),
    })
}
