//! Security rebuilds that are not a release: the base-image check against the simulated
//! EC2, the rebuild proposals it makes, and Omnibus's decision, whose rebuild train builds
//! every image again on the new base image.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use app::{
    domain::{Arch, CurrentUser, ImageState, NotificationKind, ProposalState, TrainKind},
    dto::{BaseImageCheck, PageRequest, RebuildProposal},
    error::{AppError, AppResult},
    services::{
        Clock, images, notify,
        rebuilds::{self, BaseImageFinder, BaseImageQuery, FoundBaseImage},
        seed::CANONICAL_OWNER,
        trains,
    },
};
use futures::future::BoxFuture;
use leptos::server_fn::ServerFn as _;
use portal_tests::{Backend, TestApp, backends};
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::jobs::base_image_check::Ec2BaseImages;

/// The newest patch of each of the three newest stable lines, once 17.7.0 is recorded.
const SUPPORTED: [&str; 3] = ["17.7.0", "17.6.0", "17.5.2"];

/// The form of a server function without arguments.
const NO_ARGUMENTS: [(&str, &str); 0] = [];

const PAGE: PageRequest = PageRequest {
    page: Some(1),
    per_page: Some(100),
};

/// Runs the check now as `actor`, through the portal's EC2 client (as the REST route does).
async fn check(app: &TestApp, actor: &CurrentUser) -> BaseImageCheck {
    let finder = Ec2BaseImages::new(app.cloud.clone());
    rebuilds::check(app.conn(), actor, app.clock.now(), &finder)
        .await
        .expect("check")
}

/// The current (available, not replaced) arm64 images of the supported releases.
async fn current_arm64(app: &TestApp, versions: &[&str]) -> BTreeSet<i32> {
    let mut ids = BTreeSet::new();
    for version in versions {
        let page = images::list(app.conn(), None, Some(version), PAGE)
            .await
            .expect("images");
        for image in page.items {
            if image.arch != Arch::Arm64 || image.state != ImageState::Available {
                continue;
            }
            let detail = images::get(app.conn(), image.id).await.expect("image");
            if detail.superseded_by.is_none() {
                ids.insert(image.id);
            }
        }
    }
    ids
}

