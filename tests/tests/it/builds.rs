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

/// The builder's console as `GetConsoleOutput` answers it, decoded.
async fn console_of(app: &TestApp, instance: &str) -> String {
    use base64::Engine as _;
    let out = app
        .cloud
        .ec2("us-east-1")
        .get_console_output()
        .instance_id(instance)
        .latest(true)
        .send()
        .await
        .expect("console");
    out.output()
        .map(|o| {
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(o)
                    .expect("base64"),
            )
            .into_owned()
        })
        .unwrap_or_default()
}

/// The instances the simulated EC2 launched for a job.
async fn builders_of(app: &TestApp, job: i32) -> Vec<(String, String)> {
    let out = app
        .cloud
        .ec2("us-east-1")
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:portal:job")
                .values(job.to_string())
                .build(),
        )
        .send()
        .await
        .expect("describe");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap_or_default().to_owned(),
                i.state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_makes_its_image_only_after_the_builder_reports_success_on_its_console() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    app.sim
        .configure(|c| c.install_delay = chrono::Duration::minutes(10));
    let own_before = app.sim.own_images("us-east-1").len();
    let job = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("start");
    app.runner("w").run_until_idle().await.expect("run");
    let waiting = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(waiting.state, JobState::Waiting, "{:?}", waiting.last_error);
    let builders = builders_of(&app, job.id).await;
    assert_eq!(builders.len(), 1);
    let (builder, _) = builders[0].clone();
    assert_eq!(
        console_of(&app, &builder).await,
        "",
        "a running builder's console is empty"
    );

    // Halfway through the install: still running, nothing made.
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(5));
    app.runner("w").run_until_idle().await.expect("run");
    let waiting = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(waiting.state, JobState::Waiting);
    assert!(waiting.step.contains("builder running"), "{}", waiting.step);
    assert_eq!(
        app.sim.own_images("us-east-1").len(),
        own_before,
        "no image yet"
    );

    // The install ends: the builder powers itself off and says so on its console.
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(6));
    let console = console_of(&app, &builder).await;
    assert!(console.contains("PORTAL-BUILD-RESULT: ok"), "{console}");
    app.drive(&app.runner("w"), 20).await.expect("drive");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let log = jobs::events(app.conn(), job.id, 0).await.expect("log");
    assert!(
        log.iter().any(|e| e
            .message
            .contains("reported success and the builder stopped")),
        "{log:?}"
    );
    assert_eq!(
        builders_of(&app, job.id).await,
        [(builder, "terminated".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_install_fails_the_build_naming_the_step_with_the_consoles_last_lines() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    app.sim
        .configure(|c| c.install_failure = Some("package".to_owned()));
    let user = omnibus(&app).await;
    let own_before = app.sim.own_images("us-east-1").len();
    let job = app
        .start_build("gitlab-ee", Arch::Amd64)
        .await
        .expect("start");
    app.drive(&app.runner("w"), 10).await.expect("drive");
    let failed = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(failed.state, JobState::Failed);
    let error = failed.last_error.unwrap_or_default();
    for part in [
        "failed at its 'package' step (exit code 100)",
        "the builder was terminated",
        "The last lines of its console",
        "dpkg returned an error code (1)",
        "PORTAL-BUILD-RESULT: failed step=package exit=100",
    ] {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
    let builders = builders_of(&app, job.id).await;
    assert_eq!(builders.len(), 1);
    assert_eq!(builders[0].1, "terminated");
    let images = images::matrix(app.conn(), "aws", "gitlab-ee", 1)
        .await
        .expect("matrix");
    let cell = images[0]
        .cells
        .iter()
        .find(|c| c.arch == Arch::Amd64)
        .expect("amd64");
    assert_ne!(
        cell.image.as_ref().map(|i| i.state),
        Some(ImageState::Available),
        "no image was made"
    );
    assert_eq!(
        app.sim.own_images("us-east-1").len(),
        own_before,
        "no image was made"
    );

    // Fixed, retried: a new builder (not the terminated one) and the image.
    app.sim.configure(|c| c.install_failure = None);
    jobs::retry(app.conn(), &user, app.clock.now(), job.id)
        .await
        .expect("retry");
    app.drive(&app.runner("w"), 20).await.expect("drive");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let builders = builders_of(&app, job.id).await;
    assert_eq!(builders.len(), 2, "{builders:?}");
    assert!(builders.iter().all(|(_, state)| state == "terminated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_deadline_terminates_the_builder_and_fails_the_build() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    // An install that never ends.
    app.sim
        .configure(|c| c.install_delay = chrono::Duration::days(30));
    let job = app
        .start_build("gitlab-ce", Arch::Amd64)
        .await
        .expect("start");
    app.runner("w").run_until_idle().await.expect("run");
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Waiting
    );
    // Just before the deadline it still waits.
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(59));
    app.runner("w").run_until_idle().await.expect("run");
    assert_eq!(
        jobs::get(app.conn(), job.id).await.expect("job").state,
        JobState::Waiting
    );
    assert_eq!(app.sim.counts("us-east-1").running_instances, 1);

    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(2));
    app.runner("w").run_until_idle().await.expect("run");
    let failed = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(failed.state, JobState::Failed);
    let error = failed.last_error.unwrap_or_default();
    assert!(
        error.contains("did not finish within 60 minutes (PORTAL_BUILD_INSTALL_TIMEOUT_MINUTES)")
            && error.contains("still running")
            && error.contains("Its console was empty"),
        "{error}"
    );
    assert_eq!(
        app.sim.counts("us-east-1").running_instances,
        0,
        "the builder was terminated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_data_the_builder_got_is_shown_with_the_license_redacted() {
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
    let path = format!("/api/v1/jobs/{}/user-data", job.id);
    let viewer = app.signed_in("vic").await.expect("vic");
    assert_eq!(
        viewer
            .get(app.url(&path))
            .send()
            .await
            .expect("get")
            .status(),
        reqwest::StatusCode::NOT_FOUND,
        "no builder yet"
    );
    app.drive(&app.runner("w"), 20).await.expect("drive");

    let sent = app.sim.user_data("us-east-1").pop().expect("user data");
    let res = viewer.get(app.url(&path)).send().await.expect("get");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(
        res.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let shown = res.text().await.expect("text");
    assert!(shown.contains("<license redacted>"), "{shown}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&sentinel);
    assert!(!shown.contains(&sentinel) && !shown.contains(&encoded));
    assert!(
        sent.contains(&encoded),
        "the builder itself got the license"
    );
    // Everything but the license is what the builder got.
    let first_line = |t: &str| t.lines().next().unwrap_or_default().to_owned();
    assert_eq!(first_line(&shown), first_line(&sent));
    assert!(shown.contains("/etc/gitlab/predefined.gitlab-license"));

    // The job page shows the same, folded away.
    let page = viewer
        .get(app.url(&format!("/jobs/{}", job.id)))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("job-user-data") && page.contains("&lt;license redacted&gt;"));
    assert!(!page.contains(&sentinel) && !page.contains(&encoded));

    // Read like the other job reads: anyone signed in, nobody else; unknown jobs are 404.
    assert_eq!(
        TestApp::client()
            .get(app.url(&path))
            .send()
            .await
            .expect("anonymous")
            .status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        viewer
            .get(app.url("/api/v1/jobs/999999/user-data"))
            .send()
            .await
            .expect("unknown")
            .status(),
        reqwest::StatusCode::NOT_FOUND
    );
}

/// The portal's images in a region as EC2 reports them: image id → name.
async fn image_names(app: &TestApp, region: &str) -> std::collections::BTreeMap<String, String> {
    app.cloud
        .ec2(region)
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("describe images")
        .images()
        .iter()
        .map(|i| {
            (
                i.image_id().unwrap_or_default().to_owned(),
                i.name().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Which image the lookup gives for release 17.7.0 in us-east-1.
async fn looked_up(app: &TestApp, product: &str, arch: Arch) -> app::dto::ImageLookup {
    images::lookup(
        app.conn(),
        &app::dto::LookupQuery {
            release: "17.7.0".into(),
            product: product.into(),
            arch: arch.as_str().into(),
            region: "us-east-1".into(),
            partner: None,
        },
    )
    .await
    .expect("lookup")
}

async fn rebuild(app: &TestApp, id: i32, reason: &str, note: &str) -> app::dto::Job {
    builds::rebuild(
        app.conn(),
        &omnibus(app).await,
        app.clock.now(),
        id,
        &app::dto::RebuildInput {
            reason: reason.into(),
            note: note.into(),
        },
    )
    .await
    .expect("rebuild")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_makes_a_new_image_that_lookups_and_publishing_use_and_retention_retires_the_old_one()
 {
    use app::services::{audit, publish, retention};
    for backend in backends() {
        let app = TestApp::spawn(backend).await.expect("app");
        new_release(&app, "17.7.0").await;
        for product in ["gitlab-ce", "gitlab-ee-premium"] {
            app.start_build(product, Arch::Amd64).await.expect("build");
        }
        app.drive(&app.runner("w"), 200).await.expect("built");
        let old_ce = looked_up(&app, "gitlab-ce", Arch::Amd64).await;
        let old_premium = looked_up(&app, "gitlab-ee-premium", Arch::Amd64).await;
        let old_ce_ids: Vec<String> = images::get(app.conn(), old_ce.image_version_id)
            .await
            .expect("old")
            .regions
            .into_iter()
            .filter_map(|r| r.image_id)
            .collect();
        assert_eq!(old_ce_ids.len(), REGIONS);

        let job = rebuild(&app, old_ce.image_version_id, "security_fix", "USN-7000-1").await;
        rebuild(&app, old_premium.image_version_id, "new_base_image", "").await;
        assert_eq!(
            looked_up(&app, "gitlab-ce", Arch::Amd64).await.image_id,
            old_ce.image_id,
            "{backend:?}: the old image stays current until the new one is out"
        );
        app.drive(&app.runner("w"), 200).await.expect("rebuilt");
        let done = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);

        // A new image with a name of its own, and the lookup gives it.
        let new_ce = looked_up(&app, "gitlab-ce", Arch::Amd64).await;
        assert_ne!(new_ce.image_id, old_ce.image_id, "{backend:?}");
        assert_ne!(new_ce.image_version_id, old_ce.image_version_id);
        assert_eq!(new_ce.name, format!("{} (rebuild 2)", old_ce.name));
        let names = image_names(&app, "us-east-1").await;
        assert_eq!(
            names.get(&old_ce.image_id),
            Some(&old_ce.name),
            "{backend:?}: the old image is still there"
        );
        assert_eq!(names.get(&new_ce.image_id), Some(&new_ce.name));
        assert_eq!(
            app.sim.counts("eu-west-3").public_images,
            2,
            "{backend:?}: the old and the new CE image are public until retention retires one"
        );
        let new_detail = images::get(app.conn(), new_ce.image_version_id)
            .await
            .expect("new");
        assert_eq!(new_detail.rebuild, 2);
        assert_eq!(
            new_detail.rebuild_reason.as_deref(),
            Some("Security fix: USN-7000-1")
        );
        assert_eq!(new_detail.state, ImageState::Available);
        let old_detail = images::get(app.conn(), old_ce.image_version_id)
            .await
            .expect("old");
        assert_eq!(old_detail.superseded_by, Some(new_detail.id));
        assert!(old_detail.superseded_at.is_some());
        let matrix = images::matrix(app.conn(), "aws", "gitlab-ce", 1)
            .await
            .expect("matrix");
        let cell = matrix[0]
            .cells
            .iter()
            .find(|c| c.arch == Arch::Amd64)
            .and_then(|c| c.image.clone())
            .expect("cell");
        assert_eq!(
            cell.id, new_detail.id,
            "{backend:?}: the product page shows the new image"
        );

        // Publishing takes the new image.
        let new_premium = looked_up(&app, "gitlab-ee-premium", Arch::Amd64).await;
        assert_ne!(new_premium.image_id, old_premium.image_id);
        let listing = app.listing("GitLab Premium").await.expect("listing");
        let plan = publish::plan(
            app.conn(),
            &publish::PublishVersion {
                listing_id: listing.id,
                version: "17.7.0".into(),
            },
            false,
        )
        .await
        .expect("plan");
        assert_eq!(
            plan.targets[0].image_id, new_premium.image_id,
            "{backend:?}"
        );

        // The old one is past the retention policy, the new one is not.
        let proposal = retention::dry_run(
            app.conn(),
            &omnibus(&app).await,
            app.clock.now(),
            "aws",
            "gitlab-ce",
        )
        .await
        .expect("dry run");
        let proposed: Vec<&str> = proposal.items.iter().map(|i| i.image_id.as_str()).collect();
        for id in &old_ce_ids {
            assert!(
                proposed.contains(&id.as_str()),
                "{backend:?}: {id} in {proposed:?}"
            );
        }
        assert!(
            !proposed.contains(&new_ce.image_id.as_str()),
            "{backend:?}: the current image stays"
        );

        // Who rebuilt it and why is in the audit log.
        let events = audit::list(
            app.conn(),
            &app.auditor(),
            &app::dto::AuditFilter {
                object_type: Some("image_version".into()),
                object_id: Some(old_ce.image_version_id.to_string()),
                action: Some("rebuild".into()),
                ..Default::default()
            },
        )
        .await
        .expect("audit")
        .items;
        assert_eq!(events.len(), 1, "{backend:?}: {events:?}");
        assert_eq!(events[0].actor, "oskar");
        assert!(
            events[0].summary.contains("Security fix: USN-7000-1")
                && events[0].summary.contains("(rebuild 2)"),
            "{}",
            events[0].summary
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_is_for_omnibus_needs_a_reason_and_a_plain_build_of_a_built_image_points_to_it()
{
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    new_release(&app, "17.7.0").await;
    app.start_build("gitlab-ce", Arch::Arm64)
        .await
        .expect("build");
    app.drive(&app.runner("w"), 50).await.expect("built");
    let id = looked_up(&app, "gitlab-ce", Arch::Arm64)
        .await
        .image_version_id;
    let url = app.url(&format!("/api/v1/images/{id}/rebuild"));

    let maya = app.signed_in("maya").await.expect("maya");
    let res = maya
        .post(&url)
        .json(&serde_json::json!({"reason": "security_fix"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["code"], "forbidden");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("omnibus"),
        "{body}"
    );

    // The button is on the image's page for Omnibus only.
    let page = |client: reqwest::Client| {
        let url = app.url(&format!("/images/{id}"));
        async move {
            client
                .get(url)
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html")
        }
    };
    assert!(
        !page(maya.clone())
            .await
            .contains("data-testid=\"rebuild-image\"")
    );
    let oskar = app.signed_in("oskar").await.expect("oskar");
    assert!(
        page(oskar.clone())
            .await
            .contains("data-testid=\"rebuild-image\"")
    );
    let res = oskar
        .post(&url)
        .json(&serde_json::json!({"reason": "", "note": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["fields"][0]["field"], "reason", "{body}");

    let err = app
        .start_build("gitlab-ce", Arch::Arm64)
        .await
        .expect_err("a plain build of a built image");
    assert!(err.to_string().contains("rebuild"), "{err}");

    let res = oskar
        .post(&url)
        .json(
            &serde_json::json!({"reason": "new_base_image", "note": "ubuntu-noble-24.04 20250115"}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 201);
    let job: serde_json::Value = res.json().await.expect("json");
    assert_eq!(job["kind"], "build_image", "{job}");
    let res = oskar
        .post(&url)
        .json(&serde_json::json!({"reason": "security_fix"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 409, "one rebuild at a time");
    assert_eq!(
        images::get(app.conn(), id)
            .await
            .expect("old")
            .superseded_by,
        None,
        "nothing replaced before the new image is out"
    );

    let doc: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(
        doc["paths"]["/api/v1/images/{id}/rebuild"]["post"].is_object(),
        "the rebuild route is documented"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_killed_at_any_step_makes_exactly_one_new_image_per_region() {
    for crash_at in 0..12 {
        let app = TestApp::spawn_with(Backend::Sqlite, true)
            .await
            .expect("app");
        new_release(&app, "17.7.0").await;
        app.start_build("gitlab-ce", Arch::Arm64)
            .await
            .expect("build");
        app.drive(&app.runner("w"), 50).await.expect("built");
        let old = looked_up(&app, "gitlab-ce", Arch::Arm64).await;
        let job = rebuild(&app, old.image_version_id, "security_fix", "").await;
        app.runner("doomed")
            .crash_at_save(crash_at)
            .run_one()
            .await
            .expect("run");
        app.drive(&app.runner("rescuer"), 30).await.expect("drive");
        let done = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(
            done.state,
            JobState::Succeeded,
            "crash {crash_at}: {:?}",
            done.last_error
        );
        for region in app::domain::GITLAB_AWS_REGIONS {
            assert_eq!(
                app.sim.counts(region).images,
                2,
                "crash {crash_at}: the old and one new image in {region}"
            );
        }
        let new = looked_up(&app, "gitlab-ce", Arch::Arm64).await;
        assert_eq!(
            new.name,
            format!("{} (rebuild 2)", old.name),
            "crash {crash_at}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_ec2_holds_user_data_and_consoles_to_awss_rules() {
    use base64::Engine as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let ec2 = app.cloud.ec2("us-east-1");
    let images = ec2
        .describe_images()
        .owners("099720109477")
        .send()
        .await
        .expect("images");
    let base = images
        .images()
        .iter()
        .find(|i| i.architecture().map(|a| a.as_str()) == Some("x86_64"))
        .and_then(|i| i.image_id())
        .expect("an amd64 base image")
        .to_owned();
    let launch = |user_data: String| {
        ec2.run_instances()
            .image_id(&base)
            .instance_type(aws_sdk_ec2::types::InstanceType::C5Xlarge)
            .min_count(1)
            .max_count(1)
            .user_data(user_data)
            .send()
    };
    let err = launch("#!/bin/bash\necho not encoded".into())
        .await
        .expect_err("not base64");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("InvalidParameterValue")
    );
    let too_big = base64::engine::general_purpose::STANDARD.encode("#".repeat(16 * 1024 + 1));
    let err = launch(too_big).await.expect_err("too big");
    assert!(
        aws_sdk_ec2::error::ProvideErrorMetadata::message(&err)
            .is_some_and(|m| m.contains("16384")),
        "{err:?}"
    );
    let err = ec2
        .get_console_output()
        .instance_id("i-0123456789abcdef0")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(
        aws_sdk_ec2::error::ProvideErrorMetadata::code(&err),
        Some("InvalidInstanceID.NotFound")
    );
    // Success or failure comes from the simulator's setting, never from the script's text.
    app.sim
        .configure(|c| c.install_failure = Some("first-boot".to_owned()));
    let script = base64::engine::general_purpose::STANDARD
        .encode("#!/bin/bash\necho 'PORTAL-BUILD-RESULT: ok' > /dev/console\n");
    let out = launch(script).await.expect("launch");
    let id = out.instances()[0].instance_id().expect("id").to_owned();
    app.clock.set(app.clock.now() + chrono::Duration::hours(1));
    let console = console_of(&app, &id).await;
    assert!(
        console.contains("PORTAL-BUILD-RESULT: failed step=first-boot exit=100")
            && !console.contains("PORTAL-BUILD-RESULT: ok"),
        "{console}"
    );
}
