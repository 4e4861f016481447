//! Publishing approved copy on its own: marking an approved revision queues a
//! `publish_copy` job (run by `server::jobs::publish_copy`), which sends exactly that
//! revision as `UpdateInformation` ([`copy_plan`]) and records what the marketplace then
//! shows ([`record_live`]); before marking, [`live_diff`] compares the revision with what
//! is live now.

use super::{
    diff::{diff_rows, resources_text},
    job::{PublishCopy, publish_group},
    revisions::{fields_of, find_revision, get, summary_of},
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{
        AppState,
        assets::AssetUrls,
        audit::{self, Change},
        begin_write,
        entities::{asset_version, copy_revision, job, listing},
        jobs::{self, JobKind},
        listings, users,
    },
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

/// The jobs that are not over yet.
pub(crate) const ACTIVE_JOB_STATES: [JobState; 4] = [
    JobState::Queued,
    JobState::Running,
    JobState::Waiting,
    JobState::Blocked,
];

/// Everything a copy publish sends, read from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    pub listing_id: i32,
    pub revision_id: i32,
    pub entity_name: String,
    pub entity_id: Option<String>,
    /// The details document, exactly as sent.
    pub update: UpdateInformation,
}

/// The public URL of the logo a revision pinned, if it has one.
async fn logo_url(
    db: &impl ConnectionTrait,
    urls: &AssetUrls,
    fields: &CopyFields,
) -> AppResult<Option<String>> {
    let (Some(asset_id), Some(version)) = (fields.logo_asset_id, fields.logo_version) else {
        return Ok(None);
    };
    let v = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset_id))
        .filter(asset_version::Column::Version.eq(version))
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::conflict(
                "logo_asset_id",
                format!("version {version} of the logo (asset {asset_id}) is gone"),
            )
        })?;
    Ok(Some(urls.public_url(
        asset_id,
        version,
        &v.storage_key,
        &v.filename,
    )?))
}

/// The `UpdateInformation` details document of a revision's fields: every field as the
/// revision has it; SKU, support description, video, resources and keywords only when
/// the revision has them (AWS leaves a field that is not sent unchanged).
pub fn update_information(fields: &CopyFields, logo_url: Option<String>) -> UpdateInformation {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    UpdateInformation {
        product_title: fields.title.clone(),
        short_description: fields.short_description.clone(),
        long_description: fields.long_description.clone(),
        sku: some(&fields.sku),
        logo_url,
        video_urls: some(&fields.video_url).into_iter().collect(),
        highlights: fields.highlights.clone(),
        additional_resources: fields
            .additional_resources
            .iter()
            .map(|r| UpdateResource {
                text: r.text.clone(),
                url: r.url.clone(),
            })
            .collect(),
        support_description: some(&fields.support_description),
        categories: fields.categories.clone(),
        search_keywords: fields.search_keywords.clone(),
    }
}

/// What a `publish_copy` job sends: the approved revision of its payload, exactly.
pub async fn copy_plan(
    db: &impl ConnectionTrait,
    urls: &AssetUrls,
    payload: &PublishCopy,
) -> AppResult<CopyPlan> {
    let l = listings::find_model(db, payload.listing_id).await?;
    let r = find_revision(db, l.id, payload.revision_id).await?;
    if r.state != CopyState::Approved {
        return Err(AppError::conflict(
            "revision",
            format!(
                "revision {} of the copy of '{}' is {}: only approved copy is published",
                r.number,
                l.title,
                r.state.label().to_lowercase()
            ),
        ));
    }
    let fields = fields_of(&r);
    let logo = logo_url(db, urls, &fields).await?;
    Ok(CopyPlan {
        listing_id: l.id,
        revision_id: r.id,
        entity_name: l.entity_name,
        entity_id: l.entity_id,
        update: update_information(&fields, logo),
    })
}

