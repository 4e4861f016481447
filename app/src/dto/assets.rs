//! Marketing assets and their uploaded versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::AssetKind;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetVersion {
    pub version: i32,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub filename: String,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Where the bytes of this version are served.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Asset {
    pub id: i32,
    pub partner_slug: String,
    pub partner_name: String,
    pub product_slug: Option<String>,
    pub kind: AssetKind,
    pub title: String,
    /// Newest first; the first is the current version.
    pub versions: Vec<AssetVersion>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
