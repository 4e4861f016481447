//! A listing's content, service by service and over REST: the copy checked against every
//! limit of AWS's UpdateInformation and AddDeliveryOptions, its logo, marking a revision for
//! publishing, the live copy, the plan of a version publish (every architecture, the
//! product's delivery configuration, release notes with the release's notes link), the
//! product's delivery configuration and the seeded copy.

use app::{
    domain::*,
    dto::*,
    error::ErrorCode,
    services::{Clock as _, assets, audit, copy, images, listings, process, products, publish},
};
use portal_tests::{Backend, GITLAB_TOKEN, PNG_1X1, TestApp, each_backend};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PREMIUM: &str = "GitLab Premium";

/// The id of the listing's newest revision.
async fn head(app: &TestApp, listing: i32) -> CopyRevision {
    copy::get(app.conn(), listing)
        .await
        .expect("copy")
        .head
        .expect("a revision")
}

async fn audit_of(app: &TestApp, action: &str) -> Vec<AuditEvent> {
    audit::list(
        app.conn(),
        &app.auditor(),
        &AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        },
    )
    .await
    .expect("audit")
    .items
}

/// Every limit of AWS, one input breaking it each, and the field that must say so.
fn over_the_limits() -> Vec<(&'static str, CopyInput)> {
    let ok = || TestApp::copy_input(PREMIUM);
    let resource = |text: &str, url: &str| AdditionalResource {
        text: text.into(),
        url: url.into(),
    };
    vec![
        (
            "title",
            CopyInput {
                title: "t".repeat(73),
                ..ok()
            },
        ),
        (
            "short_description",
            CopyInput {
                short_description: "s".repeat(1001),
                ..ok()
            },
        ),
        (
            "long_description",
            CopyInput {
                long_description: "l".repeat(5001),
                ..ok()
            },
        ),
        (
            "highlights",
            CopyInput {
                highlights: vec![],
                ..ok()
            },
        ),
        (
            "highlights",
            CopyInput {
                highlights: vec!["h".into(); 4],
                ..ok()
            },
        ),
        (
            "highlights",
            CopyInput {
                highlights: vec!["h".repeat(501)],
                ..ok()
            },
        ),
        (
            "categories",
            CopyInput {
                categories: vec![],
                ..ok()
            },
        ),
        (
            "categories",
            CopyInput {
                categories: vec!["DevOps".into(); 4],
                ..ok()
            },
        ),
        (
            "search_keywords",
            CopyInput {
                search_keywords: vec!["k".into(); 16],
                ..ok()
            },
        ),
        (
            "search_keywords",
            CopyInput {
                search_keywords: vec!["k".repeat(51)],
                ..ok()
            },
        ),
        (
            "sku",
            CopyInput {
                sku: "s".repeat(101),
                ..ok()
            },
        ),
        (
            "support_description",
            CopyInput {
                support_description: "s".repeat(2001),
                ..ok()
            },
        ),
        (
            "video_url",
            CopyInput {
                video_url: "http://videos.example.com/gitlab".into(),
                ..ok()
            },
        ),
        (
            "video_url",
            CopyInput {
                video_url: format!("https://v.example.com/{}", "v".repeat(2048)),
                ..ok()
            },
        ),
        (
            "additional_resources",
            CopyInput {
                additional_resources: vec![resource("Docs", "https://docs.gitlab.com"); 4],
                ..ok()
            },
        ),
        (
            "additional_resources",
            CopyInput {
                additional_resources: vec![resource(&"t".repeat(101), "https://docs.gitlab.com")],
                ..ok()
            },
        ),
        (
            "additional_resources",
            CopyInput {
                additional_resources: vec![resource("Docs", "docs.gitlab.com")],
                ..ok()
            },
        ),
        (
            "usage_instructions",
            CopyInput {
                usage_instructions: String::new(),
                ..ok()
            },
        ),
        (
            "usage_instructions",
            CopyInput {
                usage_instructions: "u".repeat(4001),
                ..ok()
            },
        ),
        (
            "release_notes_template",
            CopyInput {
                release_notes_template: String::new(),
                ..ok()
            },
        ),
        (
            "release_notes_template",
            CopyInput {
                release_notes_template: "GitLab {release}".into(),
                ..ok()
            },
        ),
        (
            "release_notes_template",
            CopyInput {
                release_notes_template: format!("{} {{notes_url}}", "n".repeat(28_500)),
                ..ok()
            },
        ),
        (
            "logo_asset_id",
            CopyInput {
                logo_asset_id: Some(999_999),
                ..ok()
            },
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_limit_is_a_field_error_and_loses_nothing() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let maya = app.user("maya").await;
        let listing = app.listing(PREMIUM).await.expect("listing").id;
        let before = head(&app, listing).await;
        for (field, input) in over_the_limits() {
            let err = copy::save(
                app.conn(),
                &maya,
                app.clock.now(),
                listing,
                &CopyInput {
                    base_revision: before.id,
                    ..input
                },
            )
            .await
            .expect_err(field);
            assert_eq!(err.code, ErrorCode::ValidationFailed, "{backend:?} {field}");
            assert_eq!(
                err.fields
                    .iter()
                    .map(|f| f.field.as_str())
                    .collect::<Vec<_>>(),
                [field],
                "{backend:?}: {err:?}"
            );
        }
        // The limits themselves are allowed: 500-character highlights, 15 keywords of 50.
        let at_the_limits = CopyInput {
            base_revision: before.id,
            highlights: vec!["h".repeat(500); 3],
            search_keywords: (0..15).map(|i| format!("{i:0>50}")).collect(),
            sku: "s".repeat(100),
            usage_instructions: "u".repeat(4000),
            ..TestApp::copy_input(PREMIUM)
        };
        let saved = copy::save(app.conn(), &maya, app.clock.now(), listing, &at_the_limits)
            .await
            .expect("within every limit");
        let CopySave::Saved { revision } = saved else {
            panic!("conflict")
        };
        assert_eq!(revision.fields.search_keywords.len(), 15);
        // Nothing of the refused saves was written: the seeded revision stayed the head
        // until the good save.
        let copy = copy::get(app.conn(), listing).await.expect("copy");
        assert_eq!(copy.revisions.len(), 2, "{backend:?}");
        assert_eq!(copy.revisions[1].id, before.id);
        assert_eq!(copy.approved_revision, Some(before.id), "still approved");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_rest_each_field_is_named_like_the_api_names_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let listing = app.listing(PREMIUM).await.expect("listing").id;
    let base = head(&app, listing).await.id;
    let res = maya
        .post(app.url(&format!("/api/v1/listings/{listing}/copy")))
        .json(&json!({
            "base_revision": base, "title": "GitLab Premium", "short_description": "Short.",
            "long_description": "Long.", "highlights": ["h".repeat(501)], "categories": [],
            "usage_instructions": "Use it.", "release_notes_template": "GitLab {version} {changelog}",
            "search_keywords": ["k".repeat(51)], "sku": "s".repeat(101), "video_url": "ftp://v.example.com",
            "additional_resources": [{"text": "Docs", "url": "http://docs.gitlab.com"}],
            "support_description": "s".repeat(2001), "logo_asset_id": 999_999
        }))
        .send()
        .await
        .expect("save");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "validation_failed");
    let mut fields: Vec<&str> = body["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "additional_resources",
            "categories",
            "highlights",
            "logo_asset_id",
            "release_notes_template",
            "search_keywords",
            "sku",
            "support_description",
            "video_url"
        ],
        "{body}"
    );
    let placeholder = body["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "release_notes_template"))
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default();
    assert!(
        placeholder.contains("'{changelog}' is not a placeholder"),
        "{placeholder}"
    );
    assert_eq!(head(&app, listing).await.id, base, "nothing was written");
}

/// Uploads a logo (or another kind of file asset) of the Premium product, linked to
/// `listing` when given.
async fn upload(app: &TestApp, kind: &str, listing: Option<i32>) -> Asset {
    assets::create(
        app.conn(),
        app.state.store.as_ref(),
        &app.user("maya").await,
        app.clock.now(),
        assets::UploadInput {
            partner: "aws".into(),
            product: "gitlab-ee-premium".into(),
            kind: kind.into(),
            title: format!("GitLab {kind}"),
            filename: "tanuki.png".into(),
            bytes: PNG_1X1.to_vec().into(),
            content: AssetContent::default(),
            listing_id: listing,
            task_id: None,
        },
    )
    .await
    .expect("uploaded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logo_is_a_logo_linked_to_the_listing_and_its_version_is_pinned() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.user("maya").await;
    let premium = app.listing(PREMIUM).await.expect("listing").id;
    let ultimate = app.listing("GitLab Ultimate").await.expect("listing").id;
    let save = |logo: i32| {
        let app = &app;
        let maya = maya.clone();
        async move {
            copy::save(
                app.conn(),
                &maya,
                app.clock.now(),
                premium,
                &CopyInput {
                    base_revision: head(app, premium).await.id,
                    logo_asset_id: Some(logo),
                    ..TestApp::copy_input(PREMIUM)
                },
            )
            .await
        }
    };
    // A logo of another listing, and a screenshot of this one, are refused.
    let elsewhere = upload(&app, "logo", Some(ultimate)).await;
    let err = save(elsewhere.id).await.expect_err("not linked here");
    assert!(
        err.field("logo_asset_id")
            .is_some_and(|m| m.contains("not linked to this listing")),
        "{err:?}"
    );
    let screenshot = upload(&app, "screenshot", Some(premium)).await;
    let err = save(screenshot.id).await.expect_err("not a logo");
    assert!(
        err.field("logo_asset_id")
            .is_some_and(|m| m.contains("not a logo")),
        "{err:?}"
    );
    // Linked to this listing, it is saved with the version it has now.
    let logo = upload(&app, "logo", Some(premium)).await;
    let CopySave::Saved { revision } = save(logo.id).await.expect("a linked logo") else {
        panic!("conflict")
    };
    assert_eq!(
        (revision.fields.logo_asset_id, revision.fields.logo_version),
        (Some(logo.id), Some(1))
    );
    // A new version of the logo does not change what the revision pinned.
    assets::add_version(
        app.conn(),
        app.state.store.as_ref(),
        &maya,
        app.clock.now(),
        logo.id,
        "tanuki-2.svg",
        br#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>"#
            .to_vec()
            .into(),
        &AssetContent::default(),
    )
    .await
    .expect("version 2");
    let again = copy::revision(app.conn(), premium, revision.id)
        .await
        .expect("revision");
    assert_eq!(again.fields.logo_version, Some(1));

    // Once approved, the copy publish sends the pinned version's public URL, and the live
    // diff compares that URL with the live one.
    let approved = app
        .approve_copy_of(
            premium,
            CopyInput {
                title: "GitLab Premium with its logo".into(),
                logo_asset_id: Some(logo.id),
                ..TestApp::copy_input(PREMIUM)
            },
        )
        .await
        .expect("approved");
    assert_eq!(
        approved.fields.logo_version,
        Some(2),
        "the current version then"
    );
    let plan = copy::copy_plan(
        app.conn(),
        &app.state.asset_urls,
        &copy::PublishCopy {
            listing_id: premium,
            revision_id: approved.id,
        },
    )
    .await
    .expect("plan");
    let logo_url = plan.update.logo_url.clone().expect("a logo URL");
    assert!(
        logo_url.starts_with("https://") || logo_url.starts_with("http://"),
        "{logo_url}"
    );
    assert!(logo_url.contains(&format!("{}/2/", logo.id)), "{logo_url}");
    let live = LiveCopy {
        title: "GitLab Premium".into(),
        logo_url: "https://marketplace.example/old-logo.png".into(),
        ..LiveCopy::default()
    };
    let diff = copy::live_diff(
        app.conn(),
        &app.state.asset_urls,
        premium,
        approved.id,
        "prod-123",
        &live,
        app.clock.now(),
    )
    .await
    .expect("diff");
    let row = diff
        .fields
        .iter()
        .find(|f| f.field == "logo_url")
        .expect("logo row");
    assert!(row.changed);
    assert_eq!(row.rows[0].right.as_deref(), Some(logo_url.as_str()));
    assert_eq!(diff.fields.len(), 11, "one row per UpdateInformation field");
    // An unapproved revision is never published.
    let err = copy::copy_plan(
        app.conn(),
        &app.state.asset_urls,
        &copy::PublishCopy {
            listing_id: premium,
            revision_id: revision.id,
        },
    )
    .await
    .expect_err("not approved");
    assert_eq!(err.code, ErrorCode::Conflict);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_for_publishing_queues_one_publish_copy_job_and_audits_it() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let priya = app.user("priya").await;
        let listing = app.listing(PREMIUM).await.expect("listing").id;
        let seeded = head(&app, listing).await;
        let review = ReviewInput {
            revision: seeded.id,
            comment: String::new(),
        };
        let marked =
            copy::mark_for_publishing(app.conn(), &priya, app.clock.now(), listing, &review)
                .await
                .expect("marked");
        assert_eq!(marked.job.kind, "publish_copy", "{backend:?}");
        assert_eq!(marked.job.state, JobState::Queued);
        assert_eq!(
            marked.copy.publish_job.as_ref().map(|j| j.id),
            Some(marked.job.id)
        );
        assert_eq!(
            marked
                .copy
                .head
                .as_ref()
                .and_then(|h| h.publish_marked_by.clone()),
            Some("priya".into())
        );
        // A second mark while it is queued is refused, and queues nothing.
        let err = copy::mark_for_publishing(app.conn(), &priya, app.clock.now(), listing, &review)
            .await
            .expect_err("one at a time");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(
            err.message
                .contains(&format!("job {} is already publishing copy", marked.job.id)),
            "{}",
            err.message
        );
        let queued =
            app::services::jobs::list(app.conn(), &JobFilter::default(), PageRequest::default())
                .await
                .expect("jobs")
                .items
                .into_iter()
                .filter(|j| j.kind == "publish_copy")
                .count();
        assert_eq!(queued, 1);
        let marks = audit_of(&app, "mark_publish").await;
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].actor, "priya");
        assert!(
            marks[0].summary.contains(&format!("job {}", marked.job.id)),
            "{}",
            marks[0].summary
        );
        // A version publish of the listing waits for the copy publish.
        release(&app, "17.7.0", "").await;
        images_of(&app, "17.7.0", &[Arch::Amd64]).await;
        let err = publish::start(
            app.conn(),
            &app.user("oskar").await,
            app.clock.now(),
            listing,
            "17.7.0",
        )
        .await
        .expect_err("busy");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(
            err.message.contains(&format!(
                "job {} is already publishing copy on GitLab Premium",
                marked.job.id
            )),
            "{}",
            err.message
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marking_over_rest_answers_202_with_the_job_and_a_draft_cannot_be_marked() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let listing = app.listing("GitLab Ultimate").await.expect("listing").id;
    let seeded = head(&app, listing).await;
    let res = maya
        .post(app.url(&format!(
            "/api/v1/listings/{listing}/copy/mark-for-publishing"
        )))
        .json(&json!({ "revision": seeded.id }))
        .send()
        .await
        .expect("mark");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["job"]["kind"], "publish_copy");
    assert_eq!(body["copy"]["publish_job"]["id"], body["job"]["id"]);
    let res = maya
        .post(app.url(&format!(
            "/api/v1/listings/{listing}/copy/mark-for-publishing"
        )))
        .json(&json!({ "revision": seeded.id }))
        .send()
        .await
        .expect("mark again");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // A draft on top is not publishable.
    let draft = copy::save(
        app.conn(),
        &app.user("maya").await,
        app.clock.now(),
        listing,
        &CopyInput {
            base_revision: seeded.id,
            ..TestApp::copy_input("GitLab Ultimate")
        },
    )
    .await
    .expect("saved");
    let CopySave::Saved { revision } = draft else {
        panic!("conflict")
    };
    let err = copy::mark_for_publishing(
        app.conn(),
        &app.user("maya").await,
        app.clock.now(),
        listing,
        &ReviewInput {
            revision: revision.id,
            comment: String::new(),
        },
    )
    .await
    .expect_err("a draft");
    assert!(err.message.contains("not approved"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_copy_is_recorded_and_the_listing_title_follows_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.listing(PREMIUM).await.expect("listing");
    let revision = app
        .approve_copy_of(
            listing.id,
            CopyInput {
                title: "GitLab Premium, now on AWS".into(),
                ..TestApp::copy_input(PREMIUM)
            },
        )
        .await
        .expect("approved");
    let live = LiveCopy {
        title: "GitLab Premium, now on AWS".into(),
        short_description: "GitLab Premium on AWS.".into(),
        ..LiveCopy::default()
    };
    copy::record_live(app.conn(), app.clock.now(), listing.id, revision.id, &live)
        .await
        .expect("recorded");
    let after = listings::get(app.conn(), listing.id)
        .await
        .expect("listing");
    assert_eq!(after.title, "GitLab Premium, now on AWS");
    assert_eq!(after.live_copy_revision, Some(revision.id));
    assert_eq!(after.live_copy_at, Some(app.clock.now()));
    let c = copy::get(app.conn(), listing.id).await.expect("copy");
    assert_eq!(c.listing_title, "GitLab Premium, now on AWS");
    let record = c.live.expect("live");
    assert_eq!(
        (record.revision_id, record.revision_number),
        (Some(revision.id), Some(revision.number))
    );
    assert_eq!(record.copy, live);
    let audited = audit_of(&app, "copy_live").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].actor, "portal", "the system user");
    assert!(
        audited[0].summary.contains(&listing.title),
        "{}",
        audited[0].summary
    );
    // Recording the same again changes nothing.
    copy::record_live(app.conn(), app.clock.now(), listing.id, revision.id, &live)
        .await
        .expect("again");
    assert_eq!(audit_of(&app, "copy_live").await.len(), 1);
}

