//! Publishing a release as a new version of a marketplace listing: the job that does it
//! (`PublishVersion`, run by the server's worker through the Marketplace Catalog API)
//! and what it reads from and writes to the catalogue.
//!
//! By default only the newest stable release publishes (a backport patch does not);
//! `publish_backports` on a listing changes that. The listing's copy is sent along only
//! from an approved revision.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{
    audit::{self, Change},
    copy,
    entities::{job, listing, listing_version, partner, product},
    images,
    jobs::{self, JobKind},
    releases,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
};

/// The region whose image backs a marketplace version.
pub const IMAGE_REGION: &str = "us-east-1";

/// The publish job: a release as a new version of a listing (run by
/// `server::jobs::publish_version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishVersion {
    pub listing_id: i32,
    pub version: String,
}

impl JobKind for PublishVersion {
    const NAME: &'static str = "publish_version";
    const MAX_ATTEMPTS: i32 = 10;
}

/// Everything the job sends, read from the catalogue.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub listing_id: i32,
    pub entity_name: String,
    pub entity_id: Option<String>,
    pub version: String,
    /// `GitLab Premium 17.5.1 Release`.
    pub version_title: String,
    pub release_notes: String,
    pub image_id: String,
    pub operating_system: (String, String),
    /// The approved copy, sent as UpdateInformation.
    pub copy: Option<CopyRevision>,
}

/// `GitLab Premium 17.5.1 Release`, as GitLab titles marketplace versions.
pub fn version_title(entity_name: &str, version: &str) -> String {
    format!("{entity_name} {version} Release")
}

/// Reads what a publish of `version` on a listing sends. With `check_policy`, also that the
/// release may publish (the newest stable one, unless backports are on); a running job
/// skips that check, so a release that was newest when its publish started finishes even if
/// a newer one is recorded meanwhile.
pub async fn plan(
    db: &impl ConnectionTrait,
    payload: &PublishVersion,
    check_policy: bool,
) -> AppResult<PublishPlan> {
    let l = super::listings::find_model(db, payload.listing_id).await?;
    let p = product::Entity::find_by_id(l.product_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("listing without product", l.id))?;
    let partner = partner::Entity::find_by_id(p.partner_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("product without partner", p.id))?;
    let release = releases::find_model(db, &payload.version)
        .await
        .map_err(|e| AppError::conflict("release", e.message))?;
    if release.pre.is_some() {
        return Err(AppError::conflict(
            "release",
            format!(
                "{} is a release candidate: only releases publish",
                release.version
            ),
        ));
    }
    let latest = releases::latest_stable(db).await?;
    if check_policy && !l.publish_backports && latest.as_ref().is_some_and(|r| r.id != release.id) {
        return Err(AppError::conflict(
            "release",
            format!(
                "only the newest stable release ({}) publishes on {}; {} is older. Turn on backport publishing for this listing to publish it.",
                latest.map(|r| r.version).unwrap_or_default(),
                l.entity_name,
                release.version
            ),
        ));
    }
    let arch = super::products::architectures_of(db, p.id)
        .await?
        .first()
        .map(|a| a.arch)
        .unwrap_or(Arch::Amd64);
    let image = images::lookup(
        db,
        &LookupQuery {
            release: release.version.clone(),
            product: p.slug.clone(),
            arch: arch.as_str().into(),
            region: IMAGE_REGION.into(),
            partner: Some(partner.slug.clone()),
        },
    )
    .await
    .map_err(|e| {
        AppError::conflict(
            "release",
            format!(
                "{} {} has no image in {IMAGE_REGION} yet ({}): build it first",
                p.name, release.version, e.message
            ),
        )
    })?;
    if image.image_id.is_empty() || image.state == RegionImageState::Pending {
        return Err(AppError::conflict(
            "release",
            format!(
                "the image of {} {} in {IMAGE_REGION} is not ready yet",
                p.name, release.version
            ),
        ));
    }
    let copy = copy::approved_revision(db, l.id).await?;
    Ok(PublishPlan {
        listing_id: l.id,
        version_title: version_title(&l.entity_name, &release.version),
        release_notes: format!(
            "GitLab {}: https://about.gitlab.com/releases/categories/releases/",
            release.version
        ),
        entity_name: l.entity_name,
        entity_id: l.entity_id,
        version: release.version,
        image_id: image.image_id,
        operating_system: ("UBUNTU".into(), "24.04".into()),
        copy,
    })
}

const ACTIVE: [JobState; 4] = [
    JobState::Queued,
    JobState::Running,
    JobState::Waiting,
    JobState::Blocked,
];

/// Queues the publish of a release on a listing.
pub async fn start(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    version: &str,
) -> AppResult<Job> {
    actor.require(Permission::RunJobs)?;
    let txn = super::begin_write(db).await?;
    let j = start_in(&txn, actor, now, listing_id, version).await?;
    txn.commit().await?;
    jobs::get(db, j.id).await
}

