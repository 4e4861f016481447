//! What goes out to AWS Marketplace is exactly the approved copy: the copy publish
//! (`UpdateInformation`) and the version publish (`AddDeliveryOptions`, one version per
//! architecture), run by the real job handlers through the real SDK against the simulated
//! Marketplace Catalog, and read back through DescribeEntity.

use app::{
    domain::*,
    dto::*,
    services::{
        Clock as _, assets, copy, entities::asset_version, jobs, listings, products, publish,
    },
};
use aws_sdk_marketplacecatalog::types::{ChangeStatus, Filter};
use chrono::Duration;
use portal_tests::{Backend, PNG_1X1, TestApp};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

const CATALOG: &str = "AWSMarketplace";
const PREMIUM: &str = "GitLab Premium";

/// The listing's product as DescribeEntity details it, through the SDK.
async fn described(app: &TestApp, entity_id: &str) -> Value {
    let out = app
        .cloud
        .marketplace()
        .describe_entity()
        .catalog(CATALOG)
        .entity_id(entity_id)
        .send()
        .await
        .expect("DescribeEntity");
    serde_json::from_str(out.details().expect("details")).expect("the details are JSON")
}

fn entity_of(app: &TestApp) -> String {
    app.sim
        .marketplace()
        .product_id(PREMIUM)
        .expect("the Premium listing has its AMI product")
}

/// Copy nobody would write by accident, within every limit of AWS.
fn distinctive(logo_asset_id: Option<i32>) -> CopyInput {
    CopyInput {
        title: "GitLab Premium — the DevSecOps platform, self-managed on AWS".into(),
        short_description: "Plan, build, secure and deploy in one application (PUB-7731)."
            .into(),
        long_description: "# One platform\n\nEverything from **planning** to monitoring.".into(),
        highlights: vec![
            "One application for the whole lifecycle".into(),
            "Security scanning built in".into(),
            "Runs in your own AWS account".into(),
        ],
        usage_instructions: "Open http://<public-ip>/ and sign in as root with the password in /etc/gitlab/initial_root_password (PUB-7731).".into(),
        release_notes_template: "GitLab {version} for AWS. What changed: {notes_url}".into(),
        categories: vec!["DevOps".into(), "Source Control".into()],
        search_keywords: vec!["gitlab".into(), "devsecops".into(), "pub-7731".into()],
        sku: "GL-PREM-7731".into(),
        support_description: "GitLab Support answers Premium customers within 24 hours (PUB-7731).".into(),
        logo_asset_id,
        video_url: "https://www.youtube.com/watch?v=pub7731".into(),
        additional_resources: vec![
            AdditionalResource {
                text: "Installation guide".into(),
                url: "https://docs.gitlab.com/install/aws/".into(),
            },
            AdditionalResource {
                text: "Pricing".into(),
                url: "https://about.gitlab.com/pricing/".into(),
            },
        ],
        ..Default::default()
    }
}

/// Marketing uploads a logo for the listing, linked to it.
async fn upload_logo(app: &TestApp, listing: i32) -> Asset {
    let maya = app.user("maya").await;
    assets::create(
        app.conn(),
        app.state.store.as_ref(),
        &maya,
        app.clock.now(),
        assets::UploadInput {
            partner: "aws".into(),
            product: "gitlab-ee-premium".into(),
            kind: "logo".into(),
            title: "GitLab tanuki".into(),
            filename: "tanuki.png".into(),
            bytes: PNG_1X1.to_vec().into(),
            content: AssetContent::default(),
            listing_id: Some(listing),
            task_id: None,
        },
    )
    .await
    .expect("the logo is uploaded")
}

/// Marks an approved revision for publishing and works the jobs until none is open;
/// returns the publish_copy job as it ended.
async fn publish_copy(app: &TestApp, listing: i32, revision: i32) -> Job {
    let priya = app.user("priya").await;
    let marked = copy::mark_for_publishing(
        app.conn(),
        &priya,
        app.clock.now(),
        listing,
        &ReviewInput {
            revision,
            comment: String::new(),
        },
    )
    .await
    .expect("marked for publishing");
    app.drive(&app.runner("copy"), 100).await.expect("worked");
    jobs::get(app.conn(), marked.job.id).await.expect("job")
}

