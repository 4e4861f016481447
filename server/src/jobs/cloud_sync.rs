//! The account as it is: the cloud half of the sync. Per target region it reads the
//! account's own images (DescribeImages, `Owners=self`), the public-image quota from Service
//! Quotas (`ec2` / `L-0E3CBAB9`) and the images in the Recycle Bin; per AWS listing the
//! marketplace entity's versions (DescribeEntity). `app::services::account` compares what
//! it read with the catalogue; the handler then turns deregistration protection on or off
//! as that comparison plans. Also: the loop that runs the sync at start and on its schedule,
//! and the protection calls the publish and restrict jobs make.
//!
//! A read that fails is recorded on its region or listing and the others go on; only when
//! every read failed does the job fail (and is tried again).

use std::{sync::Arc, time::Duration as StdDuration};

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::watch;

use app::services::{
    AppState,
    account::{
        self, AccountSnapshot, CloudSync, ListingSnapshot, ListingTarget, RegionSnapshot,
        SeenImage, SeenVersion, SyncReport,
    },
};

use super::{
    JobContext, JobError, JobHandler, JobResult, Outcome,
    entity::{entity_details, find_entity},
    protection::{call_error, set_protection},
};
use crate::cloud::Cloud;

/// Service Quotas' code of EC2's "Public AMIs" quota (per region).
pub const PUBLIC_IMAGE_QUOTA_CODE: &str = "L-0E3CBAB9";

/// Runs [`CloudSync`] jobs.
pub struct Handler {
    cloud: Arc<Cloud>,
}

impl Handler {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Handler { cloud }
    }
}

impl JobHandler for Handler {
    type Kind = CloudSync;

    fn run<'a>(&'a self, ctx: &'a mut JobContext, payload: CloudSync) -> BoxFuture<'a, JobResult> {
        Box::pin(async move { self.sync(ctx, &payload).await })
    }
}

impl Handler {
    /// Reads every target, applies what it read, then makes the protection calls the
    /// comparison planned. Nothing is kept between runs: a resumed sync reads again
    /// (reading changes nothing) and applies what it finds then.
    async fn sync(&self, ctx: &mut JobContext, payload: &CloudSync) -> JobResult {
        let targets = account::targets(&ctx.state.db)
            .await
            .map_err(|e| JobError::Retryable(anyhow!("finding what to read: {}", e.message)))?;
        ctx.log(format!(
            "sync asked for by {}: {} regions, {} listings",
            payload.requested_by,
            targets.regions.len(),
            targets.listings.len()
        ))
        .await;
        let mut snapshot = AccountSnapshot {
            regions: Vec::with_capacity(targets.regions.len()),
            listings: Vec::with_capacity(targets.listings.len()),
        };
        let regions = targets.regions.len().max(1);
        for (i, region) in targets.regions.iter().enumerate() {
            let read = read_region(&self.cloud, region).await;
            ctx.log(region_line(&read)).await;
            snapshot.regions.push(read);
            ctx.save(share(i + 1, regions, 0, 60), "regions", &())
                .await?;
        }
        let listings = targets.listings.len().max(1);
        for (i, target) in targets.listings.iter().enumerate() {
            let read = read_listing(&self.cloud, target).await;
            ctx.log(listing_line(target, &read)).await;
            snapshot.listings.push(read);
            ctx.save(share(i + 1, listings, 60, 80), "listings", &())
                .await?;
        }
        if let Some(failed) = nothing_read(&snapshot) {
            return Err(JobError::Retryable(anyhow!(
                "no read of the account succeeded: {}",
                failed.join("; ")
            )));
        }
        ctx.save(85, "apply", &()).await?;
        let mut report = account::apply(&ctx.state.db, ctx.state.clock.now(), &snapshot)
            .await
            .map_err(|e| {
                JobError::Retryable(anyhow!("recording what the sync read: {}", e.message))
            })?;
        ctx.log(format!(
            "{} images in {} regions, {} listings; {} imported, {} made outside the portal; drift: {} opened, {} resolved; {} incidents, {} warnings",
            report.images,
            report.regions,
            report.listings,
            report.imported,
            report.outside,
            report.drift_opened,
            report.drift_resolved,
            report.incidents,
            report.warnings
        ))
        .await;
        self.protect(ctx, &mut report).await?;
        ctx.save(100, "done", &()).await?;
        let result = serde_json::to_value(&report)
            .map_err(|e| JobError::Fatal(anyhow!("the sync's report is not JSON: {e}")))?;
        Ok(Outcome::Done(result))
    }

