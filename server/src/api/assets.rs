//! REST routes of marketing assets: list, read, multipart uploads of new assets and
//! versions, links to listings and tasks, a listing's assets, a version's file, and the
//! public file of a pinned logo (outside `/api/v1`, without sign-in).

use axum::{
    Json,
    body::Body,
    extract::{Multipart, Path, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use serde::Deserialize;
use utoipa::ToSchema;

use app::{
    dto::*,
    error::{AppError, AppResult, ErrorCode, Validator, whole_number},
    services::{AppState, assets},
};

use super::{
    created,
    extract::{self, ApiJson, ApiQuery, Authenticated},
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct AssetListQuery {
    partner: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetListQuery), responses((status = 200, body = Page<Asset>)))]
pub(super) async fn list_assets(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<AssetListQuery>,
) -> AppResult<Json<Page<Asset>>> {
    Ok(Json(
        assets::list(
            &s.db,
            q.partner.as_deref(),
            PageRequest {
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = i32, Path)),
    responses((status = 200, body = Asset), (status = 404, body = AppError)))]
pub(super) async fn get_asset(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Asset>> {
    Ok(Json(assets::get(&s.db, extract::parse_id(&id)?).await?))
}

/// Reads the fields of a multipart upload (the body is capped by the route's limit; each
/// kind's own limit is the service's to check). A field that does not parse is an error
/// on that field.
async fn read_multipart(mut form: Multipart) -> AppResult<assets::UploadInput> {
    let mut input = assets::UploadInput::default();
    let mut v = Validator::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| multipart_error(&e.body_text()))?;
            // A form's file input left empty sends a part with no name and no bytes.
            if !filename.is_empty() || !bytes.is_empty() {
                input.filename = if filename.is_empty() {
                    "upload".to_owned()
                } else {
                    filename
                };
                input.bytes = bytes;
            }
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| multipart_error(&e.body_text()))?;
        match name.as_str() {
            "partner" => input.partner = text,
            "product" => input.product = text,
            "kind" => input.kind = text,
            "title" => input.title = text,
            "link" => input.content.link = text,
            "text" => input.content.text = text,
            "attribution" => input.content.attribution = text,
            "customer_agreed" => {
                input.content.customer_agreed =
                    v.check("customer_agreed", flag(&text)).unwrap_or_default();
            }
            "listing_id" => input.listing_id = v.check("listing_id", optional_id(&text)).flatten(),
            "task_id" => input.task_id = v.check("task_id", optional_id(&text)).flatten(),
            _ => {}
        }
    }
    v.finish(|| Some(input))
}

/// A checkbox or flag as a form sends it.
fn flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" | "" => Ok(false),
        other => Err(format!("'{other}' is neither true nor false")),
    }
}

/// An id a form may leave empty.
fn optional_id(text: &str) -> Result<Option<i32>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match whole_number::<i32>(text)? {
        id if id > 0 => Ok(Some(id)),
        id => Err(format!("{id} is not an id")),
    }
}

fn multipart_error(detail: &str) -> AppError {
    if detail.contains("length limit") || detail.contains("too large") {
        AppError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the upload is larger than {} MB: no kind of asset takes a file over {} MB",
                assets::UPLOAD_BODY_LIMIT / (1024 * 1024),
                assets::MAX_ASSET_BYTES / (1024 * 1024)
            ),
        )
    } else {
        AppError::bad_request(format!(
            "the upload is not a well-formed multipart form: {detail}"
        ))
    }
}

/// A new asset: what its kind is made of (a logo, screenshot or other asset is a file; a
/// video a link; a blog or social post a link and a text; a customer quote a text, its
/// attribution and whether the customer agreed), and what to link it to.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form in the OpenAPI document"
)]
struct AssetUploadForm {
    partner: String,
    product: Option<String>,
    /// logo, screenshot, video, blog_post, social_post, customer_quote or other.
    kind: String,
    title: String,
    /// Logo (PNG, JPEG or SVG, ≤ 5 MB), screenshot (PNG, JPEG, WebP or SVG, ≤ 10 MB), other
    /// (PDF, PNG, JPEG, WebP, SVG or plain UTF-8 text, ≤ 25 MB); the type is read from the bytes.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Option<String>,
    /// Video, blog post, social post: an https address.
    link: Option<String>,
    /// Blog post (≤ 10000 characters), social post (≤ 3000), customer quote (≤ 2000).
    text: Option<String>,
    /// Customer quote: who said it (≤ 200 characters).
    attribution: Option<String>,
    /// Customer quote: "true" (or "on") when the customer agreed to its use.
    customer_agreed: Option<String>,
    /// A listing of the same partner to link the asset to.
    listing_id: Option<i32>,
    /// A workflow task of the same partner to link the asset to.
    task_id: Option<i32>,
}

