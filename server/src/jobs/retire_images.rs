//! Retires the public images of an approved retention proposal, exactly the dry run's list:
//! deprecates them, makes them private, or deregisters them and deletes their snapshots.
//! Each image's outcome is recorded in the catalogue as it is done, so a retried job picks
//! up where it stopped; the snapshots of an image are saved before it is deregistered, so
//! a crash in between still deletes them. An image with deregistration protection on (one
//! behind a live marketplace version) is left as it is, and its outcome says why.

use std::sync::Arc;

use anyhow::anyhow;
use aws_sdk_ec2::{
    error::ProvideErrorMetadata,
    primitives::DateTime as AwsDateTime,
    types::{LaunchPermission, LaunchPermissionModifications, PermissionGroup},
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use app::{
    domain::{RegionImageState, RetentionAction},
    dto::{RetentionItem, RetentionOutcome},
    services::retention::{self, RetireImages},
};

use super::{JobContext, JobError, JobHandler, JobResult, Outcome, build_image::cloud_err};
use crate::cloud::Cloud;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RetireState {
    /// The image being deregistered and its snapshots, saved before deregistering it.
    #[serde(default)]
    deregistering: Option<(i32, Vec<String>)>,
}

/// Why EC2 will not deregister an image now, from what `DescribeImages` says of its
/// deregistration protection: on, or turned off but holding for its cooldown.
fn protection_note(value: Option<&str>, now: DateTime<Utc>) -> Option<String> {
    let value = value?.trim();
    if value.starts_with("enabled") {
        return Some(
            "not deregistered: its deregistration protection is on (it is behind a live marketplace version, or was protected in the console); restrict that version or turn the protection off first, then propose it again"
                .to_owned(),
        );
    }
    let until = value.strip_prefix("disabled-until-")?;
    let until = DateTime::parse_from_rfc3339(until)
        .ok()?
        .with_timezone(&Utc);
    (until > now).then(|| {
        format!(
            "not deregistered: its deregistration protection was turned off but holds until {} (its cooldown); propose it again after that",
            until.format("%Y-%m-%d %H:%M UTC")
        )
    })
}

/// Whether EC2 refused a deregistration because the image is protected.
fn refused_for_protection(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("protect"))
}

/// Runs [`RetireImages`] jobs.
pub struct Handler {
    cloud: Arc<Cloud>,
}

impl Handler {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Handler { cloud }
    }

    /// Acts on one image; answers what it is now.
    async fn retire(
        &self,
        ctx: &mut JobContext,
        st: &mut RetireState,
        action: RetentionAction,
        item: &RetentionItem,
        progress: i32,
    ) -> Result<RetentionOutcome, JobError> {
        let ec2 = self.cloud.ec2(&item.region);
        let id = item.image_id.as_str();
        let region = item.region.as_str();
        let found = match ec2
            .describe_images()
            .image_ids(id)
            .owners("self")
            .send()
            .await
        {
            Ok(out) => out.images().first().cloned(),
            Err(e) if e.code() == Some("InvalidAMIID.NotFound") => None,
            Err(e) => return Err(cloud_err(&format!("looking up {id} in {region}"), e)),
        };
        let outcome = |state, deleted_snapshots, note: String| RetentionOutcome {
            image_region_id: item.image_region_id,
            state,
            deleted_snapshots,
            note,
        };
        let Some(image) = found else {
            // Gone already: deregistered by hand, or by this job before a crash.
            let snapshots = match st.deregistering.take() {
                Some((region_id, snaps)) if region_id == item.image_region_id => snaps,
                _ => Vec::new(),
            };
            let deleted = self.delete_snapshots(region, &snapshots).await?;
            return Ok(outcome(
                RegionImageState::Deregistered,
                deleted,
                "no longer exists in the account".into(),
            ));
        };
        match action {
            RetentionAction::Deprecate => {
                // AWS takes the next whole minute or later.
                let at = (ctx.state.clock.now().timestamp() / 60 + 1) * 60;
                ec2.enable_image_deprecation()
                    .image_id(id)
                    .deprecate_at(AwsDateTime::from_secs(at))
                    .send()
                    .await
                    .map_err(|e| cloud_err(&format!("deprecating {id} in {region}"), e))?;
                Ok(outcome(
                    RegionImageState::Deprecated,
                    Vec::new(),
                    "deprecated; still public".into(),
                ))
            }
            RetentionAction::MakePrivate => {
                ec2.modify_image_attribute()
                    .image_id(id)
                    .launch_permission(
                        LaunchPermissionModifications::builder()
                            .remove(
                                LaunchPermission::builder()
                                    .group(PermissionGroup::All)
                                    .build(),
                            )
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| cloud_err(&format!("making {id} private in {region}"), e))?;
                Ok(outcome(
                    RegionImageState::Private,
                    Vec::new(),
                    "made private".into(),
                ))
            }
            RetentionAction::Deregister => {
                // A protected image stays as it is; its outcome says why.
                let kept = |note: String| outcome(item.state, Vec::new(), note);
                if let Some(note) =
                    protection_note(image.deregistration_protection(), ctx.state.clock.now())
                {
                    return Ok(kept(note));
                }
                let snapshots: Vec<String> = image
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                    .map(str::to_owned)
                    .collect();
                st.deregistering = Some((item.image_region_id, snapshots.clone()));
                ctx.save(progress, &format!("deregistering {id} in {region}"), st)
                    .await?;
                match ec2.deregister_image().image_id(id).send().await {
                    Ok(_) => {}
                    Err(e) if e.code() == Some("InvalidAMIID.NotFound") => {}
                    Err(e) if refused_for_protection(e.message()) => {
                        st.deregistering = None;
                        return Ok(kept(format!(
                            "not deregistered: EC2 refused it for its deregistration protection ({}); turn the protection off first, then propose it again",
                            e.message().unwrap_or_default()
                        )));
                    }
                    Err(e) => {
                        return Err(cloud_err(&format!("deregistering {id} in {region}"), e));
                    }
                }
                let deleted = self.delete_snapshots(region, &snapshots).await?;
                st.deregistering = None;
                Ok(outcome(
                    RegionImageState::Deregistered,
                    deleted.clone(),
                    format!(
                        "deregistered; snapshots deleted: {}",
                        if deleted.is_empty() {
                            "none".to_owned()
                        } else {
                            deleted.join(", ")
                        }
                    ),
                ))
            }
        }
    }

    /// Deletes snapshots; one already gone counts as deleted.
    async fn delete_snapshots(
        &self,
        region: &str,
        snapshots: &[String],
    ) -> Result<Vec<String>, JobError> {
        let ec2 = self.cloud.ec2(region);
        for snap in snapshots {
            match ec2.delete_snapshot().snapshot_id(snap).send().await {
                Ok(_) => {}
                Err(e) if e.code() == Some("InvalidSnapshot.NotFound") => {}
                Err(e) if e.code() == Some("InvalidSnapshot.InUse") => {
                    return Err(JobError::Fatal(anyhow!(
                        "snapshot {snap} in {region} is still used by another image: {}",
                        e.message().unwrap_or_default()
                    )));
                }
                Err(e) => {
                    return Err(cloud_err(
                        &format!("deleting snapshot {snap} in {region}"),
                        e,
                    ));
                }
            }
        }
        Ok(snapshots.to_vec())
    }
}

