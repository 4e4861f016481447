//! Reading the process: a workflow loaded with its stages and tasks, the summaries and
//! details the pages show, the maintenance clock of a run, and a launch's gate and
//! sign-offs as recorded.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::{holidays::holidays, templates::TECHNICAL_STAGE};
use crate::{
    calendar::Holidays,
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        copy,
        entities::{
            job, listing, partner, product, release, signoff, task, task_comment, user, user_role,
            workflow, workflow_stage,
        },
    },
};

/// A workflow with its stages and tasks, in order.
pub(super) struct Loaded {
    pub(super) wf: workflow::Model,
    pub(super) stages: Vec<workflow_stage::Model>,
    pub(super) tasks: Vec<task::Model>,
}

impl Loaded {
    fn stage_state(&self, stage: &workflow_stage::Model) -> StageState {
        if stage.completed_at.is_some() {
            StageState::Done
        } else if self.blockers(stage).is_empty() {
            StageState::Active
        } else {
            StageState::Blocked
        }
    }

    /// The names of the stages `stage` waits for.
    pub(super) fn blockers(&self, stage: &workflow_stage::Model) -> Vec<String> {
        deps(&stage.depends_on)
            .filter_map(|key| {
                self.stages
                    .iter()
                    .find(|s| s.key == key && s.completed_at.is_none())
                    .map(|s| s.name.clone())
            })
            .collect()
    }

    pub(super) fn stage(&self, id: i32) -> AppResult<&workflow_stage::Model> {
        self.stages
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| AppError::internal("task without stage", id))
    }

    /// When the last image task of the run was done, if all are.
    fn image_out_at(&self) -> Option<DateTime<Utc>> {
        let images: Vec<&task::Model> = self.tasks.iter().filter(|t| t.arch.is_some()).collect();
        if images.is_empty() {
            return None;
        }
        images
            .iter()
            .map(|t| t.completed_at)
            .collect::<Option<Vec<_>>>()
            .and_then(|times| times.into_iter().max())
    }
}

pub(super) fn deps(depends_on: &str) -> impl Iterator<Item = &str> {
    depends_on
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

pub(super) async fn find_workflow(
    db: &impl ConnectionTrait,
    id: i32,
) -> AppResult<workflow::Model> {
    workflow::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("workflow {id}")))
}

pub(super) async fn load(db: &impl ConnectionTrait, wf: workflow::Model) -> AppResult<Loaded> {
    let stages = workflow_stage::Entity::find()
        .filter(workflow_stage::Column::WorkflowId.eq(wf.id))
        .order_by_asc(workflow_stage::Column::Position)
        .all(db)
        .await?;
    let tasks = task::Entity::find()
        .filter(task::Column::WorkflowId.eq(wf.id))
        .order_by_asc(task::Column::Position)
        .all(db)
        .await?;
    Ok(Loaded { wf, stages, tasks })
}

