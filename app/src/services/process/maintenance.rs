//! Maintenance runs: opening them for a release, the build that completes their image
//! tasks, the clock that escalates and flags them, and the board that shows them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::{
    holidays::{holidays, list_holidays},
    tasks::apply_state,
    views::{find_workflow, load, sla_of, summaries},
    workflows::{StageSpec, TaskSpec, insert_workflow},
};
use crate::{
    calendar::{self, MAINTENANCE_BUSINESS_DAYS},
    domain::*,
    dto::*,
    error::AppResult,
    services::{
        audit::{self, Change, snapshot},
        begin_write,
        entities::{listing, partner, product, product_architecture, release, task, workflow},
        notify::{self, Event},
        products, releases,
    },
};

/// Opens a maintenance run for every product whose image the portal maintains, for a
/// stable release. Runs that exist are left alone. Call it in the release's transaction.
pub async fn open_maintenance_runs(
    db: &impl ConnectionTrait,
    actor: Option<&CurrentUser>,
    now: DateTime<Utc>,
    release: &release::Model,
) -> AppResult<Vec<i32>> {
    if release.pre.is_some() {
        return Ok(Vec::new());
    }
    let security = release.kind == ReleaseKind::Security;
    let calendar = holidays(db).await?;
    let due = calendar.add_business_days(release.released_on, MAINTENANCE_BUSINESS_DAYS);
    let products = product::Entity::find()
        .filter(product::Column::MaintenanceMode.eq(MaintenanceMode::Image))
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?;
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(products.iter().map(|p| p.partner_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let existing: HashSet<i32> = workflow::Entity::find()
        .filter(workflow::Column::ReleaseId.eq(release.id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|w| w.product_id)
        .collect();
    let mut opened = Vec::new();
    for product in products {
        let Some(partner) = partners.get(&product.partner_id) else {
            continue;
        };
        if partner.status == PartnerStatus::Retired || existing.contains(&product.id) {
            continue;
        }
        let archs = product_architecture::Entity::find()
            .filter(product_architecture::Column::ProductId.eq(product.id))
            .order_by_asc(product_architecture::Column::Id)
            .all(db)
            .await?;
        // A product the release train builds by itself: the run holds what the train does
        // (its page is the run's record), and the train's steps complete it.
        let by_train = partner.cloud == Cloud::Aws && product.build_policy == Policy::Automatic;
        let mut implementation = if by_train {
            Vec::new()
        } else {
            vec![TaskSpec::new(
                "Create the maintenance issue",
                format!("One issue for {} {}.", product.name, release.version),
            )]
        };
        for a in &archs {
            let arch = a.arch;
            let mut spec = TaskSpec::new(
                format!("Update the image ({arch})"),
                format!(
                    "Build {} {} for {arch}; starting the build links its job here and a \
                     successful build completes the task.",
                    product.name, release.version
                ),
            );
            spec.arch = Some(arch);
            implementation.push(spec);
        }
        let mut technical_info = Vec::new();
        if by_train {
            for l in listing::Entity::find()
                .filter(listing::Column::ProductId.eq(product.id))
                .filter(listing::Column::Marketplace.eq(Cloud::Aws))
                .filter(listing::Column::PublishPolicy.eq(Policy::Automatic))
                .order_by_asc(listing::Column::Id)
                .all(db)
                .await?
            {
                let mut spec = TaskSpec::new(
                    format!(
                        "Publish {} {} on AWS Marketplace",
                        l.entity_name, release.version
                    ),
                    "The release train publishes the version with the approved listing copy; \
                     the version going live completes the task.",
                );
                spec.listing_id = Some(l.id);
                technical_info.push(spec);
            }
        } else {
            implementation.push(TaskSpec::new(
                "Update the documentation",
                "The Omnibus documentation section for this cloud.",
            ));
            technical_info.push(TaskSpec::new(
                format!(
                    "Update the image description and documentation on {}",
                    partner.name
                ),
                "On the partner's platform: the listing's description, release notes and usage.",
            ));
        }
        let mut stages = vec![(
            StageSpec {
                key: "implementation",
                name: "Implementation",
                team: Role::Omnibus,
                depends_on: &[],
            },
            implementation,
        )];
        if !technical_info.is_empty() {
            stages.push((
                StageSpec {
                    key: "technical_info",
                    name: "Technical info",
                    team: Role::Marketing,
                    depends_on: &[],
                },
                technical_info,
            ));
        }
        for (_, tasks) in &mut stages {
            for t in tasks {
                t.due_on = Some(due);
            }
        }
        let title = format!(
            "{}{} {} on {}",
            if security { "Security release " } else { "" },
            release.version,
            product.name,
            partner.name
        );
        let wf = insert_workflow(
            db,
            now,
            workflow::ActiveModel {
                kind: Set(WorkflowKind::Maintenance),
                title: Set(title.clone()),
                partner_id: Set(partner.id),
                product_id: Set(Some(product.id)),
                release_id: Set(Some(release.id)),
                security: Set(security),
                state: Set(WorkflowState::Open),
                released_on: Set(Some(release.released_on)),
                due_on: Set(Some(due)),
                sla_notified: Set(String::new()),
                created_by: Set(actor.map_or_else(|| "system".to_owned(), |a| a.username.clone())),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            },
            stages,
        )
        .await?;
        audit::record(
            db,
            actor,
            now,
            Change {
                action: "open_maintenance",
                object_type: "workflow",
                object_id: wf.id.to_string(),
                summary: format!("opened the maintenance run '{title}', due {due}"),
                before: None,
                after: snapshot(&wf),
            },
        )
        .await?;
        opened.push(wf.id);
    }
    if !opened.is_empty() {
        notify::send(
            db,
            now,
            Event::new(
                NotificationKind::MaintenanceOpened,
                format!(
                    "{}{} released: {} image update{} due {due}",
                    if security { "Security release " } else { "" },
                    release.version,
                    opened.len(),
                    if opened.len() == 1 { "" } else { "s" }
                ),
                "/maintenance",
            )
            .body("Images are due three business days after the release.")
            .to_teams(&[Role::Omnibus, Role::Marketing]),
        )
        .await?;
    }
    Ok(opened)
}

async fn image_task(
    db: &impl ConnectionTrait,
    product_id: i32,
    release_id: i32,
    arch: Arch,
) -> AppResult<Option<task::Model>> {
    let Some(wf) = workflow::Entity::find()
        .filter(workflow::Column::ProductId.eq(product_id))
        .filter(workflow::Column::ReleaseId.eq(release_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(task::Entity::find()
        .filter(task::Column::WorkflowId.eq(wf.id))
        .filter(task::Column::Arch.eq(arch))
        .one(db)
        .await?)
}

/// Links a job to a task, and starts the task if it was still to do.
async fn start_task(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    t: task::Model,
    job_id: i32,
) -> AppResult<()> {
    let state = t.state;
    let mut active: task::ActiveModel = t.into();
    active.job_id = Set(Some(job_id));
    if state == TaskState::Todo {
        active.state = Set(TaskState::InProgress);
    }
    active.updated_at = Set(now);
    active.update(db).await?;
    Ok(())
}

/// Links a build job to the image task of its maintenance run, and starts the task.
pub async fn link_build(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    product_id: i32,
    release_id: i32,
    arch: Arch,
    job_id: i32,
) -> AppResult<()> {
    let Some(t) = image_task(db, product_id, release_id, arch).await? else {
        return Ok(());
    };
    start_task(db, now, t.clone(), job_id).await?;
    audit::record(
        db,
        Some(actor),
        now,
        Change {
            action: "task_link_job",
            object_type: "task",
            object_id: t.id.to_string(),
            summary: format!("linked build job {job_id} to '{}'", t.title),
            before: None,
            after: None,
        },
    )
    .await
}

/// Completes the image task of a maintenance run when its build succeeded.
pub async fn image_built(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    partner_slug: &str,
    product_slug: &str,
    version: &str,
    arch: Arch,
) -> AppResult<()> {
    let txn = begin_write(db).await?;
    let (_, product) = products::find_model(&txn, partner_slug, product_slug).await?;
    let release = releases::find_model(&txn, version).await?;
    if let Some(t) = image_task(&txn, product.id, release.id, arch).await?
        && !t.state.is_closed()
    {
        let loaded = load(&txn, find_workflow(&txn, t.workflow_id).await?).await?;
        if loaded.wf.state != WorkflowState::Launched {
            apply_state(&txn, None, now, &loaded, &t, TaskState::Done, None).await?;
        }
    }
    Ok(txn.commit().await?)
}

/// Escalates tasks whose partner did not answer in time and flags maintenance runs at risk
/// or past their deadline, each once. Runs every minute in the server; idempotent.
pub async fn sweep(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<SweepReport> {
    let mut report = SweepReport::default();
    let txn = begin_write(db).await?;
    let today = now.date_naive();
    for t in task::Entity::find()
        .filter(task::Column::State.eq(TaskState::WaitingOnPartner))
        .filter(task::Column::EscalatedAt.is_null())
        .filter(task::Column::ResponseDueOn.lt(today))
        .all(&txn)
        .await?
    {
        let wf = find_workflow(&txn, t.workflow_id).await?;
        // Guarded, so two servers sweeping at once escalate (and notify) once.
        let res = task::Entity::update_many()
            .col_expr(task::Column::EscalatedAt, Expr::value(now))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(t.id))
            .filter(task::Column::EscalatedAt.is_null())
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            continue;
        }
        let due = t.response_due_on.map(|d| d.to_string()).unwrap_or_default();
        audit::record(
            &txn,
            None,
            now,
            Change {
                action: "escalate",
                object_type: "task",
                object_id: t.id.to_string(),
                summary: format!(
                    "escalated '{}' to Partnerships: the partner did not answer by {due}",
                    t.title
                ),
                before: None,
                after: None,
            },
        )
        .await?;
        let mut event = Event::new(
            NotificationKind::Escalated,
            format!("Escalated: {}", t.title),
            format!("/tasks/{}", t.id),
        )
        .body(format!(
            "{}: the partner did not answer by {due}.",
            wf.title
        ))
        .to_teams(&[Role::Partnerships]);
        if let Some(assignee) = t.assignee_id {
            event = event.to_user(assignee);
        }
        notify::send(&txn, now, event).await?;
        report.escalated += 1;
    }
    let calendar = holidays(&txn).await?;
    let open = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance))
        .filter(workflow::Column::State.eq(WorkflowState::Open))
        .filter(workflow::Column::SlaNotified.ne("breached"))
        .all(&txn)
        .await?;
    for wf in open {
        let loaded = load(&txn, wf).await?;
        let Some(sla) = sla_of(&loaded, &calendar, now) else {
            continue;
        };
        let (mark, kind, headline) = match (sla.status, loaded.wf.sla_notified.as_str()) {
            (SlaStatus::Breached, _) => ("breached", NotificationKind::SlaBreached, "SLA breached"),
            (SlaStatus::AtRisk, "") => ("at_risk", NotificationKind::SlaAtRisk, "SLA at risk"),
            _ => continue,
        };
        let title = loaded.wf.title.clone();
        let id = loaded.wf.id;
        let res = workflow::Entity::update_many()
            .col_expr(workflow::Column::SlaNotified, Expr::value(mark))
            .col_expr(workflow::Column::UpdatedAt, Expr::value(now))
            .filter(workflow::Column::Id.eq(id))
            .filter(workflow::Column::SlaNotified.eq(loaded.wf.sla_notified.clone()))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            continue;
        }
        audit::record(
            &txn,
            None,
            now,
            Change {
                action: if mark == "breached" {
                    "sla_breached"
                } else {
                    "sla_at_risk"
                },
                object_type: "workflow",
                object_id: id.to_string(),
                summary: format!("{headline}: '{title}' was due {}", sla.due_on),
                before: None,
                after: None,
            },
        )
        .await?;
        notify::send(
            &txn,
            now,
            Event::new(
                kind,
                format!("{headline}: {title}"),
                format!("/workflows/{id}"),
            )
            .body(format!(
                "Due {} ({} business time left).",
                sla.due_on,
                if sla.business_minutes_left > 0 {
                    calendar::human_span(chrono::Duration::minutes(sla.business_minutes_left))
                } else {
                    "no".to_owned()
                }
            ))
            .to_teams(&[Role::Omnibus, Role::Marketing]),
        )
        .await?;
        if mark == "breached" {
            report.breached += 1;
        } else {
            report.at_risk += 1;
        }
    }
    txn.commit().await?;
    Ok(report)
}

/// Open runs with their clocks, and how recent releases went.
pub async fn maintenance_board(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> AppResult<MaintenanceBoard> {
    let open_rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance))
        .filter(workflow::Column::State.eq(WorkflowState::Open))
        .order_by_asc(workflow::Column::DueOn)
        .order_by_asc(workflow::Column::Id)
        .all(db)
        .await?;
    let mut open = summaries(db, now, open_rows).await?;
    open.sort_by_key(|w| w.sla.as_ref().map_or(i64::MAX, |s| s.business_minutes_left));
    let recent: Vec<i32> = release::Entity::find()
        .filter(release::Column::Pre.is_null())
        .order_by_desc(release::Column::ReleasedOn)
        .order_by_desc(release::Column::Id)
        .limit(12)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let runs = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance))
        .filter(workflow::Column::ReleaseId.is_in(recent.clone()))
        .all(db)
        .await?;
    let summaries = summaries(db, now, runs).await?;
    let mut by_release: BTreeMap<String, Vec<WorkflowSummary>> = BTreeMap::new();
    for s in summaries {
        if let Some(r) = s.release.clone() {
            by_release.entry(r).or_default().push(s);
        }
    }
    let mut timeline = Vec::new();
    for (version, runs) in by_release {
        let Some(first) = runs.iter().find_map(|r| r.sla.clone()) else {
            continue;
        };
        let outs: Option<Vec<DateTime<Utc>>> = runs
            .iter()
            .map(|r| r.sla.as_ref().and_then(|s| s.image_out_at))
            .collect();
        let image_out_at = outs.and_then(|o| o.into_iter().max());
        let start = first
            .released_on
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let days = |t: DateTime<Utc>| (t - start).num_seconds() as f64 / 86_400.0;
        let worst = runs
            .iter()
            .filter_map(|r| r.sla.as_ref().map(|s| s.status))
            .max_by_key(|s| match s {
                SlaStatus::MetOnTime => 0,
                SlaStatus::OnTrack => 1,
                SlaStatus::AtRisk => 2,
                SlaStatus::MetLate => 3,
                SlaStatus::Breached => 4,
            })
            .unwrap_or(SlaStatus::OnTrack);
        timeline.push(TimelineRow {
            security: runs.iter().any(|r| r.security),
            released_on: first.released_on,
            due_on: first.due_on,
            runs: runs.len() as u32,
            image_out_at,
            due_days: days(calendar::end_of(first.due_on)),
            out_days: days(image_out_at.unwrap_or(now)).max(0.0),
            status: worst,
            release: version,
        });
    }
    timeline.sort_by(|a, b| {
        b.released_on
            .cmp(&a.released_on)
            .then(b.release.cmp(&a.release))
    });
    Ok(MaintenanceBoard {
        open,
        timeline,
        holidays: list_holidays(db).await?,
    })
}

