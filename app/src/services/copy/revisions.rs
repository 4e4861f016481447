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
        entities::{
            asset, asset_link, asset_version, copy_review, copy_revision, job, listing, partner,
            product,
        },
        jobs::{self, JobKind},
        listings,
    },
};

use super::job::{PublishCopy, publish_group};

/// AWS Marketplace's limits on product copy (UpdateInformation and AddDeliveryOptions),
/// and the portal's own where AWS states none.
pub const TITLE_MAX: usize = 72;
pub const SHORT_DESCRIPTION_MAX: usize = 1000;
pub const LONG_DESCRIPTION_MAX: usize = 5000;
pub const HIGHLIGHTS_MAX: usize = 3;
pub const HIGHLIGHT_MAX: usize = 500;
pub const CATEGORIES_MAX: usize = 3;
pub const CATEGORY_MAX: usize = 100;
pub const KEYWORDS_MAX: usize = 15;
pub const KEYWORD_MAX: usize = 50;
pub const SKU_MAX: usize = 100;
pub const SUPPORT_DESCRIPTION_MAX: usize = 2000;
pub const RESOURCES_MAX: usize = 3;
pub const RESOURCE_TEXT_MAX: usize = 100;
pub const USAGE_INSTRUCTIONS_MAX: usize = 4000;
pub const RELEASE_NOTES_MAX: usize = 30_000;
/// The release notes template as typed (its rendering is checked against
/// [`RELEASE_NOTES_MAX`]).
pub const TEXT_MAX: usize = RELEASE_NOTES_MAX;

/// The placeholders a release notes template may use.
pub const PLACEHOLDERS: [&str; 2] = ["{version}", "{notes_url}"];

/// The longest version a release can have (three 32-bit numbers), and the longest notes
/// link: what a template is rendered with at save, so no release can push it over the limit.
const LONGEST_VERSION: &str = "4294967295.4294967295.4294967295";

/// Release notes from a template: `{version}` is the release's version and `{notes_url}`
/// its notes link.
pub fn render_release_notes(template: &str, version: &str, notes_url: &str) -> String {
    template
        .replace("{version}", version)
        .replace("{notes_url}", notes_url)
}

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

/// The first characters of an item, to name it in a message.
fn quoted(item: &str) -> String {
    let head: String = item.chars().take(30).collect();
    if head.chars().count() < item.chars().count() {
        format!("'{head}…'")
    } else {
        format!("'{head}'")
    }
}

/// A list of short items: blanks dropped, between `min` and `max` of them, each at most
/// `item_max` characters. `what` names one item in messages.
fn items(
    values: &[String],
    min: usize,
    max: usize,
    item_max: usize,
    what: &str,
) -> Result<Vec<String>, String> {
    let list: Vec<String> = values
        .iter()
        .map(|x| x.trim())
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect();
    if list.len() < min {
        Err(format!("give at least {min} {what}"))
    } else if list.len() > max {
        Err(format!("at most {max} {what} ({} given)", list.len()))
    } else if let Some(long) = list.iter().find(|x| x.chars().count() > item_max) {
        Err(format!(
            "each is at most {item_max} characters: {} has {}",
            quoted(long),
            long.chars().count()
        ))
    } else {
        Ok(list)
    }
}

fn release_notes_template(value: &str) -> Result<String, String> {
    let template = bounded(value, TEXT_MAX, true)?;
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let token = after.find('}').map_or(after, |close| &after[..=close]);
        if !PLACEHOLDERS.contains(&token) {
            return Err(format!(
                "{} is not a placeholder: use {{version}} and {{notes_url}} only",
                quoted(token)
            ));
        }
        rest = &after[token.len()..];
    }
    let longest = render_release_notes(
        &template,
        LONGEST_VERSION,
        &"x".repeat(crate::services::URL_MAX),
    );
    let length = longest.chars().count();
    if length > RELEASE_NOTES_MAX {
        return Err(format!(
            "the release notes it makes must stay within {RELEASE_NOTES_MAX} characters: with the longest version and notes link they have {length}"
        ));
    }
    Ok(template)
}

