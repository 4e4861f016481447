//! The release train: a release sets its builds, publishes and maintenance runs moving by
//! itself, gates are visible waits that clear by themselves, and nothing happens twice.

use app::{
    domain::*,
    dto::*,
    services::{Clock as _, builds, entities, jobs, listings, notify, trains},
};
use portal_tests::{Backend, GITLAB_TOKEN, TestApp};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

/// GitLab's release webhook for `tag`, as GitLab sends it.
async fn deliver(app: &TestApp, tag: &str, uuid: &str) -> ReleaseEventOutcome {
    let res = TestApp::client()
        .post(app.url("/api/v1/webhooks/gitlab"))
        .header("X-Gitlab-Token", GITLAB_TOKEN)
        .header("X-Gitlab-Event", "Release Hook")
        .header("X-Gitlab-Event-UUID", uuid)
        .json(&serde_json::json!({
            "object_kind": "release",
            "action": "create",
            "tag": tag,
            "name": format!("GitLab {tag}"),
            "description": "GitLab Patch Release",
            "released_at": "2026-11-02T08:00:00Z"
        }))
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.expect("outcome")
}

async fn train(app: &TestApp, version: &str) -> ReleaseTrain {
    trains::release_train(app.conn(), app.clock.now(), version)
        .await
        .expect("train")
}

fn step<'a>(t: &'a ReleaseTrain, label: &str) -> &'a TrainStep {
    t.steps
        .iter()
        .find(|s| s.label == label)
        .unwrap_or_else(|| panic!("no step {label}: {:#?}", t.steps))
}

