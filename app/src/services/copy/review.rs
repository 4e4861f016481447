//! Reviewing copy in stages: a draft is sent to Partnerships, then Omnibus checks it, each
//! approval bound to the newest revision and never by its author; a rejection says why and
//! returns it to draft. Marking an approved revision for publishing is in `publish`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use super::revisions::{find_revision, get, head, summary_of};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        audit::{self, Change},
        begin_write,
        entities::{copy_review, copy_revision},
        listings,
        notify::{self, Event},
    },
};

/// The revision a review is about, which must be the newest one.
async fn current_revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
    revision_id: i32,
) -> AppResult<copy_revision::Model> {
    let r = find_revision(db, listing_id, revision_id).await?;
    let newest = head(db, listing_id)
        .await?
        .ok_or_else(|| AppError::internal("listing without revisions", listing_id))?;
    if newest.id != r.id {
        return Err(AppError::conflict(
            "revision",
            format!(
                "revision {} has been replaced by revision {} ({}): review that one instead",
                r.number, newest.number, newest.author
            ),
        ));
    }
    Ok(r)
}

async fn set_state(
    db: &impl ConnectionTrait,
    r: &copy_revision::Model,
    state: CopyState,
) -> AppResult<copy_revision::Model> {
    let mut active: copy_revision::ActiveModel = r.clone().into();
    active.state = Set(state);
    Ok(active.update(db).await?)
}

