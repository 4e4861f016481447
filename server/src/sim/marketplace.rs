//! A simulated AWS Marketplace Catalog API, at the wire level: REST/JSON as the SDK sends it
//! (`POST /StartChangeSet`, `GET /DescribeChangeSet`, `POST /ListChangeSets`,
//! `PATCH /CancelChangeSet`, `GET /DescribeEntity`, `POST /ListEntities`).
//!
//! Change sets move PREPARING → APPLYING → SUCCEEDED or FAILED with configurable delays, on
//! the injected clock. It enforces what AWS enforces: one open change set per entity
//! (`ResourceInUseException`), one change of a type per entity in a change set and client
//! request tokens of at most 36 characters (`ValidationException`), and per change, in
//! `ErrorDetailList`: every field limit of `UpdateInformation` and `AddDeliveryOptions`,
//! unique version titles, one image per version (`INCONSISTENT_AMI_SOURCE`), an AMI that
//! exists in us-east-1 and is shared with the marketplace, the version limit, and never
//! restricting the last public version.
//!
//! Each product keeps its whole information (what `UpdateInformation` sets: a field left
//! out stays as it was) and each version its delivery options' details and its image's
//! architecture (read from the simulated EC2); DescribeEntity answers with the details
//! document AWS does.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use app::{
    dto::{DeliveryConfig, LiveCopy, SecurityGroupRule},
    services::Clock,
};
use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Says whether an AMI can back a marketplace version: its architecture (`x86_64`,
/// `arm64`) when it can, why not when it cannot.
pub type AmiCheck = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// How the simulated marketplace behaves.
#[derive(Debug, Clone)]
pub struct MarketplaceConfig {
    /// Time a change set spends in PREPARING (validation).
    pub preparing: Duration,
    /// Time a change set spends in APPLYING.
    pub applying: Duration,
    /// Public versions a product may have.
    pub version_limit: usize,
}

impl Default for MarketplaceConfig {
    fn default() -> Self {
        MarketplaceConfig {
            preparing: Duration::seconds(5),
            applying: Duration::seconds(20),
            version_limit: 100,
        }
    }
}

/// A fault to answer the next matching call with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketplaceFault {
    /// `ThrottlingException` (429).
    Throttle,
    /// `InternalServiceException` (500).
    Internal,
}

/// One delivery option of a version, with the details AWS keeps of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeliveryOption {
    id: String,
    visibility: String,
    created: DateTime<Utc>,
    #[serde(default)]
    usage_instructions: String,
    #[serde(default)]
    instance_type: String,
    /// As sent: `{IpProtocol, FromPort, ToPort, IpRanges}`.
    #[serde(default)]
    security_groups: Vec<Value>,
}

/// The operating system a version's image runs, as its delivery options said.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct OperatingSystem {
    name: String,
    version: String,
    username: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProductVersion {
    id: String,
    title: String,
    release_notes: String,
    ami: String,
    created: DateTime<Utc>,
    /// The image's architecture as EC2 has it (`x86_64`, `arm64`).
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: OperatingSystem,
    #[serde(default)]
    options: Vec<DeliveryOption>,
    /// The one delivery option of a world file written before versions kept several.
    #[serde(default, rename = "option", skip_serializing)]
    legacy_option: Option<DeliveryOption>,
}

impl ProductVersion {
    fn is_public(&self) -> bool {
        self.options.iter().any(|o| o.visibility == "Public")
    }

    /// The visibility of its (first) delivery option.
    fn visibility(&self) -> String {
        self.options
            .first()
            .map(|o| o.visibility.clone())
            .unwrap_or_default()
    }
}

/// A link under "Additional resources".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Resource {
    text: String,
    url: String,
}

/// An AMI product: its information (what `UpdateInformation` sets) and its versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Product {
    id: String,
    name: String,
    title: String,
    short_description: String,
    modified: DateTime<Utc>,
    versions: Vec<ProductVersion>,
    #[serde(default)]
    long_description: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    logo_url: String,
    #[serde(default)]
    video_urls: Vec<String>,
    #[serde(default)]
    highlights: Vec<String>,
    #[serde(default)]
    additional_resources: Vec<Resource>,
    #[serde(default)]
    support_description: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    search_keywords: Vec<String>,
}

impl Product {
    fn public_versions(&self) -> usize {
        self.versions.iter().filter(|v| v.is_public()).count()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChangeRecord {
    change_type: String,
    entity_type: String,
    entity_id: String,
    details: Value,
    name: Option<String>,
    errors: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChangeSet {
    id: String,
    name: Option<String>,
    intent: String,
    status: String,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    changes: Vec<ChangeRecord>,
    failure_code: Option<String>,
    failure_description: Option<String>,
    /// Stays PREPARING until cancelled (someone else's change set, left open).
    held: bool,
}

impl ChangeSet {
    fn open(&self) -> bool {
        matches!(self.status.as_str(), "PREPARING" | "APPLYING")
    }

    fn entity_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.changes.iter().map(|c| c.entity_id.clone()).collect();
        ids.dedup();
        ids
    }
}

/// The products (entities with their versions and delivery options), change sets and
/// client request tokens: what the world file keeps of the marketplace. Change sets keep
/// when they started, so one under way goes on through its states after a restart.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct World {
    products: Vec<Product>,
    change_sets: Vec<ChangeSet>,
    tokens: HashMap<String, String>,
    /// Injected faults come from the test or setting that asked for them (not kept).
    #[serde(skip)]
    faults: VecDeque<MarketplaceFault>,
    next: u64,
}

impl World {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:013x}", 0x5eed_0000_u64 + self.next)
    }
}

/// The simulated Marketplace Catalog.
#[derive(Clone)]
pub struct MarketplaceSim {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    config: Arc<Mutex<MarketplaceConfig>>,
    ami_check: AmiCheck,
    /// Counts the changes to the world, so it is written to its file only after a change.
    changes: Arc<AtomicU64>,
}

impl std::fmt::Debug for MarketplaceSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketplaceSim").finish_non_exhaustive()
    }
}

