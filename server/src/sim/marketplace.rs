//! A simulated AWS Marketplace Catalog API, at the wire level: REST/JSON as the SDK sends it
//! (`POST /StartChangeSet`, `GET /DescribeChangeSet`, `POST /ListChangeSets`,
//! `PATCH /CancelChangeSet`, `GET /DescribeEntity`, `POST /ListEntities`).
//!
//! Change sets move PREPARING → APPLYING → SUCCEEDED or FAILED with configurable delays, on
//! the injected clock. It enforces what AWS enforces: one open change set per entity
//! (`ResourceInUseException`), unique version titles, an AMI that exists in us-east-1 and
//! is shared with the marketplace, the version limit, and never restricting the last public
//! version; errors come back per change in `ErrorDetailList`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use app::services::Clock;
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

/// Says whether an AMI can back a marketplace version: `Err` says why not.
pub type AmiCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeliveryOption {
    id: String,
    visibility: String,
    created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProductVersion {
    id: String,
    title: String,
    release_notes: String,
    ami: String,
    created: DateTime<Utc>,
    option: DeliveryOption,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Product {
    id: String,
    name: String,
    title: String,
    short_description: String,
    modified: DateTime<Utc>,
    versions: Vec<ProductVersion>,
}

impl Product {
    fn public_versions(&self) -> usize {
        self.versions
            .iter()
            .filter(|v| v.option.visibility == "Public")
            .count()
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

/// A version to seed a product with: title, delivery option id, public or not, AMI.
#[derive(Debug, Clone)]
pub struct SeedVersion {
    pub title: String,
    pub delivery_option_id: String,
    pub public: bool,
    pub ami: String,
    pub created: DateTime<Utc>,
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
    pub(super) fn restore(&self, kept: World) {
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

    /// Adds an AMI product (unless one has that name); returns its entity id.
    pub fn seed_product(&self, name: &str, versions: &[SeedVersion]) -> String {
        let now = self.clock.now();
        let mut world = self.world();
        if let Some(p) = world.products.iter().find(|p| p.name == name) {
            return p.id.clone();
        }
        self.changed();
        let id = world.id("prod-");
        let versions = versions
            .iter()
            .map(|v| ProductVersion {
                id: world.id("ver-"),
                title: v.title.clone(),
                release_notes: String::new(),
                ami: v.ami.clone(),
                created: v.created,
                option: DeliveryOption {
                    id: v.delivery_option_id.clone(),
                    visibility: if v.public { "Public" } else { "Restricted" }.into(),
                    created: v.created,
                },
            })
            .collect();
        world.products.push(Product {
            id: id.clone(),
            name: name.to_owned(),
            title: name.to_owned(),
            short_description: String::new(),
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
                    .map(|v| (v.title.clone(), v.option.visibility.clone()))
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
                        apply(products, change, now);
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
    let mut errors = Vec::new();
    match change.change_type.as_str() {
        "AddDeliveryOptions" => {
            let title = d["Version"]["VersionTitle"].as_str().unwrap_or_default();
            if title.is_empty() {
                errors.push(err(
                    "MISSING_VERSION_TITLE",
                    "Version.VersionTitle is required.",
                ));
            } else if product.versions.iter().any(|v| v.title == title) {
                errors.push(err(
                    "DUPLICATE_VERSION_TITLE",
                    format!("A version titled '{title}' already exists on this product. Version titles must be unique."),
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
            for option in options {
                let source = &option["Details"]["AmiDeliveryOptionDetails"]["AmiSource"];
                let ami = source["AmiId"].as_str().unwrap_or_default();
                if let Err(why) = ami_check(ami) {
                    errors.push(err("INVALID_AMI_ID", why));
                }
                let role = source["AccessRoleArn"].as_str().unwrap_or_default();
                if !role.starts_with("arn:aws:iam::") {
                    errors.push(err(
                        "INVALID_ACCESS_ROLE_ARN",
                        format!("'{role}' is not an IAM role ARN that AWS Marketplace can assume."),
                    ));
                }
                if source["UserName"].as_str().unwrap_or_default().is_empty() {
                    errors.push(err("MISSING_USER_NAME", "AmiSource.UserName is required."));
                }
            }
        }
        "RestrictDeliveryOptions" => {
            let ids: Vec<&str> = d["DeliveryOptionIds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for id in &ids {
                if !product.versions.iter().any(|v| v.option.id == *id) {
                    errors.push(err(
                        "DELIVERY_OPTION_NOT_FOUND",
                        format!("Delivery option {id} is not on this product."),
                    ));
                }
            }
            let left = product
                .versions
                .iter()
                .filter(|v| v.option.visibility == "Public" && !ids.contains(&v.option.id.as_str()))
                .count();
            if left == 0 {
                errors.push(err(
                    "LAST_PUBLIC_VERSION",
                    "A product must keep at least one public version; this change would restrict the last one.",
                ));
            }
        }
        "UpdateInformation" => {
            if d["ProductTitle"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 72)
            {
                errors.push(err(
                    "INVALID_PRODUCT_TITLE",
                    "ProductTitle is at most 72 characters.",
                ));
            }
        }
        other => errors.push(err(
            "UNSUPPORTED_CHANGE_TYPE",
            format!("{other} is not supported on AmiProduct by this simulator."),
        )),
    }
    errors
}

fn apply(products: &mut [Product], change: &ChangeRecord, now: DateTime<Utc>) {
    let Some(product) = products.iter_mut().find(|p| p.id == change.entity_id) else {
        return;
    };
    product.modified = now;
    let d = &change.details;
    match change.change_type.as_str() {
        "AddDeliveryOptions" => {
            let n = product.versions.len() + 1;
            let ami = d["DeliveryOptions"][0]["Details"]["AmiDeliveryOptionDetails"]["AmiSource"]
                ["AmiId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            product.versions.push(ProductVersion {
                id: format!(
                    "ver-{:013x}",
                    now.timestamp_millis() as u64 * 1000 + n as u64
                ),
                title: d["Version"]["VersionTitle"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                release_notes: d["Version"]["ReleaseNotes"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                ami,
                created: now,
                option: DeliveryOption {
                    id: format!(
                        "do-{:013x}",
                        now.timestamp_millis() as u64 * 1000 + n as u64
                    ),
                    visibility: "Public".into(),
                    created: now,
                },
            });
        }
        "RestrictDeliveryOptions" => {
            let ids: Vec<&str> = d["DeliveryOptionIds"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for v in &mut product.versions {
                if ids.contains(&v.option.id.as_str()) {
                    v.option.visibility = "Restricted".into();
                }
            }
        }
        "UpdateInformation" => {
            if let Some(title) = d["ProductTitle"].as_str() {
                product.title = title.to_owned();
            }
            if let Some(short) = d["ShortDescription"].as_str() {
                product.short_description = short.to_owned();
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
    let versions: Vec<Value> = p
        .versions
        .iter()
        .map(|v| {
            json!({
                "Id": v.id,
                "VersionTitle": v.title,
                "ReleaseNotes": v.release_notes,
                "CreationDate": iso(v.created),
                "Sources": [{ "Type": "AmazonMachineImage", "Id": format!("src-{}", v.id), "Image": v.ami }],
                "DeliveryOptions": [{
                    "Id": v.option.id,
                    "Type": "AmazonMachineImage",
                    "SourceId": format!("src-{}", v.id),
                    "Visibility": v.option.visibility,
                    "CreationDate": iso(v.option.created),
                    "AmiId": v.ami,
                }],
            })
        })
        .collect();
    let details = json!({
        "Description": { "ProductTitle": p.title, "ShortDescription": p.short_description, "Visibility": "Public" },
        "Versions": versions,
    });
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
