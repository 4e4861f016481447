//! Starting image builds: one product × release × architecture, or a whole release run
//! (every image-maintained AWS product and architecture), grouped as `release:<version>`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionSession,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{
    audit::{self, Change},
    entities::{image_version, job, partner, product},
    jobs::{self, JobKind},
    products, releases,
};
use crate::{
    domain::*,
    dto::{Job, ReleaseRun},
    error::{AppError, AppResult},
};

/// The build job: one product's image of one release and architecture, built in the build
/// region and copied to every target region (run by `server::jobs::build_image`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildImage {
    pub partner: String,
    pub product: String,
    pub version: String,
    pub arch: Arch,
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
    let (partner, product) = products::find_model(&txn, partner_slug, product_slug).await?;
    let release = releases::find_model(&txn, version).await?;
    if partner.cloud != Cloud::Aws {
        return Err(AppError::conflict(
            "product",
            format!(
                "{} images are maintained by hand; the portal builds AWS images",
                partner.name
            ),
        ));
    }
    if !products::architectures_of(&txn, product.id)
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
    };
    let payload_json =
        serde_json::to_value(&payload).map_err(|e| AppError::internal("build payload", e))?;
    let running = job::Entity::find()
        .filter(job::Column::Kind.eq(BuildImage::NAME))
        .filter(job::Column::State.is_in(ACTIVE))
        .filter(job::Column::Payload.eq(payload_json.to_string()))
        .one(&txn)
        .await?;
    if let Some(j) = running {
        return Err(AppError::conflict(
            "build",
            format!(
                "{} {} ({arch}) is already being built by job {}",
                product.name, release.version, j.id
            ),
        ));
    }
    let job = payload
        .enqueue(
            &txn,
            now,
            Some(actor.id),
            Some(release_group(&release.version)),
        )
        .await?;
    super::process::link_build(&txn, actor, now, product.id, release.id, arch, job.id).await?;
    audit::record(
        &txn,
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
    txn.commit().await?;
    jobs::get(db, job.id).await
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
