//! Server-only half of the app crate: the state every request and job shares, the
//! entities, and the services that read and write the catalogue. Services take
//! `&impl ConnectionTrait` so callers decide whether they run inside a transaction.
//!
//! Dependencies run one way, from the top of this list to the bottom; a module uses only
//! modules below it, never one above or beside it on its own line:
//!
//! 1. `rebuilds` (the daily base-image check and the rebuild proposals, whose approval
//!    starts a train), then `trains` (releases coming in, and the builds and publishes they
//!    set moving), the second below the first;
//! 2. `seed`, `builds` (start the work that spans the process);
//! 3. `process` (workflows, tasks, launch, maintenance clock, holidays, release intake);
//! 4. `account` (the account as the cloud sync reads it: images, quotas and marketplace
//!    versions, the drift from the catalogue and what resolves it, early warnings);
//! 5. `limits` (the 100-version limit);
//! 6. `publish`;
//! 7. `copy` (its logo's public URL comes from `assets`);
//! 8. `retention`, `assets`, `catalogue` (the dashboard and search);
//! 9. `notify`, `proposals`, `tokens`, `listings`, `partners`, `images`;
//! 10. `jobs` (the queue, which knows no kind of job), `users`, `products`, `releases`;
//! 11. this module (the shared state and helpers, and `queries`, which counts a request's
//!     statements), then `outbound` (where webhooks may be
//!     sent), `sso`, `secrets`, `audit` and `entities`, each below the one before.
//!
//! A job kind (`jobs::JobKind`) is defined in the module that queues it: `builds::BuildImage`,
//! `publish::PublishVersion`, `copy::PublishCopy`, `limits::RestrictVersions`,
//! `retention::RetireImages`, `notify::DeliverWebhook`, `account::CloudSync`; `server::jobs`
//! runs each in the file of the same name.
//!
//! Authorisation: see `crate::error` for the error policy and the rule it follows.

pub mod account;
pub mod assets;
pub mod audit;
pub mod builds;
pub mod catalogue;
pub mod copy;
pub mod entities;
pub mod images;
pub mod jobs;
pub mod limits;
pub mod listings;
pub mod notify;
pub mod outbound;
pub mod partners;
pub mod process;
pub mod products;
pub(crate) mod proposals;
pub mod publish;
pub mod queries;
pub mod read_cache;
pub mod rebuilds;
pub mod releases;
pub mod retention;
pub mod secrets;
pub mod seed;
pub mod sso;
pub mod tokens;
pub mod trains;
pub mod users;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::ObjectStore;
use sea_orm::DatabaseConnection;

use crate::error::{AppError, AppResult};

/// Tells the time. Injected so tests never depend on time passing.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what a test tells it to.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Which cloud the portal's jobs talk to; shown in the UI so nobody mistakes one for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudMode {
    /// The local AWS emulator: no account, nothing real is touched.
    Simulated,
    /// Real AWS through the normal credential chain.
    Aws,
}

/// Everything a request, server function or job needs, built once at start-up and shared:
/// a clone is one reference count, which matters because every request, every middleware
/// layer and every server function takes one. Its parts are read through `Deref`
/// (`state.db`); [`AppState::with`] makes a state with some of them changed.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppStateParts>);

