//! Personal API tokens for automation: `Authorization: Bearer pip_…` on `/api/v1`. A token
//! has a name, scopes (read, write, jobs), an expiry, and acts with its owner's roles. It
//! is shown once; the database keeps its SHA-256 only. Using one records when it was last
//! used (to the minute); creating and revoking one are audited. Which scope each API route
//! needs is the server's table (`server::api::scopes`).

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use super::{
    audit::{self, Change},
    entities::{api_token, user},
    read_cache::ReadCache,
    stored, users,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator, required_text},
};

/// Every token starts with this, so secret scanners and people recognise one.
pub const PREFIX: &str = "pip_";
/// The longest a token lives.
pub const MAX_DAYS: i64 = 365;

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The scopes as stored: comma-separated.
fn scopes_of(stored_scopes: &str) -> AppResult<Vec<TokenScope>> {
    stored_scopes
        .split(',')
        .filter(|s| !s.is_empty())
        .map(stored)
        .collect()
}

fn to_dto(t: api_token::Model, username: String) -> AppResult<ApiToken> {
    Ok(ApiToken {
        id: t.id,
        scopes: scopes_of(&t.scopes)?,
        name: t.name,
        prefix: t.prefix,
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        username,
    })
}

/// Creates a token for the signed-in person; the answer carries its secret, this once.
/// No permission: anyone signed in makes their own tokens, which act with their roles.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &ApiTokenInput,
) -> AppResult<ApiTokenCreated> {
    let mut v = Validator::new();
    let name = v.check("name", required_text(&input.name, 100));
    let mut scopes = Vec::new();
    for &scope in &input.scopes {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if input.scopes.is_empty() {
        v.add("scopes", "choose at least one scope: read, write or jobs");
    }
    let days = v.check(
        "expires_in_days",
        Some(input.expires_in_days)
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| format!("a token lives 1 to {MAX_DAYS} days")),
    );
    let (name, days) = v.finish(|| Some((name?, days?)))?;
    scopes.sort();
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", hex::encode(bytes));
    let txn = super::begin_write(db).await?;
    let model = api_token::ActiveModel {
        user_id: Set(actor.id),
        name: Set(name),
        token_hash: Set(hash(&secret)),
        prefix: Set(secret.chars().take(PREFIX.len() + 6).collect()),
        scopes: Set(scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(days)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create_token",
            object_type: "api_token",
            object_id: model.id.to_string(),
            summary: format!(
                "created API token '{}' ({}) with {}, valid {days} days",
                model.name, model.prefix, model.scopes
            ),
            before: None,
            after: audit::snapshot(&model),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(ApiTokenCreated {
        token: to_dto(model, actor.username.clone())?,
        secret,
    })
}

/// The person's tokens, newest first; an admin sees everyone's. No permission to see
/// one's own; object-level: someone else's only with [`Permission::ManageAllTokens`].
pub async fn list(db: &impl ConnectionTrait, actor: &CurrentUser) -> AppResult<Vec<ApiToken>> {
    let mut q = api_token::Entity::find().order_by_desc(api_token::Column::Id);
    if !actor.can(Permission::ManageAllTokens) {
        q = q.filter(api_token::Column::UserId.eq(actor.id));
    }
    let rows = q.all(db).await?;
    let names: std::collections::HashMap<i32, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(rows.iter().map(|t| t.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    rows.into_iter()
        .map(|t| {
            let name = names.get(&t.user_id).cloned().unwrap_or_default();
            to_dto(t, name)
        })
        .collect()
}

/// Revokes a token at once: its owner's own, or anyone's for an admin. No permission to
/// revoke one's own; object-level: someone else's only with [`Permission::ManageAllTokens`]
/// (to anyone else it does not exist).
pub async fn revoke(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<ApiToken> {
    let txn = super::begin_write(db).await?;
    let t = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .filter(|t| t.user_id == actor.id || actor.can(Permission::ManageAllTokens))
        .ok_or_else(|| AppError::not_found(format!("API token {id}")))?;
    if t.revoked_at.is_some() {
        return Err(AppError::conflict(
            "token",
            format!("API token '{}' is already revoked", t.name),
        ));
    }
    let owner = user::Entity::find_by_id(t.user_id)
        .one(&txn)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    let mut active: api_token::ActiveModel = t.clone().into();
    active.revoked_at = Set(Some(now));
    let after = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "revoke_token",
            object_type: "api_token",
            object_id: id.to_string(),
            summary: format!("revoked API token '{}' ({}) of {owner}", t.name, t.prefix),
            before: audit::snapshot(&t),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    to_dto(after, owner)
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Expired,
    Revoked,
    Blocked,
    /// GitLab no longer confirms the owner (see [`users::Standing::Unconfirmed`]).
    Unconfirmed,
}

impl Refused {
    pub fn message(self) -> &'static str {
        match self {
            Refused::Unknown => "the API token is not known",
            Refused::Expired => "the API token has expired: create a new one",
            Refused::Revoked => "the API token was revoked",
            Refused::Blocked => "the API token's owner is blocked",
            Refused::Unconfirmed => {
                "GitLab no longer confirms the API token's owner (blocked there, out of the groups that grant a role, or not checked in time): they must sign in with GitLab again"
            }
        }
    }
}

/// A token as [`authenticate`] reads it: one row per role of its owner.
#[derive(Debug, FromQueryResult)]
struct TokenRow {
    token_id: i32,
    scopes: String,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    #[sea_orm(nested)]
    person: users::PersonRow,
}

/// The person and scopes behind a bearer token. The token, its owner and their roles are
/// read with one query, every call: revoking the token, blocking its owner or changing
/// their roles holds from the next call on, in every process (requests go through
/// [`authenticate_kept`], which keeps the answer for a moment).
/// Records when the token was last used, to the minute (every request need not write).
pub async fn authenticate(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    secret: &str,
) -> AppResult<Result<(CurrentUser, Vec<TokenScope>), Refused>> {
    Ok(read(db, now, hash(secret.trim()))
        .await?
        .map(|t| (t.user, t.scopes)))
}

/// [`authenticate`] for a request, through the portal's kept reads: a token accepted a
/// moment ago is not read again. Revoking it, blocking its owner or changing their roles
/// through this portal holds from its next request on (every write drops what is kept);
/// through another portal process sharing the database, within
/// [`read_cache::FRESH_FOR`](super::read_cache::FRESH_FOR). A kept token is never used past
/// its expiry or its owner's GitLab confirmation, and a refused one is read every time.
pub async fn authenticate_kept(
    reads: &ReadCache,
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    secret: &str,
) -> AppResult<Result<(CurrentUser, Vec<TokenScope>), Refused>> {
    let id = hash(secret.trim());
    let accepted = reads
        .get_of_if("api token", &id, now, Result::is_ok, || {
            read(db, now, id.clone())
        })
        .await?;
    match accepted {
        Ok(t) if now < t.until => Ok(Ok((t.user, t.scopes))),
        // Kept, but it ran out since: read it again, which says why.
        Ok(_) => Ok(read(db, now, id).await?.map(|t| (t.user, t.scopes))),
        Err(refused) => Ok(Err(refused)),
    }
}

/// An accepted token: its owner, scopes, and the moment it stops being accepted.
#[derive(Clone, Debug)]
struct Accepted {
    user: CurrentUser,
    scopes: Vec<TokenScope>,
    until: DateTime<Utc>,
}

/// The token whose secret hashes to `token_hash`, as [`authenticate`] describes.
async fn read(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    token_hash: String,
) -> AppResult<Result<Accepted, Refused>> {
    let select = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .select_only()
        .column_as(api_token::Column::Id, "token_id")
        .column(api_token::Column::Scopes)
        .column(api_token::Column::ExpiresAt)
        .column(api_token::Column::LastUsedAt)
        .column(api_token::Column::RevokedAt);
    let rows: Vec<TokenRow> = users::with_person(select, api_token::Column::UserId)
        .into_model()
        .all(db)
        .await?;
    let Some(t) = rows.first() else {
        return Ok(Err(Refused::Unknown));
    };
    if t.revoked_at.is_some() {
        return Ok(Err(Refused::Revoked));
    }
    if t.expires_at <= now {
        return Ok(Err(Refused::Expired));
    }
    let user = match users::person_from_rows(rows.iter().map(|r| &r.person), now) {
        Ok(user) => user,
        Err(users::Standing::Unconfirmed) => return Ok(Err(Refused::Unconfirmed)),
        Err(_) => return Ok(Err(Refused::Blocked)),
    };
    let scopes = scopes_of(&t.scopes)?;
    if t.last_used_at
        .is_none_or(|at| now - at >= Duration::minutes(1))
    {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(api_token::Column::Id.eq(t.token_id))
            .exec(db)
            .await?;
    }
    let until = t.person.acts_until(t.expires_at);
    Ok(Ok(Accepted {
        user,
        scopes,
        until,
    }))
}
