//! The simulated cloud keeps its world in the data directory: a restarted portal finds the
//! images it built, the marketplace versions it published and what was under way, and a
//! world file it cannot read stops it from starting.

use app::{domain::Arch, domain::JobState, services::Clock as _, services::jobs};
use aws_sdk_marketplacecatalog::types::{Change, ChangeStatus, Entity, Intent};
use chrono::Duration;
use portal_tests::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

const CATALOG: &str = "AWSMarketplace";

fn world_file(app: &TestApp) -> std::path::PathBuf {
    app.data_dir.path().join(server::sim::WORLD_FILE)
}

/// The images of this account named `name` in `region`, through the real SDK: (id, state).
async fn own_images(app: &TestApp, region: &str, name: &str) -> Vec<(String, String)> {
    app.cloud
        .ec2(region)
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .expect("DescribeImages")
        .images()
        .iter()
        .map(|i| {
            (
                i.image_id().unwrap_or_default().to_owned(),
                i.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The image the catalogue says to launch, through the REST API of the running portal.
async fn lookup(app: &TestApp, region: &str) -> Value {
    let client = app.signed_in("vic").await.expect("vic");
    let res = client
        .get(app.url(&format!(
            "/api/v1/images/lookup?release=17.7.0&product=gitlab-ce&arch=amd64&region={region}"
        )))
        .send()
        .await
        .expect("lookup");
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_the_portal_built_is_still_in_the_simulated_cloud_after_a_restart() {
    let mut app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.new_release("17.7.0").await.expect("release");
    let job = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("build");
    app.drive(&app.runner("builder"), 200).await.expect("built");
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Succeeded
    );
    let before = lookup(&app, "eu-west-1").await;
    let image_id = before["image_id"].as_str().expect("image id").to_owned();
    let name = before["name"].as_str().expect("name").to_owned();
    assert_eq!(
        own_images(&app, "eu-west-1", &name).await,
        [(image_id.clone(), "available".to_owned())]
    );
    let old_cloud = app.cloud.clone();

    app.restart().await.expect("restart");

    // The new simulated cloud holds the image (the real SDK, at its new endpoint)...
    assert_eq!(
        own_images(&app, "eu-west-1", &name).await,
        [(image_id.clone(), "available".to_owned())]
    );
    let snapshot = app.sim.own_images("eu-west-1")[&image_id].2.clone();
    assert!(
        app.sim.snapshots("eu-west-1").contains(&snapshot),
        "with its snapshot"
    );
    // ...and the catalogue's lookup still leads to it.
    let after = lookup(&app, "eu-west-1").await;
    assert_eq!(after["image_id"], image_id.as_str());
    // Nothing talks to the old world any more.
    assert!(
        old_cloud
            .ec2("eu-west-1")
            .describe_images()
            .owners("self")
            .send()
            .await
            .is_err(),
        "the old simulated cloud still answers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_under_way_at_a_restart_goes_on_against_the_same_builder() {
    let mut app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.new_release("17.7.0").await.expect("release");
    // The install takes ten minutes: the build waits on its builder when the portal stops.
    app.sim
        .configure(|c| c.install_delay = Duration::minutes(10));
    let job = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("build");
    app.runner("builder").run_until_idle().await.expect("run");
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Waiting
    );
    let counts = app.sim.counts("us-east-1");
    assert_eq!((counts.instances, counts.running_instances), (1, 1));

    // Restarted with its settings (installs take no time), ten minutes later.
    app.restart().await.expect("restart");
    app.clock.set(app.clock.now() + Duration::minutes(10));
    app.drive(&app.runner("builder"), 200).await.expect("built");

    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let counts = app.sim.counts("us-east-1");
    assert_eq!(
        (counts.instances, counts.running_instances),
        (1, 0),
        "the builder launched before the restart made the image and was terminated"
    );
    let image = lookup(&app, "us-east-1").await;
    assert_eq!(
        own_images(&app, "us-east-1", image["name"].as_str().expect("name")).await,
        [(
            image["image_id"].as_str().expect("id").to_owned(),
            "available".to_owned()
        )]
    );
}

fn add_version(entity: &str, title: &str, ami: &str) -> Change {
    Change::builder()
        .change_type("AddDeliveryOptions")
        .entity(
            Entity::builder()
                .r#type("AmiProduct@1.0")
                .identifier(entity)
                .build()
                .expect("entity"),
        )
        .details_document(server::cloud::document(serde_json::json!({
            "Version": { "VersionTitle": title, "ReleaseNotes": "Notes" },
            "DeliveryOptions": [{ "Details": { "AmiDeliveryOptionDetails": {
                "AmiSource": { "AmiId": ami, "AccessRoleArn": "arn:aws:iam::123456789012:role/marketplace", "UserName": "ubuntu", "OperatingSystemName": "UBUNTU", "OperatingSystemVersion": "24.04" },
                "UsageInstructions": "https://docs.gitlab.com", "RecommendedInstanceType": "c5.2xlarge",
                "SecurityGroups": [{ "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": ["0.0.0.0/0"] }]
            }}}]
        })))
        .build()
        .expect("change")
}

async fn publish(app: &TestApp, entity: &str, title: &str, ami: &str, token: &str) -> String {
    app.cloud
        .marketplace()
        .start_change_set()
        .catalog(CATALOG)
        .change_set(add_version(entity, title, ami))
        .intent(Intent::Apply)
        .change_set_name("Patch version update")
        .client_request_token(token)
        .send()
        .await
        .expect("StartChangeSet")
        .change_set_id
        .expect("id")
}

async fn status(app: &TestApp, id: &str) -> (ChangeStatus, Vec<String>) {
    let d = app
        .cloud
        .marketplace()
        .describe_change_set()
        .catalog(CATALOG)
        .change_set_id(id)
        .send()
        .await
        .expect("DescribeChangeSet");
    let errors = d
        .change_set()
        .iter()
        .flat_map(|c| c.error_detail_list())
        .filter_map(|e| e.error_code().map(str::to_owned))
        .collect();
    (d.status.expect("status"), errors)
}

/// The entity's versions: (title, delivery option id, visibility).
async fn versions(app: &TestApp, entity: &str) -> Vec<(String, String, String)> {
    let doc = app
        .cloud
        .marketplace()
        .describe_entity()
        .catalog(CATALOG)
        .entity_id(entity)
        .send()
        .await
        .expect("DescribeEntity");
    let details: Value = serde_json::from_str(doc.details().expect("details")).expect("json");
    details["Versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            let option = &v["DeliveryOptions"][0];
            (
                v["VersionTitle"].as_str().unwrap_or_default().to_owned(),
                option["Id"].as_str().unwrap_or_default().to_owned(),
                option["Visibility"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketplace_versions_and_change_sets_under_way_survive_a_restart() {
    let mut app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // The Premium listing's product, seeded from the catalogue at the first start.
    let entity = app.sim.marketplace().seed_product("GitLab Premium", &[]);
    let ami = app.canonical_image().await.expect("a Canonical image");
    let start = app.clock.now();
    let published = publish(
        &app,
        &entity,
        "GitLab Premium 17.7.0 Release",
        &ami,
        "publish-17.7.0",
    )
    .await;
    app.clock.set(start + Duration::seconds(40));
    assert_eq!(
        status(&app, &published).await,
        (ChangeStatus::Succeeded, vec![])
    );
    let before = versions(&app, &entity).await;
    let new_version = before
        .iter()
        .find(|v| v.0 == "GitLab Premium 17.7.0 Release")
        .expect("published")
        .clone();
    // A second one is still preparing when the portal stops.
    let under_way = publish(
        &app,
        &entity,
        "GitLab Premium 17.7.1 Release",
        &ami,
        "publish-17.7.1",
    )
    .await;
    assert_eq!(status(&app, &under_way).await.0, ChangeStatus::Preparing);

    app.restart().await.expect("restart");

    // The version is still in the entity, with the same delivery option.
    let after = versions(&app, &entity).await;
    assert!(after.contains(&new_version), "{after:?}");
    assert_eq!(after, before);
    assert_eq!(
        status(&app, &published).await,
        (ChangeStatus::Succeeded, vec![])
    );
    // The change set under way is the same one for its token, and goes on by the clock.
    assert_eq!(
        publish(
            &app,
            &entity,
            "GitLab Premium 17.7.1 Release",
            &ami,
            "publish-17.7.1"
        )
        .await,
        under_way
    );
    app.clock.set(start + Duration::seconds(80));
    assert_eq!(
        status(&app, &under_way).await,
        (ChangeStatus::Succeeded, vec![])
    );
    // Publishing 17.7.0 again is refused: the title is taken in the world that persisted.
    let again = publish(
        &app,
        &entity,
        "GitLab Premium 17.7.0 Release",
        &ami,
        "publish-17.7.0-again",
    )
    .await;
    app.clock.set(start + Duration::seconds(120));
    assert_eq!(
        status(&app, &again).await,
        (
            ChangeStatus::Failed,
            vec!["DUPLICATE_VERSION_TITLE".to_owned()]
        )
    );
    let titles: Vec<String> = versions(&app, &entity)
        .await
        .into_iter()
        .map(|v| v.0)
        .filter(|t| t.starts_with("GitLab Premium 17.7."))
        .collect();
    assert_eq!(
        titles,
        [
            "GitLab Premium 17.7.0 Release",
            "GitLab Premium 17.7.1 Release"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_world_file_is_written_after_changes_and_never_after_reads() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let file = world_file(&app);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("written at the first start"))
            .expect("json");
    assert_eq!(saved["format"], 1);
    assert!(saved["ec2"]["regions"]["us-east-1"]["images"].is_object());
    assert!(saved["marketplace"]["products"].is_array());

    std::fs::remove_file(&file).expect("remove");
    let ec2 = app.cloud.ec2("us-east-1");
    let image = ec2
        .describe_images()
        .owners("099720109477")
        .send()
        .await
        .expect("images")
        .images()[0]
        .image_id()
        .expect("id")
        .to_owned();
    app.cloud
        .marketplace()
        .list_entities()
        .catalog(CATALOG)
        .entity_type("AmiProduct")
        .send()
        .await
        .expect("ListEntities");
    assert!(!file.exists(), "a read wrote the world");

    ec2.create_tags()
        .resources(&image)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("seen")
                .value("yes")
                .build(),
        )
        .send()
        .await
        .expect("CreateTags");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("written after a change"))
            .expect("json");
    assert_eq!(
        saved["ec2"]["regions"]["us-east-1"]["images"][&image]["tags"]["seen"],
        "yes"
    );
    let leftovers: Vec<_> = std::fs::read_dir(app.data_dir.path())
        .expect("data dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_file_that_cannot_be_read_stops_the_start_and_says_what_to_do() {
    let mut app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let file = world_file(&app);
    std::fs::write(&file, b"{\"format\": 1, \"ec2\": {\"regions\": ").expect("corrupt it");

    let err = match app.restart().await {
        Ok(()) => panic!("a portal started on a corrupt world file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        err.contains("Move it away (or delete it) to start a fresh simulated account"),
        "{err}"
    );
    assert!(err.contains("is not a simulated cloud's world"), "{err}");

    // Moved away, the portal starts with a fresh account and writes the file again.
    std::fs::rename(&file, file.with_extension("json.broken")).expect("move away");
    app.restart().await.expect("a fresh start");
    assert!(file.exists());
    assert_eq!(app.sim.counts("us-east-1").images, 0);
}
