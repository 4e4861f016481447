//! The account as someone in the console changes it, and as the portal reads it back.
//!
//! Images and marketplace versions are made by hand through the real SDK clients against
//! the simulated cloud (or moto), the way someone in the console would; the cloud sync is
//! asked for over REST as Omnibus and worked by a runner; the drift, the public-image
//! regions, the notifications and the retention dry runs are read as the portal shows them.
//! Like the tests that use them, these helpers panic with what went wrong.

use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchPermission, LaunchPermissionModifications, PermissionGroup,
    ResourceType, Tag, TagSpecification,
};
use aws_sdk_marketplacecatalog::types::{Change, ChangeStatus, Entity, Intent};
use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use app::{
    domain::{JobState, NotificationKind, RetentionAction},
    dto::{
        DriftItem, Job, Page, PublicImages, RegionQuota, RetentionPolicyInput, RetentionProposal,
    },
    services::{Clock as _, entities::notification, retention, seed::CANONICAL_OWNER},
};
use server::cloud::Cloud;

use crate::{Backend, TestApp};

/// The marketplace's catalog of AMI products.
pub const CATALOG: &str = "AWSMarketplace";

/// A seeded portal whose simulated account holds the catalogue's images, with this public
/// image quota in every region.
pub async fn account_with_quota(quota: usize) -> TestApp {
    let app = TestApp::spawn_configured(
        Backend::Sqlite,
        &[("--sim-public-image-quota", &quota.to_string())],
    )
    .await
    .expect("app");
    server::sim::seed_ec2(&app.sim, app.conn())
        .await
        .expect("seed ec2");
    app
}

/// One of the account's public images in a region (the simulated account's own).
pub fn some_public_image(app: &TestApp, region: &str) -> String {
    app.sim
        .own_images(region)
        .into_iter()
        .find(|(_, (public, _, _))| *public)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no public image in {region} to copy"))
}

/// What someone does in the console: copies one of the account's public images in a
/// region under a name of their own, which no product's name template or tags match, and
/// makes the copy public if asked. Answers its id.
pub async fn hand_made_image(app: &TestApp, region: &str, name: &str, public: bool) -> String {
    let source = some_public_image(app, region);
    let id = app
        .cloud
        .ec2(region)
        .copy_image()
        .source_region(region)
        .source_image_id(&source)
        .name(name)
        .send()
        .await
        .expect("CopyImage")
        .image_id
        .expect("the copy's id");
    if public {
        set_public(&app.cloud, region, &id, true)
            .await
            .expect("made public by hand");
    }
    id
}

/// Someone in the console launches an instance of Canonical's Ubuntu (amd64) and makes an
/// image of it, tagged with `tags` (no tag of the portal's). Answers the image id.
pub async fn console_image(
    cloud: &Cloud,
    region: &str,
    name: &str,
    tags: &[(&str, &str)],
) -> String {
    let ec2 = cloud.ec2(region);
    let base = ec2
        .describe_images()
        .owners(CANONICAL_OWNER)
        .filters(
            Filter::builder()
                .name("architecture")
                .values("x86_64")
                .build(),
        )
        .send()
        .await
        .expect("Canonical's images")
        .images()
        .first()
        .and_then(|i| i.image_id())
        .expect("a Canonical image")
        .to_owned();
    let instance = ec2
        .run_instances()
        .image_id(base)
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("RunInstances")
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .expect("an instance")
        .to_owned();
    // An image made without tags carries no tag specification at all, as the console sends.
    let spec = (!tags.is_empty()).then(|| {
        tags.iter()
            .fold(
                TagSpecification::builder().resource_type(ResourceType::Image),
                |spec, (k, v)| spec.tags(Tag::builder().key(*k).value(*v).build()),
            )
            .build()
    });
    ec2.create_image()
        .instance_id(instance)
        .name(name)
        .set_tag_specifications(spec.map(|s| vec![s]))
        .send()
        .await
        .expect("CreateImage")
        .image_id()
        .expect("the image's id")
        .to_owned()
}

