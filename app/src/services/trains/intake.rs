//! Releases coming in, typed by a person, sent by a pipeline or announced by GitLab's
//! webhook: each is recorded, opens its maintenance runs and starts its train, in one
//! transaction.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};
use serde::Deserialize;

use super::engine::start_release_train;
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{DbResultExt, begin_write, process, releases, users},
};

/// Records a release, opens its maintenance runs and, for a stable release, starts its
/// train. Returns the release, the runs' ids and the train's id.
pub async fn create_release(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &ReleaseInput,
) -> AppResult<(Release, Vec<i32>, Option<i32>)> {
    let txn = begin_write(db).await?;
    let (model, runs) = process::record_release(&txn, actor, now, input).await?;
    let train = start_release_train(&txn, now, &model, &actor.username).await?;
    txn.commit().await?;
    Ok((
        releases::get(db, &model.version).await?,
        runs,
        train.map(|t| t.id),
    ))
}

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
    /// The release's page, when the event names it (release events do).
    pub notes_url: Option<String>,
}

/// Records a release reported by a webhook and opens its maintenance runs. The same event
/// delivered twice, or a release already known, changes nothing.
pub async fn release_event(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    event: &ReleaseEvent,
) -> AppResult<ReleaseEventOutcome> {
    use crate::services::entities::inbound_event;
    let version = event.version.to_string();
    let duplicate = |release: Option<String>| ReleaseEventOutcome {
        status: "duplicate".into(),
        release,
        maintenance_runs: Vec::new(),
        train: None,
    };
    let seen = inbound_event::Entity::find()
        .filter(inbound_event::Column::Source.eq(event.source))
        .filter(inbound_event::Column::DeliveryId.eq(event.delivery_id.clone()))
        .one(db)
        .await?;
    if seen.is_some() {
        return Ok(duplicate(Some(version)));
    }
    let actor = users::system_user(db, now).await?;
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
        // A link that is not an https URL is left out rather than losing the release.
        notes_url: event
            .notes_url
            .as_deref()
            .and_then(|u| crate::services::https_url(u).ok().flatten())
            .unwrap_or_default(),
    };
    let outcome = match create_release(db, &actor, now, &input).await {
        Ok((release, runs, train)) => ReleaseEventOutcome {
            status: "recorded".into(),
            release: Some(release.version),
            maintenance_runs: runs,
            train,
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
    match recorded.on_unique("delivery", "this delivery was recorded already") {
        Ok(_) => Ok(outcome),
        // The same delivery raced this one in: both saw the same release.
        Err(e) if e.code == ErrorCode::Conflict => Ok(outcome),
        Err(e) => Err(e),
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

/// The parts of GitLab's tag push and release events the portal reads.
#[derive(Debug, Deserialize)]
pub struct GitlabEvent {
    pub object_kind: Option<String>,
    /// Tag push: `refs/tags/v17.6.1-ee`.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Tag push: all zeros when the tag was deleted.
    pub after: Option<String>,
    /// Tag push: the annotated tag's message.
    pub message: Option<String>,
    /// Release: `create`, `update` or `delete`.
    pub action: Option<String>,
    pub tag: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub released_at: Option<String>,
    /// Release: the release's page on GitLab.
    pub url: Option<String>,
}

/// One delivery of GitLab's webhook, as read from the request.
#[derive(Debug)]
pub struct GitlabDelivery {
    /// The `X-Gitlab-Event` header: `Tag Push Hook` or `Release Hook`.
    pub kind: String,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The `X-Gitlab-Event-UUID` header, if sent.
    pub event_uuid: Option<String>,
    /// The SHA-256 of the body: the delivery's id when no header names it.
    pub body_sha256: [u8; 32],
    pub event: GitlabEvent,
}

/// Reads a delivery of GitLab's webhook for tag pushes and releases of the GitLab project:
/// a new stable release is recorded and opens its maintenance runs; anything else is
/// ignored, saying why. The same delivery twice changes nothing.
pub async fn gitlab_delivery(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    delivery: GitlabDelivery,
) -> AppResult<ReleaseEventOutcome> {
    let ignored = |why: &str| {
        Ok(ReleaseEventOutcome {
            status: format!("ignored: {why}"),
            release: None,
            maintenance_runs: Vec::new(),
            train: None,
        })
    };
    let GitlabDelivery {
        kind,
        idempotency_key,
        event_uuid,
        body_sha256,
        event,
    } = delivery;
    let (tag, released_on, text, notes_url) = match (kind.as_str(), event.object_kind.as_deref()) {
        ("Tag Push Hook", _) | (_, Some("tag_push")) => {
            if event
                .after
                .as_deref()
                .is_some_and(|a| a.chars().all(|c| c == '0'))
            {
                return ignored("a tag was deleted");
            }
            let Some(tag) = event.git_ref.clone() else {
                return Err(AppError::validation("ref", "a tag push without a ref"));
            };
            (
                tag,
                now.date_naive(),
                event.message.clone().unwrap_or_default(),
                None,
            )
        }
        ("Release Hook", _) | (_, Some("release")) => {
            if event.action.as_deref().is_some_and(|a| a != "create") {
                return ignored("only new releases open maintenance");
            }
            let Some(tag) = event.tag.clone() else {
                return Err(AppError::validation("tag", "a release event without a tag"));
            };
            let released_on = event
                .released_at
                .as_deref()
                .and_then(|d| d.get(..10))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .unwrap_or_else(|| now.date_naive());
            (
                tag,
                released_on,
                format!(
                    "{} {}",
                    event.name.clone().unwrap_or_default(),
                    event.description.clone().unwrap_or_default()
                ),
                event.url.clone(),
            )
        }
        _ => return ignored("not a tag push or release event"),
    };
    let version = version_from_tag(&tag).map_err(|m| AppError::validation("tag", m))?;
    if !version.is_stable() {
        return ignored("release candidates get no images");
    }
    let delivery_id = idempotency_key
        .or(event_uuid)
        .unwrap_or_else(|| hex::encode(body_sha256));
    release_event(
        db,
        now,
        &ReleaseEvent {
            source: "gitlab",
            delivery_id,
            security: text.to_lowercase().contains("security"),
            summary: format!("{kind}: {tag}"),
            version,
            released_on,
            notes_url,
        },
    )
    .await
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
