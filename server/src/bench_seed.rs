//! `portal seed-bench`: a catalogue the size of GitLab's real history, for measuring the
//! portal (`cargo xtask bench`). It starts as any portal does (migrations, the real
//! catalogue, the development users, GitLab's approved listing copy and the sample license
//! files), then adds in batches, inside one transaction: more cloud partners, a sixth
//! product (DigitalOcean's 1-Click image), the release history from GitLab 14.0.0 on with
//! every image version and its regional images (security rebuilds of the AWS images
//! included), the listings' marketplace versions and the finished build and publish jobs
//! behind them. The newest release is then recorded as any release is (its maintenance runs
//! open and its train starts), so the dashboard and the train page show one under way.

use std::{collections::HashMap, fmt};

use anyhow::{Context as _, Result, bail};
use app::{
    domain::{
        Arch, Cloud, ImageSource, ImageState, ListingVersionVisibility, RegionImageState,
        ReleaseKind, Version, VersionSource, Visibility,
    },
    dto::{PartnerInput, ProductArchitectureInput, ProductInput, ReleaseInput},
    services::{
        builds::{BuildImage, release_group},
        entities::{
            image_region, image_version, job, job_event, listing, listing_version, partner,
            product, product_architecture, release,
        },
        images,
        jobs::JobKind as _,
        partners, products,
        publish::PublishVersion,
        secrets::SecretKey,
        seed, trains, users,
    },
};
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryOrder, TransactionTrait,
};
use sha2::{Digest as _, Sha256};

/// How big a catalogue to make. The defaults are the size of GitLab's real history.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchSize {
    /// Cloud partners in all, the real catalogue's three and DigitalOcean included (4–20).
    #[arg(long, env = "PORTAL_BENCH_PARTNERS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(4..=20))]
    pub partners: u32,
    /// Releases, from GitLab 14.0.0 on, ten patch releases to a minor; the newest is recorded with its train.
    #[arg(long, env = "PORTAL_BENCH_RELEASES", default_value_t = 500, value_parser = clap::value_parser!(u32).range(2..=5000))]
    pub releases: u32,
    /// Image versions in all: one per release, product and architecture (the newest release's are still to be built), then security rebuilds of the AWS images, newest releases first, up to this number.
    #[arg(long, env = "PORTAL_BENCH_IMAGE_VERSIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub image_versions: u32,
    /// Regional images in all, spread evenly over the image versions (each within its product's target regions).
    #[arg(long, env = "PORTAL_BENCH_REGIONAL_IMAGES", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub regional_images: u32,
    /// Marketplace versions over the listings, newest releases first; the oldest past each listing's restriction threshold are restricted.
    #[arg(long, env = "PORTAL_BENCH_LISTING_VERSIONS", default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub listing_versions: u32,
    /// Finished build and publish jobs (with their logs), newest releases first.
    #[arg(long, env = "PORTAL_BENCH_JOBS", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub jobs: u32,
}

impl Default for BenchSize {
    fn default() -> Self {
        BenchSize {
            partners: 20,
            releases: 500,
            image_versions: 10_000,
            regional_images: 100_000,
            listing_versions: 200,
            jobs: 1_000,
        }
    }
}

/// What the catalogue holds afterwards, and where a benchmark finds its pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchReport {
    pub partners: u64,
    pub products: u64,
    pub releases: u64,
    pub image_versions: u64,
    pub regional_images: u64,
    pub listings: u64,
    pub listing_versions: u64,
    pub jobs: u64,
    /// The newest release: recorded last, its train under way.
    pub newest_release: String,
    /// The newest release with its images built: the one to look images up in.
    pub lookup_release: String,
    /// A listing with marketplace versions.
    pub listing_id: i32,
}

impl fmt::Display for BenchReport {
    /// One `name=value` line each, for people and for the benchmark that reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "partners={}", self.partners)?;
        writeln!(f, "products={}", self.products)?;
        writeln!(f, "releases={}", self.releases)?;
        writeln!(f, "image_versions={}", self.image_versions)?;
        writeln!(f, "regional_images={}", self.regional_images)?;
        writeln!(f, "listings={}", self.listings)?;
        writeln!(f, "listing_versions={}", self.listing_versions)?;
        writeln!(f, "jobs={}", self.jobs)?;
        writeln!(f, "newest_release={}", self.newest_release)?;
        writeln!(f, "lookup_release={}", self.lookup_release)?;
        write!(f, "listing_id={}", self.listing_id)
    }
}

/// Patch releases of each minor, the regular release included.
const RELEASES_PER_MINOR: u32 = 10;
/// The newest minors whose public images are still public; older ones were retired.
const SUPPORTED_MINORS: u32 = 3;
/// Public marketplace versions kept per listing; older ones are restricted.
const PUBLIC_VERSIONS_PER_LISTING: usize = 85;
/// Rows per INSERT: well within SQLite's and PostgreSQL's limits on bound values.
const BATCH: usize = 500;