/// Makes an image public, or private again, as the console's launch permissions do; the
/// error is the code EC2 answered with.
pub async fn set_public(
    cloud: &Cloud,
    region: &str,
    image: &str,
    public: bool,
) -> Result<(), String> {
    let everyone = vec![
        LaunchPermission::builder()
            .group(PermissionGroup::All)
            .build(),
    ];
    let change = if public {
        LaunchPermissionModifications::builder().set_add(Some(everyone))
    } else {
        LaunchPermissionModifications::builder().set_remove(Some(everyone))
    };
    cloud
        .ec2(region)
        .modify_image_attribute()
        .image_id(image)
        .launch_permission(change.build())
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            use aws_sdk_ec2::error::ProvideErrorMetadata as _;
            e.code().unwrap_or("no code").to_owned()
        })
}

/// Turns an image's deregistration protection on, as someone in the console does (with a
/// cooldown, it stays on for a day after it is turned off); answers what EC2 says it is.
pub async fn protect(app: &TestApp, region: &str, image: &str, cooldown: bool) -> String {
    app.cloud
        .ec2(region)
        .enable_image_deregistration_protection()
        .image_id(image)
        .set_with_cooldown(cooldown.then_some(true))
        .send()
        .await
        .expect("EnableImageDeregistrationProtection")
        .r#return()
        .unwrap_or_default()
        .to_owned()
}

/// Turns an image's deregistration protection off, as someone in the console does;
/// answers what EC2 says it is.
pub async fn unprotect(app: &TestApp, region: &str, image: &str) -> String {
    app.cloud
        .ec2(region)
        .disable_image_deregistration_protection()
        .image_id(image)
        .send()
        .await
        .expect("DisableImageDeregistrationProtection")
        .r#return()
        .unwrap_or_default()
        .to_owned()
}

/// What EC2 says of an image's deregistration protection (`disabled`, `enabled…`).
pub async fn protection(app: &TestApp, region: &str, image: &str) -> String {
    app.cloud
        .ec2(region)
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .first()
        .unwrap_or_else(|| panic!("{image} is not in {region}"))
        .deregistration_protection()
        .unwrap_or("disabled")
        .to_owned()
}

/// What someone does in the marketplace console: adds a version to a listing's entity, and
/// waits until AWS applied it. Answers the new delivery option's id.
pub async fn console_version(app: &TestApp, entity_id: &str, title: &str, ami: &str) -> String {
    let client = app.cloud.marketplace();
    let change = Change::builder()
        .change_type("AddDeliveryOptions")
        .entity(
            Entity::builder()
                .r#type("AmiProduct@1.0")
                .identifier(entity_id)
                .build()
                .expect("entity"),
        )
        .details_document(server::cloud::document(serde_json::json!({
            "Version": { "VersionTitle": title, "ReleaseNotes": "Made in the console" },
            "DeliveryOptions": [{ "Details": { "AmiDeliveryOptionDetails": {
                "AmiSource": {
                    "AmiId": ami,
                    "AccessRoleArn": "arn:aws:iam::123456789012:role/AwsMarketplaceAmiIngestion",
                    "UserName": "ubuntu",
                    "OperatingSystemName": "UBUNTU",
                    "OperatingSystemVersion": "24.04"
                },
                "UsageInstructions": "https://docs.gitlab.com",
                "RecommendedInstanceType": "c5.2xlarge",
                "SecurityGroups": [{ "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": ["0.0.0.0/0"] }]
            }}}]
        })))
        .build()
        .expect("change");
    let id = client
        .start_change_set()
        .catalog(CATALOG)
        .change_set(change)
        .intent(Intent::Apply)
        .change_set_name("Added by hand")
        .send()
        .await
        .expect("StartChangeSet")
        .change_set_id
        .expect("the change set's id");
    for _ in 0..10 {
        app.clock.set(app.clock.now() + Duration::seconds(30));
        let d = client
            .describe_change_set()
            .catalog(CATALOG)
            .change_set_id(&id)
            .send()
            .await
            .expect("DescribeChangeSet");
        if d.status == Some(ChangeStatus::Succeeded) {
            return entity_versions(&app.cloud, entity_id)
                .await
                .iter()
                .find(|v| v["VersionTitle"] == title)
                .and_then(|v| v["DeliveryOptions"][0]["Id"].as_str())
                .expect("the console's version")
                .to_owned();
        }
        assert_ne!(d.status, Some(ChangeStatus::Failed), "{d:#?}");
    }
    panic!("the console's change set never applied");
}

