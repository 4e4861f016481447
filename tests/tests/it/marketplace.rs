//! The simulated Marketplace Catalog through the real aws-sdk-marketplacecatalog client:
//! change sets through their states, idempotency, locks, the rules AWS enforces, faults.

use aws_sdk_marketplacecatalog::{
    Client,
    types::{Change, ChangeSetSummaryListItem, ChangeStatus, Entity, Filter, Intent},
};
use chrono::Duration;
use portal_tests::{Backend, TestApp};
use server::sim::{MarketplaceFault, SeedVersion};

const CATALOG: &str = "AWSMarketplace";

fn add_version(entity: &str, title: &str, ami: &str) -> Change {
    Change::builder()
        .change_type("AddDeliveryOptions")
        .entity(Entity::builder().r#type("AmiProduct@1.0").identifier(entity).build().expect("entity"))
        .details_document(server::cloud::document(serde_json::json!({
            "Version": { "VersionTitle": title, "ReleaseNotes": "Notes" },
            "DeliveryOptions": [{ "Details": { "AmiDeliveryOptionDetails": {
                "AmiSource": { "AmiId": ami, "AccessRoleArn": "arn:aws:iam::123456789012:role/marketplace", "UserName": "ubuntu", "OperatingSystemName": "UBUNTU", "OperatingSystemVersion": "24.04" },
                "UsageInstructions": "https://docs.gitlab.com", "RecommendedInstanceType": "c5.2xlarge",
                "SecurityGroups": [{ "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": ["0.0.0.0/0"] }]
            }}}]
        })))
        .build()
        .expect("change")
}

fn change(entity: &str, change_type: &str, details: serde_json::Value) -> Change {
    Change::builder()
        .change_type(change_type)
        .entity(
            Entity::builder()
                .r#type("AmiProduct@1.0")
                .identifier(entity)
                .build()
                .expect("entity"),
        )
        .details_document(server::cloud::document(details))
        .build()
        .expect("change")
}

fn restrict(entity: &str, ids: &[&str]) -> Change {
    change(
        entity,
        "RestrictDeliveryOptions",
        serde_json::json!({ "DeliveryOptionIds": ids }),
    )
}

/// Starts a change set of one change, named as the portal names a patch version's.
async fn start(
    client: &Client,
    change: Change,
    intent: Intent,
    token: Option<&str>,
) -> Result<String, String> {
    start_set(
        client,
        vec![change],
        intent,
        token,
        Some("Patch version update"),
    )
    .await
}

async fn start_set(
    client: &Client,
    changes: Vec<Change>,
    intent: Intent,
    token: Option<&str>,
    name: Option<&str>,
) -> Result<String, String> {
    client
        .start_change_set()
        .catalog(CATALOG)
        .set_change_set(Some(changes))
        .intent(intent)
        .set_change_set_name(name.map(str::to_owned))
        .set_client_request_token(token.map(str::to_owned))
        .send()
        .await
        .map(|o| o.change_set_id.unwrap_or_default())
        .map_err(|e| {
            format!(
                "{}",
                aws_sdk_marketplacecatalog::error::DisplayErrorContext(e)
            )
        })
}

async fn status(client: &Client, id: &str) -> (ChangeStatus, Vec<String>) {
    let d = client
        .describe_change_set()
        .catalog(CATALOG)
        .change_set_id(id)
        .send()
        .await
        .expect("describe");
    let errors = d
        .change_set()
        .iter()
        .flat_map(|c| c.error_detail_list())
        .map(|e| {
            format!(
                "{}: {}",
                e.error_code().unwrap_or_default(),
                e.error_message().unwrap_or_default()
            )
        })
        .collect();
    (d.status.expect("status"), errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_catalog_speaks_the_sdks_wire_protocol_and_enforces_awss_rules() {
    use app::services::Clock as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let mp = app.sim.marketplace();
    let now = app.clock.now();
    let entity = mp.seed_product(
        "GitLab Test",
        &[SeedVersion {
            title: "GitLab Test 17.5.1 Release".into(),
            release_notes: "GitLab 17.5.1".into(),
            delivery_option_id: "do-old".into(),
            public: true,
            ami: "ami-old".into(),
            created: now - Duration::days(30),
        }],
    );
    let client = app.cloud.marketplace();
    // A public Canonical image in us-east-1 is one the marketplace can read.
    let ami = app.canonical_image().await.expect("a Canonical image");

    // The entity is found by listing AmiProducts, page by page.
    let mut token = None;
    let mut names = Vec::new();
    loop {
        let page = client
            .list_entities()
            .catalog(CATALOG)
            .entity_type("AmiProduct")
            .max_results(1)
            .set_next_token(token)
            .send()
            .await
            .expect("list");
        names.extend(
            page.entity_summary_list()
                .iter()
                .filter_map(|e| e.name().map(str::to_owned)),
        );
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert!(
        names.len() > 1 && names.contains(&"GitLab Test".to_owned()),
        "{names:?}"
    );

    // VALIDATE checks without applying.
    let v = start(
        &client,
        add_version(&entity, "GitLab Test 17.6.0 Release", &ami),
        Intent::Validate,
        None,
    )
    .await
    .expect("validate");
    assert_eq!(status(&client, &v).await.0, ChangeStatus::Preparing);
    app.clock.set(now + Duration::seconds(6));
    assert_eq!(status(&client, &v).await, (ChangeStatus::Succeeded, vec![]));
    assert_eq!(
        mp.versions("GitLab Test").len(),
        1,
        "validation changed nothing"
    );

    // APPLY with a token: the same token is the same change set; the entity is locked.
    let a = start(
        &client,
        add_version(&entity, "GitLab Test 17.6.0 Release", &ami),
        Intent::Apply,
        Some("job-1-apply"),
    )
    .await
    .expect("apply");
    let again = start(
        &client,
        add_version(&entity, "GitLab Test 17.6.0 Release", &ami),
        Intent::Apply,
        Some("job-1-apply"),
    )
    .await
    .expect("same token");
    assert_eq!(a, again);
    let locked = start(
        &client,
        add_version(&entity, "GitLab Test 17.6.1 Release", &ami),
        Intent::Apply,
        None,
    )
    .await
    .expect_err("locked");
    assert!(
        locked.contains("ResourceInUseException") && locked.contains(&a),
        "{locked}"
    );
    let open = client
        .list_change_sets()
        .catalog(CATALOG)
        .filter_list(
            Filter::builder()
                .name("EntityId")
                .value_list(&entity)
                .build(),
        )
        .filter_list(
            Filter::builder()
                .name("Status")
                .value_list("PREPARING")
                .value_list("APPLYING")
                .build(),
        )
        .send()
        .await
        .expect("list");
    assert_eq!(
        open.change_set_summary_list()
            .iter()
            .filter_map(ChangeSetSummaryListItem::change_set_id)
            .collect::<Vec<_>>(),
        [a.as_str()]
    );
    app.clock.set(now + Duration::seconds(12));
    assert_eq!(status(&client, &a).await.0, ChangeStatus::Applying);
    // Too late to cancel once applying.
    let err = client
        .cancel_change_set()
        .catalog(CATALOG)
        .change_set_id(&a)
        .send()
        .await
        .expect_err("applying");
    assert!(
        format!(
            "{}",
            aws_sdk_marketplacecatalog::error::DisplayErrorContext(err)
        )
        .contains("ResourceInUseException")
    );
    app.clock.set(now + Duration::seconds(40));
    assert_eq!(status(&client, &a).await, (ChangeStatus::Succeeded, vec![]));
    let entity_doc = client
        .describe_entity()
        .catalog(CATALOG)
        .entity_id(&entity)
        .send()
        .await
        .expect("entity");
    let details: serde_json::Value =
        serde_json::from_str(entity_doc.details().expect("details")).expect("json");
    assert_eq!(
        details["Versions"][1]["VersionTitle"],
        "GitLab Test 17.6.0 Release"
    );
    assert_eq!(
        details["Versions"][1]["DeliveryOptions"][0]["Visibility"],
        "Public"
    );
    // The version keeps its image, its architecture and what its delivery option says.
    let added = &details["Versions"][1];
    assert_eq!(added["Sources"][0]["Image"], ami.as_str());
    assert_eq!(added["Sources"][0]["Architecture"], "x86_64");
    assert_eq!(
        added["Sources"][0]["OperatingSystem"],
        serde_json::json!({ "Name": "UBUNTU", "Version": "24.04", "Username": "ubuntu", "ScanningPort": 22 })
    );
    assert_eq!(
        added["DeliveryOptions"][0]["SourceId"],
        added["Sources"][0]["Id"]
    );
    assert_eq!(
        added["DeliveryOptions"][0]["Instructions"]["Usage"],
        "https://docs.gitlab.com"
    );
    assert_eq!(
        added["DeliveryOptions"][0]["Recommendations"],
        serde_json::json!({
            "InstanceType": "c5.2xlarge",
            "SecurityGroups": [{ "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": ["0.0.0.0/0"] }]
        })
    );
    assert_eq!(added["ReleaseNotes"], "Notes");

    // What AWS refuses comes back per change, in ErrorDetailList.
    let run = |change: Change| {
        let client = client.clone();
        async move {
            start(&client, change, Intent::Apply, None)
                .await
                .expect("started")
        }
    };
    let settle = |at: i64| app.clock.set(now + Duration::seconds(at));
    let dup = run(add_version(&entity, "GitLab Test 17.6.0 Release", &ami)).await;
    settle(50);
    let (s, errors) = status(&client, &dup).await;
    assert_eq!(s, ChangeStatus::Failed);
    assert!(
        errors[0].starts_with("DUPLICATE_VERSION_TITLE"),
        "{errors:?}"
    );
    let missing = run(add_version(
        &entity,
        "GitLab Test 17.6.1 Release",
        "ami-0000000000000dead",
    ))
    .await;
    settle(60);
    assert!(
        status(&client, &missing)
            .await
            .1
            .iter()
            .any(|e| e.starts_with("INVALID_AMI_ID"))
    );
    mp.configure(|c| c.version_limit = 2);
    let full = run(add_version(&entity, "GitLab Test 17.6.1 Release", &ami)).await;
    settle(70);
    assert!(
        status(&client, &full)
            .await
            .1
            .iter()
            .any(|e| e.starts_with("VERSION_LIMIT_EXCEEDED"))
    );
    let new_option = details["Versions"][1]["DeliveryOptions"][0]["Id"]
        .as_str()
        .expect("id")
        .to_owned();
    let all = run(restrict(&entity, &["do-old", &new_option])).await;
    settle(80);
    assert!(
        status(&client, &all)
            .await
            .1
            .iter()
            .any(|e| e.starts_with("LAST_PUBLIC_VERSION"))
    );
    let oldest = run(restrict(&entity, &["do-old"])).await;
    settle(110);
    assert_eq!(
        status(&client, &oldest).await,
        (ChangeStatus::Succeeded, vec![])
    );
    assert_eq!(mp.versions("GitLab Test")[0].1, "Restricted");

    // A change set still preparing can be cancelled.
    let c = run(add_version(&entity, "GitLab Test 17.6.2 Release", &ami)).await;
    client
        .cancel_change_set()
        .catalog(CATALOG)
        .change_set_id(&c)
        .send()
        .await
        .expect("cancel");
    assert_eq!(status(&client, &c).await.0, ChangeStatus::Cancelled);

    // Throttling and 5xx are retried by the SDK.
    mp.inject([MarketplaceFault::Throttle, MarketplaceFault::Internal]);
    client
        .describe_entity()
        .catalog(CATALOG)
        .entity_id(&entity)
        .send()
        .await
        .expect("retried through faults");

    // Change sets page.
    let first = client
        .list_change_sets()
        .catalog(CATALOG)
        .max_results(3)
        .send()
        .await
        .expect("page 1");
    assert_eq!(first.change_set_summary_list().len(), 3);
    let token = first.next_token().expect("more").to_owned();
    let second = client
        .list_change_sets()
        .catalog(CATALOG)
        .max_results(3)
        .next_token(token)
        .send()
        .await
        .expect("page 2");
    assert!(!second.change_set_summary_list().is_empty());
}

mod publishing {
    use app::{
        domain::*,
        dto::*,
        error::ErrorCode,
        services::{Clock as _, jobs, listings, publish},
    };
    use chrono::Duration;
    use portal_tests::{Backend, TestApp};

    /// A portal whose newest release 17.7.0 has its Premium image built; the Premium listing.
    async fn ready() -> (TestApp, Listing) {
        let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
        app.new_release("17.7.0").await.expect("release");
        app.start_build("gitlab-ee-premium", Arch::Amd64)
            .await
            .expect("build");
        app.drive(&app.runner("builder"), 200).await.expect("built");
        let listing = app
            .listing("GitLab Premium")
            .await
            .expect("Premium listing");
        (app, listing)
    }

    async fn versions(app: &TestApp, listing: i32) -> Vec<String> {
        listings::get(app.conn(), listing)
            .await
            .expect("listing")
            .versions
            .into_iter()
            .map(|v| v.title)
            .collect()
    }

    const TITLE: &str = "GitLab Premium 17.7.0 Release";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_release_is_validated_applied_followed_and_recorded_with_its_approved_usage_and_notes()
     {
        let (app, listing) = ready().await;
        let oskar = app.user("oskar").await;
        let now = app.clock.now();
        // Approved copy: the version takes its usage instructions and release notes.
        app.approve_copy_of(
            listing.id,
            CopyInput {
                title: "GitLab Premium, self-managed".into(),
                short_description: "GitLab Premium on AWS.".into(),
                long_description: "# Premium".into(),
                highlights: vec!["One".into()],
                ..TestApp::copy_input("GitLab Premium")
            },
        )
        .await
        .expect("approved copy");

        // Only the newest stable release publishes by default.
        let err = publish::start(app.conn(), &oskar, now, listing.id, "17.6.0")
            .await
            .expect_err("backport");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(
            err.message
                .contains("only the newest stable release (17.7.0)"),
            "{}",
            err.message
        );

        let job = publish::start(app.conn(), &oskar, now, listing.id, "latest")
            .await
            .expect("started");
        let err = publish::start(app.conn(), &oskar, now, listing.id, "17.7.0")
            .await
            .expect_err("one at a time");
        assert!(
            err.message.contains("already publishing"),
            "{}",
            err.message
        );
        // A newer release recorded while it runs does not stop a publish that started.
        app.new_release("17.7.1").await.expect("newer release");
        app.drive(&app.runner("w1"), 100).await.expect("published");
        let done = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
        assert!(versions(&app, listing.id).await.contains(&TITLE.to_owned()));
        let recorded = listings::get(app.conn(), listing.id)
            .await
            .expect("listing");
        let v = recorded
            .versions
            .iter()
            .find(|v| v.title == TITLE)
            .expect("version");
        assert_eq!(v.release.as_deref(), Some("17.7.0"));
        assert!(
            v.delivery_option_id
                .as_deref()
                .is_some_and(|d| d.starts_with("do-"))
        );
        assert!(
            recorded.entity_id.is_some(),
            "the entity was found by name and remembered"
        );
        let sim = app.sim.marketplace().versions("GitLab Premium");
        assert_eq!(sim.iter().filter(|(t, _)| t == TITLE).count(), 1);
        // The version carries the approved copy's usage instructions and rendered release
        // notes; the copy itself is not sent with a version (that is the copy publish's).
        let entity = app
            .cloud
            .marketplace()
            .describe_entity()
            .catalog("AWSMarketplace")
            .entity_id(recorded.entity_id.clone().expect("id"))
            .send()
            .await
            .expect("entity");
        let details: serde_json::Value =
            serde_json::from_str(entity.details().expect("details")).expect("json");
        let published = details["Versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["VersionTitle"] == TITLE))
            .expect("the version");
        assert_eq!(
            published["DeliveryOptions"][0]["Instructions"]["Usage"],
            "Browse to the instance; see https://docs.gitlab.com/install/aws/"
        );
        assert_eq!(
            published["ReleaseNotes"],
            "GitLab 17.7.0: https://gitlab.com/gitlab-org/gitlab/-/releases/v17.7.0-ee"
        );
        assert_ne!(
            details["Description"]["ProductTitle"], "GitLab Premium, self-managed",
            "a version publish sends no UpdateInformation"
        );
        let err = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
            .await
            .expect_err("twice");
        assert!(err.message.contains("already published"), "{}", err.message);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_aws_refuses_fails_the_job_with_every_error_in_words() {
        let (app, listing) = ready().await;
        let oskar = app.user("oskar").await;
        // Validation refuses: the listing is at its limit.
        app.sim.marketplace().configure(|c| c.version_limit = 4);
        let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
            .await
            .expect("started");
        app.drive(&app.runner("w1"), 100).await.expect("ended");
        let failed = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(failed.state, JobState::Failed);
        let error = failed.last_error.expect("error");
        assert!(
            error.contains("VERSION_LIMIT_EXCEEDED") && error.contains("restrict old versions"),
            "{error}"
        );
        assert!(
            error.contains("validation"),
            "it stopped at validation: {error}"
        );
        assert!(!versions(&app, listing.id).await.contains(&TITLE.to_owned()));

        // Validation passes, then the apply fails (the limit dropped meanwhile).
        app.sim.marketplace().configure(|c| c.version_limit = 100);
        let retried = jobs::retry(app.conn(), &oskar, app.clock.now(), job.id)
            .await
            .expect("retry");
        let runner = app.runner("w2");
        runner.run_until_idle().await.expect("run");
        app.clock.set(app.clock.now() + Duration::seconds(61));
        runner.run_until_idle().await.expect("run");
        app.sim.marketplace().configure(|c| c.version_limit = 4);
        app.drive(&runner, 100).await.expect("ended");
        let failed = jobs::get(app.conn(), retried.id).await.expect("job");
        assert_eq!(failed.state, JobState::Failed);
        let error = failed.last_error.expect("error");
        let log: Vec<String> = jobs::events(app.conn(), job.id, 0)
            .await
            .expect("log")
            .into_iter()
            .map(|e| format!("{} {}", e.at, e.message))
            .collect();
        assert!(
            error.contains("refused the change set") && error.contains("VERSION_LIMIT_EXCEEDED"),
            "{error}\n{}",
            log.join("\n")
        );
        let log = jobs::events(app.conn(), job.id, 0).await.expect("log");
        assert!(log.iter().any(|e| {
            e.message
                .contains("AddDeliveryOptions VERSION_LIMIT_EXCEEDED")
        }));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_between_apply_and_record_makes_no_second_version() {
        let (app, listing) = ready().await;
        let oskar = app.user("oskar").await;
        let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
            .await
            .expect("started");
        // Up to the validation's wait.
        app.runner("w1").run_until_idle().await.expect("run");
        app.clock.set(app.clock.now() + Duration::seconds(61));
        // Validated, the apply submitted, and the worker dies before saving that it did.
        app.runner("doomed")
            .crash_at_save(1)
            .run_one()
            .await
            .expect("run");
        assert_eq!(
            jobs::get(app.conn(), job.id).await.expect("job").state,
            JobState::Running
        );
        app.drive(&app.runner("rescuer"), 100)
            .await
            .expect("finished");
        let done = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
        let sim = app.sim.marketplace().versions("GitLab Premium");
        assert_eq!(sim.iter().filter(|(t, _)| t == TITLE).count(), 1, "{sim:?}");
        assert_eq!(
            versions(&app, listing.id)
                .await
                .iter()
                .filter(|t| *t == TITLE)
                .count(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_set_someone_else_left_open_blocks_until_cancelled_and_retried() {
        let (app, listing) = ready().await;
        let (oskar, maya) = (app.user("oskar").await, app.user("maya").await);
        let entity = app.sim.marketplace().seed_product("GitLab Premium", &[]);
        let foreign = app
            .sim
            .marketplace()
            .start_foreign_change_set(&entity, "Manual listing edit");
        let job = publish::start(app.conn(), &oskar, app.clock.now(), listing.id, "17.7.0")
            .await
            .expect("started");
        app.drive(&app.runner("w1"), 100).await.expect("stopped");
        let blocked = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(blocked.state, JobState::Blocked);
        let error = blocked.last_error.clone().expect("why");
        assert!(
            error.contains(&foreign)
                && error.contains("Manual listing edit")
                && error.contains("PREPARING"),
            "{error}"
        );
        // Only omnibus and admin clear it: the service refuses anyone else before it looks
        // at the job, and anything but a blocked publish.
        let err = publish::cancel_blocker_and_retry(app.conn(), &maya, app.clock.now(), job.id)
            .await
            .expect_err("maya runs no jobs");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let err = publish::cancel_blocker_and_retry(app.conn(), &oskar, app.clock.now(), 999_999)
            .await
            .expect_err("no such job");
        assert_eq!(err.code, ErrorCode::NotFound);
        publish::cancel_blocker_and_retry(app.conn(), &oskar, app.clock.now(), job.id)
            .await
            .expect("cancel and retry");
        app.drive(&app.runner("w2"), 100).await.expect("published");
        let done = jobs::get(app.conn(), job.id).await.expect("job");
        assert_eq!(done.state, JobState::Succeeded, "{:?}", done.last_error);
        let status = app
            .cloud
            .marketplace()
            .describe_change_set()
            .catalog("AWSMarketplace")
            .change_set_id(&foreign)
            .send()
            .await
            .expect("describe");
        assert_eq!(status.status().map(|s| s.as_str()), Some("CANCELLED"));
        let audit = app::services::audit::list(
            app.conn(),
            &app.auditor(),
            &AuditFilter {
                action: Some("cancel_change_set".into()),
                ..Default::default()
            },
        )
        .await
        .expect("audit");
        assert_eq!(audit.total, 1);
        let err = publish::cancel_blocker_and_retry(app.conn(), &oskar, app.clock.now(), job.id)
            .await
            .expect_err("not blocked any more");
        assert_eq!(err.code, ErrorCode::Conflict);
    }
}

mod version_limit {
    use app::{
        domain::*,
        error::ErrorCode,
        services::{Clock as _, entities::listing, jobs, limits, publish},
    };
    use chrono::Duration;
    use portal_tests::{Backend, TestApp};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_limit_the_oldest_versions_are_restricted_after_partnerships_approves() {
        let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
        app.new_release("17.7.0").await.expect("release");
        app.start_build("gitlab-ee-premium", Arch::Amd64)
            .await
            .expect("build");
        app.drive(&app.runner("builder"), 200).await.expect("built");
        let premium = app.listing("GitLab Premium").await.expect("Premium");
        // A listing at its limit: 4 public versions of 4, proposals from 4.
        let model = listing::Entity::find_by_id(premium.id)
            .one(app.conn())
            .await
            .expect("find")
            .expect("listing");
        let mut active: listing::ActiveModel = model.into();
        active.version_limit = Set(4);
        active.restrict_threshold = Set(4);
        active.update(app.conn()).await.expect("update");
        app.sim.marketplace().configure(|c| c.version_limit = 4);
        let (oskar, priya, maya) = (
            app.user("oskar").await,
            app.user("priya").await,
            app.user("maya").await,
        );

        // Everything was published just now: nothing is old enough to restrict.
        let err = limits::propose(app.conn(), &oskar, app.clock.now(), premium.id)
            .await
            .expect_err("all recent");
        assert!(
            err.message.contains("younger than 30 days"),
            "{}",
            err.message
        );

        app.clock.set(app.clock.now() + Duration::days(60));
        let p = limits::propose(app.conn(), &oskar, app.clock.now(), premium.id)
            .await
            .expect("proposed");
        let titles: Vec<&str> = p.versions.iter().map(|v| v.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "GitLab Premium 17.4.2 Release",
                "GitLab Premium 17.5.0 Release",
                "GitLab Premium 17.5.1 Release"
            ],
            "the oldest public ones, keeping the newest public"
        );
        let err = limits::propose(app.conn(), &oskar, app.clock.now(), premium.id)
            .await
            .expect_err("one open proposal");
        assert_eq!(err.code, ErrorCode::Conflict);

        let queue = app::services::process::approvals(app.conn(), app.clock.now(), &priya)
            .await
            .expect("queue");
        assert_eq!(
            queue.restrictions.iter().map(|r| r.id).collect::<Vec<_>>(),
            [p.id]
        );
        // Only Partnerships decides; a rejection needs a reason.
        for who in [&oskar, &maya] {
            let err = limits::decide(app.conn(), who, app.clock.now(), p.id, true, "")
                .await
                .expect_err("not Partnerships");
            assert_eq!(err.code, ErrorCode::Forbidden);
        }
        let err = limits::decide(app.conn(), &priya, app.clock.now(), p.id, false, " ")
            .await
            .expect_err("no reason");
        assert!(err.field("comment").is_some());
        assert_eq!(
            app.sim
                .marketplace()
                .versions("GitLab Premium")
                .iter()
                .filter(|(_, v)| v == "Public")
                .count(),
            4,
            "nothing restricted before the approval"
        );

        // While the listing is full, a publish is refused by AWS Marketplace.
        let refused = publish::start(app.conn(), &oskar, app.clock.now(), premium.id, "17.7.0")
            .await
            .expect("started");
        app.drive(&app.runner("w1"), 100).await.expect("ended");
        assert_eq!(
            jobs::get(app.conn(), refused.id).await.expect("job").state,
            JobState::Failed
        );

        let approved = limits::decide(
            app.conn(),
            &priya,
            app.clock.now(),
            p.id,
            true,
            "Old enough",
        )
        .await
        .expect("approved");
        assert_eq!(approved.state, ProposalState::Approved);
        app.drive(&app.runner("w2"), 100).await.expect("restricted");
        let done = limits::proposals_of(app.conn(), premium.id)
            .await
            .expect("proposals");
        assert_eq!(done[0].state, ProposalState::Applied);
        assert!(
            done[0]
                .versions
                .iter()
                .all(|v| v.visibility == ListingVersionVisibility::Restricted)
        );
        let sim = app.sim.marketplace().versions("GitLab Premium");
        assert_eq!(
            sim.iter().filter(|(_, v)| v == "Public").count(),
            1,
            "{sim:?}"
        );

        // The last public version is never proposed.
        let model = listing::Entity::find_by_id(premium.id)
            .one(app.conn())
            .await
            .expect("find")
            .expect("listing");
        let mut active: listing::ActiveModel = model.into();
        active.restrict_threshold = Set(1);
        active.update(app.conn()).await.expect("update");
        let err = limits::propose(app.conn(), &oskar, app.clock.now(), premium.id)
            .await
            .expect_err("only the last public one is left");
        assert!(err.message.contains("the last one"), "{}", err.message);

        // Now the release publishes.
        jobs::retry(app.conn(), &oskar, app.clock.now(), refused.id)
            .await
            .expect("retry");
        app.drive(&app.runner("w3"), 100).await.expect("published");
        let job = jobs::get(app.conn(), refused.id).await.expect("job");
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.last_error);
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whoever_proposed_restricting_versions_cannot_approve_it_but_may_withdraw_it() {
        use app::{
            dto::AuditFilter,
            services::{audit, entities::job},
        };
        use reqwest::StatusCode;
        use sea_orm::PaginatorTrait;
        use serde_json::{Value, json};

        let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
        let premium = app.listing("GitLab Premium").await.expect("Premium");
        let model = listing::Entity::find_by_id(premium.id)
            .one(app.conn())
            .await
            .expect("find")
            .expect("listing");
        let mut active: listing::ActiveModel = model.into();
        active.version_limit = Set(4);
        active.restrict_threshold = Set(4);
        active.update(app.conn()).await.expect("update");
        app.clock.set(app.clock.now() + Duration::days(60));
        let public = || {
            app.sim
                .marketplace()
                .versions("GitLab Premium")
                .iter()
                .filter(|(_, v)| v == "Public")
                .count()
        };
        assert_eq!(public(), 4);

        // Partnerships proposes, then tries to approve her own proposal.
        let priya = app.signed_in("priya").await.expect("priya");
        let res = priya
            .post(app.url(&format!("/api/v1/listings/{}/restrictions", premium.id)))
            .send()
            .await
            .expect("propose");
        assert_eq!(res.status(), StatusCode::CREATED);
        let proposal: Value = res.json().await.expect("json");
        let id = proposal["id"].as_i64().expect("id");
        assert_eq!(proposal["proposed_by"], "priya");
        let jobs_before = job::Entity::find().count(app.conn()).await.expect("jobs");
        let res = priya
            .post(app.url(&format!("/api/v1/restrictions/{id}/approve")))
            .json(&json!({"comment": "mine"}))
            .send()
            .await
            .expect("approve");
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let body: Value = res.json().await.expect("json");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("you proposed restriction proposal")
                    && m.contains("another member of Partnerships")),
            "{body}"
        );
        // Nothing happened, and the refused attempt is in the audit log.
        let open = limits::proposals_of(app.conn(), premium.id)
            .await
            .expect("proposals");
        assert_eq!(open[0].state, ProposalState::Proposed);
        assert_eq!(open[0].job_id, None);
        assert_eq!(
            job::Entity::find().count(app.conn()).await.expect("jobs"),
            jobs_before,
            "no job queued"
        );
        app.drive(&app.runner("w"), 20).await.expect("idle");
        assert_eq!(public(), 4, "nothing restricted");
        // Her listing page says so, and offers her a withdrawal, not an approval.
        let page = priya
            .get(app.url(&format!("/listings/{}", premium.id)))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(page.contains("data-testid=\"own-proposal\""), "{page}");
        assert!(!page.contains("approve-restrictions"), "{page}");
        assert!(page.contains("Withdraw"), "{page}");
        let refused = audit::list(
            app.conn(),
            &app.auditor(),
            &AuditFilter {
                action: Some("approve_restrictions_refused".into()),
                ..Default::default()
            },
        )
        .await
        .expect("audit");
        assert_eq!(refused.total, 1);
        assert_eq!(refused.items[0].actor, "priya");
        assert_eq!(refused.items[0].object_type, "listing");
        assert_eq!(refused.items[0].object_id, premium.id.to_string());
        assert!(
            refused.items[0].summary.contains("you proposed"),
            "{}",
            refused.items[0].summary
        );

        // She may withdraw it: a rejection restricts nothing.
        let res = priya
            .post(app.url(&format!("/api/v1/restrictions/{id}/reject")))
            .json(&json!({"comment": "proposed too early"}))
            .send()
            .await
            .expect("reject");
        assert_eq!(res.status(), StatusCode::OK);
        let decided: Value = res.json().await.expect("json");
        assert_eq!(decided["state"], "rejected");
        assert_eq!(public(), 4);
    }
}

mod rules {
    //! AWS's field limits, enforced by the simulated catalog as AWS does: per change, in its
    //! `ErrorDetailList`, or at StartChangeSet for the shape of the change set itself.

    use aws_sdk_marketplacecatalog::{
        Client,
        types::{Change, ChangeStatus, Intent},
    };
    use chrono::Duration;
    use portal_tests::{Backend, TestApp};
    use serde_json::{Value, json};

    use super::{CATALOG, change};

    /// A change set of these changes, unnamed.
    async fn start(
        client: &Client,
        changes: Vec<Change>,
        intent: Intent,
        token: Option<&str>,
    ) -> Result<String, String> {
        super::start_set(client, changes, intent, token, None).await
    }

    /// The change set's status and, per change, its type and error codes.
    async fn outcome(client: &Client, id: &str) -> (ChangeStatus, Vec<(String, Vec<String>)>) {
        let d = client
            .describe_change_set()
            .catalog(CATALOG)
            .change_set_id(id)
            .send()
            .await
            .expect("describe");
        let changes = d
            .change_set()
            .iter()
            .map(|c| {
                (
                    c.change_type().unwrap_or_default().to_owned(),
                    c.error_detail_list()
                        .iter()
                        .filter_map(|e| e.error_code().map(str::to_owned))
                        .collect(),
                )
            })
            .collect();
        (d.status.expect("status"), changes)
    }

    fn text(n: usize) -> String {
        "x".repeat(n)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_field_past_awss_limits_is_refused_in_its_changes_error_list() {
        use app::services::Clock as _;
        let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
        let entity = app.sim.marketplace().seed_product("GitLab Limits", &[]);
        let client = app.cloud.marketplace();
        let ami = app.canonical_image().await.expect("a Canonical image");
        let start_at = app.clock.now();

        let over = change(
            &entity,
            "UpdateInformation",
            json!({
                "ProductTitle": text(73),
                "ShortDescription": text(1001),
                "LongDescription": text(5001),
                "Sku": text(101),
                "LogoUrl": "ftp://assets.example/logo.png",
                "VideoUrls": ["https://video.example/1", "https://video.example/2"],
                "Highlights": ["1", "2", "3", "4"],
                "AdditionalResources": [
                    { "Text": "a", "Url": "https://a.example" },
                    { "Text": "b", "Url": "https://b.example" },
                    { "Text": "c", "Url": "https://c.example" },
                    { "Text": "d", "Url": "https://d.example" }
                ],
                "SupportDescription": text(2001),
                "Categories": [],
                "SearchKeywords": (0..16).map(|i| format!("k{i}")).collect::<Vec<_>>(),
                "Title": "not a field of UpdateInformation"
            }),
        );
        let rule = |protocol: &str| json!({ "IpProtocol": protocol, "FromPort": 443, "ToPort": 443, "IpRanges": ["0.0.0.0/0"] });
        let option = |ami: &str, groups: Value| {
            json!({ "Details": { "AmiDeliveryOptionDetails": {
                "AmiSource": {
                    "AmiId": ami,
                    "AccessRoleArn": "arn:aws:iam::123:role/short-account",
                    "UserName": "1ubuntu",
                    "OperatingSystemName": "",
                    "OperatingSystemVersion": "24.04"
                },
                "UsageInstructions": text(4001),
                "RecommendedInstanceType": "huge",
                "SecurityGroups": groups
            }}})
        };
        let bad_version = change(
            &entity,
            "AddDeliveryOptions",
            json!({
                "Version": { "VersionTitle": text(65), "ReleaseNotes": "" },
                "DeliveryOptions": [
                    option(&ami, json!([])),
                    option("ami-0000000000000dead", json!([rule("sctp")]))
                ]
            }),
        );
        let id = start(&client, vec![over, bad_version], Intent::Validate, None)
            .await
            .expect("started");
        app.clock.set(start_at + Duration::seconds(6));
        let (status, changes) = outcome(&client, &id).await;
        assert_eq!(status, ChangeStatus::Failed);
        let codes_of = |change_type: &str| -> Vec<String> {
            changes
                .iter()
                .find(|(t, _)| t == change_type)
                .map(|(_, codes)| codes.clone())
                .unwrap_or_default()
        };
        let info = codes_of("UpdateInformation");
        for code in [
            "INVALID_PRODUCT_TITLE",
            "INVALID_SHORT_DESCRIPTION",
            "INVALID_LONG_DESCRIPTION",
            "INVALID_SKU",
            "INVALID_LOGO_URL",
            "INVALID_VIDEO_URLS",
            "INVALID_HIGHLIGHTS",
            "INVALID_ADDITIONAL_RESOURCES",
            "INVALID_SUPPORT_DESCRIPTION",
            "INVALID_CATEGORIES",
            "INVALID_SEARCH_KEYWORDS",
            "INVALID_DETAILS_DOCUMENT",
        ] {
            assert!(info.iter().any(|c| c == code), "{code} missing in {info:?}");
        }
        let delivery = codes_of("AddDeliveryOptions");
        for code in [
            "INVALID_VERSION_TITLE",
            "INVALID_RELEASE_NOTES",
            "INCONSISTENT_AMI_SOURCE",
            "INVALID_AMI_ID",
            "INVALID_ACCESS_ROLE_ARN",
            "INVALID_USER_NAME",
            "INVALID_OPERATING_SYSTEM",
            "INVALID_USAGE_INSTRUCTIONS",
            "INVALID_INSTANCE_TYPE",
            "INVALID_SECURITY_GROUPS",
        ] {
            assert!(
                delivery.iter().any(|c| c == code),
                "{code} missing in {delivery:?}"
            );
        }
        assert!(
            !delivery.iter().any(|c| c.starts_with("INVALID_PRODUCT")),
            "each change has its own errors: {delivery:?}"
        );

        // A keyword over 50 characters and a highlight over 500, alone.
        let id = start(
            &client,
            vec![change(
                &entity,
                "UpdateInformation",
                json!({ "SearchKeywords": ["gitlab", text(51)], "Highlights": [text(501)] }),
            )],
            Intent::Validate,
            None,
        )
        .await
        .expect("started");
        app.clock.set(start_at + Duration::seconds(12));
        let (_, changes) = outcome(&client, &id).await;
        assert_eq!(
            changes[0].1,
            ["INVALID_HIGHLIGHTS", "INVALID_SEARCH_KEYWORDS"],
            "{changes:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_set_is_refused_at_once_for_one_change_type_twice_or_a_long_token() {
        let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
        let entity = app.sim.marketplace().seed_product("GitLab Twice", &[]);
        let client = app.cloud.marketplace();
        let title = |t: &str| change(&entity, "UpdateInformation", json!({ "ProductTitle": t }));
        let err = start(
            &client,
            vec![title("One"), title("Two")],
            Intent::Apply,
            None,
        )
        .await
        .expect_err("the same change type twice on one entity");
        assert!(
            err.contains("ValidationException") && err.contains("UpdateInformation"),
            "{err}"
        );
        let err = start(&client, vec![title("One")], Intent::Apply, Some(&text(37)))
            .await
            .expect_err("a token over 36 characters");
        assert!(
            err.contains("ValidationException") && err.contains("ClientRequestToken"),
            "{err}"
        );
        // Nothing was started: the entity is not locked.
        start(&client, vec![title("One")], Intent::Apply, Some(&text(36)))
            .await
            .expect("one change of the type, a token of 36");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn information_at_the_limits_is_taken_and_a_field_left_out_stays_as_it_was() {
        use app::services::Clock as _;
        let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
        let entity = app.sim.marketplace().seed_product("GitLab Full", &[]);
        let client = app.cloud.marketplace();
        let start_at = app.clock.now();
        let full = json!({
            "ProductTitle": text(72),
            "ShortDescription": text(1000),
            "LongDescription": text(5000),
            "Sku": text(100),
            "LogoUrl": "https://assets.example/logo.png",
            "VideoUrls": ["https://video.example/1"],
            "Highlights": [text(500), "two", "three"],
            "AdditionalResources": [
                { "Text": "a", "Url": "https://a.example" },
                { "Text": "b", "Url": "http://b.example" },
                { "Text": text(100), "Url": "https://c.example" }
            ],
            "SupportDescription": text(2000),
            "Categories": ["DevOps", "Source Control", "Security"],
            "SearchKeywords": (0..15).map(|i| format!("{i:0>50}")).collect::<Vec<_>>()
        });
        let id = start(
            &client,
            vec![change(&entity, "UpdateInformation", full.clone())],
            Intent::Apply,
            None,
        )
        .await
        .expect("started");
        app.clock.set(start_at + Duration::seconds(30));
        assert_eq!(outcome(&client, &id).await.0, ChangeStatus::Succeeded);
        // Only the short description is sent: everything else stays.
        let id = start(
            &client,
            vec![change(
                &entity,
                "UpdateInformation",
                json!({ "ShortDescription": "Only this changes" }),
            )],
            Intent::Apply,
            None,
        )
        .await
        .expect("started");
        app.clock.set(start_at + Duration::seconds(60));
        assert_eq!(outcome(&client, &id).await.0, ChangeStatus::Succeeded);
        let out = client
            .describe_entity()
            .catalog(CATALOG)
            .entity_id(&entity)
            .send()
            .await
            .expect("entity");
        let d: Value = serde_json::from_str(out.details().expect("details")).expect("json");
        assert_eq!(d["Description"]["ShortDescription"], "Only this changes");
        assert_eq!(d["Description"]["ProductTitle"], full["ProductTitle"]);
        assert_eq!(d["Description"]["LongDescription"], full["LongDescription"]);
        assert_eq!(d["Description"]["Sku"], full["Sku"]);
        assert_eq!(d["Description"]["Highlights"], full["Highlights"]);
        assert_eq!(d["Description"]["Categories"], full["Categories"]);
        assert_eq!(d["Description"]["SearchKeywords"], full["SearchKeywords"]);
        assert_eq!(d["PromotionalResources"]["LogoUrl"], full["LogoUrl"]);
        assert_eq!(
            d["PromotionalResources"]["Videos"][0]["Url"],
            "https://video.example/1"
        );
        assert_eq!(
            d["PromotionalResources"]["AdditionalResources"][1],
            json!({ "Type": "Link", "Text": "b", "Url": "http://b.example" })
        );
        assert_eq!(
            d["SupportInformation"]["Description"],
            full["SupportDescription"]
        );
        // The live copy the portal reads is the same.
        let live = server::jobs::entity::live_copy_of(&d);
        assert_eq!(live.short_description, "Only this changes");
        assert_eq!(live.additional_resources.len(), 3);
    }
}
