//! Notifications: the in-app inbox of each person, and outbound webhooks (Slack-compatible
//! JSON signed with HMAC-SHA256) delivered through the job queue, so a receiver that is down
//! gets the event later, with backoff, instead of never.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{
    audit::{self, Change, snapshot},
    entities::{job, notification, user, user_role, webhook},
    jobs::{self, JobKind},
    outbound::{self, WebhookPolicy},
    secrets::{self, SecretKey, SecretValue},
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode, Validator, required_text},
};

/// Records how a job's run ended ([`jobs::finish`]) and, when it failed for good, tells
/// whoever started it and Omnibus. A failed webhook delivery tells only the admins' inbox:
/// sending it to the webhooks again could loop.
pub async fn finish_job(
    db: &impl ConnectionTrait,
    current: &job::Model,
    worker: &str,
    now: DateTime<Utc>,
    finish: jobs::Finish,
) -> AppResult<JobState> {
    let state = jobs::finish(db, current, worker, now, finish).await?;
    if state != JobState::Failed {
        return Ok(state);
    }
    let failed = jobs::find(db, current.id).await?;
    let mut event = Event::new(
        NotificationKind::JobFailed,
        format!(
            "Job {} ({}) failed: {}",
            failed.id, failed.kind, failed.step
        ),
        format!("/jobs/{}", failed.id),
    )
    .body(failed.last_error.clone().unwrap_or_default());
    if let Some(by) = failed.created_by {
        event = event.to_user(by);
    }
    if failed.kind == DeliverWebhook::NAME {
        inbox_only(db, now, event.to_teams(&[Role::Admin])).await?;
    } else {
        send(db, now, event.to_teams(&[Role::Omnibus])).await?;
    }
    Ok(state)
}

/// The header carrying the signature of a delivery: `sha256=<hex HMAC of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Portal-Signature";

/// Something people should hear about.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    /// A path in the portal.
    pub link: String,
    /// Everyone in these teams hears about it…
    pub teams: Vec<Role>,
    /// …and these people.
    pub users: Vec<i32>,
    /// Except whoever caused it.
    pub except: Option<i32>,
}

impl Event {
    pub fn new(kind: NotificationKind, title: impl Into<String>, link: impl Into<String>) -> Self {
        Event {
            kind,
            title: title.into(),
            body: String::new(),
            link: link.into(),
            teams: Vec::new(),
            users: Vec::new(),
            except: None,
        }
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub fn to_teams(mut self, teams: &[Role]) -> Self {
        self.teams.extend_from_slice(teams);
        self
    }

    pub fn to_user(mut self, id: i32) -> Self {
        self.users.push(id);
        self
    }

    pub fn except(mut self, actor: Option<&CurrentUser>) -> Self {
        self.except = actor.map(|a| a.id);
        self
    }
}

/// The delivery job: one event sent to one webhook (run by `server::jobs::deliver_webhook`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub webhook_id: i32,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub link: String,
    pub at: DateTime<Utc>,
}

impl JobKind for DeliverWebhook {
    const NAME: &'static str = "deliver_webhook";
    const MAX_ATTEMPTS: i32 = 8;
}

impl DeliverWebhook {
    /// The JSON sent: Slack's `text` (with a link when the portal's address is known) and
    /// the event's own fields for receivers that are not Slack.
    pub fn payload(&self, base_url: Option<&str>) -> serde_json::Value {
        let url = base_url.map(|b| format!("{}{}", b.trim_end_matches('/'), self.link));
        let headline = match &url {
            Some(u) => format!("*<{u}|{}>*", slack_escape(&self.title)),
            None => format!("*{}*", slack_escape(&self.title)),
        };
        let text = if self.body.is_empty() {
            headline
        } else {
            format!("{headline}\n{}", slack_escape(&self.body))
        };
        serde_json::json!({
            "text": text,
            "event": self.kind.as_str(),
            "title": self.title,
            "body": self.body,
            "link": url.unwrap_or_else(|| self.link.clone()),
            "at": self.at.to_rfc3339(),
        })
    }
}

/// Slack's three control characters in text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `sha256=<hex>` of the body under the webhook's secret.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The name the signing secret of a webhook is kept under.
pub fn secret_name(webhook_id: i32) -> String {
    format!("webhook:{webhook_id}")
}

/// Puts the event in the inbox of everyone it is for and queues a delivery to every active
/// webhook that wants it. Call it in the transaction of the change it is about.
pub async fn send(db: &impl ConnectionTrait, now: DateTime<Utc>, event: Event) -> AppResult<()> {
    inbox_only(db, now, event.clone()).await?;
    for hook in webhook::Entity::find()
        .filter(webhook::Column::Active.eq(true))
        .all(db)
        .await?
    {
        let events = parse_events(&hook.events)?;
        if events.is_empty() || events.contains(&event.kind) {
            enqueue_delivery(db, now, hook.id, &event).await?;
        }
    }
    Ok(())
}