/// Records the Premium images of `version` for `archs` as available in every region.
async fn images_of(app: &TestApp, version: &str, archs: &[Arch]) {
    let oskar = app.user("oskar").await;
    for arch in archs {
        images::record(
            app.conn(),
            &oskar,
            app.clock.now(),
            &ImageVersionInput {
                partner: "aws".into(),
                product: "gitlab-ee-premium".into(),
                version: version.into(),
                arch: arch.as_str().into(),
                state: "available".into(),
                regions: vec![ImageRegionInput {
                    region: "us-east-1".into(),
                    image_id: format!("ami-{}{}", arch.as_str(), version.replace('.', "")),
                    state: "private".into(),
                }],
                rebuild: None,
            },
        )
        .await
        .expect("image recorded");
    }
}

async fn release(app: &TestApp, version: &str, notes_url: &str) {
    process::create_release_with_runs(
        app.conn(),
        &app.omnibus().await.expect("omnibus"),
        app.clock.now(),
        &ReleaseInput {
            version: version.into(),
            released_on: "2026-11-01".into(),
            kind: "regular".into(),
            notes_url: notes_url.into(),
        },
    )
    .await
    .expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_publish_plans_every_architecture_with_the_products_delivery_and_the_copys_notes()
{
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let alex = app.user("alex").await;
        // Premium gets a second architecture and a delivery configuration of its own.
        app.add_premium_arm64().await.expect("arm64 added");
        let delivery = DeliveryConfig {
            recommended_instance_type: "m7g.xlarge".into(),
            os_name: "UBUNTU".into(),
            os_version: "24.04".into(),
            user_name: "ubuntu".into(),
            security_groups: vec![SecurityGroupRule {
                protocol: "tcp".into(),
                from_port: 443,
                to_port: 443,
                cidr: "10.0.0.0/8".into(),
            }],
        };
        products::set_delivery(
            app.conn(),
            &alex,
            app.clock.now(),
            "aws",
            "gitlab-ee-premium",
            &delivery,
        )
        .await
        .expect("delivery set");
        let listing = app.listing(PREMIUM).await.expect("listing").id;
        let seeded = head(&app, listing).await;

        // 17.7.0's notes link was given; 17.7.1 has none and falls back to GitLab's page.
        let notes = "https://about.gitlab.com/releases/2026/11/19/gitlab-17-7-released/";
        release(&app, "17.7.0", notes).await;
        images_of(&app, "17.7.0", &[Arch::Amd64]).await;
        let payload = publish::PublishVersion {
            listing_id: listing,
            version: "17.7.0".into(),
        };
        let err = publish::plan(app.conn(), &payload, true)
            .await
            .expect_err("arm64 is not built");
        assert!(
            err.message.contains("arm64"),
            "{backend:?}: {}",
            err.message
        );
        images_of(&app, "17.7.0", &[Arch::Arm64]).await;
        let plan = publish::plan(app.conn(), &payload, true)
            .await
            .expect("plan");
        assert_eq!(
            plan.targets,
            [
                publish::VersionTarget {
                    arch: Arch::Amd64,
                    version_title: "GitLab Premium 17.7.0 Release".into(),
                    image_id: "ami-amd641770".into(),
                },
                publish::VersionTarget {
                    arch: Arch::Arm64,
                    version_title: "GitLab Premium 17.7.0 Release (arm64)".into(),
                    image_id: "ami-arm641770".into(),
                },
            ],
            "{backend:?}"
        );
        assert_eq!(plan.delivery, delivery);
        assert_eq!(plan.copy_revision, seeded.id);
        assert_eq!(plan.usage_instructions, seeded.fields.usage_instructions);
        assert_eq!(plan.release_notes, format!("GitLab 17.7.0: {notes}"));

        release(&app, "17.7.1", "").await;
        images_of(&app, "17.7.1", &[Arch::Amd64, Arch::Arm64]).await;
        let plan = publish::plan(
            app.conn(),
            &publish::PublishVersion {
                listing_id: listing,
                version: "17.7.1".into(),
            },
            true,
        )
        .await
        .expect("plan");
        assert_eq!(
            plan.release_notes,
            "GitLab 17.7.1: https://gitlab.com/gitlab-org/gitlab/-/releases/v17.7.1-ee"
        );

        // A newer approved revision is used until a revision is live; then the live one.
        let newer = app
            .approve_copy_of(
                listing,
                CopyInput {
                    usage_instructions: "Newer instructions: https://docs.gitlab.com/install/aws/"
                        .into(),
                    release_notes_template: "Release {version} ({notes_url})".into(),
                    ..TestApp::copy_input(PREMIUM)
                },
            )
            .await
            .expect("approved");
        let plan = publish::plan(app.conn(), &payload, false)
            .await
            .expect("plan");
        assert_eq!(plan.copy_revision, newer.id);
        assert_eq!(plan.release_notes, format!("Release 17.7.0 ({notes})"));
        copy::record_live(
            app.conn(),
            app.clock.now(),
            listing,
            seeded.id,
            &LiveCopy::default(),
        )
        .await
        .expect("the seeded copy is live");
        let plan = publish::plan(app.conn(), &payload, false)
            .await
            .expect("plan");
        assert_eq!(plan.copy_revision, seeded.id);
        assert_eq!(plan.usage_instructions, seeded.fields.usage_instructions);

        // Each architecture's version is recorded with its architecture, once.
        for target in &plan.targets {
            for _ in 0..2 {
                publish::record(app.conn(), &alex, app.clock.now(), &plan, target, "do-1")
                    .await
                    .expect("recorded");
            }
        }
        let versions = listings::get(app.conn(), listing)
            .await
            .expect("listing")
            .versions;
        let ours: Vec<(String, Option<Arch>)> = versions
            .into_iter()
            .filter(|v| v.release.as_deref() == Some("17.7.0"))
            .map(|v| (v.title, v.arch))
            .collect();
        assert_eq!(ours.len(), 2, "{backend:?}: {ours:?}");
        assert!(ours.contains(&("GitLab Premium 17.7.0 Release".into(), Some(Arch::Amd64))));
        assert!(ours.contains(&(
            "GitLab Premium 17.7.0 Release (arm64)".into(),
            Some(Arch::Arm64)
        )));
        let err = publish::start(app.conn(), &alex, app.clock.now(), listing, "17.7.0")
            .await
            .expect_err("both published");
        assert!(
            err.message.contains("are already published"),
            "{}",
            err.message
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_without_approved_copy_cannot_start_a_publish() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.without_copy(PREMIUM).await.expect("no copy");
    release(&app, "17.7.0", "").await;
    images_of(&app, "17.7.0", &[Arch::Amd64]).await;
    let err = publish::start(
        app.conn(),
        &app.user("oskar").await,
        app.clock.now(),
        listing,
        "17.7.0",
    )
    .await
    .expect_err("no approved copy");
    assert_eq!(err.code, ErrorCode::Conflict);
    assert_eq!(
        err.message,
        "GitLab Premium has no approved copy: its usage instructions and release notes come from it. Approve its copy first."
    );
    // Over REST it is the same 409.
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .post(app.url(&format!("/api/v1/listings/{listing}/publish")))
        .json(&json!({ "release": "17.7.0" }))
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_products_delivery_configuration_is_checked_field_by_field() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let priya = app.signed_in("priya").await.expect("priya");
    let url = app.url("/api/v1/products/aws/gitlab-ee-premium/delivery");
    let res = priya
        .put(&url)
        .json(&json!({
            "recommended_instance_type": "big", "os_name": "ubuntu linux", "os_version": "",
            "user_name": "9root", "security_groups": [{"protocol": "gre", "from_port": 80, "to_port": 22, "cidr": "10.0.0.1/8"}]
        }))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    let mut fields: Vec<&str> = body["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "os_name",
            "os_version",
            "recommended_instance_type",
            "security_groups",
            "user_name"
        ],
        "{body}"
    );
    let res = priya
        .put(&url)
        .json(&json!({
            "recommended_instance_type": "c6i.4xlarge", "os_name": "UBUNTU", "os_version": "24.04",
            "user_name": "ubuntu", "security_groups": [
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "192.168.0.0/16"}
            ]
        }))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::OK);
    let product: Value = res.json().await.expect("json");
    assert_eq!(
        product["delivery"]["recommended_instance_type"],
        "c6i.4xlarge"
    );
    assert_eq!(
        product["delivery"]["security_groups"][1]["cidr"],
        "192.168.0.0/16"
    );
    let audited = audit_of(&app, "set_delivery").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].actor, "priya");
    // Marketing does not configure products.
    let maya = app.signed_in("maya").await.expect("maya");
    let res = maya
        .put(&url)
        .json(&product["delivery"])
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The seeded products deliver as GitLab's listings always did.
    let ultimate = products::get(app.conn(), "aws", "gitlab-ee-ultimate")
        .await
        .expect("product");
    assert_eq!(ultimate.delivery.recommended_instance_type, "c5.2xlarge");
    assert_eq!(
        ultimate
            .delivery
            .security_groups
            .iter()
            .map(|r| r.from_port)
            .collect::<Vec<_>>(),
        [22, 80, 443]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeded_listings_have_gitlabs_approved_copy() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        for name in [PREMIUM, "GitLab Ultimate"] {
            let listing = app.listing(name).await.expect("listing");
            let c = copy::get(app.conn(), listing.id).await.expect("copy");
            let r = c.head.expect("a revision");
            assert_eq!(r.state, CopyState::Approved, "{backend:?} {name}");
            assert_eq!(c.approved_revision, Some(r.id));
            assert_eq!(r.author, "maya");
            assert_eq!(
                r.reviews
                    .iter()
                    .map(|x| (x.stage, x.username.as_str(), x.decision.as_str()))
                    .collect::<Vec<_>>(),
                [
                    (Role::Partnerships, "priya", "approved"),
                    (Role::Omnibus, "oskar", "approved")
                ]
            );
            let f = &r.fields;
            assert_eq!(f.title, listing.title);
            assert!(f.short_description.contains("DevSecOps platform"), "{name}");
            assert!(f.categories.contains(&"DevOps".to_owned()));
            assert!(f.categories.contains(&"Source Control".to_owned()));
            for keyword in ["gitlab", "devops", "ci/cd"] {
                assert!(f.search_keywords.contains(&keyword.to_owned()), "{keyword}");
            }
            assert!(
                f.usage_instructions
                    .contains("https://docs.gitlab.com/install/aws/")
            );
            assert_eq!(f.release_notes_template, "GitLab {version}: {notes_url}");
            assert!((1..=3).contains(&f.highlights.len()));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_events_url_becomes_its_notes_link_and_a_typed_one_must_be_https() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let url = "https://gitlab.com/gitlab-org/gitlab/-/releases/v18.7.0-ee";
    let res = TestApp::client()
        .post(app.url("/api/v1/webhooks/gitlab"))
        .header("X-Gitlab-Token", GITLAB_TOKEN)
        .header("X-Gitlab-Event", "Release Hook")
        .header("X-Gitlab-Event-UUID", "release-with-url")
        .json(&json!({
            "object_kind": "release", "action": "create", "tag": "v18.7.0-ee",
            "name": "GitLab 18.7.0", "description": "GitLab 18.7 released",
            "released_at": "2026-11-02T08:00:00Z", "url": url
        }))
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success(), "{}", res.status());
    let recorded = app::services::releases::get(app.conn(), "18.7.0")
        .await
        .expect("release");
    assert_eq!(recorded.notes_url.as_deref(), Some(url));

    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .post(app.url("/api/v1/releases"))
        .json(&json!({
            "version": "18.7.1", "released_on": "2026-11-02", "kind": "patch",
            "notes_url": "http://example.com/notes"
        }))
        .send()
        .await
        .expect("release");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["fields"][0]["field"], "notes_url", "{body}");
    let res = oskar
        .post(app.url("/api/v1/releases"))
        .json(&json!({
            "version": "18.7.1", "released_on": "2026-11-02", "kind": "patch",
            "notes_url": "https://about.gitlab.com/releases/2026/11/02/patch-release-gitlab-18-7-1-released/"
        }))
        .send()
        .await
        .expect("release");
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["notes_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("patch-release-gitlab-18-7-1-released/")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_diff_reads_the_marketplace_and_says_when_it_is_not_connected() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let listing = app.listing(PREMIUM).await.expect("listing").id;
    let seeded = head(&app, listing).await;
    // Not connected yet: a conflict that says so.
    let unconnected = app
        .state
        .with(|parts| parts.marketplace = Default::default());
    let err = copy::read_live_diff(&unconnected, listing, seeded.id)
        .await
        .expect_err("not connected");
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(err.message.contains("not connected yet"), "{}", err.message);
    // Connected: the seeded copy against what the simulated marketplace shows.
    let oskar = app.signed_in("oskar").await.expect("oskar");
    let res = oskar
        .get(app.url(&format!(
            "/api/v1/listings/{listing}/copy/live-diff?revision={}",
            seeded.id
        )))
        .send()
        .await
        .expect("diff");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let diff: CopyLiveDiff = res.json().await.expect("json");
    assert_eq!(diff.revision.id, seeded.id);
    assert!(!diff.entity_id.is_empty());
    assert_eq!(diff.fields.len(), 11);
    assert_eq!(
        diff.changed,
        diff.fields.iter().filter(|f| f.changed).count()
    );
    let title = diff
        .fields
        .iter()
        .find(|f| f.field == "title")
        .expect("title");
    assert_eq!(
        title.rows.last().and_then(|r| r.right.clone()),
        Some(seeded.fields.title.clone())
    );
    let res = oskar
        .get(app.url(&format!(
            "/api/v1/listings/{listing}/copy/live-diff?revision=999999"
        )))
        .send()
        .await
        .expect("diff");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