/// A new version: what the asset's kind is made of.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form in the OpenAPI document"
)]
struct AssetVersionForm {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Option<String>,
    link: Option<String>,
    text: Option<String>,
    attribution: Option<String>,
    customer_agreed: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body(content = AssetUploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Asset), (status = 409, body = AppError, description = "A customer quote without the customer's agreement cannot go on a listing"),
        (status = 413, body = AppError), (status = 415, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn upload_asset(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<Response> {
    let form = form.map_err(|e| AppError::bad_request(e.body_text()))?;
    let input = read_multipart(form).await?;
    Ok(created(
        assets::create(&s.db, s.store.as_ref(), &user, s.clock.now(), input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/versions", tag = "assets", params(("id" = i32, Path)),
    request_body(content = AssetVersionForm, content_type = "multipart/form-data"),
    responses((status = 200, body = Asset), (status = 409, body = AppError), (status = 413, body = AppError), (status = 415, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn upload_asset_version(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<Json<Asset>> {
    let id = extract::parse_id(&id)?;
    let form = form.map_err(|e| AppError::bad_request(e.body_text()))?;
    let input = read_multipart(form).await?;
    Ok(Json(
        assets::add_version(
            &s.db,
            s.store.as_ref(),
            &user,
            s.clock.now(),
            id,
            &input.filename,
            input.bytes,
            &input.content,
        )
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/links", tag = "assets", params(("id" = i32, Path)), request_body = AssetLinkInput,
    responses((status = 201, body = Asset), (status = 404, body = AppError),
        (status = 409, body = AppError, description = "Linked already, or a customer quote without the customer's agreement on a listing"),
        (status = 422, body = AppError)))]
pub(super) async fn link_asset(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AssetLinkInput>,
) -> AppResult<Response> {
    let id = extract::parse_id(&id)?;
    Ok(created(
        assets::link(&s.db, &user, s.clock.now(), id, &input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/assets/{id}/links/{link_id}", tag = "assets", params(("id" = i32, Path), ("link_id" = i32, Path)),
    responses((status = 200, body = Asset), (status = 404, body = AppError)))]
pub(super) async fn unlink_asset(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path((id, link_id)): Path<(String, String)>,
) -> AppResult<Json<Asset>> {
    let (id, link_id) = (extract::parse_id(&id)?, extract::parse_id(&link_id)?);
    Ok(Json(
        assets::unlink(&s.db, &user, s.clock.now(), id, link_id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/listings/{id}/assets", tag = "assets", params(("id" = i32, Path)),
    responses((status = 200, body = Vec<Asset>, description = "The assets linked to the listing, newest first"), (status = 404, body = AppError)))]
pub(super) async fn listing_assets(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<Asset>>> {
    Ok(Json(
        assets::of_listing(&s.db, extract::parse_id(&id)?).await?,
    ))
}

/// How long a signed-in browser keeps a version's file: a version never changes, so for
/// good (a year, the longest caches are asked to keep anything), and only for itself.
const PRIVATE_IMMUTABLE: &str = "private, max-age=31536000, immutable";
/// How long anyone keeps a public logo. Its bytes never change either, but it stays public
/// only while a copy revision that is approved or live pins it, so a shared cache keeps it
/// a day at most.
const PUBLIC_IMMUTABLE: &str = "public, max-age=86400, immutable";

/// A version's strong validator: the SHA-256 of its bytes, quoted.
fn etag_of(file: &assets::StoredFile) -> String {
    format!("\"{}\"", file.sha256)
}

/// A version's file as the portal serves it: its own type, shown inline, never run as a
/// document, with its SHA-256 as a strong `ETag`. A request that names that tag in
/// `If-None-Match` gets `304 Not Modified`, and the bytes are not read.
async fn file_response(
    store: &dyn object_store::ObjectStore,
    headers: &HeaderMap,
    file: assets::StoredFile,
    cache: &'static str,
) -> AppResult<Response> {
    let etag = etag_of(&file);
    let built = if crate::site_files::none_match(headers, &etag) {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .header(header::CACHE_CONTROL, cache)
            .body(Body::empty())
    } else {
        let bytes = file.read(store).await?;
        Response::builder()
            .header(header::CONTENT_TYPE, file.content_type)
            .header(
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"{}\"",
                    assets::safe_filename(&file.filename)
                ),
            )
            .header(header::ETAG, etag)
            .header(header::CACHE_CONTROL, cache)
            // An uploaded SVG is shown as an image, never run as a document.
            .header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            )
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(Body::from(bytes))
    };
    built.map_err(|e| AppError::internal("building a file response", e))
}

#[utoipa::path(get, path = "/api/v1/assets/{id}/versions/{version}/file", tag = "assets", params(("id" = i32, Path), ("version" = i32, Path)),
    responses((status = 200, description = "The file's bytes with their content type, a strong ETag (the version's SHA-256) and Cache-Control: private, max-age=31536000, immutable"),
        (status = 304, description = "If-None-Match names the version's ETag: the copy the client holds is the file"),
        (status = 404, body = AppError)))]
pub(super) async fn asset_file(
    State(s): State<AppState>,
    _: Authenticated,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> AppResult<Response> {
    let (id, version) = (extract::parse_id(&id)?, extract::parse_id(&version)?);
    let file = assets::version_file(&s.db, id, version).await?;
    file_response(s.store.as_ref(), &headers, file, PRIVATE_IMMUTABLE).await
}

#[utoipa::path(get, path = "/public/assets/{id}/{version}/{name}", tag = "assets", params(("id" = i32, Path), ("version" = i32, Path), ("name" = String, Path)),
    security(()),
    responses((status = 200, description = "The logo an approved or live copy revision pins, without sign-in: the URL AWS Marketplace fetches when assets are kept in a local folder. A strong ETag (the version's SHA-256) and Cache-Control: public, max-age=86400, immutable"),
        (status = 304, description = "If-None-Match names the version's ETag, and the logo is still public"),
        (status = 404, body = AppError, description = "Anything that is not such a logo")))]
pub(super) async fn public_asset_file(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> AppResult<Response> {
    // Everything under the prefix comes here; only `{id}/{version}/{name}` may be a file.
    let (id, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        [id, version, name] if !name.is_empty() => {
            (extract::parse_id(id)?, extract::parse_id(version)?)
        }
        _ => return Err(AppError::not_found("this file")),
    };
    let file = assets::public_version_file(&s.db, id, version).await?;
    file_response(s.store.as_ref(), &headers, file, PUBLIC_IMMUTABLE).await
}