/// Partners beside the real catalogue's (AWS, Azure, Google Cloud), DigitalOcean first: it
/// gets the sixth product.
const MORE_PARTNERS: &[(&str, &str, Cloud, &str, &str)] = &[
    (
        "digitalocean",
        "DigitalOcean",
        Cloud::DigitalOcean,
        "live",
        "https://docs.digitalocean.com/products/marketplace/",
    ),
    (
        "oracle-cloud",
        "Oracle Cloud Infrastructure",
        Cloud::Other,
        "onboarding",
        "https://docs.oracle.com/en-us/iaas/Content/Marketplace/home.htm",
    ),
    (
        "akamai-linode",
        "Akamai Cloud (Linode)",
        Cloud::Other,
        "live",
        "https://www.linode.com/docs/marketplace/",
    ),
    (
        "vultr",
        "Vultr",
        Cloud::Other,
        "onboarding",
        "https://docs.vultr.com/marketplace",
    ),
    (
        "ibm-cloud",
        "IBM Cloud",
        Cloud::Other,
        "prospect",
        "https://cloud.ibm.com/docs/account?topic=account-catalog-vsi-images",
    ),
    (
        "alibaba-cloud",
        "Alibaba Cloud",
        Cloud::Other,
        "prospect",
        "https://www.alibabacloud.com/help/en/marketplace",
    ),
    (
        "hetzner",
        "Hetzner Cloud",
        Cloud::Other,
        "prospect",
        "https://docs.hetzner.com/cloud/apps/overview/",
    ),
    (
        "ovhcloud",
        "OVHcloud",
        Cloud::Other,
        "prospect",
        "https://help.ovhcloud.com/csm/en-public-cloud-compute-images",
    ),
    (
        "scaleway",
        "Scaleway",
        Cloud::Other,
        "prospect",
        "https://www.scaleway.com/en/docs/instances/how-to/use-marketplace-images/",
    ),
    (
        "tencent-cloud",
        "Tencent Cloud",
        Cloud::Other,
        "prospect",
        "https://www.tencentcloud.com/document/product/213/4941",
    ),
    (
        "upcloud",
        "UpCloud",
        Cloud::Other,
        "prospect",
        "https://upcloud.com/docs/products/cloud-servers/",
    ),
    (
        "exoscale",
        "Exoscale",
        Cloud::Other,
        "prospect",
        "https://community.exoscale.com/documentation/compute/templates/",
    ),
    (
        "civo",
        "Civo",
        Cloud::Other,
        "onboarding",
        "https://www.civo.com/docs/marketplace",
    ),
    (
        "open-telekom-cloud",
        "Open Telekom Cloud",
        Cloud::Other,
        "prospect",
        "https://docs.otc.t-systems.com/image-management-service/",
    ),
    (
        "huawei-cloud",
        "Huawei Cloud",
        Cloud::Other,
        "retired",
        "https://support.huaweicloud.com/intl/en-us/marketplace/",
    ),
    (
        "rackspace",
        "Rackspace Technology",
        Cloud::Other,
        "retired",
        "https://docs.rackspace.com/docs/",
    ),
    (
        "equinix-metal",
        "Equinix Metal",
        Cloud::Other,
        "retired",
        "https://deploy.equinix.com/developers/docs/metal/",
    ),
];

/// One release of the planned history.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PlannedRelease {
    version: Version,
    released_on: NaiveDate,
    kind: ReleaseKind,
    notes_url: String,
    /// Which minor of the history (0 for the oldest).
    minor_index: u32,
}

/// GitLab's release history, `count` releases from 14.0.0 on: ten to a minor (the regular
/// release on the minor's day, a patch every three days after it, every third a security
/// release), a minor a month, the newest released on `today`.
fn plan_releases(count: u32, today: NaiveDate) -> Vec<PlannedRelease> {
    let minors = count.div_ceil(RELEASES_PER_MINOR);
    let last_span = Duration::days(3 * i64::from(RELEASES_PER_MINOR - 1));
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..minors {
        let major = 14 + i / 12;
        let minor = i % 12;
        let in_this = if i + 1 == minors {
            count - RELEASES_PER_MINOR * (minors - 1)
        } else {
            RELEASES_PER_MINOR
        };
        // The newest minor's last patch lands on today.
        let newest_minor_day = today - Duration::days(3 * i64::from(in_this - 1));
        let minor_day = newest_minor_day
            .checked_sub_months(Months::new(minors - 1 - i))
            .unwrap_or(newest_minor_day - last_span);
        for patch in 0..in_this {
            let released_on = minor_day + Duration::days(3 * i64::from(patch));
            let kind = match patch {
                0 => ReleaseKind::Regular,
                p if p % 3 == 2 => ReleaseKind::Security,
                _ => ReleaseKind::Patch,
            };
            let notes_url = if patch == 0 {
                format!(
                    "https://about.gitlab.com/releases/{}/gitlab-{major}-{minor}-released/",
                    released_on.format("%Y/%m/%d")
                )
            } else {
                format!(
                    "https://about.gitlab.com/releases/{}/patch-release-gitlab-{major}-{minor}-{patch}-released/",
                    released_on.format("%Y/%m/%d")
                )
            };
            out.push(PlannedRelease {
                version: Version {
                    major,
                    minor,
                    patch,
                    pre: None,
                },
                released_on,
                kind,
                notes_url,
                minor_index: i,
            });
        }
    }
    out
}

