//! Builds one image (product × release × architecture) on EC2, the way GitLab's packer
//! templates do, as a step machine that saves its state after every step:
//!
//! base image → launch builder → wait until the install reports on the builder's serial
//! console and powers it off (`stopped`, then `GetConsoleOutput` says
//! [`console::RESULT_MARKER`] `ok`) → stop (a no-op once it is stopped) → create image → wait →
//! launch permission → copy to every target region → wait → publish copies → terminate
//! builder → record every regional image in the catalogue.
//!
//! Two guards hold whatever the catalogue says by now: the base image comes only from an
//! account of `PORTAL_BASE_IMAGE_OWNERS`, and an image that carries a license file is never
//! made public (checked before the build starts and again right before each launch
//! permission is set).
//!
//! Every call can be repeated: instances are launched and images copied with a `ClientToken`
//! made from the job, and an image is looked up by its name and the job's `portal:job` tag
//! before it is created, so a job killed at any step and run again ends with one builder and
//! one image per region. A rebuild (`BuildImage::rebuild` above 1) makes a new image with a
//! name of its own (`… (rebuild N)`), never taking an earlier image of the release.
//!
//! Every wait has a deadline (`PORTAL_BUILD_*_TIMEOUT_MINUTES`), measured on the portal's
//! clock from when the wait began (saved in the job's state): past it the builder is
//! terminated and the job fails with what it saw. A failed install also terminates the
//! builder; a retry launches a new one.

pub mod console;
pub mod image;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use anyhow::anyhow;
use aws_sdk_ec2::{
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::{
        BlockDeviceMapping, EbsBlockDevice, Filter, ImageState, InstanceStateName, InstanceType,
        LaunchPermission, LaunchPermissionModifications, PermissionGroup, ResourceType, Tag,
        TagSpecification, VolumeType,
    },
};
use base64::Engine as _;
use futures::future::{BoxFuture, join_all};
use serde::{Deserialize, Serialize};

use app::{
    domain::{
        Arch, BUILD_STEPS, ImageState as CatalogueState, RegionImageState, Version, Visibility,
    },
    dto::{ImageRegionInput, ImageVersionInput, Product},
    services::{
        images, process, products,
        secrets::{self, SecretValue},
        users,
    },
};

use super::{JobContext, JobError, JobHandler, JobResult, Outcome};
use crate::cloud::Cloud;
use console::BuildResult;
use image::{description, image_tags, install_script, redacted_user_data};

pub use app::services::builds::BuildImage;

/// Where the build is; saved after every step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct BuildState {
    step: Step,
    base_image: Option<String>,
    /// The base image's name, recorded with the image so the daily base-image check can say
    /// what it was built from.
    #[serde(default)]
    base_image_name: Option<String>,
    instance_id: Option<String>,
    image_id: Option<String>,
    /// Region → image id of the copies.
    copies: BTreeMap<String, String>,
    /// Regions whose image has its launch permission.
    published: BTreeSet<String>,
    /// Whether the builder was given the product's license file, so the image carries it.
    #[serde(default)]
    licensed: bool,
    /// The user data the builder was given, with the license replaced by
    /// [`image::LICENSE_REDACTED`]: what the job page and `GET /api/v1/jobs/{id}/user-data` show.
    #[serde(default)]
    user_data: Option<String>,
    /// When the current step began to wait, on the portal's clock: its deadline counts
    /// from here.
    #[serde(default)]
    wait_started: Option<chrono::DateTime<chrono::Utc>>,
    /// When this run of the job first waited: the build's overall deadline counts from here.
    #[serde(default)]
    waiting_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Builders launched before this one, whose install failed or ran out of time.
    #[serde(default)]
    relaunches: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    #[default]
    FindBase,
    Launch,
    WaitInstall,
    Stop,
    CreateImage,
    WaitImage,
    Permission,
    Copy,
    WaitCopies,
    PublishCopies,
    Terminate,
    Record,
}

impl Step {
    const ORDER: [Step; 12] = [
        Step::FindBase,
        Step::Launch,
        Step::WaitInstall,
        Step::Stop,
        Step::CreateImage,
        Step::WaitImage,
        Step::Permission,
        Step::Copy,
        Step::WaitCopies,
        Step::PublishCopies,
        Step::Terminate,
        Step::Record,
    ];

