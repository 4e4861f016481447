//! Publishing a release as a new version of a marketplace listing: the job that does it
//! (`PublishVersion`, run by the server's worker through the Marketplace Catalog API)
//! and what it reads from and writes to the catalogue.
//!
//! By default only the newest stable release publishes (a backport patch does not);
//! `publish_backports` on a listing changes that. Every architecture of the product is a
//! version of its own; the usage instructions and release notes come from the listing's
//! live copy revision, else its newest approved one, and the delivery options from the
//! product's delivery configuration. The copy itself is published on its own
//! (`copy::PublishCopy`).

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

/// Everything a version publish sends, read from the catalogue: one version per
/// architecture of the product (a version's delivery options share one image), each sent
/// as its own change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishPlan {
    pub listing_id: i32,
    pub entity_name: String,
    pub entity_id: Option<String>,
    pub version: String,
    /// The copy revision the usage instructions and release notes come from.
    pub copy_revision: i32,
    pub usage_instructions: String,
    /// The copy's release notes template, rendered for this release.
    pub release_notes: String,
    /// How the product's versions are delivered.
    pub delivery: DeliveryConfig,
    /// One per architecture of the product, the first architecture first.
    pub targets: Vec<VersionTarget>,
}

/// One architecture's version of a release on a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTarget {
    pub arch: Arch,
    /// `GitLab Premium 17.5.1 Release`, or `… Release (arm64)` for a further architecture.
    pub version_title: String,
    /// The architecture's image in [`IMAGE_REGION`].
    pub image_id: String,
}

/// `GitLab Premium 17.5.1 Release`, as GitLab titles marketplace versions.
pub fn version_title(entity_name: &str, version: &str) -> String {
    format!("{entity_name} {version} Release")
}

/// The title of one architecture's version: the product's first architecture keeps
/// [`version_title`]; any other is `GitLab Premium 17.5.1 Release (arm64)`.
pub fn arch_version_title(entity_name: &str, version: &str, arch: Arch, first: bool) -> String {
    let title = version_title(entity_name, version);
    if first {
        title
    } else {
        format!("{title} ({arch})")
    }
}

/// The title of each architecture's version of `version` on a listing, the first
/// architecture first.
pub async fn version_titles(
    db: &impl ConnectionTrait,
    listing_id: i32,
    version: &str,
) -> AppResult<Vec<(Arch, String)>> {
    let l = super::listings::find_model(db, listing_id).await?;
    let archs = super::products::architectures_of(db, l.product_id).await?;
    Ok(archs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                a.arch,
                arch_version_title(&l.entity_name, version, a.arch, i == 0),
            )
        })
        .collect())
}

