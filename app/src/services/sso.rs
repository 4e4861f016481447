//! GitLab sign-in (`PORTAL_AUTH=gitlab`): its configuration, the mapping from GitLab groups
//! to the portal's roles, and the sign-in attempts in flight between the redirect to GitLab
//! and its callback. The OpenID Connect exchange itself lives in the server.

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

/// What the callback needs of an attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
}

/// Remembers a sign-in on its way to GitLab (and forgets the ones that expired).
pub async fn begin(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    state: &str,
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
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Takes the attempt a callback's `state` belongs to: once, and only within its time.
pub async fn take(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    state: &str,
) -> AppResult<Option<Attempt>> {
    let key = hash(state);
    let Some(row) = sign_in_attempt::Entity::find_by_id(key.clone())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    // Deleting first makes the state single-use even when two callbacks race.
    let gone = sign_in_attempt::Entity::delete_by_id(key).exec(db).await?;
    if gone.rows_affected != 1 || row.created_at + ATTEMPT_TTL <= now {
        return Ok(None);
    }
    Ok(Some(Attempt {
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
    fn a_bad_mapping_says_what_is_wrong() {
        assert!(GitLabSso::parse_groups("omnibus").is_err());
        assert!(GitLabSso::parse_groups("wizard=gitlab-org").is_err());
        assert!(GitLabSso::parse_groups("admin=").is_err());
        assert!(GitLabSso::parse_groups(" ").is_err());
    }
}