/// One kind of image: a product's architecture.
#[derive(Debug, Clone)]
struct ImageType {
    product: product::Model,
    arch: product_architecture::Model,
    partner_slug: String,
    aws: bool,
    regions: Vec<String>,
}

/// How many regional images each image version gets: `total` spread evenly, none above its
/// cap (its product's target regions), the images with the fewest regions served first so
/// the others take up what they cannot hold. Exact whenever `caps.len() <= total <= sum`.
fn spread_regions(caps: &[usize], total: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..caps.len()).collect();
    order.sort_by_key(|&i| (caps[i], i));
    let mut out = vec![0; caps.len()];
    let mut left = total;
    for (done, &i) in order.iter().enumerate() {
        let remaining = caps.len() - done;
        let share = left.div_ceil(remaining).max(1);
        let k = share.min(caps[i]).min(left);
        out[i] = k;
        left -= k;
    }
    out
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, 0, 0).unwrap_or_default().and_utc()
}

/// Fills a fresh database with a catalogue of `size`; refuses one that has a catalogue.
pub async fn run(
    db: &DatabaseConnection,
    key: &SecretKey,
    now: DateTime<Utc>,
    size: &BenchSize,
) -> Result<BenchReport> {
    if !seed::is_empty(db).await? {
        bail!(
            "seed-bench fills a fresh database, and this one already has a catalogue: point \
             PORTAL_DATA_DIR (or PORTAL_DATABASE_URL) at an empty one"
        );
    }
    let today = now.date_naive();
    seed::run(db, now, true, None).await?;
    seed::sample_licenses(db, key, now).await?;
    let actor = users::system_user(db, now).await?;

    // Partners and the sixth product, through the services: checked as anyone's would be.
    let extra =
        (size.partners as usize).saturating_sub(partner::Entity::find().count(db).await? as usize);
    for (slug, name, cloud, status, docs) in MORE_PARTNERS.iter().take(extra) {
        partners::create(
            db,
            &actor,
            now,
            &PartnerInput {
                slug: (*slug).into(),
                name: (*name).into(),
                cloud: cloud.as_str().into(),
                status: (*status).into(),
                partner_docs_url: (*docs).into(),
                partnership_doc_url: String::new(),
                notes: String::new(),
            },
        )
        .await
        .with_context(|| format!("adding the partner {slug}"))?;
    }
    products::create(
        db,
        &actor,
        now,
        &products::BaseImageOwners::default(),
        &ProductInput {
            partner: "digitalocean".into(),
            slug: "gitlab-ee".into(),
            name: "GitLab EE 1-Click".into(),
            edition: app::domain::Edition::Ee.as_str().into(),
            visibility: Visibility::Public.as_str().into(),
            architectures: vec![ProductArchitectureInput {
                arch: Arch::Amd64.as_str().into(),
                builder_instance_type: "basic.s-2vcpu-4gb".into(),
                image_name_template: "GitLab EE {version} 1-Click".into(),
                type_tag: "GitLab Enterprise Edition".into(),
            }],
            base_image_owner: "Canonical".into(),
            base_image_name_pattern: "ubuntu-24-04-x64".into(),
            build_region: "nyc3".into(),
            target_regions: app::domain::DIGITALOCEAN_REGIONS
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            license_required: false,
            listing_entity_name: String::new(),
            listing_entity_id: String::new(),
            maintenance_mode: app::domain::MaintenanceMode::Image.as_str().into(),
            root_volume_gb: 25,
            description: "DigitalOcean Marketplace 1-Click droplet image, updated by hand.".into(),
        },
    )
    .await
    .context("adding DigitalOcean's product")?;

    let types = image_types(db).await?;
    let aws_types: Vec<usize> = (0..types.len()).filter(|&t| types[t].aws).collect();
    let plan = plan_releases(size.releases, today);
    let (built, newest) = plan.split_at(plan.len() - 1);
    let newest = &newest[0];
    let first_images = built.len() * types.len();
    let wanted = size.image_versions as usize;
    if wanted < first_images {
        bail!(
            "--image-versions {wanted} is too few: {} releases with images × {} image types need {first_images}",
            built.len(),
            types.len()
        );
    }
    if aws_types.is_empty() && wanted > first_images {
        bail!("--image-versions {wanted}: no AWS image to rebuild past {first_images}");
    }
    // Rebuilds per release and image type, the newest releases first, round after round.
    let mut images_of = vec![vec![1_i32; types.len()]; built.len()];
    let mut more = wanted - first_images;
    'rounds: while more > 0 {
        for r in (0..built.len()).rev() {
            for &t in &aws_types {
                if more == 0 {
                    break 'rounds;
                }
                images_of[r][t] += 1;
                more -= 1;
            }
        }
    }

    let txn = db.begin().await?;
    let release_ids = insert_releases(&txn, built, now).await?;
    insert_image_versions(&txn, built, &release_ids, &types, &images_of, now).await?;
    let regional = insert_regions(&txn, &types, size.regional_images as usize).await?;
    let versions = insert_listing_versions(
        &txn,
        built,
        &release_ids,
        size.listing_versions as usize,
        now,
    )
    .await?;
    insert_jobs(
        &txn,
        built,
        &types,
        &images_of,
        &versions,
        size.jobs as usize,
        now,
    )
    .await?;
    txn.commit().await?;
    tracing::info!(regional, "bench catalogue written");

    // The newest release, as GitLab's pipeline records one: its runs open, its train starts.
    trains::create_release(
        db,
        &actor,
        now,
        &ReleaseInput {
            version: newest.version.to_string(),
            released_on: newest.released_on.to_string(),
            kind: newest.kind.as_str().into(),
            notes_url: newest.notes_url.clone(),
        },
    )
    .await
    .with_context(|| format!("recording the newest release {}", newest.version))?;

    let listing_id = listing::Entity::find()
        .order_by_asc(listing::Column::Id)
        .one(db)
        .await?
        .map_or(0, |l| l.id);
    Ok(BenchReport {
        partners: partner::Entity::find().count(db).await?,
        products: product::Entity::find().count(db).await?,
        releases: release::Entity::find().count(db).await?,
        image_versions: image_version::Entity::find().count(db).await?,
        regional_images: image_region::Entity::find().count(db).await?,
        listings: listing::Entity::find().count(db).await?,
        listing_versions: listing_version::Entity::find().count(db).await?,
        jobs: job::Entity::find().count(db).await?,
        newest_release: newest.version.to_string(),
        lookup_release: built
            .last()
            .map(|r| r.version.to_string())
            .unwrap_or_default(),
        listing_id,
    })
}

