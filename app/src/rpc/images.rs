//! Server functions of image versions: one image version, and the image lookup with what it offers to pick from.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ctx;
#[cfg(feature = "ssr")]
use crate::domain::*;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn get_image_version(id: i32) -> Result<ImageVersion, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::images::get(&state.db, id).await)
}

/// What the image lookup offers to pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupOptions {
    pub releases: Vec<String>,
    pub products: Vec<ProductSummary>,
    pub regions: Vec<String>,
}

#[server(prefix = "/rpc")]
pub async fn get_lookup_options() -> Result<LookupOptions, AppError> {
    let (state, _) = ctx::signed_in()?;
    let releases = crate::services::releases::newest(&state.db, 50)
        .await?
        .into_iter()
        .map(|r| r.version)
        .collect();
    let products = crate::services::products::list(
        &state.db,
        Some("aws"),
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await?
    .items;
    Ok(LookupOptions {
        releases,
        products,
        regions: AWS_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
    })
}

#[server(prefix = "/rpc")]
pub async fn lookup_image(query: LookupQuery) -> Result<ImageLookup, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::images::lookup(&state.db, &query).await)
}
