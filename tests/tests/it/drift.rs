//! The account sync's half in the catalogue: `account::apply` with hand-made snapshots of
//! the account, against the seeded catalogue, and what the drift it finds resolves into.

use std::collections::BTreeMap;

use app::{
    domain::*,
    dto::{AdoptInput, DriftItem, DriftResolution, PageRequest, QuotaInput},
    error::{AppResult, ErrorCode},
    services::{
        Clock as _,
        account::{
            self, AccountSnapshot, DriftScope, ListingSnapshot, RegionSnapshot, SeenImage,
            SeenVersion, SyncReport,
        },
        entities::{image_region, image_version, notification, release, schedule_mark},
        limits, retention,
    },
};
use chrono::Duration;
use portal_tests::{
    TestApp,
    account::{drift, region_quota, told, with_policy},
    each_backend,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

/// A region the seeded catalogue has no image in.
const QUIET: &str = "ap-east-1";

fn image(app: &TestApp, id: &str, name: &str, public: bool) -> SeenImage {
    SeenImage {
        image_id: id.into(),
        name: name.into(),
        arch: "x86_64".into(),
        state: "available".into(),
        public,
        created_on: Some(app.clock.now() - Duration::days(30)),
        ..Default::default()
    }
}

/// What a sync reads of one region (its images, its quota, an empty Recycle Bin) and of
/// these listings.
fn read(
    region: &str,
    images: Vec<SeenImage>,
    quota: i32,
    listings: Vec<ListingSnapshot>,
) -> AccountSnapshot {
    AccountSnapshot {
        regions: vec![RegionSnapshot {
            region: region.into(),
            images: Some(images),
            quota: Some(quota),
            recycle_bin: Some(Vec::new()),
            ..Default::default()
        }],
        listings,
    }
}

/// What a sync reads of the quiet region, whose quota is 5.
fn quiet(images: Vec<SeenImage>) -> AccountSnapshot {
    read(QUIET, images, 5, Vec::new())
}

/// The catalogue's images in a region as the account would show them if nothing differed.
async fn as_catalogued(app: &TestApp, region: &str) -> Vec<SeenImage> {
    let rows = image_region::Entity::find()
        .filter(image_region::Column::Region.eq(region))
        .filter(image_region::Column::ImageId.is_not_null())
        .all(app.conn())
        .await
        .expect("regions");
    let versions: BTreeMap<i32, image_version::Model> = image_version::Entity::find()
        .all(app.conn())
        .await
        .expect("versions")
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    rows.into_iter()
        .filter(|r| {
            !matches!(
                r.state,
                RegionImageState::Pending | RegionImageState::Deregistered
            )
        })
        .map(|r| {
            let v = &versions[&r.image_version_id];
            SeenImage {
                image_id: r.image_id.clone().unwrap_or_default(),
                name: v.name.clone(),
                arch: match v.arch {
                    Arch::Amd64 => "x86_64",
                    Arch::Arm64 => "arm64",
                }
                .into(),
                state: "available".into(),
                public: r.state != RegionImageState::Private,
                deprecation_time: (r.state == RegionImageState::Deprecated)
                    .then(|| app.clock.now() - Duration::days(1)),
                ..Default::default()
            }
        })
        .collect()
}

/// The catalogue's region image of a product's release in a region.
async fn catalogued(
    app: &TestApp,
    product: &str,
    version: &str,
    arch: Arch,
    region: &str,
) -> image_region::Model {
    let p = app::services::products::get(app.conn(), "aws", product)
        .await
        .expect("product");
    let r = release::Entity::find()
        .filter(release::Column::Version.eq(version))
        .one(app.conn())
        .await
        .expect("release")
        .expect("seeded release");
    let v = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(p.id))
        .filter(image_version::Column::ReleaseId.eq(r.id))
        .filter(image_version::Column::Arch.eq(arch))
        .one(app.conn())
        .await
        .expect("version")
        .expect("seeded image");
    image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.eq(v.id))
        .filter(image_region::Column::Region.eq(region))
        .one(app.conn())
        .await
        .expect("region")
        .expect("seeded region image")
}

