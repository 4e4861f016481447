//! REST route of search across the catalogue.

use axum::{Json, extract::State};
use serde::Deserialize;

use app::{
    dto::*,
    error::AppResult,
    services::{AppState, catalogue},
};

use super::extract::{ApiQuery, Authenticated};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct SearchQuery {
    /// Text to look for in partner and product names, release versions and image ids.
    q: String,
}

#[utoipa::path(get, path = "/api/v1/search", tag = "meta", params(SearchQuery), responses((status = 200, body = SearchResults)))]
pub(super) async fn search(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> AppResult<Json<SearchResults>> {
    Ok(Json(catalogue::search(&s.db, &q.q).await?))
}
