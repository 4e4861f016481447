//! Drafting copy: checking an edit against the marketplace's limits, saving it as a new
//! revision (or answering both versions when someone saved first), and reading revisions.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        begin_write,
        entities::{copy_review, copy_revision, partner, product},
        listings,
    },
};

/// AWS Marketplace's limits on product copy.
pub const TITLE_MAX: usize = 72;
pub const SHORT_DESCRIPTION_MAX: usize = 1000;
pub const LONG_DESCRIPTION_MAX: usize = 5000;
pub const HIGHLIGHTS_MAX: usize = 3;
pub const HIGHLIGHT_MAX: usize = 250;
pub const CATEGORIES_MAX: usize = 3;
pub const TEXT_MAX: usize = 10_000;

/// Markdown rendered to HTML and sanitised: no script, no event handler, no `javascript:`
/// URL survives, whatever the text says.
pub fn render_markdown(text: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut raw = String::new();
    html::push_html(&mut raw, Parser::new_ext(text, options));
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&raw)
        .to_string()
}

fn bounded(value: &str, max: usize, required: bool) -> Result<String, String> {
    let v = value.trim();
    if required && v.is_empty() {
        Err("is required".to_owned())
    } else if v.chars().count() > max {
        Err(format!(
            "must be at most {max} characters (it has {})",
            v.chars().count()
        ))
    } else {
        Ok(v.replace("\r\n", "\n"))
    }
}

fn parse(input: &CopyInput) -> AppResult<CopyFields> {
    let mut v = Validator::new();
    let title = v.check("title", bounded(&input.title, TITLE_MAX, true));
    let short = v.check(
        "short_description",
        bounded(&input.short_description, SHORT_DESCRIPTION_MAX, true),
    );
    let long = v.check(
        "long_description",
        bounded(&input.long_description, LONG_DESCRIPTION_MAX, true),
    );
    let highlights = v.check("highlights", {
        let items: Vec<String> = input
            .highlights
            .iter()
            .map(|h| h.trim())
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        if items.len() > HIGHLIGHTS_MAX {
            Err(format!(
                "at most {HIGHLIGHTS_MAX} highlights, one per line (there are {})",
                items.len()
            ))
        } else if let Some(long) = items.iter().find(|h| h.chars().count() > HIGHLIGHT_MAX) {
            Err(format!(
                "each highlight is at most {HIGHLIGHT_MAX} characters: '{}…' is longer",
                long.chars().take(30).collect::<String>()
            ))
        } else {
            Ok(items)
        }
    });
    let usage = v.check(
        "usage_instructions",
        bounded(&input.usage_instructions, TEXT_MAX, false),
    );
    let notes = v.check(
        "release_notes_template",
        bounded(&input.release_notes_template, TEXT_MAX, false),
    );
    let categories = v.check("categories", {
        let items: Vec<String> = input
            .categories
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        if items.len() > CATEGORIES_MAX {
            Err(format!(
                "at most {CATEGORIES_MAX} categories, separated by commas"
            ))
        } else if items.iter().any(|c| c.chars().count() > 100) {
            Err("a category is at most 100 characters".to_owned())
        } else {
            Ok(items)
        }
    });
    v.finish(|| {
        Some(CopyFields {
            title: title?,
            short_description: short?,
            long_description: long?,
            highlights: highlights?,
            usage_instructions: usage?,
            release_notes_template: notes?,
            categories: categories?,
            ..CopyFields::default()
        })
    })
}

pub(super) fn fields_of(r: &copy_revision::Model) -> CopyFields {
    CopyFields {
        title: r.title.clone(),
        short_description: r.short_description.clone(),
        long_description: r.long_description.clone(),
        highlights: serde_json::from_str(&r.highlights).unwrap_or_default(),
        usage_instructions: r.usage_instructions.clone(),
        release_notes_template: r.release_notes_template.clone(),
        categories: serde_json::from_str(&r.categories).unwrap_or_default(),
        search_keywords: serde_json::from_str(&r.search_keywords).unwrap_or_default(),
        sku: r.sku.clone(),
        support_description: r.support_description.clone(),
        logo_asset_id: r.logo_asset_id,
        logo_version: r.logo_version,
        video_url: r.video_url.clone(),
        additional_resources: serde_json::from_str(&r.additional_resources).unwrap_or_default(),
    }
}

