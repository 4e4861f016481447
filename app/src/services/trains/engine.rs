//! The engine: starting a release's train, and one turn of it. A turn looks at every step
//! that is not settled, decides what it is doing or waiting for from the catalogue and the
//! jobs, starts what may start, and records the rest as a visible wait. It is idempotent:
//! a step is claimed by a guarded update before its job is queued, in the transaction that
//! queues it, so two processes turning the same train start each job once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait, sea_query::Expr,
};

use crate::{
    calendar::MAINTENANCE_BUSINESS_DAYS,
    domain::*,
    error::{AppError, AppResult},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        begin_write, builds, copy,
        entities::{
            job, listing, partner, product, product_architecture, release, restriction_proposal,
            retention_proposal, train, train_step, workflow,
        },
        images,
        jobs::JobKind as _,
        lookup,
        notify::{self, Event},
        process::{self, StepTasks},
        publish::{self, PublishVersion},
        releases, users,
    },
};

/// Starts the train of a stable release, in the release's transaction: a build step for
/// every image-maintained AWS product × architecture and a publish step for every AWS
/// listing of those products, then a first turn. A release that has a train keeps it.
pub async fn start_release_train(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    release: &release::Model,
    created_by: &str,
) -> AppResult<Option<train::Model>> {
    if release.pre.is_some() {
        return Ok(None);
    }
    let key = format!("release:{}", release.version);
    if let Some(existing) = train::Entity::find()
        .filter(train::Column::Key.eq(key.clone()))
        .one(db)
        .await?
    {
        return Ok(Some(existing));
    }
    let calendar = process::holidays(db).await?;
    let due = calendar.add_business_days(release.released_on, MAINTENANCE_BUSINESS_DAYS);
    let t = train::ActiveModel {
        key: Set(key),
        kind: Set(TrainKind::Release),
        release_id: Set(Some(release.id)),
        title: Set(format!("Release {}", release.version)),
        catalyst: Set(format!(
            "GitLab {}{} released on {}",
            release.version,
            if release.kind == ReleaseKind::Security {
                " (security release)"
            } else {
                ""
            },
            release.released_on
        )),
        started_on: Set(release.released_on),
        due_on: Set(due),
        state: Set(TrainState::Running),
        created_by: Set(created_by.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .on_unique("train", format!("release {} has a train", release.version))?;
    let maintained = aws_image_products(db).await?;
    let mut position = 0;
    for p in &maintained {
        for a in product_architecture::Entity::find()
            .filter(product_architecture::Column::ProductId.eq(p.id))
            .order_by_asc(product_architecture::Column::Id)
            .all(db)
            .await?
        {
            position += 1;
            insert_step(
                db,
                now,
                &t,
                NewStep {
                    key: format!("build:{}:{}", p.id, a.arch),
                    position,
                    kind: TrainStepKind::Build,
                    release_id: release.id,
                    product_id: p.id,
                    arch: Some(a.arch),
                    listing_id: None,
                    rebuild_of: None,
                },
            )
            .await?;
        }
    }
    for p in &maintained {
        for l in listing::Entity::find()
            .filter(listing::Column::ProductId.eq(p.id))
            .filter(listing::Column::Marketplace.eq(Cloud::Aws))
            .order_by_asc(listing::Column::Id)
            .all(db)
            .await?
        {
            position += 1;
            insert_step(
                db,
                now,
                &t,
                NewStep {
                    key: format!("publish:{}", l.id),
                    position,
                    kind: TrainStepKind::Publish,
                    release_id: release.id,
                    product_id: p.id,
                    arch: None,
                    listing_id: Some(l.id),
                    rebuild_of: None,
                },
            )
            .await?;
        }
    }
    workflow::Entity::update_many()
        .col_expr(workflow::Column::TrainId, Expr::value(t.id))
        .filter(workflow::Column::ReleaseId.eq(release.id))
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance))
        .filter(workflow::Column::TrainId.is_null())
        // Runs of images maintained by hand (other clouds) stay the teams' own.
        .filter(workflow::Column::ProductId.is_in(maintained.iter().map(|p| p.id)))
        .exec(db)
        .await?;
    audit::record(
        db,
        None,
        now,
        Change {
            action: "start_train",
            object_type: "train",
            object_id: t.id.to_string(),
            summary: format!("started the train of release {}", release.version),
            before: None,
            after: snapshot(&t),
        },
    )
    .await?;
    turn(db, now, t.id).await?;
    Ok(train::Entity::find_by_id(t.id).one(db).await?)
}

