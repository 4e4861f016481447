//! Bringing what a sync read into the catalogue ([`apply`]). Each listing and each region
//! is written in a transaction of its own, so a long sync holds no lock for long and a
//! failed read of one leaves the others' state as it was; every insert tolerates a second
//! sync doing the same at the same time (the unique keys of account images and drift
//! items, insert on conflict).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
    sea_query::{Expr, OnConflict},
};

use super::{
    AccountSnapshot, ListingSnapshot, PORTAL, ProtectionChange, RegionSnapshot, SeenImage,
    SyncReport, aws_products,
    imports::{Found, import_image},
    matching::{
        AccountState, Naming, PORTAL_JOB_TAG, account_state, image_drift, is_image_kind, recognise,
        recycle_bin_public, release_in_title, visibility,
    },
    warnings,
};
use crate::{
    domain::*,
    error::{AppError, AppResult},
    services::{
        audit::{self, Change},
        begin_write,
        entities::{
            account_image, account_listing, account_region, drift_item, image_region,
            image_version, listing, listing_version, product, release,
        },
        insert_new,
        notify::{self, Event},
        publish, users,
    },
};

/// One difference a sync saw.
#[derive(Debug, Clone, Default)]
pub(super) struct Observed {
    pub key: String,
    pub kind: Option<DriftKind>,
    pub summary: String,
    pub catalogue: String,
    pub account: String,
    pub region: Option<String>,
    pub image_id: Option<String>,
    pub product_id: Option<i32>,
    pub listing_id: Option<i32>,
    pub image_region_id: Option<i32>,
    pub listing_version_id: Option<i32>,
    pub account_image_id: Option<i32>,
}

/// The key of a difference about an image in a region.
pub(super) fn image_key(kind: DriftKind, region: &str, image_id: &str) -> String {
    format!("{}:{region}:{image_id}", kind.as_str())
}

/// The key of a difference about a listing's delivery option.
pub(super) fn version_key(kind: DriftKind, listing_id: i32, option: &str) -> String {
    format!("{}:{listing_id}:{option}", kind.as_str())
}

/// What a sync read in full, so the differences it no longer sees there are resolved.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    Region(&'a str),
    Listing(i32),
}

/// What the catalogue says of the products and listings, read once per sync.
struct Context {
    products: HashMap<i32, product::Model>,
    namings: Vec<Naming>,
    listings: HashMap<i32, listing::Model>,
}

impl Context {
    async fn load(db: &impl ConnectionTrait) -> AppResult<Self> {
        let products: HashMap<i32, product::Model> = aws_products(db)
            .await?
            .into_iter()
            .map(|(_, p)| (p.id, p))
            .collect();
        let namings = super::namings(db, products.keys().copied()).await?;
        let listings = listing::Entity::find()
            .filter(listing::Column::Marketplace.eq(Cloud::Aws))
            .all(db)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
        Ok(Context {
            products,
            namings,
            listings,
        })
    }
}

/// A marketplace version using an image.
#[derive(Debug, Clone)]
struct Use {
    listing_id: i32,
    option: String,
    title: String,
    public: bool,
}

/// The delivery option a version is known by (its version id when AWS gave none).
fn option_of(v: &super::SeenVersion) -> String {
    let option = v.delivery_option_id.trim();
    if option.is_empty() {
        v.version_id.trim().to_owned()
    } else {
        option.to_owned()
    }
}

/// One sync's shared reading.
struct Run<'a> {
    ctx: &'a Context,
    portal: &'a CurrentUser,
    now: DateTime<Utc>,
    /// The images behind public versions.
    live: &'a BTreeSet<String>,
    /// Where the catalogue has each live image (the marketplace's region otherwise).
    homes: &'a HashMap<String, String>,
    /// The versions using each image, of the listings read.
    uses: &'a BTreeMap<String, Vec<Use>>,
}

