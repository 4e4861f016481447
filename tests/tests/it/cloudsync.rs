//! The cloud sync's server half: asking for a sync over REST, the sync at start and on its
//! schedule, the quota it reads from Service Quotas, and the deregistration protection the
//! publish, restrict and retire jobs keep (checked through the SDK against the simulated
//! EC2, as AWS would show it).

use std::time::Duration as StdDuration;

use app::{
    domain::*,
    dto::{Job, JobFilter, PageRequest},
    services::{
        Clock as _,
        account::{ListingTarget, SyncReport},
        jobs, limits, listings, publish, retention,
    },
};
use portal_tests::{
    Backend, TestApp,
    account::{protect, protection, region, region_quota, regions, with_policy},
};
use reqwest::StatusCode;

/// The simulated account's quota in these tests: not AWS's default, so a quota read from
/// Service Quotas cannot be mistaken for it.
const SIM_QUOTA: &str = "40";

async fn portal() -> TestApp {
    TestApp::spawn_configured(Backend::Sqlite, &[("--sim-public-image-quota", SIM_QUOTA)])
        .await
        .expect("app")
}

async fn sync_jobs(app: &TestApp) -> Vec<Job> {
    jobs::list(
        app.conn(),
        &JobFilter {
            kind: Some("cloud_sync".into()),
            ..Default::default()
        },
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
    .expect("jobs")
    .items
}

async fn post_sync(client: &reqwest::Client, app: &TestApp) -> reqwest::Response {
    client
        .post(app.url("/api/v1/cloud/sync"))
        .send()
        .await
        .expect("sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omnibus_asks_for_a_sync_and_gets_the_job_which_reports_the_quota_service_quotas_gave() {
    let app = portal().await;
    let (oskar, alex, maya) = (
        app.signed_in("oskar").await.expect("oskar"),
        app.signed_in("alex").await.expect("admin"),
        app.signed_in("maya").await.expect("marketing"),
    );

    // Before any sync the quota is AWS's default.
    let east = region_quota(&app, "us-east-1").await;
    assert_eq!(east.quota_source, QuotaSource::Default);

    let res = post_sync(&oskar, &app).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let job: Job = res.json().await.expect("job");
    assert_eq!(job.kind, "cloud_sync");
    assert_eq!(job.state, JobState::Queued);
    // A second ask while one is queued answers the same job.
    let res = post_sync(&alex, &app).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Job>().await.expect("job").id, job.id);
    // Marketing may not, nor may anyone signed out.
    let res = post_sync(&maya, &app).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = res.json().await.expect("error");
    assert_eq!(body["code"], "forbidden");
    let res = post_sync(&TestApp::client(), &app).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sync_jobs(&app).await.len(), 1);

    app.drive(&app.runner("worker"), 20).await.expect("synced");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
    let report: SyncReport =
        serde_json::from_value(done.result.expect("a report")).expect("the report is a SyncReport");
    assert!(report.regions > 0, "{report:?}");
    assert!(
        report.regions >= GITLAB_AWS_REGIONS.len(),
        "every target region was read: {report:?}"
    );
    let log = jobs::events(app.conn(), job.id, 0).await.expect("log");
    assert!(
        log.iter()
            .any(|e| e.message.starts_with("us-east-1:") && e.message.contains("quota 40")),
        "{log:#?}"
    );

    // Every synced region's quota is what Service Quotas said: the simulated account's.
    let after = regions(&app).await;
    for name in GITLAB_AWS_REGIONS {
        let r = region(&after, name);
        assert_eq!(r.quota_source, QuotaSource::ServiceQuotas, "{r:?}");
        assert_eq!(r.quota, 40, "{r:?}");
        assert_eq!(r.service_quota, Some(40), "{r:?}");
        assert!(r.synced_at.is_some(), "{r:?}");
    }
    let raw: serde_json::Value = oskar
        .get(app.url("/api/v1/public-images"))
        .send()
        .await
        .expect("public images")
        .json()
        .await
        .expect("json");
    assert_eq!(raw["regions"][0]["quota_source"], "service_quotas");

    // The account page says which sync ran last and how often they run.
    let status: serde_json::Value = oskar
        .get(app.url("/api/v1/cloud"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["last_sync"]["id"], job.id, "{status}");
    assert_eq!(status["every_minutes"], 60);
    // Once it ended, the next ask queues a new sync.
    let res = post_sync(&oskar, &app).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_ne!(res.json::<Job>().await.expect("job").id, job.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_queue_a_sync_at_start_and_the_schedule_one_each_period() {
    let app = portal().await;
    assert!(sync_jobs(&app).await.is_empty(), "no workers, no sync");

    // Workers starting queue one (and run it).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = server::jobs::spawn_workers(&app.state, &app.cloud, 1, stopped);
    let mut queued = Vec::new();
    for _ in 0..500 {
        queued = sync_jobs(&app).await;
        if !queued.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    stop.send(true).expect("stop");
    for w in workers {
        w.await.expect("stopped");
    }
    assert_eq!(queued.len(), 1, "one sync at start: {queued:?}");
    assert_eq!(queued[0].payload["requested_by"], "portal");
    app.drive(&app.runner("worker"), 20).await.expect("synced");

    // With no schedule (0 minutes), only the sync at start runs: the loop ends after it.
    let (_keep, idle) = tokio::sync::watch::channel(false);
    server::jobs::cloud_sync::run_schedule(
        app.state.clone(),
        idle.clone(),
        StdDuration::from_millis(1),
        chrono::Duration::zero(),
    )
    .await;
    assert_eq!(sync_jobs(&app).await.len(), 2, "a second start syncs again");
    app.drive(&app.runner("worker"), 20).await.expect("synced");

    // Hourly: the start's turn, then nothing until an hour has passed on the clock.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let schedule = tokio::spawn(server::jobs::cloud_sync::run_schedule(
        app.state.clone(),
        stopped,
        StdDuration::from_millis(5),
        chrono::Duration::minutes(60),
    ));
    let mut count = 0;
    for _ in 0..500 {
        count = sync_jobs(&app).await.len();
        if count == 3 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert_eq!(count, 3, "the sync at start");
    app.drive(&app.runner("worker"), 20).await.expect("synced");
    // The loop looks many times within the hour and queues nothing.
    for _ in 0..20 {
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert_eq!(sync_jobs(&app).await.len(), 3, "not due within the hour");
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(61));
    for _ in 0..500 {
        count = sync_jobs(&app).await.len();
        if count == 4 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    stop.send(true).expect("stop");
    schedule.await.expect("stopped");
    assert_eq!(count, 4, "the hour's sync");
    assert!(
        sync_jobs(&app)
            .await
            .iter()
            .all(|j| j.payload["requested_by"] == "portal")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_version_s_image_is_protected_and_restricting_the_version_unprotects_it() {
    const TITLE: &str = "GitLab Premium 17.7.0 Release";
    let app = portal().await;
    app.new_release("17.7.0").await.expect("release");
    app.start_build("gitlab-ee-premium", Arch::Amd64)
        .await
        .expect("build");
    app.drive(&app.runner("builder"), 200).await.expect("built");
    let listing = app.listing("GitLab Premium").await.expect("listing");
    let (oskar, priya) = (app.user("oskar").await, app.user("priya").await);
    let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
        .await
        .expect("publish");
    app.drive(&app.runner("publisher"), 100)
        .await
        .expect("published");
    let done = jobs::get(app.conn(), job.id).await.expect("job");
    assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);

    // The version's image, as AWS Marketplace shows it.
    let listing = listings::get(app.conn(), listing.id)
        .await
        .expect("listing");
    let read = server::jobs::cloud_sync::read_listing(
        &app.cloud,
        &ListingTarget {
            listing_id: listing.id,
            entity_id: None,
            entity_name: listing.entity_name.clone(),
        },
    )
    .await;
    assert_eq!(read.error, None);
    assert_eq!(Some(read.entity_id.clone()), listing.entity_id);
    let versions = read.versions.expect("versions");
    let live = versions
        .iter()
        .find(|v| v.title == TITLE)
        .expect("the published version");
    assert_eq!(live.visibility, "Public");
    let ami = live.amis.first().expect("its image").clone();
    assert!(
        protection(&app, "us-east-1", &ami)
            .await
            .starts_with("enabled"),
        "the live version's image is protected"
    );
    let log = jobs::events(app.conn(), job.id, 0).await.expect("log");
    assert!(
        log.iter()
            .any(|e| e.message == format!("deregistration protection on for {ami} in us-east-1")),
        "{log:#?}"
    );

    // Restricting the version (through a proposal Partnerships approves) turns it off.
    let version = listing
        .versions
        .iter()
        .find(|v| v.title == TITLE)
        .expect("recorded");
    let proposal = limits::propose_versions(
        app.conn(),
        &oskar,
        app.clock.now(),
        listing.id,
        &[version.id],
    )
    .await
    .expect("proposed");
    limits::decide(
        app.conn(),
        &priya,
        app.clock.now(),
        proposal.id,
        true,
        "Superseded",
    )
    .await
    .expect("approved");
    app.drive(&app.runner("restrictor"), 100)
        .await
        .expect("restricted");
    let decided = limits::proposals_of(app.conn(), listing.id)
        .await
        .expect("proposals");
    let applied = decided
        .iter()
        .find(|p| p.id == proposal.id)
        .expect("proposal");
    assert_eq!(applied.state, ProposalState::Applied);
    assert_eq!(
        protection(&app, "us-east-1", &ami).await,
        "disabled",
        "a restricted version's image may be retired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_image_is_not_deregistered_and_its_outcome_says_why() {
    let app = portal().await;
    server::sim::seed_ec2(&app.sim, app.conn())
        .await
        .expect("seed ec2");
    let proposal = with_policy(&app, "gitlab-ce", 3, 90, RetentionAction::Deregister).await;
    // Someone protects one of the listed images in the console after the dry run.
    let kept = proposal.items[0].clone();
    protect(&app, &kept.region, &kept.image_id, false).await;
    retention::decide(
        app.conn(),
        &app.user("priya").await,
        app.clock.now(),
        proposal.id,
        true,
        "",
    )
    .await
    .expect("approved");
    app.drive(&app.runner("retirer"), 50)
        .await
        .expect("retired");

    let done = retention::get(app.conn(), proposal.id)
        .await
        .expect("proposal");
    let outcome = done
        .outcomes
        .iter()
        .find(|o| o.image_region_id == kept.image_region_id)
        .expect("its outcome");
    assert!(
        outcome.note.contains("deregistration protection is on"),
        "{outcome:?}"
    );
    assert_eq!(outcome.state, kept.state, "left as it was");
    assert!(
        app.sim
            .own_images(&kept.region)
            .iter()
            .any(|(id, _)| *id == kept.image_id),
        "still in the account"
    );
    // The others went.
    let others = done
        .outcomes
        .iter()
        .filter(|o| o.image_region_id != kept.image_region_id)
        .collect::<Vec<_>>();
    assert_eq!(others.len(), proposal.items.len() - 1);
    assert!(
        others
            .iter()
            .all(|o| o.state == RegionImageState::Deregistered),
        "{others:?}"
    );
}
