//! Marketing assets: files, links and texts, their versions, and what they are linked to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::AssetKind;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetVersion {
    pub version: i32,
    /// The file's type, read from its bytes; empty for a version without a file.
    pub content_type: String,
    pub size_bytes: i64,
    /// Of the file, or of the link and text for a version without one.
    pub sha256: String,
    pub filename: String,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Where the file of this version is served; `None` for a version without a file.
    pub url: Option<String>,
    /// A video's, blog post's or social post's address.
    pub link: Option<String>,
    /// A post's or customer quote's text.
    pub text: Option<String>,
    /// Who a customer quote is by.
    pub attribution: Option<String>,
    /// Whether the customer agreed to the quote being used (quotes only).
    pub customer_agreed: bool,
}

/// What an asset is linked to: a listing or a workflow task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetLink {
    pub id: i32,
    pub listing_id: Option<i32>,
    pub listing_title: Option<String>,
    pub task_id: Option<i32>,
    pub task_title: Option<String>,
    pub workflow_id: Option<i32>,
    pub linked_by: String,
    pub linked_at: DateTime<Utc>,
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
    pub links: Vec<AssetLink>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An asset as a listing or task shows it: what it is and its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetRef {
    pub id: i32,
    pub kind: AssetKind,
    pub title: String,
    pub version: i32,
    /// The current version's file, if it has one.
    pub url: Option<String>,
    pub link: Option<String>,
    pub customer_agreed: bool,
}

/// Link an asset to a listing or to a workflow task (exactly one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetLinkInput {
    #[serde(default)]
    pub listing_id: Option<i32>,
    #[serde(default)]
    pub task_id: Option<i32>,
}

/// What a version says besides its file: required or refused by the asset's kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AssetContent {
    /// Video, blog post, social post: https.
    #[serde(default)]
    pub link: String,
    /// Blog post, social post, customer quote.
    #[serde(default)]
    pub text: String,
    /// Customer quote: who said it.
    #[serde(default)]
    pub attribution: String,
    /// Customer quote: whether the customer agreed to its use.
    #[serde(default)]
    pub customer_agreed: bool,
}
