//! The cloud image process: workflows of stages owned by teams, with tasks.
//!
//! A first-time image follows the handbook: Introduction & scope (Partnerships) first, then
//! Technical implementation (Omnibus) and Marketing (Partner Marketing) in parallel; its
//! launch needs the technical stage done, approved listing copy and a sign-off of each team.
//! A release opens a maintenance run for every product whose image the portal maintains,
//! due three business days after the release. The rules live here, on the server: the pages
//! only show what these functions allow.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::{
    audit::{self, Change, snapshot},
    copy, db_err,
    entities::{
        holiday, job, listing, partner, product, product_architecture, release, signoff, task,
        task_comment, user, user_role, workflow, workflow_stage,
    },
    is_unique_violation,
    notify::{self, Event},
    stored,
};
use crate::{
    calendar::{self, Holidays, MAINTENANCE_BUSINESS_DAYS},
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator, optional_url, required_text},
};

struct TaskTemplate {
    title: &'static str,
    description: &'static str,
    required: bool,
}

struct StageTemplate {
    key: &'static str,
    name: &'static str,
    team: Role,
    depends_on: &'static [&'static str],
    tasks: &'static [TaskTemplate],
}

const fn t(title: &'static str, description: &'static str) -> TaskTemplate {
    TaskTemplate {
        title,
        description,
        required: true,
    }
}

/// The first-time image process of the handbook.
const FIRST_TIME: [StageTemplate; 3] = [
    StageTemplate {
        key: "introduction",
        name: "Introduction & scope",
        team: Role::Partnerships,
        depends_on: &[],
        tasks: &[
            t(
                "Create the issue for the first-time image",
                "Progress is tracked in a GitLab issue.",
            ),
            t(
                "Gather the documentation on integrating with the cloud partner",
                "Link the partner's integration guides here and in the partnership doc.",
            ),
            t(
                "Understand the joint marketing opportunities for the launch",
                "What the partner can do with us on launch: blogs, social, events.",
            ),
            t(
                "Set up GitLab's account on the partner's system",
                "Credentials go to the GitLab Images vault, never into a task.",
            ),
            TaskTemplate {
                title: "Technical call between Omnibus and the partner's tech or product lead",
                description: "Optional: at the request of the Omnibus team.",
                required: false,
            },
            t(
                "Introduce Partner Marketing to the partner's marketing contacts",
                "So the marketing stage can start as soon as scoping is done.",
            ),
        ],
    },
    StageTemplate {
        key: "technical",
        name: "Technical implementation",
        team: Role::Omnibus,
        depends_on: &["introduction"],
        tasks: &[
            t(
                "Scope the level of effort",
                "How much work the image is, and what it needs.",
            ),
            t(
                "Set the assignee and due date on the issue",
                "Assign this stage's tasks and give them due dates.",
            ),
            t(
                "Upload the image and see it through partner testing",
                "Follow up with the partner's support team if needed. While waiting on them, set \
                 the task to 'waiting on the partner' with the date they must answer by: past \
                 that date it escalates to Partnerships.",
            ),
            t(
                "Write the documentation section, aligned with the launch",
                "The merge request lands with the marketing launch.",
            ),
        ],
    },
    StageTemplate {
        key: "marketing",
        name: "Marketing",
        team: Role::Marketing,
        depends_on: &["introduction"],
        tasks: &[
            t(
                "Create the marketing issue",
                "Tracks the marketing side of the launch.",
            ),
            t(
                "Joint blog posts on GitLab's and the partner's blogs",
                "Aligned with the partner's marketing team.",
            ),
            t(
                "Social network burst",
                "Posts from both companies on launch day.",
            ),
            t(
                "Write the image description for the listing",
                "Written in the listing's copy editor and approved by Partnerships and Omnibus; \
                 ask a technical writer for help if needed.",
            ),
            t(
                "Align the release date with the partner's product lead",
                "The launch date both companies announce.",
            ),
            t(
                "Find a customer story or quote",
                "An existing GitLab customer who would use the image.",
            ),
        ],
    },
];

pub(crate) const TECHNICAL_STAGE: &str = "technical";

/// Whether `user` may work on a task of `team`: its team, an admin, or Partnerships once
/// the task escalated to them.
fn may_work_on(user: &CurrentUser, team: Role, escalated: bool) -> bool {
    user.has(team) || user.has(Role::Admin) || (escalated && user.has(Role::Partnerships))
}

/// Refuses `user` unless they may work on `t`.
fn check_may_work(user: &CurrentUser, t: &task::Model) -> AppResult<()> {
    let team: Role = stored(&t.team)?;
    if may_work_on(user, team, t.escalated_at.is_some()) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "only the {} team works on this task",
            team.label()
        )))
    }
}

// ---------------------------------------------------------------------------------------
// Holidays

pub async fn holidays(db: &impl ConnectionTrait) -> AppResult<Holidays> {
    Ok(Holidays::new(
        holiday::Entity::find()
            .all(db)
            .await
            .map_err(db_err("loading holidays"))?
            .into_iter()
            .map(|h| h.day),
    ))
}

pub async fn list_holidays(db: &impl ConnectionTrait) -> AppResult<Vec<Holiday>> {
    Ok(holiday::Entity::find()
        .order_by_asc(holiday::Column::Day)
        .all(db)
        .await
        .map_err(db_err("listing holidays"))?
        .into_iter()
        .map(|h| Holiday {
            id: h.id,
            day: h.day,
            name: h.name,
        })
        .collect())
}

fn optional_day(value: &str) -> Result<Option<NaiveDate>, String> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        calendar::parse_day(value).map(Some)
    }
}