/// Every product's architectures, in the catalogue's order.
async fn image_types(db: &impl ConnectionTrait) -> Result<Vec<ImageType>> {
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let archs = product_architecture::Entity::find()
        .order_by_asc(product_architecture::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for p in product::Entity::find()
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?
    {
        let owner = partners
            .get(&p.partner_id)
            .context("a product without its partner")?;
        let regions: Vec<String> = serde_json::from_str(&p.target_regions)
            .with_context(|| format!("the target regions of {}", p.name))?;
        for a in archs.iter().filter(|a| a.product_id == p.id) {
            out.push(ImageType {
                product: p.clone(),
                arch: a.clone(),
                partner_slug: owner.slug.clone(),
                aws: owner.cloud == Cloud::Aws,
                regions: regions.clone(),
            });
        }
    }
    Ok(out)
}

async fn insert_releases(
    txn: &impl ConnectionTrait,
    built: &[PlannedRelease],
    now: DateTime<Utc>,
) -> Result<Vec<i32>> {
    for chunk in built.chunks(BATCH) {
        release::Entity::insert_many(chunk.iter().map(|r| release::ActiveModel {
            id: NotSet,
            version: Set(r.version.to_string()),
            major: Set(r.version.major as i32),
            minor: Set(r.version.minor as i32),
            patch: Set(r.version.patch as i32),
            pre: Set(None),
            released_on: Set(r.released_on),
            kind: Set(r.kind),
            created_at: Set(at(r.released_on, 10).min(now)),
            notes_url: Set(Some(r.notes_url.clone())),
        }))
        .exec_without_returning(txn)
        .await?;
    }
    let ids: HashMap<String, i32> = release::Entity::find()
        .all(txn)
        .await?
        .into_iter()
        .map(|r| (r.version, r.id))
        .collect();
    built
        .iter()
        .map(|r| {
            ids.get(&r.version.to_string())
                .copied()
                .with_context(|| format!("release {} was not written", r.version))
        })
        .collect()
}

/// The Ubuntu base image a build on `day` started from.
fn base_image(arch: Arch, day: NaiveDate) -> (String, String) {
    let name = format!(
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{}-server-{}",
        arch.as_str(),
        day.format("%Y%m%d")
    );
    (seed::sample_image_id(&name, seed::BUILD_REGION), name)
}

/// When image `n` of a release was made: a day after the release, each rebuild two weeks on.
fn made_at(released_on: NaiveDate, n: i32, now: DateTime<Utc>) -> DateTime<Utc> {
    (at(released_on, 14) + Duration::days(1 + 14 * i64::from(n - 1))).min(now)
}

async fn insert_image_versions(
    txn: &impl ConnectionTrait,
    built: &[PlannedRelease],
    release_ids: &[i32],
    types: &[ImageType],
    images_of: &[Vec<i32>],
    now: DateTime<Utc>,
) -> Result<()> {
    let newest_minor = built.last().map_or(0, |r| r.minor_index);
    let mut rows = Vec::new();
    for (r, planned) in built.iter().enumerate() {
        let supported = planned.minor_index + SUPPORTED_MINORS > newest_minor;
        for (t, ty) in types.iter().enumerate() {
            let count = images_of[r][t];
            for n in 1..=count {
                let created = made_at(planned.released_on, n, now);
                let current = n == count;
                let retired =
                    !current || (ty.product.visibility == Visibility::Public && !supported);
                let (base_id, base_name) = if ty.aws {
                    let (id, name) =
                        base_image(ty.arch.arch, created.date_naive() - Duration::days(5));
                    (Some(id), Some(name))
                } else {
                    (None, None)
                };
                let reason = (n > 1).then(|| match &base_name {
                    Some(name) if n % 2 == 0 => format!("New base image: {name}"),
                    _ => format!(
                        "Security fix: Ubuntu security notice USN-{}-1",
                        7000 + r * 3 + n as usize
                    ),
                });
                rows.push(image_version::ActiveModel {
                    id: NotSet,
                    product_id: Set(ty.product.id),
                    release_id: Set(release_ids[r]),
                    arch: Set(ty.arch.arch),
                    name: Set(images::image_name(
                        &ty.arch.image_name_template,
                        &planned.version,
                        n,
                    )),
                    state: Set(if retired {
                        ImageState::Retired
                    } else {
                        ImageState::Available
                    }),
                    created_at: Set(created),
                    updated_at: Set(created),
                    rebuild: Set(n),
                    superseded_by: Set(None),
                    superseded_at: Set((!current).then(|| made_at(planned.released_on, n + 1, now))),
                    rebuild_reason: Set(reason),
                    base_image_id: Set(base_id),
                    base_image_name: Set(base_name),
                    source: Set(ImageSource::Portal),
                });
                if rows.len() == BATCH {
                    image_version::Entity::insert_many(std::mem::take(&mut rows))
                        .exec_without_returning(txn)
                        .await?;
                }
            }
        }
    }
    image_version::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    // Each image a rebuild replaced points at the rebuild after it.
    txn.execute_unprepared(
        "UPDATE image_versions SET superseded_by = (
             SELECT n.id FROM image_versions n
             WHERE n.product_id = image_versions.product_id
               AND n.release_id = image_versions.release_id
               AND n.arch = image_versions.arch
               AND n.rebuild = image_versions.rebuild + 1)
         WHERE superseded_at IS NOT NULL AND superseded_by IS NULL",
    )
    .await?;
    Ok(())
}