fn item_ids(p: &RebuildProposal) -> BTreeSet<i32> {
    p.items.iter().map(|i| i.image_version_id).collect()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let res = client.post(url).json(&body).send().await.expect("request");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_base_image_is_proposed_once_and_its_approval_rebuilds_the_supported_releases() {
    for backend in backends() {
        // Eight public images in us-east-1 by the end: more than AWS's default quota.
        let app = TestApp::spawn_configured(backend, &[("--sim-public-image-quota", "50")])
            .await
            .expect("app");
        let oskar = app.user("oskar").await;

        // 17.7.0's arm64 images are built for real on today's newest base image.
        app.new_release("17.7.0").await.expect("release");
        let mut built = Vec::new();
        for product in ["gitlab-ce", "gitlab-ee"] {
            built.push(app.start_build(product, Arch::Arm64).await.expect("build"));
        }
        app.drive(&app.runner("w"), 50).await.expect("drive");
        let first = check(&app, &oskar).await;
        let base_a = first
            .base_images
            .iter()
            .find(|b| b.arch == Arch::Arm64)
            .and_then(|b| b.newest_id.clone())
            .expect("an arm64 base image");
        let new_177 = current_arm64(&app, &["17.7.0"]).await;
        assert_eq!(new_177.len(), 2, "{backend:?}: CE and EE arm64 of 17.7.0");
        for id in &new_177 {
            let image = images::get(app.conn(), *id).await.expect("image");
            assert_eq!(
                image.base_image_id.as_deref(),
                Some(base_a.as_str()),
                "{backend:?}: the build records its base image"
            );
            assert!(
                image
                    .base_image_name
                    .as_deref()
                    .is_some_and(|n| n.contains("ubuntu-noble-24.04-arm64")),
                "{backend:?}: {:?}",
                image.base_image_name
            );
        }

        // The images that predate the record count as built on an older base image; the
        // ones built on the newest do not.
        let on_a = first
            .proposals
            .iter()
            .find(|p| p.arch == Arch::Arm64)
            .expect("the seeded images predate the record");
        let older: BTreeSet<i32> = current_arm64(&app, &SUPPORTED)
            .await
            .difference(&new_177)
            .copied()
            .collect();
        assert_eq!(item_ids(on_a), older, "{backend:?}");
        assert_eq!(on_a.base_image_id, base_a);
        assert_eq!(on_a.proposed_by, "portal");

        // Omnibus rejects it, with a reason; a second decision is a conflict.
        let omnibus = app.signed_in("oskar").await.expect("oskar");
        let reject = app.url(&format!("/api/v1/rebuild-proposals/{}/reject", on_a.id));
        let (status, body) = post(&omnibus, reject.clone(), json!({"comment": " "})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["fields"][0]["field"], "comment");
        let (status, body) = post(
            &omnibus,
            reject.clone(),
            json!({"comment": "the next base image is days away"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "rejected");
        assert_eq!(body["decided_by"], "oskar");
        let (status, body) = post(&omnibus, reject, json!({"comment": "again"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        // Canonical publishes a newer Ubuntu; the check proposes rebuilding every current
        // arm64 image of the supported releases on it, and tells Omnibus.
        let base_b = app
            .sim
            .publish_base_image(
                "us-east-1",
                CANONICAL_OWNER,
                "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261101",
                "arm64",
                app.clock.now() - chrono::Duration::hours(6),
            )
            .expect("published");
        let check_url = app.url("/api/v1/base-images/check");
        let (status, body) = post(&omnibus, check_url.clone(), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {body}");
        let report: BaseImageCheck = serde_json::from_value(body).expect("report");
        assert_eq!(report.proposals.len(), 1, "{backend:?}: {report:?}");
        let proposal = report.proposals[0].clone();
        assert_eq!(proposal.base_image_id, base_b);
        assert_eq!(proposal.arch, Arch::Arm64);
        assert_eq!(proposal.state, ProposalState::Proposed);
        let expected = current_arm64(&app, &SUPPORTED).await;
        assert_eq!(
            expected.len(),
            6,
            "{backend:?}: CE and EE of three releases"
        );
        assert_eq!(item_ids(&proposal), expected, "{backend:?}");
        assert_eq!(proposal.previous_base_images, vec![base_a.clone()]);
        let inbox = notify::inbox(app.conn(), oskar.id, PAGE)
            .await
            .expect("inbox");
        let told: Vec<_> = inbox
            .items
            .iter()
            .filter(|n| {
                n.kind == NotificationKind::RebuildProposed
                    && n.link == format!("/rebuilds/{}", proposal.id)
            })
            .collect();
        assert_eq!(told.len(), 1, "{backend:?}: Omnibus is told once");

        // Checked again, nothing new is proposed, whoever runs it.
        let (status, body) = post(&omnibus, check_url.clone(), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["proposals"], json!([]), "{backend:?}");
        assert!(check(&app, &oskar).await.proposals.is_empty());

        // Only Omnibus decides: not Marketing, not an administrator.
        let approve = app.url(&format!(
            "/api/v1/rebuild-proposals/{}/approve",
            proposal.id
        ));
        for who in ["maya", "alex", "priya"] {
            let client = app.signed_in(who).await.expect("sign in");
            let (status, body) = post(&client, approve.clone(), json!({})).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        }
        let (status, _) = post(&TestApp::client(), approve.clone(), json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Approved: a rebuild train of its own.
        let (status, body) = post(&omnibus, approve.clone(), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {body}");
        let approved: RebuildProposal = serde_json::from_value(body).expect("proposal");
        assert_eq!(approved.state, ProposalState::Approved);
        let train_id = approved.train_id.expect("a train");
        let train = trains::get(app.conn(), app.clock.now(), train_id)
            .await
            .expect("train");
        assert_eq!(train.kind, TrainKind::Rebuild);
        assert_eq!(train.steps.len(), 6, "{backend:?}: one build per image");
        let (status, _) = post(&omnibus, approve, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend:?}: decided once");

        // The job runner and the train's ticks rebuild every image on the new base image.
        let runner = app.runner("w");
        for _ in 0..10 {
            app.drive(&runner, 50).await.expect("drive");
            trains::advance_open(app.conn(), app.clock.now())
                .await
                .expect("tick");
        }
        for id in &expected {
            let old = images::get(app.conn(), *id).await.expect("image");
            let newer = old
                .superseded_by
                .unwrap_or_else(|| panic!("{backend:?}: {} was not replaced", old.name));
            let new = images::get(app.conn(), newer).await.expect("rebuild");
            assert_eq!(
                new.state,
                ImageState::Available,
                "{backend:?}: {}",
                new.name
            );
            assert!(
                new.name.ends_with(" (rebuild 2)"),
                "{backend:?}: a real rebuild with a name of its own: {}",
                new.name
            );
            assert_ne!(new.name, old.name);
            assert_eq!(
                new.base_image_id.as_deref(),
                Some(base_b.as_str()),
                "{backend:?}: {} is built on the new base image",
                new.name
            );
        }
        let after = rebuilds::get(app.conn(), approved.id)
            .await
            .expect("proposal");
        assert!(
            after.items.iter().all(|i| i.superseded_by.is_some()),
            "{backend:?}: the proposal shows what replaced each image"
        );
        let train = trains::get(app.conn(), app.clock.now(), train_id)
            .await
            .expect("train");
        assert_eq!(train.state, app::domain::TrainState::Done, "{backend:?}");
        assert_eq!(
            after.state,
            ProposalState::Applied,
            "{backend:?}: applied once its train is done"
        );

        // Everything is up to date now: the check finds nothing to propose.
        let report = check(&app, &oskar).await;
        let arm64 = report
            .base_images
            .iter()
            .find(|b| b.arch == Arch::Arm64)
            .expect("arm64");
        assert_eq!((arm64.outdated, arm64.up_to_date), (0, 6), "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebuild_pages_show_a_proposal_and_let_only_omnibus_decide() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let oskar = app.user("oskar").await;
    let report = check(&app, &oskar).await;
    let proposal = report
        .proposals
        .iter()
        .find(|p| p.arch == Arch::Arm64)
        .expect("the seeded images predate the record")
        .clone();

    let omnibus = app.signed_in("oskar").await.expect("oskar");
    let page = omnibus
        .get(app.url(&format!("/rebuilds/{}", proposal.id)))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains(&proposal.base_image_name), "{html}");
    assert!(html.contains("approve-rebuild"), "Omnibus may decide");
    let list = omnibus
        .get(app.url("/rebuilds"))
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), StatusCode::OK);
    assert!(
        list.text()
            .await
            .expect("html")
            .contains("check-base-images")
    );

    let marketing = app.signed_in("maya").await.expect("maya");
    let html = marketing
        .get(app.url(&format!("/rebuilds/{}", proposal.id)))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!html.contains("approve-rebuild"), "Marketing may only read");

    // The page's server functions go through the same gate.
    let decide = app.url(app::rpc::DecideRebuild::PATH);
    let id = proposal.id.to_string();
    let form = [
        ("proposal_id", id.as_str()),
        ("approve", "false"),
        ("comment", "not now"),
    ];
    let status = marketing
        .post(decide.clone())
        .form(&form)
        .send()
        .await
        .expect("rpc")
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = marketing
        .post(app.url(app::rpc::CheckBaseImages::PATH))
        .form(&NO_ARGUMENTS)
        .send()
        .await
        .expect("rpc")
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let res = omnibus
        .post(app.url(app::rpc::CheckBaseImages::PATH))
        .form(&NO_ARGUMENTS)
        .send()
        .await
        .expect("rpc");
    assert_eq!(res.status(), StatusCode::OK, "Omnibus checks from the page");
    let res = omnibus.post(decide).form(&form).send().await.expect("rpc");
    assert_eq!(res.status(), StatusCode::OK);
    let decided: RebuildProposal = res.json().await.expect("json");
    assert_eq!(decided.state, ProposalState::Rejected);
    assert_eq!(decided.comment, "not now");

    // The REST routes are in the OpenAPI document, with their shapes.
    let doc: Value = TestApp::client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    for path in [
        "/api/v1/base-images/check",
        "/api/v1/rebuild-proposals",
        "/api/v1/rebuild-proposals/{id}",
        "/api/v1/rebuild-proposals/{id}/approve",
        "/api/v1/rebuild-proposals/{id}/reject",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    for schema in [
        "BaseImageCheck",
        "CheckedBaseImage",
        "RebuildProposal",
        "RebuildItem",
        "RebuildDecision",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}

/// Answers a fixed list of base images (or fails, while `fail` says so), counting the
/// questions it was asked.
struct Canned {
    asked: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

impl BaseImageFinder for Canned {
    fn find<'a>(
        &'a self,
        query: &'a BaseImageQuery,
    ) -> BoxFuture<'a, AppResult<Vec<FoundBaseImage>>> {
        Box::pin(async move {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(AppError::internal("canned finder", "EC2 is out of reach"));
            }
            Ok(vec![FoundBaseImage {
                id: format!("ami-canned-{}", query.arch),
                name: query.name_pattern.replace('*', "x"),
                created: Some("2026-10-01T00:00:00.000Z".into()),
            }])
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_check_runs_once_a_day_whatever_the_number_of_processes() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await.expect("app");
        let canned = Arc::new(Canned {
            asked: AtomicUsize::new(0),
            fail: true.into(),
        });
        let start = app.clock.now();

        // EC2 out of reach: the check fails, and is tried again an hour later (not before).
        assert!(
            rebuilds::daily_check(app.conn(), start, canned.as_ref())
                .await
                .is_err()
        );
        canned.fail.store(false, Ordering::SeqCst);
        let asked = canned.asked.load(Ordering::SeqCst);
        let soon = start + chrono::Duration::minutes(30);
        assert!(
            rebuilds::daily_check(app.conn(), soon, canned.as_ref())
                .await
                .expect("not due")
                .is_none()
        );
        assert_eq!(canned.asked.load(Ordering::SeqCst), asked, "{backend:?}");

        // Two processes look at once, an hour on: one of them runs it.
        let retry = start + chrono::Duration::hours(1);
        let (a, b) = futures::join!(
            rebuilds::daily_check(app.conn(), retry, canned.as_ref()),
            rebuilds::daily_check(app.conn(), retry, canned.as_ref())
        );
        let ran: Vec<_> = [a.expect("a"), b.expect("b")]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(ran.len(), 1, "{backend:?}: one process runs the check");
        assert_eq!(
            ran[0].proposals.len(),
            2,
            "{backend:?}: amd64 and arm64 images predate the record"
        );
        assert!(ran[0].proposals.iter().all(|p| p.proposed_by == "portal"));

        // Not again that day; the next day it runs, and proposes nothing new.
        for later in [chrono::Duration::hours(12), chrono::Duration::hours(23)] {
            assert!(
                rebuilds::daily_check(app.conn(), retry + later, canned.as_ref())
                    .await
                    .expect("not due")
                    .is_none(),
                "{backend:?}"
            );
        }
        let next_day = rebuilds::daily_check(
            app.conn(),
            retry + chrono::Duration::hours(24),
            canned.as_ref(),
        )
        .await
        .expect("check")
        .expect("due");
        assert!(next_day.proposals.is_empty(), "{backend:?}");
        let all = rebuilds::list(app.conn(), PAGE).await.expect("list");
        assert_eq!(all.total, 2, "{backend:?}");
    }
}