/// Which tasks of a train's maintenance runs a finished step completes.
#[derive(Debug, Clone, Copy)]
pub enum StepTasks<'a> {
    /// A build of a release run: the product's image task of that architecture.
    Image { product_id: i32, arch: Arch },
    /// A publish: the task of that listing.
    Publish { product_id: i32, listing_id: i32 },
    /// A rebuild of a security run: the task of that title.
    Rebuild { product_id: i32, title: &'a str },
}

/// The tasks of a train's maintenance runs that one of its steps stands for.
async fn step_tasks(
    db: &impl ConnectionTrait,
    train_id: i32,
    which: StepTasks<'_>,
) -> AppResult<Vec<task::Model>> {
    let product_id = match which {
        StepTasks::Image { product_id, .. }
        | StepTasks::Publish { product_id, .. }
        | StepTasks::Rebuild { product_id, .. } => product_id,
    };
    let runs: Vec<i32> = workflow::Entity::find()
        .filter(workflow::Column::TrainId.eq(train_id))
        .filter(workflow::Column::ProductId.eq(product_id))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    let query = task::Entity::find().filter(task::Column::WorkflowId.is_in(runs));
    let query = match which {
        StepTasks::Image { arch, .. } => query.filter(task::Column::Arch.eq(arch)),
        StepTasks::Publish { listing_id, .. } => {
            query.filter(task::Column::ListingId.eq(listing_id))
        }
        StepTasks::Rebuild { title, .. } => query.filter(task::Column::Title.eq(title)),
    };
    Ok(query.all(db).await?)
}

