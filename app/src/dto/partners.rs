//! Partners: the clouds and vendors the portal builds images for, their accounts and contacts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ProductSummary;
use crate::domain::{Cloud, ContactRole, PartnerStatus};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerSummary {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub cloud: Cloud,
    pub status: PartnerStatus,
    pub product_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerAccount {
    pub id: i32,
    pub label: String,
    pub account_id: String,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerContact {
    pub id: i32,
    pub role: ContactRole,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Partner {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub cloud: Cloud,
    pub status: PartnerStatus,
    pub partner_docs_url: Option<String>,
    pub partnership_doc_url: Option<String>,
    pub notes: String,
    pub accounts: Vec<PartnerAccount>,
    pub contacts: Vec<PartnerContact>,
    pub products: Vec<ProductSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Create or replace a partner's own fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerInput {
    pub slug: String,
    pub name: String,
    /// aws, azure, gcp, digitalocean or other.
    pub cloud: String,
    /// prospect, onboarding, live or retired.
    pub status: String,
    #[serde(default)]
    pub partner_docs_url: String,
    #[serde(default)]
    pub partnership_doc_url: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerAccountInput {
    pub label: String,
    pub account_id: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PartnerContactInput {
    /// partnership, technical or marketing.
    pub role: String,
    pub name: String,
    pub email: String,
}