/// Records that a revision is live, with the copy as the marketplace showed it after the
/// publish; the catalogue's listing title follows the revision's. Audited as the portal's
/// system user; recording the same again changes nothing.
pub async fn record_live(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    listing_id: i32,
    revision_id: i32,
    live: &LiveCopy,
) -> AppResult<()> {
    let system = users::system_user(db, now).await?;
    let text =
        serde_json::to_string(live).map_err(|e| AppError::internal("writing the live copy", e))?;
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let r = find_revision(&txn, listing_id, revision_id).await?;
    if l.live_copy_revision_id == Some(r.id)
        && l.live_copy.as_deref() == Some(text.as_str())
        && l.title == r.title
    {
        return Ok(());
    }
    let before = l.title.clone();
    let mut active: listing::ActiveModel = l.into();
    active.live_copy_revision_id = Set(Some(r.id));
    active.live_copy = Set(Some(text));
    active.live_copy_at = Set(Some(now));
    active.title = Set(r.title.clone());
    active.updated_at = Set(now);
    active.update(&txn).await?;
    audit::record(
        &txn,
        Some(&system),
        now,
        Change {
            action: "copy_live",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: if before == r.title {
                format!("revision {} of the copy of '{}' is live", r.number, r.title)
            } else {
                format!(
                    "revision {} of the copy is live; the listing '{before}' is now titled '{}'",
                    r.number, r.title
                )
            },
            before: Some(serde_json::json!({ "title": before })),
            after: Some(serde_json::json!({ "title": r.title, "revision": r.number })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The listing as it would show after publishing `update` over `live`: what is sent
/// replaces, what is left out stays.
fn after_publish(live: &LiveCopy, update: &UpdateInformation) -> LiveCopy {
    let or_live = |sent: &Option<String>, live: &str| sent.clone().unwrap_or(live.to_owned());
    LiveCopy {
        title: update.product_title.clone(),
        short_description: update.short_description.clone(),
        long_description: update.long_description.clone(),
        highlights: update.highlights.clone(),
        categories: update.categories.clone(),
        search_keywords: if update.search_keywords.is_empty() {
            live.search_keywords.clone()
        } else {
            update.search_keywords.clone()
        },
        sku: or_live(&update.sku, &live.sku),
        support_description: or_live(&update.support_description, &live.support_description),
        logo_url: or_live(&update.logo_url, &live.logo_url),
        video_url: update
            .video_urls
            .first()
            .cloned()
            .unwrap_or_else(|| live.video_url.clone()),
        additional_resources: if update.additional_resources.is_empty() {
            live.additional_resources.clone()
        } else {
            update
                .additional_resources
                .iter()
                .map(|r| AdditionalResource {
                    text: r.text.clone(),
                    url: r.url.clone(),
                })
                .collect()
        },
    }
}

/// One row per `UpdateInformation` field: its key, label, whether the revision sends it,
/// and its text in a copy (lists one item per line).
fn live_fields(
    update: &UpdateInformation,
    c: &LiveCopy,
) -> Vec<(&'static str, &'static str, bool, String)> {
    vec![
        ("title", "Product title", true, c.title.clone()),
        (
            "short_description",
            "Short description",
            true,
            c.short_description.clone(),
        ),
        (
            "long_description",
            "Long description",
            true,
            c.long_description.clone(),
        ),
        ("sku", "SKU", update.sku.is_some(), c.sku.clone()),
        (
            "logo_url",
            "Logo URL",
            update.logo_url.is_some(),
            c.logo_url.clone(),
        ),
        (
            "video_url",
            "Video URL",
            !update.video_urls.is_empty(),
            c.video_url.clone(),
        ),
        ("highlights", "Highlights", true, c.highlights.join("\n")),
        (
            "additional_resources",
            "Additional resources",
            !update.additional_resources.is_empty(),
            resources_text(&c.additional_resources),
        ),
        (
            "support_description",
            "Support description",
            update.support_description.is_some(),
            c.support_description.clone(),
        ),
        ("categories", "Categories", true, c.categories.join("\n")),
        (
            "search_keywords",
            "Search keywords",
            !update.search_keywords.is_empty(),
            c.search_keywords.join("\n"),
        ),
    ]
}

/// A revision against the copy live on the marketplace (read at `read_at` from entity
/// `entity_id`): left is live, right is what the listing shows once the revision is
/// published, one row per `UpdateInformation` field. The logo is compared as the URL that
/// would be sent.
pub async fn live_diff(
    db: &impl ConnectionTrait,
    urls: &AssetUrls,
    listing_id: i32,
    revision_id: i32,
    entity_id: &str,
    live: &LiveCopy,
    read_at: DateTime<Utc>,
) -> AppResult<CopyLiveDiff> {
    let r = find_revision(db, listing_id, revision_id).await?;
    let fields = fields_of(&r);
    let update = update_information(&fields, logo_url(db, urls, &fields).await?);
    let after = after_publish(live, &update);
    let rows: Vec<FieldDiff> = live_fields(&update, live)
        .into_iter()
        .zip(live_fields(&update, &after))
        .map(|((field, label, sent, left), (_, _, _, right))| FieldDiff {
            field: field.to_owned(),
            label: if sent {
                label.to_owned()
            } else {
                format!("{label} (not sent: stays as it is)")
            },
            changed: left != right,
            rows: diff_rows(&left, &right),
        })
        .collect();
    Ok(CopyLiveDiff {
        revision: summary_of(&r),
        entity_id: entity_id.to_owned(),
        read_at,
        changed: rows.iter().filter(|f| f.changed).count(),
        fields: rows,
    })
}

/// Reads the listing's copy from the marketplace now and compares a revision with it (see
/// [`live_diff`]). Until the portal is connected to the marketplace this is a conflict
/// saying so.
pub async fn read_live_diff(
    state: &AppState,
    listing_id: i32,
    revision_id: i32,
) -> AppResult<CopyLiveDiff> {
    let l = listings::find_model(&state.db, listing_id).await?;
    find_revision(&state.db, listing_id, revision_id).await?;
    let reader = state.marketplace.get().ok_or_else(|| {
        AppError::new(
            ErrorCode::Conflict,
            "the marketplace is not connected yet: try again in a moment",
        )
    })?;
    let (entity_id, live) = reader
        .live_copy(l.entity_id.as_deref(), &l.entity_name)
        .await?;
    live_diff(
        &state.db,
        &state.asset_urls,
        listing_id,
        revision_id,
        &entity_id,
        &live,
        state.clock.now(),
    )
    .await
}

/// Marks an approved revision for publishing and queues the `publish_copy` job that
/// publishes it, in one transaction. One copy publish per listing at a time.
pub async fn mark_for_publishing(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<CopyPublish> {
    actor.require(Permission::MarkCopyForPublishing)?;
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let r = find_revision(&txn, listing_id, input.revision).await?;
    if r.state != CopyState::Approved {
        return Err(AppError::conflict(
            "revision",
            format!(
                "revision {} is not approved: only approved copy can be published",
                r.number
            ),
        ));
    }
    if let Some(j) = job::Entity::find()
        .filter(job::Column::Kind.eq(PublishCopy::NAME))
        .filter(job::Column::GroupKey.eq(publish_group(listing_id)))
        .filter(job::Column::State.is_in(ACTIVE_JOB_STATES))
        .one(&txn)
        .await?
    {
        return Err(AppError::conflict(
            "revision",
            format!(
                "job {} is already publishing copy on {}: wait for it to finish",
                j.id, l.entity_name
            ),
        ));
    }
    let mut active: copy_revision::ActiveModel = r.clone().into();
    active.publish_marked_at = Set(Some(now));
    active.publish_marked_by = Set(Some(actor.username.clone()));
    active.update(&txn).await?;
    let j = PublishCopy {
        listing_id,
        revision_id: r.id,
    }
    .enqueue(&txn, now, Some(actor.id), Some(publish_group(listing_id)))
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "mark_publish",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "marked revision {} of '{}' for publishing (job {})",
                r.number, l.title, j.id
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(CopyPublish {
        copy: get(db, listing_id).await?,
        job: jobs::get(db, j.id).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> CopyFields {
        CopyFields {
            title: "GitLab Premium".into(),
            short_description: "Short".into(),
            long_description: "Long".into(),
            highlights: vec!["One".into()],
            categories: vec!["DevOps".into()],
            ..CopyFields::default()
        }
    }

    #[test]
    fn what_a_revision_lacks_is_left_out_of_the_document() {
        let doc = serde_json::to_value(update_information(&fields(), None)).expect("json");
        let keys: Vec<&str> = doc
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "Categories",
                "Highlights",
                "LongDescription",
                "ProductTitle",
                "ShortDescription"
            ]
        );
        let full = CopyFields {
            sku: "GL-1".into(),
            video_url: "https://v.example".into(),
            support_description: "Support".into(),
            search_keywords: vec!["gitlab".into()],
            additional_resources: vec![AdditionalResource {
                text: "Docs".into(),
                url: "https://docs.gitlab.com".into(),
            }],
            ..fields()
        };
        let doc = serde_json::to_value(update_information(
            &full,
            Some("https://logo.example/l.png".into()),
        ))
        .expect("json");
        assert_eq!(doc["Sku"], "GL-1");
        assert_eq!(doc["LogoUrl"], "https://logo.example/l.png");
        assert_eq!(doc["VideoUrls"], serde_json::json!(["https://v.example"]));
        assert_eq!(
            doc["AdditionalResources"],
            serde_json::json!([{"Text": "Docs", "Url": "https://docs.gitlab.com"}])
        );
        assert_eq!(doc["SupportDescription"], "Support");
        assert_eq!(doc["SearchKeywords"], serde_json::json!(["gitlab"]));
    }

    #[test]
    fn a_field_not_sent_stays_as_it_is_live() {
        let live = LiveCopy {
            title: "Old".into(),
            sku: "LIVE-SKU".into(),
            logo_url: "https://live/logo.png".into(),
            ..LiveCopy::default()
        };
        let after = after_publish(&live, &update_information(&fields(), None));
        assert_eq!(after.title, "GitLab Premium");
        assert_eq!(after.sku, "LIVE-SKU");
        assert_eq!(after.logo_url, "https://live/logo.png");
    }
}
