//! Image versions (product × release × architecture) and their per-region images: what
//! exists, in which state, and which image id to launch.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};

use super::{
    audit::{self, Change, snapshot},
    entities::{image_region, image_version, partner, product, release},
    products, releases,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode, Validator},
};

/// Builds summaries for a batch of rows with one query per related table.
pub(crate) async fn summaries(
    db: &impl ConnectionTrait,
    rows: Vec<image_version::Model>,
) -> AppResult<Vec<ImageVersionSummary>> {
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let product_ids: Vec<i32> = rows.iter().map(|r| r.product_id).collect();
    let release_ids: Vec<i32> = rows.iter().map(|r| r.release_id).collect();
    let products: HashMap<i32, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(product_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let partner_ids: Vec<i32> = products.values().map(|p| p.partner_id).collect();
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(partner_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let releases: HashMap<i32, release::Model> = release::Entity::find()
        .filter(release::Column::Id.is_in(release_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    // Counted by the database: a page of images would otherwise read every regional row.
    let region_counts = super::count_by(
        db,
        image_region::Entity::find(),
        image_region::Column::ImageVersionId,
        ids,
    )
    .await?;
    rows.into_iter()
        .map(|iv| {
            let product = products
                .get(&iv.product_id)
                .ok_or_else(|| AppError::internal("image without product", iv.id))?;
            let partner = partners
                .get(&product.partner_id)
                .ok_or_else(|| AppError::internal("product without partner", product.id))?;
            let release = releases
                .get(&iv.release_id)
                .ok_or_else(|| AppError::internal("image without release", iv.id))?;
            Ok(ImageVersionSummary {
                id: iv.id,
                partner_slug: partner.slug.clone(),
                product_slug: product.slug.clone(),
                product_name: product.name.clone(),
                version: release.version.clone(),
                arch: iv.arch,
                state: iv.state,
                region_count: region_counts.get(&iv.id).copied().unwrap_or(0),
                name: iv.name,
            })
        })
        .collect()
}

/// Image versions, newest first, optionally of one product or release.
pub async fn list(
    db: &impl ConnectionTrait,
    product: Option<(&str, &str)>,
    release_version: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<ImageVersionSummary>> {
    let Paging { index, per_page } = page.checked()?;
    let mut query = image_version::Entity::find().order_by_desc(image_version::Column::Id);
    if let Some((partner_slug, slug)) = product {
        let (_, p) = products::find_model(db, partner_slug, slug).await?;
        query = query.filter(image_version::Column::ProductId.eq(p.id));
    }
    if let Some(v) = release_version {
        let r = releases::find_model(db, v).await?;
        query = query.filter(image_version::Column::ReleaseId.eq(r.id));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: summaries(db, rows).await?,
        page: index + 1,
        per_page,
        total,
    })
}

pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<ImageVersion> {
    let iv = image_version::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("image version {id}")))?;
    let product = product::Entity::find_by_id(iv.product_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("image without product", id))?;
    let partner = partner::Entity::find_by_id(product.partner_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("product without partner", product.id))?;
    let release = release::Entity::find_by_id(iv.release_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("image without release", id))?;
    let regions = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.eq(id))
        .order_by_asc(image_region::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|r| ImageRegion {
            state: r.state,
            region: r.region,
            image_id: r.image_id,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(ImageVersion {
        id: iv.id,
        partner_slug: partner.slug,
        product_slug: product.slug,
        product_name: product.name,
        version: release.version,
        release_kind: release.kind,
        arch: iv.arch,
        state: iv.state,
        name: iv.name,
        regions,
        created_at: iv.created_at,
        updated_at: iv.updated_at,
        rebuild: iv.rebuild,
        rebuild_reason: iv.rebuild_reason,
        superseded_by: iv.superseded_by,
        superseded_at: iv.superseded_at,
        base_image_id: iv.base_image_id,
        base_image_name: iv.base_image_name,
    })
}

/// The longest image name AWS accepts.
const MAX_IMAGE_NAME: usize = 128;

/// The name of image number `rebuild` of a release × product × architecture: the product's
/// rendered template for the first, `<that> (rebuild N)` for rebuilds, shortened so it stays
/// within AWS's 128 characters. Unique per product, release and architecture because the
/// number is.
pub fn image_name(template: &str, version: &Version, rebuild: i32) -> String {
    let name = products::render_image_name(template, version);
    if rebuild <= 1 {
        return name;
    }
    let suffix = format!(" (rebuild {rebuild})");
    let keep = MAX_IMAGE_NAME.saturating_sub(suffix.len());
    let mut base: String = name.chars().take(keep).collect();
    while base.len() > keep {
        base.pop();
    }
    format!("{}{suffix}", base.trim_end())
}

/// The current image of a release × product × architecture among its image versions: one
/// no newer image has replaced, an available one before one still building or failed, the
/// newest of those first.
pub(crate) fn current(rows: &[image_version::Model]) -> Option<&image_version::Model> {
    rows.iter()
        .filter(|iv| iv.superseded_by.is_none())
        .max_by_key(|iv| (iv.state == ImageState::Available, iv.rebuild))
}

/// Every image version of a release × product × architecture, newest first.
pub(crate) async fn versions_of(
    db: &impl ConnectionTrait,
    product_id: i32,
    release_id: i32,
    arch: Arch,
) -> AppResult<Vec<image_version::Model>> {
    Ok(image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(product_id))
        .filter(image_version::Column::ReleaseId.eq(release_id))
        .filter(image_version::Column::Arch.eq(arch))
        .order_by_desc(image_version::Column::Rebuild)
        .all(db)
        .await?)
}

/// Marks every older image of the same release × product × architecture that nothing has
/// replaced yet as replaced by `newer`, which has become available; retention retires them.
async fn supersede_older(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    newer: &image_version::Model,
) -> AppResult<()> {
    let older = versions_of(txn, newer.product_id, newer.release_id, newer.arch)
        .await?
        .into_iter()
        .filter(|iv| iv.rebuild < newer.rebuild && iv.superseded_by.is_none());
    for iv in older {
        let name = iv.name.clone();
        let id = iv.id;
        let mut active: image_version::ActiveModel = iv.into();
        active.superseded_by = Set(Some(newer.id));
        active.superseded_at = Set(Some(now));
        active.updated_at = Set(now);
        active.update(txn).await?;
        audit::record(
            txn,
            Some(actor),
            now,
            Change {
                action: "supersede",
                object_type: "image_version",
                object_id: id.to_string(),
                summary: format!(
                    "{name} was replaced by {} as the current image; retention retires it",
                    newer.name
                ),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    Ok(())
}

fn image_id(value: &str) -> Result<Option<String>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let valid = v.len() <= 128
        && v.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || b == b'-'
                || b == b'_'
                || b == b'/'
                || b == b':'
                || b == b'.'
        });
    if valid {
        Ok(Some(v.to_owned()))
    } else {
        Err(format!("'{v}' is not an image id such as ami-0abc123"))
    }
}

/// The base image a build started from, as EC2 named it in the build region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub id: String,
    pub name: Option<String>,
}

/// Creates or updates the image version of a product, release and architecture, with the
/// regional images reported. Regions not mentioned are left as they are.
pub async fn record(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &ImageVersionInput,
) -> AppResult<ImageVersion> {
    record_built(db, actor, now, input, None).await
}

/// [`record`], and with `base` the base image the build started from, written in the same
/// change (and audit line): the daily base-image check compares it with the newest one.
pub async fn record_built(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &ImageVersionInput,
    base: Option<&BaseImage>,
) -> AppResult<ImageVersion> {
    actor.require(Permission::ManageReleases)?;
    let txn = super::begin_write(db).await?;
    let mut v = Validator::new();
    let found = match products::find_model(&txn, input.partner.trim(), input.product.trim()).await {
        Ok(found) => Some(found),
        Err(e) if e.code == ErrorCode::NotFound => {
            v.add("product", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let release = match releases::find_model(&txn, &input.version).await {
        Ok(r) => Some(r),
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::ValidationFailed) => {
            v.add("version", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let arch = v.check("arch", input.arch.parse::<Arch>());
    let state = v.check("state", input.state.parse::<ImageState>());
    let archs = match &found {
        Some((_, p)) => products::architectures_of(&txn, p.id).await?,
        None => Vec::new(),
    };
    let template = match (&found, arch) {
        (Some((_, p)), Some(arch)) => match archs.iter().find(|a| a.arch == arch) {
            Some(a) => Some(a.image_name_template.clone()),
            None => {
                v.add("arch", format!("{} is not built for {arch}", p.name));
                None
            }
        },
        _ => None,
    };
    let cloud = match &found {
        Some((partner, _)) => partner.cloud,
        None => Cloud::Other,
    };
    let mut regions = Vec::new();
    for (i, r) in input.regions.iter().enumerate() {
        let region = v.check(
            &format!("regions[{i}].region"),
            cloud.parse_region(&r.region),
        );
        let id = v.check(&format!("regions[{i}].image_id"), image_id(&r.image_id));
        let st = v.check(
            &format!("regions[{i}].state"),
            r.state.parse::<RegionImageState>(),
        );
        if let (Some(region), Some(id), Some(st)) = (region, id, st) {
            regions.push((region, id, st));
        }
    }
    let ((_, product), release, arch, state, template) =
        v.finish(|| Some((found?, release?, arch?, state?, template?)))?;
    let version =
        Version::parse(&release.version).map_err(|e| AppError::internal("stored release", e))?;

    let all = versions_of(&txn, product.id, release.id, arch).await?;
    let existing = match input.rebuild {
        Some(n) => all.iter().find(|iv| iv.rebuild == n),
        None => current(&all),
    }
    .cloned();
    let number = input.rebuild.unwrap_or(1);
    if number < 1 {
        return Err(AppError::validation(
            "rebuild",
            "the first image is number 1; rebuilds count up from 2",
        ));
    }
    let before = match &existing {
        Some(iv) => Some(get(&txn, iv.id).await?),
        None => None,
    };
    let iv = match existing {
        Some(iv) => {
            let mut active: image_version::ActiveModel = iv.into();
            active.state = Set(state);
            active.updated_at = Set(now);
            if let Some(base) = base {
                active.base_image_id = Set(Some(base.id.clone()));
                active.base_image_name = Set(base.name.clone());
            }
            active.update(&txn).await?
        }
        None => {
            image_version::ActiveModel {
                product_id: Set(product.id),
                release_id: Set(release.id),
                arch: Set(arch),
                name: Set(image_name(&template, &version, number)),
                state: Set(state),
                created_at: Set(now),
                updated_at: Set(now),
                rebuild: Set(number),
                superseded_by: Set(None),
                superseded_at: Set(None),
                rebuild_reason: Set(None),
                base_image_id: Set(base.map(|b| b.id.clone())),
                base_image_name: Set(base.and_then(|b| b.name.clone())),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    if iv.state == ImageState::Available && iv.superseded_by.is_none() {
        supersede_older(&txn, actor, now, &iv).await?;
    }
    for (region, id, st) in regions {
        let existing = image_region::Entity::find()
            .filter(image_region::Column::ImageVersionId.eq(iv.id))
            .filter(image_region::Column::Region.eq(&region))
            .one(&txn)
            .await?;
        match existing {
            Some(r) => {
                let mut active: image_region::ActiveModel = r.into();
                if id.is_some() {
                    active.image_id = Set(id);
                }
                active.state = Set(st);
                active.updated_at = Set(now);
                active.update(&txn).await?;
            }
            None => {
                image_region::ActiveModel {
                    image_version_id: Set(iv.id),
                    region: Set(region),
                    image_id: Set(id),
                    state: Set(st),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    let after = get(&txn, iv.id).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: if before.is_some() { "update" } else { "create" },
            object_type: "image_version",
            object_id: after.id.to_string(),
            summary: format!(
                "recorded {} as {}",
                after.name,
                after.state.label().to_lowercase()
            ),
            before: before.as_ref().and_then(snapshot),
            after: snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// A product's release × architecture matrix over its newest releases.
pub async fn matrix(
    db: &impl ConnectionTrait,
    partner_slug: &str,
    slug: &str,
    releases_shown: u64,
) -> AppResult<Vec<MatrixRow>> {
    let (_, product) = products::find_model(db, partner_slug, slug).await?;
    let archs: Vec<Arch> = products::architectures_of(db, product.id)
        .await?
        .into_iter()
        .map(|a| a.arch)
        .collect();
    let recent = releases::newest(db, releases_shown).await?;
    let rows = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(product.id))
        .filter(image_version::Column::ReleaseId.is_in(recent.iter().map(|r| r.id)))
        .all(db)
        .await?;
    let mut grouped: HashMap<(i32, Arch), Vec<image_version::Model>> = HashMap::new();
    for row in rows {
        grouped
            .entry((row.release_id, row.arch))
            .or_default()
            .push(row);
    }
    let rows: Vec<image_version::Model> = grouped
        .values()
        .filter_map(|g| current(g).cloned())
        .collect();
    let by_key: HashMap<(i32, Arch), ImageVersionSummary> = {
        let keys: Vec<(i32, Arch)> = rows.iter().map(|r| (r.release_id, r.arch)).collect();
        keys.into_iter().zip(summaries(db, rows).await?).collect()
    };
    Ok(recent
        .into_iter()
        .map(|r| MatrixRow {
            kind: r.kind,
            cells: archs
                .iter()
                .map(|&arch| MatrixCell {
                    arch,
                    image: by_key.get(&(r.id, arch)).cloned(),
                })
                .collect(),
            version: r.version,
        })
        .collect())
}

/// Which image to launch for a release, product, architecture and region.
pub async fn lookup(db: &impl ConnectionTrait, q: &LookupQuery) -> AppResult<ImageLookup> {
    let mut v = Validator::new();
    let partner_slug = q
        .partner
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("aws");
    let found = match products::find_model(db, partner_slug, q.product.trim()).await {
        Ok(found) => Some(found),
        Err(e) if e.code == ErrorCode::NotFound => {
            v.add("product", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let release = match releases::find_model(db, &q.release).await {
        Ok(r) => Some(r),
        Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::ValidationFailed) => {
            v.add("release", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let arch = v.check("arch", q.arch.parse::<Arch>());
    let cloud = match &found {
        Some((partner, _)) => partner.cloud,
        None => Cloud::Other,
    };
    let region = v.check("region", cloud.parse_region(&q.region));
    let ((_, product), release, arch, region) =
        v.finish(|| Some((found?, release?, arch?, region?)))?;
    let not_found = || {
        AppError::not_found(format!(
            "an image of {} {} for {} in {}",
            product.name, release.version, arch, region
        ))
    };
    // The current image, or while it has none in this region (a rebuild still on its way
    // there), the newest earlier one that nothing has replaced yet.
    let mut all = versions_of(db, product.id, release.id, arch).await?;
    let first = current(&all).map(|iv| iv.id);
    all.retain(|iv| iv.superseded_by.is_none());
    all.sort_by_key(|iv| (Some(iv.id) != first, -iv.rebuild));
    let regions = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.is_in(all.iter().map(|iv| iv.id)))
        .filter(image_region::Column::Region.eq(&region))
        .filter(image_region::Column::ImageId.is_not_null())
        .all(db)
        .await?;
    let (iv, r) = all
        .into_iter()
        .find_map(|iv| {
            let r = regions
                .iter()
                .find(|r| r.image_version_id == iv.id)?
                .clone();
            Some((iv, r))
        })
        .ok_or_else(not_found)?;
    Ok(ImageLookup {
        image_id: r.image_id.unwrap_or_default(),
        state: r.state,
        name: iv.name,
        region,
        version: release.version,
        product: product.slug,
        arch,
        image_version_id: iv.id,
    })
}

/// Image ids containing `needle`, for the search box.
pub async fn search_image_ids(
    db: &impl ConnectionTrait,
    needle: &str,
    limit: u64,
) -> AppResult<Vec<ImageLookup>> {
    use sea_orm::QuerySelect;
    let regions = image_region::Entity::find()
        .filter(super::ci_like(
            image_region::Column::ImageId,
            &needle.to_lowercase(),
            true,
        ))
        .order_by_desc(image_region::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let versions = image_version::Entity::find()
        .filter(image_version::Column::Id.is_in(regions.iter().map(|r| r.image_version_id)))
        .all(db)
        .await?;
    let by_id: HashMap<i32, ImageVersionSummary> = summaries(db, versions)
        .await?
        .into_iter()
        .map(|iv| (iv.id, iv))
        .collect();
    regions
        .into_iter()
        .map(|r| {
            let iv = by_id
                .get(&r.image_version_id)
                .ok_or_else(|| AppError::internal("region without image", r.id))?;
            Ok(ImageLookup {
                image_id: r.image_id.unwrap_or_default(),
                state: r.state,
                name: iv.name.clone(),
                region: r.region,
                version: iv.version.clone(),
                product: iv.product_slug.clone(),
                arch: iv.arch,
                image_version_id: iv.id,
            })
        })
        .collect()
}
