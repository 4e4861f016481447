//! People, their roles, and their sessions. A session cookie carries a random token; the
//! database keeps only its SHA-256, so a leaked table grants nobody a session.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};

use super::{
    audit::{self, Change},
    entities::{session, user, user_role},
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

/// Creates the user or updates their name, email and roles; returns them.
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
        Some(u) => {
            let mut active: user::ActiveModel = u.into();
            active.name = Set(name.to_owned());
            active.email = Set(email.to_owned());
            active.update(&txn).await?
        }
        None => {
            user::ActiveModel {
                username: Set(username.to_owned()),
                name: Set(name.to_owned()),
                email: Set(email.to_owned()),
                blocked: Set(false),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(model.id))
        .exec(&txn)
        .await?;
    for role in roles {
        user_role::ActiveModel {
            user_id: Set(model.id),
            role: Set(*role),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let user = current_user(&txn, model).await?;
    txn.commit().await?;
    Ok(user)
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
    if u.blocked {
        return Err(AppError::forbidden(format!(
            "{username} is blocked and cannot sign in"
        )));
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

/// The user behind a session token, if the session is alive; refreshes its idle clock.
pub async fn resolve_session(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    token: &str,
) -> AppResult<Option<CurrentUser>> {
    let Some(s) = session::Entity::find_by_id(token_hash(token))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if s.expires_at <= now || s.last_seen_at + SESSION_IDLE <= now {
        session::Entity::delete_by_id(s.id).exec(db).await?;
        return Ok(None);
    }
    let Some(u) = user::Entity::find_by_id(s.user_id).one(db).await? else {
        return Ok(None);
    };
    if u.blocked {
        return Ok(None);
    }
    // Touch at most once a minute: every page load need not write.
    if now - s.last_seen_at > Duration::minutes(1) {
        let mut active: session::ActiveModel = s.into();
        active.last_seen_at = Set(now);
        active.update(db).await?;
    }
    Ok(Some(current_user(db, u).await?))
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
        .filter(user::Column::Username.eq("portal"))
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
        "portal",
        "Partner Image Portal",
        "portal@gitlab.example.com",
        &[Role::Admin],
    )
    .await?;
    set_blocked(db, "portal", true).await?;
    Ok(user)
}