impl JobHandler for Handler {
    type Kind = RetireImages;

    fn run<'a>(
        &'a self,
        ctx: &'a mut JobContext,
        payload: RetireImages,
    ) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            let id = payload.proposal_id;
            let (action, items, done) = retention::plan(&ctx.state.db, id)
                .await
                .map_err(|e| JobError::Fatal(anyhow!("{}", e.message)))?;
            let mut st: RetireState = ctx.checkpoint()?;
            let total = items.len().max(1);
            for (i, item) in items.iter().enumerate() {
                if done
                    .iter()
                    .any(|o| o.image_region_id == item.image_region_id)
                {
                    continue;
                }
                let progress = i32::try_from(i * 100 / total).unwrap_or(99);
                let outcome = match self.retire(ctx, &mut st, action, item, progress).await {
                    Ok(outcome) => outcome,
                    Err(JobError::Fatal(e)) => {
                        let why = format!("{e:#}");
                        retention::finish(&ctx.state.db, ctx.state.clock.now(), id, Some(&why))
                            .await
                            .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                        return Err(JobError::Fatal(e));
                    }
                    Err(e) => return Err(e),
                };
                ctx.log(format!(
                    "{} ({} {}) in {}: {}",
                    item.image_id, item.version, item.arch, item.region, outcome.note
                ))
                .await;
                retention::record_outcome(&ctx.state.db, ctx.state.clock.now(), id, outcome)
                    .await
                    .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
                ctx.save(
                    progress,
                    &format!("{} of {} images done", i + 1, items.len()),
                    &st,
                )
                .await?;
            }
            retention::finish(&ctx.state.db, ctx.state.clock.now(), id, None)
                .await
                .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
            ctx.save(100, "done", &st).await?;
            Ok(Outcome::Done(serde_json::json!({
                "proposal_id": id,
                "action": action.as_str(),
                "images": items.len(),
            })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_that_holds_is_named_in_the_outcome() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        for on in [
            "enabled",
            "enabled-without-cooldown",
            "enabled-with-cooldown",
        ] {
            let note = protection_note(Some(on), now).expect("held");
            assert!(note.contains("deregistration protection is on"), "{note}");
        }
        let cooling =
            protection_note(Some("disabled-until-2026-11-30T08:00:00Z"), now).expect("still held");
        assert!(
            cooling.contains("holds until 2026-11-30 08:00 UTC"),
            "{cooling}"
        );
        assert_eq!(
            protection_note(Some("disabled-until-2026-11-29T08:00:00Z"), now),
            None
        );
        assert_eq!(protection_note(Some("disabled"), now), None);
        assert_eq!(protection_note(None, now), None);
        assert!(refused_for_protection(Some(
            "Image ami-1 cannot be deregistered because deregistration protection is enabled-without-cooldown."
        )));
        assert!(!refused_for_protection(Some("The image id does not exist")));
    }
}
