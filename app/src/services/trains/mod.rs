//! The release train: what a release (or a new base image) sets moving, and the engine that
//! moves it. A stable release recorded by GitLab's webhook, the REST API or the UI starts a
//! train: a build step for every image-maintained AWS product × architecture, then a publish
//! step for every marketplace listing of those products. Each step runs by itself when its
//! product's build policy or its listing's publish policy is automatic; a gate (copy not
//! approved, a proposal open on the listing, a change set blocking it, a failed build) is a
//! visible wait that the engine re-checks until it clears. Steps are rows unique per train,
//! claimed by a guarded update before their job is queued, so two processes, a webhook
//! delivered twice or a restart never start the same step twice.

mod engine;
mod intake;
mod policies;
mod rebuilds;
mod views;

pub use engine::{advance, advance_open, job_finished, start_release_train};
pub use intake::{
    GitlabDelivery, GitlabEvent, ReleaseEvent, create_release, gitlab_delivery, release_event,
    version_from_tag,
};
pub use policies::{set_build_policy, set_publish_policy};
pub use rebuilds::start_rebuild_train;
pub use views::{get, list, newest, release_train};
