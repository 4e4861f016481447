//! The launch of a first-time image: its gate, the teams' sign-offs, the approval, and the
//! queue of what waits for a team's review.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use super::views::{find_workflow, gate, get, load, sign_offs_of, summary};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        begin_write, copy,
        entities::{signoff, workflow},
        limits,
        notify::{self, Event},
        retention,
    },
};

/// The refusal of a second sign-off by someone who gave `own` already.
fn second_sign_off(team: Role, own: &signoff::Model) -> AppError {
    AppError::forbidden(format!(
        "you signed off for {} already: the sign-off for {} must come from someone else",
        own.team.label(),
        team.label()
    ))
}

/// A team signs off a first-time image's launch: a member of that team, and someone who has
/// not signed off for another team of the same launch.
pub async fn sign_off(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    workflow_id: i32,
    input: &SignOffInput,
) -> AppResult<Workflow> {
    actor.require(Permission::WorkOnTasks)?;
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
    // Object-level: a team signs off only for itself.
    if !actor.has(team) {
        return Err(AppError::forbidden(format!(
            "only a member of {} signs off for {}",
            team.label(),
            team.label()
        )));
    }
    let txn = begin_write(db).await?;
    let wf = find_workflow(&txn, workflow_id).await?;
    if wf.kind != WorkflowKind::FirstTimeImage {
        return Err(AppError::conflict(
            "team",
            "only a first-time image's launch is signed off",
        ));
    }
    if wf.state == WorkflowState::Launched {
        return Err(AppError::conflict(
            "team",
            "this image has already launched",
        ));
    }
    if let Some(existing) = signoff::Entity::find()
        .filter(signoff::Column::WorkflowId.eq(wf.id))
        .filter(signoff::Column::Team.eq(team))
        .one(&txn)
        .await?
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
    // Object-level: separation of duties. Each sign-off is its own person's, so someone in
    // two teams gives one of them only.
    if let Some(own) = signoff::Entity::find()
        .filter(signoff::Column::WorkflowId.eq(wf.id))
        .filter(signoff::Column::UserId.eq(actor.id))
        .one(&txn)
        .await?
    {
        txn.rollback().await?;
        let refusal = second_sign_off(team, &own);
        return Err(audit::refused(
            db,
            actor,
            now,
            "sign_off",
            ("workflow", wf.id.to_string()),
            refusal,
        )
        .await?);
    }
    let model = signoff::ActiveModel {
        workflow_id: Set(wf.id),
        team: Set(team),
        user_id: Set(actor.id),
        username: Set(actor.username.clone()),
        comment: Set(input.comment.trim().chars().take(2000).collect()),
        at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique("team", format!("{} already signed off", team.label()))?;
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
    txn.commit().await?;
    get(db, now, workflow_id).await
}

/// Approves the launch of a first-time image, when everything it needs is there.
pub async fn approve_launch(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    workflow_id: i32,
) -> AppResult<Workflow> {
    actor.require(Permission::ManageWorkflows)?;
    let txn = begin_write(db).await?;
    let wf = find_workflow(&txn, workflow_id).await?;
    if wf.kind != WorkflowKind::FirstTimeImage {
        return Err(AppError::conflict(
            "launch",
            "only a first-time image is launched",
        ));
    }
    if wf.state == WorkflowState::Launched {
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
    active.state = Set(WorkflowState::Launched);
    active.launched_at = Set(Some(now));
    active.launched_by = Set(Some(actor.username.clone()));
    active.updated_at = Set(now);
    let after = active.update(&txn).await?;
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
    txn.commit().await?;
    get(db, now, workflow_id).await
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
    let (restrictions, retention) = if user.can(Permission::DecideProposals) {
        (
            limits::open_proposals(db).await?,
            retention::proposals(db, true).await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(ApprovalQueue {
        copy: copy::queue(db, &teams).await?,
        launches: launches_awaiting(db, now, &teams, &user.username).await?,
        restrictions,
        retention,
        teams,
    })
}

/// Workflows whose launch waits for a sign-off of one of `teams` that `username` may give:
/// someone who signed off a launch for one team gives none of its other sign-offs.
pub async fn launches_awaiting(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    teams: &[Role],
    username: &str,
) -> AppResult<Vec<LaunchQueueItem>> {
    let rows = workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::FirstTimeImage))
        .filter(workflow::Column::State.eq(WorkflowState::Open))
        .order_by_asc(workflow::Column::Id)
        .all(db)
        .await?;
    let mut items = Vec::new();
    for wf in rows {
        let signed: Vec<SignOff> = sign_offs_of(db, wf.id).await?;
        if signed.iter().any(|s| s.username == username) {
            continue;
        }
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
