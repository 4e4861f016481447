//! Releases: the GitLab versions images are built of.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::ReleaseKind;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Release {
    pub id: i32,
    pub version: String,
    pub released_on: NaiveDate,
    pub kind: ReleaseKind,
    /// Derived: the newest stable release in the catalogue.
    pub latest_stable: bool,
    pub image_count: u64,
    /// The release's notes, as the release event gave them (or GitLab's release page).
    #[serde(default)]
    pub notes_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReleaseInput {
    pub version: String,
    /// YYYY-MM-DD.
    pub released_on: String,
    /// regular, patch or security.
    pub kind: String,
    /// Where the release's notes are (https); empty for GitLab's release page of the tag.
    #[serde(default)]
    pub notes_url: String,
}
