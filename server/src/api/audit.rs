//! REST route of the audit log.

use axum::{Json, extract::State};

use app::{
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, audit},
};

use super::extract::{ApiQuery, Authenticated};

#[utoipa::path(get, path = "/api/v1/audit", tag = "meta", params(AuditFilter), responses((status = 200, body = Page<AuditEvent>), (status = 403, body = AppError)))]
pub(super) async fn list_audit(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> AppResult<Json<Page<AuditEvent>>> {
    Ok(Json(audit::list(&s.db, &user, &filter).await?))
}
