//! Listing copy: every save is a revision, and a revision is approved in stages —
//! Partnerships, then Omnibus for technical accuracy — each approval bound to that exact
//! revision. An edit makes a new revision that starts over; nobody approves what they
//! wrote; a rejection carries a comment and returns the copy to draft. Only approved copy
//! is published: [`approved_revision`] is what the publish job takes.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use super::{
    audit::{self, Change, snapshot},
    db_err,
    entities::{copy_review, copy_revision, product},
    is_unique_violation,
    notify::{self, Event},
    stored,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
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
            .lines()
            .map(str::trim)
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
            .split(',')
            .map(str::trim)
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
        })
    })
}

fn fields_of(r: &copy_revision::Model) -> CopyFields {
    CopyFields {
        title: r.title.clone(),
        short_description: r.short_description.clone(),
        long_description: r.long_description.clone(),
        highlights: serde_json::from_str(&r.highlights).unwrap_or_default(),
        usage_instructions: r.usage_instructions.clone(),
        release_notes_template: r.release_notes_template.clone(),
        categories: serde_json::from_str(&r.categories).unwrap_or_default(),
    }
}

fn summary_of(r: &copy_revision::Model) -> AppResult<CopyRevisionSummary> {
    Ok(CopyRevisionSummary {
        id: r.id,
        number: r.number,
        author: r.author.clone(),
        created_at: r.created_at,
        state: stored(&r.state)?,
    })
}

