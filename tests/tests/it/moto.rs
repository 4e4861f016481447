//! The image build against moto, an EC2 emulator nobody here wrote: the same job, the same
//! SDK client, another implementation of the protocol. Moto runs no user data, so the test
//! plays the install script's part and tags the builder when it is up.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use app::{
    domain::{Arch, ImageState, JobState},
    services::{Clock, images, jobs, products},
};
use aws_sdk_ec2::types::{Filter, Tag};
use portal_tests::{Backend, TestApp};

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m moto.server (pip install 'moto[server]')");
    // Owned at once, so the process is killed whatever happens next.
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..150 {
        if client
            .get(format!("{}/moto-api/", moto.url))
            .send()
            .await
            .is_ok()
        {
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto did not start on {}", moto.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_runs_the_same_against_moto() {
    let moto = start_moto().await;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let cloud = Arc::new(server::cloud::Cloud::endpoint(
        moto.url.clone(),
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
        // The install script's last line, done by hand.
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
        for id in builders
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(|i| i.instance_id())
        {
            ec2.create_tags()
                .resources(id)
                .tags(Tag::builder().key("portal:install").value("done").build())
                .send()
                .await
                .expect("tag");
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
