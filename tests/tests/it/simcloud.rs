//! The simulated cloud speaks the calls the account sync makes, through the real SDK
//! clients: Service Quotas' `GetServiceQuota` (AWS JSON 1.1) on the endpoint EC2 shares,
//! EC2's deregistration protection and Recycle Bin, images made by hand in the console,
//! and marketplace versions whose AMIs the account really holds.

use std::collections::BTreeMap;

use app::services::Clock as _;
use aws_sdk_ec2::types::Tag;
use chrono::{DateTime, Duration, Utc};
use portal_tests::{
    Backend, TestApp,
    account::{
        CATALOG, console_image, entity_versions, protect, protection, set_public, unprotect,
    },
};

const PUBLIC_AMIS: &str = "L-0E3CBAB9";

/// The quota of public AMIs in a region, as the portal asks Service Quotas.
async fn quota(cloud: &server::cloud::Cloud, region: &str) -> f64 {
    cloud
        .service_quotas(region)
        .get_service_quota()
        .service_code("ec2")
        .quota_code(PUBLIC_AMIS)
        .send()
        .await
        .expect("GetServiceQuota")
        .quota()
        .and_then(|q| q.value())
        .expect("a value")
}

async fn deregister(app: &TestApp, region: &str, image: &str) -> Result<(), (String, String)> {
    use aws_sdk_ec2::error::ProvideErrorMetadata as _;
    app.cloud
        .ec2(region)
        .deregister_image()
        .image_id(image)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            (
                e.code().unwrap_or("no code").to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        })
}

/// What `ListImagesInRecycleBin` says of a region.
async fn recycle_bin(app: &TestApp, region: &str) -> Vec<aws_sdk_ec2::types::ImageRecycleBinInfo> {
    app.cloud
        .ec2(region)
        .list_images_in_recycle_bin()
        .send()
        .await
        .expect("ListImagesInRecycleBin")
        .images()
        .to_vec()
}