async fn to_dto(db: &impl ConnectionTrait, r: copy_revision::Model) -> AppResult<CopyRevision> {
    let reviews = copy_review::Entity::find()
        .filter(copy_review::Column::RevisionId.eq(r.id))
        .order_by_asc(copy_review::Column::Id)
        .all(db)
        .await
        .map_err(db_err("loading reviews"))?
        .into_iter()
        .map(|x| {
            Ok(CopyReview {
                stage: stored(&x.stage)?,
                decision: x.decision,
                username: x.username,
                comment: x.comment,
                at: x.at,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(CopyRevision {
        id: r.id,
        listing_id: r.listing_id,
        number: r.number,
        fields: fields_of(&r),
        author: r.author.clone(),
        author_id: r.author_id,
        created_at: r.created_at,
        state: stored(&r.state)?,
        reviews,
        publish_marked_at: r.publish_marked_at,
        publish_marked_by: r.publish_marked_by.clone(),
    })
}

async fn head(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Option<copy_revision::Model>> {
    copy_revision::Entity::find()
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .order_by_desc(copy_revision::Column::Number)
        .one(db)
        .await
        .map_err(db_err("finding the newest revision"))
}

/// The newest revision, if it is approved: the copy a launch can go out with.
pub async fn approved_head(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<Option<i32>> {
    Ok(head(db, listing_id)
        .await?
        .filter(|r| r.state == CopyState::Approved.as_str())
        .map(|r| r.id))
}

/// The newest approved revision of a listing: what the publish job publishes.
pub async fn approved_revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Option<CopyRevision>> {
    let found = copy_revision::Entity::find()
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .filter(copy_revision::Column::State.eq(CopyState::Approved.as_str()))
        .order_by_desc(copy_revision::Column::Number)
        .one(db)
        .await
        .map_err(db_err("finding the approved revision"))?;
    match found {
        Some(r) => Ok(Some(to_dto(db, r).await?)),
        None => Ok(None),
    }
}

pub async fn get(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<ListingCopy> {
    let l = super::listings::find_model(db, listing_id).await?;
    let p = product::Entity::find_by_id(l.product_id)
        .one(db)
        .await
        .map_err(db_err("finding a product"))?
        .ok_or_else(|| AppError::internal("listing without product", l.id))?;
    let partner = super::entities::partner::Entity::find_by_id(p.partner_id)
        .one(db)
        .await
        .map_err(db_err("finding a partner"))?
        .ok_or_else(|| AppError::internal("product without partner", p.id))?;
    let rows = copy_revision::Entity::find()
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .order_by_desc(copy_revision::Column::Number)
        .all(db)
        .await
        .map_err(db_err("listing revisions"))?;
    let approved_revision = rows
        .iter()
        .find(|r| r.state == CopyState::Approved.as_str())
        .map(|r| r.id);
    let revisions = rows.iter().map(summary_of).collect::<AppResult<Vec<_>>>()?;
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

async fn find_revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
    revision_id: i32,
) -> AppResult<copy_revision::Model> {
    copy_revision::Entity::find_by_id(revision_id)
        .filter(copy_revision::Column::ListingId.eq(listing_id))
        .one(db)
        .await
        .map_err(db_err("finding a revision"))?
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
    let fields = parse(input)?;
    let txn = super::begin_write(db).await?;
    let l = super::listings::find_model(&txn, listing_id).await?;
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
        state: Set(CopyState::Draft.as_str().to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict(
                "base_revision",
                "someone saved a revision at the same moment; reload and save again",
            )
        } else {
            AppError::internal("saving a revision", e)
        }
    })?;
    // The replaced revision's pending approvals end here; an approved one stays approved
    // (and publishable) until this edit is approved in its turn.
    if let Some(previous) = &current
        && previous.state != CopyState::Approved.as_str()
    {
        let mut active: copy_revision::ActiveModel = previous.clone().into();
        active.state = Set(CopyState::Superseded.as_str().to_owned());
        active
            .update(&txn)
            .await
            .map_err(db_err("superseding a revision"))?;
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
    txn.commit()
        .await
        .map_err(db_err("committing a revision"))?;
    Ok(CopySave::Saved {
        revision: to_dto(db, model).await?,
    })
}

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
    active.state = Set(state.as_str().to_owned());
    active
        .update(db)
        .await
        .map_err(db_err("updating a revision"))
}

/// Sends a draft revision to Partnerships for approval.
pub async fn request_approval(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<ListingCopy> {
    let txn = super::begin_write(db).await?;
    let l = super::listings::find_model(&txn, listing_id).await?;
    let r = current_revision(&txn, listing_id, input.revision).await?;
    let state: CopyState = stored(&r.state)?;
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
    txn.commit().await.map_err(db_err("committing a request"))?;
    get(db, listing_id).await
}

/// Checks that `actor` may review `r` now, and returns the team whose turn it is.
fn reviewer_team(
    actor: &CurrentUser,
    r: &copy_revision::Model,
    reviews: &[copy_review::Model],
    approving: bool,
) -> AppResult<Role> {
    let state: CopyState = stored(&r.state)?;
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
    copy_review::Entity::find()
        .filter(copy_review::Column::RevisionId.eq(revision_id))
        .order_by_asc(copy_review::Column::Id)
        .all(db)
        .await
        .map_err(db_err("loading reviews"))
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
        stage: Set(team.as_str().to_owned()),
        decision: Set(decision.to_owned()),
        user_id: Set(actor.id),
        username: Set(actor.username.clone()),
        comment: Set(comment.to_owned()),
        at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(db_err("saving a review"))?;
    Ok(())
}

/// Refuses someone holding none of `roles`, before anything is looked up.
fn one_of(actor: &CurrentUser, roles: &[Role], why: &str) -> AppResult<()> {
    if roles.iter().any(|r| actor.has(*r)) {
        Ok(())
    } else {
        Err(AppError::forbidden(why))
    }
}

/// The reviewing teams (Partnerships, then Omnibus) and admins approve or reject.
const REVIEWERS: [Role; 3] = [Role::Partnerships, Role::Omnibus, Role::Admin];

/// Approves the newest revision for the team whose turn it is.
pub async fn approve(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<ListingCopy> {
    one_of(
        actor,
        &REVIEWERS,
        "Partnerships and Omnibus review listing copy",
    )?;
    let comment: String = input.comment.trim().chars().take(2000).collect();
    let txn = super::begin_write(db).await?;
    let l = super::listings::find_model(&txn, listing_id).await?;
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
    txn.commit()
        .await
        .map_err(db_err("committing an approval"))?;
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
    one_of(
        actor,
        &REVIEWERS,
        "Partnerships and Omnibus review listing copy",
    )?;
    let comment = input.comment.trim();
    if comment.is_empty() {
        return Err(AppError::validation(
            "comment",
            "say why: a rejection needs a comment for the author",
        ));
    }
    let comment: String = comment.chars().take(2000).collect();
    let txn = super::begin_write(db).await?;
    let l = super::listings::find_model(&txn, listing_id).await?;
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
    txn.commit()
        .await
        .map_err(db_err("committing a rejection"))?;
    get(db, listing_id).await
}

/// Marks an approved revision as the one to publish.
pub async fn mark_for_publishing(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    input: &ReviewInput,
) -> AppResult<ListingCopy> {
    one_of(
        actor,
        &[Role::Marketing, Role::Partnerships, Role::Admin],
        "marking copy for publishing needs Marketing, Partnerships or admin",
    )?;
    let txn = super::begin_write(db).await?;
    let l = super::listings::find_model(&txn, listing_id).await?;
    let r = find_revision(&txn, listing_id, input.revision).await?;
    if r.state != CopyState::Approved.as_str() {
        return Err(AppError::conflict(
            "revision",
            format!(
                "revision {} is not approved: only approved copy can be published",
                r.number
            ),
        ));
    }
    let mut active: copy_revision::ActiveModel = r.clone().into();
    active.publish_marked_at = Set(Some(now));
    active.publish_marked_by = Set(Some(actor.username.clone()));
    active
        .update(&txn)
        .await
        .map_err(db_err("marking a revision"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "mark_publish",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "marked revision {} of '{}' for publishing",
                r.number, l.title
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await.map_err(db_err("committing a mark"))?;
    get(db, listing_id).await
}

/// Revisions waiting for one of `teams`.
pub async fn queue(db: &impl ConnectionTrait, teams: &[Role]) -> AppResult<Vec<CopyQueueItem>> {
    let states: Vec<&str> = CopyState::ALL
        .iter()
        .filter(|s| s.awaiting().is_some_and(|t| teams.contains(&t)))
        .map(|s| s.as_str())
        .collect();
    let rows = copy_revision::Entity::find()
        .filter(copy_revision::Column::State.is_in(states))
        .order_by_asc(copy_revision::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_err("listing revisions to review"))?;
    let mut items = Vec::new();
    for r in rows {
        let l = super::listings::find_model(db, r.listing_id).await?;
        let summary = summary_of(&r)?;
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

const FIELDS: [(&str, &str); 7] = [
    ("title", "Product title"),
    ("short_description", "Short description"),
    ("long_description", "Long description"),
    ("highlights", "Highlights"),
    ("usage_instructions", "Usage instructions"),
    ("release_notes_template", "Release notes template"),
    ("categories", "Categories"),
];

fn field_text(f: &CopyFields, key: &str) -> String {
    match key {
        "title" => f.title.clone(),
        "short_description" => f.short_description.clone(),
        "long_description" => f.long_description.clone(),
        "highlights" => f.highlights.join("\n"),
        "usage_instructions" => f.usage_instructions.clone(),
        "release_notes_template" => f.release_notes_template.clone(),
        _ => f.categories.join("\n"),
    }
}

/// Line-by-line, side by side: unchanged lines face each other, replaced lines are paired,
/// and removed or added lines face a blank.
pub fn diff_rows(left: &str, right: &str) -> Vec<DiffRow> {
    use similar::{Algorithm, DiffTag, capture_diff_slices};
    let l: Vec<&str> = left.lines().collect();
    let r: Vec<&str> = right.lines().collect();
    let mut rows = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, &l, &r) {
        let (tag, old, new) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => rows.extend(old.map(|i| DiffRow {
                left: Some(l[i].to_owned()),
                right: Some(l[i].to_owned()),
                kind: "same".into(),
            })),
            DiffTag::Delete => rows.extend(old.map(|i| DiffRow {
                left: Some(l[i].to_owned()),
                right: None,
                kind: "removed".into(),
            })),
            DiffTag::Insert => rows.extend(new.map(|i| DiffRow {
                left: None,
                right: Some(r[i].to_owned()),
                kind: "added".into(),
            })),
            DiffTag::Replace => {
                let (old, new): (Vec<usize>, Vec<usize>) = (old.collect(), new.collect());
                for k in 0..old.len().max(new.len()) {
                    let left = old.get(k).map(|&i| l[i].to_owned());
                    let right = new.get(k).map(|&i| r[i].to_owned());
                    let kind = match (&left, &right) {
                        (Some(_), Some(_)) => "changed",
                        (Some(_), None) => "removed",
                        _ => "added",
                    };
                    rows.push(DiffRow {
                        left,
                        right,
                        kind: kind.into(),
                    });
                }
            }
        }
    }
    rows
}

/// Two revisions of a listing's copy, field by field.
pub async fn diff(
    db: &impl ConnectionTrait,
    listing_id: i32,
    left: i32,
    right: i32,
) -> AppResult<CopyDiff> {
    let a = find_revision(db, listing_id, left).await?;
    let b = find_revision(db, listing_id, right).await?;
    let (fa, fb) = (fields_of(&a), fields_of(&b));
    let fields = FIELDS
        .iter()
        .map(|(key, label)| {
            let (x, y) = (field_text(&fa, key), field_text(&fb, key));
            FieldDiff {
                field: (*key).to_owned(),
                label: (*label).to_owned(),
                changed: x != y,
                rows: diff_rows(&x, &y),
            }
        })
        .collect();
    Ok(CopyDiff {
        left: summary_of(&a)?,
        right: summary_of(&b)?,
        fields,
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
    fn diffs_pair_changed_lines_and_face_blanks() {
        let rows = diff_rows("one\ntwo\nthree", "one\n2\nthree\nfour");
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["same", "changed", "same", "added"]);
        assert_eq!(rows[1].left.as_deref(), Some("two"));
        assert_eq!(rows[1].right.as_deref(), Some("2"));
        assert_eq!(rows[3].left, None);
    }

    #[test]
    fn copy_is_checked_against_the_marketplace_limits() {
        let err = parse(&CopyInput {
            title: "x".repeat(73),
            short_description: String::new(),
            long_description: "ok".into(),
            highlights: "a\nb\nc\nd".into(),
            categories: "DevOps, Source control".into(),
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
