//! Marketing assets as marketing uses them: logos, screenshots and other files, videos,
//! blog and social posts, customer quotes, per partner and product. Every change is a new
//! version; earlier versions are kept. What each kind is made of, and which files it takes,
//! is said in `kinds.rs`. An asset is linked to listings and workflow tasks (`links.rs`). The
//! bytes live in an object store (a local folder, or S3); the logo a listing's approved copy
//! pins has a public URL AWS Marketplace fetches ([`AssetUrls`]).

mod kinds;
mod links;

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::{
    Attribute, Attributes, ObjectStore, PutOptions, PutPayload, path::Path as StorePath,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Query,
};

pub use kinds::{
    FileRule, FileType, KindRules, MAX_ASSET_BYTES, UPLOAD_BODY_LIMIT, check_svg, rules, sniff,
    sniff_content_type,
};
pub use links::{link, of_listing, refs_of_tasks, unlink};

use super::{
    audit::{self, Change, snapshot},
    entities::{asset, asset_version, copy_revision, listing, partner, product, user},
    partners, products,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode, Validator, required_text},
};

/// Where an asset version's public URL points: the URL AWS Marketplace fetches a logo from.
#[derive(Debug, Clone)]
pub enum AssetUrls {
    /// Assets in a local folder are served by the portal itself, under its public address
    /// (known once it is bound).
    Local { portal: super::Late<String> },
    /// Assets in S3: the object's own URL, under this base (bucket and prefix included).
    S3 { base: String },
}

impl AssetUrls {
    /// The address anyone (AWS Marketplace) reaches one version's file at, without signing
    /// in: the object in S3 (whose bucket policy lets everyone read the prefix), or the
    /// portal's public route for a pinned logo when the store is a local folder.
    pub fn public_url(
        &self,
        asset_id: i32,
        version: i32,
        storage_key: &str,
        filename: &str,
    ) -> AppResult<String> {
        if storage_key.is_empty() {
            return Err(AppError::conflict(
                "logo_asset_id",
                format!("version {version} of asset {asset_id} has no file"),
            ));
        }
        match self {
            AssetUrls::S3 { base } => Ok(format!("{}/{storage_key}", base.trim_end_matches('/'))),
            AssetUrls::Local { portal } => {
                let portal = portal.get().ok_or_else(|| {
                    AppError::new(
                        ErrorCode::Internal,
                        "the portal's public address is not known, so a file in its local \
                         asset folder has no public URL: set PORTAL_PUBLIC_URL, or keep assets \
                         in S3 (PORTAL_ASSETS_URL)",
                    )
                })?;
                Ok(format!(
                    "{}/public/assets/{asset_id}/{version}/{}",
                    portal.trim_end_matches('/'),
                    safe_filename(filename)
                ))
            }
        }
    }
}

/// A file name as a URL path segment or a header carries it: letters, digits, `.`, `-`
/// and `_` only.
pub fn safe_filename(name: &str) -> String {
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if safe.trim_matches('.').is_empty() {
        "file".to_owned()
    } else {
        safe
    }
}

/// What an upload carries: the new asset, its first version's file (if its kind takes one)
/// and content, and what to link it to at once.
#[derive(Debug, Clone, Default)]
pub struct UploadInput {
    pub partner: String,
    pub product: String,
    pub kind: String,
    pub title: String,
    pub filename: String,
    pub bytes: Bytes,
    pub content: AssetContent,
    /// A listing of the same partner to link the asset to.
    pub listing_id: Option<i32>,
    /// A workflow task of the same partner to link the asset to.
    pub task_id: Option<i32>,
}

fn version_url(asset_id: i32, version: i32) -> String {
    format!("/api/v1/assets/{asset_id}/versions/{version}/file")
}

fn version_dto(v: asset_version::Model, uploaders: &HashMap<i32, String>) -> AssetVersion {
    AssetVersion {
        url: (!v.storage_key.is_empty()).then(|| version_url(v.asset_id, v.version)),
        link: v.link,
        text: v.body,
        attribution: v.attribution,
        customer_agreed: v.customer_agreed,
        uploaded_by: v.uploaded_by.and_then(|id| uploaders.get(&id).cloned()),
        version: v.version,
        content_type: v.content_type,
        size_bytes: v.size_bytes,
        sha256: v.sha256,
        filename: v.filename,
        created_at: v.created_at,
    }
}