/// Puts the event in the inbox of everyone it is for, and nowhere else.
pub async fn inbox_only(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    event: Event,
) -> AppResult<()> {
    let mut recipients: BTreeSet<i32> = event.users.iter().copied().collect();
    if !event.teams.is_empty() {
        let members = user_role::Entity::find()
            .filter(user_role::Column::Role.is_in(event.teams.iter().copied()))
            .all(db)
            .await?;
        recipients.extend(members.into_iter().map(|m| m.user_id));
    }
    if let Some(except) = event.except {
        recipients.remove(&except);
    }
    let active: BTreeSet<i32> = user::Entity::find()
        .filter(user::Column::Id.is_in(recipients.iter().copied()))
        .filter(user::Column::Blocked.eq(false))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    for user_id in active {
        notification::ActiveModel {
            user_id: Set(user_id),
            kind: Set(event.kind),
            title: Set(event.title.clone()),
            body: Set(event.body.clone()),
            link: Set(event.link.clone()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

async fn enqueue_delivery(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    webhook_id: i32,
    event: &Event,
) -> AppResult<job::Model> {
    DeliverWebhook {
        webhook_id,
        kind: event.kind,
        title: event.title.clone(),
        body: event.body.clone(),
        link: event.link.clone(),
        at: now,
    }
    .enqueue(db, now, None, Some(format!("webhook:{webhook_id}")))
    .await
}

fn parse_events(stored_events: &str) -> AppResult<Vec<NotificationKind>> {
    serde_json::from_str(stored_events)
        .map_err(|e| AppError::internal("unreadable webhook events", e))
}

fn to_dto(n: notification::Model) -> Notification {
    Notification {
        id: n.id,
        kind: n.kind,
        title: n.title,
        body: n.body,
        link: n.link,
        created_at: n.created_at,
        read: n.read_at.is_some(),
    }
}

/// How many unread notifications someone has.
pub async fn unread(db: &impl ConnectionTrait, user_id: i32) -> AppResult<u64> {
    Ok(notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// Someone's notifications, newest first, 30 a page unless `page` says otherwise.
pub async fn inbox(db: &impl ConnectionTrait, user_id: i32, page: PageRequest) -> AppResult<Inbox> {
    let Paging { index, per_page } = page.or_per_page(30).checked()?;
    let paginator = notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .order_by_desc(notification::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let items = paginator
        .fetch_page(index)
        .await?
        .into_iter()
        .map(to_dto)
        .collect();
    Ok(Inbox {
        items,
        unread: unread(db, user_id).await?,
        total,
        page: index + 1,
        pages: total.div_ceil(per_page).max(1),
    })
}

/// Marks one notification (or, with `None`, all) of a person read.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    user_id: i32,
    id: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<u64> {
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(now))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null());
    if let Some(id) = id {
        update = update.filter(notification::Column::Id.eq(id));
    }
    let res = update.exec(db).await?;
    Ok(res.rows_affected)
}

/// A webhook as it is shown: its URL's path and query are a secret, so only the scheme and
/// host are.
fn webhook_dto(w: webhook::Model) -> AppResult<Webhook> {
    Ok(Webhook {
        events: parse_events(&w.events)?,
        id: w.id,
        name: w.name,
        url: outbound::redact(&w.url),
        active: w.active,
        created_by: w.created_by,
        created_at: w.created_at,
    })
}

pub async fn list_webhooks(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
) -> AppResult<Vec<Webhook>> {
    actor.require(Permission::Administer)?;
    webhook::Entity::find()
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(webhook_dto)
        .collect()
}

/// A webhook as the audit log records it: its URL redacted like everywhere else.
fn audited(w: &webhook::Model) -> Option<serde_json::Value> {
    snapshot(&webhook::Model {
        url: outbound::redact(&w.url),
        ..w.clone()
    })
}

fn parse_webhook(
    input: &WebhookInput,
    policy: WebhookPolicy,
) -> AppResult<(String, String, Vec<NotificationKind>)> {
    // The messages never repeat the URL: it may be a secret.
    let url = match outbound::check_url(&input.url, policy) {
        // A URL to somewhere webhooks may not go is refused outright (400), naming the field.
        Err(outbound::UrlRefused::NotAllowed(why)) => {
            return Err(AppError {
                code: ErrorCode::BadRequest,
                ..AppError::validation("url", format!("the webhook URL {why}"))
            });
        }
        other => other
            .map(|_| input.url.trim().to_owned())
            .map_err(|why| format!("the webhook URL {}", why.message())),
    };
    let mut v = Validator::new();
    let name = v.check("name", required_text(&input.name, 100));
    let url = v.check("url", url);
    if !input.secret.is_empty() && input.secret.trim().len() < 16 {
        v.add(
            "secret",
            "must be at least 16 characters, or empty to generate one",
        );
    }
    v.finish(|| Some((name?, url?, input.events.clone())))
}

/// Adds an outbound webhook; its signing secret is stored encrypted and shown this once.
/// Its URL is checked against `policy` (https to a public host, by default) and shown and
/// audited redacted from then on.
pub async fn create_webhook(
    db: &(impl ConnectionTrait + TransactionTrait),
    key: &SecretKey,
    policy: WebhookPolicy,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &WebhookInput,
) -> AppResult<WebhookCreated> {
    actor.require(Permission::Administer)?;
    let (name, url, events) = parse_webhook(input, policy)?;
    let secret = if input.secret.trim().is_empty() {
        use rand::Rng;
        let bytes: [u8; 24] = rand::rng().random();
        hex::encode(bytes)
    } else {
        input.secret.trim().to_owned()
    };
    let txn = super::begin_write(db).await?;
    let model = webhook::ActiveModel {
        name: Set(name),
        url: Set(url),
        events: Set(
            serde_json::to_string(&events).map_err(|e| AppError::internal("webhook events", e))?
        ),
        active: Set(true),
        created_by: Set(actor.username.clone()),
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
            action: "create",
            object_type: "webhook",
            object_id: model.id.to_string(),
            summary: format!(
                "added the webhook {} ({})",
                model.name,
                outbound::redact(&model.url)
            ),
            before: None,
            after: audited(&model),
        },
    )
    .await?;
    txn.commit().await?;
    if let Err(err) = secrets::put(
        db,
        key,
        actor,
        now,
        &secret_name(model.id),
        &SecretValue::new(secret.clone()),
    )
    .await
    {
        // Without its secret the webhook could not sign anything: take it back.
        let _ = webhook::Entity::delete_by_id(model.id).exec(db).await;
        return Err(err);
    }
    Ok(WebhookCreated {
        webhook: webhook_dto(model)?,
        secret,
    })
}

/// Removes a webhook and its secret; deliveries still queued fail without sending.
pub async fn delete_webhook(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<()> {
    actor.require(Permission::Administer)?;
    let txn = super::begin_write(db).await?;
    let hook = webhook::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("webhook {id}")))?;
    webhook::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "delete",
            object_type: "webhook",
            object_id: id.to_string(),
            summary: format!("removed the webhook {}", hook.name),
            before: audited(&hook),
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    secrets::delete(db, actor, now, &secret_name(id)).await
}

/// Queues a test event to one webhook.
pub async fn test_webhook(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<Job> {
    actor.require(Permission::Administer)?;
    let hook = webhook::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("webhook {id}")))?;
    let txn = super::begin_write(db).await?;
    let event = Event::new(
        NotificationKind::ApprovalRequested,
        format!("Test from the Partner Image Portal, sent by {}", actor.name),
        "/settings/webhooks",
    )
    .body(format!("If you can read this, '{}' works.", hook.name));
    let job = enqueue_delivery(&txn, now, hook.id, &event).await?;
    txn.commit().await?;
    jobs::get(db, job.id).await
}

/// The signing secret of a webhook, for the delivery job.
pub async fn webhook_for_delivery(
    db: &impl ConnectionTrait,
    key: &SecretKey,
    id: i32,
) -> AppResult<Option<(webhook::Model, SecretValue)>> {
    let Some(hook) = webhook::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let secret = secrets::reveal(db, key, &secret_name(id))
        .await?
        .ok_or_else(|| AppError::internal("webhook without secret", id))?;
    Ok(Some((hook, secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_payload_speaks_slack() {
        let d = DeliverWebhook {
            webhook_id: 1,
            kind: NotificationKind::SlaBreached,
            title: "17.6.1 <late>".into(),
            body: "GitLab Ultimate".into(),
            link: "/workflows/4".into(),
            at: DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
                .expect("time")
                .with_timezone(&Utc),
        };
        let p = d.payload(Some("https://portal.example.com/"));
        assert_eq!(
            p["text"],
            "*<https://portal.example.com/workflows/4|17.6.1 &lt;late&gt;>*\nGitLab Ultimate"
        );
        assert_eq!(p["event"], "sla_breached");
        assert_eq!(p["link"], "https://portal.example.com/workflows/4");
    }
}