    /// How the step reads, from the list the job page shows.
    fn label(self) -> &'static str {
        BUILD_STEPS[self.index()].1
    }

    fn index(self) -> usize {
        Step::ORDER.iter().position(|s| *s == self).unwrap_or(0)
    }

    fn progress(self) -> i32 {
        let index = Step::ORDER.iter().position(|s| *s == self).unwrap_or(0) as i32;
        index * 100 / Step::ORDER.len() as i32
    }

    fn next(self) -> Step {
        let index = Step::ORDER.iter().position(|s| *s == self).unwrap_or(0);
        Step::ORDER.get(index + 1).copied().unwrap_or(Step::Record)
    }
}

/// Runs [`BuildImage`] jobs.
pub struct Handler {
    cloud: Arc<Cloud>,
}

impl Handler {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Handler { cloud }
    }
}

impl JobHandler for Handler {
    type Kind = BuildImage;

    fn run<'a>(&'a self, ctx: &'a mut JobContext, payload: BuildImage) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            match self.resume(ctx, &payload).await {
                Err(JobError::Cancelled) => {
                    self.clean_up(ctx, &payload).await;
                    Err(JobError::Cancelled)
                }
                other => other,
            }
        })
    }
}

/// An EC2 error as a job error: throttling and 5xx pass, the rest is named.
pub(super) fn cloud_err<E, R>(what: &str, err: SdkError<E, R>) -> JobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    JobError::Retryable(anyhow!("{what}: {}", DisplayErrorContext(&err)))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tags_for(resource: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    tags.iter()
        .fold(
            TagSpecification::builder().resource_type(resource),
            |b, (k, v)| b.tags(tag(k, v)),
        )
        .build()
}

/// The base image lookup of a build (and of the daily base-image check, which must see what
/// a build would take): the available images of `owner` whose name matches `pattern` (the
/// product's filter with `{arch}` filled in). The newest by creation date is the one.
pub(crate) fn base_images(
    ec2: &aws_sdk_ec2::Client,
    owner: &str,
    pattern: &str,
) -> aws_sdk_ec2::operation::describe_images::builders::DescribeImagesFluentBuilder {
    ec2.describe_images()
        .owners(owner)
        .filters(Filter::builder().name("name").values(pattern).build())
        .filters(Filter::builder().name("state").values("available").build())
}

/// A `ClientToken` for one call of one job: the same on every retry, unique across jobs.
fn client_token(job_id: i32, purpose: &str) -> String {
    format!("portal-{job_id}-{purpose}")
        .chars()
        .take(64)
        .collect()
}

struct Plan {
    /// The license file written onto licensed images; never logged.
    license: Option<SecretValue>,
    product: Product,
    version: Version,
    arch: Arch,
    name: String,
    /// Which image of the release × product × architecture: 1 for the first, 2 and up for
    /// rebuilds (the name says so).
    rebuild: i32,
    instance_type: String,
    type_tag: String,
}

impl Handler {
    async fn plan(&self, ctx: &JobContext, payload: &BuildImage) -> Result<Plan, JobError> {
        let product = products::get(&ctx.state.db, &payload.partner, &payload.product)
            .await
            .map_err(|e| {
                JobError::Fatal(anyhow!(
                    "the product {}/{} is not in the catalogue: {e}",
                    payload.partner,
                    payload.product
                ))
            })?;
        let version = Version::parse(&payload.version).map_err(|e| JobError::Fatal(anyhow!(e)))?;
        let arch = product
            .architectures
            .iter()
            .find(|a| a.arch == payload.arch)
            .ok_or_else(|| {
                JobError::Fatal(anyhow!(
                    "{} is not built for {}",
                    product.name,
                    payload.arch
                ))
            })?
            .clone();
        if !ctx
            .state
            .base_image_owners
            .allows(&product.base_image_owner)
        {
            return Err(JobError::Fatal(anyhow!(
                "refusing to build on a base image owned by {}: base images may only come from {} (PORTAL_BASE_IMAGE_OWNERS); correct the product's base image owner, then retry",
                product.base_image_owner,
                ctx.state.base_image_owners.listed()
            )));
        }
        if product.license_required && product.visibility == Visibility::Public {
            return Err(JobError::Fatal(anyhow!(
                "refusing to build {}: it is public and carries a license file, which would be shared with everyone; make the product private, then retry",
                product.name
            )));
        }
        let license = if product.license_required {
            let name = secrets::license_name(&product.partner_slug, &product.slug);
            let value = secrets::reveal(&ctx.state.db, &ctx.state.secret_key, &name)
                .await
                .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
            Some(value.ok_or_else(|| {
                JobError::Fatal(anyhow!("{} needs a license file and none is set: set it on the product's page, then retry", product.name))
            })?)
        } else {
            None
        };
        Ok(Plan {
            license,
            name: images::image_name(&arch.image_name_template, &version, payload.rebuild),
            rebuild: payload.rebuild,
            instance_type: arch.builder_instance_type,
            type_tag: arch.type_tag,
            product,
            version,
            arch: payload.arch,
        })
    }

