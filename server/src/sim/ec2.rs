//! A simulated EC2 that speaks the real EC2 Query protocol (form-encoded requests, XML
//! answers), so the portal uses the real aws-sdk-ec2 client against it. It keeps its world
//! in memory (and, given a file with `keep_in`, on disk after every request that changed
//! it), moves instances and images through their states on the portal's clock, and
//! enforces what the build runs into on AWS: the public-image quota per region, duplicate
//! image names, idempotent `ClientToken`s. Faults (throttling, 5xx) are injected at a
//! configured rate.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::Path,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use app::{
    domain::AWS_REGIONS,
    services::{Clock, seed::CANONICAL_OWNER},
};

/// The account the simulated portal owns images as.
pub const SIM_ACCOUNT: &str = "111122223333";
/// The most user data RunInstances takes, before base64 (AWS's limit).
pub const MAX_USER_DATA_BYTES: usize = 16 * 1024;

/// How the simulated cloud behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Public images allowed per region (AWS's default is 5 for new accounts).
    pub public_image_quota: usize,
    /// Regions whose public-image quota was raised (or lowered) from `public_image_quota`,
    /// as Service Quotas would answer after a granted request.
    pub public_image_quotas: BTreeMap<String, usize>,
    /// Days a deregistered image stays in the Recycle Bin (it still counts against the
    /// public-image quota there); 0: no retention rule, so a deregistered image is gone.
    pub recycle_bin_days: u32,
    /// Instance: pending → running.
    pub boot_delay: Duration,
    /// Running → a builder's install reports on its console and powers the instance off.
    pub install_delay: Duration,
    /// Image: pending → available (also copies).
    pub image_delay: Duration,
    /// Instance: stopping → stopped.
    pub stop_delay: Duration,
    /// Share of requests answered with a throttle or a 5xx, 0.0–1.0.
    pub fault_rate: f64,
    /// The install step every builder launched from now on fails at; `None`: installs succeed.
    pub install_failure: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            public_image_quota: 5,
            public_image_quotas: BTreeMap::new(),
            recycle_bin_days: 0,
            boot_delay: Duration::seconds(20),
            install_delay: Duration::seconds(60),
            image_delay: Duration::seconds(30),
            stop_delay: Duration::seconds(10),
            fault_rate: 0.0,
            install_failure: None,
        }
    }
}

impl SimConfig {
    /// The public-image quota of a region: its own value when it has one, else the default.
    pub fn public_image_quota_in(&self, region: &str) -> usize {
        self.public_image_quotas
            .get(region)
            .copied()
            .unwrap_or(self.public_image_quota)
    }

    /// Everything happens at once; no faults.
    pub fn instant() -> Self {
        SimConfig {
            boot_delay: Duration::zero(),
            install_delay: Duration::zero(),
            image_delay: Duration::zero(),
            stop_delay: Duration::zero(),
            ..SimConfig::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Image {
    id: String,
    name: String,
    description: String,
    owner: String,
    arch: String,
    created_at: DateTime<Utc>,
    available_at: DateTime<Utc>,
    public: bool,
    users: BTreeSet<String>,
    tags: BTreeMap<String, String>,
    snapshot_id: String,
    volume_gb: i32,
    deprecate_at: Option<DateTime<Utc>>,
    client_token: Option<String>,
    /// Deregistration protection (absent from world files written before it existed).
    #[serde(default)]
    protection: Protection,
}

/// How long protection lasts after it is turned off, when it was turned on with a cooldown.
const PROTECTION_COOLDOWN_HOURS: i64 = 24;

/// An image's deregistration protection, as EC2 keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Protection {
    #[default]
    Disabled,
    /// On; turning it off takes effect at once.
    WithoutCooldown,
    /// On; once turned off it still holds for 24 hours.
    WithCooldown,
    /// Turned off while it had a cooldown: the image stays protected until then.
    DisabledUntil(DateTime<Utc>),
}

impl Protection {
    /// Whether `DeregisterImage` is refused at `now`.
    fn holds(self, now: DateTime<Utc>) -> bool {
        match self {
            Protection::Disabled => false,
            Protection::WithoutCooldown | Protection::WithCooldown => true,
            Protection::DisabledUntil(until) => now < until,
        }
    }

    /// EC2's word for it, as `DescribeImages` and the protection calls answer it.
    fn state(self, now: DateTime<Utc>) -> String {
        match self {
            Protection::Disabled => "disabled".to_owned(),
            Protection::WithoutCooldown => "enabled-without-cooldown".to_owned(),
            Protection::WithCooldown => "enabled-with-cooldown".to_owned(),
            Protection::DisabledUntil(until) if now < until => {
                format!("disabled-until-{}", until.format("%Y-%m-%dT%H:%M:%SZ"))
            }
            Protection::DisabledUntil(_) => "disabled".to_owned(),
        }
    }
}

/// An image this account deregistered while a Recycle Bin rule kept it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recycled {
    image: Image,
    entered: DateTime<Utc>,
    exits: DateTime<Utc>,
}

/// An image of this account to put into the simulated world.
#[derive(Debug, Clone)]
pub struct SeedImage {
    pub region: String,
    pub id: String,
    pub name: String,
    /// EC2's name: x86_64 or arm64.
    pub arch: String,
    pub created_at: DateTime<Utc>,
    pub public: bool,
    pub deprecated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Instance {
    id: String,
    image_id: String,
    instance_type: String,
    arch: String,
    launched_at: DateTime<Utc>,
    tags: BTreeMap<String, String>,
    client_token: Option<String>,
    /// Launched with user data: a builder, which powers itself off when its install ends.
    builder: bool,
    /// The step its install fails at, decided when it was launched.
    install_failure: Option<String>,
    user_data: String,
    stop_at: Option<DateTime<Utc>>,
    terminated_at: Option<DateTime<Utc>>,
    volume_gb: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    id: String,
    volume_gb: i32,
    created_at: DateTime<Utc>,
    description: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Region {
    images: BTreeMap<String, Image>,
    instances: BTreeMap<String, Instance>,
    snapshots: BTreeMap<String, Snapshot>,
    /// Deregistered images a Recycle Bin rule keeps until their exit time (absent from
    /// world files written before it existed).
    #[serde(default)]
    recycle_bin: BTreeMap<String, Recycled>,
}

impl Region {
    /// The account's public images that count against the quota: those registered and
    /// those the Recycle Bin still holds.
    fn public_images(&self, now: DateTime<Utc>) -> usize {
        let registered = self
            .images
            .values()
            .filter(|i| i.owner == SIM_ACCOUNT && i.public)
            .count();
        let recycled = self
            .recycle_bin
            .values()
            .filter(|r| r.exits > now && r.image.public)
            .count();
        registered + recycled
    }
}

/// Every region's images, instances and snapshots: what the world file keeps of EC2 (times
/// are moments on the portal's clock, so what is under way goes on after a restart).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct World {
    regions: BTreeMap<String, Region>,
    next: u64,
    /// Requests this process answered (not kept).
    #[serde(skip)]
    requests: u64,
    /// Time spent answering, in nanoseconds (not kept).
    #[serde(skip)]
    busy_nanos: u128,
}

impl World {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{:017x}", 0x5100_0000_0000_u64 + self.next)
    }

    /// A region's part of the world; a region EC2 does not have is refused as EC2 does.
    fn region_mut(&mut self, region: &str) -> Result<&mut Region, Fault> {
        self.regions
            .get_mut(region)
            .ok_or_else(|| bad("InvalidRegion", region))
    }
}

/// The simulated EC2 of every region.
#[derive(Clone)]
pub struct Ec2Sim {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    config: Arc<Mutex<SimConfig>>,
    marketplace: super::marketplace::MarketplaceSim,
    /// Counts the changes to the world (the marketplace counts its own), so the world file
    /// is written after a request that changed something and never after one that only read.
    changes: Arc<AtomicU64>,
    /// The file the world is kept in, once `keep_in` named one.
    file: Option<Arc<super::world_file::WorldFile>>,
    /// Set by `shut_down`: every request is refused from then on.
    stopped: Arc<AtomicBool>,
}

impl std::fmt::Debug for Ec2Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Sim").finish_non_exhaustive()
    }
}

/// What the simulator counts, for tests and the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimCounts {
    pub running_instances: usize,
    pub instances: usize,
    pub images: usize,
    pub public_images: usize,
}

struct Fault {
    status: StatusCode,
    code: String,
    message: String,
}

type Form = Vec<(String, String)>;
type Answer = Result<String, Fault>;

