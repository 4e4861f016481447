//! Server functions of marketing assets: the list, one asset, uploads, and what an asset is
//! linked to.

use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{
    dto::*,
    error::{AppError, Validator},
};

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

/// Uploads a new asset, or a new version of the asset named by the `asset_id` field. Besides
/// the file, a version may carry a link, a text, an attribution and the customer's
/// agreement (which of them the asset's kind takes is the service's rule); a new asset may
/// name the listing (`listing_id`) or workflow task (`task_id`) it is linked to at once.
#[server(prefix = "/rpc", input = MultipartFormData)]
pub async fn upload_asset(data: MultipartData) -> Result<Asset, AppError> {
    use crate::services::assets::{self, MAX_ASSET_BYTES, UploadInput};
    let (state, user) = ctx::signed_in()?;
    let mut form = data
        .into_inner()
        .ok_or_else(|| AppError::bad_request("the upload carried no form"))?;
    let mut input = UploadInput::default();
    let mut asset_id = String::new();
    let mut listing_id = String::new();
    let mut task_id = String::new();
    let bad = |e: multer::Error| {
        AppError::bad_request(format!("the upload is not a well-formed form: {e}"))
    };
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                if bytes.len() + chunk.len() > MAX_ASSET_BYTES {
                    let limit = format!("{} MB", MAX_ASSET_BYTES / (1024 * 1024));
                    return ctx::status_of(Err(AppError {
                        fields: vec![crate::error::FieldError {
                            field: "file".into(),
                            message: format!("the file is larger than {limit}"),
                        }],
                        ..AppError::new(
                            crate::error::ErrorCode::PayloadTooLarge,
                            format!("the file is larger than the {limit} limit"),
                        )
                    }));
                }
                bytes.extend_from_slice(&chunk);
            }
            // A file input left empty sends a part with no name and no bytes: no file.
            if !filename.is_empty() || !bytes.is_empty() {
                input.filename = if filename.is_empty() {
                    "upload".to_owned()
                } else {
                    filename
                };
                input.bytes = bytes.into();
            }
        } else {
            let value = field.text().await.map_err(bad)?;
            match name.as_str() {
                "partner" => input.partner = value,
                "product" => input.product = value,
                "kind" => input.kind = value,
                "title" => input.title = value,
                "link" => input.content.link = value,
                "text" => input.content.text = value,
                "attribution" => input.content.attribution = value,
                "customer_agreed" => {
                    input.content.customer_agreed = matches!(value.trim(), "true" | "on")
                }
                "listing_id" => listing_id = value,
                "task_id" => task_id = value,
                "asset_id" => asset_id = value,
                _ => {}
            }
        }
    }
    let now = state.clock.now();
    let creating = asset_id.trim().is_empty();
    let done = if creating {
        let target = AssetLinkForm {
            listing_id,
            task_id,
        };
        match target.ids() {
            Ok((listing_id, task_id)) => {
                input.listing_id = listing_id;
                input.task_id = task_id;
                assets::create(&state.db, state.store.as_ref(), &user, now, input).await
            }
            Err(e) => Err(e),
        }
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
                    &input.content,
                )
                .await
            }
            Err(_) => Err(AppError::not_found(format!("asset '{asset_id}'"))),
        }
    };
    match done {
        // A new asset opens on its own page; a new version shows on the page it was sent from.
        Ok(asset) if creating => {
            leptos_axum::redirect(&format!("/assets/{}", asset.id));
            Ok(asset)
        }
        Ok(asset) => Ok(asset),
        // A file refused for its size or type is the file field's problem.
        Err(mut e) => {
            use crate::error::ErrorCode;
            if e.fields.is_empty()
                && matches!(
                    e.code,
                    ErrorCode::PayloadTooLarge | ErrorCode::UnsupportedMediaType
                )
            {
                e.fields.push(crate::error::FieldError {
                    field: "file".into(),
                    message: e.message.clone(),
                });
            }
            ctx::status_of(Err(e))
        }
    }
}

/// What an asset is linked to, as a form sends it: a listing's id or a task's id (one of
/// them), or empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetLinkForm {
    #[serde(default)]
    pub listing_id: String,
    #[serde(default)]
    pub task_id: String,
}

impl AssetLinkForm {
    /// The listing and task ids, each `None` when left empty; a value that is not a
    /// number is an error on its field.
    pub fn ids(&self) -> Result<(Option<i32>, Option<i32>), AppError> {
        let mut v = Validator::new();
        let mut id = |field: &str, value: &str| match value.trim() {
            "" => Some(None),
            text => v.check(
                field,
                text.parse::<i32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("'{text}' is not an id: pick one from the list")),
            ),
        };
        let listing = id("listing_id", &self.listing_id);
        let task = id("task_id", &self.task_id);
        v.finish(|| Some((listing?, task?)))
    }
}

/// Links an asset to a listing or to a workflow task.
#[server(prefix = "/rpc")]
pub async fn link_asset(asset_id: i32, target: AssetLinkForm) -> Result<Asset, AppError> {
    let (state, user) = ctx::signed_in()?;
    let (listing_id, task_id) = ctx::status_of(target.ids())?;
    ctx::status_of(
        crate::services::assets::link(
            &state.db,
            &user,
            state.clock.now(),
            asset_id,
            &AssetLinkInput {
                listing_id,
                task_id,
            },
        )
        .await,
    )
}

/// Removes one of an asset's links.
#[server(prefix = "/rpc")]
pub async fn unlink_asset(asset_id: i32, link_id: i32) -> Result<Asset, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::assets::unlink(&state.db, &user, state.clock.now(), asset_id, link_id)
            .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_forms_ids_are_numbers_or_nothing() {
        let form = |listing: &str, task: &str| AssetLinkForm {
            listing_id: listing.into(),
            task_id: task.into(),
        };
        assert_eq!(form("4", "").ids(), Ok((Some(4), None)));
        assert_eq!(form(" ", " 12 ").ids(), Ok((None, Some(12))));
        let error = form("four", "0").ids().expect_err("refused");
        assert!(
            error
                .field("listing_id")
                .is_some_and(|m| m.contains("'four'"))
        );
        assert!(error.field("task_id").is_some());
    }
}
