//! The catalogue services against a real database, on SQLite and on PostgreSQL.

use app::{
    domain::*,
    dto::*,
    error::ErrorCode,
    services::{
        Clock,
        assets::{self, UploadInput},
        audit, catalogue, images, listings, partners, products, releases, seed, trains, users,
    },
};
use portal_tests::{Backend, PNG_1X1, TestApp, each_backend};

async fn admin(app: &TestApp) -> CurrentUser {
    let (_, user) = users::sign_in(app.conn(), app.clock.now(), "alex")
        .await
        .expect("alex signs in");
    user
}

async fn audit_count(app: &TestApp) -> u64 {
    audit::list(app.conn(), &app.auditor(), &AuditFilter::default())
        .await
        .expect("audit")
        .total
}

fn partner_input(slug: &str) -> PartnerInput {
    PartnerInput {
        slug: slug.into(),
        name: "DigitalOcean".into(),
        cloud: "digitalocean".into(),
        status: "onboarding".into(),
        partner_docs_url: "https://docs.digitalocean.com/products/marketplace/".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_holds_gitlabs_real_aws_catalogue_and_runs_twice_without_change() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let ce = products::get(app.conn(), "aws", "gitlab-ce")
            .await
            .expect("CE");
        assert_eq!(ce.target_regions.len(), 19, "{backend:?}");
        assert_eq!(ce.base_image_owner, "099720109477");
        assert!(ce.base_image_name_pattern.contains("ubuntu-noble-24.04"));
        let arm = ce
            .architectures
            .iter()
            .find(|a| a.arch == Arch::Arm64)
            .expect("arm64");
        assert_eq!(
            (arm.builder_instance_type.as_str(), arm.type_tag.as_str()),
            ("m6g.medium", "GitLab Community Edition (ARM64)")
        );
        let premium = products::get(app.conn(), "aws", "gitlab-ee-premium")
            .await
            .expect("Premium");
        assert_eq!(premium.visibility, Visibility::Private);
        assert_eq!(
            premium.listing_entity_name.as_deref(),
            Some("GitLab Premium")
        );
        let image = images::lookup(
            app.conn(),
            &LookupQuery {
                release: "17.5.1".into(),
                product: "gitlab-ee-premium".into(),
                arch: "amd64".into(),
                region: "eu-west-3".into(),
                partner: None,
            },
        )
        .await
        .expect("lookup");
        assert_eq!(image.name, "GitLab EE 17.5.1 Premium");

        let before = (
            partners::list(app.conn(), PageRequest::default())
                .await
                .expect("p")
                .total,
            audit_count(&app).await,
        );
        let report = seed::run(
            app.conn(),
            app.clock.now(),
            true,
            Some(&app.state.secret_key),
        )
        .await
        .expect("second seed");
        assert_eq!(
            (report.partners, report.releases, report.image_versions),
            (0, 0, 0),
            "{backend:?}"
        );
        let after = (
            partners::list(app.conn(), PageRequest::default())
                .await
                .expect("p")
                .total,
            audit_count(&app).await,
        );
        assert_eq!(before, after, "{backend:?}: a second seed changes nothing");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_slug_is_a_conflict_on_the_slug_and_writes_nothing() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let user = admin(&app).await;
        partners::create(
            app.conn(),
            &user,
            app.clock.now(),
            &partner_input("digitalocean"),
        )
        .await
        .expect("first");
        let events = audit_count(&app).await;
        let err = partners::create(
            app.conn(),
            &user,
            app.clock.now(),
            &partner_input("digitalocean"),
        )
        .await
        .expect_err("dup");
        assert_eq!(err.code, ErrorCode::Conflict, "{backend:?}");
        assert!(
            err.field("slug")
                .is_some_and(|m| m.contains("already taken"))
        );
        assert_eq!(
            audit_count(&app).await,
            events,
            "{backend:?}: no audit event for a refused change"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_partner_input_names_every_field_at_fault() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let user = admin(&app).await;
    let input = PartnerInput {
        slug: "Bad Slug".into(),
        name: " ".into(),
        cloud: "mars".into(),
        status: "live".into(),
        partner_docs_url: "ftp://x".into(),
        ..Default::default()
    };
    let err = partners::create(app.conn(), &user, app.clock.now(), &input)
        .await
        .expect_err("invalid");
    assert_eq!(err.code, ErrorCode::ValidationFailed);
    for field in ["slug", "name", "cloud", "partner_docs_url"] {
        assert!(err.field(field).is_some(), "{field} in {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_with_an_unknown_region_or_architecture_is_refused() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let user = admin(&app).await;
        let mut input = products::input_for(
            &products::get(app.conn(), "aws", "gitlab-ce")
                .await
                .expect("ce"),
        );
        input.slug = "gitlab-ce-fips".into();
        input.target_regions.push("mars-north-1".into());
        input.architectures[1].arch = "riscv".into();
        let err = products::create(
            app.conn(),
            &user,
            app.clock.now(),
            &app.state.base_image_owners,
            &input,
        )
        .await
        .expect_err("refused");
        assert_eq!(err.code, ErrorCode::ValidationFailed, "{backend:?}");
        assert!(
            err.field("target_regions[19]")
                .is_some_and(|m| m.contains("mars-north-1")),
            "{err:?}"
        );
        assert!(
            err.field("architectures[1].arch")
                .is_some_and(|m| m.contains("riscv")),
            "{err:?}"
        );
        assert!(
            products::get(app.conn(), "aws", "gitlab-ce-fips")
                .await
                .is_err(),
            "nothing half-written"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_stable_release_is_derived_from_the_versions() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let user = admin(&app).await;
        let now = app.clock.now();
        let add = |v: &str, kind: &str| ReleaseInput {
            version: v.into(),
            released_on: "2024-12-19".into(),
            kind: kind.into(),
            notes_url: String::new(),
        };
        trains::create_release(app.conn(), &user, now, &add("17.7.0-rc42", "regular"))
            .await
            .expect("rc");
        assert_eq!(
            releases::get(app.conn(), "latest")
                .await
                .expect("latest")
                .version,
            "17.6.0",
            "{backend:?}: an rc is not stable"
        );
        trains::create_release(app.conn(), &user, now, &add("17.10.0", "regular"))
            .await
            .expect("17.10");
        trains::create_release(app.conn(), &user, now, &add("17.9.3", "patch"))
            .await
            .expect("17.9.3");
        let page = releases::list(app.conn(), PageRequest::default())
            .await
            .expect("list");
        let latest: Vec<&str> = page
            .items
            .iter()
            .filter(|r| r.latest_stable)
            .map(|r| r.version.as_str())
            .collect();
        assert_eq!(latest, ["17.10.0"], "{backend:?}: numeric, not text, order");
        assert_eq!(page.items[0].version, "17.10.0");

        let err = trains::create_release(app.conn(), &user, now, &add("17.10", "regular"))
            .await
            .expect_err("invalid");
        assert!(err.field("version").is_some());
        let err = trains::create_release(app.conn(), &user, now, &add("17.10.0", "regular"))
            .await
            .expect_err("dup");
        assert_eq!(err.code, ErrorCode::Conflict);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_an_image_version_updates_regions_in_place() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let user = admin(&app).await;
        let input = |state: &str, region_state: &str| ImageVersionInput {
            partner: "aws".into(),
            product: "gitlab-ce".into(),
            version: "17.6.0".into(),
            arch: "arm64".into(),
            state: state.into(),
            regions: vec![ImageRegionInput {
                region: "eu-west-3".into(),
                image_id: "ami-0123456789abcdef0".into(),
                state: region_state.into(),
            }],
            rebuild: None,
        };
        let first = images::record(
            app.conn(),
            &user,
            app.clock.now(),
            &input("available", "private"),
        )
        .await
        .expect("record");
        let again = images::record(
            app.conn(),
            &user,
            app.clock.now(),
            &input("available", "public"),
        )
        .await
        .expect("again");
        assert_eq!(first.id, again.id, "{backend:?}");
        assert_eq!(again.regions.len(), 19);
        let r = again
            .regions
            .iter()
            .find(|r| r.region == "eu-west-3")
            .expect("region");
        assert_eq!(
            (r.image_id.as_deref(), r.state),
            (Some("ami-0123456789abcdef0"), RegionImageState::Public)
        );
        assert_eq!(again.name, "GitLab CE 17.6.0 (ARM64)");

        let mut bad = input("available", "public");
        bad.arch = "arm64".into();
        bad.product = "gitlab-ee-premium".into();
        let err = images::record(app.conn(), &user, app.clock.now(), &bad)
            .await
            .expect_err("premium has no arm64");
        assert!(err.field("arch").is_some(), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_partners_products_releases_and_image_ids_case_blind() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let r = catalogue::search(app.conn(), "AZURE")
            .await
            .expect("search");
        assert_eq!(
            r.partners
                .iter()
                .map(|p| p.slug.as_str())
                .collect::<Vec<_>>(),
            ["azure"],
            "{backend:?}"
        );
        let r = catalogue::search(app.conn(), "ultimate")
            .await
            .expect("search");
        assert!(r.products.iter().any(|p| p.slug == "gitlab-ee-ultimate"));
        let r = catalogue::search(app.conn(), "17.5").await.expect("search");
        assert_eq!(r.releases.len(), 3);
        let id = seed::sample_image_id("GitLab CE 17.5.1", "eu-west-3");
        let r = catalogue::search(app.conn(), &id[..10].to_uppercase())
            .await
            .expect("search");
        assert!(r.images.iter().any(|i| i.image_id == id), "{backend:?}");
        let r = catalogue::search(app.conn(), "%").await.expect("search");
        assert!(r.is_empty(), "a % is a character, not a wildcard");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_count_versions_against_their_limit() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let user = admin(&app).await;
        let page = listings::list(app.conn(), PageRequest::default())
            .await
            .expect("listings");
        let premium = page
            .items
            .iter()
            .find(|l| l.entity_name == "GitLab Premium")
            .expect("premium");
        assert_eq!(
            (premium.versions_used, premium.version_limit),
            (5, 100),
            "{backend:?}"
        );
        let err = listings::record_version(
            app.conn(),
            &user,
            app.clock.now(),
            premium.id,
            Some("17.5.1"),
            "GitLab Premium 17.5.1 Release",
            None,
            ListingVersionVisibility::Public,
        )
        .await
        .expect_err("duplicate title");
        assert_eq!(err.code, ErrorCode::Conflict);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_keep_every_version_and_their_bytes() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let (_, maya) = users::sign_in(app.conn(), app.clock.now(), "maya").await.expect("maya");
        let store = app.state.store.as_ref();
        let upload = UploadInput {
            partner: "aws".into(),
            product: "gitlab-ee".into(),
            kind: "logo".into(),
            title: "GitLab on AWS".into(),
            filename: "logo.svg".into(), // the name lies; the bytes decide
            bytes: PNG_1X1.to_vec().into(),
            ..Default::default()
        };
        let asset = assets::create(app.conn(), store, &maya, app.clock.now(), upload).await.expect("create");
        assert_eq!(asset.versions[0].content_type, "image/png", "{backend:?}");
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>"#;
        let asset = assets::add_version(app.conn(), store, &maya, app.clock.now(), asset.id, "logo.svg", svg.to_vec().into(), &Default::default()).await.expect("v2");
        assert_eq!(asset.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
        let (ct, _, bytes) = assets::read_version(app.conn(), store, asset.id, 1).await.expect("v1 bytes");
        assert_eq!((ct.as_str(), bytes.as_ref()), ("image/png", PNG_1X1));
        let err = assets::add_version(app.conn(), store, &maya, app.clock.now(), asset.id, "same.svg", svg.to_vec().into(), &Default::default()).await.expect_err("same bytes");
        assert_eq!(err.code, ErrorCode::Conflict);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_licensed_product_is_never_public_and_base_images_come_from_allowed_accounts() {
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let alex = app.signed_in("alex").await.expect("alex");
    let fields = |body: &Value| -> Vec<String> {
        body["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["field"].as_str().map(str::to_owned))
            .collect()
    };
    let premium = products::get(app.conn(), "aws", "gitlab-ee-premium")
        .await
        .expect("premium");
    assert!(premium.license_required);

    // The report: a licensed product made public, on someone else's base image.
    let mut input = serde_json::to_value(products::input_for(&premium)).expect("json");
    input["visibility"] = json!("public");
    input["base_image_owner"] = json!("111122223333");
    let res = alex
        .put(app.url("/api/v1/products/aws/gitlab-ee-premium"))
        .json(&input)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["code"], "validation_failed");
    assert_eq!(fields(&body), ["base_image_owner", "visibility"], "{body}");
    let text = body.to_string();
    assert!(
        text.contains("'111122223333' is not an account base images may come from")
            && text.contains("099720109477")
            && text.contains("cannot be public"),
        "{text}"
    );
    let unchanged = products::get(app.conn(), "aws", "gitlab-ee-premium")
        .await
        .expect("premium");
    assert_eq!(unchanged.visibility, Visibility::Private);
    assert_eq!(unchanged.base_image_owner, "099720109477");

    // Dropping the license requirement is not enough while a license file is stored.
    input["base_image_owner"] = json!("099720109477");
    input["license_required"] = json!(false);
    let res = alex
        .put(app.url("/api/v1/products/aws/gitlab-ee-premium"))
        .json(&input)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(fields(&body), ["visibility"], "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("has a license file")),
        "{body}"
    );

    // A public product takes no license: neither required by an edit nor set.
    let ce = products::get(app.conn(), "aws", "gitlab-ce")
        .await
        .expect("ce");
    let mut input = serde_json::to_value(products::input_for(&ce)).expect("json");
    input["license_required"] = json!(true);
    let res = alex
        .put(app.url("/api/v1/products/aws/gitlab-ce"))
        .json(&input)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(fields(&body), ["license_required"], "{body}");
    let res = alex
        .put(app.url("/api/v1/products/aws/gitlab-ce/license"))
        .json(&json!({"license": "LICENSE TEXT"}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.expect("json");
    assert_eq!(fields(&body), ["license"], "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("GitLab CE is public")),
        "{body}"
    );

    // Every seeded product still validates as it is.
    let user = admin(&app).await;
    for slug in [
        "gitlab-ce",
        "gitlab-ee",
        "gitlab-ee-premium",
        "gitlab-ee-ultimate",
    ] {
        let p = products::get(app.conn(), "aws", slug)
            .await
            .expect("product");
        products::update(
            app.conn(),
            &user,
            app.clock.now(),
            &app.state.base_image_owners,
            "aws",
            slug,
            &products::input_for(&p),
        )
        .await
        .unwrap_or_else(|e| panic!("{slug} re-saves: {e:?}"));
    }
    let azure = products::get(app.conn(), "azure", "gitlab-ee")
        .await
        .expect("azure");
    assert_eq!(
        azure.base_image_owner, "Canonical",
        "other clouds name a publisher"
    );
    products::update(
        app.conn(),
        &user,
        app.clock.now(),
        &app.state.base_image_owners,
        "azure",
        "gitlab-ee",
        &products::input_for(&azure),
    )
    .await
    .expect("azure re-saves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_image_owners_are_a_setting() {
    let app = TestApp::spawn_configured(
        Backend::Sqlite,
        &[("--base-image-owners", "111122223333,444455556666")],
    )
    .await
    .expect("app");
    let user = admin(&app).await;
    let ce = products::get(app.conn(), "aws", "gitlab-ce")
        .await
        .expect("seeded on Canonical's images");
    let mut input = products::input_for(&ce);
    let err = products::update(
        app.conn(),
        &user,
        app.clock.now(),
        &app.state.base_image_owners,
        "aws",
        "gitlab-ce",
        &input,
    )
    .await
    .expect_err("Canonical is not on this portal's list");
    assert!(
        err.field("base_image_owner")
            .is_some_and(|m| m.contains("111122223333, 444455556666")),
        "{err:?}"
    );
    input.base_image_owner = "444455556666".into();
    let saved = products::update(
        app.conn(),
        &user,
        app.clock.now(),
        &app.state.base_image_owners,
        "aws",
        "gitlab-ce",
        &input,
    )
    .await
    .expect("an allowed account");
    assert_eq!(saved.base_image_owner, "444455556666");
}