fn fault(status: StatusCode, code: &str, message: impl Into<String>) -> Fault {
    Fault {
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

fn bad(code: &str, message: impl Into<String>) -> Fault {
    fault(StatusCode::BAD_REQUEST, code, message)
}

fn get<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn required<'a>(form: &'a Form, key: &str) -> Result<&'a str, Fault> {
    get(form, key).ok_or_else(|| {
        bad(
            "MissingParameter",
            format!("The request must contain the parameter {key}"),
        )
    })
}

/// `Prefix.1`, `Prefix.2`… in order.
fn list(form: &Form, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|i| get(form, &format!("{prefix}.{i}")).map(str::to_owned))
        .collect()
}

/// `Filter.N.Name` / `Filter.N.Value.M`.
fn filters(form: &Form) -> Vec<(String, Vec<String>)> {
    (1..)
        .map_while(|i| {
            get(form, &format!("Filter.{i}.Name"))
                .map(|name| (name.to_owned(), list(form, &format!("Filter.{i}.Value"))))
        })
        .collect()
}

/// `TagSpecification.N.Tag.M.Key/Value` for a resource type.
fn tag_specs(form: &Form, resource: &str) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for i in 1.. {
        let Some(kind) = get(form, &format!("TagSpecification.{i}.ResourceType")) else {
            break;
        };
        if kind != resource {
            continue;
        }
        for j in 1.. {
            let Some(key) = get(form, &format!("TagSpecification.{i}.Tag.{j}.Key")) else {
                break;
            };
            let value =
                get(form, &format!("TagSpecification.{i}.Tag.{j}.Value")).unwrap_or_default();
            tags.insert(key.to_owned(), value.to_owned());
        }
    }
    tags
}

/// Shell-style wildcard match (`*` and `?`), as EC2 filters use.
fn wildcard(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn tag_set(tags: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<tagSet>");
    for (k, v) in tags {
        let _ = write!(
            out,
            "<item><key>{}</key><value>{}</value></item>",
            esc(k),
            esc(v)
        );
    }
    out.push_str("</tagSet>");
    out
}

fn wrap(action: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{}</requestId>{body}</{action}Response>",
        uuid::Uuid::new_v4()
    )
}

/// The region a request is for, from its SigV4 credential scope.
fn region_of(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(2).map(str::to_owned)
}

impl Instance {
    fn state(&self, now: DateTime<Utc>, cfg: &SimConfig) -> (&'static str, u8) {
        if let Some(t) = self.terminated_at {
            return if now >= t {
                ("terminated", 48)
            } else {
                ("shutting-down", 32)
            };
        }
        if let Some(t) = self.stopped_at(now, cfg) {
            return if now >= t + cfg.stop_delay {
                ("stopped", 80)
            } else {
                ("stopping", 64)
            };
        }
        if now >= self.launched_at + cfg.boot_delay {
            ("running", 16)
        } else {
            ("pending", 0)
        }
    }

    /// When a builder's install ends and it powers itself off.
    fn install_ends(&self, cfg: &SimConfig) -> Option<DateTime<Utc>> {
        self.builder
            .then(|| self.launched_at + cfg.boot_delay + cfg.install_delay)
    }

    /// When the instance began to stop (asked to, or powering itself off), if it has.
    fn stopped_at(&self, now: DateTime<Utc>, cfg: &SimConfig) -> Option<DateTime<Utc>> {
        let own = self
            .install_ends(cfg)
            .filter(|t| *t <= now && self.terminated_at.is_none_or(|end| *t < end));
        match (self.stop_at, own) {
            (Some(asked), Some(own)) => Some(asked.min(own)),
            (asked, own) => asked.or(own),
        }
    }

    fn visible_tags(&self, _now: DateTime<Utc>, _cfg: &SimConfig) -> BTreeMap<String, String> {
        self.tags.clone()
    }

    /// What its serial console holds, as `GetConsoleOutput` shows it: nothing while it
    /// runs; once it has stopped, the boot and cloud-init lines and, for a builder whose
    /// install ran to its end, the install script's result line.
    fn console(&self, now: DateTime<Utc>, cfg: &SimConfig) -> String {
        let Some(stopped) = self.stopped_at(now, cfg) else {
            return String::new();
        };
        let secs = |t: DateTime<Utc>| (t - self.launched_at).num_milliseconds() as f64 / 1000.0;
        let booted = self.launched_at + cfg.boot_delay;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "[    0.000000] Linux version 6.8.0-1012-aws (buildd@lcy02-amd64-059) #13-Ubuntu SMP"
        );
        let _ = writeln!(
            out,
            "[{:12.6}] cloud-init[612]: Cloud-init v. 24.1.3-0ubuntu3.3 running 'init' at {}. Up {:.2} seconds.",
            secs(booted),
            booted.format("%a, %d %b %Y %H:%M:%S +0000"),
            secs(booted)
        );
        let _ = writeln!(
            out,
            "[{:12.6}] cloud-init[612]: ci-info: ++++++++++++++++++++++++Net device info++++++++++++++++++++++++",
            secs(booted)
        );
        let install_ended = self.install_ends(cfg).filter(|t| *t <= stopped);
        if self.builder {
            let _ = writeln!(
                out,
                "[{:12.6}] cloud-init[745]: Cloud-init v. 24.1.3-0ubuntu3.3 running 'modules:final' at {}.",
                secs(booted),
                booted.format("%a, %d %b %Y %H:%M:%S +0000")
            );
        }
        if let Some(ended) = install_ended {
            let at = secs(ended);
            match &self.install_failure {
                Some(step) => {
                    let _ = writeln!(
                        out,
                        "[{at:12.6}] cloud-init[745]: E: Sub-process /usr/bin/dpkg returned an error code (1)"
                    );
                    let _ = writeln!(
                        out,
                        "{} failed step={step} exit=100",
                        crate::jobs::build_image::console::RESULT_MARKER
                    );
                    let _ = writeln!(
                        out,
                        "[{at:12.6}] cloud-init[745]: 2024-11-12 10:31:07,114 - cc_scripts_user.py[WARNING]: Failed to run module scripts_user (scripts in /var/lib/cloud/instance/scripts)"
                    );
                }
                None => {
                    let _ = writeln!(out, "[{at:12.6}] cloud-init[745]: gitlab Reconfigured!");
                    let _ = writeln!(
                        out,
                        "{} ok",
                        crate::jobs::build_image::console::RESULT_MARKER
                    );
                }
            }
        }
        let _ = writeln!(out, "[{:12.6}] reboot: Power down", secs(stopped));
        out
    }
}

impl Image {
    fn state(&self, now: DateTime<Utc>) -> &'static str {
        if now >= self.available_at {
            "available"
        } else {
            "pending"
        }
    }
}

