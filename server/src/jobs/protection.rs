//! Deregistration protection of the images behind live marketplace versions: turned on
//! by the publish once its version is live and by the cloud sync for whatever it finds
//! without, turned off by the restriction job (and the sync) once every version using the
//! image is restricted.

use std::collections::BTreeSet;

use app::services::account;

use aws_smithy_types::error::display::DisplayErrorContext;

use super::JobContext;
use crate::cloud::Cloud;

/// Turns an image's deregistration protection on or off (both idempotent on EC2); the
/// error says what EC2 answered.
pub async fn set_protection(
    cloud: &Cloud,
    region: &str,
    image_id: &str,
    enable: bool,
) -> Result<(), String> {
    let ec2 = cloud.ec2(region);
    let call = |name: &str| format!("{name} {image_id} in {region}");
    if enable {
        ec2.enable_image_deregistration_protection()
            .image_id(image_id)
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error(&call("EnableImageDeregistrationProtection"), &e))
    } else {
        ec2.disable_image_deregistration_protection()
            .image_id(image_id)
            .send()
            .await
            .map(drop)
            .map_err(|e| call_error(&call("DisableImageDeregistrationProtection"), &e))
    }
}

/// After a publish or a restriction: turns protection on (or off) for `images` in `region`,
/// records it, and logs each call on the job. A failure does not fail the job: the next
/// sync plans the call again.
pub(super) async fn protect_after(
    cloud: &Cloud,
    ctx: &JobContext,
    region: &str,
    images: &BTreeSet<String>,
    enable: bool,
) {
    for image in images {
        match set_protection(cloud, region, image, enable).await {
            Ok(()) => {
                if let Err(e) = account::record_protection(
                    &ctx.state.db,
                    ctx.state.clock.now(),
                    region,
                    image,
                    enable,
                )
                .await
                {
                    tracing::warn!(error = %e.message, image, "could not record the protection");
                }
                ctx.log(format!(
                    "deregistration protection {} for {image} in {region}",
                    if enable { "on" } else { "off" }
                ))
                .await;
            }
            Err(e) => {
                ctx.log(format!(
                    "deregistration protection could not be turned {} for {image} in {region}: {e}; the next sync of the account tries again",
                    if enable { "on" } else { "off" }
                ))
                .await;
            }
        }
    }
}

/// A call that failed, as the sync and the jobs report it: the call, then what the SDK said and why.
pub(super) fn call_error(call: &str, e: &impl std::error::Error) -> String {
    format!("{call}: {}", DisplayErrorContext(e))
}
