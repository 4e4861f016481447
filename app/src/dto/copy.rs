//! Listing copy: its revisions, reviews, saves with conflicts, and diffs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{CopyState, Role};
use crate::dto::Job;

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
    /// `{version}` and `{notes_url}` are replaced by the release's version and notes link.
    pub release_notes_template: String,
    pub categories: Vec<String>,
    /// Up to 15, each at most 50 characters.
    #[serde(default)]
    pub search_keywords: Vec<String>,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub support_description: String,
    /// The logo: a logo asset linked to the listing, and the version of it this revision
    /// was saved with (what is approved is that exact file).
    #[serde(default)]
    pub logo_asset_id: Option<i32>,
    #[serde(default)]
    pub logo_version: Option<i32>,
    /// One video URL (https), or empty.
    #[serde(default)]
    pub video_url: String,
    /// Up to three links shown under "Additional resources".
    #[serde(default)]
    pub additional_resources: Vec<AdditionalResource>,
}

/// A link shown on the marketplace page under "Additional resources".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AdditionalResource {
    pub text: String,
    /// https.
    pub url: String,
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
    /// Up to 15; blank ones are dropped.
    #[serde(default)]
    pub search_keywords: Vec<String>,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub support_description: String,
    /// A logo asset linked to this listing; its current version is the one saved.
    #[serde(default)]
    pub logo_asset_id: Option<i32>,
    #[serde(default)]
    pub video_url: String,
    /// Up to three; rows with neither text nor URL are dropped.
    #[serde(default)]
    pub additional_resources: Vec<AdditionalResource>,
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
    /// Comma-separated.
    #[serde(default)]
    pub search_keywords: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub support_description: String,
    /// The logo asset's id, or empty for none.
    #[serde(default)]
    pub logo_asset_id: String,
    #[serde(default)]
    pub video_url: String,
    /// One per line: `Text | https://url`.
    #[serde(default)]
    pub additional_resources: String,
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
            search_keywords: form.search_keywords.split(',').map(str::to_owned).collect(),
            sku: form.sku,
            support_description: form.support_description,
            // A value that is not a number is kept as an id no asset has, so the save
            // answers with a field error instead of silently dropping the logo.
            logo_asset_id: match form.logo_asset_id.trim() {
                "" => None,
                id => Some(id.parse().unwrap_or(-1)),
            },
            video_url: form.video_url,
            additional_resources: form
                .additional_resources
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|line| match line.rsplit_once('|') {
                    Some((text, url)) => AdditionalResource {
                        text: text.trim().to_owned(),
                        url: url.trim().to_owned(),
                    },
                    None => AdditionalResource {
                        text: String::new(),
                        url: line.trim().to_owned(),
                    },
                })
                .collect(),
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
    /// The newest approved revision.
    pub approved_revision: Option<i32>,
    /// What the portal last published to the marketplace, as the marketplace then showed it.
    #[serde(default)]
    pub live: Option<LiveCopyRecord>,
    /// The newest `publish_copy` job of this listing.
    #[serde(default)]
    pub publish_job: Option<Job>,
}

/// The copy of a listing as the marketplace shows it (DescribeEntity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LiveCopy {
    pub title: String,
    pub short_description: String,
    pub long_description: String,
    pub highlights: Vec<String>,
    pub categories: Vec<String>,
    pub search_keywords: Vec<String>,
    pub sku: String,
    pub support_description: String,
    pub logo_url: String,
    pub video_url: String,
    pub additional_resources: Vec<AdditionalResource>,
}

/// The copy the portal published last: which revision, when, and what AWS then showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LiveCopyRecord {
    pub revision_id: Option<i32>,
    pub revision_number: Option<i32>,
    pub published_at: DateTime<Utc>,
    pub copy: LiveCopy,
}

/// An approved revision against what is live on the marketplace now, read just before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyLiveDiff {
    pub revision: CopyRevisionSummary,
    /// The marketplace product the live side was read from.
    pub entity_id: String,
    pub read_at: DateTime<Utc>,
    /// How many fields differ.
    pub changed: usize,
    /// Left: live on the marketplace; right: the revision.
    pub fields: Vec<FieldDiff>,
}

/// The answer to marking a revision for publishing: the copy and the job publishing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CopyPublish {
    pub copy: ListingCopy,
    pub job: Job,
}

/// The `UpdateInformation` details document of an `AmiProduct`, exactly as sent to AWS
/// Marketplace. Empty optional fields are left out (AWS leaves those unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInformation {
    pub product_title: String,
    pub short_description: String,
    pub long_description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub video_urls: Vec<String>,
    pub highlights: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub additional_resources: Vec<UpdateResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_description: Option<String>,
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub search_keywords: Vec<String>,
}

/// An additional resource as `UpdateInformation` carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResource {
    pub text: String,
    pub url: String,
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