async fn insert_regions(
    txn: &impl ConnectionTrait,
    types: &[ImageType],
    total: usize,
) -> Result<usize> {
    let by_type: HashMap<(i32, Arch), &ImageType> = types
        .iter()
        .map(|t| ((t.product.id, t.arch.arch), t))
        .collect();
    let all = image_version::Entity::find()
        .order_by_asc(image_version::Column::Id)
        .all(txn)
        .await?;
    let mut typed = Vec::with_capacity(all.len());
    for iv in &all {
        let ty = by_type
            .get(&(iv.product_id, iv.arch))
            .context("an image version of no known product architecture")?;
        typed.push((iv, *ty));
    }
    let caps: Vec<usize> = typed.iter().map(|(_, ty)| ty.regions.len()).collect();
    let room: usize = caps.iter().sum();
    if total < typed.len() || total > room {
        bail!(
            "--regional-images {total} does not fit {} image versions: give between {} and {room}",
            typed.len(),
            typed.len()
        );
    }
    let counts = spread_regions(&caps, total);
    let mut rows = Vec::new();
    let mut written = 0;
    for ((iv, ty), k) in typed.iter().zip(counts) {
        let state = if iv.state == ImageState::Retired {
            RegionImageState::Deregistered
        } else if ty.product.visibility == Visibility::Public {
            RegionImageState::Public
        } else {
            RegionImageState::Private
        };
        for region in ty.regions.iter().take(k) {
            rows.push(image_region::ActiveModel {
                id: NotSet,
                image_version_id: Set(iv.id),
                region: Set(region.clone()),
                image_id: Set(Some(seed::sample_image_id(&iv.name, region))),
                state: Set(state),
                updated_at: Set(iv.updated_at),
            });
            written += 1;
            if rows.len() == BATCH {
                image_region::Entity::insert_many(std::mem::take(&mut rows))
                    .exec_without_returning(txn)
                    .await?;
            }
        }
    }
    image_region::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(written)
}

/// A published marketplace version, as the jobs below need it.
struct PublishedVersion {
    listing_id: i32,
    release: usize,
    title: String,
    delivery_option_id: String,
    published_at: DateTime<Utc>,
}

