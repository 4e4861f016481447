//! The cloud the jobs talk to: real AWS through the normal credential chain, or an endpoint
//! speaking the same protocol (the simulated cloud, or moto in tests). The real SDK client
//! is used either way; only the endpoint and credentials differ.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};

/// Where EC2 calls go.
#[derive(Debug, Clone)]
pub enum CloudTarget {
    /// Real AWS; regions are chosen per call.
    Aws(SdkConfig),
    /// An endpoint of our own (simulated cloud, moto) with throwaway credentials.
    Endpoint(String),
}

/// Hands out one EC2 client and one Service Quotas client per region, each built once.
#[derive(Debug)]
pub struct Cloud {
    target: CloudTarget,
    clients: Mutex<HashMap<String, aws_sdk_ec2::Client>>,
    quota_clients: Mutex<HashMap<String, aws_sdk_servicequotas::Client>>,
    /// Accounts a licensed image is shared with (the marketplace's).
    pub marketplace_accounts: Vec<String>,
    /// How long to wait before looking again at something that is still on its way.
    pub poll: chrono::Duration,
    /// How long each wait of a build may last.
    pub build_timeouts: BuildTimeouts,
    /// The IAM role AWS Marketplace assumes to read a published version's image.
    pub marketplace_access_role: Option<String>,
}

/// How long a build waits for each thing it waits on before it gives up (measured on the
/// portal's clock from when that wait began).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildTimeouts {
    /// The builder's install, until it reports and powers off.
    pub install: chrono::Duration,
    /// The image, until it is available.
    pub image: chrono::Duration,
    /// The copies in the target regions, until every one is available.
    pub copies: chrono::Duration,
}

impl Default for BuildTimeouts {
    fn default() -> Self {
        BuildTimeouts {
            install: chrono::Duration::minutes(60),
            image: chrono::Duration::minutes(60),
            copies: chrono::Duration::minutes(120),
        }
    }
}

impl BuildTimeouts {
    /// The longest a build may spend waiting in all: every wait at its deadline, plus an
    /// hour for the polls and retries between them.
    pub fn overall(&self) -> chrono::Duration {
        self.install + self.image + self.copies + chrono::Duration::hours(1)
    }
}

/// What the cloud is set up with, from the configuration.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// Accounts a licensed image is shared with (the marketplace's).
    pub marketplace_accounts: Vec<String>,
    /// How long a waiting job sleeps before it looks again.
    pub poll: chrono::Duration,
    /// How long each wait of a build may last.
    pub build_timeouts: BuildTimeouts,
    /// The IAM role AWS Marketplace assumes, when none is set in the portal.
    pub marketplace_access_role: Option<String>,
}

impl CloudSettings {
    /// AWS Marketplace's account, the given poll and nothing else: what tests of a single
    /// endpoint (moto) need.
    pub fn marketplace_default(poll: chrono::Duration) -> Self {
        CloudSettings {
            marketplace_accounts: vec![AWS_MARKETPLACE_ACCOUNT.to_owned()],
            poll,
            build_timeouts: BuildTimeouts::default(),
            marketplace_access_role: None,
        }
    }
}

impl Cloud {
    /// Real AWS: credentials and settings from the environment, profile or instance role.
    pub async fn aws(settings: CloudSettings) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .load()
            .await;
        Cloud::with_target(CloudTarget::Aws(config), settings)
    }

    /// A local endpoint that speaks EC2's protocol.
    pub fn endpoint(url: impl Into<String>, settings: CloudSettings) -> Self {
        Cloud::with_target(CloudTarget::Endpoint(url.into()), settings)
    }

    fn with_target(target: CloudTarget, settings: CloudSettings) -> Self {
        let marketplace_access_role = settings.marketplace_access_role.or_else(|| {
            // The simulated marketplace takes any role of the right shape.
            matches!(target, CloudTarget::Endpoint(_))
                .then(|| "arn:aws:iam::123456789012:role/AwsMarketplaceAmiIngestion".to_owned())
        });
        Cloud {
            target,
            clients: Mutex::new(HashMap::new()),
            quota_clients: Mutex::new(HashMap::new()),
            marketplace_accounts: settings.marketplace_accounts,
            poll: settings.poll,
            build_timeouts: settings.build_timeouts,
            marketplace_access_role,
        }
    }

    /// The SDK configuration of a client in `region`: AWS's as loaded, or the endpoint's,
    /// with throwaway credentials and quick retries (its faults are injected on purpose).
    /// Every client (EC2, Service Quotas, the Marketplace Catalog) is built from it.
    fn sdk_config(&self, region: &str) -> SdkConfig {
        let region = Region::new(region.to_owned());
        match &self.target {
            CloudTarget::Aws(sdk) => sdk.to_builder().region(region).build(),
            CloudTarget::Endpoint(url) => SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(region)
                .endpoint_url(url.clone())
                .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                    "AKIDPORTALSIMULATED",
                    "simulated-secret",
                    None,
                    None,
                    "portal",
                )))
                .retry_config(
                    RetryConfig::standard()
                        .with_max_attempts(6)
                        .with_initial_backoff(Duration::from_millis(10)),
                )
                .build(),
        }
    }

    /// The EC2 client of a region.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| aws_sdk_ec2::Client::new(&self.sdk_config(region)))
            .clone()
    }

    /// The Service Quotas client of a region (a quota such as EC2's public AMIs is per
    /// region, so it is asked in the region it applies to).
    pub fn service_quotas(&self, region: &str) -> aws_sdk_servicequotas::Client {
        let mut clients = self
            .quota_clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clients
            .entry(region.to_owned())
            .or_insert_with(|| aws_sdk_servicequotas::Client::new(&self.sdk_config(region)))
            .clone()
    }

    /// The AWS Marketplace Catalog client (the catalog API lives in us-east-1).
    pub fn marketplace(&self) -> aws_sdk_marketplacecatalog::Client {
        aws_sdk_marketplacecatalog::Client::new(&self.sdk_config(MARKETPLACE_REGION))
    }
}

/// Where the Marketplace Catalog API and the images it publishes live.
pub const MARKETPLACE_REGION: &str = "us-east-1";

/// AWS Marketplace's account that scans and serves shared AMIs.
pub const AWS_MARKETPLACE_ACCOUNT: &str = "679593333241";

/// A JSON value as the SDK's `Document` (change sets carry their details as one).
pub fn document(value: serde_json::Value) -> aws_smithy_types::Document {
    use aws_smithy_types::{Document, Number};
    match value {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(b),
        serde_json::Value::Number(n) => Document::Number(match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Number::PosInt(u),
            (None, Some(i)) => Number::NegInt(i),
            _ => Number::Float(n.as_f64().unwrap_or_default()),
        }),
        serde_json::Value::String(s) => Document::String(s),
        serde_json::Value::Array(a) => Document::Array(a.into_iter().map(document).collect()),
        serde_json::Value::Object(o) => {
            Document::Object(o.into_iter().map(|(k, v)| (k, document(v))).collect())
        }
    }
}

/// The SDK's `Document` as JSON (the other way round from [`document`]).
pub fn json_of(doc: &aws_smithy_types::Document) -> serde_json::Value {
    use aws_smithy_types::{Document, Number};
    use serde_json::Value;
    match doc {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => Value::from(*f),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(json_of).collect()),
        Document::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect(),
        ),
    }
}