impl Ec2Sim {
    /// A world with Canonical's Ubuntu 24.04 images (amd64 and arm64) in every region.
    pub fn new(clock: Arc<dyn Clock>, config: SimConfig) -> Self {
        let mut world = World::default();
        let published = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        for region in AWS_REGIONS {
            let mut r = Region::default();
            for (arch, aws_arch) in [("amd64", "x86_64"), ("arm64", "arm64")] {
                for (serial, days) in [("20260915", 16), ("20261001", 0)] {
                    let id = world.id("ami");
                    let snap = world.id("snap");
                    r.snapshots.insert(
                        snap.clone(),
                        Snapshot {
                            id: snap.clone(),
                            volume_gb: 8,
                            created_at: published,
                            description: "Canonical base".into(),
                        },
                    );
                    r.images.insert(
                        id.clone(),
                        Image {
                            name: format!("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{arch}-server-{serial}"),
                            description: format!("Canonical, Ubuntu, 24.04, {arch} noble image"),
                            owner: CANONICAL_OWNER.to_owned(),
                            arch: aws_arch.to_owned(),
                            created_at: published - Duration::days(days),
                            available_at: published - Duration::days(days),
                            public: true,
                            users: BTreeSet::new(),
                            tags: BTreeMap::new(),
                            snapshot_id: snap,
                            volume_gb: 8,
                            deprecate_at: None,
                            client_token: None,
                            protection: Protection::Disabled,
                            id,
                        },
                    );
                }
            }
            world.regions.insert((*region).to_owned(), r);
        }
        let world = Arc::new(Mutex::new(world));
        let images = world.clone();
        // The marketplace takes an AMI that exists in us-east-1 and is shared with its account,
        // and reads its architecture.
        let ami_check: super::marketplace::AmiCheck = Arc::new(move |id: &str| {
            let world = images.lock().unwrap_or_else(PoisonError::into_inner);
            match world
                .regions
                .get("us-east-1")
                .and_then(|r| r.images.get(id))
            {
                None => Err(format!("AMI '{id}' was not found in us-east-1.")),
                Some(i) if i.public || i.users.contains(crate::cloud::AWS_MARKETPLACE_ACCOUNT) => {
                    Ok(i.arch.clone())
                }
                Some(_) => Err(format!(
                    "AMI '{id}' is not shared with AWS Marketplace (account {}).",
                    crate::cloud::AWS_MARKETPLACE_ACCOUNT
                )),
            }
        });
        Ec2Sim {
            marketplace: super::marketplace::MarketplaceSim::new(
                clock.clone(),
                super::marketplace::MarketplaceConfig::default(),
                ami_check,
            ),
            world,
            clock,
            config: Arc::new(Mutex::new(config)),
            changes: Arc::new(AtomicU64::new(0)),
            file: None,
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Keeps this world in `path` from now on: the file is written (atomically) after every
    /// request that changed the world, before its answer goes out. When the file exists, its
    /// world replaces this one and `true` comes back: the caller seeds nothing. When it does
    /// not, `false` comes back: the caller seeds the world and calls `save`. A file that
    /// cannot be read fails with what to do about it; so does one another process keeps.
    /// Call it before the simulator is served or cloned.
    pub fn keep_in(&mut self, path: &Path) -> anyhow::Result<bool> {
        let (file, contents) = super::world_file::WorldFile::open(path)?;
        let loaded = contents.is_some();
        if let Some(contents) = contents {
            {
                let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
                world.regions = contents.ec2.regions;
                world.next = contents.ec2.next;
            }
            self.marketplace.restore(contents.marketplace);
            file.written_up_to(self.generation());
        }
        self.file = Some(Arc::new(file));
        Ok(loaded)
    }

    /// Writes the world to its file if it changed since it was last written (nothing
    /// without a file). The world's locks are held only to serialise it, never while the
    /// file is written.
    pub async fn save(&self) -> anyhow::Result<()> {
        match &self.file {
            Some(file) => file.save(self).await,
            None => Ok(()),
        }
    }

    /// Stops answering (every request gets 503) and lets go of the world file, so a
    /// simulator started after this one (a restarted portal) keeps it.
    pub fn shut_down(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(file) = &self.file {
            file.release();
        }
    }

    /// How many changes the world (EC2 and marketplace) has seen; it only grows.
    pub(super) fn generation(&self) -> u64 {
        self.changes.load(Ordering::SeqCst) + self.marketplace.changes()
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Now, on the portal's clock.
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// EC2's world as the file keeps it, serialised under its lock.
    pub(super) fn world_value(&self) -> serde_json::Result<serde_json::Value> {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        serde_json::to_value(&*world)
    }

    /// The simulated Marketplace Catalog of this cloud.
    pub fn marketplace(&self) -> &super::marketplace::MarketplaceSim {
        &self.marketplace
    }

    /// Puts an image this account built earlier (with its snapshot) into a region, as the
    /// catalogue records it.
    pub fn add_image(&self, image: SeedImage) {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        let snap = world.id("snap");
        let Some(r) = world.regions.get_mut(&image.region) else {
            return;
        };
        if r.images.contains_key(&image.id) {
            return;
        }
        self.changed();
        r.snapshots.insert(
            snap.clone(),
            Snapshot {
                id: snap.clone(),
                volume_gb: 20,
                created_at: image.created_at,
                description: format!("Created for {}", image.id),
            },
        );
        r.images.insert(
            image.id.clone(),
            Image {
                id: image.id,
                name: image.name,
                description: String::new(),
                owner: SIM_ACCOUNT.to_owned(),
                arch: image.arch,
                created_at: image.created_at,
                available_at: image.created_at,
                public: image.public,
                users: BTreeSet::new(),
                tags: BTreeMap::new(),
                snapshot_id: snap,
                volume_gb: 20,
                deprecate_at: image.deprecated.then_some(image.created_at),
                client_token: None,
                protection: Protection::Disabled,
            },
        );
    }

    /// Publishes a public base image in a region as its owner would (Canonical's next
    /// Ubuntu, say): available at once, created at `created_at`, `arch` in EC2's naming
    /// (x86_64 or arm64). Answers its id; `None` for a region the simulator does not have.
    pub fn publish_base_image(
        &self,
        region: &str,
        owner: &str,
        name: &str,
        arch: &str,
        created_at: DateTime<Utc>,
    ) -> Option<String> {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        if !world.regions.contains_key(region) {
            return None;
        }
        let id = world.id("ami");
        let snap = world.id("snap");
        let r = world.regions.get_mut(region)?;
        r.snapshots.insert(
            snap.clone(),
            Snapshot {
                id: snap.clone(),
                volume_gb: 8,
                created_at,
                description: format!("{owner} base"),
            },
        );
        r.images.insert(
            id.clone(),
            Image {
                id: id.clone(),
                name: name.to_owned(),
                description: name.to_owned(),
                owner: owner.to_owned(),
                arch: arch.to_owned(),
                created_at,
                available_at: created_at,
                public: true,
                users: BTreeSet::new(),
                tags: BTreeMap::new(),
                snapshot_id: snap,
                volume_gb: 8,
                deprecate_at: None,
                client_token: None,
                protection: Protection::Disabled,
            },
        );
        drop(world);
        self.changed();
        Some(id)
    }

    /// The account's images in a region: id → (public, deprecated, snapshot id).
    pub fn own_images(&self, region: &str) -> BTreeMap<String, (bool, bool, String)> {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        world
            .regions
            .get(region)
            .map(|r| {
                r.images
                    .values()
                    .filter(|i| i.owner == SIM_ACCOUNT)
                    .map(|i| {
                        (
                            i.id.clone(),
                            (
                                i.public,
                                i.deprecate_at
                                    .is_some_and(|t| t <= now + Duration::minutes(1)),
                                i.snapshot_id.clone(),
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The id of this account's image with this name in a region, if it has one.
    pub fn own_image_named(&self, region: &str, name: &str) -> Option<String> {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        world
            .regions
            .get(region)?
            .images
            .values()
            .find(|i| i.owner == SIM_ACCOUNT && i.name == name)
            .map(|i| i.id.clone())
    }

    /// Snapshot ids in a region.
    pub fn snapshots(&self, region: &str) -> BTreeSet<String> {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        world
            .regions
            .get(region)
            .map(|r| r.snapshots.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The public-image quota of a region: what `ModifyImageAttribute` enforces and Service
    /// Quotas answers.
    pub fn public_image_quota(&self, region: &str) -> usize {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .public_image_quota_in(region)
    }

    /// Whether the simulated account has this region.
    pub(super) fn has_region(&self, region: &str) -> bool {
        self.world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .regions
            .contains_key(region)
    }

    /// Decides, at the configured fault rate, whether this request gets a fault: `None`
    /// for none, `Some(true)` for throttling, `Some(false)` for a 5xx.
    pub(super) fn injected_fault(&self) -> Option<bool> {
        let rate = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fault_rate;
        (rate > 0.0 && rand::rng().random_bool(rate.clamp(0.0, 1.0)))
            .then(|| rand::rng().random_bool(0.5))
    }

    /// Changes how the simulator behaves (delays, quota, faults) from now on.
    pub fn configure(&self, change: impl FnOnce(&mut SimConfig)) {
        change(&mut self.config.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The HTTP endpoint the SDK talks to (EC2 and the Marketplace Catalog).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(handle))
            .with_state(self.clone())
            .merge(self.marketplace.router())
            .layer(middleware::from_fn_with_state(self.clone(), keep_world))
    }

    /// Counts in one region.
    pub fn counts(&self, region: &str) -> SimCounts {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        let cfg = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let now = self.clock.now();
        let Some(r) = world.regions.get(region) else {
            return SimCounts::default();
        };
        SimCounts {
            running_instances: r
                .instances
                .values()
                .filter(|i| !matches!(i.state(now, &cfg).0, "terminated" | "shutting-down"))
                .count(),
            instances: r.instances.len(),
            images: r.images.values().filter(|i| i.owner == SIM_ACCOUNT).count(),
            public_images: r
                .images
                .values()
                .filter(|i| i.owner == SIM_ACCOUNT && i.public)
                .count(),
        }
    }

    /// Total requests answered (faults included).
    pub fn requests(&self) -> u64 {
        self.world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
    }

    /// The user data instances were launched with, decoded, in instance id order.
    pub fn user_data(&self, region: &str) -> Vec<String> {
        let world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        world
            .regions
            .get(region)
            .map(|r| r.instances.values().map(|i| i.user_data.clone()).collect())
            .unwrap_or_default()
    }

    /// Time the simulator spent answering requests, from request to response.
    pub fn busy(&self) -> std::time::Duration {
        let nanos = self
            .world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .busy_nanos;
        std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn answer(&self, region: &str, form: &Form) -> Answer {
        let cfg = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let action = required(form, "Action")?.to_owned();
        if let Some(throttled) = self.injected_fault() {
            return Err(if throttled {
                fault(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                )
            } else {
                fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "An internal error has occurred",
                )
            });
        }
        let now = self.clock.now();
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        world.requests += 1;
        if !world.regions.contains_key(region) {
            return Err(fault(
                StatusCode::UNAUTHORIZED,
                "AuthFailure",
                format!("region {region} is not enabled for this account"),
            ));
        }
        let answer = match action.as_str() {
            "DescribeRegions" => Ok(wrap(
                "DescribeRegions",
                &format!(
                    "<regionInfo>{}</regionInfo>",
                    world
                        .regions
                        .keys()
                        .map(|r| format!("<item><regionName>{r}</regionName><regionEndpoint>ec2.{r}.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>"))
                        .collect::<String>()
                ),
            )),
            "DescribeImages" => describe_images(&world, region, form, now),
            "DescribeImageAttribute" => describe_image_attribute(&world, region, form),
            "RunInstances" => run_instances(&mut world, region, form, now, &cfg),
            "GetConsoleOutput" => get_console_output(&world, region, form, now, &cfg),
            "DescribeInstances" => describe_instances(&world, region, form, now, &cfg),
            "StopInstances" | "TerminateInstances" => change_instances(&mut world, region, form, now, &cfg, &action),
            "CreateImage" => create_image(&mut world, region, form, now, &cfg),
            "CreateTags" => create_tags(&mut world, region, form),
            "CopyImage" => copy_image(&mut world, region, form, now, &cfg),
            "ModifyImageAttribute" => modify_image_attribute(&mut world, region, form, now, &cfg),
            "DeregisterImage" => deregister_image(&mut world, region, form, now, &cfg),
            "EnableImageDeregistrationProtection" => {
                let id = required(form, "ImageId")?;
                let cooldown = get(form, "WithCooldown") == Some("true");
                let image = image_mut(&mut world, region, id)?;
                image.protection = if cooldown { Protection::WithCooldown } else { Protection::WithoutCooldown };
                Ok(wrap("EnableImageDeregistrationProtection", &format!("<return>{}</return>", image.protection.state(now))))
            }
            "DisableImageDeregistrationProtection" => {
                let id = required(form, "ImageId")?;
                let image = image_mut(&mut world, region, id)?;
                image.protection = match image.protection {
                    Protection::WithCooldown => Protection::DisabledUntil(now + Duration::hours(PROTECTION_COOLDOWN_HOURS)),
                    Protection::DisabledUntil(until) if now < until => Protection::DisabledUntil(until),
                    _ => Protection::Disabled,
                };
                Ok(wrap("DisableImageDeregistrationProtection", &format!("<return>{}</return>", image.protection.state(now))))
            }
            "ListImagesInRecycleBin" => list_images_in_recycle_bin(&world, region, form, now),
            "DescribeSnapshots" => {
                let ids = list(form, "SnapshotId");
                let r = &world.regions[region];
                let items: String = r
                    .snapshots
                    .values()
                    .filter(|s| ids.is_empty() || ids.contains(&s.id))
                    .map(|s| {
                        format!(
                            "<item><snapshotId>{}</snapshotId><volumeSize>{}</volumeSize><status>completed</status><startTime>{}</startTime><description>{}</description><ownerId>{SIM_ACCOUNT}</ownerId></item>",
                            s.id,
                            s.volume_gb,
                            ts(s.created_at),
                            esc(&s.description)
                        )
                    })
                    .collect();
                Ok(wrap("DescribeSnapshots", &format!("<snapshotSet>{items}</snapshotSet>")))
            }
            "DeleteSnapshot" => {
                let id = required(form, "SnapshotId")?;
                let r = world.region_mut(region)?;
                if let Some(image) = r.images.values().find(|i| i.snapshot_id == id) {
                    return Err(bad("InvalidSnapshot.InUse", format!("The snapshot {id} is currently in use by {}", image.id)));
                }
                r.snapshots.remove(id).ok_or_else(|| bad("InvalidSnapshot.NotFound", format!("The snapshot '{id}' does not exist.")))?;
                Ok(wrap("DeleteSnapshot", "<return>true</return>"))
            }
            "EnableImageDeprecation" => {
                let id = required(form, "ImageId")?;
                let at = required(form, "DeprecateAt")?;
                let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad("InvalidParameterValue", format!("DeprecateAt '{at}' is not a time")))?;
                let image = image_mut(&mut world, region, id)?;
                image.deprecate_at = Some(at.with_timezone(&Utc));
                Ok(wrap("EnableImageDeprecation", "<return>true</return>"))
            }
            other => Err(bad("InvalidAction", format!("The action {other} is not valid for this web service."))),
        };
        if answer.is_ok() && CHANGING_ACTIONS.contains(&action.as_str()) {
            self.changed();
        }
        answer
    }
}

/// The actions that change the world; every other one only reads it.
const CHANGING_ACTIONS: &[&str] = &[
    "RunInstances",
    "StopInstances",
    "TerminateInstances",
    "CreateImage",
    "CreateTags",
    "CopyImage",
    "ModifyImageAttribute",
    "DeregisterImage",
    "EnableImageDeregistrationProtection",
    "DisableImageDeregistrationProtection",
    "DeleteSnapshot",
    "EnableImageDeprecation",
];

/// Refuses requests once the simulator is shut down, and writes the world to its file
/// after a request that changed it, before the answer goes out (so an answer the portal
/// saw is never lost by a restart). A world that cannot be written is a 500, which the
/// SDK retries.
async fn keep_world(State(sim): State<Ec2Sim>, request: Request, next: Next) -> Response {
    if sim.stopped.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "This simulated cloud has been shut down.",
        )
            .into_response();
    }
    let response = next.run(request).await;
    match sim.save().await {
        Ok(()) => response,
        Err(e) => {
            tracing::error!("{e:#}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response()
        }
    }
}

/// Deregisters an image unless its deregistration protection holds; with a Recycle Bin
/// rule (`recycle_bin_days`) the image moves to the Recycle Bin until its exit time.
fn deregister_image(
    world: &mut World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    let id = required(form, "ImageId")?;
    let r = world.region_mut(region)?;
    let image = r.images.get(id).ok_or_else(|| {
        bad(
            "InvalidAMIID.NotFound",
            format!("The image id '[{id}]' does not exist"),
        )
    })?;
    if image.protection.holds(now) {
        return Err(bad(
            "OperationNotPermitted",
            format!(
                "Image {id} cannot be deregistered because deregistration protection is {}. \
                 Disable deregistration protection (DisableImageDeregistrationProtection) first.",
                image.protection.state(now)
            ),
        ));
    }
    let Some(image) = r.images.remove(id) else {
        return Err(bad(
            "InvalidAMIID.NotFound",
            format!("The image id '[{id}]' does not exist"),
        ));
    };
    r.recycle_bin.retain(|_, kept| kept.exits > now);
    if cfg.recycle_bin_days > 0 {
        r.recycle_bin.insert(
            image.id.clone(),
            Recycled {
                image,
                entered: now,
                exits: now + Duration::days(i64::from(cfg.recycle_bin_days)),
            },
        );
    }
    Ok(wrap("DeregisterImage", "<return>true</return>"))
}

/// The images the Recycle Bin holds in a region (those whose exit time has not come), in
/// pages of `MaxResults` (5–1000) with `NextToken`, or only the ids asked for.
fn list_images_in_recycle_bin(
    world: &World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
) -> Answer {
    let ids = list(form, "ImageId");
    if ids.len() > 20 {
        return Err(bad(
            "InvalidParameterValue",
            format!("At most 20 image ids may be given; got {}.", ids.len()),
        ));
    }
    let max = match get(form, "MaxResults") {
        None => 1000,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (5..=1000).contains(&n) => n,
            _ => {
                return Err(bad(
                    "InvalidParameterValue",
                    format!("MaxResults must be from 5 to 1000; got '{v}'."),
                ));
            }
        },
    };
    let start = match get(form, "NextToken") {
        None => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            bad(
                "InvalidNextToken",
                format!("The token '{token}' is not valid."),
            )
        })?,
    };
    let kept: Vec<&Recycled> = world.regions[region]
        .recycle_bin
        .values()
        .filter(|r| r.exits > now)
        .filter(|r| ids.is_empty() || ids.contains(&r.image.id))
        .collect();
    let items: String = kept
        .iter()
        .skip(start)
        .take(max)
        .map(|r| {
            format!(
                "<item><imageId>{}</imageId><name>{}</name><description>{}</description><recycleBinEnterTime>{}</recycleBinEnterTime><recycleBinExitTime>{}</recycleBinExitTime></item>",
                r.image.id,
                esc(&r.image.name),
                esc(&r.image.description),
                ts(r.entered),
                ts(r.exits)
            )
        })
        .collect();
    let next = if start + max < kept.len() {
        format!("<nextToken>{}</nextToken>", start + max)
    } else {
        String::new()
    };
    Ok(wrap(
        "ListImagesInRecycleBin",
        &format!("<imageSet>{items}</imageSet>{next}"),
    ))
}

fn image_mut<'a>(world: &'a mut World, region: &str, id: &str) -> Result<&'a mut Image, Fault> {
    world
        .regions
        .get_mut(region)
        .and_then(|r| r.images.get_mut(id))
        .ok_or_else(|| {
            bad(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            )
        })
}

fn image_xml(i: &Image, now: DateTime<Utc>) -> String {
    format!(
        "<item><imageId>{id}</imageId><imageLocation>{owner}/{name}</imageLocation><imageState>{state}</imageState>\
         <imageOwnerId>{owner}</imageOwnerId><creationDate>{created}</creationDate><isPublic>{public}</isPublic>\
         <architecture>{arch}</architecture><imageType>machine</imageType><name>{name}</name><description>{desc}</description>\
         <rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/sda1</rootDeviceName>\
         <blockDeviceMapping><item><deviceName>/dev/sda1</deviceName><ebs><snapshotId>{snap}</snapshotId><volumeSize>{gb}</volumeSize>\
         <deleteOnTermination>true</deleteOnTermination><volumeType>gp2</volumeType><encrypted>false</encrypted></ebs></item></blockDeviceMapping>\
         <virtualizationType>hvm</virtualizationType><hypervisor>xen</hypervisor><enaSupport>true</enaSupport>{deprecation}\
         <deregistrationProtection>{protection}</deregistrationProtection>{tags}</item>",
        id = i.id,
        owner = i.owner,
        name = esc(&i.name),
        state = i.state(now),
        created = ts(i.created_at),
        public = i.public,
        arch = i.arch,
        desc = esc(&i.description),
        snap = i.snapshot_id,
        gb = i.volume_gb,
        deprecation = i
            .deprecate_at
            .map(|t| format!("<deprecationTime>{}</deprecationTime>", ts(t)))
            .unwrap_or_default(),
        protection = i.protection.state(now),
        tags = tag_set(&i.tags),
    )
}

fn describe_images(world: &World, region: &str, form: &Form, now: DateTime<Utc>) -> Answer {
    let owners: Vec<String> = list(form, "Owner")
        .into_iter()
        .map(|o| {
            if o == "self" {
                SIM_ACCOUNT.to_owned()
            } else {
                o
            }
        })
        .collect();
    let ids = list(form, "ImageId");
    let filters = filters(form);
    let r = &world.regions[region];
    for id in &ids {
        if !r.images.contains_key(id) {
            return Err(bad(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            ));
        }
    }
    let items: String = r
        .images
        .values()
        .filter(|i| ids.is_empty() || ids.contains(&i.id))
        .filter(|i| owners.is_empty() || owners.contains(&i.owner))
        .filter(|i| {
            filters.iter().all(|(name, values)| {
                let matches = |v: &str| -> bool {
                    match name.as_str() {
                        "name" => wildcard(v, &i.name),
                        "architecture" => v == i.arch,
                        "state" => v == i.state(now),
                        "root-device-type" => v == "ebs",
                        "virtualization-type" => v == "hvm",
                        "is-public" => v == i.public.to_string(),
                        "image-id" => wildcard(v, &i.id),
                        tag if tag.starts_with("tag:") => {
                            i.tags.get(&tag[4..]).is_some_and(|t| wildcard(v, t))
                        }
                        "tag-key" => i.tags.contains_key(v),
                        _ => false,
                    }
                };
                values.iter().any(|v| matches(v))
            })
        })
        .map(|i| image_xml(i, now))
        .collect();
    Ok(wrap(
        "DescribeImages",
        &format!("<imagesSet>{items}</imagesSet>"),
    ))
}

fn describe_image_attribute(world: &World, region: &str, form: &Form) -> Answer {
    let id = required(form, "ImageId")?;
    let attribute = required(form, "Attribute")?;
    let image = world.regions[region].images.get(id).ok_or_else(|| {
        bad(
            "InvalidAMIID.NotFound",
            format!("The image id '[{id}]' does not exist"),
        )
    })?;
    if attribute != "launchPermission" {
        return Err(bad(
            "InvalidParameterValue",
            format!("attribute {attribute} is not simulated"),
        ));
    }
    let mut perms = String::new();
    if image.public {
        perms.push_str("<item><group>all</group></item>");
    }
    for user in &image.users {
        let _ = write!(perms, "<item><userId>{user}</userId></item>");
    }
    Ok(wrap(
        "DescribeImageAttribute",
        &format!("<imageId>{id}</imageId><launchPermission>{perms}</launchPermission>"),
    ))
}

fn instance_xml(i: &Instance, now: DateTime<Utc>, cfg: &SimConfig) -> String {
    let (state, code) = i.state(now, cfg);
    format!(
        "<item><instanceId>{id}</instanceId><imageId>{image}</imageId><instanceState><code>{code}</code><name>{state}</name></instanceState>\
         <privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName><dnsName>ec2-198-51-100-1.compute-1.amazonaws.com</dnsName>\
         <instanceType>{itype}</instanceType><launchTime>{launched}</launchTime><architecture>{arch}</architecture>\
         <rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/sda1</rootDeviceName>{token}\
         <blockDeviceMapping><item><deviceName>/dev/sda1</deviceName><ebs><volumeId>vol-{suffix}</volumeId><status>attached</status></ebs></item></blockDeviceMapping>\
         {tags}</item>",
        id = i.id,
        image = i.image_id,
        itype = i.instance_type,
        launched = ts(i.launched_at),
        arch = i.arch,
        token = i
            .client_token
            .as_ref()
            .map(|t| format!("<clientToken>{}</clientToken>", esc(t)))
            .unwrap_or_default(),
        suffix = &i.id[2..],
        tags = tag_set(&i.visible_tags(now, cfg)),
    )
}

fn reservation(items: &str) -> String {
    format!(
        "<reservationId>r-{:017x}</reservationId><ownerId>{SIM_ACCOUNT}</ownerId><groupSet/><instancesSet>{items}</instancesSet>",
        rand::rng().random::<u64>() >> 4
    )
}

fn get_console_output(
    world: &World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    use base64::Engine as _;
    let id = required(form, "InstanceId")?;
    let instance = world.regions[region].instances.get(id).ok_or_else(|| {
        bad(
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{id}' does not exist"),
        )
    })?;
    let console = instance.console(now, cfg);
    let output = if console.is_empty() {
        String::new()
    } else {
        format!(
            "<output>{}</output>",
            base64::engine::general_purpose::STANDARD.encode(console)
        )
    };
    Ok(wrap(
        "GetConsoleOutput",
        &format!(
            "<instanceId>{id}</instanceId><timestamp>{}</timestamp>{output}",
            ts(now)
        ),
    ))
}

fn run_instances(
    world: &mut World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    let image_id = required(form, "ImageId")?.to_owned();
    let instance_type = required(form, "InstanceType")?.to_owned();
    let token = get(form, "ClientToken").map(str::to_owned);
    let cfg_volume = get(form, "BlockDeviceMapping.1.Ebs.VolumeSize").and_then(|v| v.parse().ok());
    let user_data = get(form, "UserData").unwrap_or_default();
    let r = world.region_mut(region)?;
    if let Some(t) = &token
        && let Some(existing) = r
            .instances
            .values()
            .find(|i| i.client_token.as_ref() == Some(t))
    {
        if existing.image_id != image_id || existing.instance_type != instance_type {
            return Err(bad(
                "IdempotentParameterMismatch",
                "The client token was already used with different parameters",
            ));
        }
        return Ok(wrap(
            "RunInstances",
            &reservation(&instance_xml(existing, now, cfg)),
        ));
    }
    let image = r.images.get(&image_id).ok_or_else(|| {
        bad(
            "InvalidAMIID.NotFound",
            format!("The image id '[{image_id}]' does not exist"),
        )
    })?;
    let family_arm = instance_type
        .split('.')
        .next()
        .is_some_and(|f| f.ends_with('g') || f.contains("gd") || f.starts_with("a1"));
    let type_arch = if family_arm { "arm64" } else { "x86_64" };
    if type_arch != image.arch {
        return Err(bad(
            "InvalidParameterValue",
            format!(
                "The architecture '{type_arch}' of the specified instance type does not match the architecture '{}' of the specified AMI.",
                image.arch
            ),
        ));
    }
    let arch = image.arch.clone();
    let volume_gb = cfg_volume.unwrap_or(image.volume_gb);
    let decoded = if user_data.is_empty() {
        Vec::new()
    } else {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(user_data)
            .map_err(|_| {
                bad(
                    "InvalidParameterValue",
                    "Invalid BASE64 encoding of user data.",
                )
            })?
    };
    if decoded.len() > MAX_USER_DATA_BYTES {
        return Err(bad(
            "InvalidParameterValue",
            format!(
                "User data is limited to {MAX_USER_DATA_BYTES} bytes; got {}.",
                decoded.len()
            ),
        ));
    }
    let id = world.id("i");
    let instance = Instance {
        id: id.clone(),
        image_id,
        instance_type,
        arch,
        launched_at: now,
        tags: tag_specs(form, "instance"),
        client_token: token,
        builder: !decoded.is_empty(),
        install_failure: cfg.install_failure.clone(),
        user_data: String::from_utf8_lossy(&decoded).into_owned(),
        stop_at: None,
        terminated_at: None,
        volume_gb,
    };
    let xml = instance_xml(&instance, now, &SimConfig::default());
    world.region_mut(region)?.instances.insert(id, instance);
    Ok(wrap("RunInstances", &reservation(&xml)))
}

fn describe_instances(
    world: &World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    let ids = list(form, "InstanceId");
    let filters = filters(form);
    let r = &world.regions[region];
    for id in &ids {
        if !r.instances.contains_key(id) {
            return Err(bad(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{id}' does not exist"),
            ));
        }
    }
    let items: String = r
        .instances
        .values()
        .filter(|i| ids.is_empty() || ids.contains(&i.id))
        .filter(|i| {
            let tags = i.visible_tags(now, cfg);
            filters.iter().all(|(name, values)| {
                values.iter().any(|v| match name.as_str() {
                    "instance-state-name" => v == i.state(now, cfg).0,
                    "client-token" => i.client_token.as_deref() == Some(v.as_str()),
                    tag if tag.starts_with("tag:") => {
                        tags.get(&tag[4..]).is_some_and(|t| wildcard(v, t))
                    }
                    "tag-key" => tags.contains_key(v),
                    _ => false,
                })
            })
        })
        .map(|i| format!("<item>{}</item>", reservation(&instance_xml(i, now, cfg))))
        .collect();
    Ok(wrap(
        "DescribeInstances",
        &format!("<reservationSet>{items}</reservationSet>"),
    ))
}

fn change_instances(
    world: &mut World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
    action: &str,
) -> Answer {
    let ids = list(form, "InstanceId");
    let r = world.region_mut(region)?;
    let mut items = String::new();
    for id in ids {
        let i = r.instances.get_mut(&id).ok_or_else(|| {
            bad(
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{id}' does not exist"),
            )
        })?;
        let (before, before_code) = i.state(now, cfg);
        if action == "StopInstances" {
            if i.terminated_at.is_some() {
                return Err(bad(
                    "IncorrectInstanceState",
                    format!("The instance '{id}' is not in a state from which it can be stopped."),
                ));
            }
            i.stop_at.get_or_insert(now);
        } else {
            i.terminated_at.get_or_insert(now);
        }
        let (after, after_code) = i.state(now, cfg);
        let _ = write!(
            items,
            "<item><instanceId>{id}</instanceId><currentState><code>{after_code}</code><name>{after}</name></currentState><previousState><code>{before_code}</code><name>{before}</name></previousState></item>"
        );
    }
    Ok(wrap(
        action,
        &format!("<instancesSet>{items}</instancesSet>"),
    ))
}

fn create_image(
    world: &mut World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    let instance_id = required(form, "InstanceId")?.to_owned();
    let name = required(form, "Name")?.to_owned();
    let description = get(form, "Description").unwrap_or_default().to_owned();
    let (image_id, snap_id) = (world.id("ami"), world.id("snap"));
    let r = world.region_mut(region)?;
    let instance = r.instances.get(&instance_id).ok_or_else(|| {
        bad(
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{instance_id}' does not exist"),
        )
    })?;
    if instance.terminated_at.is_some() {
        return Err(bad(
            "IncorrectInstanceState",
            format!("Instance '{instance_id}' is terminated"),
        ));
    }
    if r.images
        .values()
        .any(|i| i.owner == SIM_ACCOUNT && i.name == name)
    {
        return Err(bad(
            "InvalidAMIName.Duplicate",
            format!("AMI name {name} is already in use by AMI"),
        ));
    }
    let (arch, volume_gb) = (instance.arch.clone(), instance.volume_gb);
    r.snapshots.insert(
        snap_id.clone(),
        Snapshot {
            id: snap_id.clone(),
            volume_gb,
            created_at: now,
            description: format!("Created by CreateImage({instance_id}) for {image_id}"),
        },
    );
    r.images.insert(
        image_id.clone(),
        Image {
            id: image_id.clone(),
            name,
            description,
            owner: SIM_ACCOUNT.to_owned(),
            arch,
            created_at: now,
            available_at: now + cfg.image_delay,
            public: false,
            users: BTreeSet::new(),
            tags: tag_specs(form, "image"),
            snapshot_id: snap_id,
            volume_gb,
            deprecate_at: None,
            client_token: None,
            protection: Protection::Disabled,
        },
    );
    Ok(wrap(
        "CreateImage",
        &format!("<imageId>{image_id}</imageId>"),
    ))
}

fn create_tags(world: &mut World, region: &str, form: &Form) -> Answer {
    let ids = list(form, "ResourceId");
    let mut tags = Vec::new();
    for j in 1.. {
        let Some(key) = get(form, &format!("Tag.{j}.Key")) else {
            break;
        };
        tags.push((
            key.to_owned(),
            get(form, &format!("Tag.{j}.Value"))
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    let r = world.region_mut(region)?;
    for id in ids {
        let target = if let Some(i) = r.images.get_mut(&id) {
            &mut i.tags
        } else if let Some(i) = r.instances.get_mut(&id) {
            &mut i.tags
        } else {
            return Err(bad("InvalidID", format!("The ID '{id}' is not valid")));
        };
        target.extend(tags.iter().cloned());
    }
    Ok(wrap("CreateTags", "<return>true</return>"))
}

fn copy_image(
    world: &mut World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    let source_region = required(form, "SourceRegion")?.to_owned();
    let source_id = required(form, "SourceImageId")?.to_owned();
    let name = required(form, "Name")?.to_owned();
    let token = get(form, "ClientToken").map(str::to_owned);
    if let Some(t) = &token
        && let Some(existing) = world.regions.get(region).and_then(|r| {
            r.images
                .values()
                .find(|i| i.client_token.as_ref() == Some(t))
        })
    {
        return Ok(wrap(
            "CopyImage",
            &format!("<imageId>{}</imageId>", existing.id),
        ));
    }
    let source = world
        .regions
        .get(&source_region)
        .and_then(|r| r.images.get(&source_id))
        .cloned()
        .ok_or_else(|| {
            bad(
                "InvalidAMIID.NotFound",
                format!("The image id '[{source_id}]' does not exist in {source_region}"),
            )
        })?;
    if source.state(now) != "available" {
        return Err(bad(
            "IncorrectState",
            format!("Image {source_id} is not in a valid state for copying"),
        ));
    }
    if world.regions.get(region).is_some_and(|r| {
        r.images
            .values()
            .any(|i| i.owner == SIM_ACCOUNT && i.name == name)
    }) {
        return Err(bad(
            "InvalidAMIName.Duplicate",
            format!("AMI name {name} is already in use by AMI"),
        ));
    }
    let (image_id, snap_id) = (world.id("ami"), world.id("snap"));
    let r = world.region_mut(region)?;
    r.snapshots.insert(
        snap_id.clone(),
        Snapshot {
            id: snap_id.clone(),
            volume_gb: source.volume_gb,
            created_at: now,
            description: format!("Copied for DestinationAmi {image_id} from SourceAmi {source_id}"),
        },
    );
    r.images.insert(
        image_id.clone(),
        Image {
            id: image_id.clone(),
            name,
            description: get(form, "Description")
                .unwrap_or(&source.description)
                .to_owned(),
            owner: SIM_ACCOUNT.to_owned(),
            arch: source.arch,
            created_at: now,
            available_at: now + cfg.image_delay,
            public: false,
            users: BTreeSet::new(),
            tags: if get(form, "CopyImageTags") == Some("true") {
                source.tags
            } else {
                BTreeMap::new()
            },
            snapshot_id: snap_id,
            volume_gb: source.volume_gb,
            deprecate_at: None,
            client_token: token,
            protection: Protection::Disabled,
        },
    );
    Ok(wrap("CopyImage", &format!("<imageId>{image_id}</imageId>")))
}

fn modify_image_attribute(
    world: &mut World,
    region: &str,
    form: &Form,
    now: DateTime<Utc>,
    cfg: &SimConfig,
) -> Answer {
    let id = required(form, "ImageId")?.to_owned();
    let add_groups =
        list(form, "LaunchPermission.Add")
            .into_iter()
            .chain((1..).map_while(|i| {
                get(form, &format!("LaunchPermission.Add.{i}.Group")).map(str::to_owned)
            }));
    let add_groups: Vec<String> = add_groups.filter(|g| g == "all").collect();
    let add_users: Vec<String> = (1..)
        .map_while(|i| get(form, &format!("LaunchPermission.Add.{i}.UserId")).map(str::to_owned))
        .collect();
    let remove_all = (1..)
        .map_while(|i| get(form, &format!("LaunchPermission.Remove.{i}.Group")).map(str::to_owned))
        .any(|g| g == "all");
    let remove_users: Vec<String> = (1..)
        .map_while(|i| get(form, &format!("LaunchPermission.Remove.{i}.UserId")).map(str::to_owned))
        .collect();
    let public_now = world
        .regions
        .get(region)
        .map_or(0, |r| r.public_images(now));
    let quota = cfg.public_image_quota_in(region);
    let image = image_mut(world, region, &id)?;
    if !add_groups.is_empty() && !image.public && public_now >= quota {
        return Err(bad(
            "ResourceLimitExceeded",
            format!(
                "You have reached your quota of {quota} for the number of public AMIs allowed in this Region ({public_now} public, the Recycle Bin's included).",
            ),
        ));
    }
    if !add_groups.is_empty() {
        image.public = true;
    }
    if remove_all {
        image.public = false;
    }
    image.users.extend(add_users);
    for u in remove_users {
        image.users.remove(&u);
    }
    Ok(wrap("ModifyImageAttribute", "<return>true</return>"))
}

/// Answers a request to `POST /`: EC2's Query protocol (a form body), or a service of the
/// AWS JSON protocol that names its operation in `X-Amz-Target` (Service Quotas).
async fn handle(State(sim): State<Ec2Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let region = region_of(&headers).unwrap_or_else(|| "us-east-1".to_owned());
    if let Some(target) = headers.get("x-amz-target") {
        let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
        let response = super::servicequotas::handle(&sim, &region, &target, &body);
        let mut world = sim.world.lock().unwrap_or_else(PoisonError::into_inner);
        world.requests += 1;
        world.busy_nanos += started.elapsed().as_nanos();
        return response;
    }
    let form: Form = form_urlencoded(&body);
    let answer = sim.answer(&region, &form);
    sim.world
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .busy_nanos += started.elapsed().as_nanos();
    match answer {
        Ok(xml) => ([(header::CONTENT_TYPE, "text/xml;charset=UTF-8")], xml).into_response(),
        Err(f) => {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
                esc(&f.code),
                esc(&f.message),
                uuid::Uuid::new_v4()
            );
            (
                f.status,
                [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
                xml,
            )
                .into_response()
        }
    }
}

fn form_urlencoded(body: &[u8]) -> Form {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'+', _) => out.push(b' '),
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 2;
                }
                (b, _) => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_like_ec2() {
        assert!(wildcard(
            "ubuntu/images/*ubuntu-noble-24.04-arm64-server-*",
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261001"
        ));
        assert!(!wildcard(
            "ubuntu/images/*ubuntu-noble-24.04-amd64-server-*",
            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20261001"
        ));
        assert!(wildcard("GitLab CE 17.?.1", "GitLab CE 17.5.1"));
    }

    fn form(pairs: &[(&str, &str)]) -> Form {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A folder of the test's own, removed when it ends.
    struct Folder(std::path::PathBuf);

    impl Folder {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("portal-sim-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("folder");
            Folder(dir)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn image_state(sim: &Ec2Sim, id: &str) -> String {
        let xml = sim
            .answer(
                "us-east-1",
                &form(&[("Action", "DescribeImages"), ("ImageId.1", id)]),
            )
            .unwrap_or_else(|f| f.message);
        between(&xml, "imageState")
    }

    #[tokio::test]
    async fn what_is_under_way_goes_on_after_a_restart_from_the_world_file() {
        use app::services::ManualClock;
        let folder = Folder::new();
        let path = folder.0.join(super::super::WORLD_FILE);
        let start = Utc::now();
        let clock = Arc::new(ManualClock::new(start));
        let config = SimConfig {
            image_delay: Duration::minutes(10),
            ..SimConfig::instant()
        };
        let mut sim = Ec2Sim::new(clock.clone(), config.clone());
        assert!(!sim.keep_in(&path).expect("no file yet"), "nothing to load");
        let image = image_of_instance(
            &sim,
            &[("UserData", "IyEvYmluL3NoCg==")],
            "GitLab CE 17.7.0",
        );
        sim.save().await.expect("saved");
        assert_eq!(image_state(&sim, &image), "pending");

        // Another simulator on the same file is refused while this one keeps it.
        let err = Ec2Sim::new(clock.clone(), config.clone())
            .keep_in(&path)
            .expect_err("kept by the first");
        assert!(
            format!("{err:#}").contains("is kept by another portal process"),
            "{err:#}"
        );

        // Restarted: the image is still on its way, and becomes available on time.
        sim.shut_down();
        let mut restarted = Ec2Sim::new(clock.clone(), config);
        assert!(
            restarted.keep_in(&path).expect("loaded"),
            "the file is used"
        );
        assert_eq!(image_state(&restarted, &image), "pending");
        assert_eq!(restarted.counts("us-east-1").instances, 1);
        clock.set(start + Duration::minutes(10));
        assert_eq!(image_state(&restarted, &image), "available");
        // New ids go on from where the world left off.
        let copy = restarted
            .answer(
                "eu-west-1",
                &form(&[
                    ("Action", "CopyImage"),
                    ("SourceRegion", "us-east-1"),
                    ("SourceImageId", &image),
                    ("Name", "GitLab CE 17.7.0"),
                ]),
            )
            .unwrap_or_else(|f| f.message);
        let copy = between(&copy, "imageId");
        assert!(copy[4..] > image[4..], "{copy} is newer than {image}");
    }

    #[test]
    fn a_world_file_of_another_layout_is_refused() {
        use app::services::ManualClock;
        let folder = Folder::new();
        let path = folder.0.join(super::super::WORLD_FILE);
        std::fs::write(&path, br#"{"format": 99, "ec2": {}, "marketplace": {}}"#).expect("write");
        let err = Ec2Sim::new(Arc::new(ManualClock::new(Utc::now())), SimConfig::instant())
            .keep_in(&path)
            .expect_err("refused");
        let err = format!("{err:#}");
        assert!(err.contains("holds a world of layout 99"), "{err}");
        assert!(err.contains("Move it away"), "{err}");
    }

    /// Launches an instance of a Canonical image in us-east-1 (with `launch`'s parameters
    /// besides) and makes an image of it, as the console does; answers the image id.
    fn image_of_instance(sim: &Ec2Sim, launch: &[(&str, &str)], name: &str) -> String {
        let base = canonical_image(sim);
        let mut run = vec![
            ("Action", "RunInstances"),
            ("ImageId", base.as_str()),
            ("InstanceType", "c5.xlarge"),
        ];
        run.extend_from_slice(launch);
        let launched = sim
            .answer("us-east-1", &form(&run))
            .unwrap_or_else(|f| f.message);
        let instance = between(&launched, "instanceId");
        assert!(!instance.is_empty(), "no instance: {launched}");
        let created = sim
            .answer(
                "us-east-1",
                &form(&[
                    ("Action", "CreateImage"),
                    ("InstanceId", &instance),
                    ("Name", name),
                ]),
            )
            .unwrap_or_else(|f| f.message);
        let image = between(&created, "imageId");
        assert!(!image.is_empty(), "no image: {created}");
        image
    }

    /// A simulator at `start` on a clock the test moves, and an image of this account in
    /// us-east-1 (made from an instance, as the console does).
    fn sim_with_image(config: SimConfig) -> (Ec2Sim, Arc<app::services::ManualClock>, String) {
        let clock = Arc::new(app::services::ManualClock::new(Utc::now()));
        let sim = Ec2Sim::new(clock.clone(), config);
        let image = image_of_instance(&sim, &[], "hand-made 1");
        (sim, clock, image)
    }

    /// One of Canonical's amd64 images in us-east-1, as the simulator starts with them.
    fn canonical_image(sim: &Ec2Sim) -> String {
        sim.world
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .regions["us-east-1"]
            .images
            .values()
            .find(|i| i.owner != SIM_ACCOUNT && i.arch == "x86_64")
            .map(|i| i.id.clone())
            .expect("a Canonical image")
    }

    /// Copies an image within us-east-1 under `name`; answers the copy's id.
    fn copy_of(sim: &Ec2Sim, source: &str, name: &str) -> String {
        between(
            &call(
                sim,
                &[
                    ("Action", "CopyImage"),
                    ("SourceRegion", "us-east-1"),
                    ("SourceImageId", source),
                    ("Name", name),
                ],
            )
            .expect("copied"),
            "imageId",
        )
    }

    /// Makes an image of us-east-1 public, as the console's launch permissions do.
    fn share_with_all(sim: &Ec2Sim, image: &str) -> Result<String, (String, String)> {
        call(
            sim,
            &[
                ("Action", "ModifyImageAttribute"),
                ("ImageId", image),
                ("LaunchPermission.Add.1.Group", "all"),
            ],
        )
    }

    fn between(xml: &str, element: &str) -> String {
        xml.split(&format!("<{element}>"))
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_default()
            .to_owned()
    }

    fn call(sim: &Ec2Sim, pairs: &[(&str, &str)]) -> Result<String, (String, String)> {
        sim.answer("us-east-1", &form(pairs))
            .map_err(|f| (f.code, f.message))
    }

    #[test]
    fn a_protected_image_is_not_deregistered_until_its_protection_and_cooldown_end() {
        let (sim, clock, image) = sim_with_image(SimConfig::instant());
        let protection = |sim: &Ec2Sim| {
            between(
                &call(sim, &[("Action", "DescribeImages"), ("ImageId.1", &image)])
                    .expect("described"),
                "deregistrationProtection",
            )
        };
        assert_eq!(protection(&sim), "disabled");
        let on = call(
            &sim,
            &[
                ("Action", "EnableImageDeregistrationProtection"),
                ("ImageId", &image),
            ],
        )
        .expect("enabled");
        assert_eq!(between(&on, "return"), "enabled-without-cooldown");
        assert_eq!(protection(&sim), "enabled-without-cooldown");
        let (code, message) =
            call(&sim, &[("Action", "DeregisterImage"), ("ImageId", &image)]).expect_err("refused");
        assert_eq!(code, "OperationNotPermitted");
        assert!(message.contains("deregistration protection"), "{message}");

        // Turned on again with a cooldown, then off: still refused for 24 hours.
        let on = call(
            &sim,
            &[
                ("Action", "EnableImageDeregistrationProtection"),
                ("ImageId", &image),
                ("WithCooldown", "true"),
            ],
        )
        .expect("enabled");
        assert_eq!(between(&on, "return"), "enabled-with-cooldown");
        let off = call(
            &sim,
            &[
                ("Action", "DisableImageDeregistrationProtection"),
                ("ImageId", &image),
            ],
        )
        .expect("disabled");
        assert!(
            between(&off, "return").starts_with("disabled-until-"),
            "{off}"
        );
        assert_eq!(protection(&sim), between(&off, "return"));
        clock.set(clock.now() + Duration::hours(23));
        assert_eq!(
            call(&sim, &[("Action", "DeregisterImage"), ("ImageId", &image)])
                .expect_err("still cooling down")
                .0,
            "OperationNotPermitted"
        );
        clock.set(clock.now() + Duration::hours(1));
        assert_eq!(protection(&sim), "disabled");
        call(&sim, &[("Action", "DeregisterImage"), ("ImageId", &image)]).expect("deregistered");
        assert!(!sim.own_images("us-east-1").contains_key(&image));
    }

    #[test]
    fn the_recycle_bin_keeps_a_deregistered_image_for_its_days_and_it_still_counts() {
        let config = SimConfig {
            public_image_quota: 1,
            recycle_bin_days: 7,
            ..SimConfig::instant()
        };
        let (sim, clock, image) = sim_with_image(config);
        share_with_all(&sim, &image).expect("public");
        call(&sim, &[("Action", "DeregisterImage"), ("ImageId", &image)]).expect("deregistered");
        let listed = call(&sim, &[("Action", "ListImagesInRecycleBin")]).expect("listed");
        assert_eq!(between(&listed, "imageId"), image);
        assert_eq!(between(&listed, "name"), "hand-made 1");
        assert_eq!(
            between(&listed, "recycleBinExitTime"),
            ts(clock.now() + Duration::days(7))
        );
        // The public image in the Recycle Bin still takes the region's one public slot.
        let second = copy_of(&sim, &canonical_image(&sim), "hand-made 2");
        let (code, _) = share_with_all(&sim, &second).expect_err("over the quota");
        assert_eq!(code, "ResourceLimitExceeded");
        // Seven days later it has left the bin, and the slot is free.
        clock.set(clock.now() + Duration::days(7));
        let listed = call(&sim, &[("Action", "ListImagesInRecycleBin")]).expect("listed");
        assert_eq!(between(&listed, "imageId"), "");
        share_with_all(&sim, &second).expect("public now");
    }

    #[test]
    fn without_a_recycle_bin_rule_a_deregistered_image_is_gone() {
        let (sim, _clock, image) = sim_with_image(SimConfig::instant());
        call(&sim, &[("Action", "DeregisterImage"), ("ImageId", &image)]).expect("deregistered");
        let listed = call(&sim, &[("Action", "ListImagesInRecycleBin")]).expect("listed");
        assert_eq!(between(&listed, "imageSet"), "", "{listed}");
    }

    #[test]
    fn each_region_enforces_its_own_public_image_quota() {
        let mut config = SimConfig {
            public_image_quota: 1,
            ..SimConfig::instant()
        };
        config.public_image_quotas.insert("us-east-1".into(), 2);
        let (sim, _clock, first) = sim_with_image(config);
        assert_eq!(sim.public_image_quota("us-east-1"), 2);
        assert_eq!(sim.public_image_quota("eu-west-1"), 1);
        let second = copy_of(&sim, &first, "hand-made 2");
        let third = copy_of(&sim, &first, "hand-made 3");
        let publish = |image: &str| {
            share_with_all(&sim, image).map_err(|(code, message)| format!("{code}: {message}"))
        };
        publish(&first).expect("first public");
        publish(&second).expect("second public: the region's quota is 2, not the default 1");
        let refused = publish(&third).expect_err("third over the quota");
        assert!(
            refused.starts_with("ResourceLimitExceeded: You have reached your quota of 2"),
            "{refused}"
        );
    }

    #[test]
    fn a_world_file_of_before_protection_and_the_recycle_bin_still_loads() {
        let (sim, _clock, image) = sim_with_image(SimConfig::instant());
        let mut value = sim.world_value().expect("world");
        // What an older portal wrote: no protection on images, no Recycle Bin in regions.
        for region in value["regions"]
            .as_object_mut()
            .expect("regions")
            .values_mut()
        {
            let region = region.as_object_mut().expect("region");
            region.remove("recycle_bin");
            for image in region["images"]
                .as_object_mut()
                .expect("images")
                .values_mut()
            {
                image.as_object_mut().expect("image").remove("protection");
            }
        }
        let world: World = serde_json::from_value(value).expect("an older world loads");
        assert_eq!(
            world.regions["us-east-1"].images[&image].protection,
            Protection::Disabled
        );
        assert!(world.regions["us-east-1"].recycle_bin.is_empty());
    }

    #[test]
    fn form_bodies_decode() {
        let form = form_urlencoded(b"Action=DescribeImages&Filter.1.Name=name&Filter.1.Value.1=ubuntu%2Fimages%2F*noble*&Owner.1=099720109477");
        assert_eq!(
            get(&form, "Filter.1.Value.1"),
            Some("ubuntu/images/*noble*")
        );
        assert_eq!(list(&form, "Owner"), ["099720109477"]);
    }
}
