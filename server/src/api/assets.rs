//! REST routes of marketing assets: list, read, multipart uploads of new assets and versions, and a version's file.

use axum::{
    Json,
    body::Body,
    extract::{Multipart, Path, State},
    http::header,
    response::Response,
};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::ToSchema;

use app::{
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{AppState, assets},
};

use super::{
    created,
    extract::{self, ApiQuery, Authenticated},
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

/// Reads the fields of a multipart upload; the file is capped at the asset limit.
async fn read_multipart(mut form: Multipart) -> AppResult<assets::UploadInput> {
    let mut input = assets::UploadInput::default();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                input.filename = field.file_name().unwrap_or("upload").to_owned();
                input.bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(&e.body_text()))?;
            }
            "partner" | "product" | "kind" | "title" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(&e.body_text()))?;
                match name.as_str() {
                    "partner" => input.partner = text,
                    "product" => input.product = text,
                    "kind" => input.kind = text,
                    _ => input.title = text,
                }
            }
            _ => {}
        }
    }
    Ok(input)
}

fn multipart_error(detail: &str) -> AppError {
    if detail.contains("length limit") || detail.contains("too large") {
        AppError::new(
            ErrorCode::PayloadTooLarge,
            "the file is larger than the 10 MB limit",
        )
    } else {
        AppError::bad_request(format!(
            "the upload is not a well-formed multipart form: {detail}"
        ))
    }
}

#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "documents the multipart form in the OpenAPI document"
)]
struct AssetUploadForm {
    partner: String,
    product: Option<String>,
    kind: String,
    title: String,
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body(content = AssetUploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Asset), (status = 413, body = AppError), (status = 415, body = AppError), (status = 422, body = AppError)))]
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
    request_body(content = AssetUploadForm, content_type = "multipart/form-data", description = "Only `file` is read"),
    responses((status = 200, body = Asset), (status = 409, body = AppError), (status = 413, body = AppError), (status = 415, body = AppError)))]
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
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/assets/{id}/versions/{version}/file", tag = "assets", params(("id" = i32, Path), ("version" = i32, Path)),
    responses((status = 200, description = "The file's bytes with their content type"), (status = 404, body = AppError)))]
pub(super) async fn asset_file(
    State(s): State<AppState>,
    _: Authenticated,
    Path((id, version)): Path<(String, String)>,
) -> AppResult<Response> {
    let (id, version) = (extract::parse_id(&id)?, extract::parse_id(&version)?);
    let (content_type, filename, bytes): (String, String, Bytes) =
        assets::read_version(&s.db, s.store.as_ref(), id, version).await?;
    let safe_name: String = filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{safe_name}\""),
        )
        .header(header::CACHE_CONTROL, "private, max-age=3600, immutable")
        // An uploaded SVG is shown as an image, never run as a document.
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(bytes))
        .map_err(|e| AppError::internal("building a file response", e))
}