/// A version to seed a product with: title, release notes, delivery option id, public or
/// not, AMI.
#[derive(Debug, Clone)]
pub struct SeedVersion {
    pub title: String,
    pub release_notes: String,
    pub delivery_option_id: String,
    pub public: bool,
    pub ami: String,
    pub created: DateTime<Utc>,
}

/// How a seeded product's versions are delivered: the usage instructions and the product's
/// delivery configuration.
#[derive(Debug, Clone)]
pub struct SeedDelivery {
    pub usage_instructions: String,
    pub config: DeliveryConfig,
}

impl Default for SeedDelivery {
    /// GitLab's listings as they are today.
    fn default() -> Self {
        let rule = |port| SecurityGroupRule {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            cidr: "0.0.0.0/0".into(),
        };
        SeedDelivery {
            usage_instructions: "https://docs.gitlab.com/install/aws/".into(),
            config: DeliveryConfig {
                recommended_instance_type: "c5.2xlarge".into(),
                os_name: "UBUNTU".into(),
                os_version: "24.04".into(),
                user_name: "ubuntu".into(),
                security_groups: vec![rule(22), rule(80), rule(443)],
            },
        }
    }
}

const CATALOG: &str = "AWSMarketplace";
const ARN_PREFIX: &str = "arn:aws:aws-marketplace:us-east-1:123456789012:AWSMarketplace";