    async fn resume(&self, ctx: &mut JobContext, payload: &BuildImage) -> JobResult {
        let plan = self.plan(ctx, payload).await?;
        let mut st: BuildState = ctx.checkpoint()?;
        if st.step == Step::FindBase && st.base_image.is_none() {
            self.record(ctx, &plan, CatalogueState::Building, &st)
                .await?;
        }
        loop {
            ctx.check().await?;
            let step = st.step;
            match self.step(ctx, &plan, &mut st).await? {
                StepResult::Next => {
                    st.step = step.next();
                    st.wait_started = None;
                    let done = step == Step::Record;
                    ctx.save(
                        if done { 100 } else { st.step.progress() },
                        if done { "built" } else { st.step.label() },
                        &st,
                    )
                    .await?;
                    if done {
                        ctx.log(format!(
                            "built {} in {} regions",
                            plan.name,
                            st.copies.len() + 1
                        ))
                        .await;
                        return Ok(Outcome::Done(serde_json::json!({
                            "name": plan.name,
                            "image_id": st.image_id,
                            "copies": st.copies,
                        })));
                    }
                }
                StepResult::Wait(why) => {
                    let now = ctx.state.clock.now();
                    let since = *st.waiting_since.get_or_insert(now);
                    let overall = self.cloud.build_timeouts.overall();
                    if now - since > overall {
                        let error = anyhow!(
                            "the build has been waiting since {} and is past its overall deadline of {} minutes (the three PORTAL_BUILD_*_TIMEOUT_MINUTES and an hour); it was {} ({why})",
                            since.format("%Y-%m-%d %H:%M UTC"),
                            overall.num_minutes(),
                            step.label()
                        );
                        return self.give_up(ctx, &plan, &mut st, error, false).await;
                    }
                    ctx.save(step.progress(), &format!("{} ({why})", step.label()), &st)
                        .await?;
                    return Ok(Outcome::WaitFor(self.cloud.poll));
                }
                StepResult::Fail { error, relaunch } => {
                    return self.give_up(ctx, &plan, &mut st, error, relaunch).await;
                }
            }
        }
    }