/// A portal whose newest release 17.7.0 has the Premium images of `archs` built.
async fn built(archs: &[Arch]) -> (TestApp, Listing) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    if archs.contains(&Arch::Arm64) {
        app.add_premium_arm64().await.expect("arm64 added");
    }
    app.new_release("17.7.0").await.expect("release");
    for arch in archs {
        app.start_build("gitlab-ee-premium", *arch)
            .await
            .expect("build");
    }
    app.drive(&app.runner("builder"), 300).await.expect("built");
    let listing = app.listing(PREMIUM).await.expect("Premium listing");
    (app, listing)
}

/// The versions of the product titled `title`.
fn version<'a>(details: &'a Value, title: &str) -> &'a Value {
    details["Versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["VersionTitle"] == title))
        .unwrap_or_else(|| panic!("no version '{title}' in {details:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exact_copy_marketing_approved_is_what_the_marketplace_receives_in_both_change_types() {
    let (app, listing) = built(&[Arch::Amd64]).await;
    let logo = upload_logo(&app, listing.id).await;
    let revision = app
        .approve_copy_of(listing.id, distinctive(Some(logo.id)))
        .await
        .expect("approved");
    assert_eq!(revision.fields.logo_version, Some(1), "the logo is pinned");

    // The copy on its own.
    let job = publish_copy(&app, listing.id, revision.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.last_error);
    let entity = entity_of(&app);
    let details = described(&app, &entity).await;
    let f = &revision.fields;
    let d = &details["Description"];
    assert_eq!(d["ProductTitle"], f.title.as_str());
    assert_eq!(d["ShortDescription"], f.short_description.as_str());
    assert_eq!(d["LongDescription"], f.long_description.as_str());
    assert_eq!(d["Highlights"], json!(f.highlights));
    assert_eq!(d["Categories"], json!(f.categories));
    assert_eq!(d["SearchKeywords"], json!(f.search_keywords));
    assert_eq!(d["Sku"], "GL-PREM-7731");
    assert_eq!(
        details["SupportInformation"]["Description"],
        f.support_description.as_str()
    );
    let promo = &details["PromotionalResources"];
    assert_eq!(
        promo["Videos"],
        json!([{ "Type": "Link", "Title": "Product video", "Url": "https://www.youtube.com/watch?v=pub7731" }])
    );
    assert_eq!(
        promo["AdditionalResources"],
        json!([
            { "Type": "Link", "Text": "Installation guide", "Url": "https://docs.gitlab.com/install/aws/" },
            { "Type": "Link", "Text": "Pricing", "Url": "https://about.gitlab.com/pricing/" },
        ])
    );
    // The logo is the pinned version's public URL, which serves its bytes to anyone.
    let pinned = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(logo.id))
        .filter(asset_version::Column::Version.eq(1))
        .one(app.conn())
        .await
        .expect("query")
        .expect("version 1");
    let logo_url = app
        .state
        .asset_urls
        .public_url(logo.id, 1, &pinned.storage_key, &pinned.filename)
        .expect("a public URL");
    assert_eq!(promo["LogoUrl"], logo_url.as_str());
    let path = &logo_url[logo_url
        .find("/public/assets/")
        .expect("the portal's route")..];
    let res = reqwest::get(app.url(path)).await.expect("fetched");
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("body").as_ref(), PNG_1X1);

    // Then a release: the version carries the approved usage instructions and rendered
    // release notes, and the product's delivery configuration, changed first so nothing
    // can be a literal.
    let alex = app.user("alex").await;
    let config = DeliveryConfig {
        recommended_instance_type: "m7i.4xlarge".into(),
        os_name: "DEBIAN".into(),
        os_version: "12".into(),
        user_name: "admin".into(),
        security_groups: vec![
            SecurityGroupRule {
                protocol: "tcp".into(),
                from_port: 443,
                to_port: 443,
                cidr: "10.0.0.0/8".into(),
            },
            SecurityGroupRule {
                protocol: "udp".into(),
                from_port: 6000,
                to_port: 6010,
                cidr: "192.168.0.0/16".into(),
            },
        ],
    };
    products::set_delivery(
        app.conn(),
        &alex,
        app.clock.now(),
        "aws",
        "gitlab-ee-premium",
        &config,
    )
    .await
    .expect("delivery configured");
    let oskar = app.user("oskar").await;
    let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
        .await
        .expect("started");
    app.drive(&app.runner("versions"), 100)
        .await
        .expect("published");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let details = described(&app, &entity).await;
    let v = version(&details, "GitLab Premium 17.7.0 Release");
    assert_eq!(
        v["ReleaseNotes"],
        "GitLab 17.7.0 for AWS. What changed: https://gitlab.com/gitlab-org/gitlab/-/releases/v17.7.0-ee"
    );
    let option = &v["DeliveryOptions"][0];
    assert_eq!(
        option["Instructions"]["Usage"],
        f.usage_instructions.as_str()
    );
    assert_eq!(option["Recommendations"]["InstanceType"], "m7i.4xlarge");
    assert_eq!(
        option["Recommendations"]["SecurityGroups"],
        json!([
            { "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": ["10.0.0.0/8"] },
            { "IpProtocol": "udp", "FromPort": 6000, "ToPort": 6010, "IpRanges": ["192.168.0.0/16"] },
        ])
    );
    let os = &v["Sources"][0]["OperatingSystem"];
    assert_eq!(
        (&os["Name"], &os["Version"], &os["Username"]),
        (&json!("DEBIAN"), &json!("12"), &json!("admin"))
    );
    // The version publish sent no UpdateInformation: the copy is as the copy publish left it.
    assert_eq!(details["Description"]["ProductTitle"], f.title.as_str());
    assert_eq!(
        details["PromotionalResources"]["LogoUrl"],
        logo_url.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_for_publishing_updates_the_live_copy_without_a_new_version() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.listing(PREMIUM).await.expect("Premium listing");
    let before_versions = app.sim.marketplace().versions(PREMIUM);
    let before_listing = listings::get(app.conn(), listing.id)
        .await
        .expect("listing");
    let mut input = distinctive(None);
    input.title = "GitLab Premium (description fix)".into();
    let revision = app
        .approve_copy_of(listing.id, input)
        .await
        .expect("approved");

    let job = publish_copy(&app, listing.id, revision.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.last_error);
    assert_eq!(
        app.sim.marketplace().versions(PREMIUM),
        before_versions,
        "no version was added"
    );
    let after = listings::get(app.conn(), listing.id)
        .await
        .expect("listing");
    assert_eq!(after.versions.len(), before_listing.versions.len());
    assert_eq!(after.title, "GitLab Premium (description fix)");
    assert_eq!(after.live_copy_revision, Some(revision.id));
    let live = copy::get(app.conn(), listing.id)
        .await
        .expect("copy")
        .live
        .expect("the live copy is recorded");
    assert_eq!(live.revision_id, Some(revision.id));
    assert_eq!(live.copy.title, "GitLab Premium (description fix)");
    assert_eq!(live.copy.sku, "GL-PREM-7731");
    let details = described(&app, &entity_of(&app)).await;
    assert_eq!(
        details["Description"]["ProductTitle"],
        "GitLab Premium (description fix)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_architecture_product_publishes_one_version_per_architecture_each_with_its_image() {
    let (app, listing) = built(&[Arch::Amd64, Arch::Arm64]).await;
    let oskar = app.user("oskar").await;
    let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
        .await
        .expect("started");
    app.drive(&app.runner("w"), 200).await.expect("published");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);

    let details = described(&app, &entity_of(&app)).await;
    let amd64 = version(&details, "GitLab Premium 17.7.0 Release");
    let arm64 = version(&details, "GitLab Premium 17.7.0 Release (arm64)");
    assert_eq!(amd64["Sources"][0]["Architecture"], "x86_64");
    assert_eq!(arm64["Sources"][0]["Architecture"], "arm64");
    assert_ne!(amd64["Sources"][0]["Image"], arm64["Sources"][0]["Image"]);
    let recorded = listings::get(app.conn(), listing.id)
        .await
        .expect("listing");
    let arch_of = |title: &str| {
        recorded
            .versions
            .iter()
            .find(|v| v.title == title)
            .unwrap_or_else(|| panic!("'{title}' is recorded"))
            .arch
    };
    assert_eq!(arch_of("GitLab Premium 17.7.0 Release"), Some(Arch::Amd64));
    assert_eq!(
        arch_of("GitLab Premium 17.7.0 Release (arm64)"),
        Some(Arch::Arm64)
    );
}

/// The AddDeliveryOptions change sets the portal started on the entity, by version title.
async fn version_change_sets(app: &TestApp, entity: &str) -> Vec<(String, String)> {
    let client = app.cloud.marketplace();
    let ids: Vec<String> = client
        .list_change_sets()
        .catalog(CATALOG)
        .filter_list(
            Filter::builder()
                .name("EntityId")
                .value_list(entity)
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("listed")
        .into_iter()
        .filter_map(|s| s.change_set_id)
        .collect();
    let mut out = Vec::new();
    for id in ids {
        let d = client
            .describe_change_set()
            .catalog(CATALOG)
            .change_set_id(&id)
            .send()
            .await
            .expect("described");
        for change in d.change_set() {
            if change.change_type() == Some("AddDeliveryOptions") {
                let details = change
                    .details_document()
                    .map(server::cloud::json_of)
                    .unwrap_or_default();
                out.push((
                    details["Version"]["VersionTitle"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    format!("{:?}", d.intent()),
                ));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_publish_resumed_after_the_first_architecture_does_not_submit_it_again() {
    let (app, listing) = built(&[Arch::Amd64, Arch::Arm64]).await;
    let oskar = app.user("oskar").await;
    let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
        .await
        .expect("started");
    let step = || async {
        app.clock.set(app.clock.now() + Duration::seconds(61));
    };
    // Up to the amd64 validation's wait, then up to its apply's wait.
    app.runner("w1").run_until_idle().await.expect("run");
    step().await;
    app.runner("w1").run_until_idle().await.expect("run");
    step().await;
    // The amd64 version is applied and recorded, and the worker dies before saving that.
    app.runner("doomed")
        .crash_at_save(1)
        .run_one()
        .await
        .expect("run");
    let recorded = listings::get(app.conn(), listing.id)
        .await
        .expect("listing");
    assert!(
        recorded
            .versions
            .iter()
            .any(|v| v.title == "GitLab Premium 17.7.0 Release"),
        "the first architecture is live and recorded"
    );
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Running
    );
    app.drive(&app.runner("rescuer"), 100)
        .await
        .expect("finished");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let entity = entity_of(&app);
    let sets = version_change_sets(&app, &entity).await;
    let count = |title: &str| sets.iter().filter(|(t, _)| t == title).count();
    assert_eq!(
        count("GitLab Premium 17.7.0 Release"),
        2,
        "one validation and one apply for amd64: {sets:?}"
    );
    assert_eq!(
        count("GitLab Premium 17.7.0 Release (arm64)"),
        2,
        "{sets:?}"
    );
    let titles = app.sim.marketplace().versions(PREMIUM);
    for title in [
        "GitLab Premium 17.7.0 Release",
        "GitLab Premium 17.7.0 Release (arm64)",
    ] {
        assert_eq!(
            titles.iter().filter(|(t, _)| t == title).count(),
            1,
            "{titles:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_publish_blocked_by_someone_elses_change_set_shows_it_and_cancel_and_retry_completes_it()
 {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.listing(PREMIUM).await.expect("Premium listing");
    let entity = entity_of(&app);
    let foreign = app
        .sim
        .marketplace()
        .start_foreign_change_set(&entity, "Edit in the Marketplace Management Portal");
    let revision = app
        .approve_copy_of(listing.id, distinctive(None))
        .await
        .expect("approved");

    let blocked = publish_copy(&app, listing.id, revision.id).await;
    assert_eq!(blocked.state, JobState::Blocked, "{:?}", blocked.last_error);
    let error = blocked.last_error.clone().expect("why");
    assert!(
        error.contains(&foreign)
            && error.contains("Edit in the Marketplace Management Portal")
            && error.contains("PREPARING")
            && error.contains("Cancel it and retry"),
        "{error}"
    );
    assert!(
        copy::get(app.conn(), listing.id)
            .await
            .expect("copy")
            .live
            .is_none(),
        "nothing is live yet"
    );

    let oskar = app.user("oskar").await;
    publish::cancel_blocker_and_retry(app.conn(), &oskar, app.clock.now(), blocked.id)
        .await
        .expect("cancel and retry");
    app.drive(&app.runner("w2"), 100).await.expect("worked");
    let done = jobs::get(app.conn(), blocked.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let status = app
        .cloud
        .marketplace()
        .describe_change_set()
        .catalog(CATALOG)
        .change_set_id(&foreign)
        .send()
        .await
        .expect("described");
    assert_eq!(status.status(), Some(&ChangeStatus::Cancelled));
    let live = copy::get(app.conn(), listing.id)
        .await
        .expect("copy")
        .live
        .expect("live");
    assert_eq!(live.revision_id, Some(revision.id));
    assert_eq!(live.copy.title, revision.fields.title);
}
