//! Marketing assets: logos, screenshots and the like, per partner and product. Every upload
//! is a new version; earlier versions are kept. The type is read from the bytes, never from
//! the file name, and an SVG that could run script or fetch anything is refused.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::{ObjectStore, PutPayload, path::Path as StorePath};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};

use super::{
    audit::{self, Change, snapshot},
    entities::{asset, asset_version, partner, product, user},
    partners, products,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode, Validator, required_text},
};

/// Largest upload accepted.
pub const MAX_ASSET_BYTES: usize = 10 * 1024 * 1024;

/// Where an asset version's public URL points: the URL AWS Marketplace fetches a logo from.
#[derive(Debug, Clone)]
pub enum AssetUrls {
    /// Assets in a local folder are served by the portal itself, under its public address
    /// (known once it is bound).
    Local { portal: super::Late<String> },
    /// Assets in S3: the object's own URL, under this base (bucket and prefix included).
    S3 { base: String },
}

/// What an upload carries besides its bytes. Empty `asset_id` makes a new asset.
#[derive(Debug, Clone, Default)]
pub struct UploadInput {
    pub partner: String,
    pub product: String,
    pub kind: String,
    pub title: String,
    pub filename: String,
    pub bytes: Bytes,
}

/// Reads the content type from the leading bytes. Only the types the portal serves.
pub fn sniff_content_type(bytes: &[u8]) -> Result<&'static str, AppError> {
    let unsupported = || {
        AppError::new(
            ErrorCode::UnsupportedMediaType,
            "the file is not a PNG, JPEG, WebP or SVG image (its content was checked, not its name)",
        )
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Ok("image/webp")
    } else if looks_like_svg(bytes) {
        check_svg(bytes)?;
        Ok("image/svg+xml")
    } else {
        Err(unsupported())
    }
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let head: String = text
        .trim_start_matches('\u{feff}')
        .chars()
        .take(4096)
        .collect::<String>()
        .to_lowercase();
    head.contains("<svg")
}

/// Refuses an SVG with script, event handlers, external references or entity tricks.
pub fn check_svg(bytes: &[u8]) -> Result<(), AppError> {
    let hostile = |why: String| AppError {
        code: ErrorCode::ValidationFailed,
        message: format!("the SVG was refused: {why}"),
        fields: vec![crate::error::FieldError {
            field: "file".into(),
            message: format!("the SVG was refused: {why}"),
        }],
    };
    let text = std::str::from_utf8(bytes).map_err(|_| hostile("it is not UTF-8 text".into()))?;
    let lowered = text.to_lowercase();
    if lowered.contains("<!entity") || lowered.contains("<!doctype") {
        return Err(hostile("it declares a DOCTYPE or entities".into()));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| hostile(format!("it is not well-formed XML ({e})")))?;
    if doc.root_element().tag_name().name() != "svg" {
        return Err(hostile("its root element is not <svg>".into()));
    }
    for node in doc.descendants() {
        if node.is_element() {
            let name = node.tag_name().name().to_lowercase();
            if matches!(
                name.as_str(),
                "script" | "foreignobject" | "iframe" | "embed" | "object" | "handler" | "listener"
            ) {
                return Err(hostile(format!(
                    "it contains a <{}> element",
                    node.tag_name().name()
                )));
            }
            for attr in node.attributes() {
                let attr_name = attr.name().to_lowercase();
                let value = attr.value().trim().to_lowercase();
                if attr_name.starts_with("on") {
                    return Err(hostile(format!(
                        "it has an event handler attribute '{}'",
                        attr.name()
                    )));
                }
                if (attr_name == "href" || attr_name == "src") && !value.starts_with('#') {
                    return Err(hostile(format!(
                        "it references '{}' outside the file",
                        attr.value()
                    )));
                }
                if value.contains("javascript:")
                    || (value.contains("url(") && !value.contains("url(#"))
                {
                    return Err(hostile(format!(
                        "attribute '{}' refers outside the file",
                        attr.name()
                    )));
                }
            }
            if name == "style" {
                let css = node.text().unwrap_or_default().to_lowercase();
                if css.contains("@import")
                    || (css.contains("url(") && !css.contains("url(#"))
                    || css.contains("javascript:")
                {
                    return Err(hostile("its stylesheet refers outside the file".into()));
                }
            }
        }
    }
    Ok(())
}