/// What an [`AppState`] is made of.
#[derive(Clone, Debug)]
pub struct AppStateParts {
    /// The portal's database (SQLite by default, PostgreSQL in production).
    pub db: DatabaseConnection,
    /// Where marketing asset bytes live (a folder under the data dir by default).
    pub store: Arc<dyn ObjectStore>,
    /// The time, injectable for tests.
    pub clock: Arc<dyn Clock>,
    /// Which cloud jobs run against.
    pub cloud: CloudMode,
    /// Whether the development sign-in (pick a seeded user) is on.
    pub dev_auth: bool,
    /// Whether the portal is reached over https, so cookies must be `Secure`.
    pub https: bool,
    /// The key secrets (license files) are encrypted with.
    pub secret_key: secrets::SecretKey,
    /// Where people reach the portal, for links sent out of it (webhooks).
    pub public_url: Option<String>,
    /// GitLab sign-in, when `PORTAL_AUTH=gitlab`.
    pub gitlab: Option<Arc<sso::GitLabSso>>,
    /// SHA-256 of the token GitLab's release webhook presents; `None` turns it off.
    pub gitlab_token_sha256: Option<[u8; 32]>,
    /// The AWS accounts products' base images may come from (Canonical's by default).
    pub base_image_owners: products::BaseImageOwners,
    /// What outbound webhooks may reach (https and public addresses only, by default).
    pub webhooks: outbound::WebhookPolicy,
    /// How often the account is synced by itself (zero: only at start and on demand), as
    /// the account page says.
    pub cloud_sync_every: chrono::Duration,
    /// Where an asset's public URL points (the logo AWS Marketplace fetches).
    pub asset_urls: assets::AssetUrls,
    /// Reads a listing's copy as the marketplace shows it; connected once the cloud is.
    pub marketplace: Late<Arc<dyn MarketplaceReader>>,
    /// The hot read models kept between page loads (see [`read_cache`]).
    pub reads: read_cache::ReadCache,
}

/// Something the server connects after the state is made (the cloud, the portal's own
/// bound address); every clone of the state sees it once it is set.
#[derive(Clone)]
pub struct Late<T>(Arc<std::sync::OnceLock<T>>);

impl<T> Default for Late<T> {
    fn default() -> Self {
        Late(Arc::new(std::sync::OnceLock::new()))
    }
}

impl<T> std::fmt::Debug for Late<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Late(set)"
        } else {
            "Late(unset)"
        })
    }
}

impl<T> Late<T> {
    /// Sets it once; a second value is ignored.
    pub fn set(&self, value: T) {
        let _ = self.0.set(value);
    }

    pub fn get(&self) -> Option<&T> {
        self.0.get()
    }
}

/// Reads what the marketplace shows of a listing now (DescribeEntity).
pub trait MarketplaceReader: Send + Sync {
    /// The listing's product, by its entity id or else found by name: the entity id and
    /// the copy as the marketplace shows it.
    fn live_copy<'a>(
        &'a self,
        entity_id: Option<&'a str>,
        entity_name: &'a str,
    ) -> futures::future::BoxFuture<'a, AppResult<(String, crate::dto::LiveCopy)>>;
}

impl From<AppStateParts> for AppState {
    fn from(parts: AppStateParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateParts;

    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

impl AppState {
    /// A state of its own with `change` made to a copy of these parts: a request's
    /// counted database connection, or a test's other policy. This one is unchanged.
    #[must_use]
    pub fn with(&self, change: impl FnOnce(&mut AppStateParts)) -> AppState {
        let mut parts = AppStateParts::clone(&self.0);
        change(&mut parts);
        parts.into()
    }

    pub fn secure_cookies(&self) -> bool {
        self.https
    }
}

/// Parses a value stored by this portal; a failure means the row was written by
/// something else and is reported as internal.
pub(crate) fn stored<T: std::str::FromStr<Err = String>>(value: &str) -> AppResult<T> {
    value
        .parse()
        .map_err(|e: String| AppError::internal("unreadable stored value", e))
}

/// The longest URL the portal sends to the marketplace or stores as a link.
pub const URL_MAX: usize = 2048;

/// Reads one cookie from a request's headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// An optional https URL with a host, at most [`URL_MAX`] characters; empty means none.
pub fn https_url(value: &str) -> Result<Option<String>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > URL_MAX {
        return Err(format!("a URL is at most {URL_MAX} characters"));
    }
    match url::Url::parse(v) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(Some(v.to_owned()))
        }
        _ => Err(format!("'{v}' is not an https:// URL")),
    }
}

/// What a database result means to a service, beyond the plain internal error of `?`.
pub(crate) trait DbResultExt<T> {
    /// A unique-constraint violation is a conflict on `field`: what the person tried to add
    /// exists already. Any other error is the plain internal one.
    fn on_unique(self, field: &str, message: impl Into<String>) -> AppResult<T>;
}

