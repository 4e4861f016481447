//! People, their roles, and their sessions. A session cookie carries a random token; the
//! database keeps only its SHA-256, so a leaked table grants nobody a session.
//!
//! Two kinds of account: the portal's own (its system user, the development users), made
//! by [`upsert`], and the accounts of people who sign in with GitLab, made by
//! [`record_gitlab`]. A GitLab account is found by GitLab's user id (the `sub` claim); its
//! username is only shown, and follows the person's GitLab username. When someone else
//! takes a username on GitLab that an account here still shows, that account keeps its
//! history under `<username>~<its id>` (`~` is never part of a GitLab username), and the
//! newcomer gets an account of their own. A GitLab account may act (its sessions and API
//! tokens work) only while GitLab's last confirmation of its state and groups holds
//! ([`may_act`]); the server asks GitLab again before it runs out. An account from before
//! GitLab ids were recorded is linked to the first GitLab person who signs in with its
//! username and email, and acts only from then on.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, Select, Set, TransactionSession,
    TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use super::{
    audit::{self, Change},
    entities::{session, user, user_role},
    read_cache::ReadCache,
    secrets::{SecretKey, SecretValue},
};
use crate::{
    domain::{CurrentUser, Role},
    dto::DevUser,
    error::{AppError, AppResult},
};

/// How long a session lives without being used.
pub const SESSION_IDLE: Duration = Duration::hours(12);
/// How long a session lives at most.
pub const SESSION_ABSOLUTE: Duration = Duration::days(7);

/// The username of the portal's own account, the author of what its jobs and seed write.
pub const SYSTEM_USERNAME: &str = "portal";
/// Usernames nobody signs in with: the portal's own account, and the name the audit log
/// gives changes no person made.
pub const RESERVED_USERNAMES: &[&str] = &[SYSTEM_USERNAME, "system"];

/// Whether `username` is reserved for the portal (in any letter case).
pub fn is_reserved(username: &str) -> bool {
    RESERVED_USERNAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(username.trim()))
}

/// Whether an account may act now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    /// Blocked on the portal (or gone).
    Blocked,
    /// A GitLab account GitLab has not confirmed lately (blocked there, left the groups,
    /// revoked the portal's access, or not checked in time), or an account from before
    /// GitLab ids were recorded: it acts again once its owner signs in with GitLab.
    Unconfirmed,
}

/// Whether this account may act at `now`.
pub fn may_act(u: &user::Model, now: DateTime<Utc>) -> Standing {
    standing_of(u.blocked, u.local_account, u.gitlab_valid_until, now)
}

fn standing_of(
    blocked: bool,
    local_account: bool,
    gitlab_valid_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Standing {
    if blocked {
        Standing::Blocked
    } else if local_account || gitlab_valid_until.is_some_and(|until| until > now) {
        Standing::Active
    } else {
        Standing::Unconfirmed
    }
}

/// A person as one row of a join shows them, with one of their roles: someone with three
/// roles is three rows, someone with none one row without a role. Read by [`with_person`].
#[derive(Debug, Clone, FromQueryResult)]
pub(crate) struct PersonRow {
    person_id: i32,
    username: String,
    name: String,
    blocked: bool,
    local_account: bool,
    gitlab_valid_until: Option<DateTime<Utc>>,
    role: Option<Role>,
}

impl PersonRow {
    /// The earlier of `limit` and the moment this person can no longer act without GitLab
    /// confirming them again (a local account needs no confirmation).
    pub(crate) fn acts_until(&self, limit: DateTime<Utc>) -> DateTime<Utc> {
        match self.gitlab_valid_until {
            Some(confirmed) if !self.local_account => confirmed.min(limit),
            _ => limit,
        }
    }
}

/// Adds to `select` the person its `user_id` column names and every role of theirs, in
/// the same statement: what a request needs to know who is asking, read with one query.
pub(crate) fn with_person<E: EntityTrait>(select: Select<E>, user_id: E::Column) -> Select<E> {
    let person: RelationDef = E::belongs_to(user::Entity)
        .from(user_id)
        .to(user::Column::Id)
        .into();
    let roles: RelationDef = user_role::Entity::belongs_to(user::Entity)
        .from(user_role::Column::UserId)
        .to(user::Column::Id)
        .into();
    select
        .join(JoinType::InnerJoin, person)
        .join(JoinType::LeftJoin, roles.rev())
        .column_as(user::Column::Id, "person_id")
        .column(user::Column::Username)
        .column(user::Column::Name)
        .column(user::Column::Blocked)
        .column(user::Column::LocalAccount)
        .column(user::Column::GitlabValidUntil)
        .column(user_role::Column::Role)
}

/// The person the rows of [`with_person`] show, if they may act at `now`.
pub(crate) fn person_from_rows<'a>(
    mut rows: impl Iterator<Item = &'a PersonRow>,
    now: DateTime<Utc>,
) -> Result<CurrentUser, Standing> {
    let Some(first) = rows.next() else {
        return Err(Standing::Blocked);
    };
    match standing_of(
        first.blocked,
        first.local_account,
        first.gitlab_valid_until,
        now,
    ) {
        Standing::Active => {}
        other => return Err(other),
    }
    let mut roles: Vec<Role> = first.role.into_iter().collect();
    roles.extend(rows.filter_map(|r| r.role));
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        roles.push(Role::Viewer);
    }
    Ok(CurrentUser {
        id: first.person_id,
        username: first.username.clone(),
        name: first.name.clone(),
        roles,
    })
}

