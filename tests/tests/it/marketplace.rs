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

fn restrict(entity: &str, ids: &[&str]) -> Change {
    Change::builder()
        .change_type("RestrictDeliveryOptions")
        .entity(
            Entity::builder()
                .r#type("AmiProduct@1.0")
                .identifier(entity)
                .build()
                .expect("entity"),
        )
        .details_document(server::cloud::document(
            serde_json::json!({ "DeliveryOptionIds": ids }),
        ))
        .build()
        .expect("change")
}

async fn start(
    client: &Client,
    change: Change,
    intent: Intent,
    token: Option<&str>,
) -> Result<String, String> {
    client
        .start_change_set()
        .catalog(CATALOG)
        .change_set(change)
        .intent(intent)
        .change_set_name("Patch version update")
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
    use app::server::Clock as _;
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let mp = app.sim.marketplace();
    let now = app.clock.now();
    let entity = mp.seed_product(
        "GitLab Premium",
        &[SeedVersion {
            title: "GitLab Premium 17.5.1 Release".into(),
            delivery_option_id: "do-old".into(),
            public: true,
            ami: "ami-old".into(),
            created: now - Duration::days(30),
        }],
    );
    let client = app.cloud.marketplace();
    // A public Canonical image in us-east-1 is one the marketplace can read.
    let ami = app
        .cloud
        .ec2("us-east-1")
        .describe_images()
        .owners("099720109477")
        .send()
        .await
        .expect("images")
        .images()[0]
        .image_id()
        .expect("id")
        .to_owned();

    // The entity is found by listing AmiProducts, page by page.
    let listed = client
        .list_entities()
        .catalog(CATALOG)
        .entity_type("AmiProduct")
        .max_results(1)
        .send()
        .await
        .expect("list");
    assert_eq!(
        listed.entity_summary_list()[0].name(),
        Some("GitLab Premium")
    );

    // VALIDATE checks without applying.
    let v = start(
        &client,
        add_version(&entity, "GitLab Premium 17.6.0 Release", &ami),
        Intent::Validate,
        None,
    )
    .await
    .expect("validate");
    assert_eq!(status(&client, &v).await.0, ChangeStatus::Preparing);
    app.clock.set(now + Duration::seconds(6));
    assert_eq!(status(&client, &v).await, (ChangeStatus::Succeeded, vec![]));
    assert_eq!(
        mp.versions("GitLab Premium").len(),
        1,
        "validation changed nothing"
    );

    // APPLY with a token: the same token is the same change set; the entity is locked.
    let a = start(
        &client,
        add_version(&entity, "GitLab Premium 17.6.0 Release", &ami),
        Intent::Apply,
        Some("job-1-apply"),
    )
    .await
    .expect("apply");
    let again = start(
        &client,
        add_version(&entity, "GitLab Premium 17.6.0 Release", &ami),
        Intent::Apply,
        Some("job-1-apply"),
    )
    .await
    .expect("same token");
    assert_eq!(a, again);
    let locked = start(
        &client,
        add_version(&entity, "GitLab Premium 17.6.1 Release", &ami),
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
        "GitLab Premium 17.6.0 Release"
    );
    assert_eq!(
        details["Versions"][1]["DeliveryOptions"][0]["Visibility"],
        "Public"
    );
    assert_eq!(
        details["Versions"][1]["DeliveryOptions"][0]["AmiId"],
        ami.as_str()
    );

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
    let dup = run(add_version(&entity, "GitLab Premium 17.6.0 Release", &ami)).await;
    settle(50);
    let (s, errors) = status(&client, &dup).await;
    assert_eq!(s, ChangeStatus::Failed);
    assert!(
        errors[0].starts_with("DUPLICATE_VERSION_TITLE"),
        "{errors:?}"
    );
    let missing = run(add_version(
        &entity,
        "GitLab Premium 17.6.1 Release",
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
    let full = run(add_version(&entity, "GitLab Premium 17.6.1 Release", &ami)).await;
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
    assert_eq!(mp.versions("GitLab Premium")[0].1, "Restricted");

    // A change set still preparing can be cancelled.
    let c = run(add_version(&entity, "GitLab Premium 17.6.2 Release", &ami)).await;
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
