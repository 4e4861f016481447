//! Listing copy: its revisions, reviews, saves with conflicts, and diffs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{CopyState, Role};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// The marketing copy of a listing, as one revision holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyFields {
    pub title: String,
    pub short_description: String,
    /// Markdown.
    pub long_description: String,
    pub highlights: Vec<String>,
    pub usage_instructions: String,
    pub release_notes_template: String,
    pub categories: Vec<String>,
}

/// A save of listing copy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyInput {
    /// The revision this edit started from (0 for the first one). A save on top of a
    /// revision that has been replaced is refused as a conflict.
    pub base_revision: i32,
    pub title: String,
    pub short_description: String,
    pub long_description: String,
    /// Up to three; blank ones are dropped.
    pub highlights: Vec<String>,
    pub usage_instructions: String,
    pub release_notes_template: String,
    /// Up to three; blank ones are dropped.
    pub categories: Vec<String>,
}

/// A save of listing copy as the editor's form sends it: highlights one per line,
/// categories separated by commas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CopyForm {
    pub base_revision: i32,
    pub title: String,
    pub short_description: String,
    pub long_description: String,
    /// One highlight per line.
    pub highlights: String,
    pub usage_instructions: String,
    pub release_notes_template: String,
    /// Comma-separated.
    pub categories: String,
}

impl From<CopyForm> for CopyInput {
    fn from(form: CopyForm) -> Self {
        CopyInput {
            base_revision: form.base_revision,
            title: form.title,
            short_description: form.short_description,
            long_description: form.long_description,
            highlights: form.highlights.lines().map(str::to_owned).collect(),
            usage_instructions: form.usage_instructions,
            release_notes_template: form.release_notes_template,
            categories: form.categories.split(',').map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyReview {
    /// The team that reviewed.
    pub stage: Role,
    /// `approved` or `rejected`.
    pub decision: String,
    pub username: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyRevisionSummary {
    pub id: i32,
    pub number: i32,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub state: CopyState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyRevision {
    pub id: i32,
    pub listing_id: i32,
    pub number: i32,
    pub fields: CopyFields,
    pub author: String,
    pub author_id: i32,
    pub created_at: DateTime<Utc>,
    pub state: CopyState,
    /// Every review of this exact revision, oldest first.
    pub reviews: Vec<CopyReview>,
    pub publish_marked_at: Option<DateTime<Utc>>,
    pub publish_marked_by: Option<String>,
}

impl CopyRevision {
    /// The rejection that sent this revision back to draft, if that is where it stands.
    pub fn rejection(&self) -> Option<&CopyReview> {
        if self.state != CopyState::Draft {
            return None;
        }
        self.reviews.iter().rev().find(|r| r.decision == "rejected")
    }
}

/// A listing's copy: the newest revision, the history and the approved one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ListingCopy {
    pub listing_id: i32,
    pub listing_title: String,
    pub product_name: String,
    pub partner_slug: String,
    pub head: Option<CopyRevision>,
    pub revisions: Vec<CopyRevisionSummary>,
    /// The newest approved revision: what a publish would use.
    pub approved_revision: Option<i32>,
}

/// The answer to a save: the new revision, or a conflict showing both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CopySave {
    Saved {
        revision: CopyRevision,
    },
    /// Someone saved a newer revision since this edit started; nothing was written.
    Conflict {
        message: String,
        yours: CopyFields,
        theirs: CopyRevision,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReviewInput {
    /// The revision reviewed: the review is bound to it.
    pub revision: i32,
    /// Required for a rejection.
    #[serde(default)]
    pub comment: String,
}

/// One row of a side-by-side diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DiffRow {
    pub left: Option<String>,
    pub right: Option<String>,
    /// `same`, `changed`, `removed` or `added`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FieldDiff {
    pub field: String,
    pub label: String,
    pub changed: bool,
    pub rows: Vec<DiffRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyDiff {
    pub left: CopyRevisionSummary,
    pub right: CopyRevisionSummary,
    pub fields: Vec<FieldDiff>,
}