/// What `DescribeImages(Owners=self)` says of one image.
async fn own_image(app: &TestApp, region: &str, image: &str) -> Option<aws_sdk_ec2::types::Image> {
    app.cloud
        .ec2(region)
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .find(|i| i.image_id() == Some(image))
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_quotas_answers_each_regions_public_ami_quota_which_ec2_enforces() {
    let app = TestApp::spawn_configured(
        Backend::Sqlite,
        &[("--sim-public-image-quotas", "eu-west-1=1,ap-south-1=40")],
    )
    .await
    .expect("app");
    // The default where no raise was granted, the raised value where one was.
    assert_eq!(quota(&app.cloud, "us-east-1").await, 5.0);
    assert_eq!(quota(&app.cloud, "ap-south-1").await, 40.0);
    assert_eq!(quota(&app.cloud, "eu-west-1").await, 1.0);
    assert_eq!(app.sim.public_image_quota("eu-west-1"), 1);
    let answer = app
        .cloud
        .service_quotas("ap-south-1")
        .get_service_quota()
        .service_code("ec2")
        .quota_code(PUBLIC_AMIS)
        .send()
        .await
        .expect("GetServiceQuota");
    let q = answer.quota().expect("quota");
    assert_eq!(q.quota_name(), Some("Public AMIs"));
    assert_eq!(q.service_code(), Some("ec2"));
    assert_eq!(
        q.quota_arn(),
        Some("arn:aws:servicequotas:ap-south-1:111122223333:ec2/L-0E3CBAB9")
    );
    assert!(q.adjustable() && !q.global_quota());

    // A change of the account's quota shows at the next call.
    app.sim.configure(|c| {
        c.public_image_quotas.insert("us-east-1".into(), 12);
    });
    assert_eq!(quota(&app.cloud, "us-east-1").await, 12.0);

    // EC2 enforces the region's own value: one public image in eu-west-1, not two.
    let first = console_image(&app.cloud, "eu-west-1", "hand-made one", &[]).await;
    let second = console_image(&app.cloud, "eu-west-1", "hand-made two", &[]).await;
    set_public(&app.cloud, "eu-west-1", &first, true)
        .await
        .expect("public");
    assert_eq!(
        set_public(&app.cloud, "eu-west-1", &second, true).await,
        Err("ResourceLimitExceeded".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_quotas_refuses_a_quota_or_service_it_does_not_have() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let unknown_quota = app
        .cloud
        .service_quotas("us-east-1")
        .get_service_quota()
        .service_code("ec2")
        .quota_code("L-00000000")
        .send()
        .await
        .expect_err("no such quota");
    let service_error = unknown_quota.into_service_error();
    assert!(
        service_error.is_no_such_resource_exception(),
        "{service_error:?}"
    );
    assert!(
        service_error.to_string().contains("L-00000000"),
        "{service_error}"
    );
    let unknown_service = app
        .cloud
        .service_quotas("us-east-1")
        .get_service_quota()
        .service_code("pigeon-post")
        .quota_code(PUBLIC_AMIS)
        .send()
        .await
        .expect_err("no such service")
        .into_service_error();
    assert!(
        unknown_service.is_no_such_resource_exception(),
        "{unknown_service:?}"
    );
    // The EC2 half of the endpoint is not disturbed by the JSON requests it shares.
    assert!(own_image(&app, "us-east-1", "ami-none").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_image_is_not_deregistered_and_a_cooldown_holds_for_a_day() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let image = console_image(&app.cloud, "us-east-1", "protected by hand", &[]).await;
    assert_eq!(protection(&app, "us-east-1", &image).await, "disabled");

    assert_eq!(
        protect(&app, "us-east-1", &image, false).await,
        "enabled-without-cooldown"
    );
    assert_eq!(
        protection(&app, "us-east-1", &image).await,
        "enabled-without-cooldown"
    );
    let (code, message) = deregister(&app, "us-east-1", &image)
        .await
        .expect_err("protected");
    assert_eq!(code, "OperationNotPermitted");
    assert!(message.contains("deregistration protection"), "{message}");
    assert_eq!(unprotect(&app, "us-east-1", &image).await, "disabled");
    deregister(&app, "us-east-1", &image)
        .await
        .expect("deregistered once protection is off");
    assert!(own_image(&app, "us-east-1", &image).await.is_none());

    // With a cooldown, turning protection off leaves the image protected for 24 hours.
    let image = console_image(&app.cloud, "us-east-1", "protected with a cooldown", &[]).await;
    assert_eq!(
        protect(&app, "us-east-1", &image, true).await,
        "enabled-with-cooldown"
    );
    assert_eq!(
        protection(&app, "us-east-1", &image).await,
        "enabled-with-cooldown"
    );
    let off = unprotect(&app, "us-east-1", &image).await;
    let until = app.clock.now() + Duration::hours(24);
    let cooling = format!("disabled-until-{}", until.format("%Y-%m-%dT%H:%M:%SZ"));
    assert_eq!(off, cooling);
    assert_eq!(protection(&app, "us-east-1", &image).await, cooling);
    assert_eq!(
        deregister(&app, "us-east-1", &image)
            .await
            .expect_err("cooling down")
            .0,
        "OperationNotPermitted"
    );
    app.clock.set(until - Duration::minutes(1));
    assert!(deregister(&app, "us-east-1", &image).await.is_err());
    app.clock.set(until);
    assert_eq!(protection(&app, "us-east-1", &image).await, "disabled");
    deregister(&app, "us-east-1", &image)
        .await
        .expect("deregistered a day later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recycle_bin_lists_a_deregistered_image_for_its_retention_days() {
    let app = TestApp::spawn_configured(Backend::Sqlite, &[("--sim-recycle-bin-days", "7")])
        .await
        .expect("app");
    let image = console_image(&app.cloud, "eu-central-1", "retired by hand", &[]).await;
    set_public(&app.cloud, "eu-central-1", &image, true)
        .await
        .expect("public");
    let deregistered_at = app.clock.now();
    deregister(&app, "eu-central-1", &image)
        .await
        .expect("deregistered");
    assert!(own_image(&app, "eu-central-1", &image).await.is_none());

    let kept = recycle_bin(&app, "eu-central-1").await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].image_id(), Some(image.as_str()));
    assert_eq!(kept[0].name(), Some("retired by hand"));
    let time = |t: Option<&aws_sdk_ec2::primitives::DateTime>| {
        DateTime::<Utc>::from_timestamp_millis(t.expect("a time").to_millis().expect("millis"))
            .expect("a moment")
    };
    assert_eq!(time(kept[0].recycle_bin_enter_time()), deregistered_at);
    assert_eq!(
        time(kept[0].recycle_bin_exit_time()),
        deregistered_at + Duration::days(7)
    );
    // Other regions' bins are their own.
    assert!(recycle_bin(&app, "us-east-1").await.is_empty());
    // Seven days on, the rule lets it go.
    app.clock.set(deregistered_at + Duration::days(7));
    assert!(recycle_bin(&app, "eu-central-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_recycle_bin_rule_nothing_is_kept() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let image = console_image(&app.cloud, "us-east-1", "gone for good", &[]).await;
    deregister(&app, "us-east-1", &image)
        .await
        .expect("deregistered");
    assert!(recycle_bin(&app, "us-east-1").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_made_in_the_console_show_everything_the_sync_reads() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let ec2 = app.cloud.ec2("us-east-1");
    // An image made from an instance, with the tags a pipeline would give it...
    let made = console_image(
        &app.cloud,
        "us-east-1",
        "GitLab CE 16.11.3",
        &[("Type", "GitLab Community Edition"), ("Version", "16.11.3")],
    )
    .await;
    // ...copied to another region, made public there and tagged afterwards...
    let copy = app
        .cloud
        .ec2("eu-west-1")
        .copy_image()
        .source_region("us-east-1")
        .source_image_id(&made)
        .name("someone's copy")
        .send()
        .await
        .expect("CopyImage")
        .image_id()
        .expect("copy")
        .to_owned();
    set_public(&app.cloud, "eu-west-1", &copy, true)
        .await
        .expect("public");
    app.cloud
        .ec2("eu-west-1")
        .create_tags()
        .resources(&copy)
        .tags(Tag::builder().key("Owner").value("packer").build())
        .send()
        .await
        .expect("CreateTags");
    // ...and the original deprecated and protected.
    let deprecate_at = app.clock.now() + Duration::days(30);
    ec2.enable_image_deprecation()
        .image_id(&made)
        .deprecate_at(aws_sdk_ec2::primitives::DateTime::from_secs(
            deprecate_at.timestamp(),
        ))
        .send()
        .await
        .expect("EnableImageDeprecation");
    protect(&app, "us-east-1", &made, false).await;

    let original = own_image(&app, "us-east-1", &made).await.expect("listed");
    assert_eq!(original.name(), Some("GitLab CE 16.11.3"));
    assert_eq!(
        original.architecture(),
        Some(&aws_sdk_ec2::types::ArchitectureValues::X8664)
    );
    assert_eq!(
        original.state(),
        Some(&aws_sdk_ec2::types::ImageState::Available)
    );
    assert_eq!(original.public(), Some(false));
    assert!(original.creation_date().is_some());
    assert_eq!(
        original.deprecation_time().map(str::to_owned),
        Some(deprecate_at.format("%Y-%m-%dT%H:%M:%S.000Z").to_string())
    );
    let tags: BTreeMap<&str, &str> = original
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value()?)))
        .collect();
    assert_eq!(
        tags,
        BTreeMap::from([("Type", "GitLab Community Edition"), ("Version", "16.11.3")])
    );
    assert_eq!(
        original.deregistration_protection(),
        Some("enabled-without-cooldown")
    );

    let copied = own_image(&app, "eu-west-1", &copy).await.expect("listed");
    assert_eq!(copied.name(), Some("someone's copy"));
    assert_eq!(copied.public(), Some(true));
    assert_eq!(copied.deprecation_time(), None);
    assert_eq!(copied.deregistration_protection(), Some("disabled"));
    assert_eq!(copied.tags().len(), 1);
    assert_eq!(app.sim.counts("eu-west-1").public_images, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_and_the_recycle_bin_survive_a_restart() {
    let mut app = TestApp::spawn_configured(Backend::Sqlite, &[("--sim-recycle-bin-days", "3")])
        .await
        .expect("app");
    let kept = console_image(&app.cloud, "us-east-1", "kept across a restart", &[]).await;
    protect(&app, "us-east-1", &kept, true).await;
    let binned = console_image(&app.cloud, "us-east-1", "binned before a restart", &[]).await;
    deregister(&app, "us-east-1", &binned)
        .await
        .expect("deregistered");

    app.restart().await.expect("restart");

    assert_eq!(
        protection(&app, "us-east-1", &kept).await,
        "enabled-with-cooldown"
    );
    assert_eq!(
        deregister(&app, "us-east-1", &kept)
            .await
            .expect_err("still protected")
            .0,
        "OperationNotPermitted"
    );
    assert_eq!(
        recycle_bin(&app, "us-east-1")
            .await
            .iter()
            .filter_map(|i| i.image_id())
            .collect::<Vec<_>>(),
        [binned.as_str()]
    );
}

/// Every version's AMI of every AMI product of a marketplace, through the SDK:
/// (product name, version title, AMI).
async fn marketplace_amis(cloud: &server::cloud::Cloud) -> Vec<(String, String, String)> {
    let entities = cloud
        .marketplace()
        .list_entities()
        .catalog(CATALOG)
        .entity_type("AmiProduct")
        .send()
        .await
        .expect("ListEntities");
    let mut out = Vec::new();
    for summary in entities.entity_summary_list() {
        for v in entity_versions(cloud, summary.entity_id().expect("id")).await {
            for source in v["Sources"].as_array().expect("sources") {
                out.push((
                    summary.name().unwrap_or_default().to_owned(),
                    v["VersionTitle"].as_str().unwrap_or_default().to_owned(),
                    source["Image"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    out
}

/// A fresh simulated account seeded from this portal's catalogue as a first start seeds
/// it (EC2's images and the marketplace's products), served on a port of its own.
async fn fresh_world(app: &TestApp) -> (server::sim::Ec2Sim, server::cloud::Cloud) {
    let sim = server::sim::Ec2Sim::new(app.clock.clone(), server::sim::SimConfig::instant());
    server::sim::seed_marketplace(&sim, app.conn())
        .await
        .expect("marketplace seeded");
    server::sim::seed_ec2(&sim, app.conn())
        .await
        .expect("images seeded");
    let (url, _server) = server::sim::serve(&sim, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("served");
    let cloud = server::cloud::Cloud::endpoint(
        url,
        server::cloud::CloudSettings::marketplace_default(chrono::Duration::seconds(1)),
    );
    (sim, cloud)
}

/// The us-east-1 image id the catalogue records for a product's amd64 image of a release.
async fn catalogue_id(app: &TestApp, product: &str, release: &str) -> Option<String> {
    use app::services::entities::{
        image_region, image_version, product as products, release as releases,
    };
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let product = products::Entity::find()
        .filter(products::Column::Slug.eq(product))
        .one(app.conn())
        .await
        .expect("query")?;
    let release = releases::Entity::find()
        .filter(releases::Column::Version.eq(release))
        .one(app.conn())
        .await
        .expect("query")?;
    let version = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(product.id))
        .filter(image_version::Column::ReleaseId.eq(release.id))
        .filter(image_version::Column::Arch.eq(app::domain::Arch::Amd64))
        .one(app.conn())
        .await
        .expect("query")?;
    image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.eq(version.id))
        .filter(image_region::Column::Region.eq("us-east-1"))
        .one(app.conn())
        .await
        .expect("query")?
        .image_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_marketplace_versions_stand_on_images_the_account_holds_in_us_east_1() {
    use app::services::entities::{image_region, image_version, release};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let (sim, cloud) = fresh_world(&app).await;
    let amis = marketplace_amis(&cloud).await;
    assert!(amis.len() >= 8, "{amis:?}");
    let held = sim.own_images("us-east-1");
    for (product, title, ami) in &amis {
        assert!(
            held.contains_key(ami),
            "{product} {title}: {ami} is not in us-east-1"
        );
    }
    // Each is the catalogue's own image of that release: the premium 17.5.1 version's AMI
    // is the us-east-1 id the catalogue records for GitLab Premium 17.5.1 (amd64).
    let premium = app.listing("GitLab Premium").await.expect("listing");
    let catalogued = catalogue_id(&app, "gitlab-ee-premium", "17.5.1").await;
    let (_, _, ami) = amis
        .iter()
        .find(|(p, t, _)| p == &premium.entity_name && t.contains("17.5.1"))
        .expect("the 17.5.1 version");
    assert_eq!(Some(ami.clone()), catalogued);

    // Where the catalogue has no image of a version's release in us-east-1 (here: its
    // us-east-1 rows are gone), the seeded account gets one named as the product's
    // template renders the release, so the version does not stand on nothing.
    let r = release::Entity::find()
        .filter(release::Column::Version.eq("17.5.1"))
        .one(app.conn())
        .await
        .expect("query")
        .expect("17.5.1");
    let versions: Vec<i32> = image_version::Entity::find()
        .filter(image_version::Column::ReleaseId.eq(r.id))
        .all(app.conn())
        .await
        .expect("query")
        .into_iter()
        .map(|v| v.id)
        .collect();
    image_region::Entity::delete_many()
        .filter(image_region::Column::ImageVersionId.is_in(versions))
        .filter(image_region::Column::Region.eq("us-east-1"))
        .exec(app.conn())
        .await
        .expect("deleted");
    let (sim, cloud) = fresh_world(&app).await;
    let amis = marketplace_amis(&cloud).await;
    let held = sim.own_images("us-east-1");
    for (product, title, ami) in &amis {
        assert!(
            held.contains_key(ami),
            "{product} {title}: {ami} is not in us-east-1"
        );
    }
    let (_, _, ami) = amis
        .iter()
        .find(|(p, t, _)| p == &premium.entity_name && t.contains("17.5.1"))
        .expect("the 17.5.1 version");
    let product = app::services::products::get(app.conn(), "aws", "gitlab-ee-premium")
        .await
        .expect("premium");
    let amd64 = product
        .architectures
        .iter()
        .find(|a| a.arch == app::domain::Arch::Amd64)
        .expect("amd64");
    let name = app::services::products::render_image_name(
        &amd64.image_name_template,
        &app::domain::Version::parse("17.5.1").expect("version"),
    );
    assert_eq!(sim.own_image_named("us-east-1", &name).as_ref(), Some(ami));
    let (public, _, _) = &held[ami];
    assert!(
        !public,
        "made private, as the licensed product's images are"
    );
}