    async fn step(
        &self,
        ctx: &JobContext,
        plan: &Plan,
        st: &mut BuildState,
    ) -> Result<StepResult, JobError> {
        let build_region = plan.product.build_region.clone();
        let ec2 = self.cloud.ec2(&build_region);
        match st.step {
            Step::FindBase => {
                let pattern = plan
                    .product
                    .base_image_name_pattern
                    .replace("{arch}", plan.arch.as_str());
                let found = base_images(&ec2, &plan.product.base_image_owner, &pattern)
                    .send()
                    .await
                    .map_err(|e| cloud_err("looking for the base image", e))?;
                let newest = found
                    .images()
                    .iter()
                    .filter(|i| i.image_id().is_some())
                    .max_by_key(|i| i.creation_date().unwrap_or_default().to_owned());
                let Some(image) = newest else {
                    return Err(JobError::Fatal(anyhow!(
                        "no base image named '{pattern}' owned by {} in {build_region}: check the product's base image filter",
                        plan.product.base_image_owner
                    )));
                };
                st.base_image = image.image_id().map(str::to_owned);
                st.base_image_name = image.name().map(str::to_owned);
                ctx.log(format!(
                    "base image {} ({})",
                    image.image_id().unwrap_or_default(),
                    image.name().unwrap_or_default()
                ))
                .await;
                Ok(StepResult::Next)
            }
            Step::Launch => {
                let base = st
                    .base_image
                    .clone()
                    .ok_or_else(|| JobError::Fatal(anyhow!("no base image was found")))?;
                let tags = vec![
                    ("Name".to_owned(), format!("builder: {}", plan.name)),
                    ("portal:job".to_owned(), ctx.job.id.to_string()),
                    (
                        "portal:build".to_owned(),
                        format!("{}/{}/{}", plan.product.slug, plan.version, plan.arch),
                    ),
                ];
                let user_data = install_script(plan);
                if user_data.len() > image::USER_DATA_LIMIT {
                    return Err(JobError::Fatal(anyhow!(
                        "the builder's user data is {} bytes, over EC2's limit of {} (is the product's license file larger than a license?)",
                        user_data.len(),
                        image::USER_DATA_LIMIT
                    )));
                }
                let out = ec2
                    .run_instances()
                    .image_id(base)
                    .instance_type(InstanceType::from(plan.instance_type.as_str()))
                    .min_count(1)
                    .max_count(1)
                    .client_token(client_token(ctx.job.id, &builder_token(st.relaunches)))
                    .user_data(base64::engine::general_purpose::STANDARD.encode(&user_data))
                    .block_device_mappings(
                        BlockDeviceMapping::builder()
                            .device_name("/dev/sda1")
                            .ebs(
                                EbsBlockDevice::builder()
                                    .volume_size(plan.product.root_volume_gb)
                                    .volume_type(VolumeType::Gp2)
                                    .delete_on_termination(true)
                                    .build(),
                            )
                            .build(),
                    )
                    .tag_specifications(tags_for(ResourceType::Instance, &tags))
                    .send()
                    .await
                    .map_err(|e| cloud_err("launching the builder", e))?;
                let id = out
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id())
                    .ok_or_else(|| {
                        JobError::Retryable(anyhow!("RunInstances returned no instance"))
                    })?;
                st.instance_id = Some(id.to_owned());
                st.licensed = plan.license.is_some();
                st.user_data = Some(redacted_user_data(plan));
                ctx.log(format!(
                    "builder {id} ({}) launched in {build_region}",
                    plan.instance_type
                ))
                .await;
                Ok(StepResult::Next)
            }
            Step::WaitInstall => self.wait_install(ctx, &ec2, st).await,
            Step::Stop => {
                let id = st.instance_id.clone().unwrap_or_default();
                let (state, _) = self.instance(&ec2, st).await?;
                match state {
                    Some(InstanceStateName::Stopped) => Ok(StepResult::Next),
                    Some(InstanceStateName::Stopping) => Ok(StepResult::Wait("stopping".into())),
                    _ => {
                        ec2.stop_instances()
                            .instance_ids(&id)
                            .send()
                            .await
                            .map_err(|e| cloud_err("stopping the builder", e))?;
                        let (state, _) = self.instance(&ec2, st).await?;
                        if state == Some(InstanceStateName::Stopped) {
                            Ok(StepResult::Next)
                        } else {
                            Ok(StepResult::Wait("stopping".into()))
                        }
                    }
                }
            }
            Step::CreateImage => {
                if let Some(existing) = self.own_image(&ec2, &plan.name, ctx.job.id).await? {
                    ctx.log(format!(
                        "image {existing} already exists (an earlier attempt made it)"
                    ))
                    .await;
                    st.image_id = Some(existing);
                    return Ok(StepResult::Next);
                }
                let out = ec2
                    .create_image()
                    .instance_id(st.instance_id.clone().unwrap_or_default())
                    .name(&plan.name)
                    .description(description(plan))
                    .tag_specifications(tags_for(
                        ResourceType::Image,
                        &image_tags(plan, ctx.job.id),
                    ))
                    .send()
                    .await
                    .map_err(|e| cloud_err("creating the image", e))?;
                let id = out.image_id().ok_or_else(|| {
                    JobError::Retryable(anyhow!("CreateImage returned no image id"))
                })?;
                ctx.log(format!("image {id} created from the builder"))
                    .await;
                st.image_id = Some(id.to_owned());
                Ok(StepResult::Next)
            }
            Step::WaitImage => {
                let id = st.image_id.clone().unwrap_or_default();
                let deadline = self.deadline(ctx, st, self.cloud.build_timeouts.image);
                match self.image_state(&ec2, &id).await? {
                    Some(ImageState::Available) => Ok(StepResult::Next),
                    Some(ImageState::Failed) => Err(JobError::Fatal(anyhow!(
                        "image {id} failed to build in {build_region}"
                    ))),
                    other => {
                        let state = other.as_ref().map_or("unknown", |s| s.as_str()).to_owned();
                        match deadline {
                            Some(minutes) => Ok(StepResult::Fail {
                                error: anyhow!(
                                    "image {id} was not available within {minutes} minutes (PORTAL_BUILD_IMAGE_TIMEOUT_MINUTES): it was still {state} in {build_region}"
                                ),
                                relaunch: false,
                            }),
                            None => Ok(StepResult::Wait(format!("image {state}"))),
                        }
                    }
                }
            }
            Step::Permission => {
                let id = st.image_id.clone().unwrap_or_default();
                let visibility = self.sharing(ctx, plan, st).await?;
                self.permit(ctx, visibility, &build_region, &id).await?;
                st.published.insert(build_region);
                Ok(StepResult::Next)
            }
            Step::Copy => {
                let source = st.image_id.clone().unwrap_or_default();
                let missing: Vec<String> = plan
                    .product
                    .target_regions
                    .iter()
                    .filter(|r| **r != build_region && !st.copies.contains_key(*r))
                    .cloned()
                    .collect();
                let calls = missing.iter().map(|region| {
                    let client = self.cloud.ec2(region);
                    let (source, build_region, name, region) = (
                        source.clone(),
                        build_region.clone(),
                        plan.name.clone(),
                        region.clone(),
                    );
                    let token = client_token(ctx.job.id, &format!("copy-{region}"));
                    let description = description(plan);
                    async move {
                        let out = client
                            .copy_image()
                            .source_region(build_region)
                            .source_image_id(source)
                            .name(name)
                            .description(description)
                            .client_token(token)
                            .send()
                            .await;
                        (region, out)
                    }
                });
                let mut failure = None;
                for (region, out) in join_all(calls).await {
                    match out {
                        Ok(out) => {
                            if let Some(id) = out.image_id() {
                                st.copies.insert(region, id.to_owned());
                            }
                        }
                        Err(e) => {
                            failure = Some(cloud_err(&format!("copying the image to {region}"), e))
                        }
                    }
                }
                ctx.log(format!("copies started in {} regions", st.copies.len()))
                    .await;
                // What was copied is kept; a failed region is copied again on the retry.
                match failure {
                    Some(e) => Err(e),
                    None => Ok(StepResult::Next),
                }
            }
            Step::WaitCopies => {
                let checks = st.copies.iter().map(|(region, id)| {
                    let client = self.cloud.ec2(region);
                    let (region, id) = (region.clone(), id.clone());
                    async move { (region, self.image_state(&client, &id).await) }
                });
                let mut pending = Vec::new();
                for (region, state) in join_all(checks).await {
                    match state? {
                        Some(ImageState::Available) => {}
                        Some(ImageState::Failed) => {
                            return Err(JobError::Fatal(anyhow!("the copy in {region} failed")));
                        }
                        _ => pending.push(region),
                    }
                }
                if pending.is_empty() {
                    Ok(StepResult::Next)
                } else if let Some(minutes) =
                    self.deadline(ctx, st, self.cloud.build_timeouts.copies)
                {
                    Ok(StepResult::Fail {
                        error: anyhow!(
                            "the copies were not all available within {minutes} minutes (PORTAL_BUILD_COPY_TIMEOUT_MINUTES): still pending in {}",
                            pending.join(", ")
                        ),
                        relaunch: false,
                    })
                } else {
                    Ok(StepResult::Wait(format!(
                        "{} of {} copies pending",
                        pending.len(),
                        st.copies.len()
                    )))
                }
            }
            Step::PublishCopies => {
                let visibility = self.sharing(ctx, plan, st).await?;
                for (region, id) in st.copies.clone() {
                    if st.published.contains(&region) {
                        continue;
                    }
                    let client = self.cloud.ec2(&region);
                    client
                        .create_tags()
                        .resources(&id)
                        .set_tags(Some(
                            image_tags(plan, ctx.job.id)
                                .iter()
                                .map(|(k, v)| tag(k, v))
                                .collect(),
                        ))
                        .send()
                        .await
                        .map_err(|e| cloud_err(&format!("tagging the copy in {region}"), e))?;
                    self.permit(ctx, visibility, &region, &id).await?;
                    st.published.insert(region);
                }
                ctx.log(format!(
                    "launch permission set in {} regions",
                    st.published.len()
                ))
                .await;
                Ok(StepResult::Next)
            }
            Step::Terminate => {
                if let Some(id) = &st.instance_id {
                    ec2.terminate_instances()
                        .instance_ids(id)
                        .send()
                        .await
                        .map_err(|e| cloud_err("terminating the builder", e))?;
                    ctx.log(format!("builder {id} terminated")).await;
                }
                Ok(StepResult::Next)
            }
            Step::Record => {
                self.record(ctx, plan, CatalogueState::Available, st)
                    .await?;
                // The image is out: its maintenance task is done.
                process::image_built(
                    &ctx.state.db,
                    ctx.state.clock.now(),
                    &plan.product.partner_slug,
                    &plan.product.slug,
                    &plan.version.to_string(),
                    plan.arch,
                )
                .await
                .map_err(|e| {
                    JobError::Retryable(anyhow!("completing the maintenance task: {e}"))
                })?;
                Ok(StepResult::Next)
            }
        }
    }

    /// Waits until the builder's install has reported and the builder has powered itself
    /// off, then reads the result from its console. The console may still be empty for a
    /// while after the builder stopped, so a missing result line is waited for too, up to
    /// the install's deadline.
    async fn wait_install(
        &self,
        ctx: &JobContext,
        ec2: &aws_sdk_ec2::Client,
        st: &mut BuildState,
    ) -> Result<StepResult, JobError> {
        let id = st
            .instance_id
            .clone()
            .ok_or_else(|| JobError::Fatal(anyhow!("no builder was launched")))?;
        let deadline = self.deadline(ctx, st, self.cloud.build_timeouts.install);
        let (state, _) = self.instance(ec2, st).await?;
        let state_name = state.as_ref().map_or("unknown", |s| s.as_str()).to_owned();
        let gone = matches!(
            state,
            Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
        );
        if state == Some(InstanceStateName::Stopped) || gone {
            let console = self.console(ec2, &id).await?;
            match console::read_result(&console) {
                BuildResult::Ok if !gone => {
                    ctx.log(format!(
                        "the install on builder {id} reported success and the builder stopped"
                    ))
                    .await;
                    return Ok(StepResult::Next);
                }
                BuildResult::Failed {
                    step,
                    exit,
                    last_lines,
                } => {
                    return Ok(StepResult::Fail {
                        error: anyhow!(
                            "the install on builder {id} failed at its '{step}' step (exit code {exit}); the builder was terminated. The last lines of its console:\n{last_lines}"
                        ),
                        relaunch: true,
                    });
                }
                _ if gone => {
                    return Ok(StepResult::Fail {
                        error: anyhow!(
                            "builder {id} was terminated before its install reported a result{}",
                            console_tail(&console)
                        ),
                        relaunch: true,
                    });
                }
                _ => {}
            }
            if let Some(minutes) = deadline {
                return Ok(StepResult::Fail {
                    error: anyhow!(
                        "builder {id} stopped, but its console showed no result line within {minutes} minutes (PORTAL_BUILD_INSTALL_TIMEOUT_MINUTES); the builder was terminated{}",
                        console_tail(&console)
                    ),
                    relaunch: true,
                });
            }
            return Ok(StepResult::Wait(
                "builder stopped, waiting for its console".into(),
            ));
        }
        if let Some(minutes) = deadline {
            let console = self.console(ec2, &id).await.unwrap_or_default();
            return Ok(StepResult::Fail {
                error: anyhow!(
                    "the install on builder {id} did not finish within {minutes} minutes (PORTAL_BUILD_INSTALL_TIMEOUT_MINUTES): the builder was still {state_name}, and was terminated{}",
                    console_tail(&console)
                ),
                relaunch: true,
            });
        }
        Ok(StepResult::Wait(format!("builder {state_name}")))
    }

    /// The builder's console output, decoded; empty while there is none yet.
    async fn console(&self, ec2: &aws_sdk_ec2::Client, id: &str) -> Result<String, JobError> {
        let out = ec2
            .get_console_output()
            .instance_id(id)
            .latest(true)
            .send()
            .await
            .map_err(|e| cloud_err("reading the builder's console", e))?;
        Ok(console::decode_output(out.output()))
    }

    /// Starts the current step's clock on its first wait; `Some(minutes)` once the step
    /// has waited longer than `limit`.
    fn deadline(
        &self,
        ctx: &JobContext,
        st: &mut BuildState,
        limit: chrono::Duration,
    ) -> Option<i64> {
        let now = ctx.state.clock.now();
        let started = *st.wait_started.get_or_insert(now);
        (now - started >= limit).then(|| limit.num_minutes())
    }

    /// Fails the job: terminates the builder (unless it is already gone), and saves the
    /// state so that a retry starts the failed wait afresh, with a new builder when the
    /// install is what failed.
    async fn give_up(
        &self,
        ctx: &mut JobContext,
        plan: &Plan,
        st: &mut BuildState,
        error: anyhow::Error,
        relaunch: bool,
    ) -> JobResult {
        if let Some(id) = st
            .instance_id
            .clone()
            .filter(|_| st.step <= Step::Terminate)
        {
            let ec2 = self.cloud.ec2(&plan.product.build_region);
            match ec2.terminate_instances().instance_ids(&id).send().await {
                Ok(_) => ctx.log(format!("builder {id} terminated")).await,
                Err(e) => {
                    ctx.log(format!(
                        "terminating builder {id} failed: {}",
                        DisplayErrorContext(&e)
                    ))
                    .await
                }
            }
        }
        let label = st.step.label();
        if relaunch {
            st.step = Step::Launch;
            st.instance_id = None;
            st.relaunches += 1;
        }
        st.wait_started = None;
        st.waiting_since = None;
        ctx.save(st.step.progress(), &format!("{label} (failed)"), &*st)
            .await?;
        Err(JobError::Fatal(error))
    }

    /// A cancelled build leaves no builder running.
    async fn clean_up(&self, ctx: &JobContext, payload: &BuildImage) {
        let Ok(st) = ctx.checkpoint::<BuildState>() else {
            return;
        };
        let Some(id) = st.instance_id.filter(|_| st.step <= Step::Terminate) else {
            return;
        };
        let Ok(product) = products::get(&ctx.state.db, &payload.partner, &payload.product).await
        else {
            return;
        };
        match self
            .cloud
            .ec2(&product.build_region)
            .terminate_instances()
            .instance_ids(&id)
            .send()
            .await
        {
            Ok(_) => ctx.log(format!("cancelled: builder {id} terminated")).await,
            Err(e) => {
                ctx.log(format!(
                    "cancelled, but terminating builder {id} failed: {}",
                    DisplayErrorContext(&e)
                ))
                .await
            }
        }
    }

    /// The builder's state and tags.
    async fn instance(
        &self,
        ec2: &aws_sdk_ec2::Client,
        st: &BuildState,
    ) -> Result<(Option<InstanceStateName>, BTreeMap<String, String>), JobError> {
        let id = st
            .instance_id
            .clone()
            .ok_or_else(|| JobError::Fatal(anyhow!("no builder was launched")))?;
        let out = ec2
            .describe_instances()
            .instance_ids(&id)
            .send()
            .await
            .map_err(|e| cloud_err("looking at the builder", e))?;
        let instance = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id.as_str()));
        Ok(match instance {
            Some(i) => (
                i.state().and_then(|s| s.name()).cloned(),
                i.tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect(),
            ),
            None => (None, BTreeMap::new()),
        })
    }

    async fn image_state(
        &self,
        ec2: &aws_sdk_ec2::Client,
        id: &str,
    ) -> Result<Option<ImageState>, JobError> {
        let out = ec2
            .describe_images()
            .image_ids(id)
            .send()
            .await
            .map_err(|e| cloud_err(&format!("looking at image {id}"), e))?;
        Ok(out.images().first().and_then(|i| i.state()).cloned())
    }

    /// The image this job made earlier, if a previous attempt created it before it could
    /// save that: found by its name and the job's `portal:job` tag together, so a rebuild
    /// never takes an earlier image of the same release for its own.
    async fn own_image(
        &self,
        ec2: &aws_sdk_ec2::Client,
        name: &str,
        job_id: i32,
    ) -> Result<Option<String>, JobError> {
        let out = ec2
            .describe_images()
            .owners("self")
            .filters(Filter::builder().name("name").values(name).build())
            .filters(
                Filter::builder()
                    .name("tag:portal:job")
                    .values(job_id.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| cloud_err("looking for an image an earlier attempt made", e))?;
        Ok(out
            .images()
            .first()
            .and_then(|i| i.image_id())
            .map(str::to_owned))
    }

    /// How the image may be shared, checked against the catalogue as it is now, right
    /// before a launch permission is set: an image that carries a license file (the builder
    /// was given one, or the product requires one) is never made public, whatever the
    /// product was changed to since the build started.
    async fn sharing(
        &self,
        ctx: &JobContext,
        plan: &Plan,
        st: &BuildState,
    ) -> Result<Visibility, JobError> {
        let product = products::get(
            &ctx.state.db,
            &plan.product.partner_slug,
            &plan.product.slug,
        )
        .await
        .map_err(|e| JobError::Retryable(anyhow!("reading the product again: {e}")))?;
        if product.visibility == Visibility::Public
            && (st.licensed || plan.license.is_some() || product.license_required)
        {
            return Err(JobError::Fatal(anyhow!(
                "refusing to make {} public: it carries {}'s license file, which would be shared with everyone; make the product private, then retry",
                plan.name,
                product.name
            )));
        }
        Ok(product.visibility)
    }

    /// Public for community images; shared with the marketplace's accounts for licensed ones.
    async fn permit(
        &self,
        ctx: &JobContext,
        visibility: Visibility,
        region: &str,
        id: &str,
    ) -> Result<(), JobError> {
        let ec2 = self.cloud.ec2(region);
        let permissions = match visibility {
            Visibility::Public => LaunchPermissionModifications::builder()
                .add(
                    LaunchPermission::builder()
                        .group(PermissionGroup::All)
                        .build(),
                )
                .build(),
            Visibility::Private => self
                .cloud
                .marketplace_accounts
                .iter()
                .fold(LaunchPermissionModifications::builder(), |b, account| {
                    b.add(LaunchPermission::builder().user_id(account).build())
                })
                .build(),
        };
        match ec2
            .modify_image_attribute()
            .image_id(id)
            .launch_permission(permissions)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceLimitExceeded") => {
                let detail = e.message().unwrap_or_default().to_owned();
                ctx.log(format!(
                    "making {id} public in {region} was refused by the public-image quota"
                ))
                .await;
                Err(JobError::Fatal(anyhow!(
                    "{region} refused to make {id} public: the public-image quota is used up ({detail}). \
                     Retire old public images in {region} on the public images page (/public-images) or ask AWS for a higher quota, then retry."
                )))
            }
            Err(e) => Err(cloud_err(
                &format!("setting the launch permission in {region}"),
                e,
            )),
        }
    }

    /// Writes the image version and its regions to the catalogue.
    async fn record(
        &self,
        ctx: &JobContext,
        plan: &Plan,
        state: CatalogueState,
        st: &BuildState,
    ) -> Result<(), JobError> {
        let live = match plan.product.visibility {
            Visibility::Public => RegionImageState::Public,
            Visibility::Private => RegionImageState::Private,
        };
        let mut regions = Vec::new();
        if let Some(id) = &st.image_id {
            regions.push(ImageRegionInput {
                region: plan.product.build_region.clone(),
                image_id: id.clone(),
                state: live.as_str().into(),
            });
        }
        regions.extend(st.copies.iter().map(|(region, id)| {
            ImageRegionInput {
                region: region.clone(),
                image_id: id.clone(),
                state: if st.published.contains(region) {
                    live
                } else {
                    RegionImageState::Pending
                }
                .as_str()
                .into(),
            }
        }));
        let actor = users::system_user(&ctx.state.db, ctx.state.clock.now())
            .await
            .map_err(|e| JobError::Retryable(anyhow!("{e}")))?;
        let base = st.base_image.clone().map(|id| images::BaseImage {
            id,
            name: st.base_image_name.clone(),
        });
        images::record_built(
            &ctx.state.db,
            &actor,
            ctx.state.clock.now(),
            &ImageVersionInput {
                partner: plan.product.partner_slug.clone(),
                product: plan.product.slug.clone(),
                version: plan.version.to_string(),
                arch: plan.arch.as_str().into(),
                state: state.as_str().into(),
                regions,
                rebuild: Some(plan.rebuild),
            },
            base.as_ref(),
        )
        .await
        .map_err(|e| JobError::Retryable(anyhow!("recording the image in the catalogue: {e}")))?;
        Ok(())
    }
}

