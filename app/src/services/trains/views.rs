//! Reading trains: one train with its steps, runs and timeline, the newest one, and the list.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use super::engine::step_label;
use crate::{
    calendar,
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        entities::{job, listing, partner, product, release, train, train_step},
        jobs, process, releases,
    },
};

/// The train of a release (`latest` for the newest stable release).
pub async fn release_train(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    version: &str,
) -> AppResult<ReleaseTrain> {
    let r = releases::find_model(db, version).await?;
    let t = train::Entity::find()
        .filter(train::Column::Key.eq(format!("release:{}", r.version)))
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!(
                "a train of release {} (release candidates and releases recorded as history have none)",
                r.version
            ))
        })?;
    to_dto(db, now, t).await
}

/// A train by id.
pub async fn get(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<ReleaseTrain> {
    let t = train::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("train {id}")))?;
    to_dto(db, now, t).await
}

/// The newest stable release's train, or else the newest train.
pub async fn newest(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<Option<ReleaseTrain>> {
    if let Some(r) = releases::latest_stable(db).await?
        && let Some(t) = train::Entity::find()
            .filter(train::Column::Key.eq(format!("release:{}", r.version)))
            .one(db)
            .await?
    {
        return Ok(Some(to_dto(db, now, t).await?));
    }
    match train::Entity::find()
        .order_by_desc(train::Column::Id)
        .one(db)
        .await?
    {
        Some(t) => Ok(Some(to_dto(db, now, t).await?)),
        None => Ok(None),
    }
}

/// Every train, newest first: each page in a fixed number of queries.
pub async fn list(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    page: PageRequest,
) -> AppResult<Page<TrainSummary>> {
    let Paging { index, per_page } = page.checked()?;
    let paginator = train::Entity::find()
        .order_by_desc(train::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    let mut steps: HashMap<i32, Vec<train_step::Model>> = HashMap::new();
    for s in train_step::Entity::find()
        .filter(train_step::Column::TrainId.is_in(rows.iter().map(|t| t.id)))
        .order_by_asc(train_step::Column::Position)
        .all(db)
        .await?
    {
        steps.entry(s.train_id).or_default().push(s);
    }
    let jobs_by_id: HashMap<i32, job::Model> = job::Entity::find()
        .filter(job::Column::Id.is_in(steps.values().flatten().filter_map(|s| s.job_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let versions: HashMap<i32, String> = release::Entity::find()
        .filter(release::Column::Id.is_in(rows.iter().filter_map(|t| t.release_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.version))
        .collect();
    let calendar = process::holidays(db).await?;
    let items = rows
        .into_iter()
        .map(|t| {
            let steps = steps.remove(&t.id).unwrap_or_default();
            let count = |f: &dyn Fn(TrainStepState) -> bool| {
                steps.iter().filter(|s| f(s.state)).count() as u32
            };
            TrainSummary {
                id: t.id,
                kind: t.kind,
                title: t.title.clone(),
                release: t.release_id.and_then(|id| versions.get(&id).cloned()),
                state: t.state,
                sla: calendar.sla_status(now, t.due_on, images_out(&t, &steps)),
                progress: progress(&steps, &jobs_by_id),
                steps_done: count(&|s| s == TrainStepState::Done),
                steps_total: steps.len() as u32,
                waiting: count(&|s| matches!(s, TrainStepState::Waiting | TrainStepState::Manual)),
                failed: count(&|s| s == TrainStepState::Failed),
                due_on: t.due_on,
                created_at: t.created_at,
                finished_at: t.finished_at,
            }
        })
        .collect();
    Ok(Page {
        items,
        page: index + 1,
        per_page,
        total,
    })
}

/// 0–100: the steps' progress, averaged (a running step counts its job's progress).
fn progress(steps: &[train_step::Model], jobs: &HashMap<i32, job::Model>) -> i32 {
    if steps.is_empty() {
        return 100;
    }
    steps
        .iter()
        .map(|s| match s.state {
            TrainStepState::Done | TrainStepState::Skipped => 100,
            TrainStepState::Running => s
                .job_id
                .and_then(|id| jobs.get(&id))
                .map_or(0, |j| j.progress.clamp(0, 100)),
            _ => 0,
        })
        .sum::<i32>()
        / steps.len() as i32
}

/// When every image of the train was out: the clock stops then, as the maintenance runs'
/// clocks do (a train without builds, when it finished).
fn images_out(t: &train::Model, steps: &[train_step::Model]) -> Option<DateTime<Utc>> {
    let builds: Vec<&train_step::Model> = steps
        .iter()
        .filter(|s| s.kind == TrainStepKind::Build)
        .collect();
    if builds.is_empty() {
        return t.finished_at;
    }
    builds
        .iter()
        .map(|s| {
            (s.state == TrainStepState::Done)
                .then_some(s.finished_at)
                .flatten()
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max())
}

async fn to_dto(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    t: train::Model,
) -> AppResult<ReleaseTrain> {
    let steps = train_step::Entity::find()
        .filter(train_step::Column::TrainId.eq(t.id))
        .order_by_asc(train_step::Column::Position)
        .all(db)
        .await?;
    let products: HashMap<i32, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(steps.iter().map(|s| s.product_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(products.values().map(|p| p.partner_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let releases_by_id: HashMap<i32, release::Model> = release::Entity::find()
        .filter(release::Column::Id.is_in(steps.iter().map(|s| s.release_id).chain(t.release_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let listings: HashMap<i32, listing::Model> = listing::Entity::find()
        .filter(listing::Column::Id.is_in(steps.iter().filter_map(|s| s.listing_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let jobs_by_id: HashMap<i32, job::Model> = job::Entity::find()
        .filter(job::Column::Id.is_in(steps.iter().filter_map(|s| s.job_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let start = t
        .started_on
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let days = |at: DateTime<Utc>| (at - start).num_seconds() as f64 / 86_400.0;
    let due_end = calendar::end_of(t.due_on);
    let mut out = Vec::with_capacity(steps.len());
    let mut milestones = Vec::new();
    for s in &steps {
        let (Some(p), Some(r)) = (
            products.get(&s.product_id),
            releases_by_id.get(&s.release_id),
        ) else {
            return Err(AppError::internal(
                "train step without product or release",
                s.id,
            ));
        };
        let partner = partners
            .get(&p.partner_id)
            .ok_or_else(|| AppError::internal("product without partner", p.id))?;
        let l = s.listing_id.and_then(|id| listings.get(&id));
        let label = step_label(s, p, r, l);
        if s.state == TrainStepState::Done
            && let Some(at) = s.finished_at
        {
            milestones.push(TrainMilestone {
                step_key: s.key.clone(),
                label: label.clone(),
                kind: s.kind,
                at,
                days: days(at),
                on_time: at < due_end,
            });
        }
        out.push(TrainStep {
            id: s.id,
            key: s.key.clone(),
            kind: s.kind,
            label,
            release: r.version.clone(),
            partner_slug: partner.slug.clone(),
            product_slug: p.slug.clone(),
            product_name: p.name.clone(),
            arch: s.arch,
            listing_id: s.listing_id,
            listing: l.map(|l| l.entity_name.clone()),
            rebuild_of: s.rebuild_of,
            state: s.state,
            wait: s.wait.clone(),
            policy: match (s.kind, l) {
                (TrainStepKind::Publish, Some(l)) => l.publish_policy,
                _ if s.rebuild_of.is_some() => Policy::Automatic,
                _ => p.build_policy,
            },
            job: s
                .job_id
                .and_then(|id| jobs_by_id.get(&id).cloned())
                .map(jobs::to_dto)
                .transpose()?,
            image_version_id: s.image_version_id,
            started_at: s.started_at,
            finished_at: s.finished_at,
        });
    }
    milestones.sort_by_key(|m| m.at);
    let progress = progress(&steps, &jobs_by_id);
    let images_out = images_out(&t, &steps);
    let calendar = process::holidays(db).await?;
    let sla = calendar.sla_status(now, t.due_on, images_out);
    let runs = process::train_runs(db, now, t.id).await?;
    Ok(ReleaseTrain {
        id: t.id,
        kind: t.kind,
        title: t.title,
        catalyst: t.catalyst,
        release: t
            .release_id
            .and_then(|id| releases_by_id.get(&id))
            .map(|r| r.version.clone()),
        started_on: t.started_on,
        due_on: t.due_on,
        state: t.state,
        sla,
        progress,
        created_at: t.created_at,
        finished_at: t.finished_at,
        steps: out,
        runs,
        timeline: TrainTimeline {
            due_days: days(due_end),
            now_days: days(t.finished_at.unwrap_or(now)).max(0.0),
            milestones,
        },
    })
}
