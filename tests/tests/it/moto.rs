//! The image build against moto, an EC2 emulator nobody here wrote: the same job, the same
//! SDK client, another implementation of the protocol. Moto runs no user data, so the test
//! plays the builder's part: it powers the builder off through the SDK (StopInstances, as
//! the install script's `poweroff` would) and writes what the script writes to the serial
//! console. Moto's `GetConsoleOutput` always answers with one canned text and offers no
//! way to set it, so the portal talks to moto through a pass-through proxy that changes one
//! thing only: in moto's own `GetConsoleOutput` answer for a builder the test has written a
//! console for, the `<output>` holds that console instead of moto's sample. Every other
//! request and answer, that one's headers and status included, is moto's.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use app::{
    domain::{Arch, ImageState, JobState},
    services::{Clock, images, jobs, products},
};
use aws_sdk_ec2::types::Filter;
use base64::Engine as _;
use portal_tests::{Backend, TestApp, s3::Moto};

/// What the test, playing the builders, wrote to their serial consoles.
type Consoles = Arc<Mutex<HashMap<String, String>>>;

/// Starts the pass-through proxy in front of moto; returns its URL.
async fn start_console_proxy(moto: String, consoles: Consoles) -> String {
    use axum::{
        body::Bytes,
        extract::State,
        http::{HeaderMap, Method, StatusCode, Uri},
        response::IntoResponse,
    };
    async fn forward(
        State((moto, consoles, client)): State<(String, Consoles, reqwest::Client)>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let form: HashMap<String, String> = url_decode(&body);
        let mut request = client.request(method, format!("{moto}{uri}"));
        for (name, value) in &headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let Ok(answer) = request.body(body).send().await else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let status = answer.status();
        let mut out_headers = HeaderMap::new();
        for (name, value) in answer.headers() {
            if name != reqwest::header::CONTENT_LENGTH && name != reqwest::header::TRANSFER_ENCODING
            {
                out_headers.insert(name.clone(), value.clone());
            }
        }
        let mut text = answer.text().await.unwrap_or_default();
        if form.get("Action").map(String::as_str) == Some("GetConsoleOutput")
            && status.is_success()
            && let Some(console) = form.get("InstanceId").and_then(|id| {
                consoles
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(id)
                    .cloned()
            })
            && let (Some(start), Some(end)) = (text.find("<output>"), text.find("</output>"))
        {
            let encoded = base64::engine::general_purpose::STANDARD.encode(console);
            text.replace_range(start + "<output>".len()..end, &encoded);
        }
        (status, out_headers, text).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy port");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app =
        axum::Router::new()
            .fallback(forward)
            .with_state((moto, consoles, reqwest::Client::new()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn url_decode(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_runs_the_same_against_moto() {
    let moto = Moto::start().await.expect("moto");
    let consoles: Consoles = Arc::default();
    let proxy = start_console_proxy(moto.url.clone(), consoles.clone()).await;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let cloud = Arc::new(server::cloud::Cloud::endpoint(
        proxy,
        server::cloud::CloudSettings::marketplace_default(chrono::Duration::seconds(15)),
    ));
    let runner = server::jobs::Runner::new(
        app.state.clone(),
        server::jobs::handlers(&cloud),
        "moto-worker",
    );

    // Moto ships Canonical's Xenial image; point the product at it.
    let user = app.omnibus().await.expect("user");
    let mut input = products::input_for(
        &products::get(app.conn(), "aws", "gitlab-ce")
            .await
            .expect("ce"),
    );
    input.base_image_name_pattern = "ubuntu/images/*ubuntu-xenial-16.04-{arch}-server-*".into();
    products::update(
        app.conn(),
        &user,
        app.clock.now(),
        &app.state.base_image_owners,
        "aws",
        "gitlab-ce",
        &input,
    )
    .await
    .expect("update");
    app.new_release("17.7.0").await.expect("release");
    let job = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("start");

    let ec2 = cloud.ec2("us-east-1");
    for _ in 0..20 {
        runner.run_until_idle().await.expect("run");
        let state = jobs::get(app.conn(), job.id).await.expect("job");
        if matches!(
            state.state,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        ) {
            break;
        }
        // The builder's part: the install script reports on the console and powers off.
        let builders = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:portal:job")
                    .values(job.id.to_string())
                    .build(),
            )
            .send()
            .await
            .expect("describe");
        for instance in builders.reservations().iter().flat_map(|r| r.instances()) {
            let (Some(id), Some(state)) = (
                instance.instance_id(),
                instance.state().and_then(|s| s.name()),
            ) else {
                continue;
            };
            if *state != aws_sdk_ec2::types::InstanceStateName::Running {
                continue;
            }
            consoles
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(
                    id.to_owned(),
                    format!(
                        "[   41.2] cloud-init[745]: gitlab Reconfigured!\n{} ok\n[   42.0] reboot: Power down\n",
                        server::jobs::build_image::console::RESULT_MARKER
                    ),
                );
            ec2.stop_instances()
                .instance_ids(id)
                .send()
                .await
                .expect("stop");
        }
        app.clock
            .set(app.clock.now() + chrono::Duration::seconds(61));
    }
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);

    let image = images::matrix(app.conn(), "aws", "gitlab-ce", 1)
        .await
        .expect("matrix")[0]
        .cells[0]
        .image
        .clone()
        .expect("image");
    assert_eq!(image.state, ImageState::Available);
    let detail = images::get(app.conn(), image.id).await.expect("detail");
    assert_eq!(detail.regions.len(), 19);
    // Moto agrees: the image is public in a copy region and the builder is gone.
    let copy = detail
        .regions
        .iter()
        .find(|r| r.region == "eu-west-3")
        .and_then(|r| r.image_id.clone())
        .expect("copy");
    let attr = cloud
        .ec2("eu-west-3")
        .describe_image_attribute()
        .image_id(&copy)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .expect("attribute");
    assert!(
        attr.launch_permissions()
            .iter()
            .any(|p| p.group() == Some(&aws_sdk_ec2::types::PermissionGroup::All))
    );
    let named = cloud
        .ec2("eu-west-3")
        .describe_images()
        .image_ids(&copy)
        .send()
        .await
        .expect("image");
    assert_eq!(named.images()[0].name(), Some("GitLab CE 17.7.0"));
    let running = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .expect("instances");
    assert_eq!(
        running
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .count(),
        0,
        "the builder was terminated"
    );
}

/// The daily base-image check asks EC2 what a build would take (owner, name filter, state)
/// and proposes rebuilding what is built on something older: against moto, whose Canonical
/// images nobody here chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_image_check_finds_moto_s_canonical_image_and_proposes_rebuilds() {
    use app::services::rebuilds;
    let moto = Moto::start().await.expect("moto");
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let cloud = Arc::new(server::cloud::Cloud::endpoint(
        moto.url.clone(),
        server::cloud::CloudSettings::marketplace_default(chrono::Duration::seconds(15)),
    ));
    let user = app.omnibus().await.expect("user");
    for slug in [
        "gitlab-ce",
        "gitlab-ee",
        "gitlab-ee-premium",
        "gitlab-ee-ultimate",
    ] {
        let mut input = products::input_for(
            &products::get(app.conn(), "aws", slug)
                .await
                .expect("product"),
        );
        input.base_image_name_pattern = "ubuntu/images/*ubuntu-xenial-16.04-{arch}-server-*".into();
        products::update(
            app.conn(),
            &user,
            app.clock.now(),
            &app.state.base_image_owners,
            "aws",
            slug,
            &input,
        )
        .await
        .expect("update");
    }
    let finder = server::jobs::base_image_check::Ec2BaseImages::new(cloud);
    let found = rebuilds::check(app.conn(), &user, app.clock.now(), &finder)
        .await
        .expect("check");
    let amd64 = found
        .base_images
        .iter()
        .find(|b| b.arch == Arch::Amd64)
        .expect("the amd64 filter was asked");
    assert_eq!(amd64.owner, "099720109477");
    let (id, name) = (
        amd64
            .newest_id
            .clone()
            .expect("moto lists Canonical's Xenial image"),
        amd64.newest_name.clone().unwrap_or_default(),
    );
    assert!(id.starts_with("ami-"), "{id}");
    assert!(name.contains("ubuntu-xenial-16.04-amd64-server-"), "{name}");
    assert!(amd64.newest_created.is_some(), "moto says when it was made");
    for b in &found.base_images {
        if let Some(name) = &b.newest_name {
            assert!(name.contains(&format!("-{}-server-", b.arch)), "{b:?}");
        }
    }
    // The sample history was built on no recorded base image: its current images are
    // proposed for a rebuild on moto's image, once.
    let proposal = found
        .proposals
        .iter()
        .find(|p| p.base_image_id == id)
        .expect("a proposal on moto's image");
    assert!(!proposal.items.is_empty());
    let again = rebuilds::check(app.conn(), &user, app.clock.now(), &finder)
        .await
        .expect("check again");
    assert!(
        again.proposals.iter().all(|p| p.base_image_id != id),
        "proposed once"
    );
}

/// The EC2 half of the account sync against moto: the account's own images (an image made
/// and shared in the console, through the SDK) with their tags and visibility. What moto
/// does not serve (Service Quotas, the Recycle Bin) is recorded as not read, with why,
/// and the region's images are read all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_reads_the_account_s_own_images_from_moto() {
    use portal_tests::account::{console_image, set_public};
    let moto = Moto::start().await.expect("moto");
    let cloud = server::cloud::Cloud::endpoint(
        moto.url.clone(),
        server::cloud::CloudSettings::marketplace_default(chrono::Duration::seconds(15)),
    );
    let empty = server::jobs::cloud_sync::read_region(&cloud, "us-east-1").await;
    assert_eq!(empty.images_error, None);
    assert_eq!(
        empty.images.as_deref().map(<[_]>::len),
        Some(0),
        "moto's own images are not the account's"
    );

    // Someone makes an image by hand from one of moto's Ubuntu images and shares it.
    let made = console_image(
        &cloud,
        "us-east-1",
        "GitLab EE 17.7.0 (made by hand)",
        &[("Type", "GitLab EE"), ("Version", "17.7.0")],
    )
    .await;
    set_public(&cloud, "us-east-1", &made, true)
        .await
        .expect("made public");

    let read = server::jobs::cloud_sync::read_region(&cloud, "us-east-1").await;
    assert_eq!(read.region, "us-east-1");
    assert_eq!(read.images_error, None);
    let images = read.images.expect("the region's images were read");
    assert_eq!(images.len(), 1, "{images:?}");
    let image = &images[0];
    assert_eq!(image.image_id, made);
    assert_eq!(image.name, "GitLab EE 17.7.0 (made by hand)");
    assert!(image.public);
    assert_eq!(
        image.tags.get("Type").map(String::as_str),
        Some("GitLab EE")
    );
    assert_eq!(
        image.tags.get("Version").map(String::as_str),
        Some("17.7.0")
    );
    assert!(image.created_on.is_some(), "moto says when it was made");
    assert!(!image.protected);
    // Every part was either read or says why not.
    assert!(read.quota.is_some() || read.quota_error.is_some());
    assert!(read.recycle_bin.is_some() || read.recycle_bin_error.is_some());
    // Another region of the account holds nothing.
    let other = server::jobs::cloud_sync::read_region(&cloud, "eu-west-3").await;
    assert_eq!(other.images.map(|i| i.len()), Some(0));

    // What moto answered, brought into a catalogue: the hand-made image counts in its
    // region as made outside the portal; one named like GitLab's EE images, of a release
    // the catalogue lacks, is imported with its release.
    let named = console_image(&cloud, "us-east-1", "GitLab EE 16.11.10", &[]).await;
    set_public(&cloud, "us-east-1", &named, true)
        .await
        .expect("made public");
    let read = server::jobs::cloud_sync::read_region(&cloud, "us-east-1").await;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let report = app::services::account::apply(
        app.conn(),
        app.clock.now(),
        &app::services::account::AccountSnapshot {
            regions: vec![read],
            listings: vec![],
        },
    )
    .await
    .expect("applied");
    assert_eq!((report.imported, report.outside), (1, 1), "{report:?}");
    let regions = app::services::retention::regions(app.conn())
        .await
        .expect("regions");
    let east = regions
        .iter()
        .find(|r| r.region == "us-east-1")
        .expect("us-east-1");
    assert_eq!(east.public_images, 2, "counted from the account moto holds");
    assert_eq!(east.outside_images, 1);
    assert!(east.synced_at.is_some());
    let imported = app::services::releases::get(app.conn(), "16.11.10").await;
    assert!(imported.is_ok(), "the release was recorded: {imported:?}");
}