/// Summaries of many workflows with a fixed number of queries.
pub(super) async fn summaries(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    workflows: Vec<workflow::Model>,
) -> AppResult<Vec<WorkflowSummary>> {
    let ids: Vec<i32> = workflows.iter().map(|w| w.id).collect();
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(workflows.iter().map(|w| w.partner_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let products: HashMap<i32, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(workflows.iter().filter_map(|w| w.product_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let releases: HashMap<i32, String> = release::Entity::find()
        .filter(release::Column::Id.is_in(workflows.iter().filter_map(|w| w.release_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.version))
        .collect();
    let mut tasks: HashMap<i32, Vec<task::Model>> = HashMap::new();
    for t in task::Entity::find()
        .filter(task::Column::WorkflowId.is_in(ids))
        .all(db)
        .await?
    {
        tasks.entry(t.workflow_id).or_default().push(t);
    }
    let calendar = holidays(db).await?;
    workflows
        .into_iter()
        .map(|wf| {
            let partner = partners
                .get(&wf.partner_id)
                .ok_or_else(|| AppError::internal("workflow without partner", wf.id))?;
            let product = wf.product_id.and_then(|id| products.get(&id));
            let own = tasks.remove(&wf.id).unwrap_or_default();
            let loaded = Loaded {
                wf,
                stages: Vec::new(),
                tasks: own,
            };
            let sla = sla_of(&loaded, &calendar, now);
            let Loaded { wf, tasks, .. } = loaded;
            Ok(WorkflowSummary {
                id: wf.id,
                kind: wf.kind,
                title: wf.title,
                partner_slug: partner.slug.clone(),
                partner_name: partner.name.clone(),
                product_slug: product.map(|p| p.slug.clone()),
                product_name: product.map(|p| p.name.clone()),
                release: wf.release_id.and_then(|id| releases.get(&id).cloned()),
                security: wf.security,
                state: wf.state,
                tasks_done: tasks.iter().filter(|t| t.state.is_closed()).count() as u32,
                tasks_total: tasks.len() as u32,
                escalations: tasks
                    .iter()
                    .filter(|t| t.escalated_at.is_some() && t.completed_at.is_none())
                    .count() as u32,
                sla,
                created_at: wf.created_at,
                completed_at: wf.completed_at,
            })
        })
        .collect()
}

pub(super) fn sla_of(loaded: &Loaded, calendar: &Holidays, now: DateTime<Utc>) -> Option<Sla> {
    let (Some(released_on), Some(due_on)) = (loaded.wf.released_on, loaded.wf.due_on) else {
        return None;
    };
    let out = loaded.image_out_at();
    Some(Sla {
        released_on,
        due_on,
        status: calendar.sla_status(now, due_on, out),
        business_minutes_left: calendar.business_time_left(now, due_on).num_minutes(),
        image_out_at: out,
    })
}

pub(super) async fn summary(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    wf: workflow::Model,
) -> AppResult<WorkflowSummary> {
    summaries(db, now, vec![wf])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("summary", "no summary"))
}

async fn users_by_id(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i32>,
) -> AppResult<HashMap<i32, UserRef>> {
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| {
            (
                u.id,
                UserRef {
                    id: u.id,
                    username: u.username,
                    name: u.name,
                },
            )
        })
        .collect())
}

async fn task_dtos(
    db: &impl ConnectionTrait,
    loaded: &Loaded,
    tasks: &[&task::Model],
) -> AppResult<Vec<Task>> {
    let users = users_by_id(db, tasks.iter().filter_map(|t| t.assignee_id)).await?;
    let jobs: HashMap<i32, JobState> = job::Entity::find()
        .filter(job::Column::Id.is_in(tasks.iter().filter_map(|t| t.job_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|j| (j.id, j.state))
        .collect();
    let ids: Vec<i32> = tasks.iter().map(|t| t.id).collect();
    let mut assets = crate::services::assets::refs_of_tasks(db, &ids).await?;
    tasks
        .iter()
        .map(|t| {
            Ok(Task {
                id: t.id,
                workflow_id: t.workflow_id,
                stage_key: loaded.stage(t.stage_id)?.key.clone(),
                title: t.title.clone(),
                description: t.description.clone(),
                team: t.team,
                required: t.required,
                state: t.state,
                assignee: t.assignee_id.and_then(|id| users.get(&id).cloned()),
                due_on: t.due_on,
                response_due_on: t.response_due_on,
                escalated_at: t.escalated_at,
                links: serde_json::from_str(&t.links).unwrap_or_default(),
                assets: assets.remove(&t.id).unwrap_or_default(),
                job_id: t.job_id,
                job_state: t.job_id.and_then(|id| jobs.get(&id)).copied(),
                arch: t.arch,
                completed_at: t.completed_at,
                completed_by: t.completed_by.clone(),
                updated_at: t.updated_at,
            })
        })
        .collect()
}

pub async fn list(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    filter: &WorkflowFilter,
) -> AppResult<Page<WorkflowSummary>> {
    let Paging { index, per_page } = PageRequest::new(filter.page, 25).checked()?;
    let mut query = workflow::Entity::find().order_by_desc(workflow::Column::Id);
    if let Some(kind) = filter.kind.as_deref().filter(|k| !k.is_empty()) {
        let kind: WorkflowKind = kind.parse().map_err(AppError::bad_request)?;
        query = query.filter(workflow::Column::Kind.eq(kind));
    }
    if let Some(state) = filter.state.as_deref().filter(|s| !s.is_empty()) {
        let state: WorkflowState = state.parse().map_err(AppError::bad_request)?;
        query = query.filter(workflow::Column::State.eq(state));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: summaries(db, now, rows).await?,
        page: index + 1,
        per_page,
        total,
    })
}

pub async fn get(db: &impl ConnectionTrait, now: DateTime<Utc>, id: i32) -> AppResult<Workflow> {
    let loaded = load(db, find_workflow(db, id).await?).await?;
    let mut stages = Vec::new();
    for s in &loaded.stages {
        let own: Vec<&task::Model> = loaded.tasks.iter().filter(|t| t.stage_id == s.id).collect();
        stages.push(Stage {
            id: s.id,
            key: s.key.clone(),
            name: s.name.clone(),
            team: s.team,
            depends_on: deps(&s.depends_on).map(str::to_owned).collect(),
            state: loaded.stage_state(s),
            completed_at: s.completed_at,
            tasks: task_dtos(db, &loaded, &own).await?,
        });
    }
    let sign_offs = sign_offs_of(db, id).await?;
    let launch = match loaded.wf.kind {
        WorkflowKind::FirstTimeImage => Some(gate(db, &loaded, &sign_offs).await?),
        WorkflowKind::Maintenance => None,
    };
    Ok(Workflow {
        launched_at: loaded.wf.launched_at,
        launched_by: loaded.wf.launched_by.clone(),
        summary: summary(db, now, loaded.wf).await?,
        stages,
        sign_offs,
        launch,
    })
}

pub async fn task_detail(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<TaskDetail> {
    let t = find_task(db, id).await?;
    let loaded = load(db, find_workflow(db, t.workflow_id).await?).await?;
    let stage = loaded.stage(t.stage_id)?.clone();
    let task = task_dtos(db, &loaded, &[&t])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("task", "no task"))?;
    let comments = task_comment::Entity::find()
        .filter(task_comment::Column::TaskId.eq(id))
        .order_by_asc(task_comment::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|c| TaskComment {
            id: c.id,
            author: c.author,
            body: c.body,
            created_at: c.created_at,
        })
        .collect();
    let members: Vec<i32> = user_role::Entity::find()
        .filter(user_role::Column::Role.eq(task.team))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let mut assignable: Vec<UserRef> = user::Entity::find()
        .filter(user::Column::Id.is_in(members))
        .filter(user::Column::Blocked.eq(false))
        .all(db)
        .await?
        .into_iter()
        .map(|u| UserRef {
            id: u.id,
            username: u.username,
            name: u.name,
        })
        .collect();
    assignable.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(TaskDetail {
        stage_state: loaded.stage_state(&stage),
        blocked_by: loaded.blockers(&stage),
        stage_name: stage.name,
        workflow: summary(db, now, loaded.wf).await?,
        task,
        comments,
        assignable,
    })
}

pub(super) async fn find_task(db: &impl ConnectionTrait, id: i32) -> AppResult<task::Model> {
    task::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("task {id}")))
}

pub(super) async fn sign_offs_of(
    db: &impl ConnectionTrait,
    workflow_id: i32,
) -> AppResult<Vec<SignOff>> {
    Ok(signoff::Entity::find()
        .filter(signoff::Column::WorkflowId.eq(workflow_id))
        .order_by_asc(signoff::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|s| SignOff {
            team: s.team,
            username: s.username,
            comment: s.comment,
            at: s.at,
        })
        .collect())
}

pub(super) async fn gate(
    db: &impl ConnectionTrait,
    loaded: &Loaded,
    sign_offs: &[SignOff],
) -> AppResult<LaunchGate> {
    let mut blockers = Vec::new();
    let technical_done = loaded
        .stages
        .iter()
        .any(|s| s.key == TECHNICAL_STAGE && s.completed_at.is_some());
    if !technical_done {
        blockers.push("the technical implementation stage is not done".to_owned());
    }
    let listing = match loaded.wf.product_id {
        Some(product_id) => {
            listing::Entity::find()
                .filter(listing::Column::ProductId.eq(product_id))
                .order_by_asc(listing::Column::Id)
                .one(db)
                .await?
        }
        None => None,
    };
    let approved_revision = match &listing {
        Some(l) => copy::approved_head(db, l.id).await?,
        None => None,
    };
    match (&loaded.wf.product_id, &listing, approved_revision) {
        (None, _, _) => blockers.push("no product is chosen for this image yet".to_owned()),
        (Some(_), None, _) => {
            blockers.push("the product has no marketplace listing to carry its copy".to_owned());
        }
        (Some(_), Some(_), None) => {
            blockers.push("the listing's newest copy revision is not approved".to_owned());
        }
        _ => {}
    }
    let missing: Vec<Role> = SIGN_OFF_TEAMS
        .iter()
        .copied()
        .filter(|team| !sign_offs.iter().any(|s| s.team == *team))
        .collect();
    if !missing.is_empty() {
        blockers.push(format!(
            "waiting for the sign-off of {}",
            missing
                .iter()
                .map(|r| r.label())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(LaunchGate {
        technical_done,
        listing_id: listing.map(|l| l.id),
        approved_revision,
        copy_approved: approved_revision.is_some(),
        missing_sign_offs: missing,
        blockers,
    })
}
