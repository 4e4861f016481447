//! Starting image builds: one product × release × architecture, or a whole release run
//! (every image-maintained AWS product and architecture), grouped as `release:<version>`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{
    DbResultExt,
    audit::{self, Change},
    entities::{image_version, job, partner, product, release},
    images,
    jobs::{self, JobKind},
    products, releases,
};
use crate::{
    domain::*,
    dto::{Job, RebuildInput, RebuildReason, ReleaseRun},
    error::{AppError, AppResult, Validator},
};

/// The build job: one product's image of one release and architecture, built in the build
/// region and copied to every target region (run by `server::jobs::build_image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildImage {
    pub partner: String,
    pub product: String,
    pub version: String,
    pub arch: Arch,
    /// Which image of the release × product × architecture this build makes: 1 for the
    /// first, 2 and up for rebuilds (named `… (rebuild N)`).
    #[serde(default = "first_image", skip_serializing_if = "is_first_image")]
    pub rebuild: i32,
}

fn first_image() -> i32 {
    1
}

fn is_first_image(n: &i32) -> bool {
    *n == 1
}

impl BuildImage {
    fn same_image(&self, other: &BuildImage) -> bool {
        (&self.partner, &self.product, &self.version, self.arch)
            == (&other.partner, &other.product, &other.version, other.arch)
    }
}

impl JobKind for BuildImage {
    const NAME: &'static str = "build_image";
    const MAX_ATTEMPTS: i32 = 8;
}

/// The group of a release run.
pub fn release_group(version: &str) -> String {
    format!("release:{version}")
}

const ACTIVE: [JobState; 3] = [JobState::Queued, JobState::Running, JobState::Waiting];

/// Starts the build of one image.
pub async fn start(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    product_slug: &str,
    version: &str,
    arch: Arch,
) -> AppResult<Job> {
    actor.require(Permission::RunJobs)?;
    let txn = super::begin_write(db).await?;
    let job = start_in(&txn, actor, now, partner_slug, product_slug, version, arch).await?;
    txn.commit().await?;
    jobs::get(db, job.id).await
}

