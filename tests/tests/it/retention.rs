//! The public-image quota: retention policies, dry runs approved by Partnerships, and the
//! `retire_images` job against the simulated EC2 seeded with the catalogue's images.

use std::collections::{BTreeMap, BTreeSet};

use app::{
    domain::*,
    dto::RetentionPolicyInput,
    error::ErrorCode,
    services::{Clock as _, retention},
};
use portal_tests::{Backend, TestApp, account::with_policy};

/// Every region's own images: (region, image id) → (public, deprecated, snapshot).
fn world(app: &TestApp) -> BTreeMap<(String, String), (bool, bool, String)> {
    GITLAB_AWS_REGIONS
        .iter()
        .flat_map(|r| {
            app.sim
                .own_images(r)
                .into_iter()
                .map(|(id, v)| (((*r).to_owned(), id), v))
        })
        .collect()
}

fn used(regions: &[app::dto::RegionQuota], region: &str) -> i32 {
    regions
        .iter()
        .find(|r| r.region == region)
        .map(|r| r.public_images)
        .expect("region")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_job_does_exactly_what_the_dry_run_listed_once_partnerships_approves() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    server::sim::seed_ec2(&app.sim, app.conn())
        .await
        .expect("seed ec2");
    let quota_before = retention::regions(app.conn()).await.expect("regions");
    // CE and EE, six releases, two architectures: 24 public images in each region.
    assert_eq!(used(&quota_before, "us-east-1"), 24);
    let before = world(&app);

    let p = with_policy(&app, "gitlab-ce", 3, 90, RetentionAction::MakePrivate).await;
    assert_eq!(p.state, ProposalState::Proposed);
    let listed: BTreeSet<(String, String)> = p
        .items
        .iter()
        .map(|i| (i.version.clone(), i.region.clone()))
        .collect();
    let mut expected = BTreeSet::new();
    for v in ["17.3.7", "17.4.2", "17.5.0"] {
        for r in GITLAB_AWS_REGIONS {
            expected.insert((v.to_owned(), (*r).to_owned()));
        }
    }
    assert_eq!(listed, expected, "the three oldest releases, every region");
    assert_eq!(p.items.len(), 3 * 2 * GITLAB_AWS_REGIONS.len());
    assert_eq!(p.items[0].version, "17.3.7", "oldest first");
    // A dry run changes nothing.
    assert_eq!(world(&app), before);

    // A second dry run waits for the first; only Partnerships decides.
    let oskar = app.user("oskar").await;
    let err = retention::dry_run(app.conn(), &oskar, app.clock.now(), "aws", "gitlab-ce")
        .await
        .expect_err("one open proposal");
    assert_eq!(err.code, ErrorCode::Conflict);
    let queue =
        app::services::process::approvals(app.conn(), app.clock.now(), &app.user("priya").await)
            .await
            .expect("queue");
    assert_eq!(
        queue.retention.iter().map(|r| r.id).collect::<Vec<_>>(),
        [p.id]
    );
    let err = retention::decide(app.conn(), &oskar, app.clock.now(), p.id, true, "")
        .await
        .expect_err("not Partnerships");
    assert_eq!(err.code, ErrorCode::Forbidden);
    let err = retention::decide(
        app.conn(),
        &app.user("priya").await,
        app.clock.now(),
        p.id,
        false,
        "",
    )
    .await
    .expect_err("a rejection says why");
    assert_eq!(err.code, ErrorCode::ValidationFailed);

    let approved = retention::decide(
        app.conn(),
        &app.user("priya").await,
        app.clock.now(),
        p.id,
        true,
        "",
    )
    .await
    .expect("approved");
    assert_eq!(approved.state, ProposalState::Approved);
    app.drive(&app.runner("worker"), 50).await.expect("retired");

    // What changed in the cloud is exactly the dry run's list, and nothing else.
    let after = world(&app);
    let changed: BTreeSet<(String, String)> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    let listed_ids: BTreeSet<(String, String)> = p
        .items
        .iter()
        .map(|i| (i.region.clone(), i.image_id.clone()))
        .collect();
    assert_eq!(changed, listed_ids);
    assert!(listed_ids.iter().all(|k| !after[k].0), "all private now");

    let done = retention::get(app.conn(), p.id).await.expect("proposal");
    assert_eq!(done.state, ProposalState::Applied);
    assert_eq!(done.outcomes.len(), p.items.len());
    assert!(
        done.outcomes
            .iter()
            .all(|o| o.state == RegionImageState::Private)
    );
    let quota_after = retention::regions(app.conn()).await.expect("regions");
    assert_eq!(used(&quota_after, "us-east-1"), 18);
    // A second run of the same policy finds nothing left to do.
    let err = retention::dry_run(app.conn(), &oskar, app.clock.now(), "aws", "gitlab-ce")
        .await
        .expect_err("nothing past the policy");
    assert!(err.message.contains("nothing to retire"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deregistering_an_image_deletes_its_snapshots_and_retires_the_version() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    server::sim::seed_ec2(&app.sim, app.conn())
        .await
        .expect("seed ec2");
    let before = world(&app);
    let snapshots_before: usize = GITLAB_AWS_REGIONS
        .iter()
        .map(|r| app.sim.snapshots(r).len())
        .sum();

    let p = with_policy(&app, "gitlab-ee", 5, 0, RetentionAction::Deregister).await;
    assert!(
        p.items.iter().all(|i| i.version == "17.3.7"),
        "{:?}",
        p.items
    );
    assert_eq!(p.items.len(), 2 * GITLAB_AWS_REGIONS.len());
    let doomed: BTreeMap<(String, String), String> = p
        .items
        .iter()
        .map(|i| {
            let key = (i.region.clone(), i.image_id.clone());
            let snap = before[&key].2.clone();
            (key, snap)
        })
        .collect();

    retention::decide(
        app.conn(),
        &app.user("priya").await,
        app.clock.now(),
        p.id,
        true,
        "",
    )
    .await
    .expect("approved");
    app.drive(&app.runner("worker"), 50).await.expect("retired");

    let after = world(&app);
    for ((region, id), snap) in &doomed {
        assert!(
            !after.contains_key(&(region.clone(), id.clone())),
            "{id} is gone"
        );
        assert!(
            !app.sim.snapshots(region).contains(snap),
            "snapshot {snap} of {id} in {region} is deleted"
        );
    }
    assert_eq!(
        after.len(),
        before.len() - doomed.len(),
        "nothing else went"
    );
    let snapshots_after: usize = GITLAB_AWS_REGIONS
        .iter()
        .map(|r| app.sim.snapshots(r).len())
        .sum();
    assert_eq!(snapshots_after, snapshots_before - doomed.len());

    let done = retention::get(app.conn(), p.id).await.expect("proposal");
    assert_eq!(done.state, ProposalState::Applied);
    assert!(done.outcomes.iter().all(|o| o.deleted_snapshots.len() == 1));
    let old = app::services::images::list(
        app.conn(),
        Some(("aws", "gitlab-ee")),
        Some("17.3.7"),
        app::dto::PageRequest::default(),
    )
    .await
    .expect("images");
    assert!(!old.items.is_empty());
    assert!(old.items.iter().all(|i| i.state == ImageState::Retired));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_keeps_the_images_behind_public_marketplace_versions_and_refuses_bad_values() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let oskar = app.user("oskar").await;
    // Premium's marketplace versions of 17.4.2 to 17.5.2 are public (17.3.7's is restricted);
    // 17.6.0 is the newest. With "keep 1, no support window" only 17.3.7 goes.
    retention::set_policy(
        app.conn(),
        &oskar,
        app.clock.now(),
        "aws",
        "gitlab-ee-premium",
        &RetentionPolicyInput {
            keep_newest: 1,
            support_days: 0,
            action: RetentionAction::Deregister,
        },
    )
    .await
    .expect("policy");
    let premium = app.listing("GitLab Premium").await.expect("listing");
    let public: BTreeSet<String> = premium
        .versions
        .iter()
        .filter(|v| v.visibility == ListingVersionVisibility::Public)
        .filter_map(|v| v.release.clone())
        .collect();
    assert_eq!(
        public,
        BTreeSet::from(["17.4.2", "17.5.0", "17.5.1", "17.5.2"].map(String::from))
    );
    let p = retention::dry_run(
        app.conn(),
        &oskar,
        app.clock.now(),
        "aws",
        "gitlab-ee-premium",
    )
    .await
    .expect("dry run");
    let versions: BTreeSet<&str> = p.items.iter().map(|i| i.version.as_str()).collect();
    assert_eq!(versions, BTreeSet::from(["17.3.7"]));

    let err = retention::set_policy(
        app.conn(),
        &oskar,
        app.clock.now(),
        "aws",
        "gitlab-ce",
        &RetentionPolicyInput {
            keep_newest: 0,
            support_days: -3,
            action: RetentionAction::Deprecate,
        },
    )
    .await
    .expect_err("bad values");
    let fields: BTreeSet<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, BTreeSet::from(["keep_newest", "support_days"]));
    // Nothing was written: the defaults still apply.
    let policy = retention::policy(app.conn(), "aws", "gitlab-ce")
        .await
        .expect("policy");
    assert_eq!(policy.updated_by, None);
    assert_eq!(policy.keep_newest, retention::DEFAULT_KEEP_NEWEST);

    let err = retention::set_quota(
        app.conn(),
        &oskar,
        app.clock.now(),
        "mars-north-1",
        &app::dto::QuotaInput { quota: 0 },
    )
    .await
    .expect_err("bad quota");
    assert_eq!(err.fields.len(), 2, "{:?}", err.fields);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_ran_the_dry_run_cannot_approve_it_another_partnerships_member_must() {
    use app::{dto::AuditFilter, services::audit};

    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    server::sim::seed_ec2(&app.sim, app.conn())
        .await
        .expect("seed ec2");
    let before = world(&app);
    // Partnerships may run a dry run too (any catalogue editor may).
    let priya = app.user("priya").await;
    retention::set_policy(
        app.conn(),
        &priya,
        app.clock.now(),
        "aws",
        "gitlab-ce",
        &RetentionPolicyInput {
            keep_newest: 3,
            support_days: 90,
            action: RetentionAction::Deregister,
        },
    )
    .await
    .expect("policy");
    let p = retention::dry_run(app.conn(), &priya, app.clock.now(), "aws", "gitlab-ce")
        .await
        .expect("dry run");
    assert_eq!(p.proposed_by, "priya");

    let err = retention::decide(app.conn(), &priya, app.clock.now(), p.id, true, "")
        .await
        .expect_err("her own proposal");
    assert_eq!(err.code, ErrorCode::Forbidden);
    assert!(
        err.message.contains("you proposed retention proposal")
            && err.message.contains("another member of Partnerships"),
        "{}",
        err.message
    );
    let still = retention::get(app.conn(), p.id).await.expect("proposal");
    assert_eq!(still.state, ProposalState::Proposed);
    assert_eq!(still.job_id, None);
    app.drive(&app.runner("w"), 20).await.expect("idle");
    assert_eq!(world(&app), before, "nothing deregistered");
    let refused = audit::list(
        app.conn(),
        &app.auditor(),
        &AuditFilter {
            action: Some("approve_retention_refused".into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit");
    assert_eq!(refused.total, 1, "the refused attempt is recorded");
    assert_eq!(refused.items[0].actor, "priya");
    assert_eq!(refused.items[0].object_type, "product");
    assert_eq!(refused.items[0].object_id, p.product_id.to_string());

    // Another member of Partnerships approves it.
    let pia = app::services::users::upsert(
        app.conn(),
        app.clock.now(),
        "pia",
        "Pia Lund",
        "pia@example.com",
        &[Role::Partnerships],
    )
    .await
    .expect("pia");
    let approved = retention::decide(app.conn(), &pia, app.clock.now(), p.id, true, "")
        .await
        .expect("approved");
    assert_eq!(approved.state, ProposalState::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("pia"));
}
