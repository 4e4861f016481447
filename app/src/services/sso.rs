//! GitLab sign-in (`PORTAL_AUTH=gitlab`): its configuration, the mapping from GitLab groups
//! to the portal's roles, the provider's discovery document kept between sign-ins, and the
//! sign-in attempts in flight between the redirect to GitLab and its callback, each bound to
//! the browser that started it. The OpenID Connect exchange itself lives in the server.

use std::{
    any::Any,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use super::{entities::sign_in_attempt, secrets::SecretValue};
use crate::{
    domain::Role,
    error::{AppError, AppResult},
};

/// How long a sign-in may take between leaving for GitLab and coming back.
pub const ATTEMPT_TTL: Duration = Duration::minutes(10);

/// The groups that grant each role when nobody configured others.
pub const DEFAULT_ROLE_GROUPS: &str = "omnibus=gitlab-org/distribution,partnerships=gitlab-com/alliances,marketing=gitlab-com/marketing/partner-marketing,admin=gitlab-com/partner-image-portal-admins";

/// How often, at most, a person's groups and account state are checked again by default.
pub const DEFAULT_RECHECK: Duration = Duration::minutes(60);
/// How long GitLab's discovery document and keys are kept by default.
pub const DEFAULT_DISCOVERY_TTL: Duration = Duration::minutes(60);

/// How the portal signs people in with GitLab.
#[derive(Debug)]
pub struct GitLabSso {
    /// The GitLab instance, e.g. `https://gitlab.com` (no trailing slash); also the issuer.
    pub url: String,
    pub client_id: String,
    pub client_secret: SecretValue,
    /// GitLab group path → the role its members get (members of subgroups too).
    pub groups: Vec<(String, Role)>,
    /// Whether someone in no mapped group gets the viewer role (otherwise they are refused).
    pub unmapped_viewer: bool,
    /// How long GitLab's confirmation of a person's state and groups holds; after that the
    /// portal asks GitLab again, or the person's sessions and API tokens stop working.
    pub recheck: Duration,
    /// How long the provider's discovery document and keys are kept.
    pub discovery_ttl: Duration,
    /// The provider's discovery document and keys as last fetched.
    pub provider: ProviderCache,
}

/// The last answer of GitLab's discovery (its document and keys), kept for a while so a
/// sign-in does not fetch it again. The server decides what it holds; this only keeps it,
/// with the time it was fetched on the portal's clock.
#[derive(Default)]
pub struct ProviderCache(Mutex<Option<Kept>>);

/// When it was fetched, and what.
type Kept = (DateTime<Utc>, Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for ProviderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fetched = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(at, _)| *at);
        f.debug_struct("ProviderCache")
            .field("fetched_at", &fetched)
            .finish()
    }
}

impl ProviderCache {
    /// What was kept, if it is a `T` fetched less than `ttl` before `now`.
    pub fn get<T: Any + Send + Sync>(&self, now: DateTime<Utc>, ttl: Duration) -> Option<Arc<T>> {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = slot.as_ref()?;
        if *at > now || *at + ttl <= now {
            return None;
        }
        value.clone().downcast::<T>().ok()
    }

    /// Keeps `value`, fetched at `now`.
    pub fn put<T: Any + Send + Sync>(&self, now: DateTime<Utc>, value: Arc<T>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((now, value));
    }

    /// Forgets what was kept (a verification failed with it: the keys may have rotated).
    pub fn forget(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl GitLabSso {
    /// Parses `role=group/path,role=group/path`.
    pub fn parse_groups(spec: &str) -> Result<Vec<(String, Role)>, String> {
        let mut out = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (role, group) = pair
                .split_once('=')
                .ok_or_else(|| format!("'{pair}' is not role=group/path"))?;
            let role: Role = role.trim().parse()?;
            let group = group.trim().trim_matches('/');
            if group.is_empty() {
                return Err(format!("'{pair}' names no group"));
            }
            out.push((group.to_owned(), role));
        }
        if out.is_empty() {
            return Err("map at least one group to a role".into());
        }
        Ok(out)
    }

    /// The roles a person with these GitLab groups gets; `None` when they are refused.
    pub fn roles_for(&self, groups: &[String]) -> Option<Vec<Role>> {
        let mut roles: Vec<Role> = self
            .groups
            .iter()
            .filter(|(mapped, _)| {
                groups.iter().any(|g| {
                    let g = g.trim_matches('/');
                    g.eq_ignore_ascii_case(mapped)
                        || g.to_ascii_lowercase()
                            .starts_with(&format!("{}/", mapped.to_ascii_lowercase()))
                })
            })
            .map(|(_, role)| *role)
            .collect();
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return self.unmapped_viewer.then(|| vec![Role::Viewer]);
        }
        Some(roles)
    }
}

fn hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// Compares two equally long byte strings in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the callback needs of an attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
}