/// A listing's versions, as the marketplace's DescribeEntity details them.
pub async fn entity_versions(cloud: &Cloud, entity_id: &str) -> Vec<serde_json::Value> {
    let entity = cloud
        .marketplace()
        .describe_entity()
        .catalog(CATALOG)
        .entity_id(entity_id)
        .send()
        .await
        .expect("DescribeEntity");
    let details: serde_json::Value =
        serde_json::from_str(entity.details().expect("details")).expect("the details are JSON");
    details["Versions"].as_array().cloned().unwrap_or_default()
}

/// Sends a request and checks the status the portal answers with (showing the body when it
/// is another); answers the response.
pub async fn answered(request: reqwest::RequestBuilder, status: u16) -> reqwest::Response {
    let res = request.send().await.expect("the portal answers");
    assert_eq!(
        res.status(),
        status,
        "{}",
        res.text().await.unwrap_or_default()
    );
    res
}

/// Asks for a sync as Omnibus (`POST /api/v1/cloud/sync`) and runs it to the end; answers
/// the finished job, which must have succeeded.
pub async fn sync(app: &TestApp) -> Job {
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = answered(oskar.post(app.url("/api/v1/cloud/sync")), 202).await;
    let job: Job = res.json().await.expect("job");
    app.drive(&app.runner("worker"), 20).await.expect("synced");
    let job: Job = oskar
        .get(app.url(&format!("/api/v1/jobs/{}", job.id)))
        .send()
        .await
        .expect("job")
        .json()
        .await
        .expect("job json");
    assert_eq!(job.kind, "cloud_sync");
    assert_eq!(job.state, JobState::Succeeded, "{job:#?}");
    job
}

/// The drift list as Omnibus reads it (`GET /api/v1/cloud/drift`), up to 100 items;
/// `query` adds filters (`region=…`, `listing_id=…`, `state=resolved`).
pub async fn drift(app: &TestApp, query: &str) -> Vec<DriftItem> {
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = answered(
        oskar.get(app.url(&format!("/api/v1/cloud/drift?per_page=100&{query}"))),
        200,
    )
    .await;
    res.json::<Page<DriftItem>>().await.expect("json").items
}

/// Every region of the public images page (`GET /api/v1/public-images`).
pub async fn regions(app: &TestApp) -> Vec<RegionQuota> {
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .get(app.url("/api/v1/public-images"))
        .send()
        .await
        .expect("public images");
    assert_eq!(res.status(), 200);
    res.json::<PublicImages>().await.expect("json").regions
}

/// One region of a list of them.
pub fn region<'a>(all: &'a [RegionQuota], name: &str) -> &'a RegionQuota {
    all.iter()
        .find(|r| r.region == name)
        .unwrap_or_else(|| panic!("{name} is not among the public images' regions"))
}

/// One region of the public images page.
pub async fn region_quota(app: &TestApp, name: &str) -> RegionQuota {
    region(&regions(app).await, name).clone()
}

/// The links of the notifications of a kind in someone's inbox, newest first.
pub async fn told(app: &TestApp, username: &str, kind: NotificationKind) -> Vec<String> {
    let user = app.user(username).await;
    notification::Entity::find()
        .filter(notification::Column::UserId.eq(user.id))
        .filter(notification::Column::Kind.eq(kind))
        .order_by_desc(notification::Column::Id)
        .all(app.conn())
        .await
        .expect("notifications")
        .into_iter()
        .map(|n| n.link)
        .collect()
}

/// Omnibus gives an AWS product a retention policy.
pub async fn set_retention(
    app: &TestApp,
    product: &str,
    keep_newest: i32,
    support_days: i32,
    action: RetentionAction,
) {
    retention::set_policy(
        app.conn(),
        &app.user("oskar").await,
        app.clock.now(),
        "aws",
        product,
        &RetentionPolicyInput {
            keep_newest,
            support_days,
            action,
        },
    )
    .await
    .expect("policy");
}

/// Omnibus gives an AWS product a retention policy and runs a dry run of it: the
/// proposal Partnerships decides.
pub async fn with_policy(
    app: &TestApp,
    product: &str,
    keep_newest: i32,
    support_days: i32,
    action: RetentionAction,
) -> RetentionProposal {
    set_retention(app, product, keep_newest, support_days, action).await;
    retention::dry_run(
        app.conn(),
        &app.user("oskar").await,
        app.clock.now(),
        "aws",
        product,
    )
    .await
    .expect("dry run")
}