/// Starts the build of one image in the caller's transaction (after its permission check).
pub(crate) async fn start_in(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    product_slug: &str,
    version: &str,
    arch: Arch,
) -> AppResult<job::Model> {
    let (partner, product) = products::find_model(txn, partner_slug, product_slug).await?;
    let release = releases::find_model(txn, version).await?;
    if partner.cloud != Cloud::Aws {
        return Err(AppError::conflict(
            "product",
            format!(
                "{} images are maintained by hand; the portal builds AWS images",
                partner.name
            ),
        ));
    }
    if !products::architectures_of(txn, product.id)
        .await?
        .iter()
        .any(|a| a.arch == arch)
    {
        return Err(AppError::conflict(
            "arch",
            format!("{} is not built for {arch}", product.name),
        ));
    }
    let payload = BuildImage {
        partner: partner.slug.clone(),
        product: product.slug.clone(),
        version: release.version.clone(),
        arch,
        rebuild: 1,
    };
    refuse_while_building(txn, &payload, &product.name).await?;
    let existing = images::versions_of(txn, product.id, release.id, arch).await?;
    if let Some(built) = images::current(&existing).filter(|iv| iv.state == ImageState::Available) {
        return Err(AppError::conflict(
            "build",
            format!(
                "{} exists already (image version {}); a new image of it is a rebuild: use Rebuild on its page, or POST /api/v1/images/{}/rebuild, with the reason",
                built.name, built.id, built.id
            ),
        ));
    }
    let job = payload
        .enqueue(
            txn,
            now,
            Some(actor.id),
            Some(release_group(&release.version)),
        )
        .await?;
    super::process::link_build(txn, actor, now, product.id, release.id, arch, job.id).await?;
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "build",
            object_type: "job",
            object_id: job.id.to_string(),
            summary: format!(
                "started the build of {} {} ({arch})",
                product.name, release.version
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(job)
}

/// Refuses a second build of an image while one of it is queued, running or waiting.
async fn refuse_while_building(
    db: &impl ConnectionTrait,
    payload: &BuildImage,
    product_name: &str,
) -> AppResult<()> {
    let active = job::Entity::find()
        .filter(job::Column::Kind.eq(BuildImage::NAME))
        .filter(job::Column::State.is_in(ACTIVE))
        .all(db)
        .await?;
    let running = active.into_iter().find(|j| {
        serde_json::from_str::<BuildImage>(&j.payload).is_ok_and(|p| p.same_image(payload))
    });
    match running {
        Some(j) => Err(AppError::conflict(
            "build",
            format!(
                "{product_name} {} ({}) is already being built by job {}",
                payload.version, payload.arch, j.id
            ),
        )),
        None => Ok(()),
    }
}

/// The longest note a rebuild keeps.
const REBUILD_NOTE_MAX: usize = 500;

/// Rebuilds an image version (a security fix, a new base image): starts a build of a new
/// image of the same release, product and architecture, with a name of its own
/// (`… (rebuild N)`). Once it is available it is the current image for lookups and
/// publishing, and the one it replaces is left to retention.
pub async fn rebuild(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    image_version_id: i32,
    input: &RebuildInput,
) -> AppResult<Job> {
    actor.require(Permission::RebuildImages)?;
    let mut v = Validator::new();
    let reason = v.check("reason", input.reason.parse::<RebuildReason>());
    let note = input.note.trim();
    if note.chars().count() > REBUILD_NOTE_MAX {
        v.add(
            "note",
            format!("keep the note to {REBUILD_NOTE_MAX} characters"),
        );
    }
    if note.chars().any(char::is_control) {
        v.add("note", "write the note on one line");
    }
    let reason = v.finish(|| reason)?;
    let why = if note.is_empty() {
        reason.label().to_owned()
    } else {
        format!("{}: {note}", reason.label())
    };
    let txn = super::begin_write(db).await?;
    let (job, _) = rebuild_in(&txn, actor, now, image_version_id, &why).await?;
    txn.commit().await?;
    jobs::get(db, job.id).await
}

/// Starts a rebuild in the caller's transaction (after its checks): the job and the new
/// image version it makes.
pub(crate) async fn rebuild_in(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    image_version_id: i32,
    why: &str,
) -> AppResult<(job::Model, image_version::Model)> {
    let old = image_version::Entity::find_by_id(image_version_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("image version {image_version_id}")))?;
    let p = product::Entity::find_by_id(old.product_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("image without product", old.id))?;
    let partner = partner::Entity::find_by_id(p.partner_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("product without partner", p.id))?;
    let release = release::Entity::find_by_id(old.release_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("image without release", old.id))?;
    if partner.cloud != Cloud::Aws {
        return Err(AppError::conflict(
            "product",
            format!(
                "{} images are maintained by hand; the portal builds AWS images",
                partner.name
            ),
        ));
    }
    let archs = products::architectures_of(txn, p.id).await?;
    let Some(arch) = archs.iter().find(|a| a.arch == old.arch) else {
        return Err(AppError::conflict(
            "arch",
            format!("{} is no longer built for {}", p.name, old.arch),
        ));
    };
    let all = images::versions_of(txn, p.id, release.id, old.arch).await?;
    if let Some(newer) = old.superseded_by {
        return Err(AppError::conflict(
            "image",
            format!(
                "{} was replaced by image version {newer}; rebuild the current image instead",
                old.name
            ),
        ));
    }
    if old.state != ImageState::Available {
        return Err(AppError::conflict(
            "image",
            format!(
                "{} is {}; only an available image is rebuilt (build it instead)",
                old.name,
                old.state.label().to_lowercase()
            ),
        ));
    }
    let number = all.iter().map(|iv| iv.rebuild).max().unwrap_or(1) + 1;
    let payload = BuildImage {
        partner: partner.slug.clone(),
        product: p.slug.clone(),
        version: release.version.clone(),
        arch: old.arch,
        rebuild: number,
    };
    refuse_while_building(txn, &payload, &p.name).await?;
    let version =
        Version::parse(&release.version).map_err(|e| AppError::internal("stored release", e))?;
    let new = image_version::ActiveModel {
        product_id: Set(p.id),
        release_id: Set(release.id),
        arch: Set(old.arch),
        name: Set(images::image_name(
            &arch.image_name_template,
            &version,
            number,
        )),
        state: Set(ImageState::Planned),
        created_at: Set(now),
        updated_at: Set(now),
        rebuild: Set(number),
        superseded_by: Set(None),
        superseded_at: Set(None),
        rebuild_reason: Set(Some(why.to_owned())),
        ..Default::default()
    }
    .insert(txn)
    .await
    .on_unique("image", "another rebuild of this image was just started")?;
    let job = payload
        .enqueue(
            txn,
            now,
            Some(actor.id),
            Some(release_group(&release.version)),
        )
        .await?;
    super::process::link_build(txn, actor, now, p.id, release.id, old.arch, job.id).await?;
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "rebuild",
            object_type: "image_version",
            object_id: old.id.to_string(),
            summary: format!(
                "started rebuild {number} of {} as {} (job {}), because: {why}",
                old.name, new.name, job.id
            ),
            before: audit::snapshot(&old),
            after: audit::snapshot(&new),
        },
    )
    .await?;
    Ok((job, new))
}

