//! Holidays: the days the maintenance clock skips, and the due dates they move.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use crate::{
    calendar::{self, Holidays, MAINTENANCE_BUSINESS_DAYS},
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator, required_text},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        begin_write,
        entities::{holiday, workflow},
    },
};

pub async fn holidays(db: &impl ConnectionTrait) -> AppResult<Holidays> {
    Ok(Holidays::new(
        holiday::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|h| h.day),
    ))
}

pub async fn list_holidays(db: &impl ConnectionTrait) -> AppResult<Vec<Holiday>> {
    Ok(holiday::Entity::find()
        .order_by_asc(holiday::Column::Day)
        .all(db)
        .await?
        .into_iter()
        .map(|h| Holiday {
            id: h.id,
            day: h.day,
            name: h.name,
        })
        .collect())
}

/// Adds a day that does not count on the maintenance clock, and moves the due dates of
/// the open runs it falls into.
pub async fn add_holiday(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &HolidayInput,
) -> AppResult<Holiday> {
    actor.require(Permission::Administer)?;
    let mut v = Validator::new();
    let day = v
        .check("day", calendar::parse_day(&input.day))
        .and_then(|day| v.within("day", calendar::check_day(day, now.date_naive())));
    let name = v.check("name", required_text(&input.name, 100));
    let (day, name) = v.finish(|| Some((day?, name?)))?;
    let txn = begin_write(db).await?;
    let model = holiday::ActiveModel {
        day: Set(day),
        name: Set(name),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique("day", format!("{day} is already a holiday"))?;
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
    txn.commit().await?;
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
    actor.require(Permission::Administer)?;
    let txn = begin_write(db).await?;
    let model = holiday::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("holiday {id}")))?;
    holiday::Entity::delete_by_id(id).exec(&txn).await?;
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
    Ok(txn.commit().await?)
}

/// Re-derives the due date of every open maintenance run from its release date.
async fn recompute_due_dates(db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<()> {
    let calendar = holidays(db).await?;
    for wf in workflow::Entity::find()
        .filter(workflow::Column::Kind.eq(WorkflowKind::Maintenance))
        .filter(workflow::Column::State.eq(WorkflowState::Open))
        .all(db)
        .await?
    {
        let Some(released_on) = wf.released_on else {
            continue;
        };
        let due = calendar.add_business_days(released_on, MAINTENANCE_BUSINESS_DAYS);
        if Some(due) != wf.due_on {
            let mut active: workflow::ActiveModel = wf.into();
            active.due_on = Set(Some(due));
            active.updated_at = Set(now);
            active.update(db).await?;
        }
    }
    Ok(())
}
