//! GitLab releases: the version, when it shipped, and why. Which one is the latest stable
//! release is derived from the versions, never typed in.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::{
    DbResultExt,
    audit::{self, Change, snapshot},
    entities::{image_version, release},
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
};

/// Newest first: by number, a release after its pre-releases.
fn newest_first<Q: QueryOrder>(q: Q) -> Q {
    q.order_by_desc(release::Column::Major)
        .order_by_desc(release::Column::Minor)
        .order_by_desc(release::Column::Patch)
        .order_by_desc(Expr::cust("CASE WHEN pre IS NULL THEN 1 ELSE 0 END"))
        .order_by_desc(release::Column::Id)
}

/// Where a release's notes are: the link its release event or the person recording it gave,
/// else GitLab's release page of the tag.
pub fn notes_link(r: &release::Model) -> String {
    match r.notes_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => url.to_owned(),
        _ => format!(
            "https://gitlab.com/gitlab-org/gitlab/-/releases/v{}-ee",
            r.version
        ),
    }
}

/// The newest release without a pre-release part.
pub async fn latest_stable(db: &impl ConnectionTrait) -> AppResult<Option<release::Model>> {
    Ok(
        newest_first(release::Entity::find().filter(release::Column::Pre.is_null()))
            .one(db)
            .await?,
    )
}

/// How many image versions each of these releases has: one grouped count.
async fn image_counts(
    db: &impl ConnectionTrait,
    release_ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, u64>> {
    super::count_by(
        db,
        image_version::Entity::find(),
        image_version::Column::ReleaseId,
        release_ids,
    )
    .await
}

pub(crate) async fn to_dto(
    db: &impl ConnectionTrait,
    r: release::Model,
    latest_id: Option<i32>,
) -> AppResult<Release> {
    let mut out = to_dtos(db, vec![r], latest_id).await?;
    out.pop()
        .ok_or_else(|| AppError::internal("release list", "one release went in, none came out"))
}

/// These releases as lists show them, with their image counts: one query more for the list.
pub(crate) async fn to_dtos(
    db: &impl ConnectionTrait,
    rows: Vec<release::Model>,
    latest_id: Option<i32>,
) -> AppResult<Vec<Release>> {
    let counts = image_counts(db, rows.iter().map(|r| r.id)).await?;
    Ok(rows
        .into_iter()
        .map(|r| Release {
            id: r.id,
            latest_stable: Some(r.id) == latest_id,
            image_count: counts.get(&r.id).copied().unwrap_or(0),
            kind: r.kind,
            version: r.version,
            released_on: r.released_on,
            notes_url: r.notes_url,
        })
        .collect())
}

pub async fn list(db: &impl ConnectionTrait, page: PageRequest) -> AppResult<Page<Release>> {
    let Paging { index, per_page } = page.checked()?;
    let latest = latest_stable(db).await?.map(|r| r.id);
    let paginator = newest_first(release::Entity::find()).paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: to_dtos(db, rows, latest).await?,
        page: index + 1,
        per_page,
        total,
    })
}

/// A release by version, or the newest stable one for `latest`.
pub(crate) async fn find_model(
    db: &impl ConnectionTrait,
    version: &str,
) -> AppResult<release::Model> {
    if version.trim() == "latest" {
        return latest_stable(db)
            .await?
            .ok_or_else(|| AppError::not_found("a stable release"));
    }
    let parsed = Version::parse(version).map_err(|m| AppError {
        fields: vec![crate::error::FieldError {
            field: "release".into(),
            message: m.clone(),
        }],
        ..AppError::new(crate::error::ErrorCode::ValidationFailed, m)
    })?;
    release::Entity::find()
        .filter(release::Column::Version.eq(parsed.to_string()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("release {parsed}")))
}

pub async fn get(db: &impl ConnectionTrait, version: &str) -> AppResult<Release> {
    let r = find_model(db, version).await?;
    let latest = latest_stable(db).await?.map(|r| r.id);
    to_dto(db, r, latest).await
}

/// A release as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedRelease {
    pub version: Version,
    pub released_on: NaiveDate,
    pub kind: ReleaseKind,
    /// Where its notes are, when someone said.
    pub notes_url: Option<String>,
}

/// Checks a release as typed in on `today`: its date must be one the portal accepts
/// (see [`crate::calendar::check_day`]).
pub(crate) fn parse(input: &ReleaseInput, today: NaiveDate) -> AppResult<ParsedRelease> {
    let mut v = Validator::new();
    let version = v.check("version", Version::parse(&input.version));
    let date = v
        .check(
            "released_on",
            crate::calendar::parse_day(&input.released_on),
        )
        .and_then(|day| v.within("released_on", crate::calendar::check_day(day, today)));
    let kind = v.check("kind", input.kind.parse::<ReleaseKind>());
    let notes_url = v.check("notes_url", super::https_url(&input.notes_url));
    v.finish(|| {
        Some(ParsedRelease {
            version: version?,
            released_on: date?,
            kind: kind?,
            notes_url: notes_url?,
        })
    })
}

/// Records a checked release, in the caller's transaction. Creating a release also opens
/// its maintenance runs: see `process::create_release`.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    parsed: &ParsedRelease,
) -> AppResult<release::Model> {
    let ParsedRelease {
        version,
        released_on,
        kind,
        notes_url,
    } = parsed;
    let (released_on, kind) = (*released_on, *kind);
    let model = release::ActiveModel {
        notes_url: Set(notes_url.clone()),
        version: Set(version.to_string()),
        major: Set(i32::try_from(version.major)
            .map_err(|_| AppError::bad_request("major version too large"))?),
        minor: Set(i32::try_from(version.minor)
            .map_err(|_| AppError::bad_request("minor version too large"))?),
        patch: Set(i32::try_from(version.patch)
            .map_err(|_| AppError::bad_request("patch version too large"))?),
        pre: Set(version.pre.clone()),
        released_on: Set(released_on),
        kind: Set(kind),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .on_unique(
        "version",
        format!("release {version} is already in the catalogue"),
    )?;
    audit::record(
        db,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "release",
            object_id: model.version.clone(),
            summary: format!(
                "recorded {} release {}",
                kind.label().to_lowercase(),
                model.version
            ),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    Ok(model)
}

/// Changes a release's date or kind; the version itself is its identity.
pub async fn update(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    version: &str,
    input: &ReleaseInput,
) -> AppResult<Release> {
    actor.require(Permission::ManageReleases)?;
    let parsed = parse(input, now.date_naive())?;
    let txn = super::begin_write(db).await?;
    let before = find_model(&txn, version).await?;
    if parsed.version.to_string() != before.version {
        return Err(AppError::conflict(
            "version",
            "a release's version cannot change; record a new release instead",
        ));
    }
    let mut active: release::ActiveModel = before.clone().into();
    active.released_on = Set(parsed.released_on);
    active.kind = Set(parsed.kind);
    // A notes link given replaces the one recorded; none given keeps it.
    if parsed.notes_url.is_some() {
        active.notes_url = Set(parsed.notes_url);
    }
    let after = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "update",
            object_type: "release",
            object_id: after.version.clone(),
            summary: format!("updated release {}", after.version),
            before: snapshot(&before),
            after: snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, &after.version).await
}

/// The newest `n` releases, newest first (for matrices and pickers).
pub async fn newest(db: &impl ConnectionTrait, n: u64) -> AppResult<Vec<release::Model>> {
    Ok(newest_first(release::Entity::find())
        .limit(n)
        .all(db)
        .await?)
}