    /// Makes each protection call the comparison planned; a refused call is logged and
    /// reported, and the next sync plans it again.
    async fn protect(&self, ctx: &mut JobContext, report: &mut SyncReport) -> Result<(), JobError> {
        let changes = report.protect.clone();
        let total = changes.len().max(1);
        for (i, change) in changes.iter().enumerate() {
            let what = if change.enable {
                "turning deregistration protection on for"
            } else {
                "turning deregistration protection off for"
            };
            match set_protection(&self.cloud, &change.region, &change.image_id, change.enable).await
            {
                Ok(()) => {
                    account::record_protection(
                        &ctx.state.db,
                        ctx.state.clock.now(),
                        &change.region,
                        &change.image_id,
                        change.enable,
                    )
                    .await
                    .map_err(|e| {
                        JobError::Retryable(anyhow!("recording the protection: {}", e.message))
                    })?;
                    ctx.log(format!(
                        "{what} {} in {}: done ({})",
                        change.image_id, change.region, change.why
                    ))
                    .await;
                }
                Err(error) => {
                    let line = format!(
                        "{what} {} in {} failed: {error}",
                        change.image_id, change.region
                    );
                    ctx.log(&line).await;
                    report.errors.push(line);
                }
            }
            ctx.save(share(i + 1, total, 90, 99), "protect", &())
                .await?;
        }
        Ok(())
    }
}

/// Progress from `from` to `to` after `done` of `total`.
fn share(done: usize, total: usize, from: i32, to: i32) -> i32 {
    let span = usize::try_from(to - from).unwrap_or_default();
    from + i32::try_from(done.min(total) * span / total.max(1)).unwrap_or_default()
}

/// Every failure, when not one read of images, quota or listing succeeded (and there was
/// something to read).
fn nothing_read(snapshot: &AccountSnapshot) -> Option<Vec<String>> {
    let any_read = snapshot
        .regions
        .iter()
        .any(|r| r.images.is_some() || r.quota.is_some())
        || snapshot.listings.iter().any(|l| l.versions.is_some());
    if any_read || (snapshot.regions.is_empty() && snapshot.listings.is_empty()) {
        return None;
    }
    let mut errors: Vec<String> = Vec::new();
    for r in &snapshot.regions {
        for e in [&r.images_error, &r.quota_error].into_iter().flatten() {
            errors.push(format!("{}: {e}", r.region));
        }
    }
    for l in &snapshot.listings {
        if let Some(e) = &l.error {
            errors.push(format!("listing {}: {e}", l.listing_id));
        }
    }
    Some(errors)
}

fn region_line(r: &RegionSnapshot) -> String {
    let images = match (&r.images, &r.images_error) {
        (Some(images), _) => format!(
            "{} images ({} public)",
            images.len(),
            images.iter().filter(|i| i.public).count()
        ),
        (None, Some(e)) => format!("images not read: {e}"),
        (None, None) => "images not read".to_owned(),
    };
    let quota = match (r.quota, &r.quota_error) {
        (Some(q), _) => format!("quota {q}"),
        (None, Some(e)) => format!("quota not read: {e}"),
        (None, None) => "quota not read".to_owned(),
    };
    let bin = match (&r.recycle_bin, &r.recycle_bin_error) {
        (Some(ids), _) => format!("{} in the Recycle Bin", ids.len()),
        (None, Some(e)) => format!("Recycle Bin not read: {e}"),
        (None, None) => "Recycle Bin not read".to_owned(),
    };
    format!("{}: {images}; {quota}; {bin}", r.region)
}

fn listing_line(target: &ListingTarget, l: &ListingSnapshot) -> String {
    match (&l.versions, &l.error) {
        (Some(versions), _) => format!(
            "{} ({}): {} versions, {} public",
            target.entity_name,
            l.entity_id,
            versions.len(),
            versions.iter().filter(|v| is_public(v)).count()
        ),
        (None, e) => format!(
            "{}: not read: {}",
            target.entity_name,
            e.as_deref().unwrap_or("no answer")
        ),
    }
}

pub(super) fn is_public(v: &SeenVersion) -> bool {
    v.visibility.eq_ignore_ascii_case("public")
}