/// Links the job a train step started to the tasks it stands for, and starts them.
pub async fn train_step_started(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    train_id: i32,
    which: StepTasks<'_>,
    job_id: i32,
) -> AppResult<()> {
    for t in step_tasks(db, train_id, which).await? {
        if !t.state.is_closed() {
            start_task(db, now, t, job_id).await?;
        }
    }
    Ok(())
}

/// Completes the tasks a finished train step stands for (the clock stops when a run's last
/// image task is done; the run closes when all its tasks are).
pub async fn train_step_done(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    train_id: i32,
    which: StepTasks<'_>,
) -> AppResult<()> {
    for t in step_tasks(db, train_id, which).await? {
        if t.state.is_closed() {
            continue;
        }
        let loaded = load(db, find_workflow(db, t.workflow_id).await?).await?;
        if loaded.wf.state != WorkflowState::Launched {
            apply_state(db, None, now, &loaded, &t, TaskState::Done, None).await?;
        }
    }
    Ok(())
}

/// The maintenance runs a train completes, with their clocks.
pub async fn train_runs(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    train_id: i32,
) -> AppResult<Vec<WorkflowSummary>> {
    let runs = workflow::Entity::find()
        .filter(workflow::Column::TrainId.eq(train_id))
        .order_by_asc(workflow::Column::Id)
        .all(db)
        .await?;
    summaries(db, now, runs).await
}