async fn insert_listing_versions(
    txn: &impl ConnectionTrait,
    built: &[PlannedRelease],
    release_ids: &[i32],
    wanted: usize,
    now: DateTime<Utc>,
) -> Result<Vec<PublishedVersion>> {
    let listings = listing::Entity::find()
        .order_by_asc(listing::Column::Id)
        .all(txn)
        .await?;
    let archs = product_architecture::Entity::find()
        .order_by_asc(product_architecture::Column::Id)
        .all(txn)
        .await?;
    let targets: Vec<(&listing::Model, Vec<Arch>)> = listings
        .iter()
        .map(|l| {
            let mine = archs
                .iter()
                .filter(|a| a.product_id == l.product_id)
                .map(|a| a.arch)
                .collect();
            (l, mine)
        })
        .collect();
    let room: usize = targets.iter().map(|(_, a)| a.len()).sum::<usize>() * built.len();
    if wanted > room {
        bail!(
            "--listing-versions {wanted} is too many: {} listings over {} releases hold {room}",
            listings.len(),
            built.len()
        );
    }
    // The newest releases first, a version of each listing (one per architecture) each.
    let mut published = Vec::with_capacity(wanted);
    let mut rows = Vec::with_capacity(wanted);
    let mut public_of: HashMap<i32, usize> = HashMap::new();
    'releases: for r in (0..built.len()).rev() {
        for (l, l_archs) in &targets {
            for (i, arch) in l_archs.iter().enumerate() {
                if rows.len() == wanted {
                    break 'releases;
                }
                let version = built[r].version.to_string();
                let title = if i == 0 {
                    format!("{} {version} Release", l.entity_name)
                } else {
                    format!("{} {version} Release ({arch})", l.entity_name)
                };
                let delivery_option_id = format!(
                    "do-{}",
                    &hex::encode(Sha256::digest(title.as_bytes()))[..12]
                );
                let published_at = (at(built[r].released_on, 12) + Duration::days(2)).min(now);
                let shown = public_of.entry(l.id).or_default();
                *shown += 1;
                rows.push(listing_version::ActiveModel {
                    id: NotSet,
                    listing_id: Set(l.id),
                    release_id: Set(Some(release_ids[r])),
                    title: Set(title.clone()),
                    delivery_option_id: Set(Some(delivery_option_id.clone())),
                    visibility: Set(if *shown <= PUBLIC_VERSIONS_PER_LISTING {
                        ListingVersionVisibility::Public
                    } else {
                        ListingVersionVisibility::Restricted
                    }),
                    published_at: Set(published_at),
                    source: Set(VersionSource::Portal),
                    arch: Set(Some(*arch)),
                });
                if i == 0 {
                    published.push(PublishedVersion {
                        listing_id: l.id,
                        release: r,
                        title,
                        delivery_option_id,
                        published_at,
                    });
                }
            }
        }
    }
    // Oldest first, as they were published.
    rows.reverse();
    for chunk in rows.chunks(BATCH) {
        listing_version::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(published)
}

/// One finished job and its log.
struct DoneJob {
    row: job::ActiveModel,
    log: Vec<(DateTime<Utc>, String)>,
}

/// What a finished job was.
struct JobRecord<'a> {
    kind: &'a str,
    payload: String,
    max_attempts: i32,
    group: String,
    step: &'a str,
    result: serde_json::Value,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
}

fn done_job(j: JobRecord<'_>, log: Vec<(DateTime<Utc>, String)>) -> DoneJob {
    DoneJob {
        row: job::ActiveModel {
            id: NotSet,
            kind: Set(j.kind.to_owned()),
            payload: Set(j.payload),
            state: Set(app::domain::JobState::Succeeded),
            run_at: Set(j.started),
            attempts: Set(1),
            max_attempts: Set(j.max_attempts),
            locked_by: Set(None),
            lease_until: Set(None),
            progress: Set(100),
            step: Set(j.step.to_owned()),
            checkpoint: Set(None),
            result: Set(Some(j.result.to_string())),
            last_error: Set(None),
            cancel_requested: Set(false),
            group_key: Set(Some(j.group)),
            created_by: Set(None),
            created_at: Set(j.started),
            updated_at: Set(j.finished),
            finished_at: Set(Some(j.finished)),
        },
        log,
    }
}