/// Reads one region of the account: its own images (every page), the public-image quota
/// Service Quotas reports, and the images in the Recycle Bin. Each part that fails is
/// recorded with why; the others are still read.
pub async fn read_region(cloud: &Cloud, region: &str) -> RegionSnapshot {
    let ec2 = cloud.ec2(region);
    let (images, images_error) = match ec2
        .describe_images()
        .owners("self")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    {
        Ok(images) => (Some(images.iter().filter_map(seen_image).collect()), None),
        Err(e) => (None, Some(call_error("DescribeImages", &e))),
    };
    let (quota, quota_error) = match cloud
        .service_quotas(region)
        .get_service_quota()
        .service_code("ec2")
        .quota_code(PUBLIC_IMAGE_QUOTA_CODE)
        .send()
        .await
    {
        Ok(out) => match out.quota().and_then(|q| q.value()) {
            // Quotas are whole numbers reported as doubles.
            Some(value) if value.is_finite() && value >= 0.0 => {
                (Some(value.round().min(f64::from(i32::MAX)) as i32), None)
            }
            _ => (
                None,
                Some(format!(
                    "GetServiceQuota ec2/{PUBLIC_IMAGE_QUOTA_CODE}: the answer has no value"
                )),
            ),
        },
        Err(e) => (
            None,
            Some(call_error(
                &format!("GetServiceQuota ec2/{PUBLIC_IMAGE_QUOTA_CODE}"),
                &e,
            )),
        ),
    };
    let (recycle_bin, recycle_bin_error) = match ec2
        .list_images_in_recycle_bin()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    {
        Ok(items) => (
            Some(
                items
                    .iter()
                    .filter_map(|i| i.image_id().map(str::to_owned))
                    .collect(),
            ),
            None,
        ),
        Err(e) => (None, Some(call_error("ListImagesInRecycleBin", &e))),
    };
    RegionSnapshot {
        region: region.to_owned(),
        images,
        images_error,
        quota,
        quota_error,
        recycle_bin,
        recycle_bin_error,
    }
}

/// One image as the sync keeps it; an image without an id is no image.
fn seen_image(image: &aws_sdk_ec2::types::Image) -> Option<SeenImage> {
    Some(SeenImage {
        image_id: image.image_id()?.to_owned(),
        name: image.name().unwrap_or_default().to_owned(),
        arch: image
            .architecture()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        state: image
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        public: image.public().unwrap_or(false),
        deprecation_time: image.deprecation_time().and_then(timestamp),
        created_on: image.creation_date().and_then(timestamp),
        tags: image
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        protected: is_protected(image.deregistration_protection()),
    })
}

/// EC2 says `disabled`, `enabled`, or `enabled-with-cooldown` (protection on, and it stays
/// on for a day after it is turned off).
fn is_protected(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("enabled"))
}

/// An ISO 8601 time as EC2 and AWS Marketplace write them.
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Reads one listing's AMI product: its id (found by name when the catalogue has none) and
/// every version's delivery options, their visibility and source images.
pub async fn read_listing(cloud: &Cloud, target: &ListingTarget) -> ListingSnapshot {
    let client = cloud.marketplace();
    let failed = |entity_id: String, error: String| ListingSnapshot {
        listing_id: target.listing_id,
        entity_id,
        versions: None,
        error: Some(error),
    };
    let entity_id = match &target.entity_id {
        Some(id) => id.clone(),
        None => match find_entity(&client, &target.entity_name).await {
            Ok(id) => id,
            Err(e) => return failed(String::new(), error_text(e)),
        },
    };
    let details = match entity_details(&client, &entity_id).await {
        Ok(details) => details,
        Err(e) => return failed(entity_id, error_text(e)),
    };
    ListingSnapshot {
        listing_id: target.listing_id,
        entity_id,
        versions: Some(versions_of(&details)),
        error: None,
    }
}

/// One [`SeenVersion`] per delivery option of each version of an AMI product's details,
/// with the images of the sources that option delivers (every source of the version when
/// the option names none).
pub fn versions_of(details: &serde_json::Value) -> Vec<SeenVersion> {
    let mut seen = Vec::new();
    for version in details["Versions"].as_array().into_iter().flatten() {
        let sources: Vec<(String, String)> = version["Sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["Id"].as_str().unwrap_or_default().to_owned(),
                    s["Image"].as_str()?.to_owned(),
                ))
            })
            .collect();
        for option in version["DeliveryOptions"].as_array().into_iter().flatten() {
            let Some(option_id) = option["Id"].as_str() else {
                continue;
            };
            let source = option["SourceId"].as_str();
            let mut amis: Vec<String> = sources
                .iter()
                .filter(|(id, _)| source.is_none_or(|s| s == id))
                .map(|(_, image)| image.clone())
                .collect();
            if amis.is_empty()
                && let Some(ami) = option["AmiId"].as_str()
            {
                amis.push(ami.to_owned());
            }
            seen.push(SeenVersion {
                version_id: version["Id"].as_str().unwrap_or_default().to_owned(),
                delivery_option_id: option_id.to_owned(),
                title: version["VersionTitle"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                visibility: option["Visibility"].as_str().unwrap_or_default().to_owned(),
                created: version["CreationDate"]
                    .as_str()
                    .or_else(|| option["CreationDate"].as_str())
                    .and_then(timestamp),
                amis,
            });
        }
    }
    seen
}

fn error_text(e: JobError) -> String {
    match e {
        JobError::Retryable(e) | JobError::Fatal(e) => format!("{e:#}"),
        JobError::Blocked { error, .. } => format!("{error:#}"),
        JobError::Cancelled => "cancelled".to_owned(),
        JobError::LeaseLost => "another worker took the job over".to_owned(),
    }
}