/// Sends a draft revision to Partnerships for approval.
pub async fn request_approval(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<ListingCopy> {
    actor.require(Permission::EditCopy)?;
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let r = current_revision(&txn, listing_id, input.revision).await?;
    let state = r.state;
    if state != CopyState::Draft {
        return Err(AppError::conflict(
            "revision",
            format!(
                "revision {} is {}, not a draft",
                r.number,
                state.label().to_lowercase()
            ),
        ));
    }
    set_state(&txn, &r, CopyState::AwaitingPartnerships).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "request_approval",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "asked Partnerships to approve revision {} of '{}'",
                r.number, l.title
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    notify::send(
        &txn,
        now,
        Event::new(
            NotificationKind::ApprovalRequested,
            format!("Approve the copy of '{}' (revision {})", l.title, r.number),
            format!("/listings/{listing_id}/copy"),
        )
        .body(format!(
            "Written by {}; Partnerships approves first, then Omnibus.",
            r.author
        ))
        .to_teams(&[Role::Partnerships])
        .except(Some(actor)),
    )
    .await?;
    txn.commit().await?;
    get(db, listing_id).await
}

/// The object-level rules of a review, after the permission check: only the team whose
/// turn it is reviews `r`, nobody approves their own revision, and one person approves
/// one stage only. Returns the team whose turn it is.
fn reviewer_team(
    actor: &CurrentUser,
    r: &copy_revision::Model,
    reviews: &[copy_review::Model],
    approving: bool,
) -> AppResult<Role> {
    let state = r.state;
    let Some(team) = state.awaiting() else {
        return Err(AppError::conflict(
            "revision",
            match state {
                CopyState::Draft => format!(
                    "revision {} is a draft: its author asks for approval first",
                    r.number
                ),
                CopyState::Approved => format!("revision {} is already approved", r.number),
                _ => format!("revision {} has been replaced", r.number),
            },
        ));
    };
    if !actor.has(team) {
        return Err(AppError::forbidden(format!(
            "revision {} waits for {}: only that team reviews it now",
            r.number,
            team.label()
        )));
    }
    if approving && r.author_id == actor.id {
        return Err(AppError::forbidden(
            "nobody approves a revision they wrote: another member of the team must",
        ));
    }
    if approving
        && reviews
            .iter()
            .any(|x| x.user_id == actor.id && x.decision == "approved")
    {
        return Err(AppError::forbidden(
            "you already approved this revision for another team: each stage needs its own reviewer",
        ));
    }
    Ok(team)
}

async fn reviews_of(
    db: &impl ConnectionTrait,
    revision_id: i32,
) -> AppResult<Vec<copy_review::Model>> {
    Ok(copy_review::Entity::find()
        .filter(copy_review::Column::RevisionId.eq(revision_id))
        .order_by_asc(copy_review::Column::Id)
        .all(db)
        .await?)
}

async fn record_review(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    r: &copy_revision::Model,
    team: Role,
    decision: &str,
    comment: &str,
) -> AppResult<()> {
    copy_review::ActiveModel {
        revision_id: Set(r.id),
        stage: Set(team),
        decision: Set(decision.to_owned()),
        user_id: Set(actor.id),
        username: Set(actor.username.clone()),
        comment: Set(comment.to_owned()),
        at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Approves the newest revision for the team whose turn it is.
pub async fn approve(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<ListingCopy> {
    actor.require(Permission::ReviewCopy)?;
    let comment: String = input.comment.trim().chars().take(2000).collect();
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let r = current_revision(&txn, listing_id, input.revision).await?;
    let reviews = reviews_of(&txn, r.id).await?;
    let team = reviewer_team(actor, &r, &reviews, true)?;
    record_review(&txn, actor, now, &r, team, "approved", &comment).await?;
    let next = match team {
        Role::Partnerships => CopyState::AwaitingOmnibus,
        _ => CopyState::Approved,
    };
    set_state(&txn, &r, next).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "approve",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "approved revision {} of '{}' for {}",
                r.number,
                l.title,
                team.label()
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    let link = format!("/listings/{listing_id}/copy");
    if next == CopyState::AwaitingOmnibus {
        notify::send(
            &txn,
            now,
            Event::new(
                NotificationKind::ApprovalRequested,
                format!("Check the copy of '{}' (revision {})", l.title, r.number),
                link.clone(),
            )
            .body(format!(
                "Partnerships approved it ({}); Omnibus checks technical accuracy.",
                actor.name
            ))
            .to_teams(&[Role::Omnibus])
            .except(Some(actor)),
        )
        .await?;
    }
    notify::send(
        &txn,
        now,
        Event::new(
            NotificationKind::Approved,
            format!(
                "{} approved revision {} of '{}'{}",
                team.label(),
                r.number,
                l.title,
                if next == CopyState::Approved {
                    ": the copy is approved"
                } else {
                    ""
                }
            ),
            link,
        )
        .body(format!("by {}", actor.name))
        .to_user(r.author_id)
        .except(Some(actor)),
    )
    .await?;
    txn.commit().await?;
    get(db, listing_id).await
}

/// Rejects the newest revision, with a reason; the copy goes back to draft.
pub async fn reject(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<ListingCopy> {
    actor.require(Permission::ReviewCopy)?;
    let comment = input.comment.trim();
    if comment.is_empty() {
        return Err(AppError::validation(
            "comment",
            "say why: a rejection needs a comment for the author",
        ));
    }
    let comment: String = comment.chars().take(2000).collect();
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let r = current_revision(&txn, listing_id, input.revision).await?;
    let reviews = reviews_of(&txn, r.id).await?;
    let team = reviewer_team(actor, &r, &reviews, false)?;
    record_review(&txn, actor, now, &r, team, "rejected", &comment).await?;
    set_state(&txn, &r, CopyState::Draft).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "reject",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "rejected revision {} of '{}' for {}: {comment}",
                r.number,
                l.title,
                team.label()
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    notify::send(
        &txn,
        now,
        Event::new(
            NotificationKind::Rejected,
            format!(
                "{} rejected revision {} of '{}'",
                team.label(),
                r.number,
                l.title
            ),
            format!("/listings/{listing_id}/copy"),
        )
        .body(comment)
        .to_user(r.author_id)
        .to_teams(&[Role::Marketing])
        .except(Some(actor)),
    )
    .await?;
    txn.commit().await?;
    get(db, listing_id).await
}

/// Revisions waiting for one of `teams`.
pub async fn queue(db: &impl ConnectionTrait, teams: &[Role]) -> AppResult<Vec<CopyQueueItem>> {
    let states: Vec<CopyState> = CopyState::ALL
        .iter()
        .copied()
        .filter(|s| s.awaiting().is_some_and(|t| teams.contains(&t)))
        .collect();
    let rows = copy_revision::Entity::find()
        .filter(copy_revision::Column::State.is_in(states))
        .order_by_asc(copy_revision::Column::CreatedAt)
        .all(db)
        .await?;
    let mut items = Vec::new();
    for r in rows {
        let l = listings::find_model(db, r.listing_id).await?;
        let summary = summary_of(&r);
        items.push(CopyQueueItem {
            listing_id: l.id,
            listing_title: l.title,
            awaiting: summary
                .state
                .awaiting()
                .ok_or_else(|| AppError::internal("queue", "not awaiting"))?,
            revision: summary,
        });
    }
    Ok(items)
}
