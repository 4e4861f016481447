//! REST route of the audit log.

use axum::{Json, extract::State};

use app::{
    domain::Permission,
    dto::*,
    error::{AppError, AppResult},
    services::{AppState, audit},
};

use super::{
    extract::{ApiQuery, Authenticated},
    require,
};

#[utoipa::path(get, path = "/api/v1/audit", tag = "meta", params(AuditFilter), responses((status = 200, body = Page<AuditEvent>), (status = 403, body = AppError)))]
pub(super) async fn list_audit(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> AppResult<Json<Page<AuditEvent>>> {
    require(&user, Permission::ReadAudit)?;
    Ok(Json(audit::list(&s.db, &filter).await?))
}
