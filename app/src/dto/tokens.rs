//! Personal API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::TokenScope,
    error::{AppError, AppResult, Validator, whole_number},
};

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
    /// At least one.
    #[serde(default)]
    pub scopes: Vec<TokenScope>,
    /// Days until it stops working, 1 to 365.
    pub expires_in_days: i64,
}

/// The tokens page's form: the days as typed, checked to be a number here and for their
/// range by the service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenForm {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<TokenScope>,
    pub expires_in_days: String,
}

impl TryFrom<ApiTokenForm> for ApiTokenInput {
    type Error = AppError;

    fn try_from(form: ApiTokenForm) -> AppResult<Self> {
        let mut v = Validator::new();
        let days = v.check("expires_in_days", whole_number(&form.expires_in_days));
        v.finish(|| {
            Some(ApiTokenInput {
                name: form.name,
                scopes: form.scopes,
                expires_in_days: days?,
            })
        })
    }
}

/// A new token and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiTokenCreated {
    pub token: ApiToken,
    pub secret: String,
}