async fn roles_of(db: &impl ConnectionTrait, user_id: i32) -> AppResult<Vec<Role>> {
    let rows = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    let mut roles: Vec<Role> = rows.iter().map(|r| r.role).collect();
    roles.sort();
    if roles.is_empty() {
        roles.push(Role::Viewer);
    }
    Ok(roles)
}

async fn current_user(db: &impl ConnectionTrait, u: user::Model) -> AppResult<CurrentUser> {
    Ok(CurrentUser {
        id: u.id,
        roles: roles_of(db, u.id).await?,
        username: u.username,
        name: u.name,
    })
}

/// Replaces a user's roles.
async fn set_roles(db: &impl ConnectionTrait, user_id: i32, roles: &[Role]) -> AppResult<()> {
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    for role in roles {
        user_role::ActiveModel {
            user_id: Set(user_id),
            role: Set(*role),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Creates one of the portal's own accounts (its system user, a development user) or
/// updates its name, email and roles; returns it. A GitLab account's username is not
/// the portal's to give to another account.
pub async fn upsert(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    username: &str,
    name: &str,
    email: &str,
    roles: &[Role],
) -> AppResult<CurrentUser> {
    let txn = super::begin_write(db).await?;
    let existing = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(&txn)
        .await?;
    let model = match existing {
        Some(u) if u.gitlab_id.is_some() => {
            return Err(AppError::conflict(
                "username",
                format!("{username} is the account of someone who signs in with GitLab"),
            ));
        }
        Some(u) => {
            let mut active: user::ActiveModel = u.into();
            active.name = Set(name.to_owned());
            active.email = Set(email.to_owned());
            active.local_account = Set(true);
            active.update(&txn).await?
        }
        None => {
            user::ActiveModel {
                username: Set(username.to_owned()),
                name: Set(name.to_owned()),
                email: Set(email.to_owned()),
                blocked: Set(false),
                created_at: Set(now),
                local_account: Set(true),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    set_roles(&txn, model.id, roles).await?;
    let user = current_user(&txn, model).await?;
    txn.commit().await?;
    Ok(user)
}

/// Who GitLab says someone is, as the portal records it.
#[derive(Debug)]
pub struct GitLabIdentity {
    /// GitLab's user id (the `sub` claim).
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    /// The roles their groups grant.
    pub roles: Vec<Role>,
    /// GitLab's refresh token, to ask again later; `None` when GitLab gave none.
    pub refresh_token: Option<SecretValue>,
    /// Until when this confirmation holds.
    pub valid_until: DateTime<Utc>,
}

/// The name a GitLab account's refresh token is sealed under.
fn refresh_token_name(gitlab_id: &str) -> String {
    format!("gitlab-refresh-token:{gitlab_id}")
}

fn seal_refresh_token(key: &SecretKey, gitlab_id: &str, token: &SecretValue) -> AppResult<String> {
    let (nonce, sealed) = key.seal(&refresh_token_name(gitlab_id), token.expose())?;
    Ok(format!("{nonce}.{sealed}"))
}

fn open_refresh_token(key: &SecretKey, gitlab_id: &str, stored: &str) -> AppResult<SecretValue> {
    let (nonce, sealed) = stored
        .split_once('.')
        .ok_or_else(|| AppError::internal("opening a refresh token", "unreadable stored value"))?;
    key.open(&refresh_token_name(gitlab_id), nonce, sealed)
}

/// Records what GitLab says about someone, at sign-in and at every check since: finds their
/// account by GitLab's user id (or makes one), shows their current username, name and
/// email, grants the roles their groups give, and keeps the refresh token and until when
/// this holds. Refuses, before it writes anything, a reserved username, a username that
/// belongs to one of the portal's own accounts, and an account blocked on the portal.
/// Another account showing the same username (its holder renamed themselves on GitLab and
/// someone took the name) is renamed `<username>~<its id>`.
pub async fn record_gitlab(
    db: &(impl ConnectionTrait + TransactionTrait),
    key: &SecretKey,
    now: DateTime<Utc>,
    who: &GitLabIdentity,
) -> AppResult<CurrentUser> {
    let username = who.username.trim();
    if username.is_empty() || username.contains('~') {
        return Err(AppError::forbidden(format!(
            "GitLab gave the username '{username}', which is not a GitLab username"
        )));
    }
    if is_reserved(username) {
        return Err(AppError::forbidden(format!(
            "The username {username} is reserved for the portal itself, so it cannot sign in here"
        )));
    }
    let txn = super::begin_write(db).await?;
    let mine = user::Entity::find()
        .filter(user::Column::GitlabId.eq(&who.id))
        .one(&txn)
        .await?;
    let holder = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(&txn)
        .await?
        .filter(|h| mine.as_ref().is_none_or(|m| m.id != h.id));
    if let Some(h) = &holder
        && h.local_account
    {
        return Err(AppError::forbidden(format!(
            "The username {username} belongs to an account of the portal itself, so it cannot sign in with GitLab"
        )));
    }
    // An account from before GitLab ids were recorded is this person's when its username
    // and email are theirs (GitLab gives an email to one account only).
    let adopted = match (&mine, &holder) {
        (None, Some(h))
            if h.gitlab_id.is_none()
                && !h.email.trim().is_empty()
                && h.email.trim().eq_ignore_ascii_case(who.email.trim()) =>
        {
            Some(h.clone())
        }
        _ => None,
    };
    let holder = if adopted.is_some() { None } else { holder };
    let mine = mine.or(adopted);
    if let Some(m) = &mine
        && m.blocked
    {
        return Err(AppError::forbidden(format!(
            "{username} is blocked on this portal and cannot sign in"
        )));
    }
    if let Some(h) = holder {
        let renamed = format!("{}~{}", h.username, h.id);
        let mut active: user::ActiveModel = h.clone().into();
        active.username = Set(renamed.clone());
        active.update(&txn).await?;
        audit::record(
            &txn,
            None,
            now,
            Change {
                action: "rename_user",
                object_type: "user",
                object_id: renamed.clone(),
                summary: format!(
                    "{username} on GitLab is now someone else: the account that showed that name is now {renamed}"
                ),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    let refresh = who
        .refresh_token
        .as_ref()
        .map(|t| seal_refresh_token(key, &who.id, t))
        .transpose()?;
    let (model, before) = match mine {
        Some(m) => {
            let before = roles_of(&txn, m.id).await?;
            let mut active: user::ActiveModel = m.into();
            active.gitlab_id = Set(Some(who.id.clone()));
            active.username = Set(username.to_owned());
            active.name = Set(who.name.clone());
            active.email = Set(who.email.clone());
            active.gitlab_refresh_token = Set(refresh);
            active.gitlab_valid_until = Set(Some(who.valid_until));
            active.gitlab_recheck_lease = Set(None);
            (active.update(&txn).await?, Some(before))
        }
        None => {
            let model = user::ActiveModel {
                username: Set(username.to_owned()),
                name: Set(who.name.clone()),
                email: Set(who.email.clone()),
                blocked: Set(false),
                created_at: Set(now),
                gitlab_id: Set(Some(who.id.clone())),
                local_account: Set(false),
                gitlab_refresh_token: Set(refresh),
                gitlab_valid_until: Set(Some(who.valid_until)),
                gitlab_recheck_lease: Set(None),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            (model, None)
        }
    };
    set_roles(&txn, model.id, &who.roles).await?;
    let user = current_user(&txn, model).await?;
    if let Some(before) = before
        && before != user.roles
    {
        let labels = |roles: &[Role]| {
            roles
                .iter()
                .map(|r| r.label())
                .collect::<Vec<_>>()
                .join(", ")
        };
        audit::record(
            &txn,
            None,
            now,
            Change {
                action: "set_roles",
                object_type: "user",
                object_id: user.username.clone(),
                summary: format!(
                    "{}'s GitLab groups now grant {} (was {})",
                    user.username,
                    labels(&user.roles),
                    labels(&before)
                ),
                before: audit::snapshot(&before),
                after: audit::snapshot(&user.roles),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(user)
}

/// A GitLab account due for another look at GitLab, held by the sweep that took it.
#[derive(Debug)]
pub struct RecheckDue {
    pub user_id: i32,
    pub gitlab_id: String,
    pub username: String,
    /// `None` when GitLab gave no refresh token (or it does not open with this key).
    pub refresh_token: Option<SecretValue>,
}

/// The GitLab accounts whose confirmation runs out within `ahead`, each taken for this
/// sweep until `now + lease` so that two processes never use one refresh token at once.
pub async fn due_for_recheck(
    db: &impl ConnectionTrait,
    key: &SecretKey,
    now: DateTime<Utc>,
    ahead: Duration,
    lease: Duration,
) -> AppResult<Vec<RecheckDue>> {
    use sea_orm::sea_query::{Condition, Expr};
    let candidates = user::Entity::find()
        .filter(user::Column::GitlabId.is_not_null())
        .filter(user::Column::GitlabValidUntil.lte(now + ahead))
        .filter(
            Condition::any()
                .add(user::Column::GitlabRecheckLease.is_null())
                .add(user::Column::GitlabRecheckLease.lte(now)),
        )
        .order_by_asc(user::Column::GitlabValidUntil)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for u in candidates {
        let Some(gitlab_id) = u.gitlab_id.clone() else {
            continue;
        };
        // Taken only if nobody took it since it was read.
        let taken = user::Entity::update_many()
            .col_expr(
                user::Column::GitlabRecheckLease,
                Expr::value(Some(now + lease)),
            )
            .filter(user::Column::Id.eq(u.id))
            .filter(match u.gitlab_recheck_lease {
                Some(at) => user::Column::GitlabRecheckLease.eq(at),
                None => user::Column::GitlabRecheckLease.is_null(),
            })
            .exec(db)
            .await?;
        if taken.rows_affected != 1 {
            continue;
        }
        let refresh_token = match u.gitlab_refresh_token.as_deref() {
            Some(stored) => open_refresh_token(key, &gitlab_id, stored).ok(),
            None => None,
        };
        out.push(RecheckDue {
            user_id: u.id,
            gitlab_id,
            username: u.username,
            refresh_token,
        });
    }
    Ok(out)
}

/// Keeps the refresh token GitLab handed out while the rest of a check could not be done,
/// for the next go (GitLab spends the old one with every refresh).
pub async fn keep_refresh_token(
    db: &impl ConnectionTrait,
    key: &SecretKey,
    user_id: i32,
    gitlab_id: &str,
    token: &SecretValue,
) -> AppResult<()> {
    use sea_orm::sea_query::Expr;
    let sealed = seal_refresh_token(key, gitlab_id, token)?;
    user::Entity::update_many()
        .col_expr(user::Column::GitlabRefreshToken, Expr::value(Some(sealed)))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::GitlabId.eq(gitlab_id))
        .exec(db)
        .await?;
    Ok(())
}

/// GitLab no longer confirms this account (`why`, in words for the audit log): its
/// sessions end, its API tokens stop working and the refresh token is forgotten, until its
/// owner signs in with GitLab again.
pub async fn end_gitlab(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    user_id: i32,
    why: &str,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    let Some(u) = user::Entity::find_by_id(user_id).one(&txn).await? else {
        return Ok(());
    };
    let username = u.username.clone();
    let mut active: user::ActiveModel = u.into();
    active.gitlab_refresh_token = Set(None);
    active.gitlab_valid_until = Set(None);
    active.gitlab_recheck_lease = Set(None);
    active.update(&txn).await?;
    let ended = session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        None,
        now,
        Change {
            action: "end_sessions",
            object_type: "user",
            object_id: username.clone(),
            summary: format!(
                "{username} may no longer act ({why}): {} session(s) ended, API tokens refused until they sign in with GitLab again",
                ended.rows_affected
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The users the development sign-in page offers.
pub async fn dev_users(db: &impl ConnectionTrait) -> AppResult<Vec<DevUser>> {
    let users = user::Entity::find()
        .filter(user::Column::Blocked.eq(false))
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        out.push(DevUser {
            roles: roles_of(db, u.id).await?,
            username: u.username,
            name: u.name,
        });
    }
    Ok(out)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session for `username`; returns the token for the cookie.
pub async fn sign_in(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    username: &str,
) -> AppResult<(String, CurrentUser)> {
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("user '{username}'")))?;
    start_session(db, now, u).await
}

/// Starts a session for the account `id` (as GitLab sign-in finds it); returns the token.
pub async fn sign_in_id(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<(String, CurrentUser)> {
    let u = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("user {id}")))?;
    start_session(db, now, u).await
}

async fn start_session(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    u: user::Model,
) -> AppResult<(String, CurrentUser)> {
    let username = u.username.clone();
    match may_act(&u, now) {
        Standing::Active => {}
        Standing::Blocked => {
            return Err(AppError::forbidden(format!(
                "{username} is blocked and cannot sign in"
            )));
        }
        Standing::Unconfirmed => {
            return Err(AppError::forbidden(format!(
                "{username} must sign in with GitLab"
            )));
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    session::ActiveModel {
        id: Set(token_hash(&token)),
        user_id: Set(u.id),
        created_at: Set(now),
        expires_at: Set(now + SESSION_ABSOLUTE),
        last_seen_at: Set(now),
    }
    .insert(db)
    .await?;
    let user = current_user(db, u).await?;
    audit::record(
        db,
        Some(&user),
        now,
        Change {
            action: "sign_in",
            object_type: "user",
            object_id: user.username.clone(),
            summary: format!("{} signed in", user.name),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok((token, user))
}

/// A session as [`resolve_session`] reads it: one row per role of its person.
#[derive(Debug, FromQueryResult)]
struct SessionRow {
    expires_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    #[sea_orm(nested)]
    person: PersonRow,
}

/// The user behind a session token, if the session is alive; refreshes its idle clock.
/// The session, its person and their roles are read with one query, every call: a
/// sign-out, a block or a change of roles holds from the next call on, in every process
/// (requests go through [`resolve_session_kept`], which keeps the answer for a moment).
/// It writes only to refresh the idle clock (at most once a minute) and to delete a
/// session that ran out.
pub async fn resolve_session(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    token: &str,
) -> AppResult<Option<CurrentUser>> {
    Ok(read_session(db, now, token_hash(token))
        .await?
        .map(|alive| alive.user))
}

/// [`resolve_session`] for a request, through the portal's kept reads: a session read a
/// moment ago is not read again. A sign-out, a block or a change of roles made through this
/// portal holds from its next request on (every write drops what is kept); one made by
/// another portal process sharing the database holds within
/// [`read_cache::FRESH_FOR`](super::read_cache::FRESH_FOR). A kept session is never used
/// past its expiry or idle limit, and an unknown token is read every time.
pub async fn resolve_session_kept(
    reads: &ReadCache,
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    token: &str,
) -> AppResult<Option<CurrentUser>> {
    let id = token_hash(token);
    let read = || read_session(db, now, id.clone());
    match reads
        .get_of_if("session", &id, now, Option::is_some, read)
        .await?
    {
        Some(alive) if now < alive.until => Ok(Some(alive.user)),
        // Kept, but it ran out since: read it again, which deletes it.
        Some(_) => Ok(read_session(db, now, id).await?.map(|a| a.user)),
        None => Ok(None),
    }
}

/// A live session: its person, and the moment it runs out unless it is used again.
#[derive(Clone, Debug)]
struct Alive {
    user: CurrentUser,
    until: DateTime<Utc>,
}

/// The session whose token hashes to `id`, as [`resolve_session`] describes.
async fn read_session(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    id: String,
) -> AppResult<Option<Alive>> {
    let select = session::Entity::find_by_id(id.clone())
        .select_only()
        .column(session::Column::ExpiresAt)
        .column(session::Column::LastSeenAt);
    let rows: Vec<SessionRow> = with_person(select, session::Column::UserId)
        .into_model()
        .all(db)
        .await?;
    let Some(s) = rows.first() else {
        return Ok(None);
    };
    if s.expires_at <= now || s.last_seen_at + SESSION_IDLE <= now {
        session::Entity::delete_by_id(id).exec(db).await?;
        return Ok(None);
    }
    // An unconfirmed GitLab account's session waits: it works again once GitLab confirms
    // the account, and is deleted when GitLab refuses it.
    let Ok(user) = person_from_rows(rows.iter().map(|r| &r.person), now) else {
        return Ok(None);
    };
    // Touch at most once a minute: every page load need not write.
    let mut last_seen = s.last_seen_at;
    if now - s.last_seen_at > Duration::minutes(1) {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(id))
            .exec(db)
            .await?;
        last_seen = now;
    }
    let until = s
        .person
        .acts_until(s.expires_at.min(last_seen + SESSION_IDLE));
    Ok(Some(Alive { user, until }))
}

/// A person by id, unless they are blocked.
pub async fn by_id(db: &impl ConnectionTrait, id: i32) -> AppResult<Option<CurrentUser>> {
    match user::Entity::find_by_id(id).one(db).await? {
        Some(u) if !u.blocked => Ok(Some(current_user(db, u).await?)),
        _ => Ok(None),
    }
}

/// Ends a session on the server.
pub async fn sign_out(db: &impl ConnectionTrait, token: &str) -> AppResult<()> {
    session::Entity::delete_by_id(token_hash(token))
        .exec(db)
        .await?;
    Ok(())
}

/// Blocks or unblocks a user; a blocked user cannot sign in and their sessions stop working.
pub async fn set_blocked(
    db: &impl ConnectionTrait,
    username: &str,
    blocked: bool,
) -> AppResult<()> {
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("user '{username}'")))?;
    let mut active: user::ActiveModel = u.into();
    active.blocked = Set(blocked);
    active.update(db).await?;
    Ok(())
}

/// The portal itself, as the author of what its jobs and seed write. It cannot sign in.
pub async fn system_user(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<CurrentUser> {
    let existing = user::Entity::find()
        .filter(user::Column::Username.eq(SYSTEM_USERNAME))
        .one(db)
        .await?;
    if let Some(u) = existing
        && u.blocked
    {
        return current_user(db, u).await;
    }
    let user = upsert(
        db,
        now,
        SYSTEM_USERNAME,
        "Partner Image Portal",
        "portal@gitlab.example.com",
        &[Role::Admin],
    )
    .await?;
    set_blocked(db, SYSTEM_USERNAME, true).await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_own_names_are_reserved_in_any_case() {
        for name in ["portal", "Portal", " system ", "SYSTEM"] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["portals", "dana", "system-admin"] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