impl MarketplaceSim {
    pub fn new(clock: Arc<dyn Clock>, config: MarketplaceConfig, ami_check: AmiCheck) -> Self {
        MarketplaceSim {
            world: Arc::new(Mutex::new(World::default())),
            clock,
            config: Arc::new(Mutex::new(config)),
            ami_check,
            changes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many changes the world has seen; it only grows.
    pub(super) fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// The world as the world file keeps it, serialised under its lock.
    pub(super) fn world_value(&self) -> serde_json::Result<Value> {
        serde_json::to_value(&*self.world())
    }

    /// Replaces the world with the one the world file kept (faults stay as they are).
    pub(super) fn restore(&self, mut kept: World) {
        for version in kept.products.iter_mut().flat_map(|p| p.versions.iter_mut()) {
            if let Some(option) = version.legacy_option.take() {
                version.options.push(option);
            }
        }
        let mut world = self.world();
        world.products = kept.products;
        world.change_sets = kept.change_sets;
        world.tokens = kept.tokens;
        world.next = kept.next;
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cfg(&self) -> MarketplaceConfig {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes delays or the limit from now on.
    pub fn configure(&self, change: impl FnOnce(&mut MarketplaceConfig)) {
        change(&mut self.config.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Answers the next calls with these faults, one each.
    pub fn inject(&self, faults: impl IntoIterator<Item = MarketplaceFault>) {
        self.world().faults.extend(faults);
    }

    /// Adds an AMI product (unless one has that name) titled as it is named, its versions
    /// delivered as GitLab's are; returns its entity id.
    pub fn seed_product(&self, name: &str, versions: &[SeedVersion]) -> String {
        let copy = LiveCopy {
            title: name.to_owned(),
            ..LiveCopy::default()
        };
        self.seed_product_with(name, &copy, &SeedDelivery::default(), versions)
    }

    /// Adds an AMI product (unless one has that name) with this information and versions
    /// delivered this way; returns its entity id.
    pub fn seed_product_with(
        &self,
        name: &str,
        copy: &LiveCopy,
        delivery: &SeedDelivery,
        versions: &[SeedVersion],
    ) -> String {
        let now = self.clock.now();
        let mut world = self.world();
        if let Some(p) = world.products.iter().find(|p| p.name == name) {
            return p.id.clone();
        }
        self.changed();
        let id = world.id("prod-");
        let config = &delivery.config;
        let security_groups: Vec<Value> = config
            .security_groups
            .iter()
            .map(|r| {
                json!({
                    "IpProtocol": r.protocol,
                    "FromPort": r.from_port,
                    "ToPort": r.to_port,
                    "IpRanges": [r.cidr],
                })
            })
            .collect();
        let versions = versions
            .iter()
            .map(|v| ProductVersion {
                id: world.id("ver-"),
                title: v.title.clone(),
                release_notes: v.release_notes.clone(),
                architecture: (self.ami_check)(&v.ami).unwrap_or_else(|_| "x86_64".into()),
                os: OperatingSystem {
                    name: config.os_name.clone(),
                    version: config.os_version.clone(),
                    username: config.user_name.clone(),
                },
                ami: v.ami.clone(),
                created: v.created,
                options: vec![DeliveryOption {
                    id: v.delivery_option_id.clone(),
                    visibility: if v.public { "Public" } else { "Restricted" }.into(),
                    created: v.created,
                    usage_instructions: delivery.usage_instructions.clone(),
                    instance_type: config.recommended_instance_type.clone(),
                    security_groups: security_groups.clone(),
                }],
                legacy_option: None,
            })
            .collect();
        world.products.push(Product {
            id: id.clone(),
            name: name.to_owned(),
            title: copy.title.clone(),
            short_description: copy.short_description.clone(),
            long_description: copy.long_description.clone(),
            sku: copy.sku.clone(),
            logo_url: copy.logo_url.clone(),
            video_urls: Some(copy.video_url.clone())
                .filter(|u| !u.is_empty())
                .into_iter()
                .collect(),
            highlights: copy.highlights.clone(),
            additional_resources: copy
                .additional_resources
                .iter()
                .map(|r| Resource {
                    text: r.text.clone(),
                    url: r.url.clone(),
                })
                .collect(),
            support_description: copy.support_description.clone(),
            categories: copy.categories.clone(),
            search_keywords: copy.search_keywords.clone(),
            modified: now,
            versions,
        });
        id
    }

    /// The entity id of the AMI product with this name, if the marketplace holds one.
    pub fn product_id(&self, name: &str) -> Option<String> {
        self.world()
            .products
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.id.clone())
    }

    /// Starts a change set on the sim's own behalf, as another tool or person would (for
    /// tests of a pending change set the portal did not start). Returns its id.
    pub fn start_foreign_change_set(&self, entity_id: &str, name: &str) -> String {
        let now = self.clock.now();
        let mut world = self.world();
        self.changed();
        let id = world.id("cs-");
        world.change_sets.push(ChangeSet {
            id: id.clone(),
            name: Some(name.to_owned()),
            intent: "APPLY".into(),
            status: "PREPARING".into(),
            start: now,
            end: None,
            changes: vec![ChangeRecord {
                change_type: "UpdateInformation".into(),
                entity_type: "AmiProduct@1.0".into(),
                entity_id: entity_id.to_owned(),
                details: json!({}),
                name: None,
                errors: Vec::new(),
            }],
            failure_code: None,
            failure_description: None,
            held: true,
        });
        id
    }

    /// Versions of a product by name: (title, visibility), oldest first.
    pub fn versions(&self, name: &str) -> Vec<(String, String)> {
        self.advance();
        self.world()
            .products
            .iter()
            .find(|p| p.name == name)
            .map(|p| {
                p.versions
                    .iter()
                    .map(|v| (v.title.clone(), v.visibility()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The routes, merged into the simulated cloud's server.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/StartChangeSet", post(start_change_set))
            .route("/DescribeChangeSet", get(describe_change_set))
            .route("/ListChangeSets", post(list_change_sets))
            .route("/CancelChangeSet", patch(cancel_change_set))
            .route("/DescribeEntity", get(describe_entity))
            .route("/ListEntities", post(list_entities))
            .with_state(self.clone())
    }

    /// Moves change sets along by the clock.
    fn advance(&self) {
        let now = self.clock.now();
        let cfg = self.cfg();
        let mut world = self.world();
        let World {
            products,
            change_sets,
            ..
        } = &mut *world;
        let mut moved = false;
        for cs in change_sets.iter_mut().filter(|c| c.open() && !c.held) {
            let before = cs.status.clone();
            if cs.status == "PREPARING" && now >= cs.start + cfg.preparing {
                for change in &mut cs.changes {
                    change.errors = validate(products, change, &cfg, &self.ami_check);
                }
                let failed = cs.changes.iter().any(|c| !c.errors.is_empty());
                if cs.intent == "VALIDATE" || failed {
                    finish(cs, now, failed);
                } else {
                    cs.status = "APPLYING".into();
                }
            }
            if cs.status == "APPLYING" && now >= cs.start + cfg.preparing + cfg.applying {
                // Re-checked: another change set may have applied meanwhile.
                for change in &mut cs.changes {
                    change.errors = validate(products, change, &cfg, &self.ami_check);
                }
                let failed = cs.changes.iter().any(|c| !c.errors.is_empty());
                if !failed {
                    for change in &cs.changes {
                        apply(products, change, now, &self.ami_check);
                    }
                }
                finish(cs, now, failed);
            }
            moved |= cs.status != before;
        }
        if moved {
            self.changed();
        }
    }
}

fn finish(cs: &mut ChangeSet, now: DateTime<Utc>, failed: bool) {
    cs.end = Some(now);
    if failed {
        cs.status = "FAILED".into();
        cs.failure_code = Some("CLIENT_ERROR".into());
        cs.failure_description = Some(
            "One or more changes failed validation; see each change's ErrorDetailList.".into(),
        );
    } else {
        cs.status = "SUCCEEDED".into();
    }
}

fn err(code: &str, message: impl Into<String>) -> (String, String) {
    (code.to_owned(), message.into())
}

fn validate(
    products: &[Product],
    change: &ChangeRecord,
    cfg: &MarketplaceConfig,
    ami_check: &AmiCheck,
) -> Vec<(String, String)> {
    let Some(product) = products.iter().find(|p| p.id == change.entity_id) else {
        return vec![err(
            "ENTITY_NOT_FOUND",
            format!("Entity {} was not found.", change.entity_id),
        )];
    };
    let d = &change.details;
    match change.change_type.as_str() {
        "AddDeliveryOptions" => validate_add_delivery_options(product, d, cfg, ami_check),
        "RestrictDeliveryOptions" => validate_restrict(product, d),
        "UpdateInformation" => validate_update_information(d),
        other => vec![err(
            "UNSUPPORTED_CHANGE_TYPE",
            format!("{other} is not supported on AmiProduct by this simulator."),
        )],
    }
}

/// The fields `UpdateInformation` takes on an AMI product.
const INFORMATION_FIELDS: [&str; 11] = [
    "ProductTitle",
    "ShortDescription",
    "LongDescription",
    "Sku",
    "LogoUrl",
    "VideoUrls",
    "Highlights",
    "AdditionalResources",
    "SupportDescription",
    "Categories",
    "SearchKeywords",
];

/// The longest URL AWS Marketplace takes.
const MAX_URL: usize = 2048;

/// Why `value` is not a string of `min..=max` characters, if it is not.
fn text_problem(value: &Value, min: usize, max: usize) -> Option<String> {
    match value.as_str() {
        None => Some("must be a string".to_owned()),
        Some(t) if t.trim().is_empty() && min > 0 => Some("must not be empty".to_owned()),
        Some(t) if t.chars().count() > max => Some(format!(
            "is {} characters long; the limit is {max}",
            t.chars().count()
        )),
        Some(_) => None,
    }
}

/// Why `value` is not an http(s) URL AWS Marketplace can fetch, if it is not.
fn url_problem(value: &Value) -> Option<String> {
    let Some(text) = value.as_str() else {
        return Some("must be a string".to_owned());
    };
    if text.len() > MAX_URL {
        return Some(format!("is longer than {MAX_URL} characters"));
    }
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => None,
        _ => Some(format!("'{text}' is not an http(s) URL")),
    }
}

/// Why `value` is not a list of `min..=max` items, if it is not; else its items.
fn list(value: &Value, min: usize, max: usize) -> Result<&Vec<Value>, String> {
    match value.as_array() {
        None => Err("must be a list".to_owned()),
        Some(items) if items.len() < min || items.len() > max => Err(format!(
            "has {} entries; it takes {min} to {max}",
            items.len()
        )),
        Some(items) => Ok(items),
    }
}

fn validate_update_information(d: &Value) -> Vec<(String, String)> {
    let Some(fields) = d.as_object() else {
        return vec![err(
            "INVALID_DETAILS_DOCUMENT",
            "The details document must be a JSON object.",
        )];
    };
    let mut errors = Vec::new();
    for name in fields.keys() {
        if !INFORMATION_FIELDS.contains(&name.as_str()) {
            errors.push(err(
                "INVALID_DETAILS_DOCUMENT",
                format!("{name} is not a field of UpdateInformation."),
            ));
        }
    }
    let texts = [
        ("ProductTitle", 72, "INVALID_PRODUCT_TITLE"),
        ("ShortDescription", 1000, "INVALID_SHORT_DESCRIPTION"),
        ("LongDescription", 5000, "INVALID_LONG_DESCRIPTION"),
        ("Sku", 100, "INVALID_SKU"),
        ("SupportDescription", 2000, "INVALID_SUPPORT_DESCRIPTION"),
    ];
    for (name, max, code) in texts {
        if let Some(problem) = fields.get(name).and_then(|v| text_problem(v, 1, max)) {
            errors.push(err(code, format!("{name} {problem}.")));
        }
    }
    if let Some(problem) = fields.get("LogoUrl").and_then(url_problem) {
        errors.push(err("INVALID_LOGO_URL", format!("LogoUrl {problem}.")));
    }
    if let Some(videos) = fields.get("VideoUrls") {
        match list(videos, 0, 1) {
            Err(problem) => errors.push(err("INVALID_VIDEO_URLS", format!("VideoUrls {problem}."))),
            Ok(items) => {
                for problem in items.iter().filter_map(url_problem) {
                    errors.push(err("INVALID_VIDEO_URLS", format!("A video URL {problem}.")));
                }
            }
        }
    }
    let lists = [
        ("Highlights", 3, 500, "INVALID_HIGHLIGHTS"),
        ("Categories", 3, 100, "INVALID_CATEGORIES"),
        ("SearchKeywords", 15, 50, "INVALID_SEARCH_KEYWORDS"),
    ];
    for (name, max_items, max_chars, code) in lists {
        let Some(value) = fields.get(name) else {
            continue;
        };
        match list(value, 1, max_items) {
            Err(problem) => errors.push(err(code, format!("{name} {problem}."))),
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(problem) = text_problem(item, 1, max_chars) {
                        errors.push(err(code, format!("{name}[{i}] {problem}.")));
                    }
                }
            }
        }
    }
    if let Some(resources) = fields.get("AdditionalResources") {
        match list(resources, 0, 3) {
            Err(problem) => errors.push(err(
                "INVALID_ADDITIONAL_RESOURCES",
                format!("AdditionalResources {problem}."),
            )),
            Ok(items) => {
                for (i, r) in items.iter().enumerate() {
                    let problems = [
                        text_problem(&r["Text"], 1, 100).map(|p| format!("Text {p}")),
                        url_problem(&r["Url"]).map(|p| format!("Url {p}")),
                    ];
                    for problem in problems.into_iter().flatten() {
                        errors.push(err(
                            "INVALID_ADDITIONAL_RESOURCES",
                            format!("AdditionalResources[{i}].{problem}."),
                        ));
                    }
                }
            }
        }
    }
    errors
}

/// Whether `name` is a user name AWS Marketplace takes: `^[a-zA-Z][a-zA-Z0-9_-]{0,31}$`.
fn valid_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `arn` is an IAM role's: `arn:aws:iam::<12 digits>:role/<name>`.
fn valid_role_arn(arn: &str) -> bool {
    arn.strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        })
}

/// Whether `kind` is an EC2 instance type: `family.size`, e.g. `c5.2xlarge`.
fn valid_instance_type(kind: &str) -> bool {
    kind.split_once('.').is_some_and(|(family, size)| {
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        word(family) && word(size) && family.starts_with(|c: char| c.is_ascii_lowercase())
    })
}

/// Whether `cidr` is an IPv4 network: `a.b.c.d/n`.
fn valid_cidr(cidr: &str) -> bool {
    cidr.split_once('/').is_some_and(|(ip, bits)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32)
    })
}

/// Why one security group rule is not one AWS takes, if it is not.
fn rule_problem(rule: &Value) -> Option<String> {
    let protocol = rule["IpProtocol"].as_str().unwrap_or_default();
    if !matches!(protocol, "tcp" | "udp" | "icmp") {
        return Some(format!("IpProtocol '{protocol}' is not tcp, udp or icmp"));
    }
    let port = |name: &str| rule[name].as_i64().filter(|p| (0..=65535).contains(p));
    match (port("FromPort"), port("ToPort")) {
        (Some(from), Some(to)) if from <= to => {}
        _ => {
            return Some(
                "FromPort and ToPort must be ports (0-65535), FromPort not above ToPort".to_owned(),
            );
        }
    }
    match rule["IpRanges"].as_array() {
        Some(ranges) if !ranges.is_empty() => ranges
            .iter()
            .find(|r| !r.as_str().is_some_and(valid_cidr))
            .map(|r| format!("{r} is not an IPv4 CIDR")),
        _ => Some("IpRanges must list at least one CIDR".to_owned()),
    }
}

fn validate_add_delivery_options(
    product: &Product,
    d: &Value,
    cfg: &MarketplaceConfig,
    ami_check: &AmiCheck,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let title = d["Version"]["VersionTitle"].as_str().unwrap_or_default();
    if title.trim().is_empty() {
        errors.push(err(
            "MISSING_VERSION_TITLE",
            "Version.VersionTitle is required.",
        ));
    } else if title.chars().count() > 64 {
        errors.push(err(
            "INVALID_VERSION_TITLE",
            format!(
                "Version.VersionTitle is {} characters long; the limit is 64.",
                title.chars().count()
            ),
        ));
    } else if product.versions.iter().any(|v| v.title == title) {
        errors.push(err(
            "DUPLICATE_VERSION_TITLE",
            format!("A version titled '{title}' already exists on this product. Version titles must be unique."),
        ));
    }
    if let Some(problem) = text_problem(&d["Version"]["ReleaseNotes"], 1, 30000) {
        errors.push(err(
            "INVALID_RELEASE_NOTES",
            format!("Version.ReleaseNotes {problem}."),
        ));
    }
    if product.public_versions() >= cfg.version_limit {
        errors.push(err(
            "VERSION_LIMIT_EXCEEDED",
            format!(
                "The product already has {} public versions, the maximum. Restrict older versions before adding one.",
                product.public_versions()
            ),
        ));
    }
    let options = d["DeliveryOptions"].as_array().cloned().unwrap_or_default();
    if options.is_empty() {
        errors.push(err(
            "MISSING_DELIVERY_OPTION",
            "At least one delivery option is required.",
        ));
    }
    let sources: Vec<&Value> = options
        .iter()
        .map(|o| &o["Details"]["AmiDeliveryOptionDetails"]["AmiSource"])
        .collect();
    if sources.windows(2).any(|pair| pair[0] != pair[1]) {
        errors.push(err(
            "INCONSISTENT_AMI_SOURCE",
            "All delivery options in the same version must have the same AmiSource.",
        ));
    }
    for option in &options {
        let details = &option["Details"]["AmiDeliveryOptionDetails"];
        let source = &details["AmiSource"];
        let ami = source["AmiId"].as_str().unwrap_or_default();
        if let Err(why) = ami_check(ami) {
            errors.push(err("INVALID_AMI_ID", why));
        }
        let role = source["AccessRoleArn"].as_str().unwrap_or_default();
        if !valid_role_arn(role) {
            errors.push(err(
                "INVALID_ACCESS_ROLE_ARN",
                format!("'{role}' is not an IAM role ARN that AWS Marketplace can assume."),
            ));
        }
        let user = source["UserName"].as_str().unwrap_or_default();
        if !valid_user_name(user) {
            errors.push(err(
                "INVALID_USER_NAME",
                format!("AmiSource.UserName '{user}' must start with a letter and hold at most 32 letters, digits, '_' or '-'."),
            ));
        }
        for field in ["OperatingSystemName", "OperatingSystemVersion"] {
            if let Some(problem) = text_problem(&source[field], 1, 100) {
                errors.push(err(
                    "INVALID_OPERATING_SYSTEM",
                    format!("AmiSource.{field} {problem}."),
                ));
            }
        }
        if let Some(problem) = text_problem(&details["UsageInstructions"], 1, 4000) {
            errors.push(err(
                "INVALID_USAGE_INSTRUCTIONS",
                format!("UsageInstructions {problem}."),
            ));
        }
        let kind = details["RecommendedInstanceType"]
            .as_str()
            .unwrap_or_default();
        if !valid_instance_type(kind) {
            errors.push(err(
                "INVALID_INSTANCE_TYPE",
                format!("RecommendedInstanceType '{kind}' is not an EC2 instance type."),
            ));
        }
        match list(&details["SecurityGroups"], 1, 25) {
            Err(problem) => errors.push(err(
                "INVALID_SECURITY_GROUPS",
                format!("SecurityGroups {problem}."),
            )),
            Ok(rules) => {
                for (i, rule) in rules.iter().enumerate() {
                    if let Some(problem) = rule_problem(rule) {
                        errors.push(err(
                            "INVALID_SECURITY_GROUPS",
                            format!("SecurityGroups[{i}]: {problem}."),
                        ));
                    }
                }
            }
        }
    }
    errors
}

fn validate_restrict(product: &Product, d: &Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let ids: Vec<&str> = d["DeliveryOptionIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let options = || product.versions.iter().flat_map(|v| &v.options);
    for id in &ids {
        if !options().any(|o| o.id == *id) {
            errors.push(err(
                "DELIVERY_OPTION_NOT_FOUND",
                format!("Delivery option {id} is not on this product."),
            ));
        }
    }
    let left = product
        .versions
        .iter()
        .filter(|v| {
            v.options
                .iter()
                .any(|o| o.visibility == "Public" && !ids.contains(&o.id.as_str()))
        })
        .count();
    if left == 0 {
        errors.push(err(
            "LAST_PUBLIC_VERSION",
            "A product must keep at least one public version; this change would restrict the last one.",
        ));
    }
    errors
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn apply(
    products: &mut [Product],
    change: &ChangeRecord,
    now: DateTime<Utc>,
    ami_check: &AmiCheck,
) {
    let Some(product) = products.iter_mut().find(|p| p.id == change.entity_id) else {
        return;
    };
    product.modified = now;
    let d = &change.details;
    match change.change_type.as_str() {
        "AddDeliveryOptions" => {
            let n = product.versions.len() + 1;
            let stamp = now.timestamp_millis() as u64 * 1000 + n as u64;
            let sent = d["DeliveryOptions"].as_array().cloned().unwrap_or_default();
            let first =
                &sent.first().cloned().unwrap_or_default()["Details"]["AmiDeliveryOptionDetails"];
            let source = &first["AmiSource"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let ami = text(&source["AmiId"]);
            let options = sent
                .iter()
                .enumerate()
                .map(|(i, option)| {
                    let details = &option["Details"]["AmiDeliveryOptionDetails"];
                    DeliveryOption {
                        id: if i == 0 {
                            format!("do-{stamp:013x}")
                        } else {
                            format!("do-{stamp:013x}-{i}")
                        },
                        visibility: "Public".into(),
                        created: now,
                        usage_instructions: text(&details["UsageInstructions"]),
                        instance_type: text(&details["RecommendedInstanceType"]),
                        security_groups: details["SecurityGroups"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                    }
                })
                .collect();
            product.versions.push(ProductVersion {
                id: format!("ver-{stamp:013x}"),
                title: text(&d["Version"]["VersionTitle"]),
                release_notes: text(&d["Version"]["ReleaseNotes"]),
                architecture: ami_check(&ami).unwrap_or_default(),
                os: OperatingSystem {
                    name: text(&source["OperatingSystemName"]),
                    version: text(&source["OperatingSystemVersion"]),
                    username: text(&source["UserName"]),
                },
                ami,
                created: now,
                options,
                legacy_option: None,
            });
        }
        "RestrictDeliveryOptions" => {
            let ids: Vec<&str> = d["DeliveryOptionIds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for option in product
                .versions
                .iter_mut()
                .flat_map(|v| v.options.iter_mut())
            {
                if ids.contains(&option.id.as_str()) {
                    option.visibility = "Restricted".into();
                }
            }
        }
        "UpdateInformation" => {
            let set = |field: &mut String, name: &str| {
                if let Some(value) = d[name].as_str() {
                    value.clone_into(field);
                }
            };
            set(&mut product.title, "ProductTitle");
            set(&mut product.short_description, "ShortDescription");
            set(&mut product.long_description, "LongDescription");
            set(&mut product.sku, "Sku");
            set(&mut product.logo_url, "LogoUrl");
            set(&mut product.support_description, "SupportDescription");
            let set_list = |field: &mut Vec<String>, name: &str| {
                if d[name].is_array() {
                    *field = strings(&d[name]);
                }
            };
            set_list(&mut product.video_urls, "VideoUrls");
            set_list(&mut product.highlights, "Highlights");
            set_list(&mut product.categories, "Categories");
            set_list(&mut product.search_keywords, "SearchKeywords");
            if let Some(resources) = d["AdditionalResources"].as_array() {
                product.additional_resources = resources
                    .iter()
                    .map(|r| Resource {
                        text: r["Text"].as_str().unwrap_or_default().to_owned(),
                        url: r["Url"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect();
            }
        }
        _ => {}
    }
}

/// An error as restJson1 carries it: the type in `x-amzn-errortype`, the message in the body.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(kind) {
        headers.insert("x-amzn-errortype", v);
    }
    (status, headers, Json(json!({ "Message": message.into() }))).into_response()
}

impl MarketplaceSim {
    /// The next injected fault, if any, as its response.
    fn fault(&self) -> Option<Response> {
        self.world().faults.pop_front().map(|f| match f {
            MarketplaceFault::Throttle => error(
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Rate exceeded",
            ),
            MarketplaceFault::Internal => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceException",
                "An internal error occurred.",
            ),
        })
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn catalog_ok(catalog: Option<&str>) -> Result<(), Box<Response>> {
    match catalog {
        Some(CATALOG) => Ok(()),
        other => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!("Catalog must be {CATALOG}, got {other:?}"),
        ))),
    }
}

async fn start_change_set(State(sim): State<MarketplaceSim>, Json(body): Json<Value>) -> Response {
    if let Some(f) = sim.fault() {
        return f;
    }
    if let Err(r) = catalog_ok(body["Catalog"].as_str()) {
        return *r;
    }
    sim.advance();
    let now = sim.clock.now();
    let intent = body["Intent"].as_str().unwrap_or("APPLY").to_owned();
    let token = body["ClientRequestToken"].as_str().map(str::to_owned);
    if let Some(t) = &token
        && (t.is_empty() || t.len() > 36 || !t.bytes().all(|b| (b'!'..=b'~').contains(&b)))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "ClientRequestToken '{t}' must be 1 to 36 printable characters without spaces."
            ),
        );
    }
    let mut world = sim.world();
    if let Some(id) = token.as_ref().and_then(|t| world.tokens.get(t)).cloned() {
        return Json(
            json!({ "ChangeSetId": id, "ChangeSetArn": format!("{ARN_PREFIX}/ChangeSet/{id}") }),
        )
        .into_response();
    }
    let Some(changes) = body["ChangeSet"].as_array().filter(|c| !c.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "ChangeSet must hold at least one change.",
        );
    };
    let mut records = Vec::new();
    for c in changes {
        let details = match (&c["DetailsDocument"], c["Details"].as_str()) {
            (Value::Object(_), _) => c["DetailsDocument"].clone(),
            (_, Some(text)) => match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "ValidationException",
                        format!("Details is not JSON: {e}"),
                    );
                }
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    "Each change needs Details or DetailsDocument.",
                );
            }
        };
        let identifier = c["Entity"]["Identifier"].as_str().unwrap_or_default();
        let entity_id = identifier.split('@').next().unwrap_or_default().to_owned();
        if !world.products.iter().any(|p| p.id == entity_id) {
            return error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("Entity {identifier} was not found in {CATALOG}."),
            );
        }
        records.push(ChangeRecord {
            change_type: c["ChangeType"].as_str().unwrap_or_default().to_owned(),
            entity_type: c["Entity"]["Type"]
                .as_str()
                .unwrap_or("AmiProduct@1.0")
                .to_owned(),
            entity_id,
            details,
            name: c["ChangeName"].as_str().map(str::to_owned),
            errors: Vec::new(),
        });
    }
    for (i, r) in records.iter().enumerate() {
        if records[..i]
            .iter()
            .any(|o| o.entity_id == r.entity_id && o.change_type == r.change_type)
        {
            return error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "A change set may hold one {} change per entity; entity {} has more than one.",
                    r.change_type, r.entity_id
                ),
            );
        }
    }
    if intent == "APPLY" {
        for r in &records {
            if let Some(lock) = world.change_sets.iter().find(|cs| {
                cs.open() && cs.intent == "APPLY" && cs.entity_ids().contains(&r.entity_id)
            }) {
                return error(
                    StatusCode::CONFLICT,
                    "ResourceInUseException",
                    format!(
                        "Requested change set has entities locked by change sets - entity: '{}', change sets: {}.",
                        r.entity_id, lock.id
                    ),
                );
            }
        }
    }
    sim.changed();
    let id = world.id("cs-");
    world.change_sets.push(ChangeSet {
        id: id.clone(),
        name: body["ChangeSetName"].as_str().map(str::to_owned),
        intent,
        status: "PREPARING".into(),
        start: now,
        end: None,
        changes: records,
        failure_code: None,
        failure_description: None,
        held: false,
    });
    if let Some(t) = token {
        world.tokens.insert(t, id.clone());
    }
    Json(json!({ "ChangeSetId": id, "ChangeSetArn": format!("{ARN_PREFIX}/ChangeSet/{id}") }))
        .into_response()
}