/// The assets as the API shows them, with their versions and links: a fixed number of
/// queries however many assets there are.
async fn to_dtos(db: &impl ConnectionTrait, assets: Vec<asset::Model>) -> AppResult<Vec<Asset>> {
    let ids: Vec<i32> = assets.iter().map(|a| a.id).collect();
    let partners = super::lookup(
        db,
        partner::Column::Id,
        assets.iter().map(|a| a.partner_id),
        |p| (p.id, p),
    )
    .await?;
    let products = super::lookup(
        db,
        product::Column::Id,
        assets.iter().filter_map(|a| a.product_id),
        |p| (p.id, p.slug),
    )
    .await?;
    let mut versions: HashMap<i32, Vec<asset_version::Model>> = HashMap::new();
    for v in asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.is_in(ids.clone()))
        .order_by_desc(asset_version::Column::Version)
        .all(db)
        .await?
    {
        versions.entry(v.asset_id).or_default().push(v);
    }
    let uploaders = super::lookup(
        db,
        user::Column::Id,
        versions.values().flatten().filter_map(|v| v.uploaded_by),
        |u| (u.id, u.name),
    )
    .await?;
    let mut links = links::links_of(db, &ids).await?;
    assets
        .into_iter()
        .map(|a| {
            let partner = partners
                .get(&a.partner_id)
                .ok_or_else(|| AppError::internal("asset without partner", a.id))?;
            Ok(Asset {
                id: a.id,
                partner_slug: partner.slug.clone(),
                partner_name: partner.name.clone(),
                product_slug: a.product_id.and_then(|id| products.get(&id).cloned()),
                kind: a.kind,
                title: a.title,
                versions: versions
                    .remove(&a.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| version_dto(v, &uploaders))
                    .collect(),
                links: links.remove(&a.id).unwrap_or_default(),
                created_at: a.created_at,
                updated_at: a.updated_at,
            })
        })
        .collect()
}

/// The gallery: assets newest first, optionally of one partner.
pub async fn list(
    db: &impl ConnectionTrait,
    partner_slug: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<Asset>> {
    let Paging { index, per_page } = page.checked()?;
    let mut query = asset::Entity::find()
        .order_by_desc(asset::Column::UpdatedAt)
        .order_by_desc(asset::Column::Id);
    if let Some(slug) = partner_slug.filter(|s| !s.is_empty()) {
        let p = partners::find_model(db, slug).await?;
        query = query.filter(asset::Column::PartnerId.eq(p.id));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator.num_items().await?;
    let items = to_dtos(db, paginator.fetch_page(index).await?).await?;
    Ok(Page {
        items,
        page: index + 1,
        per_page,
        total,
    })
}

pub(crate) async fn find_model(db: &impl ConnectionTrait, id: i32) -> AppResult<asset::Model> {
    asset::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("asset {id}")))
}

pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<Asset> {
    let a = find_model(db, id).await?;
    to_dtos(db, vec![a])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("an asset went missing", id))
}

/// The newest version of an asset.
pub(crate) async fn current_version(
    db: &impl ConnectionTrait,
    asset_id: i32,
) -> AppResult<Option<asset_version::Model>> {
    Ok(asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset_id))
        .order_by_desc(asset_version::Column::Version)
        .one(db)
        .await?)
}

fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if cleaned.trim().is_empty() {
        "upload".to_owned()
    } else {
        cleaned
    }
}

/// Puts the bytes with their content type (which S3 serves them with); a store that keeps
/// no attributes (a local folder) takes the bytes alone.
async fn put_file(
    store: &dyn ObjectStore,
    key: &str,
    bytes: Bytes,
    content_type: &'static str,
) -> AppResult<()> {
    let path = StorePath::from(key);
    let payload = PutPayload::from(bytes);
    let options = PutOptions {
        attributes: Attributes::from_iter([(Attribute::ContentType, content_type)]),
        ..Default::default()
    };
    match store.put_opts(&path, payload.clone(), options).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotImplemented) => store
            .put(&path, payload)
            .await
            .map(|_| ())
            .map_err(|e| AppError::internal("storing an asset", e)),
        Err(e) => Err(AppError::internal("storing an asset", e)),
    }
}