pub(super) fn summary_of(r: &copy_revision::Model) -> CopyRevisionSummary {
    CopyRevisionSummary {
        id: r.id,
        number: r.number,
        author: r.author.clone(),
        created_at: r.created_at,
        state: r.state,
    }
}

pub(super) async fn to_dto(
    db: &impl ConnectionTrait,
    r: copy_revision::Model,
) -> AppResult<CopyRevision> {
    let reviews = copy_review::Entity::find()
        .filter(copy_review::Column::RevisionId.eq(r.id))
        .order_by_asc(copy_review::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|x| CopyReview {
            stage: x.stage,
            decision: x.decision,
            username: x.username,
            comment: x.comment,
            at: x.at,
        })
        .collect();
    Ok(CopyRevision {
        id: r.id,
        listing_id: r.listing_id,
        number: r.number,
        fields: fields_of(&r),
        author: r.author.clone(),
        author_id: r.author_id,
        created_at: r.created_at,
        state: r.state,
        reviews,
        publish_marked_at: r.publish_marked_at,
        publish_marked_by: r.publish_marked_by.clone(),
    })
}

pub(super) async fn head(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Option<copy_revision::Model>> {
    Ok(copy_revision::Entity::find()
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .order_by_desc(copy_revision::Column::Number)
        .one(db)
        .await?)
}

/// The newest revision, if it is approved: the copy a launch can go out with.
pub async fn approved_head(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<Option<i32>> {
    Ok(head(db, listing_id)
        .await?
        .filter(|r| r.state == CopyState::Approved)
        .map(|r| r.id))
}

/// The newest approved revision of a listing: what the publish job publishes.
pub async fn approved_revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Option<CopyRevision>> {
    let found = copy_revision::Entity::find()
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .filter(copy_revision::Column::State.eq(CopyState::Approved))
        .order_by_desc(copy_revision::Column::Number)
        .one(db)
        .await?;
    match found {
        Some(r) => Ok(Some(to_dto(db, r).await?)),
        None => Ok(None),
    }
}

pub async fn get(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<ListingCopy> {
    let l = listings::find_model(db, listing_id).await?;
    let p = product::Entity::find_by_id(l.product_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("listing without product", l.id))?;
    let partner = partner::Entity::find_by_id(p.partner_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("product without partner", p.id))?;
    let rows = copy_revision::Entity::find()
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .order_by_desc(copy_revision::Column::Number)
        .all(db)
        .await?;
    let approved_revision = rows
        .iter()
        .find(|r| r.state == CopyState::Approved)
        .map(|r| r.id);
    let revisions = rows.iter().map(summary_of).collect();
    let head = match rows.into_iter().next() {
        Some(r) => Some(to_dto(db, r).await?),
        None => None,
    };
    Ok(ListingCopy {
        listing_id,
        listing_title: l.title,
        product_name: p.name,
        partner_slug: partner.slug,
        head,
        revisions,
        approved_revision,
        live: None,
        publish_job: None,
    })
}

pub async fn revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
    revision_id: i32,
) -> AppResult<CopyRevision> {
    let r = find_revision(db, listing_id, revision_id).await?;
    to_dto(db, r).await
}

pub(super) async fn find_revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
    revision_id: i32,
) -> AppResult<copy_revision::Model> {
    copy_revision::Entity::find_by_id(revision_id)
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!("revision {revision_id} of listing {listing_id}"))
        })
}