/// A listing's versions as the marketplace would show them if nothing differed.
async fn listing_as_catalogued(app: &TestApp, entity: &str) -> ListingSnapshot {
    let l = app.listing(entity).await.expect("listing");
    ListingSnapshot {
        listing_id: l.id,
        entity_id: format!("prod-{}", l.id),
        versions: Some(
            l.versions
                .iter()
                .map(|v| SeenVersion {
                    version_id: format!("v-{}", v.id),
                    delivery_option_id: v.delivery_option_id.clone().unwrap_or_default(),
                    title: v.title.clone(),
                    visibility: match v.visibility {
                        ListingVersionVisibility::Public => "Public",
                        ListingVersionVisibility::Restricted => "Restricted",
                    }
                    .into(),
                    created: Some(v.published_at),
                    amis: Vec::new(),
                })
                .collect(),
        ),
        error: None,
    }
}

async fn apply(app: &TestApp, snapshot: &AccountSnapshot) -> SyncReport {
    account::apply(app.conn(), app.clock.now(), snapshot)
        .await
        .expect("sync applied")
}

/// The open drift of a region.
async fn items_of(app: &TestApp, region: &str) -> Vec<DriftItem> {
    drift(app, &format!("region={region}")).await
}

/// Resolves an item as `actor` with `action` and no input.
async fn resolve(
    app: &TestApp,
    actor: &CurrentUser,
    id: i32,
    action: DriftAction,
) -> AppResult<DriftResolution> {
    account::resolve(
        app.conn(),
        actor,
        app.clock.now(),
        id,
        action,
        &AdoptInput::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_public_image_is_made_outside_the_portal_and_counts_against_service_quotas() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let before = region_quota(&app, "us-east-1").await;
        assert_eq!(before.quota_source, QuotaSource::Default);
        assert_eq!(before.synced_at, None, "the catalogue's count until a sync");

        let report = apply(
            &app,
            &read(
                QUIET,
                vec![
                    image(&app, "ami-byhand", "gitlab-by-hand", true),
                    image(&app, "ami-scratch", "scratch", false),
                ],
                7,
                Vec::new(),
            ),
        )
        .await;
        assert_eq!((report.images, report.outside, report.imported), (2, 2, 0));

        let items = items_of(&app, QUIET).await;
        let item = items
            .iter()
            .find(|i| i.image_id.as_deref() == Some("ami-byhand"))
            .expect("an item for the hand-made image");
        assert_eq!(item.kind, DriftKind::OutsideImage);
        assert_eq!(item.account, "public");
        assert_eq!(item.image_name.as_deref(), Some("gitlab-by-hand"));
        assert_eq!(
            item.actions,
            [DriftAction::Adopt, DriftAction::Forget],
            "adopt or forget"
        );

        let q = region_quota(&app, QUIET).await;
        assert_eq!(q.public_images, 1, "only the public one counts");
        assert_eq!(q.outside_images, 1);
        assert_eq!(q.by_product.len(), 1);
        assert_eq!(q.by_product[0].product_name, retention::MADE_OUTSIDE);
        assert_eq!((q.quota, q.quota_source), (7, QuotaSource::ServiceQuotas));
        assert_eq!(q.service_quota, Some(7));
        assert!(q.synced_at.is_some());
        assert!(!q.quota_set);

        // A quota set by hand overrides Service Quotas' until it is removed.
        let oskar = app.user("oskar").await;
        let set = retention::set_quota(
            app.conn(),
            &oskar,
            app.clock.now(),
            QUIET,
            &QuotaInput { quota: 20 },
        )
        .await
        .expect("set by hand");
        assert_eq!((set.quota, set.quota_source), (20, QuotaSource::Manual));
        assert!(set.quota_set);
        assert_eq!(set.service_quota, Some(7));
        let cleared = retention::clear_quota(app.conn(), &oskar, app.clock.now(), QUIET)
            .await
            .expect("cleared");
        assert_eq!(
            (cleared.quota, cleared.quota_source),
            (7, QuotaSource::ServiceQuotas)
        );
        let err = retention::clear_quota(app.conn(), &oskar, app.clock.now(), QUIET)
            .await
            .expect_err("nothing set by hand any more");
        assert_eq!(err.code, ErrorCode::NotFound);
        let err = retention::clear_quota(app.conn(), &oskar, app.clock.now(), "mars-north-1")
            .await
            .expect_err("no such region");
        assert_eq!(err.field("region").map(|m| m.contains("mars")), Some(true));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_named_like_a_product_template_is_imported_with_its_release() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let mut ee = image(&app, "ami-ee18", "GitLab EE 18.0.1", true);
        ee.created_on = Some(app.clock.now() - Duration::days(3));
        let report = apply(&app, &quiet(vec![ee])).await;
        assert_eq!((report.imported, report.outside), (1, 0));
        assert!(items_of(&app, QUIET).await.is_empty(), "no drift");

        let r = release::Entity::find()
            .filter(release::Column::Version.eq("18.0.1"))
            .one(app.conn())
            .await
            .expect("release")
            .expect("the release is recorded");
        assert_eq!(
            r.released_on,
            (app.clock.now() - Duration::days(3)).date_naive()
        );
        let placed = catalogued(&app, "gitlab-ee", "18.0.1", Arch::Amd64, QUIET).await;
        assert_eq!(placed.image_id.as_deref(), Some("ami-ee18"));
        assert_eq!(placed.state, RegionImageState::Public);
        let v = image_version::Entity::find_by_id(placed.image_version_id)
            .one(app.conn())
            .await
            .expect("version")
            .expect("imported version");
        assert_eq!(v.source, ImageSource::Imported);
        assert_eq!(v.state, ImageState::Available);
        // No train started for a release the account already had images of.
        let trains =
            app::services::trains::list(app.conn(), app.clock.now(), PageRequest::default())
                .await
                .expect("trains");
        assert!(
            trains
                .items
                .iter()
                .all(|t| t.release.as_deref() != Some("18.0.1")),
            "no train for an imported release"
        );
        let q = region_quota(&app, QUIET).await;
        assert_eq!(q.by_product[0].product_name, "GitLab EE");
        assert_eq!(q.outside_images, 0);

        // A second sync links it: nothing imported twice.
        let again = apply(
            &app,
            &quiet(vec![image(&app, "ami-ee18", "GitLab EE 18.0.1", true)]),
        )
        .await;
        assert_eq!((again.imported, again.outside, again.images), (0, 0, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_made_private_in_the_account_is_adopted_by_the_catalogue() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let target = catalogued(&app, "gitlab-ce", "17.6.0", Arch::Amd64, "us-east-1").await;
        assert_eq!(target.state, RegionImageState::Public);
        let id = target.image_id.clone().expect("id");
        let mut images = as_catalogued(&app, "us-east-1").await;
        for i in &mut images {
            if i.image_id == id {
                i.public = false;
            }
        }
        apply(&app, &read("us-east-1", images, 50, Vec::new())).await;
        let items = items_of(&app, "us-east-1").await;
        assert_eq!(items.len(), 1, "only the one difference: {items:?}");
        let item = &items[0];
        assert_eq!(item.kind, DriftKind::ImageMadePrivate);
        assert_eq!(item.image_id.as_deref(), Some(id.as_str()));
        assert_eq!(item.product_name.as_deref(), Some("GitLab CE"));
        assert_eq!(
            (item.catalogue.as_str(), item.account.as_str()),
            ("public", "private")
        );

        let oskar = app.user("oskar").await;
        let err = resolve(&app, &oskar, item.id, DriftAction::Forget)
            .await
            .expect_err("forget does not resolve it");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.message.contains("'adopt'"), "{}", err.message);
        let vic = app.user("vic").await;
        let err = resolve(&app, &vic, item.id, DriftAction::Adopt)
            .await
            .expect_err("a viewer resolves nothing");
        assert_eq!(err.code, ErrorCode::Forbidden);

        let done = resolve(&app, &oskar, item.id, DriftAction::Adopt)
            .await
            .expect("adopted");
        assert_eq!(done.item.state, DriftState::Resolved);
        assert_eq!(done.item.resolved_by.as_deref(), Some("oskar"));
        assert!(done.item.actions.is_empty());
        let now = image_region::Entity::find_by_id(target.id)
            .one(app.conn())
            .await
            .expect("region")
            .expect("still there");
        assert_eq!(now.state, RegionImageState::Private);
        let err = resolve(&app, &oskar, item.id, DriftAction::Adopt)
            .await
            .expect_err("resolved already");
        assert_eq!(err.code, ErrorCode::Conflict);
        let err = account::drift_item(app.conn(), 999_999)
            .await
            .expect_err("no such item");
        assert_eq!(err.code, ErrorCode::NotFound);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_difference_keeps_its_since_resolves_when_gone_and_reopens_when_back() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let with = quiet(vec![image(&app, "ami-x", "by-hand", true)]);
        let without = quiet(Vec::new());
        let t0 = app.clock.now();
        assert_eq!(apply(&app, &with).await.drift_opened, 1);
        app.clock.set(t0 + Duration::hours(1));
        let second = apply(&app, &with).await;
        assert_eq!((second.drift_opened, second.drift_resolved), (0, 0));
        let items = items_of(&app, QUIET).await;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].since, t0, "since it was first seen");
        assert_eq!(items[0].last_seen_at, t0 + Duration::hours(1));
        let id = items[0].id;

        app.clock.set(t0 + Duration::hours(2));
        assert_eq!(apply(&app, &without).await.drift_resolved, 1);
        let gone = account::drift_item(app.conn(), id).await.expect("item");
        assert_eq!(gone.state, DriftState::Resolved);
        assert_eq!(gone.resolved_by.as_deref(), Some("portal"));
        assert_eq!(gone.resolution.as_deref(), Some("no longer differs"));
        assert_eq!(region_quota(&app, QUIET).await.public_images, 0);

        app.clock.set(t0 + Duration::hours(3));
        assert_eq!(apply(&app, &with).await.drift_opened, 1);
        let back = account::drift_item(app.conn(), id).await.expect("item");
        assert_eq!(back.state, DriftState::Open);
        assert_eq!(back.since, t0 + Duration::hours(3), "a new since");

        // Forgotten, it stays resolved while the image stays as it is, and counts as made
        // outside the portal.
        let oskar = app.user("oskar").await;
        let forgotten = resolve(&app, &oskar, id, DriftAction::Forget)
            .await
            .expect("forgotten");
        assert_eq!(
            forgotten.item.resolution.as_deref(),
            Some("known, not the portal's")
        );
        app.clock.set(t0 + Duration::hours(4));
        assert_eq!(apply(&app, &with).await.drift_opened, 0);
        assert!(items_of(&app, QUIET).await.is_empty());
        assert_eq!(region_quota(&app, QUIET).await.outside_images, 1);
        // A failed read of the region changes nothing of it.
        let failed = apply(
            &app,
            &AccountSnapshot {
                regions: vec![RegionSnapshot {
                    region: QUIET.into(),
                    images_error: Some("throttled".into()),
                    quota_error: Some("throttled".into()),
                    ..Default::default()
                }],
                listings: Vec::new(),
            },
        )
        .await;
        assert_eq!(failed.errors.len(), 2, "{:?}", failed.errors);
        let q = region_quota(&app, QUIET).await;
        assert_eq!((q.public_images, q.quota), (1, 5));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_made_outside_the_portal_is_adopted_as_the_product_given() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        apply(
            &app,
            &quiet(vec![image(&app, "ami-h", "GitLab EE 18.1.0 hotfix", true)]),
        )
        .await;
        let item = items_of(&app, QUIET).await.remove(0);
        let suggestion = item.suggestion.clone().expect("a suggestion");
        assert_eq!(suggestion.release.as_deref(), Some("18.1.0"));
        assert_eq!(suggestion.arch.as_deref(), Some("amd64"));
        let oskar = app.user("oskar").await;
        let err = account::resolve(
            app.conn(),
            &oskar,
            app.clock.now(),
            item.id,
            DriftAction::Adopt,
            &AdoptInput {
                product_id: None,
                release: Some("eighteen".into()),
                arch: None,
            },
        )
        .await
        .expect_err("three fields missing or wrong");
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        for field in ["product_id", "release", "arch"] {
            assert!(err.field(field).is_some(), "{field}: {err:?}");
        }
        let done = account::resolve(
            app.conn(),
            &oskar,
            app.clock.now(),
            item.id,
            DriftAction::Adopt,
            &suggestion,
        )
        .await
        .expect("adopted");
        assert!(
            done.item
                .resolution
                .as_deref()
                .is_some_and(|r| r.starts_with("adopted as")),
            "{:?}",
            done.item.resolution
        );
        let placed = catalogued(&app, "gitlab-ee", "18.1.0", Arch::Amd64, QUIET).await;
        assert_eq!(placed.image_id.as_deref(), Some("ami-h"));
        assert_eq!(region_quota(&app, QUIET).await.outside_images, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_added_in_the_console_counts_and_is_restricted_only_through_a_proposal() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let mut premium = listing_as_catalogued(&app, "GitLab Premium").await;
        let listing_id = premium.listing_id;
        let versions = premium.versions.as_mut().expect("versions");
        // Someone restricted 17.4.2 and added 17.6.0 in the console.
        for v in versions.iter_mut() {
            if v.title == "GitLab Premium 17.4.2 Release" {
                v.visibility = "Restricted".into();
            }
        }
        versions.push(SeenVersion {
            version_id: "v-console".into(),
            delivery_option_id: "do-console".into(),
            title: "GitLab Premium 17.6.0 Release".into(),
            visibility: "Public".into(),
            created: Some(app.clock.now() - Duration::days(2)),
            amis: vec!["ami-console".into()],
        });
        let before = app.listing("GitLab Premium").await.expect("listing");
        assert_eq!(before.public_versions, 4);
        apply(
            &app,
            &AccountSnapshot {
                regions: Vec::new(),
                listings: vec![premium],
            },
        )
        .await;
        let after = app.listing("GitLab Premium").await.expect("listing");
        let added = after
            .versions
            .iter()
            .find(|v| v.delivery_option_id.as_deref() == Some("do-console"))
            .expect("the console's version is recorded");
        assert_eq!(added.release.as_deref(), Some("17.6.0"));
        assert_eq!(added.visibility, ListingVersionVisibility::Public);
        assert_eq!(
            after.public_versions, 4,
            "the marketplace's count: 17.4.2 restricted there, 17.6.0 added"
        );
        assert_eq!(
            after.entity_id.as_deref(),
            Some(format!("prod-{listing_id}").as_str())
        );

        let items = drift(&app, &format!("listing_id={listing_id}")).await;
        let kinds: Vec<DriftKind> = items.iter().map(|i| i.kind).collect();
        assert!(kinds.contains(&DriftKind::VersionRestricted), "{kinds:?}");
        let item = items
            .iter()
            .find(|i| i.kind == DriftKind::VersionAdded)
            .expect("version added");
        assert_eq!(
            item.version_title.as_deref(),
            Some("GitLab Premium 17.6.0 Release")
        );
        assert_eq!(
            account::drift_count(app.conn(), DriftScope::Listing(listing_id))
                .await
                .expect("count")
                .open,
            2
        );

        let oskar = app.user("oskar").await;
        let done = resolve(&app, &oskar, item.id, DriftAction::ProposeRetirement)
            .await
            .expect("proposed");
        assert_eq!(
            done.proposal_link.as_deref(),
            Some(format!("/listings/{listing_id}").as_str())
        );
        let proposals = limits::proposals_of(app.conn(), listing_id)
            .await
            .expect("proposals");
        assert_eq!(proposals.len(), 1);
        let p = &proposals[0];
        assert_eq!(p.state, ProposalState::Proposed);
        assert_eq!(
            p.versions.iter().map(|v| v.id).collect::<Vec<_>>(),
            [added.id],
            "exactly the console's version"
        );
        // Nothing is restricted until Partnerships approves; Omnibus cannot.
        let still = app.listing("GitLab Premium").await.expect("listing");
        assert!(
            still
                .versions
                .iter()
                .any(|v| v.id == added.id && v.visibility == ListingVersionVisibility::Public)
        );
        let err = limits::decide(app.conn(), &oskar, app.clock.now(), p.id, true, "")
            .await
            .expect_err("only Partnerships approves");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let approved = limits::decide(
            app.conn(),
            &app.user("priya").await,
            app.clock.now(),
            p.id,
            true,
            "",
        )
        .await
        .expect("Partnerships approves");
        assert_eq!(approved.state, ProposalState::Approved);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_versions_image_gone_is_an_incident_told_once() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let live = catalogued(
            &app,
            "gitlab-ee-premium",
            "17.5.2",
            Arch::Amd64,
            "us-east-1",
        )
        .await;
        let live_id = live.image_id.clone().expect("id");
        let mut premium = listing_as_catalogued(&app, "GitLab Premium").await;
        let listing_id = premium.listing_id;
        for v in premium.versions.as_mut().expect("versions") {
            if v.title == "GitLab Premium 17.5.2 Release" {
                v.amis = vec![live_id.clone()];
            }
        }
        let images: Vec<SeenImage> = as_catalogued(&app, "us-east-1")
            .await
            .into_iter()
            .filter(|i| i.image_id != live_id)
            .collect();
        let snapshot = read("us-east-1", images, 100, vec![premium]);
        let first = apply(&app, &snapshot).await;
        assert_eq!(first.incidents, 1);
        let items = items_of(&app, "us-east-1").await;
        assert_eq!(items.len(), 1, "{items:?}");
        let item = &items[0];
        assert_eq!(
            item.kind,
            DriftKind::LiveImageGone,
            "not a plain image gone"
        );
        assert!(item.incident);
        assert_eq!(item.listing_id, Some(listing_id));
        assert_eq!(item.actions, [DriftAction::ProposeRetirement]);
        let count = account::drift_count(app.conn(), DriftScope::PublicImages)
            .await
            .expect("count");
        assert_eq!((count.open, count.incidents), (1, 1));

        app.clock.set(app.clock.now() + Duration::hours(1));
        let second = apply(&app, &snapshot).await;
        assert_eq!(second.incidents, 0);
        for who in ["oskar", "priya"] {
            assert_eq!(
                told(&app, who, NotificationKind::CloudIncident).await.len(),
                1,
                "{who} is told once"
            );
        }
        assert_eq!(
            told(&app, "maya", NotificationKind::CloudIncident)
                .await
                .len(),
            0
        );

        let priya = app.user("priya").await;
        resolve(&app, &priya, item.id, DriftAction::ProposeRetirement)
            .await
            .expect("proposed");
        let proposals = limits::proposals_of(app.conn(), listing_id)
            .await
            .expect("proposals");
        let titles: Vec<&str> = proposals[0]
            .versions
            .iter()
            .map(|v| v.title.as_str())
            .collect();
        assert_eq!(titles, ["GitLab Premium 17.5.2 Release"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_near_its_quota_warns_once_and_again_after_falling_below() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let four: Vec<SeenImage> = (1..=4)
            .map(|n| image(&app, &format!("ami-{n}"), &format!("by-hand-{n}"), true))
            .collect();
        assert_eq!(apply(&app, &quiet(four.clone())).await.warnings, 1);
        let q = region_quota(&app, QUIET).await;
        assert!(q.near_quota);
        assert_eq!(q.after_next_release, 4, "no product ships there");
        assert_eq!(apply(&app, &quiet(four.clone())).await.warnings, 0);
        for who in ["oskar", "priya"] {
            assert_eq!(
                told(&app, who, NotificationKind::QuotaWarning).await.len(),
                1,
                "{who} is told once"
            );
        }
        let mark = schedule_mark::Entity::find_by_id(format!("warning:quota:{QUIET}"))
            .one(app.conn())
            .await
            .expect("mark");
        assert!(mark.is_some());
        assert_eq!(apply(&app, &quiet(four[..2].to_vec())).await.warnings, 0);
        assert_eq!(apply(&app, &quiet(four)).await.warnings, 1, "crossed again");
        assert_eq!(
            told(&app, "oskar", NotificationKind::QuotaWarning)
                .await
                .len(),
            2
        );
        let link = notification::Entity::find()
            .filter(notification::Column::Kind.eq(NotificationKind::QuotaWarning))
            .one(app.conn())
            .await
            .expect("notification")
            .expect("one")
            .link;
        assert_eq!(link, format!("/public-images?region={QUIET}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_images_are_protected_and_retention_never_proposes_a_protected_one() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let mut premium = listing_as_catalogued(&app, "GitLab Premium").await;
        for v in premium.versions.as_mut().expect("versions") {
            match v.title.as_str() {
                "GitLab Premium 17.5.2 Release" => v.amis = vec!["ami-live".into()],
                "GitLab Premium 17.3.7 Release" => v.amis = vec!["ami-old".into()],
                _ => {}
            }
        }
        // The us-east-1 image of CE 17.3.7 (amd64) is protected in the account.
        let ce_old = catalogued(&app, "gitlab-ce", "17.3.7", Arch::Amd64, "us-east-1").await;
        let ce_old_id = ce_old.image_id.clone().expect("id");
        let mut images = as_catalogued(&app, "us-east-1").await;
        for i in &mut images {
            if i.image_id == ce_old_id {
                i.protected = true;
            }
        }
        let mut old = image(&app, "ami-old", "GitLab Premium old", false);
        old.protected = true;
        let mut spare = image(&app, "ami-spare", "spare", false);
        spare.protected = true;
        images.extend([
            image(&app, "ami-live", "GitLab Premium live", false),
            old,
            spare,
        ]);
        let report = apply(&app, &read("us-east-1", images, 100, vec![premium])).await;
        let plan: Vec<(&str, bool)> = report
            .protect
            .iter()
            .map(|p| (p.image_id.as_str(), p.enable))
            .collect();
        assert_eq!(
            plan,
            [("ami-live", true), ("ami-old", false)],
            "{:?}",
            report.protect
        );
        assert!(
            report.protect[0]
                .why
                .contains("GitLab Premium 17.5.2 Release")
        );

        account::record_protection(app.conn(), app.clock.now(), "us-east-1", "ami-live", true)
            .await
            .expect("recorded");
        let status = account::status(app.conn(), app.clock.now(), Duration::minutes(60))
            .await
            .expect("status");
        let east = status
            .regions
            .iter()
            .find(|r| r.region == "us-east-1")
            .expect("us-east-1");
        assert_eq!(
            east.protected_images, 4,
            "ce 17.3.7, old, spare, and live now"
        );
        assert_eq!(status.every_minutes, 60);

        // Retention: keep one release, no support window: 17.3.7 amd64 would go, but its
        // us-east-1 image is protected, so nothing of that image version is proposed.
        let p = with_policy(&app, "gitlab-ce", 3, 0, RetentionAction::Deregister).await;
        assert!(!p.items.is_empty());
        assert!(
            p.items
                .iter()
                .all(|i| !(i.version == "17.3.7" && i.arch == Arch::Amd64)),
            "the protected image's version is skipped"
        );
        assert!(
            p.items
                .iter()
                .any(|i| i.version == "17.3.7" && i.arch == Arch::Arm64),
            "its arm64 sibling is not protected"
        );
        retention::decide(
            app.conn(),
            &app.user("priya").await,
            app.clock.now(),
            p.id,
            false,
            "not now",
        )
        .await
        .expect("rejected");
        let product = app::services::products::get(app.conn(), "aws", "gitlab-ce")
            .await
            .expect("product");
        let err = retention::propose_images(
            app.conn(),
            &app.user("oskar").await,
            app.clock.now(),
            product.id,
            &[ce_old.id],
        )
        .await
        .expect_err("protected");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.message.contains(&ce_old_id), "{}", err.message);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_are_asked_for_by_omnibus_and_queued_once_per_period() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let every = Duration::minutes(60);
        let t0 = app.clock.now();
        let first = account::scheduled_sync(app.conn(), t0, every)
            .await
            .expect("scheduled");
        let queued = account::queue_sync(app.conn(), t0, "portal")
            .await
            .expect("queued");
        assert!(first.is_none() || first == Some(queued), "one open sync");
        assert_eq!(
            account::scheduled_sync(app.conn(), t0 + Duration::minutes(59), every)
                .await
                .expect("not yet"),
            None
        );
        assert_eq!(
            account::scheduled_sync(app.conn(), t0, Duration::zero())
                .await
                .expect("off"),
            None
        );
        let err = account::request_sync(app.conn(), &app.user("priya").await, t0)
            .await
            .expect_err("Partnerships does not sync");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let job = account::request_sync(app.conn(), &app.user("oskar").await, t0)
            .await
            .expect("the open sync");
        assert_eq!(job.id, queued);
        assert_eq!(job.kind, "cloud_sync");
        let targets = account::targets(app.conn()).await.expect("targets");
        assert!(targets.regions.iter().any(|r| r == "us-east-1"));
        assert_eq!(targets.listings.len(), 2, "Premium and Ultimate");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_syncs_at_once_record_each_image_and_difference_once() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let snapshot = quiet(vec![
            image(&app, "ami-a", "by-hand-a", true),
            image(&app, "ami-b", "GitLab CE 18.2.0", true),
        ]);
        let now = app.clock.now();
        let (a, b) = tokio::join!(
            account::apply(app.conn(), now, &snapshot),
            account::apply(app.conn(), now, &snapshot)
        );
        let (a, b) = (a.expect("first"), b.expect("second"));
        assert_eq!(a.drift_opened + b.drift_opened, 1, "one item opened");
        assert_eq!(a.imported + b.imported, 1, "imported once");
        let items = items_of(&app, QUIET).await;
        assert_eq!(items.len(), 1, "{items:?}");
        let q = region_quota(&app, QUIET).await;
        assert_eq!(q.public_images, 2);
        assert_eq!(
            image_region::Entity::find()
                .filter(image_region::Column::ImageId.eq("ami-b"))
                .count(app.conn())
                .await
                .expect("count"),
            1
        );
    })
    .await;
}