/// Starts a build of every image of a release that is not built or building yet.
pub async fn start_release(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    version: &str,
) -> AppResult<ReleaseRun> {
    actor.require(Permission::RunJobs)?;
    let release = releases::find_model(db, version).await?;
    let aws: Vec<partner::Model> = partner::Entity::find()
        .filter(partner::Column::Cloud.eq(Cloud::Aws))
        .all(db)
        .await?;
    for p in aws {
        let maintained = product::Entity::find()
            .filter(product::Column::PartnerId.eq(p.id))
            .filter(product::Column::MaintenanceMode.eq(MaintenanceMode::Image))
            .order_by_asc(product::Column::Id)
            .all(db)
            .await?;
        for pr in maintained {
            for arch in products::architectures_of(db, pr.id).await? {
                let built = image_version::Entity::find()
                    .filter(image_version::Column::ProductId.eq(pr.id))
                    .filter(image_version::Column::ReleaseId.eq(release.id))
                    .filter(image_version::Column::Arch.eq(arch.arch))
                    .filter(image_version::Column::State.eq(ImageState::Available))
                    .one(db)
                    .await?;
                if built.is_some() {
                    continue;
                }
                match start(
                    db,
                    actor,
                    now,
                    &p.slug,
                    &pr.slug,
                    &release.version,
                    arch.arch,
                )
                .await
                {
                    Ok(_) => {}
                    Err(e) if e.field("build").is_some() => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    run(db, &release.version).await
}

/// Every build of a release and how far the run is.
pub async fn run(db: &impl ConnectionTrait, version: &str) -> AppResult<ReleaseRun> {
    let release = releases::find_model(db, version).await?;
    let rows = job::Entity::find()
        .filter(job::Column::GroupKey.eq(release_group(&release.version)))
        .order_by_asc(job::Column::Id)
        .all(db)
        .await?;
    let jobs: Vec<Job> = rows
        .into_iter()
        .map(jobs::to_dto)
        .collect::<AppResult<_>>()?;
    let progress = if jobs.is_empty() {
        0
    } else {
        jobs.iter().map(|j| j.progress.clamp(0, 100)).sum::<i32>() / jobs.len() as i32
    };
    Ok(ReleaseRun {
        version: release.version,
        progress,
        jobs,
    })
}