/// The products the portal builds: image-maintained, on an AWS partner that is not retired.
pub(super) async fn aws_image_products(
    db: &impl ConnectionTrait,
) -> AppResult<Vec<product::Model>> {
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Cloud.eq(Cloud::Aws))
        .all(db)
        .await?
        .into_iter()
        .filter(|p| p.status != PartnerStatus::Retired)
        .map(|p| (p.id, p))
        .collect();
    Ok(product::Entity::find()
        .filter(product::Column::MaintenanceMode.eq(MaintenanceMode::Image))
        .filter(product::Column::PartnerId.is_in(partners.keys().copied()))
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?)
}

/// A step to add to a train.
pub(super) struct NewStep {
    pub key: String,
    pub position: i32,
    pub kind: TrainStepKind,
    pub release_id: i32,
    pub product_id: i32,
    pub arch: Option<Arch>,
    pub listing_id: Option<i32>,
    pub rebuild_of: Option<i32>,
}

pub(super) async fn insert_step(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    t: &train::Model,
    s: NewStep,
) -> AppResult<train_step::Model> {
    train_step::ActiveModel {
        train_id: Set(t.id),
        key: Set(s.key),
        position: Set(s.position),
        kind: Set(s.kind),
        release_id: Set(s.release_id),
        product_id: Set(s.product_id),
        arch: Set(s.arch),
        listing_id: Set(s.listing_id),
        rebuild_of: Set(s.rebuild_of),
        state: Set(TrainStepState::Pending),
        wait: Set(String::new()),
        notified: Set(String::new()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .on_unique("step", "the train has this step already")
}

/// One turn of every train that is not done. Returns how many trains it turned.
pub async fn advance_open(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let open: Vec<i32> = train::Entity::find()
        .filter(train::Column::State.ne(TrainState::Done))
        .order_by_asc(train::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    for id in &open {
        advance(db, now, *id).await?;
    }
    Ok(open.len())
}

/// One turn of one train, in a transaction of its own.
pub async fn advance(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    train_id: i32,
) -> AppResult<TrainState> {
    let txn = begin_write(db).await?;
    let state = turn(&txn, now, train_id).await?;
    txn.commit().await?;
    Ok(state)
}

/// After a job ended: turns the trains that may wait on it.
pub async fn job_finished(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    job_kind: &str,
) -> AppResult<usize> {
    if job_kind == builds::BuildImage::NAME
        || job_kind == PublishVersion::NAME
        || job_kind == crate::services::limits::RestrictVersions::NAME
        || job_kind == crate::services::retention::RetireImages::NAME
    {
        advance_open(db, now).await
    } else {
        Ok(0)
    }
}

/// What a turn decided for one step.
#[derive(Debug, Clone, PartialEq)]
struct Next {
    state: TrainStepState,
    wait: String,
    job_id: Option<i32>,
    image_version_id: Option<i32>,
    listing_version_id: Option<i32>,
    finished_at: Option<DateTime<Utc>>,
    /// Who hears about this wait or failure (once per distinct wait).
    tell: Option<(NotificationKind, Role)>,
}

impl Next {
    fn of(step: &train_step::Model, state: TrainStepState, wait: impl Into<String>) -> Self {
        Next {
            state,
            wait: wait.into(),
            job_id: step.job_id,
            image_version_id: step.image_version_id,
            listing_version_id: step.listing_version_id,
            finished_at: None,
            tell: None,
        }
    }

    fn tell(mut self, kind: NotificationKind, team: Role) -> Self {
        self.tell = Some((kind, team));
        self
    }
}

/// The catalogue a turn reads, loaded once.
struct Scene {
    train: train::Model,
    products: HashMap<i32, product::Model>,
    partners: HashMap<i32, partner::Model>,
    releases: HashMap<i32, release::Model>,
    listings: HashMap<i32, listing::Model>,
    latest_stable: Option<i32>,
    system: CurrentUser,
}

impl Scene {
    fn product(&self, id: i32) -> AppResult<&product::Model> {
        self.products
            .get(&id)
            .ok_or_else(|| AppError::internal("train step without product", id))
    }

    fn partner_of(&self, p: &product::Model) -> AppResult<&partner::Model> {
        self.partners
            .get(&p.partner_id)
            .ok_or_else(|| AppError::internal("product without partner", p.id))
    }

    fn release(&self, id: i32) -> AppResult<&release::Model> {
        self.releases
            .get(&id)
            .ok_or_else(|| AppError::internal("train step without release", id))
    }
}

/// The label of a step, as the train page and notifications name it.
pub(super) fn step_label(
    step: &train_step::Model,
    product: &product::Model,
    release: &release::Model,
    listing: Option<&listing::Model>,
) -> String {
    match (step.kind, listing) {
        (TrainStepKind::Publish, Some(l)) => {
            publish::version_title(&l.entity_name, &release.version)
        }
        _ => {
            let arch = step.arch.map(|a| format!(" ({a})")).unwrap_or_default();
            if step.rebuild_of.is_some() {
                format!("Rebuild {} {}{arch}", product.name, release.version)
            } else {
                format!("{} {}{arch}", product.name, release.version)
            }
        }
    }
}

async fn load_scene(
    db: &(impl ConnectionTrait + TransactionTrait),
    train: train::Model,
    steps: &[train_step::Model],
    now: DateTime<Utc>,
) -> AppResult<Scene> {
    let products: HashMap<i32, product::Model> = lookup(
        db,
        product::Column::Id,
        steps.iter().map(|s| s.product_id),
        |p| (p.id, p),
    )
    .await?;
    let partners = lookup(
        db,
        partner::Column::Id,
        products.values().map(|p| p.partner_id),
        |p| (p.id, p),
    )
    .await?;
    let releases = lookup(
        db,
        release::Column::Id,
        steps.iter().map(|s| s.release_id),
        |r| (r.id, r),
    )
    .await?;
    let listings = lookup(
        db,
        listing::Column::Id,
        steps.iter().filter_map(|s| s.listing_id),
        |l| (l.id, l),
    )
    .await?;
    Ok(Scene {
        train,
        products,
        partners,
        releases,
        listings,
        latest_stable: releases::latest_stable(db).await?.map(|r| r.id),
        system: users::system_user(db, now).await?,
    })
}

/// One turn of a train in the caller's transaction.
pub(super) async fn turn(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    train_id: i32,
) -> AppResult<TrainState> {
    let t = train::Entity::find_by_id(train_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("train {train_id}")))?;
    if t.state == TrainState::Done {
        return Ok(TrainState::Done);
    }
    let mut steps = train_step::Entity::find()
        .filter(train_step::Column::TrainId.eq(t.id))
        .order_by_asc(train_step::Column::Position)
        .all(db)
        .await?;
    let scene = load_scene(db, t, &steps, now).await?;
    // Builds first: a publish looks at its product's builds as this turn left them.
    for i in 0..steps.len() {
        let step = steps[i].clone();
        if matches!(step.state, TrainStepState::Done | TrainStepState::Skipped) {
            continue;
        }
        let next = match step.kind {
            TrainStepKind::Build => build_next(db, now, &scene, &step).await?,
            TrainStepKind::Publish => publish_next(db, now, &scene, &step, &steps).await?,
        };
        steps[i] = save(db, now, &scene, &step, next).await?;
    }
    finish_turn(db, now, &scene.train, &steps).await
}

/// The image a build step makes, once it is available.
async fn built_image(
    db: &impl ConnectionTrait,
    step: &train_step::Model,
    arch: Arch,
) -> AppResult<Option<crate::services::entities::image_version::Model>> {
    let rows = images::versions_of(db, step.product_id, step.release_id, arch).await?;
    Ok(match step.rebuild_of {
        None => images::current(&rows)
            .filter(|iv| iv.state == ImageState::Available)
            .cloned(),
        Some(_) => step.image_version_id.and_then(|id| {
            rows.into_iter()
                .find(|iv| iv.id == id && iv.state == ImageState::Available)
        }),
    })
}

/// A build job of the same image that is queued, running or waiting.
async fn active_build(
    db: &impl ConnectionTrait,
    partner: &str,
    product: &str,
    version: &str,
    arch: Arch,
) -> AppResult<Option<job::Model>> {
    let active = job::Entity::find()
        .filter(job::Column::Kind.eq(builds::BuildImage::NAME))
        .filter(job::Column::State.is_in([JobState::Queued, JobState::Running, JobState::Waiting]))
        .order_by_desc(job::Column::Id)
        .all(db)
        .await?;
    Ok(active.into_iter().find(|j| {
        serde_json::from_str::<builds::BuildImage>(&j.payload).is_ok_and(|p| {
            p.partner == partner && p.product == product && p.version == version && p.arch == arch
        })
    }))
}

async fn job_of(db: &impl ConnectionTrait, id: Option<i32>) -> AppResult<Option<job::Model>> {
    Ok(match id {
        Some(id) => job::Entity::find_by_id(id).one(db).await?,
        None => None,
    })
}

fn first_line(text: Option<&str>) -> String {
    text.unwrap_or("no reason recorded")
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Claims a step for starting: true for the one turn that may queue its job.
async fn claim(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    step: &train_step::Model,
) -> AppResult<bool> {
    let res = train_step::Entity::update_many()
        .col_expr(
            train_step::Column::State,
            Expr::value(TrainStepState::Running),
        )
        .col_expr(train_step::Column::StartedAt, Expr::value(now))
        .col_expr(train_step::Column::UpdatedAt, Expr::value(now))
        .filter(train_step::Column::Id.eq(step.id))
        .filter(train_step::Column::JobId.is_null())
        .filter(train_step::Column::State.eq(step.state))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// What a step's own job says of it while the step's result is not in the catalogue: still
/// going, blocked (a wait `team` hears of), or over without the result (a failure).
fn from_job(
    step: &train_step::Model,
    j: &job::Model,
    team: Role,
    blocked: String,
    failed: String,
    missing: String,
) -> Next {
    match j.state {
        JobState::Queued | JobState::Running | JobState::Waiting => {
            Next::of(step, TrainStepState::Running, "")
        }
        JobState::Blocked => Next::of(step, TrainStepState::Waiting, blocked)
            .tell(NotificationKind::TrainWaiting, team),
        JobState::Failed | JobState::Cancelled => Next::of(step, TrainStepState::Failed, failed)
            .tell(NotificationKind::TrainStopped, team),
        JobState::Succeeded => Next::of(step, TrainStepState::Failed, missing)
            .tell(NotificationKind::TrainStopped, team),
    }
}

async fn build_next(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    scene: &Scene,
    step: &train_step::Model,
) -> AppResult<Next> {
    let product = scene.product(step.product_id)?;
    let partner = scene.partner_of(product)?;
    let release = scene.release(step.release_id)?;
    let arch = step
        .arch
        .ok_or_else(|| AppError::internal("build step without architecture", step.id))?;
    let label = step_label(step, product, release, None);
    let job = job_of(db, step.job_id).await?;
    if let Some(iv) = built_image(db, step, arch).await? {
        let mut next = Next::of(step, TrainStepState::Done, "");
        next.image_version_id = Some(iv.id);
        next.finished_at = Some(
            job.as_ref()
                .filter(|j| j.state == JobState::Succeeded)
                .and_then(|j| j.finished_at)
                .unwrap_or(now),
        );
        return Ok(next);
    }
    if step.rebuild_of.is_none()
        && let Some(running) =
            active_build(db, &partner.slug, &product.slug, &release.version, arch).await?
    {
        let mut next = Next::of(step, TrainStepState::Running, "");
        next.job_id = Some(running.id);
        return Ok(next);
    }
    if let Some(j) = &job {
        let why = first_line(j.last_error.as_deref());
        return Ok(from_job(
            step,
            j,
            Role::Omnibus,
            format!("job {} is blocked: {why}", j.id),
            format!(
                "the build failed ({why}); retry job {} or start the build again: this branch of the train goes on once the image is built",
                j.id
            ),
            format!(
                "job {} finished but {label} is not available in the catalogue",
                j.id
            ),
        ));
    }

    if step.rebuild_of.is_none() && product.build_policy == Policy::Manual {
        return Ok(Next::of(
            step,
            TrainStepState::Manual,
            "built by hand: Omnibus starts the build on the release's page",
        ));
    }
    if !claim(db, now, step).await? {
        // Another turn claimed it meanwhile: it queues the job.
        return Ok(Next::of(step, TrainStepState::Running, ""));
    }
    let started = match step.rebuild_of {
        None => builds::start_in(
            db,
            &scene.system,
            now,
            &partner.slug,
            &product.slug,
            &release.version,
            arch,
        )
        .await
        .map(|j| (j, None)),
        Some(old) => builds::rebuild_in(db, &scene.system, now, old, &scene.train.catalyst)
            .await
            .map(|(j, iv)| (j, Some(iv.id))),
    };
    match started {
        Ok((j, image)) => {
            let mut next = Next::of(step, TrainStepState::Running, "");
            next.job_id = Some(j.id);
            if image.is_some() {
                next.image_version_id = image;
            }
            let which = match step.rebuild_of {
                None => StepTasks::Image {
                    product_id: product.id,
                    arch,
                },
                Some(_) => StepTasks::Rebuild {
                    product_id: product.id,
                    title: &label,
                },
            };
            process::train_step_started(db, now, scene.train.id, which, j.id).await?;
            Ok(next)
        }
        // A conflict (being built, replaced meanwhile) is a wait the next turn re-reads.
        Err(e) if e.code == crate::error::ErrorCode::Conflict => {
            Ok(Next::of(step, TrainStepState::Waiting, e.message))
        }
        Err(e) => Err(e),
    }
}

async fn publish_next(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    scene: &Scene,
    step: &train_step::Model,
    steps: &[train_step::Model],
) -> AppResult<Next> {
    let product = scene.product(step.product_id)?;
    let release = scene.release(step.release_id)?;
    let listing_id = step
        .listing_id
        .ok_or_else(|| AppError::internal("publish step without listing", step.id))?;
    let l = scene
        .listings
        .get(&listing_id)
        .ok_or_else(|| AppError::internal("publish step's listing is gone", listing_id))?;
    let job = job_of(db, step.job_id).await?;
    // Done once every architecture's version is on the listing.
    if let Some(v) = publish::published_version(db, l.id, &release.version).await? {
        let mut next = Next::of(step, TrainStepState::Done, "");
        next.listing_version_id = Some(v.id);
        next.finished_at = Some(
            job.as_ref()
                .filter(|j| j.state == JobState::Succeeded)
                .and_then(|j| j.finished_at)
                .unwrap_or(now),
        );
        return Ok(next);
    }
    if let Some(j) = &job {
        let why = first_line(j.last_error.as_deref());
        let wait = match publish::blocker_of(j) {
            Some(b) => format!(
                "blocked by change set {} ({}), still {} on the listing: cancel it and retry on job {}, or wait for it to end and retry",
                b.change_set_id,
                b.name.unwrap_or_else(|| "unnamed".into()),
                b.status.to_lowercase(),
                j.id
            ),
            None => format!("job {} is blocked: {why}", j.id),
        };
        return Ok(from_job(
            step,
            j,
            Role::Partnerships,
            wait,
            format!("the publish failed ({why}); retry job {}", j.id),
            format!(
                "job {} finished but {} {} is not in the catalogue",
                j.id, l.entity_name, release.version
            ),
        ));
    }

    if scene.latest_stable != Some(release.id) && !l.publish_backports {
        return Ok(Next::of(
            step,
            TrainStepState::Skipped,
            format!(
                "{} is not the newest stable release: only the newest publishes on {} (its backport policy); turn on backport publishing to publish it",
                release.version, l.entity_name
            ),
        ));
    }
    if l.publish_policy == Policy::Manual {
        return Ok(Next::of(
            step,
            TrainStepState::Manual,
            "published by hand: Partnerships starts the publish on the listing's page",
        ));
    }
    let builds: Vec<&train_step::Model> = steps
        .iter()
        .filter(|s| s.kind == TrainStepKind::Build && s.product_id == product.id)
        .collect();
    if let Some(failed) = builds.iter().find(|s| s.state == TrainStepState::Failed) {
        let label = step_label(failed, product, release, None);
        return Ok(Next::of(
            step,
            TrainStepState::Waiting,
            format!("waiting on the build of {label}, which failed"),
        ));
    }
    let pending: Vec<String> = builds
        .iter()
        .filter(|s| s.state != TrainStepState::Done)
        .map(|s| step_label(s, product, release, None))
        .collect();
    if !pending.is_empty() {
        return Ok(Next::of(
            step,
            TrainStepState::Waiting,
            format!("waiting on the build of {}", pending.join(", ")),
        ));
    }
    if copy::approved_revision(db, l.id).await?.is_none() {
        return Ok(Next::of(
            step,
            TrainStepState::Waiting,
            "waiting on Marketing's copy approval",
        )
        .tell(NotificationKind::TrainWaiting, Role::Marketing));
    }
    if let Some(p) = restriction_proposal::Entity::find()
        .filter(restriction_proposal::Column::ListingId.eq(l.id))
        .filter(
            restriction_proposal::Column::State
                .is_in([ProposalState::Proposed, ProposalState::Approved]),
        )
        .one(db)
        .await?
    {
        return Ok(Next::of(
            step,
            TrainStepState::Waiting,
            format!(
                "waiting on the proposal to restrict old versions (proposal {}, {})",
                p.id,
                p.state.label().to_lowercase()
            ),
        ));
    }
    if let Some(p) = retention_proposal::Entity::find()
        .filter(retention_proposal::Column::ProductId.eq(product.id))
        .filter(
            retention_proposal::Column::State
                .is_in([ProposalState::Proposed, ProposalState::Approved]),
        )
        .one(db)
        .await?
    {
        return Ok(Next::of(
            step,
            TrainStepState::Waiting,
            format!(
                "waiting on the proposal to retire old images of {} (proposal {}, {})",
                product.name,
                p.id,
                p.state.label().to_lowercase()
            ),
        ));
    }
    if let Some(other) = job::Entity::find()
        .filter(job::Column::Kind.eq(PublishVersion::NAME))
        .filter(job::Column::GroupKey.eq(publish::group(l.id)))
        .filter(job::Column::State.is_in([
            JobState::Queued,
            JobState::Running,
            JobState::Waiting,
            JobState::Blocked,
        ]))
        .one(db)
        .await?
    {
        return Ok(Next::of(
            step,
            TrainStepState::Waiting,
            format!(
                "waiting on job {}, which is {} on {}",
                other.id,
                if other.state == JobState::Blocked {
                    "blocked publishing"
                } else {
                    "publishing"
                },
                l.entity_name
            ),
        ));
    }
    let payload = PublishVersion {
        listing_id: l.id,
        version: release.version.clone(),
    };
    if let Err(e) = publish::plan(db, &payload, true).await {
        return Ok(Next::of(step, TrainStepState::Waiting, e.message));
    }
    if !claim(db, now, step).await? {
        return Ok(Next::of(step, TrainStepState::Running, ""));
    }
    match publish::start_in(db, &scene.system, now, l.id, &release.version).await {
        Ok(j) => {
            let mut next = Next::of(step, TrainStepState::Running, "");
            next.job_id = Some(j.id);
            process::train_step_started(
                db,
                now,
                scene.train.id,
                StepTasks::Publish {
                    product_id: product.id,
                    listing_id: l.id,
                },
                j.id,
            )
            .await?;
            Ok(next)
        }
        Err(e) if e.code == crate::error::ErrorCode::Conflict => {
            Ok(Next::of(step, TrainStepState::Waiting, e.message))
        }
        Err(e) => Err(e),
    }
}

/// Writes what a turn decided for a step (only what changed), completes the tasks of a step
/// that is done, and tells the team of a new wait or failure once.
async fn save(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    scene: &Scene,
    step: &train_step::Model,
    next: Next,
) -> AppResult<train_step::Model> {
    // The step as the turn read it: a claim in this turn only moved it to running, which
    // `next` says again.
    let current = step.clone();
    let unchanged = current.state == next.state
        && current.wait == next.wait
        && current.job_id == next.job_id
        && current.image_version_id == next.image_version_id
        && current.listing_version_id == next.listing_version_id;
    if unchanged {
        return Ok(current);
    }
    let product = scene.product(step.product_id)?;
    let release = scene.release(step.release_id)?;
    let listing = step.listing_id.and_then(|id| scene.listings.get(&id));
    let label = step_label(step, product, release, listing);
    let mut active: train_step::ActiveModel = current.clone().into();
    active.state = Set(next.state);
    active.wait = Set(next.wait.clone());
    active.job_id = Set(next.job_id);
    active.image_version_id = Set(next.image_version_id);
    active.listing_version_id = Set(next.listing_version_id);
    active.updated_at = Set(now);
    if next.state == TrainStepState::Running && current.started_at.is_none() {
        active.started_at = Set(Some(now));
    }
    if next.state.is_settled() {
        active.finished_at = Set(Some(next.finished_at.unwrap_or(now)));
    }
    let notify_now = next.tell.is_some() && current.notified != next.wait;
    if notify_now {
        active.notified = Set(next.wait.clone());
    }
    let saved = active.update(db).await?;
    if let (true, Some((kind, team))) = (notify_now, next.tell) {
        notify::send(
            db,
            now,
            Event::new(
                kind,
                format!("{}: {label}", scene.train.title),
                train_link(&scene.train),
            )
            .body(next.wait.clone())
            .to_teams(&[team]),
        )
        .await?;
    }
    if current.state != next.state {
        audit::record(
            db,
            None,
            now,
            Change {
                action: "train_step",
                object_type: "train",
                object_id: scene.train.id.to_string(),
                summary: format!(
                    "{label}: {}{}",
                    next.state.label().to_lowercase(),
                    if next.wait.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", next.wait)
                    }
                ),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    if next.state == TrainStepState::Done && current.state != TrainStepState::Done {
        let which = match (step.kind, step.listing_id, step.arch, step.rebuild_of) {
            (TrainStepKind::Publish, Some(listing_id), _, _) => Some(StepTasks::Publish {
                product_id: step.product_id,
                listing_id,
            }),
            (TrainStepKind::Build, _, Some(arch), None) => Some(StepTasks::Image {
                product_id: step.product_id,
                arch,
            }),
            (TrainStepKind::Build, _, Some(_), Some(_)) => Some(StepTasks::Rebuild {
                product_id: step.product_id,
                title: &label,
            }),
            _ => None,
        };
        if let Some(which) = which {
            process::train_step_done(db, now, scene.train.id, which).await?;
        }
    }
    Ok(saved)
}

/// The page of a train.
pub(super) fn train_link(t: &train::Model) -> String {
    match (&t.kind, t.key.strip_prefix("release:")) {
        (TrainKind::Release, Some(version)) => format!("/releases/{version}/train"),
        _ => format!("/trains/{}", t.id),
    }
}

/// Where a train stands, from its steps.
pub(super) fn state_of(steps: &[train_step::Model]) -> TrainState {
    let any = |s: TrainStepState| steps.iter().any(|x| x.state == s);
    if any(TrainStepState::Running) || any(TrainStepState::Pending) {
        TrainState::Running
    } else if any(TrainStepState::Failed) {
        TrainState::Stopped
    } else if any(TrainStepState::Waiting) || any(TrainStepState::Manual) {
        TrainState::Waiting
    } else {
        TrainState::Done
    }
}

async fn finish_turn(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    t: &train::Model,
    steps: &[train_step::Model],
) -> AppResult<TrainState> {
    let state = state_of(steps);
    if state == t.state {
        return Ok(state);
    }
    let mut active: train::ActiveModel = t.clone().into();
    active.state = Set(state);
    active.updated_at = Set(now);
    if state == TrainState::Done {
        let finished = steps
            .iter()
            .filter_map(|s| s.finished_at)
            .max()
            .unwrap_or(now);
        active.finished_at = Set(Some(finished));
    }
    let after = active.update(db).await?;
    audit::record(
        db,
        None,
        now,
        Change {
            action: "train_state",
            object_type: "train",
            object_id: t.id.to_string(),
            summary: format!("{} is {}", t.title, state.label().to_lowercase()),
            before: snapshot(t),
            after: snapshot(&after),
        },
    )
    .await?;
    Ok(state)
}