/// Adds a day that does not count on the maintenance clock, and moves the due dates of
/// the open runs it falls into.
pub async fn add_holiday(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &HolidayInput,
) -> AppResult<Holiday> {
    let mut v = Validator::new();
    let day = v.check("day", calendar::parse_day(&input.day));
    let name = v.check("name", required_text(&input.name, 100));
    let (day, name) = v.finish(|| Some((day?, name?)))?;
    let txn = super::begin_write(db).await?;
    let model = holiday::ActiveModel {
        day: Set(day),
        name: Set(name),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict("day", format!("{day} is already a holiday"))
        } else {
            AppError::internal("saving a holiday", e)
        }
    })?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "holiday",
            object_id: day.to_string(),
            summary: format!("added the holiday {} ({day})", model.name),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    recompute_due_dates(&txn, now).await?;
    txn.commit().await.map_err(db_err("committing a holiday"))?;
    Ok(Holiday {
        id: model.id,
        day: model.day,
        name: model.name,
    })
}

pub async fn delete_holiday(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    let model = holiday::Entity::find_by_id(id)
        .one(&txn)
        .await
        .map_err(db_err("finding a holiday"))?
        .ok_or_else(|| AppError::not_found(format!("holiday {id}")))?;
    holiday::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(db_err("deleting a holiday"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "delete",
            object_type: "holiday",
            object_id: model.day.to_string(),
            summary: format!("removed the holiday {} ({})", model.name, model.day),
            before: snapshot(&model),
            after: None,
        },
    )
    .await?;
    recompute_due_dates(&txn, now).await?;
    txn.commit().await.map_err(db_err("committing a holiday"))
}