async fn insert_jobs(
    txn: &impl ConnectionTrait,
    built: &[PlannedRelease],
    types: &[ImageType],
    images_of: &[Vec<i32>],
    versions: &[PublishedVersion],
    wanted: usize,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut jobs: Vec<DoneJob> = Vec::with_capacity(wanted);
    'releases: for r in (0..built.len()).rev() {
        let planned = &built[r];
        let version = planned.version.to_string();
        for (t, ty) in types.iter().enumerate().filter(|(_, ty)| ty.aws) {
            for n in (1..=images_of[r][t]).rev() {
                if jobs.len() == wanted {
                    break 'releases;
                }
                let started = made_at(planned.released_on, n, now) - Duration::hours(1);
                let finished = started + Duration::minutes(52);
                let name = images::image_name(&ty.arch.image_name_template, &planned.version, n);
                let image_id = seed::sample_image_id(&name, seed::BUILD_REGION);
                let payload = serde_json::to_string(&BuildImage {
                    partner: ty.partner_slug.clone(),
                    product: ty.product.slug.clone(),
                    version: version.clone(),
                    arch: ty.arch.arch,
                    rebuild: n,
                })?;
                let copies = ty.regions.len().saturating_sub(1);
                jobs.push(done_job(
                    JobRecord {
                        kind: BuildImage::NAME,
                        payload,
                        max_attempts: BuildImage::MAX_ATTEMPTS,
                        group: release_group(&version),
                        step: "image available in every target region",
                        result: serde_json::json!({ "name": name, "image_id": image_id, "copies": copies }),
                        started,
                        finished,
                    },
                    vec![
                        (started, "queued (build_image)".to_owned()),
                        (
                            started + Duration::minutes(2),
                            format!("builder launched in {} from the newest base image", seed::BUILD_REGION),
                        ),
                        (
                            started + Duration::minutes(31),
                            format!("image {image_id} available: {name}"),
                        ),
                        (
                            finished,
                            format!("copied to {copies} target regions; succeeded"),
                        ),
                    ],
                ));
            }
        }
        for v in versions.iter().filter(|v| v.release == r) {
            if jobs.len() == wanted {
                break 'releases;
            }
            let started = v.published_at - Duration::hours(2);
            let payload = serde_json::to_string(&PublishVersion {
                listing_id: v.listing_id,
                version: version.clone(),
            })?;
            jobs.push(done_job(
                JobRecord {
                    kind: PublishVersion::NAME,
                    payload,
                    max_attempts: PublishVersion::MAX_ATTEMPTS,
                    group: release_group(&version),
                    step: "published",
                    result: serde_json::json!({
                        "version_title": v.title,
                        "delivery_option_id": v.delivery_option_id,
                    }),
                    started,
                    finished: v.published_at,
                },
                vec![
                    (started, "queued (publish_version)".to_owned()),
                    (
                        started + Duration::minutes(1),
                        format!("change set for {} submitted", v.title),
                    ),
                    (
                        v.published_at,
                        format!("version live as {}; succeeded", v.delivery_option_id),
                    ),
                ],
            ));
        }
    }
    // Oldest first, as they ran; then their logs, found by the ids the jobs got.
    jobs.reverse();
    let before = job::Entity::find()
        .order_by_desc(job::Column::Id)
        .one(txn)
        .await?
        .map_or(0, |j| j.id);
    let mut logs = Vec::with_capacity(jobs.len());
    let mut rows = Vec::with_capacity(jobs.len());
    for j in jobs {
        rows.push(j.row);
        logs.push(j.log);
    }
    for chunk in rows.chunks(BATCH) {
        job::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    use sea_orm::{ColumnTrait as _, QueryFilter as _};
    let ids: Vec<i32> = job::Entity::find()
        .filter(job::Column::Id.gt(before))
        .order_by_asc(job::Column::Id)
        .all(txn)
        .await?
        .into_iter()
        .map(|j| j.id)
        .collect();
    if ids.len() != logs.len() {
        bail!("{} jobs written, {} expected", ids.len(), logs.len());
    }
    let mut events = Vec::new();
    for (id, log) in ids.into_iter().zip(logs) {
        for (at, message) in log {
            events.push(job_event::ActiveModel {
                id: NotSet,
                job_id: Set(id),
                at: Set(at),
                level: Set("info".to_owned()),
                message: Set(message),
            });
            if events.len() == BATCH {
                job_event::Entity::insert_many(std::mem::take(&mut events))
                    .exec_without_returning(txn)
                    .await?;
            }
        }
    }
    job_event::Entity::insert_many(events)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_gitlabs_release_cadence_ending_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day");
        let plan = plan_releases(25, today);
        assert_eq!(plan.len(), 25);
        let versions: Vec<String> = plan.iter().map(|r| r.version.to_string()).collect();
        assert_eq!(versions[0], "14.0.0");
        assert_eq!(versions[9], "14.0.9");
        assert_eq!(versions[10], "14.1.0");
        assert_eq!(versions[24], "14.2.4");
        assert_eq!(plan[24].released_on, today);
        for pair in plan.windows(2) {
            assert!(pair[0].released_on <= pair[1].released_on, "{pair:?}");
            assert_eq!(
                Version::parse(&pair[1].version.to_string()).expect("valid"),
                pair[1].version
            );
        }
        assert_eq!(plan[0].kind, ReleaseKind::Regular);
        assert_eq!(plan[2].kind, ReleaseKind::Security);
        assert_eq!(plan[1].kind, ReleaseKind::Patch);
        assert!(plan[10].notes_url.ends_with("/gitlab-14-1-released/"));
        let long = plan_releases(500, today);
        assert_eq!(
            long.last().map(|r| r.version.to_string()).as_deref(),
            Some("18.1.9")
        );
        assert_eq!(long.iter().filter(|r| r.version.major == 16).count(), 120);
    }

    #[test]
    fn regions_are_spread_exactly_within_each_products_regions() {
        let caps = [19, 2, 19, 11, 19, 2];
        let counts = spread_regions(&caps, 40);
        assert_eq!(counts.iter().sum::<usize>(), 40);
        assert!(
            counts
                .iter()
                .zip(caps)
                .all(|(k, cap)| (1..=cap).contains(k)),
            "{counts:?}"
        );
        assert_eq!(spread_regions(&caps, 6), vec![1; 6]);
        assert_eq!(spread_regions(&caps, 72), caps.to_vec());
    }

    async fn fresh_db(dir: &std::path::Path) -> DatabaseConnection {
        let url = format!("sqlite://{}/portal.db?mode=rwc", dir.display());
        crate::db::connect_and_migrate(&url, 4)
            .await
            .expect("database")
    }

    fn small() -> BenchSize {
        BenchSize {
            partners: 6,
            releases: 25,
            image_versions: 250,
            regional_images: 2_000,
            listing_versions: 30,
            jobs: 40,
        }
    }

    #[tokio::test]
    async fn a_small_bench_catalogue_has_the_asked_size_and_real_looking_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = fresh_db(dir.path()).await;
        let key = SecretKey::from_bytes(&[7; 32]).expect("key");
        let now = at(NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day"), 15);
        let report = run(&db, &key, now, &small()).await.expect("seeded");
        assert_eq!(
            (
                report.partners,
                report.products,
                report.releases,
                report.image_versions,
                report.regional_images,
                report.listing_versions,
            ),
            (6, 6, 25, 250, 2_000, 30),
            "{report}"
        );
        // Build and publish jobs of the history, plus what the newest release's train queued.
        assert!(report.jobs >= 40, "{report}");
        assert_eq!(report.newest_release, "14.2.4");
        assert_eq!(report.lookup_release, "14.2.3");
        assert!(report.to_string().contains("lookup_release=14.2.3"));

        // The newest release is the latest stable one, and its train runs.
        let latest = app::services::releases::latest_stable(&db)
            .await
            .expect("latest")
            .expect("one");
        assert_eq!(latest.version, "14.2.4");
        assert!(
            trains::release_train(&db, now, "14.2.4").await.is_ok(),
            "the newest release has a train"
        );

        // Image ids look like AWS's and every region is one of the product's.
        let types = image_types(&db).await.expect("types");
        let ivs = image_version::Entity::find().all(&db).await.expect("ivs");
        let by_id: HashMap<i32, &image_version::Model> = ivs.iter().map(|iv| (iv.id, iv)).collect();
        for r in image_region::Entity::find()
            .all(&db)
            .await
            .expect("regions")
        {
            let iv = by_id[&r.image_version_id];
            let ty = types
                .iter()
                .find(|t| t.product.id == iv.product_id && t.arch.arch == iv.arch)
                .expect("its type");
            assert!(ty.regions.contains(&r.region), "{r:?}");
            let id = r.image_id.expect("an image id");
            assert!(
                id.len() == 21
                    && id.starts_with("ami-")
                    && id[4..]
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{id}"
            );
        }
        // Each replaced image points at the rebuild after it; the last is current.
        for iv in &ivs {
            match iv.superseded_by {
                Some(next) => {
                    let next = by_id[&next];
                    assert_eq!(
                        (next.product_id, next.release_id, next.arch, next.rebuild),
                        (iv.product_id, iv.release_id, iv.arch, iv.rebuild + 1)
                    );
                }
                None => assert!(
                    !ivs.iter().any(|o| (o.product_id, o.release_id, o.arch)
                        == (iv.product_id, iv.release_id, iv.arch)
                        && o.rebuild > iv.rebuild),
                    "{iv:?} is not the newest and nothing replaced it"
                ),
            }
        }
        assert!(
            ivs.iter().any(|iv| iv.rebuild > 1),
            "rebuilds fill up to the size"
        );

        // The lookup the benchmark asks finds the current image of that release.
        let found = images::lookup(
            &db,
            &app::dto::LookupQuery {
                release: report.lookup_release.clone(),
                product: "gitlab-ee".into(),
                arch: "amd64".into(),
                region: "us-east-1".into(),
                partner: None,
            },
        )
        .await
        .expect("the lookup finds an image");
        assert!(found.image_id.starts_with("ami-"), "{found:?}");

        // A database with a catalogue is refused, saying what to do.
        let again = run(&db, &key, now, &small()).await.expect_err("refused");
        assert!(again.to_string().contains("fresh database"), "{again}");
    }

    #[tokio::test]
    async fn a_size_that_cannot_hold_every_release_is_refused_naming_the_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = fresh_db(dir.path()).await;
        let key = SecretKey::from_bytes(&[7; 32]).expect("key");
        let err = run(
            &db,
            &key,
            Utc::now(),
            &BenchSize {
                image_versions: 10,
                ..small()
            },
        )
        .await
        .expect_err("refused");
        assert!(
            err.to_string().contains("--image-versions 10 is too few"),
            "{err}"
        );
    }
}