/// Writes a version: the file first (if it has one), then the row. A failed write leaves
/// no row pointing at nothing; a failed row leaves an unreferenced object, which is
/// harmless.
async fn store_version(
    txn: &impl ConnectionTrait,
    store: &dyn ObjectStore,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    (asset_id, version): (i32, i32),
    filename: &str,
    checked: kinds::Checked,
) -> AppResult<asset_version::Model> {
    let (key, content_type, size, filename) = match checked.file {
        Some(file) => {
            let key = format!("assets/{asset_id}/v{version}-{}", &checked.sha256[..16]);
            let size = i64::try_from(file.bytes.len()).unwrap_or(i64::MAX);
            put_file(store, &key, file.bytes, file.content_type).await?;
            (
                key,
                file.content_type.to_owned(),
                size,
                clean_filename(filename),
            )
        }
        None => (String::new(), String::new(), 0, String::new()),
    };
    Ok(asset_version::ActiveModel {
        asset_id: Set(asset_id),
        version: Set(version),
        storage_key: Set(key),
        content_type: Set(content_type),
        size_bytes: Set(size),
        sha256: Set(checked.sha256),
        filename: Set(filename),
        uploaded_by: Set(Some(actor.id)),
        created_at: Set(now),
        link: Set(checked.link),
        body: Set(checked.text),
        attribution: Set(checked.attribution),
        customer_agreed: Set(checked.customer_agreed),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

/// The partner and (optional) product an upload names; one that does not exist is a field
/// error, and what it leaves unknown is `None`.
async fn owner_of(
    db: &impl ConnectionTrait,
    v: &mut Validator,
    partner_slug: &str,
    product_slug: &str,
) -> AppResult<(Option<partner::Model>, Option<Option<i32>>)> {
    let partner = match partners::find_model(db, partner_slug.trim()).await {
        Ok(p) => Some(p),
        Err(e) if e.code == ErrorCode::NotFound => {
            v.add("partner", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let product_id = match (&partner, product_slug.trim()) {
        (_, "") => Some(None),
        (Some(p), slug) => match products::find_model(db, &p.slug, slug).await {
            Ok((_, product)) => Some(Some(product.id)),
            Err(e) if e.code == ErrorCode::NotFound => {
                v.add("product", e.message);
                None
            }
            Err(e) => return Err(e),
        },
        (None, _) => None,
    };
    Ok((partner, product_id))
}

/// Creates an asset with its first version, linked at once to the listing and task the
/// upload names (each of the asset's partner).
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    store: &dyn ObjectStore,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: UploadInput,
) -> AppResult<Asset> {
    actor.require(Permission::ManageAssets)?;
    let txn = super::begin_write(db).await?;
    let mut v = Validator::new();
    let (partner, product_id) = owner_of(&txn, &mut v, &input.partner, &input.product).await?;
    let kind = v.check("kind", input.kind.parse::<AssetKind>());
    let title = v.check("title", required_text(&input.title, 200));
    let fields = kind.map(|kind| kinds::check_fields(&mut v, kind, &input.bytes, &input.content));
    let targets = match &partner {
        Some(p) => {
            Some(links::check_targets(&txn, &mut v, p, input.listing_id, input.task_id).await?)
        }
        None => None,
    };
    let (partner, product_id, kind, title, fields, targets) =
        v.finish(|| Some((partner?, product_id?, kind?, title?, fields?, targets?)))?;
    let checked = kinds::check_file(kind, input.bytes, fields)?;
    if targets.listing.is_some() {
        links::check_agreement(kind, checked.customer_agreed)?;
    }
    let model = asset::ActiveModel {
        partner_id: Set(partner.id),
        product_id: Set(product_id),
        kind: Set(kind),
        title: Set(title),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let version = store_version(
        &txn,
        store,
        actor,
        now,
        (model.id, 1),
        &input.filename,
        checked,
    )
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "upload",
            object_type: "asset",
            object_id: model.id.to_string(),
            summary: format!(
                "uploaded {} '{}' for {}",
                kind.label().to_lowercase(),
                model.title,
                partner.name
            ),
            before: None,
            after: snapshot(&version),
        },
    )
    .await?;
    links::add_links(&txn, actor, now, &model, &targets).await?;
    txn.commit().await?;
    get(db, model.id).await
}

/// Adds a new version of an asset, made of what its kind takes; earlier versions stay. A
/// customer quote linked to a listing takes no version the customer has not agreed to.
#[expect(
    clippy::too_many_arguments,
    reason = "the upload's parts, as the REST route and the server function receive them"
)]
pub async fn add_version(
    db: &(impl ConnectionTrait + TransactionTrait),
    store: &dyn ObjectStore,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    asset_id: i32,
    filename: &str,
    bytes: Bytes,
    content: &AssetContent,
) -> AppResult<Asset> {
    actor.require(Permission::ManageAssets)?;
    let txn = super::begin_write(db).await?;
    let a = find_model(&txn, asset_id).await?;
    let mut v = Validator::new();
    let fields = kinds::check_fields(&mut v, a.kind, &bytes, content);
    let fields = v.finish(|| Some(fields))?;
    let checked = kinds::check_file(a.kind, bytes, fields)?;
    let latest = current_version(&txn, asset_id).await?;
    if latest
        .as_ref()
        .is_some_and(|l| l.sha256 == checked.sha256 && l.customer_agreed == checked.customer_agreed)
    {
        let field = match (kinds::rules(a.kind).file, kinds::rules(a.kind).link) {
            (Some(_), _) => "file",
            (None, true) => "link",
            (None, false) => "text",
        };
        return Err(AppError::conflict(
            field,
            "this is identical to the current version",
        ));
    }
    if a.kind == AssetKind::CustomerQuote && !checked.customer_agreed {
        links::check_unagreed_version(&txn, &a).await?;
    }
    let next = latest.map_or(1, |l| l.version + 1);
    let version =
        store_version(&txn, store, actor, now, (asset_id, next), filename, checked).await?;
    let mut active: asset::ActiveModel = a.clone().into();
    active.updated_at = Set(now);
    active.update(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "upload_version",
            object_type: "asset",
            object_id: asset_id.to_string(),
            summary: format!("added version {} of '{}'", version.version, a.title),
            before: None,
            after: snapshot(&version),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, asset_id).await
}

/// One version's file as it is kept: what it is and where its bytes are, without them. A
/// version never changes, so the SHA-256 of its bytes names them for good (a strong
/// validator for caches) and is known before the bytes are read.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub content_type: String,
    pub filename: String,
    /// The SHA-256 of the bytes, hex.
    pub sha256: String,
    storage_key: String,
}

impl StoredFile {
    /// The bytes, from the store.
    pub async fn read(&self, store: &dyn ObjectStore) -> AppResult<Bytes> {
        store
            .get(&StorePath::from(self.storage_key.as_str()))
            .await
            .map_err(|e| AppError::internal("reading an asset", e))?
            .bytes()
            .await
            .map_err(|e| AppError::internal("reading an asset", e))
    }
}

/// One version's file, without its bytes (see [`StoredFile::read`]).
pub async fn version_file(
    db: &impl ConnectionTrait,
    asset_id: i32,
    version: i32,
) -> AppResult<StoredFile> {
    let v = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset_id))
        .filter(asset_version::Column::Version.eq(version))
        .one(db)
        .await?
        .filter(|v| !v.storage_key.is_empty())
        .ok_or_else(|| {
            AppError::not_found(format!("the file of version {version} of asset {asset_id}"))
        })?;
    Ok(StoredFile {
        content_type: v.content_type,
        filename: v.filename,
        sha256: v.sha256,
        storage_key: v.storage_key,
    })
}