/// Whether every architecture's version of `version` is on the listing: the first
/// architecture's version row when so.
pub async fn published_version(
    db: &impl ConnectionTrait,
    listing_id: i32,
    version: &str,
) -> AppResult<Option<listing_version::Model>> {
    let titles: Vec<String> = version_titles(db, listing_id, version)
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let rows = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(listing_id))
        .filter(listing_version::Column::Title.is_in(titles.clone()))
        .all(db)
        .await?;
    if titles.is_empty() || !titles.iter().all(|t| rows.iter().any(|r| &r.title == t)) {
        return Ok(None);
    }
    Ok(rows.into_iter().find(|r| r.title == titles[0]))
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
    let copy = copy::publishing_revision(db, l.id).await?.ok_or_else(|| {
        AppError::conflict(
            "copy",
            format!(
                "{} has no approved copy: its usage instructions and release notes come from it. Approve its copy first.",
                l.entity_name
            ),
        )
    })?;
    let archs = super::products::architectures_of(db, p.id).await?;
    if archs.is_empty() {
        return Err(AppError::conflict(
            "release",
            format!("{} has no architectures to publish", p.name),
        ));
    }
    let mut targets = Vec::with_capacity(archs.len());
    for (i, a) in archs.iter().enumerate() {
        let image = images::lookup(
            db,
            &LookupQuery {
                release: release.version.clone(),
                product: p.slug.clone(),
                arch: a.arch.as_str().into(),
                region: IMAGE_REGION.into(),
                partner: Some(partner.slug.clone()),
            },
        )
        .await
        .map_err(|e| {
            AppError::conflict(
                "release",
                format!(
                    "{} {} ({}) has no image in {IMAGE_REGION} yet ({}): build it first",
                    p.name, release.version, a.arch, e.message
                ),
            )
        })?;
        if image.image_id.is_empty() || image.state == RegionImageState::Pending {
            return Err(AppError::conflict(
                "release",
                format!(
                    "the {} image of {} {} in {IMAGE_REGION} is not ready yet",
                    a.arch, p.name, release.version
                ),
            ));
        }
        targets.push(VersionTarget {
            arch: a.arch,
            version_title: arch_version_title(&l.entity_name, &release.version, a.arch, i == 0),
            image_id: image.image_id,
        });
    }
    let release_notes = copy::render_release_notes(
        &copy.fields.release_notes_template,
        &release.version,
        &releases::notes_link(&release),
    );
    Ok(PublishPlan {
        listing_id: l.id,
        entity_name: l.entity_name,
        entity_id: l.entity_id,
        version: release.version,
        copy_revision: copy.id,
        usage_instructions: copy.fields.usage_instructions,
        release_notes,
        delivery: super::products::delivery_of(&p)?,
        targets,
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
    if published_version(txn, listing_id, &version)
        .await?
        .is_some()
    {
        let titles: Vec<String> = version_titles(txn, listing_id, &version)
            .await?
            .into_iter()
            .map(|(_, t)| format!("'{t}'"))
            .collect();
        let verb = if titles.len() == 1 { "is" } else { "are" };
        return Err(AppError::conflict(
            "release",
            format!("{} {verb} already published", titles.join(" and ")),
        ));
    }
    let plan = plan(txn, &payload, true).await?;
    if let Some(j) = job::Entity::find()
        .filter(job::Column::Kind.is_in([PublishVersion::NAME, copy::PublishCopy::NAME]))
        .filter(job::Column::State.is_in(ACTIVE))
        .filter(job::Column::GroupKey.eq(group(listing_id)))
        .one(txn)
        .await?
    {
        return Err(AppError::conflict(
            "release",
            format!(
                "job {} is already {} on {}: one at a time",
                j.id,
                if j.kind == copy::PublishCopy::NAME {
                    "publishing copy"
                } else {
                    "publishing"
                },
                plan.entity_name
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
            summary: format!(
                "started publishing {} {} (job {})",
                plan.entity_name, plan.version, j.id
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(j)
}

/// Publishes of one listing (versions and copy) share a group, so only one runs at a time.
pub fn group(listing_id: i32) -> String {
    copy::publish_group(listing_id)
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

/// Records one architecture's published version in the catalogue, with its architecture;
/// recording it twice changes nothing.
pub async fn record(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    plan: &PublishPlan,
    target: &VersionTarget,
    delivery_option_id: &str,
) -> AppResult<()> {
    actor.require(Permission::ManageCatalogue)?;
    let find = || {
        listing_version::Entity::find()
            .filter(listing_version::Column::ListingId.eq(plan.listing_id))
            .filter(listing_version::Column::Title.eq(target.version_title.clone()))
    };
    if find().one(db).await?.is_none() {
        super::listings::record_version(
            db,
            actor,
            now,
            plan.listing_id,
            Some(&plan.version),
            &target.version_title,
            Some(delivery_option_id),
            ListingVersionVisibility::Public,
        )
        .await?;
    }
    if let Some(v) = find().one(db).await?
        && v.arch != Some(target.arch)
    {
        let mut active: listing_version::ActiveModel = v.into();
        active.arch = Set(Some(target.arch));
        active.update(db).await?;
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
    let publishes = [PublishVersion::NAME, copy::PublishCopy::NAME];
    if !publishes.contains(&j.kind.as_str()) || j.state != JobState::Blocked {
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
