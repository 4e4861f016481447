//! Listing copy: every save is a revision, and a revision is approved in stages —
//! Partnerships, then Omnibus for technical accuracy — each approval bound to that exact
//! revision. An edit makes a new revision that starts over; nobody approves what they
//! wrote; a rejection carries a comment and returns the copy to draft. Only approved copy
//! is published: marking an approved revision queues a `publish_copy` job that sends it as
//! `UpdateInformation` ([`copy_plan`]), and a version publish takes its usage instructions
//! and release notes from the live revision, else the newest approved one.

mod diff;
mod job;
mod publish;
mod review;
mod revisions;

pub use self::{
    diff::{diff, diff_rows},
    job::{PublishCopy, publish_group},
    publish::{
        CopyPlan, copy_plan, live_diff, mark_for_publishing, read_live_diff, record_live,
        update_information,
    },
    review::{approve, queue, reject, request_approval},
    revisions::{
        CATEGORIES_MAX, CATEGORY_MAX, HIGHLIGHT_MAX, HIGHLIGHTS_MAX, KEYWORD_MAX, KEYWORDS_MAX,
        LONG_DESCRIPTION_MAX, PLACEHOLDERS, RELEASE_NOTES_MAX, RESOURCE_TEXT_MAX, RESOURCES_MAX,
        SHORT_DESCRIPTION_MAX, SKU_MAX, SUPPORT_DESCRIPTION_MAX, TEXT_MAX, TITLE_MAX,
        USAGE_INSTRUCTIONS_MAX, approved_head, approved_revision, get, publishing_revision,
        record_approved, render_markdown, render_release_notes, revision, save,
    },
};
