//! The job that publishes a listing's approved copy, and the group it shares with every
//! other publish to the listing.

use serde::{Deserialize, Serialize};

use crate::services::jobs::JobKind;

/// The job that publishes an approved revision of a listing's copy as `UpdateInformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishCopy {
    pub listing_id: i32,
    pub revision_id: i32,
}

impl JobKind for PublishCopy {
    const NAME: &'static str = "publish_copy";
    const MAX_ATTEMPTS: i32 = 10;
}

/// The group of every job that publishes to one listing (versions and copy), so they are
/// shown together and wait for each other.
pub fn publish_group(listing_id: i32) -> String {
    format!("publish:{listing_id}")
}
