//! Listing copy: every save is a revision, and a revision is approved in stages —
//! Partnerships, then Omnibus for technical accuracy — each approval bound to that exact
//! revision. An edit makes a new revision that starts over; nobody approves what they
//! wrote; a rejection carries a comment and returns the copy to draft. Only approved copy
//! is published: [`approved_revision`] is what the publish job takes.

mod diff;
mod review;
mod revisions;

pub use self::{
    diff::{diff, diff_rows},
    review::{approve, mark_for_publishing, queue, reject, request_approval},
    revisions::{
        CATEGORIES_MAX, HIGHLIGHT_MAX, HIGHLIGHTS_MAX, LONG_DESCRIPTION_MAX, SHORT_DESCRIPTION_MAX,
        TEXT_MAX, TITLE_MAX, approved_head, approved_revision, get, render_markdown, revision,
        save,
    },
};