/// One version's file: its content type, name and bytes.
pub async fn read_version(
    db: &impl ConnectionTrait,
    store: &dyn ObjectStore,
    asset_id: i32,
    version: i32,
) -> AppResult<(String, String, Bytes)> {
    let file = version_file(db, asset_id, version).await?;
    let bytes = file.read(store).await?;
    Ok((file.content_type, file.filename, bytes))
}

/// The file of a version anyone may fetch without signing in, without its bytes: only the
/// logo a copy revision pins, when that revision is approved or is the one live on its
/// listing. Anything else is "not found", whether it exists or not.
pub async fn public_version_file(
    db: &impl ConnectionTrait,
    asset_id: i32,
    version: i32,
) -> AppResult<StoredFile> {
    let live = Query::select()
        .column(listing::Column::LiveCopyRevisionId)
        .from(listing::Entity)
        .and_where(listing::Column::LiveCopyRevisionId.is_not_null())
        .to_owned();
    let pinned = copy_revision::Entity::find()
        .select_only()
        .column(copy_revision::Column::Id)
        .filter(copy_revision::Column::LogoAssetId.eq(asset_id))
        .filter(copy_revision::Column::LogoVersion.eq(version))
        .filter(
            sea_orm::Condition::any()
                .add(copy_revision::Column::State.eq(CopyState::Approved))
                .add(copy_revision::Column::Id.in_subquery(live)),
        )
        .into_tuple::<i32>()
        .one(db)
        .await?;
    if pinned.is_none() {
        return Err(AppError::not_found("this file"));
    }
    version_file(db, asset_id, version).await
}