fn version_url(asset_id: i32, version: i32) -> String {
    format!("/api/v1/assets/{asset_id}/versions/{version}/file")
}

async fn to_dto(db: &impl ConnectionTrait, a: asset::Model) -> AppResult<Asset> {
    let partner = partner::Entity::find_by_id(a.partner_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("asset without partner", a.id))?;
    let product_slug = match a.product_id {
        Some(id) => product::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|p| p.slug),
        None => None,
    };
    let rows = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(a.id))
        .order_by_desc(asset_version::Column::Version)
        .all(db)
        .await?;
    let uploader_ids: Vec<i32> = rows.iter().filter_map(|v| v.uploaded_by).collect();
    let uploaders: std::collections::HashMap<i32, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(uploader_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(Asset {
        id: a.id,
        partner_slug: partner.slug,
        partner_name: partner.name,
        product_slug,
        kind: a.kind,
        title: a.title,
        versions: rows
            .into_iter()
            .map(|v| AssetVersion {
                url: (!v.storage_key.is_empty()).then(|| version_url(a.id, v.version)),
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
            })
            .collect(),
        links: Vec::new(),
        created_at: a.created_at,
        updated_at: a.updated_at,
    })
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
    let mut items = Vec::new();
    for a in paginator.fetch_page(index).await? {
        items.push(to_dto(db, a).await?);
    }
    Ok(Page {
        items,
        page: index + 1,
        per_page,
        total,
    })
}

pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<Asset> {
    let a = asset::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("asset {id}")))?;
    to_dto(db, a).await
}

/// Checks the bytes of an upload; returns content type and checksum.
fn check_bytes(bytes: &Bytes) -> AppResult<(&'static str, String)> {
    if bytes.is_empty() {
        return Err(AppError {
            fields: vec![crate::error::FieldError {
                field: "file".into(),
                message: "choose a file".into(),
            }],
            ..AppError::new(ErrorCode::ValidationFailed, "the file is empty")
        });
    }
    if bytes.len() > MAX_ASSET_BYTES {
        return Err(AppError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the file is {:.1} MB; the limit is 10 MB",
                bytes.len() as f64 / 1_048_576.0
            ),
        ));
    }
    let content_type = sniff_content_type(bytes)?;
    Ok((content_type, hex::encode(Sha256::digest(bytes))))
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

/// One checked file about to become a version of an asset.
struct NewVersion<'a> {
    asset_id: i32,
    version: i32,
    filename: &'a str,
    bytes: Bytes,
    content_type: &'static str,
    sha256: String,
}