fn additional_resources(values: &[AdditionalResource]) -> Result<Vec<AdditionalResource>, String> {
    let list: Vec<&AdditionalResource> = values
        .iter()
        .filter(|r| !r.text.trim().is_empty() || !r.url.trim().is_empty())
        .collect();
    if list.len() > RESOURCES_MAX {
        return Err(format!(
            "at most {RESOURCES_MAX} additional resources ({} given)",
            list.len()
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let n = i + 1;
            let text = bounded(&r.text, RESOURCE_TEXT_MAX, true)
                .map_err(|m| format!("resource {n}'s text {m}"))?;
            let url = crate::services::https_url(&r.url)
                .map_err(|m| format!("resource {n}: {m}"))?
                .ok_or_else(|| format!("resource {n} needs its https:// URL"))?;
            Ok(AdditionalResource { text, url })
        })
        .collect()
}

/// Checks an edit against AWS Marketplace's limits. `logo` is what the logo check found:
/// the pinned version of the logo asset, or why the asset cannot be the logo.
fn parse(input: &CopyInput, logo: Result<Option<i32>, String>) -> AppResult<CopyFields> {
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
    let highlights = v.check(
        "highlights",
        items(
            &input.highlights,
            1,
            HIGHLIGHTS_MAX,
            HIGHLIGHT_MAX,
            "highlights, one per line",
        ),
    );
    let usage = v.check(
        "usage_instructions",
        bounded(&input.usage_instructions, USAGE_INSTRUCTIONS_MAX, true),
    );
    let notes = v.check(
        "release_notes_template",
        release_notes_template(&input.release_notes_template),
    );
    let categories = v.check(
        "categories",
        items(
            &input.categories,
            1,
            CATEGORIES_MAX,
            CATEGORY_MAX,
            "categories, separated by commas",
        ),
    );
    let keywords = v.check(
        "search_keywords",
        items(
            &input.search_keywords,
            0,
            KEYWORDS_MAX,
            KEYWORD_MAX,
            "search keywords, separated by commas",
        ),
    );
    let sku = v.check("sku", bounded(&input.sku, SKU_MAX, false));
    let support = v.check(
        "support_description",
        bounded(&input.support_description, SUPPORT_DESCRIPTION_MAX, false),
    );
    let video = v.check("video_url", crate::services::https_url(&input.video_url));
    let resources = v.check(
        "additional_resources",
        additional_resources(&input.additional_resources),
    );
    let logo_version = v.check("logo_asset_id", logo);
    v.finish(|| {
        Some(CopyFields {
            title: title?,
            short_description: short?,
            long_description: long?,
            highlights: highlights?,
            usage_instructions: usage?,
            release_notes_template: notes?,
            categories: categories?,
            search_keywords: keywords?,
            sku: sku?,
            support_description: support?,
            logo_asset_id: input.logo_asset_id,
            logo_version: logo_version?,
            video_url: video?.unwrap_or_default(),
            additional_resources: resources?,
        })
    })
}

/// The version of the listing's logo asset `asset_id` a revision pins: its current one. The
/// asset must be a logo, linked to this listing, whose current version is a file.
async fn logo_version(
    db: &impl ConnectionTrait,
    listing_id: i32,
    asset_id: Option<i32>,
) -> AppResult<Result<Option<i32>, String>> {
    let Some(asset_id) = asset_id else {
        return Ok(Ok(None));
    };
    let Some(a) = asset::Entity::find_by_id(asset_id).one(db).await? else {
        return Ok(Err(format!("there is no asset {asset_id}")));
    };
    if a.kind != AssetKind::Logo {
        return Ok(Err(format!(
            "'{}' is a {}, not a logo",
            a.title,
            a.kind.label().to_lowercase()
        )));
    }
    let linked = asset_link::Entity::find()
        .filter(asset_link::Column::AssetId.eq(asset_id))
        .filter(asset_link::Column::ListingId.eq(listing_id))
        .one(db)
        .await?
        .is_some();
    if !linked {
        return Ok(Err(format!(
            "the logo '{}' is not linked to this listing: link it to the listing first",
            a.title
        )));
    }
    let current = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset_id))
        .order_by_desc(asset_version::Column::Version)
        .one(db)
        .await?;
    match current {
        Some(v) if !v.storage_key.is_empty() => Ok(Ok(Some(v.version))),
        _ => Ok(Err(format!(
            "the logo '{}' has no file: upload its image first",
            a.title
        ))),
    }
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

