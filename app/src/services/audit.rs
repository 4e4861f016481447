//! The append-only audit log: who changed what, when, from what to what.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;

use super::entities::audit_event;
use crate::{
    domain::{CurrentUser, Permission},
    dto::{AuditEvent, AuditFilter, Page, PageRequest, Paging},
    error::{AppError, AppResult, Validator},
};

fn day(value: Option<&str>) -> Result<Option<NaiveDate>, String> {
    value
        .filter(|s| !s.trim().is_empty())
        .map(crate::calendar::parse_day)
        .transpose()
}

/// One change to record. `before`/`after` are the object's JSON as it was and is.
pub struct Change<'a> {
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: String,
    pub summary: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Serialises an entity for the log.
pub fn snapshot(value: &impl Serialize) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Appends one event. Call it in the same transaction as the change it records.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: Option<&CurrentUser>,
    now: DateTime<Utc>,
    change: Change<'_>,
) -> AppResult<()> {
    audit_event::ActiveModel {
        at: Set(now),
        actor_id: Set(actor.map(|a| a.id)),
        actor: Set(actor.map_or_else(|| "system".to_owned(), |a| a.username.clone())),
        action: Set(change.action.to_owned()),
        object_type: Set(change.object_type.to_owned()),
        object_id: Set(change.object_id),
        summary: Set(change.summary),
        before: Set(change.before.map(|v| v.to_string())),
        after: Set(change.after.map(|v| v.to_string())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records an attempt the portal refused (who tried what, on what, and why) and hands the
/// refusal back for the caller to return: `return Err(audit::refused(db, …).await?)`.
///
/// The refused action writes nothing, so call this on the connection after rolling back the
/// action's transaction, never inside it: the line must stay although the action did not
/// happen. The action is recorded as `<action>_refused`.
pub async fn refused(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    action: &str,
    (object_type, object_id): (&str, String),
    refusal: AppError,
) -> AppResult<AppError> {
    let action = format!("{action}_refused");
    record(
        db,
        Some(actor),
        now,
        Change {
            action: &action,
            object_type,
            object_id,
            summary: format!("refused: {}", refusal.message),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(refusal)
}

/// Events newest first, filtered by object, actor or both.
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    filter: &AuditFilter,
) -> AppResult<Page<AuditEvent>> {
    actor.require(Permission::ReadAudit)?;
    let Paging { index, per_page } = PageRequest::new(filter.page, 50).checked()?;
    let mut query = audit_event::Entity::find().order_by_desc(audit_event::Column::Id);
    if let Some(t) = filter.object_type.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_event::Column::ObjectType.eq(t));
    }
    if let Some(id) = filter.object_id.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_event::Column::ObjectId.eq(id));
    }
    if let Some(actor) = filter.actor.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_event::Column::Actor.eq(actor));
    }
    if let Some(action) = filter.action.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(audit_event::Column::Action.eq(action.trim()));
    }
    let mut v = Validator::new();
    let from = v.check("from", day(filter.from.as_deref()));
    let to = v.check("to", day(filter.to.as_deref()));
    let (from, to) = v.finish(|| Some((from?, to?)))?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(AppError::validation("to", format!("{t} is before {f}")));
    }
    if let Some(from) = from {
        query = query.filter(audit_event::Column::At.gte(crate::calendar::start_of(from)));
    }
    if let Some(to) = to {
        query = query.filter(audit_event::Column::At.lt(crate::calendar::end_of(to)));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|e| AuditEvent {
                id: e.id,
                at: e.at,
                actor: e.actor,
                action: e.action,
                object_type: e.object_type,
                object_id: e.object_id,
                summary: e.summary,
                before: e.before,
                after: e.after,
            })
            .collect(),
        page: index + 1,
        per_page,
        total,
    })
}
