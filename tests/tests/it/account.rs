//! The account as it is, end to end: someone works in the console (images and versions made
//! through the real SDK clients against the simulated cloud, as the console would), the
//! portal's cloud sync reads the account through the same calls it makes on AWS, and the
//! REST API shows the counts, the quota, the drift and the warnings that follow.

use app::{
    domain::*,
    dto::Listing,
    services::{Clock as _, entities::listing_version},
};
use portal_tests::{
    TestApp,
    account::{
        account_with_quota, answered, console_version, drift, entity_versions, hand_made_image,
        protection, region, regions, set_retention, some_public_image, sync, told, unprotect,
    },
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// A seeded portal whose simulated account holds the catalogue's images, with room under
/// the public-image quota for someone to make one more public by hand.
async fn portal() -> TestApp {
    account_with_quota(100).await
}

async fn listing(app: &TestApp, id: i32) -> Listing {
    let oskar = app.signed_in("oskar").await.expect("oskar");
    oskar
        .get(app.url(&format!("/api/v1/listings/{id}")))
        .send()
        .await
        .expect("listing")
        .json()
        .await
        .expect("json")
}

/// Whether the version of this title is public on the marketplace.
async fn is_public(app: &TestApp, entity_id: &str, title: &str) -> bool {
    entity_versions(&app.cloud, entity_id)
        .await
        .iter()
        .find(|v| v["VersionTitle"] == title)
        .map(|v| v["DeliveryOptions"][0]["Visibility"] == "Public")
        .expect("the version")
}

/// The AMI behind a listing's newest public version, as the marketplace says.
async fn newest_live_ami(app: &TestApp, entity_id: &str) -> String {
    entity_versions(&app.cloud, entity_id)
        .await
        .iter()
        .filter(|v| v["DeliveryOptions"][0]["Visibility"] == "Public")
        .max_by_key(|v| v["CreationDate"].as_str().unwrap_or_default().to_owned())
        .and_then(|v| v["Sources"][0]["Image"].as_str())
        .expect("a live AMI")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_public_image_appears_after_a_sync_is_counted_and_named_as_made_outside() {
    let app = portal().await;
    // Before any sync the counts are the catalogue's, and nobody told the portal a quota.
    let before = regions(&app).await;
    let east = region(&before, "us-east-1");
    assert_eq!(east.public_images, 24);
    assert_eq!(east.synced_at, None);
    assert_eq!(east.quota_source, QuotaSource::Default);

    // The account as seeded is the catalogue: a first sync finds nothing to show.
    sync(&app).await;
    assert_eq!(
        drift(&app, "").await,
        vec![],
        "a fresh account has no drift"
    );
    let synced = regions(&app).await;
    let east = region(&synced, "us-east-1");
    assert_eq!(east.public_images, 24);
    assert!(east.synced_at.is_some());
    assert_eq!(east.outside_images, 0);

    let image = hand_made_image(&app, "us-east-1", "gitlab-by-hand-test", true).await;
    let private = hand_made_image(&app, "us-east-1", "scratch-by-hand", false).await;
    // The portal does not know until it looks.
    assert_eq!(region(&regions(&app).await, "us-east-1").public_images, 24);
    sync(&app).await;
    let after = regions(&app).await;
    let east = region(&after, "us-east-1");
    assert_eq!(east.public_images, 25, "the hand-made public image counts");
    assert_eq!(east.outside_images, 1, "only the public one is public");
    let outside = east
        .by_product
        .iter()
        .find(|p| p.product_name == "Made outside the portal")
        .expect("named as made outside the portal");
    assert_eq!(outside.count, 1);
    assert_eq!(
        region(&after, "eu-west-1").public_images,
        24,
        "only its own region"
    );

    let items = drift(&app, "region=us-east-1").await;
    let item = items
        .iter()
        .find(|i| i.image_id.as_deref() == Some(image.as_str()))
        .expect("the public one is drift");
    assert_eq!(item.kind, DriftKind::OutsideImage);
    assert_eq!(item.state, DriftState::Open);
    assert_eq!(item.image_name.as_deref(), Some("gitlab-by-hand-test"));
    assert!(item.account.contains("public"), "{item:#?}");
    assert!(item.actions.contains(&DriftAction::Adopt));
    assert!(item.actions.contains(&DriftAction::Forget));
    assert!(
        items
            .iter()
            .any(|i| i.image_id.as_deref() == Some(private.as_str())),
        "a private image made by hand is made outside the portal too"
    );

    // Forgetting it keeps it counted: it is still public in the account.
    let oskar = app.signed_in("oskar").await.expect("oskar");
    answered(
        oskar
            .post(app.url(&format!("/api/v1/cloud/drift/{}/forget", item.id)))
            .json(&serde_json::json!({})),
        200,
    )
    .await;
    sync(&app).await;
    let resolved = drift(&app, "state=resolved").await;
    assert!(
        resolved
            .iter()
            .any(|i| i.id == item.id && i.resolved_by.as_deref() == Some("oskar"))
    );
    assert!(
        !drift(&app, "").await.iter().any(|i| i.id == item.id),
        "a forgotten image is not reopened by the next sync"
    );
    assert_eq!(region(&regions(&app).await, "us-east-1").public_images, 25);

    // Marketing may not touch the account.
    let maya = app.signed_in("maya").await.expect("maya");
    let res = maya
        .post(app.url("/api/v1/cloud/sync"))
        .send()
        .await
        .expect("sync");
    assert_eq!(res.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_is_the_one_service_quotas_reports_unless_set_by_hand() {
    let app = portal().await;
    app.sim.configure(|c| {
        c.public_image_quotas.insert("eu-west-1".to_owned(), 12);
    });
    sync(&app).await;
    let all = regions(&app).await;
    for r in GITLAB_AWS_REGIONS {
        let q = region(&all, r);
        assert_eq!(
            q.quota as usize,
            app.sim.public_image_quota(r),
            "{r}: the simulator's quota"
        );
        assert_eq!(q.quota_source, QuotaSource::ServiceQuotas, "{r}");
    }
    assert_eq!(region(&all, "eu-west-1").quota, 12);
    assert_eq!(region(&all, "us-east-1").quota, 100);

    // A quota set by hand overrides it, and clearing it gives Service Quotas' back.
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .put(app.url("/api/v1/public-images/quotas/us-east-1"))
        .json(&serde_json::json!({ "quota": 150 }))
        .send()
        .await
        .expect("set");
    assert_eq!(res.status(), 200);
    let east = region(&regions(&app).await, "us-east-1").clone();
    assert_eq!(east.quota, 150);
    assert_eq!(east.quota_source, QuotaSource::Manual);
    assert_eq!(east.service_quota, Some(100));
    answered(
        oskar.delete(app.url("/api/v1/public-images/quotas/us-east-1")),
        200,
    )
    .await;
    let east = region(&regions(&app).await, "us-east-1").clone();
    assert_eq!(east.quota, 100);
    assert_eq!(east.quota_source, QuotaSource::ServiceQuotas);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_added_in_the_console_counts_and_is_restricted_only_through_a_proposal() {
    let app = portal().await;
    sync(&app).await;
    let premium = app.listing("GitLab Premium").await.expect("premium");
    let entity_id = premium.entity_id.clone().expect("entity id");
    let before = listing(&app, premium.id).await.public_versions;

    let ami = some_public_image(&app, "us-east-1");
    let option = console_version(&app, &entity_id, "GitLab Premium 99.1.0 Release", &ami).await;
    assert_eq!(
        listing(&app, premium.id).await.public_versions,
        before,
        "the portal does not know until it looks"
    );
    sync(&app).await;
    assert_eq!(
        listing(&app, premium.id).await.public_versions,
        before + 1,
        "it counts against the limit"
    );
    let row = listing_version::Entity::find()
        .filter(listing_version::Column::DeliveryOptionId.eq(option.as_str()))
        .one(app.conn())
        .await
        .expect("query")
        .expect("recorded");
    assert_eq!(row.source, VersionSource::Console);
    assert_eq!(row.visibility, ListingVersionVisibility::Public);
    let items = drift(&app, &format!("listing_id={}", premium.id)).await;
    let item = items
        .iter()
        .find(|i| i.kind == DriftKind::VersionAdded)
        .expect("shown as drift");
    assert_eq!(
        item.version_title.as_deref(),
        Some("GitLab Premium 99.1.0 Release")
    );
    assert!(item.actions.contains(&DriftAction::ProposeRetirement));

    // The sync itself restricts nothing, however often it runs.
    sync(&app).await;
    assert!(is_public(&app, &entity_id, "GitLab Premium 99.1.0 Release").await);

    // Omnibus proposes; only Partnerships' approval restricts it.
    let oskar = app.signed_in("oskar").await.expect("oskar");
    answered(
        oskar
            .post(app.url(&format!(
                "/api/v1/cloud/drift/{}/propose-retirement",
                item.id
            )))
            .json(&serde_json::json!({})),
        200,
    )
    .await;
    let proposals: Vec<app::dto::RestrictionProposal> = oskar
        .get(app.url(&format!("/api/v1/listings/{}/restrictions", premium.id)))
        .send()
        .await
        .expect("proposals")
        .json()
        .await
        .expect("json");
    let proposal = proposals
        .iter()
        .find(|p| p.state == ProposalState::Proposed)
        .expect("a proposal");
    assert_eq!(
        proposal
            .versions
            .iter()
            .map(|v| v.title.as_str())
            .collect::<Vec<_>>(),
        ["GitLab Premium 99.1.0 Release"],
        "exactly that version"
    );
    app.drive(&app.runner("worker"), 5).await.expect("idle");
    assert!(
        is_public(&app, &entity_id, "GitLab Premium 99.1.0 Release").await,
        "still public until Partnerships approves"
    );
    let priya = app.signed_in("priya").await.expect("priya");
    answered(
        priya
            .post(app.url(&format!("/api/v1/restrictions/{}/approve", proposal.id)))
            .json(&serde_json::json!({ "comment": "" })),
        200,
    )
    .await;
    app.drive(&app.runner("worker"), 20)
        .await
        .expect("restricted");
    assert!(
        !is_public(&app, &entity_id, "GitLab Premium 99.1.0 Release").await,
        "restricted on AWS"
    );
    sync(&app).await;
    assert_eq!(listing(&app, premium.id).await.public_versions, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_behind_a_live_version_cannot_be_deregistered_and_retention_skips_it() {
    let app = portal().await;
    sync(&app).await;
    let premium = app.listing("GitLab Premium").await.expect("premium");
    let entity_id = premium.entity_id.clone().expect("entity id");
    let live = newest_live_ami(&app, &entity_id).await;
    assert!(
        protection(&app, "us-east-1", &live)
            .await
            .starts_with("enabled")
    );
    let refused = app
        .cloud
        .ec2("us-east-1")
        .deregister_image()
        .image_id(&live)
        .send()
        .await
        .expect_err("protected");
    let text = format!("{}", aws_sdk_ec2::error::DisplayErrorContext(&refused));
    assert!(text.contains("protect"), "{text}");

    // An old public EE image that someone put behind a Premium version in the console is
    // live too: the EE retention policy would retire it, but it is skipped.
    set_retention(&app, "gitlab-ee", 1, 0, RetentionAction::MakePrivate).await;
    let dry = app::services::retention::candidates(
        app.conn(),
        app::services::products::get(app.conn(), "aws", "gitlab-ee")
            .await
            .expect("ee")
            .id,
        &app::services::retention::policy(app.conn(), "aws", "gitlab-ee")
            .await
            .expect("policy"),
        app.clock.now().date_naive(),
    )
    .await
    .expect("candidates");
    let old = dry
        .iter()
        .find(|i| i.region == "us-east-1")
        .expect("an old EE image in us-east-1")
        .clone();
    console_version(
        &app,
        &entity_id,
        "GitLab Premium 99.2.0 Release",
        &old.image_id,
    )
    .await;
    sync(&app).await;
    assert!(
        protection(&app, "us-east-1", &old.image_id)
            .await
            .starts_with("enabled"),
        "the console's version protects its image too"
    );
    let oskar = app.user("oskar").await;
    let proposal =
        app::services::retention::dry_run(app.conn(), &oskar, app.clock.now(), "aws", "gitlab-ee")
            .await
            .expect("dry run");
    assert!(
        !proposal.items.iter().any(|i| i.image_id == old.image_id),
        "retention skips the protected image"
    );
    assert!(
        proposal
            .items
            .iter()
            .any(|i| i.version == old.version && i.region != "us-east-1"),
        "but not its copies in other regions, which no version uses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_near_its_quota_and_a_listing_past_its_threshold_notify_once() {
    let app = portal().await;
    // 24 public images of 30 allowed in eu-west-1: 80%.
    app.sim.configure(|c| {
        c.public_image_quotas.insert("eu-west-1".to_owned(), 30);
    });
    let premium = app.listing("GitLab Premium").await.expect("premium");
    let priya = app.signed_in("priya").await.expect("priya");
    answered(
        priya
            .put(app.url(&format!("/api/v1/listings/{}/policy", premium.id)))
            .json(&serde_json::json!({
                "publish_backports": premium.publish_backports,
                "restrict_threshold": premium.public_versions,
                "keep_recent_days": premium.keep_recent_days,
            })),
        200,
    )
    .await;
    sync(&app).await;
    sync(&app).await;
    for who in ["oskar", "priya"] {
        assert_eq!(
            told(&app, who, NotificationKind::QuotaWarning).await,
            ["/public-images?region=eu-west-1"],
            "{who}: once, for eu-west-1 only"
        );
        assert_eq!(
            told(&app, who, NotificationKind::VersionLimitWarning).await,
            [format!("/listings/{}", premium.id)],
            "{who}: once"
        );
    }
    assert!(region(&regions(&app).await, "eu-west-1").near_quota);
    assert!(
        told(&app, "maya", NotificationKind::QuotaWarning)
            .await
            .is_empty()
    );

    // One click proposes retention for the region.
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = answered(
        oskar.post(app.url("/api/v1/public-images/regions/eu-west-1/retention-proposals")),
        201,
    )
    .await;
    let proposals: Vec<app::dto::RetentionProposal> = res.json().await.expect("json");
    assert!(!proposals.is_empty());

    // Below the mark again, then over it again: a second warning.
    app.sim.configure(|c| {
        c.public_image_quotas.insert("eu-west-1".to_owned(), 60);
    });
    sync(&app).await;
    app.sim.configure(|c| {
        c.public_image_quotas.insert("eu-west-1".to_owned(), 30);
    });
    sync(&app).await;
    assert_eq!(
        told(&app, "oskar", NotificationKind::QuotaWarning)
            .await
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_version_whose_image_is_gone_is_an_incident_for_omnibus_and_partnerships() {
    let app = portal().await;
    sync(&app).await;
    let premium = app.listing("GitLab Premium").await.expect("premium");
    let entity_id = premium.entity_id.clone().expect("entity id");
    // Someone lifts the protection in the console and deregisters the image anyway.
    let live = newest_live_ami(&app, &entity_id).await;
    unprotect(&app, "us-east-1", &live).await;
    app.cloud
        .ec2("us-east-1")
        .deregister_image()
        .image_id(&live)
        .send()
        .await
        .expect("deregistered by hand");
    sync(&app).await;
    sync(&app).await;
    let items = drift(&app, &format!("listing_id={}", premium.id)).await;
    let incident = items
        .iter()
        .find(|i| i.kind == DriftKind::LiveImageGone)
        .expect("an incident");
    assert!(incident.incident);
    assert_eq!(incident.image_id.as_deref(), Some(live.as_str()));
    assert_eq!(incident.actions, [DriftAction::ProposeRetirement]);
    for who in ["oskar", "priya"] {
        assert_eq!(
            told(&app, who, NotificationKind::CloudIncident).await.len(),
            1,
            "{who}: once"
        );
    }
}
