//! Server functions of marketing assets: the list, one asset, and uploads.

use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_assets(partner: String, page: u64) -> Result<Page<Asset>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::assets::list(
        &state.db,
        Some(partner.as_str()),
        PageRequest {
            page: Some(page),
            per_page: Some(24),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn get_asset(id: i32) -> Result<Asset, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::assets::get(&state.db, id).await)
}

/// Uploads a new asset, or a new version of the asset named by the `asset_id` field.
#[server(prefix = "/rpc", input = MultipartFormData)]
pub async fn upload_asset(data: MultipartData) -> Result<Asset, AppError> {
    use crate::services::assets::{self, MAX_ASSET_BYTES, UploadInput};
    let (state, user) = ctx::signed_in()?;
    let mut form = data
        .into_inner()
        .ok_or_else(|| AppError::bad_request("the upload carried no form"))?;
    let mut input = UploadInput::default();
    let mut asset_id = String::new();
    let bad = |e: multer::Error| {
        AppError::bad_request(format!("the upload is not a well-formed form: {e}"))
    };
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            input.filename = field.file_name().unwrap_or("upload").to_owned();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                if bytes.len() + chunk.len() > MAX_ASSET_BYTES {
                    return Err(AppError {
                        fields: vec![crate::error::FieldError {
                            field: "file".into(),
                            message: "the file is larger than 10 MB".into(),
                        }],
                        ..AppError::new(
                            crate::error::ErrorCode::PayloadTooLarge,
                            "the file is larger than the 10 MB limit",
                        )
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            input.bytes = bytes.into();
        } else {
            let value = field.text().await.map_err(bad)?;
            match name.as_str() {
                "partner" => input.partner = value,
                "product" => input.product = value,
                "kind" => input.kind = value,
                "title" => input.title = value,
                "asset_id" => asset_id = value,
                _ => {}
            }
        }
    }
    let now = state.clock.now();
    ctx::status_of(if asset_id.trim().is_empty() {
        assets::create(&state.db, state.store.as_ref(), &user, now, input).await
    } else {
        match asset_id.trim().parse() {
            Ok(id) => {
                assets::add_version(
                    &state.db,
                    state.store.as_ref(),
                    &user,
                    now,
                    id,
                    &input.filename,
                    input.bytes,
                )
                .await
            }
            Err(_) => Err(AppError::not_found(format!("asset '{asset_id}'"))),
        }
    })
}
