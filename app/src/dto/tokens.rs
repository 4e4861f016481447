//! Personal API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::TokenScope;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A personal API token, as its owner sees it (never the token itself after creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiToken {
    pub id: i32,
    pub name: String,
    /// The first characters of the token, to recognise it by.
    pub prefix: String,
    pub scopes: Vec<TokenScope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whose token it is (admins see everyone's).
    pub username: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenInput {
    pub name: String,
    /// read, write, jobs.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Days until it stops working, 1 to 365.
    pub expires_in_days: String,
}

/// A new token and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenCreated {
    pub token: ApiToken,
    pub secret: String,
}