/// The newest approved revision of a listing (what a version publish uses while no
/// revision is live: see [`publishing_revision`]).
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

/// The copy a version publish takes its usage instructions and release notes from: the
/// revision live on the marketplace, else the newest approved one.
pub async fn publishing_revision(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Option<CopyRevision>> {
    let l = listings::find_model(db, listing_id).await?;
    if let Some(live) = l.live_copy_revision_id
        && let Some(r) = copy_revision::Entity::find_by_id(live)
            .filter(copy_revision::Column::ListingId.eq(listing_id))
            .one(db)
            .await?
    {
        return Ok(Some(to_dto(db, r).await?));
    }
    approved_revision(db, listing_id).await
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
    let live = live_record(&l, &rows)?;
    let revisions = rows.iter().map(summary_of).collect();
    let head = match rows.into_iter().next() {
        Some(r) => Some(to_dto(db, r).await?),
        None => None,
    };
    let publish_job = job::Entity::find()
        .filter(job::Column::Kind.eq(PublishCopy::NAME))
        .filter(job::Column::GroupKey.eq(publish_group(listing_id)))
        .order_by_desc(job::Column::Id)
        .one(db)
        .await?
        .map(jobs::to_dto)
        .transpose()?;
    Ok(ListingCopy {
        listing_id,
        listing_title: l.title,
        product_name: p.name,
        partner_slug: partner.slug,
        head,
        revisions,
        approved_revision,
        live,
        publish_job,
    })
}

/// What the portal last published of a listing's copy, as the marketplace then showed it.
fn live_record(
    l: &listing::Model,
    rows: &[copy_revision::Model],
) -> AppResult<Option<LiveCopyRecord>> {
    let (Some(text), Some(published_at)) = (&l.live_copy, l.live_copy_at) else {
        return Ok(None);
    };
    let copy: LiveCopy =
        serde_json::from_str(text).map_err(|e| AppError::internal("reading the live copy", e))?;
    Ok(Some(LiveCopyRecord {
        revision_id: l.live_copy_revision_id,
        revision_number: l
            .live_copy_revision_id
            .and_then(|id| rows.iter().find(|r| r.id == id))
            .map(|r| r.number),
        published_at,
        copy,
    }))
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

/// A revision's row, every field of the copy in its column.
fn new_revision(
    listing_id: i32,
    number: i32,
    fields: &CopyFields,
    author: &CurrentUser,
    now: DateTime<Utc>,
    state: CopyState,
) -> AppResult<copy_revision::ActiveModel> {
    Ok(copy_revision::ActiveModel {
        listing_id: Set(listing_id),
        number: Set(number),
        title: Set(fields.title.clone()),
        short_description: Set(fields.short_description.clone()),
        long_description: Set(fields.long_description.clone()),
        highlights: Set(json("highlights", &fields.highlights)?),
        usage_instructions: Set(fields.usage_instructions.clone()),
        release_notes_template: Set(fields.release_notes_template.clone()),
        categories: Set(json("categories", &fields.categories)?),
        search_keywords: Set(json("search keywords", &fields.search_keywords)?),
        sku: Set(fields.sku.clone()),
        support_description: Set(fields.support_description.clone()),
        logo_asset_id: Set(fields.logo_asset_id),
        logo_version: Set(fields.logo_version),
        video_url: Set(fields.video_url.clone()),
        additional_resources: Set(json("additional resources", &fields.additional_resources)?),
        author_id: Set(author.id),
        author: Set(author.username.clone()),
        created_at: Set(now),
        state: Set(state),
        ..Default::default()
    })
}

/// One of a revision's list columns, as the JSON text it is stored as.
fn json<T: serde::Serialize>(what: &str, value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::internal(&format!("writing {what}"), e))
}

/// Records the first revision of a listing's copy as approved, with a review per stage by
/// the reviewer given for it: copy approved before the portal ran its approvals (the
/// seeded catalogue's). Checked like any save; refused when the listing has copy already.
pub async fn record_approved(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    listing_id: i32,
    input: &CopyInput,
    author: &CurrentUser,
    reviewers: &[(Role, CurrentUser)],
    comment: &str,
) -> AppResult<CopyRevision> {
    author.require(Permission::EditCopy)?;
    for (_, reviewer) in reviewers {
        reviewer.require(Permission::ReviewCopy)?;
    }
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    if let Some(current) = head(&txn, listing_id).await? {
        return Err(AppError::conflict(
            "base_revision",
            format!(
                "'{}' has copy already (revision {})",
                l.title, current.number
            ),
        ));
    }
    let logo = logo_version(&txn, listing_id, input.logo_asset_id).await?;
    let fields = parse(input, logo)?;
    let model = new_revision(listing_id, 1, &fields, author, now, CopyState::Approved)?
        .insert(&txn)
        .await?;
    for (stage, reviewer) in reviewers {
        copy_review::ActiveModel {
            revision_id: Set(model.id),
            stage: Set(*stage),
            decision: Set("approved".to_owned()),
            user_id: Set(reviewer.id),
            username: Set(reviewer.username.clone()),
            comment: Set(comment.to_owned()),
            at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let names: Vec<String> = reviewers
        .iter()
        .map(|(stage, r)| format!("{} ({})", r.username, stage.label()))
        .collect();
    audit::record(
        &txn,
        Some(author),
        now,
        Change {
            action: "record_approved_copy",
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: format!(
                "recorded revision 1 of the copy of '{}' as approved by {}",
                l.title,
                names.join(" and ")
            ),
            before: None,
            after: snapshot(&fields),
        },
    )
    .await?;
    txn.commit().await?;
    to_dto(db, model).await
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
    let txn = begin_write(db).await?;
    let l = listings::find_model(&txn, listing_id).await?;
    let logo = logo_version(&txn, listing_id, input.logo_asset_id).await?;
    let fields = parse(input, logo)?;
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
    let model = new_revision(listing_id, number, &fields, actor, now, CopyState::Draft)?
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

    fn valid() -> CopyInput {
        CopyInput {
            title: "GitLab Premium".into(),
            short_description: "The DevSecOps platform.".into(),
            long_description: "# GitLab".into(),
            highlights: vec!["One application".into()],
            usage_instructions: "See https://docs.gitlab.com/install/aws/".into(),
            release_notes_template: "GitLab {version}: {notes_url}".into(),
            categories: vec!["DevOps".into()],
            ..Default::default()
        }
    }

    #[test]
    fn copy_is_checked_against_the_marketplace_limits() {
        let err = parse(
            &CopyInput {
                title: "x".repeat(73),
                short_description: String::new(),
                long_description: "ok".into(),
                highlights: ["a", "b", "c", "d"].map(String::from).to_vec(),
                categories: ["DevOps", " Source control", ""].map(String::from).to_vec(),
                ..Default::default()
            },
            Ok(None),
        )
        .expect_err("invalid");
        assert!(err.field("title").is_some_and(|m| m.contains("72")));
        assert_eq!(err.field("short_description"), Some("is required"));
        assert!(
            err.field("highlights")
                .is_some_and(|m| m.contains("at most 3"))
        );
        assert!(err.field("categories").is_none());
        assert_eq!(err.field("usage_instructions"), Some("is required"));
        assert_eq!(err.field("release_notes_template"), Some("is required"));
    }

    #[test]
    fn every_field_has_its_own_limit() {
        let fields = parse(&valid(), Ok(None)).expect("valid copy");
        assert!(fields.search_keywords.is_empty(), "keywords are optional");
        let ok = |input: CopyInput| parse(&input, Ok(Some(3)));
        let at = |input: CopyInput, field: &str| {
            let err = parse(&input, Ok(None)).expect_err(field);
            err.field(field)
                .unwrap_or_else(|| panic!("{field}: {err:?}"))
                .to_owned()
        };
        // A highlight may have 500 characters (AWS's limit), not 501.
        ok(CopyInput {
            highlights: vec!["h".repeat(500)],
            ..valid()
        })
        .expect("500 characters");
        assert!(
            at(
                CopyInput {
                    highlights: vec!["h".repeat(501)],
                    ..valid()
                },
                "highlights"
            )
            .contains("500")
        );
        assert!(
            at(
                CopyInput {
                    highlights: vec![" ".into()],
                    ..valid()
                },
                "highlights"
            )
            .contains("at least 1")
        );
        assert!(
            at(
                CopyInput {
                    categories: vec![],
                    ..valid()
                },
                "categories"
            )
            .contains("at least 1")
        );
        let sixteen: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
        assert!(
            at(
                CopyInput {
                    search_keywords: sixteen,
                    ..valid()
                },
                "search_keywords"
            )
            .contains("at most 15")
        );
        assert!(
            at(
                CopyInput {
                    search_keywords: vec!["k".repeat(51)],
                    ..valid()
                },
                "search_keywords"
            )
            .contains("50")
        );
        assert!(
            at(
                CopyInput {
                    sku: "s".repeat(101),
                    ..valid()
                },
                "sku"
            )
            .contains("100")
        );
        assert!(
            at(
                CopyInput {
                    support_description: "s".repeat(2001),
                    ..valid()
                },
                "support_description"
            )
            .contains("2000")
        );
        assert!(
            at(
                CopyInput {
                    usage_instructions: "u".repeat(4001),
                    ..valid()
                },
                "usage_instructions"
            )
            .contains("4000")
        );
        assert!(
            at(
                CopyInput {
                    video_url: "http://example.com/v".into(),
                    ..valid()
                },
                "video_url"
            )
            .contains("https")
        );
        let long_url = format!("https://example.com/{}", "v".repeat(2048));
        assert!(
            at(
                CopyInput {
                    video_url: long_url,
                    ..valid()
                },
                "video_url"
            )
            .contains("2048")
        );
        let resource = |text: &str, url: &str| AdditionalResource {
            text: text.into(),
            url: url.into(),
        };
        let four = vec![resource("a", "https://a.example"); 4];
        assert!(
            at(
                CopyInput {
                    additional_resources: four,
                    ..valid()
                },
                "additional_resources"
            )
            .contains("at most 3")
        );
        assert!(
            at(
                CopyInput {
                    additional_resources: vec![resource(&"t".repeat(101), "https://a.example")],
                    ..valid()
                },
                "additional_resources"
            )
            .contains("100")
        );
        assert!(
            at(
                CopyInput {
                    additional_resources: vec![resource("Docs", "ftp://a.example")],
                    ..valid()
                },
                "additional_resources"
            )
            .contains("https")
        );
        assert!(
            at(
                CopyInput {
                    additional_resources: vec![resource("", "https://a.example")],
                    ..valid()
                },
                "additional_resources"
            )
            .contains("text is required")
        );
        let err = parse(&valid(), Err("not linked".into())).expect_err("logo");
        assert_eq!(err.field("logo_asset_id"), Some("not linked"));
        let fields = ok(CopyInput {
            logo_asset_id: Some(9),
            ..valid()
        })
        .expect("a logo");
        assert_eq!(
            (fields.logo_asset_id, fields.logo_version),
            (Some(9), Some(3))
        );
    }

    #[test]
    fn release_notes_templates_know_two_placeholders() {
        let template = |t: &str| CopyInput {
            release_notes_template: t.into(),
            ..valid()
        };
        parse(&template("GitLab {version}: {notes_url}"), Ok(None)).expect("known ones");
        parse(&template("no placeholders at all"), Ok(None)).expect("none at all");
        for bad in ["GitLab {release}", "GitLab {version", "{ version }", "{}"] {
            let err = parse(&template(bad), Ok(None)).expect_err(bad);
            assert!(
                err.field("release_notes_template")
                    .is_some_and(|m| m.contains("not a placeholder")),
                "{bad}: {err:?}"
            );
        }
        // Within 30 000 characters as typed, but over them once a long notes link is in.
        let err = parse(
            &template(&format!("{} {{notes_url}}", "n".repeat(29_000))),
            Ok(None),
        )
        .expect_err("too long once rendered");
        assert!(
            err.field("release_notes_template")
                .is_some_and(|m| m.contains("30000")),
            "{err:?}"
        );
        assert_eq!(
            render_release_notes("GitLab {version}: {notes_url}", "17.5.1", "https://n"),
            "GitLab 17.5.1: https://n"
        );
    }
}