/// Brings what a sync read into the catalogue: account images linked, imported or kept as
/// made outside the portal; versions added in the console recorded; the differences
/// opened, kept or resolved; live images marked and their protection planned; the early
/// warnings given. Answers what it did (the job's result).
pub async fn apply(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    snapshot: &AccountSnapshot,
) -> AppResult<SyncReport> {
    let portal = users::system_user(db, now).await?;
    let ctx = Context::load(db).await?;
    let mut report = SyncReport::default();

    let mut uses: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    for l in &snapshot.listings {
        for v in l.versions.iter().flatten() {
            for ami in &v.amis {
                uses.entry(ami.trim().to_owned()).or_default().push(Use {
                    listing_id: l.listing_id,
                    option: option_of(v),
                    title: v.title.clone(),
                    public: visibility(&v.visibility) == ListingVersionVisibility::Public,
                });
            }
        }
    }
    let mut live: BTreeSet<String> = uses
        .iter()
        .filter(|(_, us)| us.iter().any(|u| u.public))
        .map(|(ami, _)| ami.clone())
        .collect();
    // A listing that was not read leaves its images as live as they were.
    let every_listing_read = ctx.listings.keys().all(|id| {
        snapshot
            .listings
            .iter()
            .any(|l| l.listing_id == *id && l.versions.is_some())
    });
    if !every_listing_read {
        live.extend(
            account_image::Entity::find()
                .filter(account_image::Column::Live.eq(true))
                .filter(account_image::Column::GoneAt.is_null())
                .all(db)
                .await?
                .into_iter()
                .map(|i| i.image_id)
                .filter(|id| !uses.contains_key(id)),
        );
    }
    let homes: HashMap<String, String> = image_region::Entity::find()
        .filter(image_region::Column::ImageId.is_in(live.iter().cloned()))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.image_id?, r.region)))
        .collect();
    let run = Run {
        ctx: &ctx,
        portal: &portal,
        now,
        live: &live,
        homes: &homes,
        uses: &uses,
    };

    // Listings first: the versions they add are what image differences refer to.
    for l in &snapshot.listings {
        let txn = begin_write(db).await?;
        let mut seen = Vec::new();
        if run.listing(&txn, l, &mut report, &mut seen).await? {
            reconcile(&txn, now, Scope::Listing(l.listing_id), seen, &mut report).await?;
        }
        txn.commit().await?;
    }
    for r in &snapshot.regions {
        let txn = begin_write(db).await?;
        let mut seen = Vec::new();
        if run.region(&txn, r, &mut report, &mut seen).await? {
            reconcile(&txn, now, Scope::Region(r.region.trim()), seen, &mut report).await?;
        }
        txn.commit().await?;
    }

    let txn = begin_write(db).await?;
    report.protect = run.protection(&txn).await?;
    audit::record(
        &txn,
        Some(&portal),
        now,
        Change {
            action: "cloud_sync",
            object_type: "account",
            object_id: Cloud::Aws.as_str().to_owned(),
            summary: format!(
                "read {} regions and {} listings: {} images ({} imported, {} made outside the portal), {} differences opened, {} resolved{}",
                report.regions,
                report.listings,
                report.images,
                report.imported,
                report.outside,
                report.drift_opened,
                report.drift_resolved,
                if report.errors.is_empty() {
                    String::new()
                } else {
                    format!("; {} reads failed", report.errors.len())
                }
            ),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    report.warnings = warnings::check(db, now).await?;
    Ok(report)
}

impl Run<'_> {
    /// One listing's entity: its counts, the versions added in the console, and what
    /// differs. False when the entity could not be read.
    async fn listing(
        &self,
        txn: &impl ConnectionTrait,
        snap: &ListingSnapshot,
        report: &mut SyncReport,
        seen: &mut Vec<Observed>,
    ) -> AppResult<bool> {
        let Some(l) = self.ctx.listings.get(&snap.listing_id) else {
            report.errors.push(format!(
                "listing {}: not an AWS Marketplace listing of the catalogue",
                snap.listing_id
            ));
            return Ok(false);
        };
        report.listings += 1;
        let entity_id = snap.entity_id.trim();
        if !entity_id.is_empty() && l.entity_id.as_deref() != Some(entity_id) {
            publish::set_entity_id(txn, l.id, entity_id).await?;
        }
        insert_new(
            txn,
            account_listing::ActiveModel {
                listing_id: Set(l.id),
                entity_id: Set(if entity_id.is_empty() {
                    l.entity_id.clone().unwrap_or_default()
                } else {
                    entity_id.to_owned()
                }),
                public_versions: Set(0),
                total_versions: Set(0),
                synced_at: Set(None),
                error: Set(None),
            },
            [account_listing::Column::ListingId],
        )
        .await?;
        let row = account_listing::Entity::find_by_id(l.id)
            .one(txn)
            .await?
            .ok_or_else(|| AppError::internal("account listing", l.id))?;
        let mut active: account_listing::ActiveModel = row.into();
        if !entity_id.is_empty() {
            active.entity_id = Set(entity_id.to_owned());
        }
        let Some(versions) = &snap.versions else {
            let error = snap
                .error
                .clone()
                .unwrap_or_else(|| "the entity was not read".to_owned());
            report.errors.push(format!("{}: {error}", l.entity_name));
            active.error = Set(Some(error));
            active.update(txn).await?;
            return Ok(false);
        };
        let public = versions
            .iter()
            .filter(|v| visibility(&v.visibility) == ListingVersionVisibility::Public)
            .count();
        active.public_versions = Set(public as i32);
        active.total_versions = Set(versions.len() as i32);
        active.synced_at = Set(Some(self.now));
        active.error = Set(None);
        active.update(txn).await?;

        let catalogue = listing_version::Entity::find()
            .filter(listing_version::Column::ListingId.eq(l.id))
            .order_by_asc(listing_version::Column::Id)
            .all(txn)
            .await?;
        let mut on_entity: HashSet<String> = HashSet::new();
        for v in versions {
            let option = option_of(v);
            if option.is_empty() {
                continue;
            }
            on_entity.insert(option.clone());
            let vis = visibility(&v.visibility);
            let matched = catalogue
                .iter()
                .find(|c| c.delivery_option_id.as_deref() == Some(option.as_str()))
                .or_else(|| {
                    catalogue
                        .iter()
                        .find(|c| c.delivery_option_id.is_none() && c.title == v.title.trim())
                });
            let row = match matched {
                Some(c) if c.delivery_option_id.is_none() => {
                    let mut active: listing_version::ActiveModel = c.clone().into();
                    active.delivery_option_id = Set(Some(option.clone()));
                    active.update(txn).await?
                }
                Some(c) => c.clone(),
                None => match self.record_console_version(txn, l, v, &option, vis).await? {
                    Some(row) => row,
                    None => continue,
                },
            };
            if row.visibility == ListingVersionVisibility::Public
                && vis != ListingVersionVisibility::Public
            {
                seen.push(Observed {
                    key: version_key(DriftKind::VersionRestricted, l.id, &option),
                    kind: Some(DriftKind::VersionRestricted),
                    summary: format!(
                        "'{}' is {} on the {} listing; the catalogue says public",
                        row.title,
                        v.visibility.trim().to_lowercase(),
                        l.entity_name
                    ),
                    catalogue: row.visibility.as_str().to_owned(),
                    account: v.visibility.trim().to_lowercase(),
                    product_id: Some(l.product_id),
                    listing_id: Some(l.id),
                    listing_version_id: Some(row.id),
                    ..Default::default()
                });
            }
            if row.source == VersionSource::Console {
                seen.push(Observed {
                    key: version_key(DriftKind::VersionAdded, l.id, &option),
                    kind: Some(DriftKind::VersionAdded),
                    summary: format!(
                        "'{}' was added to the {} listing in the console",
                        row.title, l.entity_name
                    ),
                    catalogue: String::new(),
                    account: format!("'{}' on the listing", row.title),
                    product_id: Some(l.product_id),
                    listing_id: Some(l.id),
                    listing_version_id: Some(row.id),
                    ..Default::default()
                });
            }
        }
        for c in &catalogue {
            let Some(option) = &c.delivery_option_id else {
                continue;
            };
            if on_entity.contains(option) {
                continue;
            }
            seen.push(Observed {
                key: version_key(DriftKind::VersionGone, l.id, option),
                kind: Some(DriftKind::VersionGone),
                summary: format!(
                    "'{}' ({option}) is no longer on the {} listing",
                    c.title, l.entity_name
                ),
                catalogue: c.visibility.as_str().to_owned(),
                account: String::new(),
                product_id: Some(l.product_id),
                listing_id: Some(l.id),
                listing_version_id: Some(c.id),
                ..Default::default()
            });
        }
        Ok(true)
    }

    /// Records a version the catalogue lacks as added in the console. `None` when another
    /// version of the catalogue has its title already.
    async fn record_console_version(
        &self,
        txn: &impl ConnectionTrait,
        l: &listing::Model,
        v: &super::SeenVersion,
        option: &str,
        vis: ListingVersionVisibility,
    ) -> AppResult<Option<listing_version::Model>> {
        let title = match v.title.trim() {
            "" => format!("Version {}", v.version_id.trim()),
            t => t.to_owned(),
        };
        let release_id = match release_in_title(&title) {
            Some(version) => release::Entity::find()
                .filter(release::Column::Version.eq(version.to_string()))
                .one(txn)
                .await?
                .map(|r| r.id),
            None => None,
        };
        let inserted = insert_new(
            txn,
            listing_version::ActiveModel {
                listing_id: Set(l.id),
                release_id: Set(release_id),
                title: Set(title.clone()),
                delivery_option_id: Set(Some(option.to_owned())),
                visibility: Set(vis),
                published_at: Set(v.created.unwrap_or(self.now)),
                source: Set(VersionSource::Console),
                ..Default::default()
            },
            [
                listing_version::Column::ListingId,
                listing_version::Column::Title,
            ],
        )
        .await?;
        let row = listing_version::Entity::find()
            .filter(listing_version::Column::ListingId.eq(l.id))
            .filter(listing_version::Column::Title.eq(title.clone()))
            .one(txn)
            .await?
            .ok_or_else(|| AppError::internal("console version", title.clone()))?;
        if row.delivery_option_id.as_deref() != Some(option) {
            return Ok(None);
        }
        if inserted {
            audit::record(
                txn,
                Some(self.portal),
                self.now,
                Change {
                    action: "record_console_version",
                    object_type: "listing",
                    object_id: l.id.to_string(),
                    summary: format!(
                        "found '{title}' ({}) on {}, added in the console",
                        vis.label().to_lowercase(),
                        l.entity_name
                    ),
                    before: None,
                    after: audit::snapshot(&row),
                },
            )
            .await?;
        }
        Ok(Some(row))
    }

    /// One region: its quota, its Recycle Bin, the account's images there and what differs
    /// from the catalogue. False when its images could not be read.
    async fn region(
        &self,
        txn: &impl ConnectionTrait,
        snap: &RegionSnapshot,
        report: &mut SyncReport,
        seen: &mut Vec<Observed>,
    ) -> AppResult<bool> {
        let region = snap.region.trim();
        if let Err(e) = Cloud::Aws.parse_region(region) {
            report.errors.push(e);
            return Ok(false);
        }
        report.regions += 1;
        insert_new(
            txn,
            account_region::ActiveModel {
                region: Set(region.to_owned()),
                quota: Set(None),
                quota_checked_at: Set(None),
                quota_error: Set(None),
                images_synced_at: Set(None),
                images_error: Set(None),
                recycle_bin_public: Set(0),
            },
            [account_region::Column::Region],
        )
        .await?;
        let row = account_region::Entity::find_by_id(region.to_owned())
            .one(txn)
            .await?
            .ok_or_else(|| AppError::internal("account region", region.to_owned()))?;
        let mut active: account_region::ActiveModel = row.into();
        match (snap.quota, &snap.quota_error) {
            (Some(quota), _) => {
                active.quota = Set(Some(quota));
                active.quota_checked_at = Set(Some(self.now));
                active.quota_error = Set(None);
            }
            (None, error) => {
                let error = error
                    .clone()
                    .unwrap_or_else(|| "Service Quotas did not answer".to_owned());
                report.errors.push(format!("{region}: quota: {error}"));
                active.quota_error = Set(Some(error));
            }
        }
        let known: HashMap<String, account_image::Model> = account_image::Entity::find()
            .filter(account_image::Column::Region.eq(region))
            .all(txn)
            .await?
            .into_iter()
            .map(|i| (i.image_id.clone(), i))
            .collect();
        match (&snap.recycle_bin, &snap.recycle_bin_error) {
            (Some(ids), _) => {
                let last_public: HashMap<String, bool> =
                    known.iter().map(|(id, i)| (id.clone(), i.public)).collect();
                active.recycle_bin_public = Set(recycle_bin_public(ids, &last_public));
            }
            (None, Some(error)) => {
                report
                    .errors
                    .push(format!("{region}: Recycle Bin: {error}"));
            }
            (None, None) => {}
        }
        let Some(images) = &snap.images else {
            let error = snap
                .images_error
                .clone()
                .unwrap_or_else(|| "the images were not read".to_owned());
            report.errors.push(format!("{region}: images: {error}"));
            active.images_error = Set(Some(error));
            active.update(txn).await?;
            return Ok(false);
        };
        active.images_synced_at = Set(Some(self.now));
        active.images_error = Set(None);
        active.update(txn).await?;

        // The catalogue's images in the region, by image id.
        let rows = image_region::Entity::find()
            .filter(image_region::Column::Region.eq(region))
            .filter(image_region::Column::ImageId.is_not_null())
            .order_by_asc(image_region::Column::Id)
            .all(txn)
            .await?;
        let versions: HashMap<i32, image_version::Model> = image_version::Entity::find()
            .filter(image_version::Column::Id.is_in(rows.iter().map(|r| r.image_version_id)))
            .all(txn)
            .await?
            .into_iter()
            .filter(|v| self.ctx.products.contains_key(&v.product_id))
            .map(|v| (v.id, v))
            .collect();
        let mut catalogue: BTreeMap<String, (image_region::Model, image_version::Model)> =
            BTreeMap::new();
        for r in rows {
            let (Some(id), Some(v)) = (r.image_id.clone(), versions.get(&r.image_version_id))
            else {
                continue;
            };
            // A deregistered record gives way to a live one of the same id.
            let replace = catalogue
                .get(&id)
                .is_none_or(|(old, _)| old.state == RegionImageState::Deregistered);
            if replace {
                catalogue.insert(id, (r, v.clone()));
            }
        }

        let mut in_account: BTreeMap<String, &SeenImage> = BTreeMap::new();
        for i in images {
            in_account.entry(i.image_id.trim().to_owned()).or_insert(i);
        }
        let mut outside: Vec<&SeenImage> = Vec::new();
        for (id, img) in &in_account {
            let state = account_state(Some(img), self.now);
            let (source, image_region_id, product_id, release_id) = if let Some((r, v)) =
                catalogue.get(id)
            {
                let source = if v.source == ImageSource::Imported {
                    ImageSource::Imported
                } else {
                    ImageSource::Portal
                };
                (source, Some(r.id), Some(v.product_id), Some(v.release_id))
            } else if img.tags.contains_key(PORTAL_JOB_TAG) {
                // The portal's own build, still under way: its build records it.
                let product = recognise(&self.ctx.namings, &img.name, &img.tags, &img.arch)
                    .map(|r| r.product_id);
                (ImageSource::Portal, None, product, None)
            } else if let Some(what) = recognise(&self.ctx.namings, &img.name, &img.tags, &img.arch)
            {
                let found = Found {
                    region,
                    image_id: id,
                    name: &img.name,
                    created_on: img.created_on,
                    state,
                };
                match import_image(txn, self.portal, self.now, &found, &what).await? {
                    Some(imported) => {
                        report.imported += 1;
                        let ids = (
                            imported.region.id,
                            imported.version.product_id,
                            imported.version.release_id,
                        );
                        catalogue.insert(id.clone(), (imported.region, imported.version));
                        (ImageSource::Imported, Some(ids.0), Some(ids.1), Some(ids.2))
                    }
                    None => (ImageSource::Outside, None, None, None),
                }
            } else {
                (ImageSource::Outside, None, None, None)
            };
            if source == ImageSource::Outside {
                report.outside += 1;
                outside.push(img);
            }
            report.images += 1;
            let before = known.get(id);
            let changed = before.is_none_or(|b| {
                b.public != img.public
                    || b.state != img.state
                    || b.protected != img.protected
                    || b.deprecation_time != img.deprecation_time
                    || b.gone_at.is_some()
            });
            let tags = serde_json::to_string(&img.tags)
                .map_err(|e| AppError::internal("image tags", e))?;
            account_image::Entity::insert(account_image::ActiveModel {
                region: Set(region.to_owned()),
                image_id: Set(id.clone()),
                name: Set(img.name.clone()),
                arch: Set(img.arch.clone()),
                state: Set(img.state.clone()),
                public: Set(img.public),
                deprecation_time: Set(img.deprecation_time),
                created_on: Set(img.created_on),
                tags: Set(tags),
                protected: Set(img.protected),
                live: Set(self.live.contains(id)),
                source: Set(source),
                image_region_id: Set(image_region_id),
                product_id: Set(product_id),
                release_id: Set(release_id),
                first_seen_at: Set(self.now),
                last_seen_at: Set(self.now),
                changed_at: Set(match before {
                    Some(b) if !changed => b.changed_at,
                    _ => self.now,
                }),
                gone_at: Set(None),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([
                    account_image::Column::Region,
                    account_image::Column::ImageId,
                ])
                .update_columns([
                    account_image::Column::Name,
                    account_image::Column::Arch,
                    account_image::Column::State,
                    account_image::Column::Public,
                    account_image::Column::DeprecationTime,
                    account_image::Column::CreatedOn,
                    account_image::Column::Tags,
                    account_image::Column::Protected,
                    account_image::Column::Live,
                    account_image::Column::Source,
                    account_image::Column::ImageRegionId,
                    account_image::Column::ProductId,
                    account_image::Column::ReleaseId,
                    account_image::Column::LastSeenAt,
                    account_image::Column::ChangedAt,
                    account_image::Column::GoneAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        }
        let gone: Vec<String> = known
            .values()
            .filter(|i| i.gone_at.is_none() && !in_account.contains_key(&i.image_id))
            .map(|i| i.image_id.clone())
            .collect();
        if !gone.is_empty() {
            account_image::Entity::update_many()
                .col_expr(account_image::Column::GoneAt, Expr::value(self.now))
                .col_expr(account_image::Column::ChangedAt, Expr::value(self.now))
                .col_expr(account_image::Column::Live, Expr::value(false))
                .filter(account_image::Column::Region.eq(region))
                .filter(account_image::Column::ImageId.is_in(gone))
                .exec(txn)
                .await?;
        }
        let account_ids: HashMap<String, i32> = account_image::Entity::find()
            .filter(account_image::Column::Region.eq(region))
            .filter(account_image::Column::GoneAt.is_null())
            .all(txn)
            .await?
            .into_iter()
            .map(|i| (i.image_id, i.id))
            .collect();

        for img in outside {
            let id = img.image_id.trim();
            let state = account_state(Some(img), self.now);
            seen.push(Observed {
                key: image_key(DriftKind::OutsideImage, region, id),
                kind: Some(DriftKind::OutsideImage),
                summary: format!(
                    "{} ({id}) in {region} was made outside the portal ({})",
                    shown_name(&img.name),
                    state.word()
                ),
                catalogue: String::new(),
                account: state.word().to_owned(),
                region: Some(region.to_owned()),
                image_id: Some(id.to_owned()),
                account_image_id: account_ids.get(id).copied(),
                ..Default::default()
            });
        }
        for (id, (r, v)) in &catalogue {
            let state = account_state(in_account.get(id).copied(), self.now);
            let live = self.live.contains(id);
            let Some(kind) = image_drift(r.state, state, live) else {
                continue;
            };
            let mut item = Observed {
                key: image_key(kind, region, id),
                kind: Some(kind),
                summary: match kind {
                    DriftKind::ImageGone => format!(
                        "{} ({id}) in {region} is gone from the account; the catalogue says {}",
                        v.name,
                        r.state.label().to_lowercase()
                    ),
                    _ => format!(
                        "{} ({id}) in {region} is {} in the account; the catalogue says {}",
                        v.name,
                        state.word(),
                        r.state.label().to_lowercase()
                    ),
                },
                catalogue: r.state.as_str().to_owned(),
                account: state.word().to_owned(),
                region: Some(region.to_owned()),
                image_id: Some(id.clone()),
                product_id: Some(v.product_id),
                image_region_id: Some(r.id),
                account_image_id: account_ids.get(id).copied(),
                ..Default::default()
            };
            if kind == DriftKind::LiveImageGone {
                self.live_gone(txn, region, id, &mut item).await?;
            }
            seen.push(item);
        }
        // A live image the catalogue does not know, missing from its region.
        for id in self.live {
            let home = self
                .homes
                .get(id)
                .map_or(publish::IMAGE_REGION, String::as_str);
            if home != region
                || catalogue.contains_key(id)
                || account_state(in_account.get(id).copied(), self.now) != AccountState::Gone
            {
                continue;
            }
            let mut item = Observed {
                key: image_key(DriftKind::LiveImageGone, region, id),
                kind: Some(DriftKind::LiveImageGone),
                catalogue: String::new(),
                account: AccountState::Gone.word().to_owned(),
                region: Some(region.to_owned()),
                image_id: Some(id.clone()),
                ..Default::default()
            };
            self.live_gone(txn, region, id, &mut item).await?;
            seen.push(item);
        }
        Ok(true)
    }

    /// Fills a live image's difference with the public version that uses it.
    async fn live_gone(
        &self,
        txn: &impl ConnectionTrait,
        region: &str,
        image_id: &str,
        item: &mut Observed,
    ) -> AppResult<()> {
        let using = self
            .uses
            .get(image_id)
            .and_then(|us| us.iter().find(|u| u.public));
        let (listing, version) = match using {
            Some(u) => {
                let version = listing_version::Entity::find()
                    .filter(listing_version::Column::ListingId.eq(u.listing_id))
                    .filter(listing_version::Column::DeliveryOptionId.eq(u.option.clone()))
                    .one(txn)
                    .await?;
                (self.ctx.listings.get(&u.listing_id), version)
            }
            None => (None, None),
        };
        item.listing_id = listing.map(|l| l.id);
        item.product_id = item.product_id.or(listing.map(|l| l.product_id));
        item.listing_version_id = version.as_ref().map(|v| v.id);
        item.catalogue = match (&version, listing) {
            (Some(v), Some(l)) => format!("behind '{}' on {}", v.title, l.entity_name),
            _ => "behind a public marketplace version".to_owned(),
        };
        item.summary = match (using, listing) {
            (Some(u), Some(l)) => format!(
                "{image_id} in {region}, behind the public version '{}' of {}, is gone from the account",
                u.title, l.entity_name
            ),
            _ => format!(
                "{image_id} in {region}, behind a public marketplace version, is gone from the account"
            ),
        };
        Ok(())
    }

    /// Marks the live images and plans the protection they need: on for every image
    /// behind a public version, off only for a protected one whose every version is
    /// restricted (never for one no version uses).
    async fn protection(&self, txn: &impl ConnectionTrait) -> AppResult<Vec<ProtectionChange>> {
        account_image::Entity::update_many()
            .col_expr(account_image::Column::Live, Expr::value(true))
            .filter(account_image::Column::ImageId.is_in(self.live.iter().cloned()))
            .filter(account_image::Column::GoneAt.is_null())
            .filter(account_image::Column::Live.eq(false))
            .exec(txn)
            .await?;
        account_image::Entity::update_many()
            .col_expr(account_image::Column::Live, Expr::value(false))
            .filter(account_image::Column::Live.eq(true))
            .filter(
                Condition::any()
                    .add(account_image::Column::ImageId.is_not_in(self.live.iter().cloned()))
                    .add(account_image::Column::GoneAt.is_not_null()),
            )
            .exec(txn)
            .await?;
        let images = account_image::Entity::find()
            .filter(account_image::Column::GoneAt.is_null())
            .filter(
                Condition::any()
                    .add(account_image::Column::Live.eq(true))
                    .add(account_image::Column::Protected.eq(true)),
            )
            .order_by_asc(account_image::Column::Region)
            .order_by_asc(account_image::Column::ImageId)
            .all(txn)
            .await?;
        let mut plan = Vec::new();
        for i in images {
            let using = self.uses.get(&i.image_id).map(Vec::as_slice).unwrap_or(&[]);
            let listing_name = |u: &Use| {
                self.ctx.listings.get(&u.listing_id).map_or_else(
                    || format!("listing {}", u.listing_id),
                    |l| l.entity_name.clone(),
                )
            };
            if i.live && !i.protected {
                let why = match using.iter().find(|u| u.public) {
                    Some(u) => format!(
                        "behind the public version '{}' of {}",
                        u.title,
                        listing_name(u)
                    ),
                    None => "behind a public marketplace version".to_owned(),
                };
                plan.push(ProtectionChange {
                    region: i.region,
                    image_id: i.image_id,
                    enable: true,
                    why,
                });
            } else if i.protected && !i.live && !using.is_empty() && using.iter().all(|u| !u.public)
            {
                let titles: Vec<String> = using
                    .iter()
                    .map(|u| format!("'{}' of {}", u.title, listing_name(u)))
                    .collect();
                plan.push(ProtectionChange {
                    region: i.region,
                    image_id: i.image_id,
                    enable: false,
                    why: format!(
                        "every version using it is restricted: {}",
                        titles.join(", ")
                    ),
                });
            }
        }
        Ok(plan)
    }
}

/// How an image without a name is shown.
fn shown_name(name: &str) -> &str {
    if name.trim().is_empty() {
        "An unnamed image"
    } else {
        name.trim()
    }
}

/// Opens, keeps or reopens the item of each difference seen, and resolves the open items of
/// what was read that it no longer sees. A difference someone resolved stays resolved while
/// the account says the same of it; one the portal resolved (no longer seen) is reopened
/// with a new `since` when it comes back.
async fn reconcile(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    scope: Scope<'_>,
    seen: Vec<Observed>,
    report: &mut SyncReport,
) -> AppResult<()> {
    let mut known: HashMap<String, drift_item::Model> = HashMap::new();
    for keys in seen.chunks(500) {
        known.extend(
            drift_item::Entity::find()
                .filter(drift_item::Column::Key.is_in(keys.iter().map(|o| o.key.clone())))
                .all(txn)
                .await?
                .into_iter()
                .map(|i| (i.key.clone(), i)),
        );
    }
    let mut keys: HashSet<String> = HashSet::new();
    for o in seen {
        let Some(kind) = o.kind else {
            continue;
        };
        if !keys.insert(o.key.clone()) {
            continue;
        }
        let existing = match known.remove(&o.key) {
            Some(item) => Some(item),
            None => {
                let inserted = insert_new(
                    txn,
                    drift_item::ActiveModel {
                        key: Set(o.key.clone()),
                        kind: Set(kind),
                        state: Set(DriftState::Open),
                        summary: Set(o.summary.clone()),
                        catalogue_value: Set(o.catalogue.clone()),
                        account_value: Set(o.account.clone()),
                        region: Set(o.region.clone()),
                        image_id: Set(o.image_id.clone()),
                        product_id: Set(o.product_id),
                        listing_id: Set(o.listing_id),
                        image_region_id: Set(o.image_region_id),
                        listing_version_id: Set(o.listing_version_id),
                        account_image_id: Set(o.account_image_id),
                        since: Set(now),
                        last_seen_at: Set(now),
                        resolved_at: Set(None),
                        resolved_by: Set(None),
                        resolution: Set(None),
                        ..Default::default()
                    },
                    [drift_item::Column::Key],
                )
                .await?;
                if inserted {
                    opened(txn, now, kind, &o, report).await?;
                    None
                } else {
                    // Another sync opened it meanwhile.
                    drift_item::Entity::find()
                        .filter(drift_item::Column::Key.eq(o.key.clone()))
                        .one(txn)
                        .await?
                }
            }
        };
        let Some(item) = existing else {
            continue;
        };
        let acknowledged = item.state == DriftState::Resolved
            && item.resolved_by.as_deref() != Some(PORTAL)
            && item.account_value == o.account;
        let reopen = item.state == DriftState::Resolved && !acknowledged;
        let mut active: drift_item::ActiveModel = item.into();
        active.last_seen_at = Set(now);
        if !acknowledged {
            active.summary = Set(o.summary.clone());
            active.catalogue_value = Set(o.catalogue.clone());
            active.account_value = Set(o.account.clone());
            active.product_id = Set(o.product_id);
            active.listing_id = Set(o.listing_id);
            active.image_region_id = Set(o.image_region_id);
            active.listing_version_id = Set(o.listing_version_id);
            active.account_image_id = Set(o.account_image_id);
        }
        if reopen {
            active.state = Set(DriftState::Open);
            active.since = Set(now);
            active.resolved_at = Set(None);
            active.resolved_by = Set(None);
            active.resolution = Set(None);
        }
        active.update(txn).await?;
        if reopen {
            opened(txn, now, kind, &o, report).await?;
        }
    }
    let image_kinds: Vec<DriftKind> = DriftKind::ALL
        .iter()
        .copied()
        .filter(|k| is_image_kind(*k))
        .collect();
    let version_kinds: Vec<DriftKind> = DriftKind::ALL
        .iter()
        .copied()
        .filter(|k| !is_image_kind(*k))
        .collect();
    let open = drift_item::Entity::find().filter(drift_item::Column::State.eq(DriftState::Open));
    let open = match scope {
        Scope::Region(region) => open
            .filter(drift_item::Column::Region.eq(region))
            .filter(drift_item::Column::Kind.is_in(image_kinds)),
        Scope::Listing(id) => open
            .filter(drift_item::Column::ListingId.eq(id))
            .filter(drift_item::Column::Kind.is_in(version_kinds)),
    };
    for item in open.all(txn).await? {
        if keys.contains(&item.key) {
            continue;
        }
        let mut active: drift_item::ActiveModel = item.into();
        active.state = Set(DriftState::Resolved);
        active.resolved_at = Set(Some(now));
        active.resolved_by = Set(Some(PORTAL.to_owned()));
        active.resolution = Set(Some("no longer differs".to_owned()));
        active.update(txn).await?;
        report.drift_resolved += 1;
    }
    Ok(())
}

/// A difference opened (or opened again): a live version's image gone is an incident,
/// told to Omnibus and Partnerships once.
async fn opened(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    kind: DriftKind,
    o: &Observed,
    report: &mut SyncReport,
) -> AppResult<()> {
    report.drift_opened += 1;
    if kind != DriftKind::LiveImageGone {
        return Ok(());
    }
    report.incidents += 1;
    notify::send(
        txn,
        now,
        Event::new(
            NotificationKind::CloudIncident,
            format!(
                "Incident: the image {} behind a live marketplace version is gone",
                o.image_id.as_deref().unwrap_or_default()
            ),
            "/cloud",
        )
        .body(format!(
            "{}. Propose restricting the version on the Account page.",
            o.summary
        ))
        .to_teams(&[Role::Omnibus, Role::Partnerships]),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_kind_and_where() {
        assert_eq!(
            image_key(DriftKind::ImageGone, "us-east-1", "ami-1"),
            "image_gone:us-east-1:ami-1"
        );
        assert_eq!(
            version_key(DriftKind::VersionAdded, 3, "do-1"),
            "version_added:3:do-1"
        );
    }

    #[test]
    fn a_version_without_a_delivery_option_is_known_by_its_id() {
        let v = super::super::SeenVersion {
            version_id: "v-1".into(),
            delivery_option_id: " ".into(),
            ..Default::default()
        };
        assert_eq!(option_of(&v), "v-1");
    }
}