async fn job_count(app: &TestApp) -> u64 {
    entities::job::Entity::find()
        .count(app.conn())
        .await
        .expect("jobs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_event_runs_the_whole_train_without_another_call() {
    for backend in portal_tests::backends() {
        let app = TestApp::spawn(backend).await.expect("app");
        let premium = app
            .approve_copy("GitLab Premium")
            .await
            .expect("copy approved");
        let ultimate = app
            .approve_copy("GitLab Ultimate")
            .await
            .expect("copy approved");
        let outcome = deliver(&app, "v18.7.0-ee", "release-18.7.0").await;
        assert_eq!(outcome.status, "recorded", "{backend:?}");
        assert!(
            outcome.train.is_some(),
            "{backend:?}: the release started its train"
        );
        let started = train(&app, "18.7.0").await;
        assert_eq!(
            started.steps.len(),
            8,
            "{backend:?}: six builds and two publishes"
        );
        assert_eq!(
            step(&started, "GitLab Premium 18.7.0 Release").state,
            TrainStepState::Waiting
        );
        assert!(
            step(&started, "GitLab Premium 18.7.0 Release")
                .wait
                .contains("waiting on the build of GitLab EE Premium 18.7.0"),
            "{:?}",
            step(&started, "GitLab Premium 18.7.0 Release").wait
        );

        app.work_trains(&app.runner("worker"))
            .await
            .expect("the portal works");

        let done = train(&app, "18.7.0").await;
        assert_eq!(
            done.state,
            TrainState::Done,
            "{backend:?}: {:#?}",
            done.steps
        );
        assert_eq!(done.sla, SlaStatus::MetOnTime, "{backend:?}");
        assert_eq!(done.progress, 100);
        assert_eq!(done.timeline.milestones.len(), 8);
        assert!(done.timeline.milestones.iter().all(|m| m.on_time));
        for s in &done.steps {
            assert_eq!(s.state, TrainStepState::Done, "{backend:?}: {s:?}");
        }
        let images = entities::image_version::Entity::find()
            .filter(entities::image_version::Column::State.eq(ImageState::Available))
            .all(app.conn())
            .await
            .expect("images")
            .into_iter()
            .filter(|iv| iv.name.contains("18.7.0"))
            .count();
        assert_eq!(images, 6, "{backend:?}: all six images, once each");
        for (id, title) in [
            (premium, "GitLab Premium 18.7.0 Release"),
            (ultimate, "GitLab Ultimate 18.7.0 Release"),
        ] {
            let l = listings::get(app.conn(), id).await.expect("listing");
            assert_eq!(
                l.versions.iter().filter(|v| v.title == title).count(),
                1,
                "{backend:?}: {title} is live once"
            );
        }
        assert!(!done.runs.is_empty());
        for run in &done.runs {
            assert_eq!(run.state, WorkflowState::Done, "{backend:?}: {run:?}");
            assert_eq!(
                run.sla.as_ref().map(|s| s.status),
                Some(SlaStatus::MetOnTime),
                "{backend:?}: {run:?}"
            );
        }
        // The REST API and the dashboard's newest train say the same.
        let client = app.signed_in("oskar").await.expect("oskar");
        let rest: ReleaseTrain = client
            .get(app.url("/api/v1/releases/18.7.0/train"))
            .send()
            .await
            .expect("train")
            .json()
            .await
            .expect("json");
        assert_eq!(rest.state, TrainState::Done);
        let newest = trains::newest(app.conn(), app.clock.now())
            .await
            .expect("newest")
            .expect("a train");
        assert_eq!(newest.id, done.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_without_approved_copy_waits_and_goes_on_once_it_is_approved() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.without_copy("GitLab Ultimate")
        .await
        .expect("the seeded copy removed");
    app.approve_copy("GitLab Premium")
        .await
        .expect("copy approved");
    let client = app.signed_in("oskar").await.expect("oskar");
    let res = client
        .post(app.url("/api/v1/releases"))
        .json(&serde_json::json!({"version": "18.7.0", "released_on": "2026-11-02", "kind": "regular"}))
        .send()
        .await
        .expect("release");
    assert_eq!(res.status(), 201);
    app.work_trains(&app.runner("worker"))
        .await
        .expect("the portal works");
    let t = train(&app, "18.7.0").await;
    assert_eq!(t.state, TrainState::Waiting, "{:#?}", t.steps);
    let ultimate = step(&t, "GitLab Ultimate 18.7.0 Release");
    assert_eq!(ultimate.state, TrainStepState::Waiting);
    assert_eq!(ultimate.wait, "waiting on Marketing's copy approval");
    assert!(ultimate.job.is_none());
    assert_eq!(
        step(&t, "GitLab Premium 18.7.0 Release").state,
        TrainStepState::Done
    );
    // Marketing heard about it, once, however many turns passed.
    for _ in 0..3 {
        trains::advance_open(app.conn(), app.clock.now())
            .await
            .expect("tick");
    }
    let maya = app.user("maya").await;
    let inbox = notify::inbox(app.conn(), maya.id, PageRequest::default())
        .await
        .expect("inbox");
    let told: Vec<_> = inbox
        .items
        .iter()
        .filter(|n| n.kind == NotificationKind::TrainWaiting)
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].link, "/releases/18.7.0/train");

    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    app.work_trains(&app.runner("worker"))
        .await
        .expect("the portal works");
    let t = train(&app, "18.7.0").await;
    assert_eq!(t.state, TrainState::Done, "{:#?}", t.steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_a_retried_request_or_two_ticks_at_once_change_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.approve_copy("GitLab Premium")
        .await
        .expect("copy approved");
    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    let first = deliver(&app, "v18.7.0-ee", "delivery-1").await;
    assert_eq!(first.status, "recorded");
    let jobs_after_first = job_count(&app).await;
    assert_eq!(jobs_after_first, 6, "the six builds started at once");
    let again = deliver(&app, "v18.7.0-ee", "delivery-1").await;
    assert_eq!(again.status, "duplicate");
    let other_delivery = deliver(&app, "v18.7.0-ee", "delivery-2").await;
    assert_eq!(other_delivery.status, "duplicate");
    let client = app.signed_in("oskar").await.expect("oskar");
    let retried = client
        .post(app.url("/api/v1/releases"))
        .json(&serde_json::json!({"version": "18.7.0", "released_on": "2026-11-02", "kind": "regular"}))
        .send()
        .await
        .expect("release");
    assert_eq!(retried.status(), 409);
    // Two processes turning the trains at the same moment.
    let (a, b) = tokio::join!(
        trains::advance_open(app.conn(), app.clock.now()),
        trains::advance_open(app.conn(), app.clock.now()),
    );
    a.expect("a");
    b.expect("b");
    assert_eq!(job_count(&app).await, jobs_after_first, "nothing doubled");
    // A release candidate starts nothing.
    let rc = deliver(&app, "v18.8.0-rc42-ee", "rc").await;
    assert!(rc.status.starts_with("ignored"), "{rc:?}");
    assert_eq!(job_count(&app).await, jobs_after_first);

    app.work_trains(&app.runner("worker"))
        .await
        .expect("the portal works");
    let t = train(&app, "18.7.0").await;
    assert_eq!(t.state, TrainState::Done, "{:#?}", t.steps);
    let publishes = jobs::list(
        app.conn(),
        &JobFilter::default(),
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
    .expect("jobs")
    .items
    .into_iter()
    .filter(|j| j.kind == "publish_version")
    .count();
    assert_eq!(publishes, 2, "one publish per listing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_train_survives_a_restart_in_the_middle() {
    let mut app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.approve_copy("GitLab Premium")
        .await
        .expect("copy approved");
    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    deliver(&app, "v18.7.0-ee", "before-restart").await;
    // Some work happens, then the process stops.
    let runner = app.runner("before");
    for _ in 0..4 {
        runner.run_one().await.expect("job");
    }
    drop(runner);
    app.restart().await.expect("restart");
    app.work_trains(&app.runner("worker"))
        .await
        .expect("the portal works");
    let t = train(&app, "18.7.0").await;
    assert_eq!(t.state, TrainState::Done, "{:#?}", t.steps);
    let images = entities::image_version::Entity::find()
        .all(app.conn())
        .await
        .expect("images")
        .into_iter()
        .filter(|iv| iv.name.contains("18.7.0"))
        .count();
    assert_eq!(images, 6, "no image built twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_stops_its_branch_only_and_policies_are_the_teams() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.approve_copy("GitLab Premium")
        .await
        .expect("copy approved");
    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    // Partnerships publishes Premium by hand from now on; Marketing may not decide that.
    let premium = app.listing("GitLab Premium").await.expect("premium");
    let maya = app.signed_in("maya").await.expect("maya");
    let res = maya
        .put(app.url(&format!("/api/v1/listings/{}/publish-policy", premium.id)))
        .json(&serde_json::json!({"policy": "manual"}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 403);
    let priya = app.signed_in("priya").await.expect("priya");
    let res = priya
        .put(app.url(&format!("/api/v1/listings/{}/publish-policy", premium.id)))
        .json(&serde_json::json!({"policy": "manual"}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200);
    let res = priya
        .put(app.url(&format!("/api/v1/listings/{}/publish-policy", premium.id)))
        .json(&serde_json::json!({"policy": "sometimes"}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 422);

    let outcome = deliver(&app, "v18.7.0-ee", "failing").await;
    assert!(outcome.train.is_some());
    // Someone cancels the Ultimate build: its branch stops, the rest goes on.
    let t = train(&app, "18.7.0").await;
    let ultimate_build = step(&t, "GitLab EE Ultimate 18.7.0 (amd64)")
        .job
        .clone()
        .expect("job");
    jobs::cancel(
        app.conn(),
        &app.user("oskar").await,
        app.clock.now(),
        ultimate_build.id,
    )
    .await
    .expect("cancel");
    app.work_trains(&app.runner("worker"))
        .await
        .expect("the portal works");
    let t = train(&app, "18.7.0").await;
    assert_eq!(t.state, TrainState::Stopped, "{:#?}", t.steps);
    let failed = step(&t, "GitLab EE Ultimate 18.7.0 (amd64)");
    assert_eq!(failed.state, TrainStepState::Failed);
    assert!(failed.wait.contains("the build failed"), "{}", failed.wait);
    let waiting = step(&t, "GitLab Ultimate 18.7.0 Release");
    assert_eq!(waiting.state, TrainStepState::Waiting);
    assert!(waiting.wait.contains("which failed"), "{}", waiting.wait);
    let manual = step(&t, "GitLab Premium 18.7.0 Release");
    assert_eq!(manual.state, TrainStepState::Manual);
    assert_eq!(
        t.steps
            .iter()
            .filter(|s| s.kind == TrainStepKind::Build && s.state == TrainStepState::Done)
            .count(),
        5
    );
    let oskar = app.user("oskar").await;
    let inbox = notify::inbox(app.conn(), oskar.id, PageRequest::default())
        .await
        .expect("inbox");
    assert!(
        inbox
            .items
            .iter()
            .any(|n| n.kind == NotificationKind::TrainStopped),
        "Omnibus heard the train stopped"
    );
    // Omnibus builds it again by hand: the branch goes on by itself.
    builds::start(
        app.conn(),
        &oskar,
        app.clock.now(),
        "aws",
        "gitlab-ee-ultimate",
        "18.7.0",
        Arch::Amd64,
    )
    .await
    .expect("built again by hand");
    app.work_trains(&app.runner("worker"))
        .await
        .expect("the portal works");
    let t = train(&app, "18.7.0").await;
    assert_eq!(
        step(&t, "GitLab Ultimate 18.7.0 Release").state,
        TrainStepState::Done,
        "{:#?}",
        t.steps
    );
    assert_eq!(
        t.state,
        TrainState::Waiting,
        "only the manual publish is left"
    );
}