/// One image a security catalyst rebuilds, as its run lists it.
#[derive(Debug, Clone)]
pub struct CatalystImage {
    pub product_id: i32,
    pub version: String,
    pub arch: Arch,
    /// The task's title, which the train's step finds it by.
    pub task_title: String,
}

/// Opens the maintenance runs of a security catalyst that is not a release (a new base
/// image): one run per product, with a task per image to rebuild, flagged as security and due
/// three business days after `started_on`; they point at the train that rebuilds them.
pub async fn open_catalyst_runs(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    train_id: i32,
    catalyst: &str,
    started_on: chrono::NaiveDate,
    images: &[CatalystImage],
) -> AppResult<Vec<i32>> {
    let calendar = holidays(db).await?;
    let due = calendar.add_business_days(started_on, MAINTENANCE_BUSINESS_DAYS);
    let mut by_product: BTreeMap<i32, Vec<&CatalystImage>> = BTreeMap::new();
    for image in images {
        by_product.entry(image.product_id).or_default().push(image);
    }
    let mut opened = Vec::new();
    for (product_id, items) in by_product {
        let Some(product) = product::Entity::find_by_id(product_id).one(db).await? else {
            continue;
        };
        let Some(partner) = partner::Entity::find_by_id(product.partner_id)
            .one(db)
            .await?
        else {
            continue;
        };
        let tasks = items
            .iter()
            .map(|i| {
                let mut spec = TaskSpec::new(
                    i.task_title.clone(),
                    format!(
                        "The security rebuild train rebuilds {} {} ({}); the new image being \
                         available completes the task.",
                        product.name, i.version, i.arch
                    ),
                );
                spec.arch = Some(i.arch);
                spec.due_on = Some(due);
                spec
            })
            .collect();
        let title = format!(
            "Security vulnerability update: {} on {} ({catalyst})",
            product.name, partner.name
        );
        let wf = insert_workflow(
            db,
            now,
            workflow::ActiveModel {
                kind: Set(WorkflowKind::Maintenance),
                title: Set(title.clone()),
                partner_id: Set(partner.id),
                product_id: Set(Some(product.id)),
                release_id: Set(None),
                security: Set(true),
                state: Set(WorkflowState::Open),
                released_on: Set(Some(started_on)),
                due_on: Set(Some(due)),
                sla_notified: Set(String::new()),
                created_by: Set(actor.username.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                train_id: Set(Some(train_id)),
                ..Default::default()
            },
            vec![(
                StageSpec {
                    key: "implementation",
                    name: "Implementation",
                    team: Role::Omnibus,
                    depends_on: &[],
                },
                tasks,
            )],
        )
        .await?;
        audit::record(
            db,
            Some(actor),
            now,
            Change {
                action: "open_maintenance",
                object_type: "workflow",
                object_id: wf.id.to_string(),
                summary: format!("opened the maintenance run '{title}', due {due}"),
                before: None,
                after: snapshot(&wf),
            },
        )
        .await?;
        opened.push(wf.id);
    }
    if !opened.is_empty() {
        notify::send(
            db,
            now,
            Event::new(
                NotificationKind::MaintenanceOpened,
                format!("Security vulnerability update: {catalyst}"),
                "/maintenance",
            )
            .body(format!(
                "{} image rebuild{} due {due}.",
                images.len(),
                if images.len() == 1 { "" } else { "s" }
            ))
            .to_teams(&[Role::Omnibus]),
        )
        .await?;
    }
    Ok(opened)
}