/// Re-derives the due date of every open maintenance run from its release date.
async fn recompute_due_dates(db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<()> {
    let calendar = holidays(db).await?;
    for wf in workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance.as_str()))
        .filter(workflow::Column::State.eq(WorkflowState::Open.as_str()))
        .all(db)
        .await
        .map_err(db_err("listing open runs"))?
    {
        let Some(released_on) = wf.released_on else {
            continue;
        };
        let due = calendar.add_business_days(released_on, MAINTENANCE_BUSINESS_DAYS);
        if Some(due) != wf.due_on {
            let mut active: workflow::ActiveModel = wf.into();
            active.due_on = Set(Some(due));
            active.updated_at = Set(now);
            active
                .update(db)
                .await
                .map_err(db_err("moving a due date"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading

struct Loaded {
    wf: workflow::Model,
    stages: Vec<workflow_stage::Model>,
    tasks: Vec<task::Model>,
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
    fn blockers(&self, stage: &workflow_stage::Model) -> Vec<String> {
        deps(&stage.depends_on)
            .filter_map(|key| {
                self.stages
                    .iter()
                    .find(|s| s.key == key && s.completed_at.is_none())
                    .map(|s| s.name.clone())
            })
            .collect()
    }

    fn stage(&self, id: i32) -> AppResult<&workflow_stage::Model> {
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

fn deps(depends_on: &str) -> impl Iterator<Item = &str> {
    depends_on
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

async fn find_workflow(db: &impl ConnectionTrait, id: i32) -> AppResult<workflow::Model> {
    workflow::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_err("finding a workflow"))?
        .ok_or_else(|| AppError::not_found(format!("workflow {id}")))
}

async fn load(db: &impl ConnectionTrait, wf: workflow::Model) -> AppResult<Loaded> {
    let stages = workflow_stage::Entity::find()
        .filter(workflow_stage::Column::WorkflowId.eq(wf.id))
        .order_by_asc(workflow_stage::Column::Position)
        .all(db)
        .await
        .map_err(db_err("loading stages"))?;
    let tasks = task::Entity::find()
        .filter(task::Column::WorkflowId.eq(wf.id))
        .order_by_asc(task::Column::Position)
        .all(db)
        .await
        .map_err(db_err("loading tasks"))?;
    Ok(Loaded { wf, stages, tasks })
}

/// Summaries of many workflows with a fixed number of queries.
async fn summaries(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    workflows: Vec<workflow::Model>,
) -> AppResult<Vec<WorkflowSummary>> {
    let ids: Vec<i32> = workflows.iter().map(|w| w.id).collect();
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(workflows.iter().map(|w| w.partner_id)))
        .all(db)
        .await
        .map_err(db_err("loading partners"))?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let products: HashMap<i32, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(workflows.iter().filter_map(|w| w.product_id)))
        .all(db)
        .await
        .map_err(db_err("loading products"))?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let releases: HashMap<i32, String> = release::Entity::find()
        .filter(release::Column::Id.is_in(workflows.iter().filter_map(|w| w.release_id)))
        .all(db)
        .await
        .map_err(db_err("loading releases"))?
        .into_iter()
        .map(|r| (r.id, r.version))
        .collect();
    let mut tasks: HashMap<i32, Vec<task::Model>> = HashMap::new();
    for t in task::Entity::find()
        .filter(task::Column::WorkflowId.is_in(ids))
        .all(db)
        .await
        .map_err(db_err("loading tasks"))?
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
                kind: stored(&wf.kind)?,
                title: wf.title,
                partner_slug: partner.slug.clone(),
                partner_name: partner.name.clone(),
                product_slug: product.map(|p| p.slug.clone()),
                product_name: product.map(|p| p.name.clone()),
                release: wf.release_id.and_then(|id| releases.get(&id).cloned()),
                security: wf.security,
                state: stored(&wf.state)?,
                tasks_done: tasks
                    .iter()
                    .filter(|t| stored::<TaskState>(&t.state).is_ok_and(TaskState::is_closed))
                    .count() as u32,
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

fn sla_of(loaded: &Loaded, calendar: &Holidays, now: DateTime<Utc>) -> Option<Sla> {
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

async fn summary(
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
        .await
        .map_err(db_err("loading users"))?
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
    let jobs: HashMap<i32, String> = job::Entity::find()
        .filter(job::Column::Id.is_in(tasks.iter().filter_map(|t| t.job_id)))
        .all(db)
        .await
        .map_err(db_err("loading jobs"))?
        .into_iter()
        .map(|j| (j.id, j.state))
        .collect();
    tasks
        .iter()
        .map(|t| {
            Ok(Task {
                id: t.id,
                workflow_id: t.workflow_id,
                stage_key: loaded.stage(t.stage_id)?.key.clone(),
                title: t.title.clone(),
                description: t.description.clone(),
                team: stored(&t.team)?,
                required: t.required,
                state: stored(&t.state)?,
                assignee: t.assignee_id.and_then(|id| users.get(&id).cloned()),
                due_on: t.due_on,
                response_due_on: t.response_due_on,
                escalated_at: t.escalated_at,
                links: serde_json::from_str(&t.links).unwrap_or_default(),
                job_id: t.job_id,
                job_state: t
                    .job_id
                    .and_then(|id| jobs.get(&id))
                    .map(|s| stored(s))
                    .transpose()?,
                arch: t.arch.as_deref().map(stored).transpose()?,
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
    let per_page = 25;
    let mut query = workflow::Entity::find().order_by_desc(workflow::Column::Id);
    if let Some(kind) = filter.kind.as_deref().filter(|k| !k.is_empty()) {
        let kind: WorkflowKind = kind.parse().map_err(AppError::bad_request)?;
        query = query.filter(workflow::Column::Kind.eq(kind.as_str()));
    }
    if let Some(state) = filter.state.as_deref().filter(|s| !s.is_empty()) {
        let state: WorkflowState = state.parse().map_err(AppError::bad_request)?;
        query = query.filter(workflow::Column::State.eq(state.as_str()));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator
        .num_items()
        .await
        .map_err(db_err("counting workflows"))?;
    let page = filter.page.unwrap_or(1).max(1);
    let rows = paginator
        .fetch_page(page - 1)
        .await
        .map_err(db_err("listing workflows"))?;
    Ok(Page {
        items: summaries(db, now, rows).await?,
        page,
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
            team: stored(&s.team)?,
            depends_on: deps(&s.depends_on).map(str::to_owned).collect(),
            state: loaded.stage_state(s),
            completed_at: s.completed_at,
            tasks: task_dtos(db, &loaded, &own).await?,
        });
    }
    let sign_offs = sign_offs_of(db, id).await?;
    let kind: WorkflowKind = stored(&loaded.wf.kind)?;
    let launch = match kind {
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

async fn sign_offs_of(db: &impl ConnectionTrait, workflow_id: i32) -> AppResult<Vec<SignOff>> {
    signoff::Entity::find()
        .filter(signoff::Column::WorkflowId.eq(workflow_id))
        .order_by_asc(signoff::Column::Id)
        .all(db)
        .await
        .map_err(db_err("loading sign-offs"))?
        .into_iter()
        .map(|s| {
            Ok(SignOff {
                team: stored(&s.team)?,
                username: s.username,
                comment: s.comment,
                at: s.at,
            })
        })
        .collect()
}

async fn gate(
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
        Some(product_id) => listing::Entity::find()
            .filter(listing::Column::ProductId.eq(product_id))
            .order_by_asc(listing::Column::Id)
            .one(db)
            .await
            .map_err(db_err("finding a listing"))?,
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
        .await
        .map_err(db_err("loading comments"))?
        .into_iter()
        .map(|c| TaskComment {
            id: c.id,
            author: c.author,
            body: c.body,
            created_at: c.created_at,
        })
        .collect();
    let members: Vec<i32> = user_role::Entity::find()
        .filter(user_role::Column::Role.eq(task.team.as_str()))
        .all(db)
        .await
        .map_err(db_err("loading a team"))?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let mut assignable: Vec<UserRef> = user::Entity::find()
        .filter(user::Column::Id.is_in(members))
        .filter(user::Column::Blocked.eq(false))
        .all(db)
        .await
        .map_err(db_err("loading a team"))?
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

async fn find_task(db: &impl ConnectionTrait, id: i32) -> AppResult<task::Model> {
    task::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(db_err("finding a task"))?
        .ok_or_else(|| AppError::not_found(format!("task {id}")))
}

// ---------------------------------------------------------------------------------------
// Creating workflows

async fn insert_workflow(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    wf: workflow::ActiveModel,
    stages: Vec<(StageSpec, Vec<TaskSpec>)>,
) -> AppResult<workflow::Model> {
    let wf = wf.insert(db).await.map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict("release", "this product already has a run for this release")
        } else {
            AppError::internal("saving a workflow", e)
        }
    })?;
    let mut position = 0;
    for (stage_position, (stage, tasks)) in stages.into_iter().enumerate() {
        let s = workflow_stage::ActiveModel {
            workflow_id: Set(wf.id),
            position: Set(stage_position as i32),
            key: Set(stage.key.to_owned()),
            name: Set(stage.name.to_owned()),
            team: Set(stage.team.as_str().to_owned()),
            depends_on: Set(stage.depends_on.join(",")),
            completed_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await
        .map_err(db_err("saving a stage"))?;
        for spec in tasks {
            position += 1;
            task::ActiveModel {
                workflow_id: Set(wf.id),
                stage_id: Set(s.id),
                position: Set(position),
                title: Set(spec.title),
                description: Set(spec.description),
                team: Set(stage.team.as_str().to_owned()),
                required: Set(spec.required),
                state: Set(TaskState::Todo.as_str().to_owned()),
                due_on: Set(spec.due_on),
                links: Set(serde_json::to_string(&spec.links)
                    .map_err(|e| AppError::internal("task links", e))?),
                arch: Set(spec.arch.map(|a| a.as_str().to_owned())),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await
            .map_err(db_err("saving a task"))?;
        }
    }
    Ok(wf)
}

struct StageSpec {
    key: &'static str,
    name: &'static str,
    team: Role,
    depends_on: &'static [&'static str],
}

struct TaskSpec {
    title: String,
    description: String,
    required: bool,
    due_on: Option<NaiveDate>,
    links: Vec<TaskLink>,
    arch: Option<Arch>,
}

impl TaskSpec {
    fn new(title: impl Into<String>, description: impl Into<String>) -> Self {
        TaskSpec {
            title: title.into(),
            description: description.into(),
            required: true,
            due_on: None,
            links: Vec::new(),
            arch: None,
        }
    }
}

/// Opens a first-time image project for a partner (and the product, once known).
pub async fn start_first_time(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &FirstTimeInput,
) -> AppResult<Workflow> {
    let txn = super::begin_write(db).await?;
    let partner = super::partners::find_model(&txn, input.partner.trim())
        .await
        .map_err(|e| AppError::conflict("partner", e.message))?;
    let product = if input.product.trim().is_empty() {
        None
    } else {
        Some(
            super::products::find_model(&txn, &partner.slug, input.product.trim())
                .await
                .map_err(|e| AppError::conflict("product", e.message))?
                .1,
        )
    };
    let listing_link = match &product {
        Some(p) => listing::Entity::find()
            .filter(listing::Column::ProductId.eq(p.id))
            .one(&txn)
            .await
            .map_err(db_err("finding a listing"))?
            .map(|l| TaskLink {
                label: "Listing copy".into(),
                url: format!("/listings/{}/copy", l.id),
            }),
        None => None,
    };
    let title = match &product {
        Some(p) => format!("First-time image: {} on {}", p.name, partner.name),
        None => format!("First-time image on {}", partner.name),
    };
    let stages = FIRST_TIME
        .iter()
        .map(|s| {
            (
                StageSpec {
                    key: s.key,
                    name: s.name,
                    team: s.team,
                    depends_on: s.depends_on,
                },
                s.tasks
                    .iter()
                    .map(|t| {
                        let mut spec = TaskSpec::new(t.title, t.description);
                        spec.required = t.required;
                        if t.title.contains("image description")
                            && let Some(link) = &listing_link
                        {
                            spec.links.push(link.clone());
                        }
                        spec
                    })
                    .collect(),
            )
        })
        .collect();
    let wf = insert_workflow(
        &txn,
        now,
        workflow::ActiveModel {
            kind: Set(WorkflowKind::FirstTimeImage.as_str().to_owned()),
            title: Set(title.clone()),
            partner_id: Set(partner.id),
            product_id: Set(product.as_ref().map(|p| p.id)),
            security: Set(false),
            state: Set(WorkflowState::Open.as_str().to_owned()),
            sla_notified: Set(String::new()),
            created_by: Set(actor.username.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        },
        stages,
    )
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "workflow",
            object_id: wf.id.to_string(),
            summary: format!("opened '{title}'"),
            before: None,
            after: snapshot(&wf),
        },
    )
    .await?;
    txn.commit()
        .await
        .map_err(db_err("committing a workflow"))?;
    get(db, now, wf.id).await
}

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
    let kind: ReleaseKind = stored(&release.kind)?;
    let security = kind == ReleaseKind::Security;
    let calendar = holidays(db).await?;
    let due = calendar.add_business_days(release.released_on, MAINTENANCE_BUSINESS_DAYS);
    let products = product::Entity::find()
        .filter(product::Column::MaintenanceMode.eq(MaintenanceMode::Image.as_str()))
        .order_by_asc(product::Column::Id)
        .all(db)
        .await
        .map_err(db_err("listing maintained products"))?;
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(products.iter().map(|p| p.partner_id)))
        .all(db)
        .await
        .map_err(db_err("loading partners"))?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let existing: HashSet<i32> = workflow::Entity::find()
        .filter(workflow::Column::ReleaseId.eq(release.id))
        .all(db)
        .await
        .map_err(db_err("finding runs"))?
        .into_iter()
        .filter_map(|w| w.product_id)
        .collect();
    let mut opened = Vec::new();
    for product in products {
        let Some(partner) = partners.get(&product.partner_id) else {
            continue;
        };
        if stored::<PartnerStatus>(&partner.status)? == PartnerStatus::Retired
            || existing.contains(&product.id)
        {
            continue;
        }
        let archs = product_architecture::Entity::find()
            .filter(product_architecture::Column::ProductId.eq(product.id))
            .order_by_asc(product_architecture::Column::Id)
            .all(db)
            .await
            .map_err(db_err("loading architectures"))?;
        let mut implementation = vec![TaskSpec::new(
            "Create the maintenance issue",
            format!("One issue for {} {}.", product.name, release.version),
        )];
        for a in &archs {
            let arch: Arch = stored(&a.arch)?;
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
        implementation.push(TaskSpec::new(
            "Update the documentation",
            "The Omnibus documentation section for this cloud.",
        ));
        let technical_info = vec![TaskSpec::new(
            format!(
                "Update the image description and documentation on {}",
                partner.name
            ),
            "On the partner's platform: the listing's description, release notes and usage.",
        )];
        let mut stages = vec![
            (
                StageSpec {
                    key: "implementation",
                    name: "Implementation",
                    team: Role::Omnibus,
                    depends_on: &[],
                },
                implementation,
            ),
            (
                StageSpec {
                    key: "technical_info",
                    name: "Technical info",
                    team: Role::Marketing,
                    depends_on: &[],
                },
                technical_info,
            ),
        ];
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
                kind: Set(WorkflowKind::Maintenance.as_str().to_owned()),
                title: Set(title.clone()),
                partner_id: Set(partner.id),
                product_id: Set(Some(product.id)),
                release_id: Set(Some(release.id)),
                security: Set(security),
                state: Set(WorkflowState::Open.as_str().to_owned()),
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

// ---------------------------------------------------------------------------------------
// Working on tasks

/// Moves a task to another state, checking the stage order, and completes its stage (and
/// the workflow) when that was the last required task.
async fn apply_state(
    db: &impl ConnectionTrait,
    actor: Option<&CurrentUser>,
    now: DateTime<Utc>,
    loaded: &Loaded,
    t: &task::Model,
    new: TaskState,
    response_due_on: Option<NaiveDate>,
) -> AppResult<()> {
    let old: TaskState = stored(&t.state)?;
    if stored::<WorkflowState>(&loaded.wf.state)? == WorkflowState::Launched {
        return Err(AppError::conflict(
            "state",
            "this image has launched: its workflow is closed",
        ));
    }
    let stage = loaded.stage(t.stage_id)?;
    let blockers = loaded.blockers(stage);
    if !blockers.is_empty() {
        return Err(AppError::conflict(
            "state",
            format!(
                "'{}' cannot start before {} {} done",
                stage.name,
                blockers.join(" and "),
                if blockers.len() == 1 { "is" } else { "are" }
            ),
        ));
    }
    if new == TaskState::Skipped && t.required {
        return Err(AppError::conflict(
            "state",
            "a required task cannot be skipped; only optional tasks can",
        ));
    }
    if old.is_closed() && !new.is_closed() && stage.completed_at.is_some() {
        let started: Vec<&str> = loaded
            .stages
            .iter()
            .filter(|s| deps(&s.depends_on).any(|d| d == stage.key))
            .filter(|s| {
                loaded
                    .tasks
                    .iter()
                    .any(|x| x.stage_id == s.id && x.state != TaskState::Todo.as_str())
            })
            .map(|s| s.name.as_str())
            .collect();
        if !started.is_empty() {
            return Err(AppError::conflict(
                "state",
                format!(
                    "'{}' cannot be reopened: {} already started on the strength of it",
                    stage.name,
                    started.join(" and ")
                ),
            ));
        }
    }
    let actor_name = actor.map_or_else(|| "portal".to_owned(), |a| a.username.clone());
    let mut active: task::ActiveModel = t.clone().into();
    active.state = Set(new.as_str().to_owned());
    active.response_due_on = Set(response_due_on.filter(|_| new == TaskState::WaitingOnPartner));
    if new != TaskState::WaitingOnPartner {
        active.escalated_at = Set(None);
    }
    if new.is_closed() {
        active.completed_at = Set(Some(now));
        active.completed_by = Set(Some(actor_name.clone()));
    } else {
        active.completed_at = Set(None);
        active.completed_by = Set(None);
    }
    active.updated_at = Set(now);
    let after = active.update(db).await.map_err(db_err("updating a task"))?;
    let detail = match response_due_on.filter(|_| new == TaskState::WaitingOnPartner) {
        Some(d) => format!(" (the partner must answer by {d})"),
        None => String::new(),
    };
    audit::record(
        db,
        actor,
        now,
        Change {
            action: "task_state",
            object_type: "task",
            object_id: t.id.to_string(),
            summary: format!(
                "moved '{}' from {} to {}{detail}",
                t.title,
                old.label(),
                new.label()
            ),
            before: snapshot(t),
            after: snapshot(&after),
        },
    )
    .await?;
    // The stage and the workflow follow their tasks.
    let mut tasks = loaded.tasks.clone();
    if let Some(x) = tasks.iter_mut().find(|x| x.id == t.id) {
        *x = after;
    }
    let stage_done = tasks
        .iter()
        .filter(|x| x.stage_id == stage.id && x.required)
        .all(|x| stored::<TaskState>(&x.state).is_ok_and(TaskState::is_closed));
    let mut stages = loaded.stages.clone();
    if stage_done != stage.completed_at.is_some() {
        let mut s: workflow_stage::ActiveModel = stage.clone().into();
        s.completed_at = Set(stage_done.then_some(now));
        let s = s.update(db).await.map_err(db_err("updating a stage"))?;
        if let Some(x) = stages.iter_mut().find(|x| x.id == s.id) {
            *x = s;
        }
        audit::record(
            db,
            actor,
            now,
            Change {
                action: if stage_done {
                    "stage_done"
                } else {
                    "stage_reopened"
                },
                object_type: "workflow",
                object_id: loaded.wf.id.to_string(),
                summary: format!(
                    "stage '{}' of '{}' is {}",
                    stage.name,
                    loaded.wf.title,
                    if stage_done { "done" } else { "open again" }
                ),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    let all_done = stages.iter().all(|s| s.completed_at.is_some());
    if all_done != loaded.wf.completed_at.is_some() {
        let kind: WorkflowKind = stored(&loaded.wf.kind)?;
        let mut w: workflow::ActiveModel = loaded.wf.clone().into();
        w.completed_at = Set(all_done.then_some(now));
        if kind == WorkflowKind::Maintenance {
            w.state = Set(if all_done {
                WorkflowState::Done
            } else {
                WorkflowState::Open
            }
            .as_str()
            .to_owned());
        }
        w.updated_at = Set(now);
        w.update(db).await.map_err(db_err("updating a workflow"))?;
        audit::record(
            db,
            actor,
            now,
            Change {
                action: if all_done {
                    "workflow_done"
                } else {
                    "workflow_reopened"
                },
                object_type: "workflow",
                object_id: loaded.wf.id.to_string(),
                summary: format!(
                    "'{}' is {}",
                    loaded.wf.title,
                    if all_done { "done" } else { "open again" }
                ),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn set_task_state(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    input: &TaskStateInput,
) -> AppResult<TaskDetail> {
    let mut v = Validator::new();
    let new = v.check("state", input.state.parse::<TaskState>());
    let response = v.check("response_due_on", optional_day(&input.response_due_on));
    let (new, response) = v.finish(|| Some((new?, response?)))?;
    let response = match (new, response) {
        (TaskState::WaitingOnPartner, None) => {
            return Err(AppError::validation(
                "response_due_on",
                "say by when the partner must answer: past that day the task escalates to Partnerships",
            ));
        }
        (TaskState::WaitingOnPartner, Some(day)) if day < now.date_naive() => {
            return Err(AppError::validation(
                "response_due_on",
                format!("{day} has already passed"),
            ));
        }
        (_, r) => r,
    };
    let txn = super::begin_write(db).await?;
    let t = find_task(&txn, task_id).await?;
    check_may_work(actor, &t)?;
    if t.state == new.as_str() && t.response_due_on == response {
        txn.commit().await.map_err(db_err("committing a task"))?;
        return task_detail(db, now, task_id).await;
    }
    let loaded = load(&txn, find_workflow(&txn, t.workflow_id).await?).await?;
    apply_state(&txn, Some(actor), now, &loaded, &t, new, response).await?;
    txn.commit().await.map_err(db_err("committing a task"))?;
    task_detail(db, now, task_id).await
}

pub async fn assign_task(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    input: &TaskAssignInput,
) -> AppResult<TaskDetail> {
    let due = optional_day(&input.due_on).map_err(|m| AppError::validation("due_on", m))?;
    let txn = super::begin_write(db).await?;
    let t = find_task(&txn, task_id).await?;
    check_may_work(actor, &t)?;
    let team: Role = stored(&t.team)?;
    let assignee = if input.assignee.trim().is_empty() {
        None
    } else {
        let u = user::Entity::find()
            .filter(user::Column::Username.eq(input.assignee.trim()))
            .one(&txn)
            .await
            .map_err(db_err("finding a user"))?
            .ok_or_else(|| {
                AppError::validation(
                    "assignee",
                    format!("there is no user '{}'", input.assignee.trim()),
                )
            })?;
        let member = user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(u.id))
            .filter(user_role::Column::Role.eq(team.as_str()))
            .one(&txn)
            .await
            .map_err(db_err("checking a team"))?
            .is_some();
        if !member || u.blocked {
            return Err(AppError::validation(
                "assignee",
                format!("{} is not in the {} team", u.name, team.label()),
            ));
        }
        Some(u)
    };
    let mut active: task::ActiveModel = t.clone().into();
    active.assignee_id = Set(assignee.as_ref().map(|u| u.id));
    active.due_on = Set(due);
    active.updated_at = Set(now);
    let after = active
        .update(&txn)
        .await
        .map_err(db_err("updating a task"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "task_assign",
            object_type: "task",
            object_id: t.id.to_string(),
            summary: format!(
                "assigned '{}' to {}, due {}",
                t.title,
                assignee.as_ref().map_or("nobody", |u| u.username.as_str()),
                due.map_or_else(|| "whenever".to_owned(), |d| d.to_string())
            ),
            before: snapshot(&t),
            after: snapshot(&after),
        },
    )
    .await?;
    txn.commit().await.map_err(db_err("committing a task"))?;
    task_detail(db, now, task_id).await
}

pub async fn comment_on_task(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    body: &str,
) -> AppResult<TaskDetail> {
    let body = required_text(body, 5000).map_err(|m| AppError::validation("body", m))?;
    let txn = super::begin_write(db).await?;
    let t = find_task(&txn, task_id).await?;
    let c = task_comment::ActiveModel {
        task_id: Set(t.id),
        author_id: Set(actor.id),
        author: Set(actor.username.clone()),
        body: Set(body),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(db_err("saving a comment"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "comment",
            object_type: "task",
            object_id: t.id.to_string(),
            summary: format!("commented on '{}'", t.title),
            before: None,
            after: snapshot(&c),
        },
    )
    .await?;
    txn.commit().await.map_err(db_err("committing a comment"))?;
    task_detail(db, now, task_id).await
}

pub async fn add_task_link(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    input: &TaskLinkInput,
) -> AppResult<TaskDetail> {
    let mut v = Validator::new();
    let label = v.check("label", required_text(&input.label, 200));
    let url = v.check(
        "url",
        optional_url(&input.url).and_then(|u| u.ok_or_else(|| "is required".to_owned())),
    );
    let link = v.finish(|| {
        Some(TaskLink {
            label: label?,
            url: url?,
        })
    })?;
    let txn = super::begin_write(db).await?;
    let t = find_task(&txn, task_id).await?;
    check_may_work(actor, &t)?;
    let mut links: Vec<TaskLink> = serde_json::from_str(&t.links).unwrap_or_default();
    if links.len() >= 50 {
        return Err(AppError::validation("url", "a task holds at most 50 links"));
    }
    links.push(link.clone());
    let mut active: task::ActiveModel = t.clone().into();
    active.links = Set(serde_json::to_string(&links).map_err(|e| AppError::internal("links", e))?);
    active.updated_at = Set(now);
    active
        .update(&txn)
        .await
        .map_err(db_err("updating a task"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "task_link",
            object_type: "task",
            object_id: t.id.to_string(),
            summary: format!("linked {} ({}) to '{}'", link.label, link.url, t.title),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await.map_err(db_err("committing a task"))?;
    task_detail(db, now, task_id).await
}

// ---------------------------------------------------------------------------------------
// Sign-offs and the launch

pub async fn sign_off(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    workflow_id: i32,
    input: &SignOffInput,
) -> AppResult<Workflow> {
    let team: Role = input
        .team
        .parse()
        .map_err(|m: String| AppError::validation("team", m))?;
    if !SIGN_OFF_TEAMS.contains(&team) {
        return Err(AppError::validation(
            "team",
            "only Partnerships, Omnibus and Marketing sign off a launch",
        ));
    }
    if !actor.has(team) {
        return Err(AppError::forbidden(format!(
            "only a member of {} signs off for {}",
            team.label(),
            team.label()
        )));
    }
    let txn = super::begin_write(db).await?;
    let wf = find_workflow(&txn, workflow_id).await?;
    if stored::<WorkflowKind>(&wf.kind)? != WorkflowKind::FirstTimeImage {
        return Err(AppError::conflict(
            "team",
            "only a first-time image's launch is signed off",
        ));
    }
    if stored::<WorkflowState>(&wf.state)? == WorkflowState::Launched {
        return Err(AppError::conflict(
            "team",
            "this image has already launched",
        ));
    }
    if let Some(existing) = signoff::Entity::find()
        .filter(signoff::Column::WorkflowId.eq(wf.id))
        .filter(signoff::Column::Team.eq(team.as_str()))
        .one(&txn)
        .await
        .map_err(db_err("finding a sign-off"))?
    {
        return Err(AppError::conflict(
            "team",
            format!(
                "{} already signed off, by {} on {}",
                team.label(),
                existing.username,
                existing.at.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    let model = signoff::ActiveModel {
        workflow_id: Set(wf.id),
        team: Set(team.as_str().to_owned()),
        user_id: Set(actor.id),
        username: Set(actor.username.clone()),
        comment: Set(input.comment.trim().chars().take(2000).collect()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict("team", format!("{} already signed off", team.label()))
        } else {
            AppError::internal("saving a sign-off", e)
        }
    })?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "sign_off",
            object_type: "workflow",
            object_id: wf.id.to_string(),
            summary: format!("signed off '{}' for {}", wf.title, team.label()),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    notify::send(
        &txn,
        now,
        Event::new(
            NotificationKind::SignOff,
            format!("{} signed off '{}'", team.label(), wf.title),
            format!("/workflows/{}", wf.id),
        )
        .body(format!("by {}", actor.name))
        .to_teams(&[Role::Partnerships])
        .except(Some(actor)),
    )
    .await?;
    txn.commit()
        .await
        .map_err(db_err("committing a sign-off"))?;
    get(db, now, workflow_id).await
}

/// Approves the launch of a first-time image, when everything it needs is there.
pub async fn approve_launch(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    workflow_id: i32,
) -> AppResult<Workflow> {
    let txn = super::begin_write(db).await?;
    let wf = find_workflow(&txn, workflow_id).await?;
    if stored::<WorkflowKind>(&wf.kind)? != WorkflowKind::FirstTimeImage {
        return Err(AppError::conflict(
            "launch",
            "only a first-time image is launched",
        ));
    }
    if stored::<WorkflowState>(&wf.state)? == WorkflowState::Launched {
        return Err(AppError::conflict(
            "launch",
            "this image has already launched",
        ));
    }
    let loaded = load(&txn, wf).await?;
    let sign_offs = sign_offs_of(&txn, workflow_id).await?;
    let gate = gate(&txn, &loaded, &sign_offs).await?;
    if !gate.ready() {
        return Err(AppError::conflict(
            "launch",
            format!(
                "the launch cannot be approved yet: {}",
                gate.blockers.join("; ")
            ),
        ));
    }
    let before = loaded.wf.clone();
    let mut active: workflow::ActiveModel = loaded.wf.into();
    active.state = Set(WorkflowState::Launched.as_str().to_owned());
    active.launched_at = Set(Some(now));
    active.launched_by = Set(Some(actor.username.clone()));
    active.updated_at = Set(now);
    let after = active.update(&txn).await.map_err(db_err("launching"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "approve_launch",
            object_type: "workflow",
            object_id: after.id.to_string(),
            summary: format!(
                "approved the launch of '{}' with copy revision {}",
                after.title,
                gate.approved_revision.unwrap_or_default()
            ),
            before: snapshot(&before),
            after: snapshot(&after),
        },
    )
    .await?;
    notify::send(
        &txn,
        now,
        Event::new(
            NotificationKind::Launched,
            format!("Launch approved: {}", after.title),
            format!("/workflows/{}", after.id),
        )
        .body(format!("by {}", actor.name))
        .to_teams(&SIGN_OFF_TEAMS)
        .except(Some(actor)),
    )
    .await?;
    txn.commit().await.map_err(db_err("committing a launch"))?;
    get(db, now, workflow_id).await
}

// ---------------------------------------------------------------------------------------
// Builds

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
        .await
        .map_err(db_err("finding a run"))?
    else {
        return Ok(None);
    };
    task::Entity::find()
        .filter(task::Column::WorkflowId.eq(wf.id))
        .filter(task::Column::Arch.eq(arch.as_str()))
        .one(db)
        .await
        .map_err(db_err("finding an image task"))
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
    let state: TaskState = stored(&t.state)?;
    let mut active: task::ActiveModel = t.clone().into();
    active.job_id = Set(Some(job_id));
    if state == TaskState::Todo {
        active.state = Set(TaskState::InProgress.as_str().to_owned());
    }
    active.updated_at = Set(now);
    active.update(db).await.map_err(db_err("linking a build"))?;
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
    let txn = super::begin_write(db).await?;
    let (_, product) = super::products::find_model(&txn, partner_slug, product_slug).await?;
    let release = super::releases::find_model(&txn, version).await?;
    if let Some(t) = image_task(&txn, product.id, release.id, arch).await?
        && !stored::<TaskState>(&t.state)?.is_closed()
    {
        let loaded = load(&txn, find_workflow(&txn, t.workflow_id).await?).await?;
        if stored::<WorkflowState>(&loaded.wf.state)? != WorkflowState::Launched {
            apply_state(&txn, None, now, &loaded, &t, TaskState::Done, None).await?;
        }
    }
    txn.commit().await.map_err(db_err("committing a build"))
}

// ---------------------------------------------------------------------------------------
// The clock

/// Escalates tasks whose partner did not answer in time and flags maintenance runs at risk
/// or past their deadline, each once. Runs every minute in the server; idempotent.
pub async fn sweep(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<SweepReport> {
    let mut report = SweepReport::default();
    let txn = super::begin_write(db).await?;
    let today = now.date_naive();
    for t in task::Entity::find()
        .filter(task::Column::State.eq(TaskState::WaitingOnPartner.as_str()))
        .filter(task::Column::EscalatedAt.is_null())
        .filter(task::Column::ResponseDueOn.lt(today))
        .all(&txn)
        .await
        .map_err(db_err("finding overdue tasks"))?
    {
        let wf = find_workflow(&txn, t.workflow_id).await?;
        // Guarded, so two servers sweeping at once escalate (and notify) once.
        let res = task::Entity::update_many()
            .col_expr(task::Column::EscalatedAt, Expr::value(now))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(t.id))
            .filter(task::Column::EscalatedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_err("escalating a task"))?;
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
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance.as_str()))
        .filter(workflow::Column::State.eq(WorkflowState::Open.as_str()))
        .filter(workflow::Column::SlaNotified.ne("breached"))
        .all(&txn)
        .await
        .map_err(db_err("finding open runs"))?;
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
            .await
            .map_err(db_err("flagging a run"))?;
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
    txn.commit().await.map_err(db_err("committing the sweep"))?;
    Ok(report)
}

/// Open runs with their clocks, and how recent releases went.
pub async fn maintenance_board(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> AppResult<MaintenanceBoard> {
    let open_rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance.as_str()))
        .filter(workflow::Column::State.eq(WorkflowState::Open.as_str()))
        .order_by_asc(workflow::Column::DueOn)
        .order_by_asc(workflow::Column::Id)
        .all(db)
        .await
        .map_err(db_err("listing open runs"))?;
    let mut open = summaries(db, now, open_rows).await?;
    open.sort_by_key(|w| w.sla.as_ref().map_or(i64::MAX, |s| s.business_minutes_left));
    let recent: Vec<i32> = release::Entity::find()
        .filter(release::Column::Pre.is_null())
        .order_by_desc(release::Column::ReleasedOn)
        .order_by_desc(release::Column::Id)
        .limit(12)
        .all(db)
        .await
        .map_err(db_err("listing releases"))?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let runs = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance.as_str()))
        .filter(workflow::Column::ReleaseId.is_in(recent.clone()))
        .all(db)
        .await
        .map_err(db_err("listing runs"))?;
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

/// What waits for the teams of `user`: copy to review and launches to sign off.
pub async fn approvals(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    user: &CurrentUser,
) -> AppResult<ApprovalQueue> {
    let teams: Vec<Role> = SIGN_OFF_TEAMS
        .iter()
        .copied()
        .filter(|t| user.has(*t))
        .collect();
    let (restrictions, retention) = if teams.contains(&Role::Partnerships) {
        (
            super::limits::open_proposals(db).await?,
            super::retention::proposals(db, true).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(ApprovalQueue {
        copy: copy::queue(db, &teams).await?,
        launches: launches_awaiting(db, now, &teams).await?,
        restrictions,
        retention,
        teams,
    })
}

/// Workflows whose launch waits for a sign-off of one of `teams`.
pub async fn launches_awaiting(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    teams: &[Role],
) -> AppResult<Vec<LaunchQueueItem>> {
    let rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::FirstTimeImage.as_str()))
        .filter(workflow::Column::State.eq(WorkflowState::Open.as_str()))
        .order_by_asc(workflow::Column::Id)
        .all(db)
        .await
        .map_err(db_err("listing first-time images"))?;
    let mut items = Vec::new();
    for wf in rows {
        let signed: Vec<SignOff> = sign_offs_of(db, wf.id).await?;
        let missing: Vec<Role> = SIGN_OFF_TEAMS
            .iter()
            .copied()
            .filter(|t| teams.contains(t) && !signed.iter().any(|s| s.team == *t))
            .collect();
        if !missing.is_empty() {
            items.push(LaunchQueueItem {
                workflow: summary(db, now, wf).await?,
                missing_sign_offs: missing,
            });
        }
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------
// Release events from GitLab

/// A release announced by GitLab's webhook.
#[derive(Debug, Clone)]
pub struct ReleaseEvent {
    /// Where it came from (`gitlab`).
    pub source: &'static str,
    /// The sender's id of this delivery: a retry of the same event carries the same one.
    pub delivery_id: String,
    pub version: Version,
    pub released_on: NaiveDate,
    pub security: bool,
    pub summary: String,
}

/// Records a release reported by a webhook and opens its maintenance runs. The same event
/// delivered twice, or a release already known, changes nothing.
pub async fn release_event(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    event: &ReleaseEvent,
) -> AppResult<ReleaseEventOutcome> {
    use super::entities::inbound_event;
    let version = event.version.to_string();
    let duplicate = |release: Option<String>| ReleaseEventOutcome {
        status: "duplicate".into(),
        release,
        maintenance_runs: Vec::new(),
    };
    let seen = inbound_event::Entity::find()
        .filter(inbound_event::Column::Source.eq(event.source))
        .filter(inbound_event::Column::DeliveryId.eq(event.delivery_id.clone()))
        .one(db)
        .await
        .map_err(db_err("finding a delivery"))?;
    if seen.is_some() {
        return Ok(duplicate(Some(version)));
    }
    let actor = super::users::system_user(db, now).await?;
    let input = ReleaseInput {
        version: version.clone(),
        released_on: event.released_on.to_string(),
        kind: if event.security {
            ReleaseKind::Security
        } else if event.version.patch > 0 {
            ReleaseKind::Patch
        } else {
            ReleaseKind::Regular
        }
        .as_str()
        .to_owned(),
    };
    let outcome = match super::releases::create_with_runs(db, &actor, now, &input).await {
        Ok((release, runs)) => ReleaseEventOutcome {
            status: "recorded".into(),
            release: Some(release.version),
            maintenance_runs: runs,
        },
        Err(e) if e.code == crate::error::ErrorCode::Conflict => duplicate(Some(version)),
        Err(e) => return Err(e),
    };
    let recorded = inbound_event::ActiveModel {
        source: Set(event.source.to_owned()),
        delivery_id: Set(event.delivery_id.clone()),
        summary: Set(format!("{} ({})", event.summary, outcome.status)),
        received_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match recorded {
        Ok(_) => Ok(outcome),
        // The same delivery raced this one in: both saw the same release.
        Err(e) if is_unique_violation(&e) => Ok(outcome),
        Err(e) => Err(AppError::internal("recording a delivery", e)),
    }
}

/// The release version in a GitLab tag: `v17.6.1-ee`, `17.6.1+ee.0`, `refs/tags/v17.6.1`.
pub fn version_from_tag(tag: &str) -> Result<Version, String> {
    let name = tag.trim().trim_start_matches("refs/tags/");
    let bare = name.strip_prefix('v').unwrap_or(name);
    let bare = ["+ee.0", "+ce.0", "-ee", "-ce"]
        .iter()
        .find_map(|suffix| bare.strip_suffix(suffix))
        .unwrap_or(bare);
    Version::parse(bare).map_err(|e| format!("tag '{name}' is not a GitLab release: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_their_release() {
        for (tag, version) in [
            ("v17.6.1-ee", "17.6.1"),
            ("refs/tags/v17.6.1-ce", "17.6.1"),
            ("17.6.1+ee.0", "17.6.1"),
            ("v17.7.0-rc42-ee", "17.7.0-rc42"),
            ("v18.0.0", "18.0.0"),
        ] {
            assert_eq!(
                version_from_tag(tag).map(|v| v.to_string()),
                Ok(version.to_owned()),
                "{tag}"
            );
        }
        assert!(version_from_tag("refs/tags/nightly").is_err());
    }
}