/// Remembers a sign-in on its way to GitLab (and forgets the ones that expired). `browser`
/// is the value of the cookie the starting browser gets; only its SHA-256 is kept.
pub async fn begin(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    state: &str,
    browser: &str,
    attempt: Attempt,
) -> AppResult<()> {
    sign_in_attempt::Entity::delete_many()
        .filter(sign_in_attempt::Column::CreatedAt.lt(now - ATTEMPT_TTL))
        .exec(db)
        .await?;
    sign_in_attempt::ActiveModel {
        state_hash: Set(hash(state)),
        nonce: Set(attempt.nonce),
        pkce_verifier: Set(attempt.pkce_verifier),
        next: Set(attempt.next),
        created_at: Set(now),
        browser_hash: Set(Some(hash(browser))),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// What became of a callback's `state`.
#[derive(Debug, Clone)]
pub enum Taken {
    /// The attempt, taken for good.
    Attempt(Attempt),
    /// No attempt of this portal has this state (any more): unknown, used or expired.
    Unknown,
    /// The attempt was started in another browser; it is used up all the same.
    OtherBrowser,
}

/// Takes the attempt a callback's `state` belongs to: once, only within its time, and
/// only for the browser that started it (`browser`: the value of its sign-in cookie).
pub async fn take(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    state: &str,
    browser: &str,
) -> AppResult<Taken> {
    let key = hash(state);
    let Some(row) = sign_in_attempt::Entity::find_by_id(key.clone())
        .one(db)
        .await?
    else {
        return Ok(Taken::Unknown);
    };
    // Deleting first makes the state single-use even when two callbacks race.
    let gone = sign_in_attempt::Entity::delete_by_id(key).exec(db).await?;
    if gone.rows_affected != 1 || row.created_at + ATTEMPT_TTL <= now {
        return Ok(Taken::Unknown);
    }
    let ours = row
        .browser_hash
        .as_deref()
        .is_some_and(|kept| same(kept.as_bytes(), hash(browser).as_bytes()));
    if !ours {
        return Ok(Taken::OtherBrowser);
    }
    Ok(Taken::Attempt(Attempt {
        nonce: row.nonce,
        pkce_verifier: row.pkce_verifier,
        next: row.next,
    }))
}

/// Refuses a GitLab answer that does not let the person in, in words they can act on.
pub fn refused(message: impl Into<String>) -> AppError {
    AppError::forbidden(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sso(unmapped_viewer: bool) -> GitLabSso {
        GitLabSso {
            url: "https://gitlab.example".into(),
            client_id: "id".into(),
            client_secret: SecretValue::new("secret".into()),
            groups: GitLabSso::parse_groups(DEFAULT_ROLE_GROUPS).expect("defaults parse"),
            unmapped_viewer,
            recheck: DEFAULT_RECHECK,
            discovery_ttl: DEFAULT_DISCOVERY_TTL,
            provider: ProviderCache::default(),
        }
    }

    #[test]
    fn groups_map_to_roles_including_subgroups() {
        let s = sso(true);
        assert_eq!(
            s.roles_for(&[
                "gitlab-org/distribution/build".into(),
                "gitlab-com/alliances".into()
            ]),
            Some(vec![Role::Partnerships, Role::Omnibus])
        );
        assert_eq!(
            s.roles_for(&["gitlab-org/distribution-other".into()]),
            Some(vec![Role::Viewer]),
            "a sibling with a longer name is not a subgroup"
        );
        assert_eq!(sso(false).roles_for(&["somewhere/else".into()]), None);
    }

    #[test]
    fn the_provider_is_kept_for_its_time_and_until_forgotten() {
        let cache = ProviderCache::default();
        let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        let ttl = Duration::minutes(60);
        assert!(cache.get::<String>(t0, ttl).is_none(), "empty");
        cache.put(t0, Arc::new("metadata".to_owned()));
        assert_eq!(
            cache
                .get::<String>(t0 + Duration::minutes(59), ttl)
                .as_deref(),
            Some(&"metadata".to_owned())
        );
        assert!(cache.get::<u32>(t0, ttl).is_none(), "only as what it is");
        assert!(cache.get::<String>(t0 + ttl, ttl).is_none(), "expired");
        assert!(
            cache
                .get::<String>(t0 - Duration::minutes(1), ttl)
                .is_none(),
            "a clock set back does not keep it forever"
        );
        cache.forget();
        assert!(cache.get::<String>(t0, ttl).is_none(), "forgotten");
    }

    #[test]
    fn comparing_hashes_needs_every_byte() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }

    #[test]
    fn a_bad_mapping_says_what_is_wrong() {
        assert!(GitLabSso::parse_groups("omnibus").is_err());
        assert!(GitLabSso::parse_groups("wizard=gitlab-org").is_err());
        assert!(GitLabSso::parse_groups("admin=").is_err());
        assert!(GitLabSso::parse_groups(" ").is_err());
    }
}