/// Queues the publish of a release on a listing in the caller's transaction (after its
/// permission check).
pub(crate) async fn start_in(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    version: &str,
) -> AppResult<job::Model> {
    let version = releases::find_model(txn, version)
        .await
        .map_err(|e| AppError::conflict("release", e.message))?
        .version;
    let payload = PublishVersion {
        listing_id,
        version: version.clone(),
    };
    let title = version_title(
        &super::listings::find_model(txn, listing_id)
            .await?
            .entity_name,
        &version,
    );
    let published = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(listing_id))
        .filter(listing_version::Column::Title.eq(title.clone()))
        .one(txn)
        .await?;
    if published.is_some() {
        return Err(AppError::conflict(
            "release",
            format!("'{title}' is already published"),
        ));
    }
    let plan = plan(txn, &payload, true).await?;
    if let Some(j) = job::Entity::find()
        .filter(job::Column::Kind.eq(PublishVersion::NAME))
        .filter(job::Column::State.is_in(ACTIVE))
        .filter(job::Column::GroupKey.eq(group(listing_id)))
        .one(txn)
        .await?
    {
        return Err(AppError::conflict(
            "release",
            format!(
                "job {} is already publishing on {}: one at a time",
                j.id, plan.entity_name
            ),
        ));
    }
    let j = payload
        .enqueue(txn, now, Some(actor.id), Some(group(listing_id)))
        .await?;
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "publish",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!("started publishing '{}' (job {})", plan.version_title, j.id),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(j)
}

/// Publishes of one listing share a group, so only one runs at a time.
pub fn group(listing_id: i32) -> String {
    format!("publish:{listing_id}")
}

/// Remembers the entity id found by name.
pub async fn set_entity_id(
    db: &impl ConnectionTrait,
    listing_id: i32,
    entity_id: &str,
) -> AppResult<()> {
    let l = super::listings::find_model(db, listing_id).await?;
    if l.entity_id.as_deref() != Some(entity_id) {
        let mut active: listing::ActiveModel = l.into();
        active.entity_id = Set(Some(entity_id.to_owned()));
        active.update(db).await?;
    }
    Ok(())
}

/// Records a published version in the catalogue; recording it twice changes nothing.
pub async fn record(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    plan: &PublishPlan,
    delivery_option_id: &str,
) -> AppResult<()> {
    actor.require(Permission::ManageCatalogue)?;
    let exists = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(plan.listing_id))
        .filter(listing_version::Column::Title.eq(plan.version_title.clone()))
        .one(db)
        .await?
        .is_some();
    if !exists {
        super::listings::record_version(
            db,
            actor,
            now,
            plan.listing_id,
            Some(&plan.version),
            &plan.version_title,
            Some(delivery_option_id),
            ListingVersionVisibility::Public,
        )
        .await?;
    }
    Ok(())
}

/// What blocks a publish: a change set the portal did not start, still open on the entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    pub change_set_id: String,
    pub name: Option<String>,
    pub started: Option<String>,
    pub status: String,
}

/// The change set a blocked publish job is stopped by, as its result records it.
pub(crate) fn blocker_of(j: &job::Model) -> Option<Blocker> {
    let result: serde_json::Value = serde_json::from_str(j.result.as_deref()?).ok()?;
    serde_json::from_value(result["blocked_by"].clone()).ok()
}

/// "Cancel it and retry": the job cancels the change set that blocks it through the API,
/// waits for CANCELLED and goes on.
pub async fn cancel_blocker_and_retry(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    job_id: i32,
) -> AppResult<Job> {
    actor.require(Permission::RunJobs)?;
    let txn = super::begin_write(db).await?;
    let j = job::Entity::find_by_id(job_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("job {job_id}")))?;
    if j.kind != PublishVersion::NAME || j.state != JobState::Blocked {
        return Err(AppError::conflict(
            "state",
            format!("job {job_id} is not a blocked publish"),
        ));
    }
    let blocker =
        blocker_of(&j).ok_or_else(|| AppError::internal("blocked job without blocker", job_id))?;
    let mut checkpoint: serde_json::Value = j
        .checkpoint
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    checkpoint["cancel"] = serde_json::Value::String(blocker.change_set_id.clone());
    let mut active: job::ActiveModel = j.into();
    active.checkpoint = Set(Some(checkpoint.to_string()));
    active.state = Set(JobState::Queued);
    active.run_at = Set(now);
    active.attempts = Set(0);
    active.finished_at = Set(None);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    jobs::log(
        &txn,
        job_id,
        now,
        "warn",
        &format!(
            "{} asked to cancel change set {} and retry",
            actor.username, blocker.change_set_id
        ),
    )
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "cancel_change_set",
            object_type: "job",
            object_id: job_id.to_string(),
            summary: format!(
                "cancel change set {} ({}) blocking job {job_id}, then retry",
                blocker.change_set_id,
                blocker.name.unwrap_or_default()
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    jobs::get(db, job_id).await
}

/// The publish jobs of a listing, newest first.
pub async fn jobs_of(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<Vec<Job>> {
    use sea_orm::{QueryOrder, QuerySelect};
    job::Entity::find()
        .filter(job::Column::GroupKey.eq(group(listing_id)))
        .order_by_desc(job::Column::Id)
        .limit(10)
        .all(db)
        .await?
        .into_iter()
        .map(jobs::to_dto)
        .collect()
}
