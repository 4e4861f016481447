//! Working on tasks: who may, the state rules (stage order, optional tasks, reopening) and
//! how a stage and its workflow follow their tasks; assigning, commenting and linking.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use super::views::{Loaded, deps, find_task, find_workflow, load, task_detail};
use crate::{
    calendar,
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator, optional_url, required_text},
    services::{
        audit::{self, Change, snapshot},
        begin_write,
        entities::{task, task_comment, user, user_role, workflow, workflow_stage},
    },
};

/// Whether `user` may work on a task of `team`: its team, Partnerships once the task
/// escalated to them, or anyone who works on any team's tasks.
fn may_work_on(user: &CurrentUser, team: Role, escalated: bool) -> bool {
    user.has(team)
        || (escalated && user.has(Role::Partnerships))
        || user.can(Permission::WorkOnAnyTask)
}

/// The object-level rule of a task, after the permission check: refuses `user` unless
/// they may work on `t` (see [`may_work_on`]).
fn check_may_work(user: &CurrentUser, t: &task::Model) -> AppResult<()> {
    let team = t.team;
    if may_work_on(user, team, t.escalated_at.is_some()) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "only the {} team works on this task",
            team.label()
        )))
    }
}

/// An optional day typed into `field` on `today`; empty means none. A day outside the
/// ones the portal accepts (see [`calendar::check_day`]) is recorded as out of bounds.
fn optional_day(
    v: &mut Validator,
    field: &str,
    value: &str,
    today: NaiveDate,
) -> Option<Option<NaiveDate>> {
    if value.trim().is_empty() {
        return Some(None);
    }
    let day = v.check(field, calendar::parse_day(value))?;
    v.within(field, calendar::check_day(day, today)).map(Some)
}

/// Moves a task to another state, checking the stage order, and completes its stage (and
/// the workflow) when that was the last required task.
pub(super) async fn apply_state(
    db: &impl ConnectionTrait,
    actor: Option<&CurrentUser>,
    now: DateTime<Utc>,
    loaded: &Loaded,
    t: &task::Model,
    new: TaskState,
    response_due_on: Option<NaiveDate>,
) -> AppResult<()> {
    let old = t.state;
    if loaded.wf.state == WorkflowState::Launched {
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
                    .any(|x| x.stage_id == s.id && x.state != TaskState::Todo)
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
    active.state = Set(new);
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
    let after = active.update(db).await?;
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
        .all(|x| x.state.is_closed());
    let mut stages = loaded.stages.clone();
    if stage_done != stage.completed_at.is_some() {
        let mut s: workflow_stage::ActiveModel = stage.clone().into();
        s.completed_at = Set(stage_done.then_some(now));
        let s = s.update(db).await?;
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
        let kind = loaded.wf.kind;
        let mut w: workflow::ActiveModel = loaded.wf.clone().into();
        w.completed_at = Set(all_done.then_some(now));
        if kind == WorkflowKind::Maintenance {
            w.state = Set(if all_done {
                WorkflowState::Done
            } else {
                WorkflowState::Open
            });
        }
        w.updated_at = Set(now);
        w.update(db).await?;
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
    actor.require(Permission::WorkOnTasks)?;
    let mut v = Validator::new();
    let new = v.check("state", input.state.parse::<TaskState>());
    let response = optional_day(
        &mut v,
        "response_due_on",
        &input.response_due_on,
        now.date_naive(),
    );
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
    let txn = begin_write(db).await?;
    let t = find_task(&txn, task_id).await?;
    check_may_work(actor, &t)?;
    if t.state == new && t.response_due_on == response {
        txn.commit().await?;
        return task_detail(db, now, task_id).await;
    }
    let loaded = load(&txn, find_workflow(&txn, t.workflow_id).await?).await?;
    apply_state(&txn, Some(actor), now, &loaded, &t, new, response).await?;
    txn.commit().await?;
    task_detail(db, now, task_id).await
}

pub async fn assign_task(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    input: &TaskAssignInput,
) -> AppResult<TaskDetail> {
    actor.require(Permission::WorkOnTasks)?;
    let mut v = Validator::new();
    let due = optional_day(&mut v, "due_on", &input.due_on, now.date_naive());
    let due = v.finish(|| due)?;
    let txn = begin_write(db).await?;
    let t = find_task(&txn, task_id).await?;
    check_may_work(actor, &t)?;
    let team = t.team;
    let assignee = if input.assignee.trim().is_empty() {
        None
    } else {
        let u = user::Entity::find()
            .filter(user::Column::Username.eq(input.assignee.trim()))
            .one(&txn)
            .await?
            .ok_or_else(|| {
                AppError::validation(
                    "assignee",
                    format!("there is no user '{}'", input.assignee.trim()),
                )
            })?;
        let member = user_role::Entity::find()
            .filter(user_role::Column::UserId.eq(u.id))
            .filter(user_role::Column::Role.eq(team))
            .one(&txn)
            .await?
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
    let after = active.update(&txn).await?;
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
    txn.commit().await?;
    task_detail(db, now, task_id).await
}

pub async fn comment_on_task(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    body: &str,
) -> AppResult<TaskDetail> {
    actor.require(Permission::WorkOnTasks)?;
    let body = required_text(body, 5000).map_err(|m| AppError::validation("body", m))?;
    let txn = begin_write(db).await?;
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
    .await?;
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
    txn.commit().await?;
    task_detail(db, now, task_id).await
}

pub async fn add_task_link(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    task_id: i32,
    input: &TaskLinkInput,
) -> AppResult<TaskDetail> {
    actor.require(Permission::WorkOnTasks)?;
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
    let txn = begin_write(db).await?;
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
    active.update(&txn).await?;
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
    txn.commit().await?;
    task_detail(db, now, task_id).await
}