/// Writes the bytes first, then the row: a failed write leaves no row pointing at nothing;
/// a failed row leaves an unreferenced object, which is harmless.
async fn store_version(
    txn: &impl ConnectionTrait,
    store: &dyn ObjectStore,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    new: NewVersion<'_>,
) -> AppResult<asset_version::Model> {
    let NewVersion {
        asset_id,
        version,
        filename,
        bytes,
        content_type,
        sha256,
    } = new;
    let key = format!("assets/{asset_id}/v{version}-{}", &sha256[..16]);
    let size = bytes.len() as i64;
    store
        .put(&StorePath::from(key.as_str()), PutPayload::from(bytes))
        .await
        .map_err(|e| AppError::internal("storing an asset", e))?;
    Ok(asset_version::ActiveModel {
        asset_id: Set(asset_id),
        version: Set(version),
        storage_key: Set(key),
        content_type: Set(content_type.to_owned()),
        size_bytes: Set(size),
        sha256: Set(sha256),
        filename: Set(clean_filename(filename)),
        uploaded_by: Set(Some(actor.id)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

/// Creates an asset with its first version.
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
    let partner = match partners::find_model(&txn, input.partner.trim()).await {
        Ok(p) => Some(p),
        Err(e) if e.code == ErrorCode::NotFound => {
            v.add("partner", e.message);
            None
        }
        Err(e) => return Err(e),
    };
    let product_id = match (&partner, input.product.trim()) {
        (_, "") => Some(None),
        (Some(p), slug) => match products::find_model(&txn, &p.slug, slug).await {
            Ok((_, product)) => Some(Some(product.id)),
            Err(e) if e.code == ErrorCode::NotFound => {
                v.add("product", e.message);
                None
            }
            Err(e) => return Err(e),
        },
        (None, _) => None,
    };
    let kind = v.check("kind", input.kind.parse::<AssetKind>());
    let title = v.check("title", required_text(&input.title, 200));
    let (partner, product_id, kind, title) =
        v.finish(|| Some((partner?, product_id?, kind?, title?)))?;
    let (content_type, sha256) = check_bytes(&input.bytes)?;
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
    let new = NewVersion {
        asset_id: model.id,
        version: 1,
        filename: &input.filename,
        bytes: input.bytes,
        content_type,
        sha256,
    };
    let version = store_version(&txn, store, actor, now, new).await?;
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
    txn.commit().await?;
    get(db, model.id).await
}

/// Adds a new version of an asset; earlier versions stay.
pub async fn add_version(
    db: &(impl ConnectionTrait + TransactionTrait),
    store: &dyn ObjectStore,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    asset_id: i32,
    filename: &str,
    bytes: Bytes,
) -> AppResult<Asset> {
    actor.require(Permission::ManageAssets)?;
    let (content_type, sha256) = check_bytes(&bytes)?;
    let txn = super::begin_write(db).await?;
    let a = asset::Entity::find_by_id(asset_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("asset {asset_id}")))?;
    let latest = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset_id))
        .order_by_desc(asset_version::Column::Version)
        .one(&txn)
        .await?;
    if latest.as_ref().is_some_and(|l| l.sha256 == sha256) {
        return Err(AppError::conflict(
            "file",
            "this file is identical to the current version",
        ));
    }
    let next = latest.map_or(1, |l| l.version + 1);
    let new = NewVersion {
        asset_id,
        version: next,
        filename,
        bytes,
        content_type,
        sha256,
    };
    let version = store_version(&txn, store, actor, now, new).await?;
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
            summary: format!("uploaded version {} of '{}'", version.version, a.title),
            before: None,
            after: snapshot(&version),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, asset_id).await
}

/// The bytes and content type of one version.
pub async fn read_version(
    db: &impl ConnectionTrait,
    store: &dyn ObjectStore,
    asset_id: i32,
    version: i32,
) -> AppResult<(String, String, Bytes)> {
    let v = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset_id))
        .filter(asset_version::Column::Version.eq(version))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("version {version} of asset {asset_id}")))?;
    let bytes = store
        .get(&StorePath::from(v.storage_key.as_str()))
        .await
        .map_err(|e| AppError::internal("reading an asset", e))?
        .bytes()
        .await
        .map_err(|e| AppError::internal("reading an asset", e))?;
    Ok((v.content_type, v.filename, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(
            sniff_content_type(b"\x89PNG\r\n\x1a\nrest").ok(),
            Some("image/png")
        );
        assert_eq!(
            sniff_content_type(&[0xFF, 0xD8, 0xFF, 0xE0]).ok(),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_content_type(b"RIFF\0\0\0\0WEBPVP8 ").ok(),
            Some("image/webp")
        );
        let err = sniff_content_type(b"GIF89a....").expect_err("gif");
        assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
    }

    #[test]
    fn a_plain_svg_is_accepted() {
        let svg = br##"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g"/></defs><rect fill="url(#g)" width="10" height="10"/><use href="#g"/></svg>"##;
        assert_eq!(sniff_content_type(svg).ok(), Some("image/svg+xml"));
    }

    #[test]
    fn hostile_svgs_are_refused() {
        let cases: [&[u8]; 7] = [
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="https://evil.example/x.png"/></svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a></svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://evil.example/x.css);</style></svg>"#,
            br#"<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>"#,
            br#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div/></foreignObject></svg>"#,
        ];
        for svg in cases {
            assert!(
                sniff_content_type(svg).is_err(),
                "{}",
                String::from_utf8_lossy(svg)
            );
        }
    }
}