/// Runs the sync at start and then, every `every` (looking each `tick`, in whichever
/// process takes the turn), until `shutdown` turns true. With `every` zero only the sync
/// at start runs; more come on demand.
pub async fn run_schedule(
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
    tick: StdDuration,
    every: chrono::Duration,
) {
    let scheduled = every > chrono::Duration::zero();
    // At start: the scheduled turn when it is due (so the next one is `every` from now),
    // otherwise a sync of its own.
    let turn = if scheduled {
        account::scheduled_sync(&state.db, state.clock.now(), every).await
    } else {
        Ok(None)
    };
    let at_start = match turn {
        Ok(Some(id)) => Ok(id),
        Ok(None) => account::queue_sync(&state.db, state.clock.now(), "portal").await,
        Err(err) => {
            tracing::warn!(error = %err.message, "the account sync's schedule could not be read");
            account::queue_sync(&state.db, state.clock.now(), "portal").await
        }
    };
    match at_start {
        Ok(job) => tracing::info!(job, "the account sync at start is queued"),
        Err(err) => {
            tracing::warn!(error = %err.message, "could not queue the account sync at start")
        }
    }
    if !scheduled {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match account::scheduled_sync(&state.db, state.clock.now(), every).await {
            Ok(Some(job)) => tracing::info!(job, "the scheduled account sync is queued"),
            Ok(None) => {}
            Err(err) => tracing::warn!(
                error = %err.message,
                "the scheduled account sync could not be queued; trying again in a minute"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delivery_option_is_a_version_with_the_images_it_delivers() {
        let details = serde_json::json!({
            "Versions": [
                {
                    "Id": "v-1",
                    "VersionTitle": "GitLab 17.5.1 Release",
                    "CreationDate": "2024-10-24T10:00:00Z",
                    "Sources": [
                        { "Id": "s-1", "Image": "ami-0123" },
                        { "Id": "s-2", "Image": "ami-0456" }
                    ],
                    "DeliveryOptions": [
                        { "Id": "do-1", "SourceId": "s-2", "Visibility": "Restricted" },
                        { "Id": "do-2", "Visibility": "Public" }
                    ]
                },
                { "Id": "v-2", "VersionTitle": "No options" }
            ]
        });
        let seen = versions_of(&details);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].delivery_option_id, "do-1");
        assert_eq!(seen[0].amis, vec!["ami-0456".to_owned()]);
        assert_eq!(seen[0].visibility, "Restricted");
        assert_eq!(
            seen[0].created,
            Some(
                DateTime::parse_from_rfc3339("2024-10-24T10:00:00Z")
                    .expect("time")
                    .with_timezone(&Utc)
            )
        );
        assert_eq!(
            seen[1].amis,
            vec!["ami-0123".to_owned(), "ami-0456".to_owned()]
        );
        assert!(is_public(&seen[1]));
    }

    #[test]
    fn a_document_reads_back_as_the_json_it_was() {
        let value = serde_json::json!({
            "Versions": [{ "Id": "v-1", "Count": 3, "Below": -2, "Share": 0.5, "On": true, "None": null }]
        });
        assert_eq!(
            crate::cloud::json_of(&crate::cloud::document(value.clone())),
            value
        );
    }

    #[test]
    fn protection_is_on_when_ec2_says_enabled() {
        assert!(is_protected(Some("enabled")));
        assert!(is_protected(Some("enabled-with-cooldown")));
        assert!(!is_protected(Some("disabled")));
        assert!(!is_protected(None));
    }

    #[test]
    fn a_sync_fails_only_when_no_read_succeeded() {
        let region = |images: Option<Vec<SeenImage>>| RegionSnapshot {
            region: "eu-west-1".into(),
            images,
            images_error: Some("DescribeImages: throttled".into()),
            quota: None,
            quota_error: Some("GetServiceQuota: throttled".into()),
            recycle_bin: None,
            recycle_bin_error: None,
        };
        let failed = AccountSnapshot {
            regions: vec![region(None)],
            listings: vec![],
        };
        let errors = nothing_read(&failed).expect("every read failed");
        assert_eq!(errors.len(), 2, "{errors:?}");
        let some = AccountSnapshot {
            regions: vec![region(Some(vec![]))],
            listings: vec![],
        };
        assert!(nothing_read(&some).is_none());
        let empty = AccountSnapshot {
            regions: vec![],
            listings: vec![],
        };
        assert!(nothing_read(&empty).is_none());
        assert_eq!(share(3, 6, 0, 60), 30);
        assert_eq!(share(1, 1, 90, 99), 99);
    }
}