impl<T> DbResultExt<T> for Result<T, sea_orm::DbErr> {
    #[track_caller]
    fn on_unique(self, field: &str, message: impl Into<String>) -> AppResult<T> {
        match self {
            Ok(value) => Ok(value),
            Err(err)
                if matches!(
                    err.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                Err(AppError::conflict(field, message))
            }
            Err(err) => Err(AppError::from(err)),
        }
    }
}

/// Case-insensitive LIKE that behaves the same on SQLite and PostgreSQL, with the user's
/// `%`, `_` and `\\` taken literally: a substring match, or a prefix match.
pub(crate) fn ci_like(
    col: impl sea_orm::ColumnTrait,
    needle_lower: &str,
    anywhere: bool,
) -> sea_orm::sea_query::Expr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let escaped = needle_lower
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = if anywhere {
        format!("%{escaped}%")
    } else {
        format!("{escaped}%")
    };
    Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern).escape('\\'))
}

/// Takes the turn of a periodic task named `name` (its schedule mark): true for the one
/// process that moves the mark on to `now`, when the task last ran at least `period` ago
/// (or never), in any process; false for everyone else.
pub async fn claim_turn(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
    period: chrono::Duration,
) -> AppResult<bool> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    use self::entities::schedule_mark;

    if take_mark(db, name, now).await? {
        return Ok(true);
    }
    let moved = schedule_mark::Entity::update_many()
        .col_expr(schedule_mark::Column::LastRunAt, Expr::value(now))
        .filter(schedule_mark::Column::Name.eq(name))
        .filter(schedule_mark::Column::LastRunAt.lte(now - period))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

/// Sets the schedule mark `name` to `now` if nobody has set it: true for the one caller
/// that set it, false when it was there already (from any process).
pub(crate) async fn take_mark(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    use sea_orm::Set;

    use self::entities::schedule_mark;

    insert_new(
        db,
        schedule_mark::ActiveModel {
            name: Set(name.to_owned()),
            last_run_at: Set(now),
        },
        [schedule_mark::Column::Name],
    )
    .await
}

/// Inserts a row unless one with the same values in `unique` (a unique key) exists: true
/// when it was inserted, false when another writer (another sync, another process) got
/// there first. Callers read the row back either way.
pub(crate) async fn insert_new<A>(
    db: &impl sea_orm::ConnectionTrait,
    row: A,
    unique: impl IntoIterator<Item = <A::Entity as sea_orm::EntityTrait>::Column>,
) -> AppResult<bool>
where
    A: sea_orm::ActiveModelTrait,
{
    use sea_orm::{EntityTrait, sea_query::OnConflict};

    let inserted = A::Entity::insert(row)
        .on_conflict(OnConflict::columns(unique).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// The rows whose `column` is one of `ids`, each made into a map entry by `entry`: how a
/// list's rows find the names of what they refer to, one query per table.
pub(crate) async fn lookup<C, K, V>(
    db: &impl sea_orm::ConnectionTrait,
    column: C,
    ids: impl IntoIterator<Item = i32>,
    entry: impl FnMut(<C::EntityName as sea_orm::EntityTrait>::Model) -> (K, V),
) -> AppResult<std::collections::HashMap<K, V>>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait,
    K: Eq + std::hash::Hash,
{
    use sea_orm::{EntityTrait, QueryFilter};

    Ok(<C::EntityName as EntityTrait>::find()
        .filter(column.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(entry)
        .collect())
}

/// How many rows of `select` have each of `ids` in `key`: one grouped count for a whole
/// list (an id with no rows is absent).
pub(crate) async fn count_by<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    select: sea_orm::Select<E>,
    key: E::Column,
    ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, u64>> {
    use sea_orm::{
        ColumnTrait, QueryFilter, QuerySelect,
        sea_query::{Expr, ExprTrait},
    };
    let rows: Vec<(i32, i64)> = select
        .select_only()
        .column(key)
        .column_as(Expr::col(key).count(), "n")
        .filter(key.is_in(ids))
        .group_by(key)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or_default()))
        .collect())
}

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with "database
/// is locked" when another writer got in between, which no busy timeout can wait out.
pub(crate) async fn begin_write<C: sea_orm::TransactionTrait>(db: &C) -> AppResult<C::Transaction> {
    let options = sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(db.begin_with_options(options).await?)
}
