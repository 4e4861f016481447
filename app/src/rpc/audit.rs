//! Server function of the audit log.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
#[cfg(feature = "ssr")]
use crate::domain::*;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_audit(filter: AuditFilter) -> Result<Page<AuditEvent>, AppError> {
    let (state, _) = ctx::allowed(Permission::ReadAudit)?;
    crate::services::audit::list(&state.db, &filter).await
}