/// Saves an edit as a new revision on top of `input.base_revision`. If someone saved a
/// newer revision meanwhile nothing is written and both versions come back.
pub async fn save(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &CopyInput,
) -> AppResult<CopySave> {
    actor.require(Permission::EditCopy)?;
    let fields = parse(input)?;
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let current = head(&txn, listing_id).await?;
    let current_id = current.as_ref().map_or(0, |r| r.id);
    if input.base_revision != current_id {
        let Some(theirs) = current else {
            return Err(AppError::conflict(
                "base_revision",
                format!(
                    "revision {} is not a revision of this listing",
                    input.base_revision
                ),
            ));
        };
        let theirs = to_dto(&txn, theirs).await?;
        return Ok(CopySave::Conflict {
            message: format!(
                "{} saved revision {} after you started editing; nothing was overwritten. \
                 Compare the two, then save again on top of revision {}.",
                theirs.author, theirs.number, theirs.number
            ),
            yours: fields,
            theirs,
        });
    }
    if let Some(current) = &current
        && fields_of(current) == fields
    {
        return Err(AppError::conflict(
            "title",
            format!("nothing changed since revision {}", current.number),
        ));
    }
    let number = current.as_ref().map_or(1, |r| r.number + 1);
    let model = copy_revision::ActiveModel {
        listing_id: Set(listing_id),
        number: Set(number),
        title: Set(fields.title.clone()),
        short_description: Set(fields.short_description.clone()),
        long_description: Set(fields.long_description.clone()),
        highlights: Set(serde_json::to_string(&fields.highlights)
            .map_err(|e| AppError::internal("highlights", e))?),
        usage_instructions: Set(fields.usage_instructions.clone()),
        release_notes_template: Set(fields.release_notes_template.clone()),
        categories: Set(serde_json::to_string(&fields.categories)
            .map_err(|e| AppError::internal("categories", e))?),
        author_id: Set(actor.id),
        author: Set(actor.username.clone()),
        created_at: Set(now),
        state: Set(CopyState::Draft),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique(
        "base_revision",
        "someone saved a revision at the same moment; reload and save again",
    )?;
    // The replaced revision's pending approvals end here; an approved one stays approved
    // (and publishable) until this edit is approved in its turn.
    if let Some(previous) = &current
        && previous.state != CopyState::Approved
    {
        let mut active: copy_revision::ActiveModel = previous.clone().into();
        active.state = Set(CopyState::Superseded);
        active.update(&txn).await?;
    }
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "edit_copy",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!("saved revision {number} of the copy of '{}'", l.title),
            before: current.as_ref().and_then(|c| snapshot(&fields_of(c))),
            after: snapshot(&fields),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(CopySave::Saved {
        revision: to_dto(db, model).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_sanitised() {
        let html = render_markdown(
            "# GitLab\n\n**Bold** [docs](https://docs.gitlab.com)\n\n<script>alert(1)</script>\n\n\
             <img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n\n<a href=\"JaVaScRiPt:alert(1)\">x</a>",
        );
        assert!(html.contains("<h1>GitLab</h1>"), "{html}");
        assert!(html.contains("<strong>Bold</strong>"), "{html}");
        assert!(html.contains("href=\"https://docs.gitlab.com\""), "{html}");
        let lower = html.to_lowercase();
        assert!(!lower.contains("<script"), "{html}");
        assert!(!lower.contains("onerror"), "{html}");
        assert!(!lower.contains("javascript:"), "{html}");
    }

    #[test]
    fn copy_is_checked_against_the_marketplace_limits() {
        let err = parse(&CopyInput {
            title: "x".repeat(73),
            short_description: String::new(),
            long_description: "ok".into(),
            highlights: ["a", "b", "c", "d"].map(String::from).to_vec(),
            categories: ["DevOps", " Source control", ""].map(String::from).to_vec(),
            ..Default::default()
        })
        .expect_err("invalid");
        assert!(err.field("title").is_some_and(|m| m.contains("72")));
        assert_eq!(err.field("short_description"), Some("is required"));
        assert!(
            err.field("highlights")
                .is_some_and(|m| m.contains("at most 3"))
        );
        assert!(err.field("categories").is_none());
    }
}