enum StepResult {
    Next,
    /// Not there yet; look again later. The text says what is awaited.
    Wait(String),
    /// The build cannot go on: the builder is terminated and the job fails with `error`.
    /// With `relaunch`, a retry launches a new builder.
    Fail {
        error: anyhow::Error,
        relaunch: bool,
    },
}

/// The purpose part of the builder's `ClientToken`: a retry after a failed install launches
/// a new builder instead of being handed the terminated one.
fn builder_token(relaunches: u32) -> String {
    match relaunches {
        0 => "builder".to_owned(),
        n => format!("builder-{n}"),
    }
}

/// The console's last lines after a colon, or nothing when it is empty.
fn console_tail(console: &str) -> String {
    let lines = console::last_lines(console, console::LAST_LINES);
    if lines.is_empty() {
        ". Its console was empty".to_owned()
    } else {
        format!(". The last lines of its console:\n{lines}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_are_stored_under_the_names_the_job_page_knows() {
        for (step, (name, _)) in Step::ORDER.iter().zip(BUILD_STEPS) {
            assert_eq!(
                serde_json::to_value(step).ok(),
                Some(serde_json::json!(name))
            );
        }
        assert_eq!(Step::WaitInstall.next(), Step::Stop);
        assert_eq!(Step::Record.progress(), 91);
    }

    #[test]
    fn a_checkpoint_saved_before_the_base_image_name_was_kept_still_resumes() {
        let old = r#"{"step":"launch","base_image":"ami-0abc","instance_id":null,"image_id":null,"copies":{},"published":[]}"#;
        let st: BuildState = serde_json::from_str(old).expect("an older checkpoint");
        assert_eq!(st.step, Step::Launch);
        assert_eq!(st.base_image.as_deref(), Some("ami-0abc"));
        assert_eq!(st.base_image_name, None);
    }
}
