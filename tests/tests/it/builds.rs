//! Building images through the real aws-sdk-ec2 client against the simulated EC2.

use app::{
    domain::{Arch, ImageState, JobState, RegionImageState},
    dto::ReleaseRun,
    services::{Clock, builds, images, jobs, products},
};
use portal_tests::{Backend, TestApp, backends};

const REGIONS: usize = 19;

async fn omnibus(app: &TestApp) -> app::domain::CurrentUser {
    app.omnibus().await.expect("oskar")
}

async fn new_release(app: &TestApp, version: &str) {
    app.new_release(version).await.expect("release");
}

async fn assert_built_everywhere(app: &TestApp, run: &ReleaseRun) {
    for job in &run.jobs {
        assert_eq!(
            job.state,
            JobState::Succeeded,
            "job {} ended {:?}: {:?}",
            job.id,
            job.state,
            job.last_error
        );
    }
    for slug in [
        "gitlab-ce",
        "gitlab-ee",
        "gitlab-ee-premium",
        "gitlab-ee-ultimate",
    ] {
        let product = products::get(app.conn(), "aws", slug)
            .await
            .expect("product");
        let matrix = images::matrix(app.conn(), "aws", slug, 1)
            .await
            .expect("matrix");
        for cell in &matrix[0].cells {
            let image = cell
                .image
                .as_ref()
                .unwrap_or_else(|| panic!("{slug} {} has no image", cell.arch));
            assert_eq!(image.state, ImageState::Available, "{slug} {}", cell.arch);
            let detail = images::get(app.conn(), image.id).await.expect("image");
            assert_eq!(detail.regions.len(), REGIONS, "{slug} {}", cell.arch);
            let expected = if product.license_required {
                RegionImageState::Private
            } else {
                RegionImageState::Public
            };
            assert!(
                detail
                    .regions
                    .iter()
                    .all(|r| r.state == expected && r.image_id.is_some()),
                "{slug}: {:?}",
                detail.regions
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_run_builds_all_six_images_in_all_nineteen_regions() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await.expect("app");
        new_release(&app, "17.7.0").await;
        let run =
            builds::start_release(app.conn(), &omnibus(&app).await, app.clock.now(), "17.7.0")
                .await
                .expect("start");
        assert_eq!(
            run.jobs.len(),
            6,
            "{backend:?}: CE and EE on two architectures, Premium and Ultimate on one"
        );

        app.drive(&app.runner("w"), 50).await.expect("drive");
        let run = builds::run(app.conn(), "17.7.0").await.expect("run");
        assert_eq!(run.progress, 100);
        assert_built_everywhere(&app, &run).await;
        assert_eq!(
            app.sim.counts("us-east-1").running_instances,
            0,
            "{backend:?}: every builder terminated"
        );
        assert_eq!(
            app.sim.counts("eu-west-3").public_images,
            4,
            "{backend:?}: CE and EE public, Premium and Ultimate private"
        );

        let again =
            builds::start_release(app.conn(), &omnibus(&app).await, app.clock.now(), "17.7.0")
                .await
                .expect("again");
        assert_eq!(again.jobs.len(), 6, "{backend:?}: nothing new to build");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_killed_at_any_step_finishes_with_one_builder_and_one_image_per_region() {
    // Twelve steps, each saved once; a crash before save n leaves step n done but unsaved.
    for crash_at in 0..12 {
        let app = TestApp::spawn_with(Backend::Sqlite, true)
            .await
            .expect("app");
        new_release(&app, "17.7.0").await;
        let job = app
            .start_build("gitlab-ce", Arch::Arm64)
            .await
            .expect("start");
        app.runner("doomed")
            .crash_at_save(crash_at)
            .run_one()
            .await
            .expect("run");
        assert_eq!(
            jobs::get(app.conn(), job.id).await.expect("job").state,
            JobState::Running,
            "crash {crash_at}: left claimed"
        );

        app.drive(&app.runner("rescuer"), 20).await.expect("drive");
        let done = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(
            done.state,
            JobState::Succeeded,
            "crash {crash_at}: {:?}",
            done.last_error
        );
        assert_eq!(done.attempts, 2, "crash {crash_at}: taken over once");
        let home = app.sim.counts("us-east-1");
        assert_eq!(
            (home.instances, home.running_instances, home.images),
            (1, 0, 1),
            "crash {crash_at}: us-east-1"
        );
        for region in app::domain::GITLAB_AWS_REGIONS {
            assert_eq!(
                app.sim.counts(region).images,
                1,
                "crash {crash_at}: one image in {region}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_at_twenty_percent_still_let_every_build_finish() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    app.sim.configure(|c| c.fault_rate = 0.2);
    builds::start_release(app.conn(), &omnibus(&app).await, app.clock.now(), "17.7.0")
        .await
        .expect("start");
    let workers: Vec<_> = (0..3).map(|i| app.runner(&format!("w{i}"))).collect();
    for _ in 0..60 {
        futures::future::join_all(workers.iter().map(|w| w.run_until_idle()))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .expect("run");
        app.drive(&workers[0], 1).await.ok();
    }
    let run = builds::run(app.conn(), "17.7.0").await.expect("run");
    assert_built_everywhere(&app, &run).await;
    assert!(app.sim.requests() > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_image_quota_stops_the_build_with_a_message_saying_what_to_do() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    app.sim.configure(|c| c.public_image_quota = 1);
    let first = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("start");
    app.drive(&app.runner("w"), 20).await.expect("drive");
    assert_eq!(
        jobs::get(app.conn(), first.id).await.expect("job").state,
        JobState::Succeeded
    );

    let second = app
        .start_build("gitlab-ce", Arch::Arm64)
        .await
        .expect("start");
    app.drive(&app.runner("w"), 20).await.expect("drive");
    let failed = jobs::get(app.conn(), second.id).await.expect("job");
    assert_eq!(failed.state, JobState::Failed);
    let message = failed.last_error.unwrap_or_default();
    assert!(
        message.contains("us-east-1")
            && message.contains("quota of 1")
            && message.contains("Retire old public images"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_base_image_fails_clearly() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    let user = omnibus(&app).await;
    let mut input = products::input_for(
        &products::get(app.conn(), "aws", "gitlab-ee")
            .await
            .expect("ee"),
    );
    input.base_image_name_pattern = "ubuntu/images/*ubuntu-plucky-25.04-{arch}-server-*".into();
    products::update(
        app.conn(),
        &user,
        app.clock.now(),
        &app.state.base_image_owners,
        "aws",
        "gitlab-ee",
        &input,
    )
    .await
    .expect("update");
    let job = app
        .start_build("gitlab-ee", Arch::Amd64)
        .await
        .expect("start");
    app.drive(&app.runner("w"), 5).await.expect("drive");
    let failed = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(failed.state, JobState::Failed);
    assert!(
        failed
            .last_error
            .unwrap_or_default()
            .contains("no base image named 'ubuntu/images/*ubuntu-plucky-25.04-amd64-server-*'")
    );
    assert_eq!(
        app.sim.counts("us-east-1").instances,
        0,
        "nothing was launched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_build_mid_way_leaves_no_builder_running() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    app.sim
        .configure(|c| c.install_delay = chrono::Duration::minutes(10));
    let user = omnibus(&app).await;
    let job = app
        .start_build("gitlab-ee", Arch::Arm64)
        .await
        .expect("start");
    app.runner("w").run_until_idle().await.expect("run");
    let waiting = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(waiting.state, JobState::Waiting, "waiting for the install");
    assert_eq!(app.sim.counts("us-east-1").running_instances, 1);

    jobs::cancel(app.conn(), &user, app.clock.now(), job.id)
        .await
        .expect("cancel");
    app.runner("w").run_until_idle().await.expect("run");
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Cancelled
    );
    assert_eq!(
        app.sim.counts("us-east-1").running_instances,
        0,
        "the builder was terminated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_build_of_the_same_image_is_refused_while_one_runs() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    let user = omnibus(&app).await;
    let first = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("start");
    let err = builds::start(
        app.conn(),
        &user,
        app.clock.now(),
        "aws",
        "gitlab-ce",
        "17.7.0",
        Arch::Amd64,
    )
    .await
    .expect_err("dup");
    assert!(
        err.message.contains(&format!("job {}", first.id)),
        "{err:?}"
    );
    let err = builds::start(
        app.conn(),
        &user,
        app.clock.now(),
        "azure",
        "gitlab-ee",
        "17.7.0",
        Arch::Amd64,
    )
    .await
    .expect_err("azure");
    assert!(err.message.contains("by hand"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_license_reaches_the_image_and_no_log_page_or_answer() {
    use base64::Engine as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    let sentinel = format!("LICENSE-SENTINEL-{}", uuid::Uuid::new_v4().simple());
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .put(app.url("/api/v1/products/aws/gitlab-ee-premium/license"))
        .json(&serde_json::json!({ "license": sentinel }))
        .send()
        .await
        .expect("set");
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);

    let job = app
        .start_build("gitlab-ee-premium", Arch::Amd64)
        .await
        .expect("start");
    let logged_before = portal_tests::captured_logs().len();
    app.drive(&app.runner("w"), 20).await.expect("drive");
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Succeeded
    );

    // It reached the builder, to be written where the first reconfigure reads it.
    let script = app.sim.user_data("us-east-1").pop().expect("user data");
    assert!(script.contains("/etc/gitlab/predefined.gitlab-license"));
    assert!(script.contains(&base64::engine::general_purpose::STANDARD.encode(&sentinel)));
    assert!(
        !script.contains("set -x") && !script.contains("bash -x"),
        "nothing echoes the script"
    );

    // And nowhere else.
    let logs = portal_tests::captured_logs();
    assert!(
        logs.len() > logged_before + 1000,
        "the job's run was logged at trace level"
    );
    let mut seen = vec![("logs", logs)];
    for path in [
        format!("/api/v1/jobs/{}", job.id),
        format!("/api/v1/jobs/{}/events", job.id),
        "/api/v1/products/aws/gitlab-ee-premium".to_owned(),
        "/api/v1/audit?per_page=100".to_owned(),
        "/products/aws/gitlab-ee-premium".to_owned(),
        format!("/jobs/{}", job.id),
        "/audit".to_owned(),
    ] {
        let body = oskar
            .get(app.url(&path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        seen.push(("answer", format!("{path}: {body}")));
    }
    let db_file = app
        .db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    seen.push((
        "database file",
        String::from_utf8_lossy(&std::fs::read(&db_file).expect("db file")).into_owned(),
    ));
    for (place, text) in &seen {
        assert!(
            !text.contains(&sentinel),
            "the license leaked into the {place}"
        );
    }
    let product: serde_json::Value = oskar
        .get(app.url("/api/v1/products/aws/gitlab-ee-premium"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        product["license_updated_by"], "oskar",
        "when and who are shown, not what"
    );

    // Without a license the build stops and says what to do.
    assert_eq!(
        oskar
            .delete(app.url("/api/v1/products/aws/gitlab-ee-ultimate/license"))
            .send()
            .await
            .expect("delete")
            .status(),
        reqwest::StatusCode::NO_CONTENT
    );
    let job = app
        .start_build("gitlab-ee-ultimate", Arch::Amd64)
        .await
        .expect("start");
    app.drive(&app.runner("w"), 5).await.expect("drive");
    let failed = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(failed.state, JobState::Failed);
    assert!(
        failed
            .last_error
            .unwrap_or_default()
            .contains("needs a license file and none is set")
    );
}

/// Every image of the portal's account in every region, and whether it is public.
fn public_images(app: &TestApp) -> Vec<(String, String)> {
    app::domain::GITLAB_AWS_REGIONS
        .iter()
        .flat_map(|r| {
            app.sim
                .own_images(r)
                .into_iter()
                .filter(|(_, (public, _, _))| *public)
                .map(|(id, _)| ((*r).to_owned(), id))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_refuses_a_public_licensed_product_and_a_base_image_of_another_account() {
    use app::services::entities::product;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    let row = |slug: &'static str| {
        let db = app.conn().clone();
        async move {
            product::Entity::find()
                .filter(product::Column::Slug.eq(slug))
                .one(&db)
                .await
                .expect("find")
                .expect("product")
        }
    };
    // Rows the portal's own checks refuse, written past them, as an older portal may have.
    let mut premium: product::ActiveModel = row("gitlab-ee-premium").await.into();
    premium.visibility = Set(app::domain::Visibility::Public);
    premium.update(app.conn()).await.expect("public premium");
    let mut ce: product::ActiveModel = row("gitlab-ce").await.into();
    ce.base_image_owner = Set("111122223333".into());
    ce.update(app.conn()).await.expect("foreign base image");

    let licensed = app
        .start_build("gitlab-ee-premium", Arch::Amd64)
        .await
        .expect("start");
    let foreign = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("start");
    app.drive(&app.runner("w"), 20).await.expect("drive");
    let licensed = jobs::get(app.conn(), licensed.id).await.expect("job");
    assert_eq!(licensed.state, JobState::Failed);
    assert!(
        licensed.last_error.as_deref().is_some_and(|e| e.contains(
            "refusing to build GitLab EE Premium: it is public and carries a license file"
        )),
        "{:?}",
        licensed.last_error
    );
    let foreign = jobs::get(app.conn(), foreign.id).await.expect("job");
    assert_eq!(foreign.state, JobState::Failed);
    assert!(
        foreign.last_error.as_deref().is_some_and(|e| e.contains(
            "refusing to build on a base image owned by 111122223333: base images may only come from 099720109477"
        )),
        "{:?}",
        foreign.last_error
    );
    let home = app.sim.counts("us-east-1");
    assert_eq!(
        (home.instances, home.images),
        (0, 0),
        "nothing was launched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_built_with_a_license_is_not_made_public_when_the_product_turns_public_mid_build()
{
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    let oskar = omnibus(&app).await;
    let job = app
        .start_build("gitlab-ee-premium", Arch::Amd64)
        .await
        .expect("start");
    // The builder is launched with the license file; then the worker dies.
    app.runner("doomed")
        .crash_at_save(2)
        .run_one()
        .await
        .expect("run");
    assert_eq!(app.sim.counts("us-east-1").instances, 1, "builder launched");

    // Meanwhile the product is made a public community image, step by allowed step.
    products::delete_license(
        app.conn(),
        &oskar,
        app.clock.now(),
        "aws",
        "gitlab-ee-premium",
    )
    .await
    .expect("license deleted");
    let mut input = products::input_for(
        &products::get(app.conn(), "aws", "gitlab-ee-premium")
            .await
            .expect("premium"),
    );
    input.license_required = false;
    input.visibility = "public".into();
    products::update(
        app.conn(),
        &oskar,
        app.clock.now(),
        &app.state.base_image_owners,
        "aws",
        "gitlab-ee-premium",
        &input,
    )
    .await
    .expect("now public");

    app.drive(&app.runner("rescuer"), 20).await.expect("drive");
    let failed = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(failed.state, JobState::Failed);
    assert!(
        failed.last_error.as_deref().is_some_and(|e| e.contains(
            "refusing to make GitLab EE 17.7.0 Premium public: it carries GitLab EE Premium's license file"
        )),
        "{:?}",
        failed.last_error
    );
    assert_eq!(public_images(&app), [], "no image was shared with everyone");
}