fn describe(cs: &ChangeSet) -> Value {
    json!({
        "ChangeSetId": cs.id,
        "ChangeSetArn": format!("{ARN_PREFIX}/ChangeSet/{}", cs.id),
        "ChangeSetName": cs.name,
        "Intent": cs.intent,
        "StartTime": iso(cs.start),
        "EndTime": cs.end.map(iso),
        "Status": cs.status,
        "FailureCode": cs.failure_code,
        "FailureDescription": cs.failure_description,
        "ChangeSet": cs.changes.iter().map(|c| json!({
            "ChangeType": c.change_type,
            "ChangeName": c.name,
            "Entity": { "Type": c.entity_type, "Identifier": format!("{}@1", c.entity_id) },
            "DetailsDocument": c.details,
            "ErrorDetailList": c.errors.iter().map(|(code, message)| json!({ "ErrorCode": code, "ErrorMessage": message })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

async fn describe_change_set(
    State(sim): State<MarketplaceSim>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = sim.fault() {
        return f;
    }
    if let Err(r) = catalog_ok(q.get("catalog").map(String::as_str)) {
        return *r;
    }
    sim.advance();
    let id = q.get("changeSetId").cloned().unwrap_or_default();
    let world = sim.world();
    match world.change_sets.iter().find(|c| c.id == id) {
        Some(cs) => Json(describe(cs)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Change set {id} was not found."),
        ),
    }
}

fn page<T: Clone>(items: &[T], body: &Value) -> Result<(Vec<T>, Option<String>), Box<Response>> {
    let max = body["MaxResults"].as_u64().unwrap_or(20).clamp(1, 50) as usize;
    let start = match body["NextToken"].as_str() {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "NextToken is not valid.",
            ))
        })?,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items.get(start..end).unwrap_or_default().to_vec(), next))
}

async fn list_change_sets(State(sim): State<MarketplaceSim>, Json(body): Json<Value>) -> Response {
    if let Some(f) = sim.fault() {
        return f;
    }
    if let Err(r) = catalog_ok(body["Catalog"].as_str()) {
        return *r;
    }
    sim.advance();
    let world = sim.world();
    let filters: Vec<(String, Vec<String>)> = body["FilterList"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f["Name"].as_str().unwrap_or_default().to_owned(),
                        f["ValueList"]
                            .as_array()
                            .map(|v| {
                                v.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let time = |v: &str| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .ok()
    };
    let mut matching: Vec<&ChangeSet> = world
        .change_sets
        .iter()
        .filter(|cs| {
            filters.iter().all(|(name, values)| match name.as_str() {
                "EntityId" => cs.entity_ids().iter().any(|e| values.contains(e)),
                "ChangeSetName" => cs.name.as_ref().is_some_and(|n| values.contains(n)),
                "Status" => values.contains(&cs.status),
                "AfterStartTime" => values
                    .first()
                    .and_then(|v| time(v))
                    .is_none_or(|t| cs.start >= t),
                "BeforeStartTime" => values
                    .first()
                    .and_then(|v| time(v))
                    .is_none_or(|t| cs.start <= t),
                "AfterEndTime" => values
                    .first()
                    .and_then(|v| time(v))
                    .is_some_and(|t| cs.end.is_some_and(|e| e >= t)),
                "BeforeEndTime" => values
                    .first()
                    .and_then(|v| time(v))
                    .is_some_and(|t| cs.end.is_some_and(|e| e <= t)),
                _ => true,
            })
        })
        .collect();
    matching.sort_by_key(|cs| std::cmp::Reverse(cs.start));
    let summaries: Vec<Value> = matching
        .iter()
        .map(|cs| {
            json!({
                "ChangeSetId": cs.id,
                "ChangeSetArn": format!("{ARN_PREFIX}/ChangeSet/{}", cs.id),
                "ChangeSetName": cs.name,
                "StartTime": iso(cs.start),
                "EndTime": cs.end.map(iso),
                "Status": cs.status,
                "EntityIdList": cs.entity_ids(),
                "FailureCode": cs.failure_code,
            })
        })
        .collect();
    match page(&summaries, &body) {
        Ok((items, next)) => {
            Json(json!({ "ChangeSetSummaryList": items, "NextToken": next })).into_response()
        }
        Err(r) => *r,
    }
}

async fn cancel_change_set(
    State(sim): State<MarketplaceSim>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = sim.fault() {
        return f;
    }
    if let Err(r) = catalog_ok(q.get("catalog").map(String::as_str)) {
        return *r;
    }
    sim.advance();
    let now = sim.clock.now();
    let id = q.get("changeSetId").cloned().unwrap_or_default();
    let mut world = sim.world();
    let Some(cs) = world.change_sets.iter_mut().find(|c| c.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Change set {id} was not found."),
        );
    };
    match cs.status.as_str() {
        "PREPARING" => {
            cs.status = "CANCELLED".into();
            cs.end = Some(now);
            sim.changed();
            Json(json!({ "ChangeSetId": id, "ChangeSetArn": format!("{ARN_PREFIX}/ChangeSet/{id}") })).into_response()
        }
        "APPLYING" => error(
            StatusCode::CONFLICT,
            "ResourceInUseException",
            format!("Change set {id} is already APPLYING and can no longer be cancelled."),
        ),
        other => error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "Change set {id} is {other}; only a change set that has not started applying can be cancelled."
            ),
        ),
    }
}

/// An AMI product's details document, shaped as DescribeEntity's.
fn details_document(p: &Product) -> Value {
    let versions: Vec<Value> = p
        .versions
        .iter()
        .map(|v| {
            let source = format!("src-{}", v.id);
            json!({
                "Id": v.id,
                "VersionTitle": v.title,
                "ReleaseNotes": v.release_notes,
                "CreationDate": iso(v.created),
                "Sources": [{
                    "Type": "AmazonMachineImage",
                    "Id": source,
                    "Image": v.ami,
                    "Architecture": v.architecture,
                    "VirtualizationType": "hvm",
                    "OperatingSystem": {
                        "Name": v.os.name,
                        "Version": v.os.version,
                        "Username": v.os.username,
                        "ScanningPort": 22,
                    },
                }],
                "DeliveryOptions": v.options.iter().map(|o| json!({
                    "Id": o.id,
                    "Type": "AmazonMachineImage",
                    "SourceId": source,
                    "Visibility": o.visibility,
                    "Instructions": { "Usage": o.usage_instructions },
                    "Recommendations": {
                        "InstanceType": o.instance_type,
                        "SecurityGroups": o.security_groups,
                    },
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "Description": {
            "ProductTitle": p.title,
            "ShortDescription": p.short_description,
            "LongDescription": p.long_description,
            "Sku": p.sku,
            "Highlights": p.highlights,
            "Categories": p.categories,
            "SearchKeywords": p.search_keywords,
            "Visibility": "Public",
            "ProductState": "Active",
        },
        "PromotionalResources": {
            "LogoUrl": p.logo_url,
            "Videos": p.video_urls.iter().map(|url| json!({
                "Type": "Link",
                "Title": "Product video",
                "Url": url,
            })).collect::<Vec<_>>(),
            "AdditionalResources": p.additional_resources.iter().map(|r| json!({
                "Type": "Link",
                "Text": r.text,
                "Url": r.url,
            })).collect::<Vec<_>>(),
        },
        "SupportInformation": { "Description": p.support_description },
        "Versions": versions,
    })
}

async fn describe_entity(
    State(sim): State<MarketplaceSim>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = sim.fault() {
        return f;
    }
    if let Err(r) = catalog_ok(q.get("catalog").map(String::as_str)) {
        return *r;
    }
    sim.advance();
    let id = q.get("entityId").cloned().unwrap_or_default();
    let id = id.split('@').next().unwrap_or_default().to_owned();
    let world = sim.world();
    let Some(p) = world.products.iter().find(|p| p.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Entity {id} was not found."),
        );
    };
    let details = details_document(p);
    Json(json!({
        "EntityType": "AmiProduct@1.0",
        "EntityIdentifier": format!("{}@1", p.id),
        "EntityArn": format!("{ARN_PREFIX}/AmiProduct/{}", p.id),
        "LastModifiedDate": iso(p.modified),
        "Details": details.to_string(),
        "DetailsDocument": details,
    }))
    .into_response()
}

async fn list_entities(State(sim): State<MarketplaceSim>, Json(body): Json<Value>) -> Response {
    if let Some(f) = sim.fault() {
        return f;
    }
    if let Err(r) = catalog_ok(body["Catalog"].as_str()) {
        return *r;
    }
    if body["EntityType"].as_str() != Some("AmiProduct") {
        return Json(json!({ "EntitySummaryList": [] })).into_response();
    }
    let world = sim.world();
    let summaries: Vec<Value> = world
        .products
        .iter()
        .map(|p| {
            json!({
                "Name": p.name,
                "EntityType": "AmiProduct",
                "EntityId": p.id,
                "EntityArn": format!("{ARN_PREFIX}/AmiProduct/{}", p.id),
                "LastModifiedDate": iso(p.modified),
                "Visibility": "Public",
                "AmiProductSummary": { "ProductTitle": p.title, "Visibility": "Public" },
            })
        })
        .collect();
    match page(&summaries, &body) {
        Ok((items, next)) => {
            Json(json!({ "EntitySummaryList": items, "NextToken": next })).into_response()
        }
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_file_of_one_delivery_option_per_version_still_reads() {
        let at = "2024-10-24T10:00:00Z";
        let old = json!({
            "products": [{
                "id": "prod-1", "name": "GitLab Premium", "title": "GitLab Premium",
                "short_description": "", "modified": at,
                "versions": [{
                    "id": "ver-1", "title": "GitLab Premium 17.5.1 Release", "release_notes": "",
                    "ami": "ami-1", "created": at,
                    "option": { "id": "do-1", "visibility": "Public", "created": at }
                }]
            }],
            "change_sets": [], "tokens": {}, "next": 3
        });
        let world: World = serde_json::from_value(old).expect("an old world reads");
        let clock = Arc::new(app::services::ManualClock::new(Utc::now()));
        let check: AmiCheck = Arc::new(|_: &str| Ok("x86_64".to_owned()));
        let sim = MarketplaceSim::new(clock, MarketplaceConfig::default(), check);
        sim.restore(world);
        assert_eq!(
            sim.versions("GitLab Premium"),
            [(
                "GitLab Premium 17.5.1 Release".to_owned(),
                "Public".to_owned()
            )]
        );
        let kept = sim.world_value().expect("written");
        assert_eq!(
            kept["products"][0]["versions"][0]["options"][0]["id"],
            "do-1"
        );
        assert!(kept["products"][0]["versions"][0].get("option").is_none());
        let details = details_document(&sim.world().products[0]);
        assert_eq!(details["Versions"][0]["DeliveryOptions"][0]["Id"], "do-1");
        assert_eq!(details["Description"]["ProductTitle"], "GitLab Premium");
        assert_eq!(details["Description"]["Highlights"], json!([]));
    }

    #[test]
    fn names_roles_instance_types_and_networks_are_checked_as_aws_does() {
        assert!(valid_user_name("ubuntu"));
        assert!(valid_user_name("ec2-user"));
        assert!(valid_user_name(&format!("a{}", "b".repeat(31))));
        for bad in [
            "",
            "1ubuntu",
            "ub untu",
            "_x",
            &format!("a{}", "b".repeat(32)),
        ] {
            assert!(!valid_user_name(bad), "{bad}");
        }
        assert!(valid_role_arn(
            "arn:aws:iam::123456789012:role/AwsMarketplaceAmiIngestion"
        ));
        for bad in [
            "arn:aws:iam::123:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
            "role",
        ] {
            assert!(!valid_role_arn(bad), "{bad}");
        }
        assert!(valid_instance_type("c5.2xlarge"));
        assert!(valid_instance_type("m7i-flex.large"));
        for bad in ["", "huge", "C5.2XLARGE", ".large", "c5."] {
            assert!(!valid_instance_type(bad), "{bad}");
        }
        assert!(valid_cidr("0.0.0.0/0"));
        assert!(valid_cidr("10.1.2.0/24"));
        for bad in ["10.0.0.0", "10.0.0.0/33", "::/0", "10.0.0/8"] {
            assert!(!valid_cidr(bad), "{bad}");
        }
        let rule = |p: &str, from: i64, to: i64| json!({ "IpProtocol": p, "FromPort": from, "ToPort": to, "IpRanges": ["0.0.0.0/0"] });
        assert_eq!(rule_problem(&rule("tcp", 22, 22)), None);
        assert!(rule_problem(&rule("sctp", 22, 22)).is_some());
        assert!(rule_problem(&rule("tcp", 443, 80)).is_some());
        assert!(rule_problem(&rule("udp", 0, 65536)).is_some());
        assert!(
            rule_problem(
                &json!({ "IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [] })
            )
            .is_some()
        );
    }
}
