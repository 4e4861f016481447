//! Server function of the audit log.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_audit(filter: AuditFilter) -> Result<Page<AuditEvent>, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::audit::list(&state.db, &user, &filter).await)
}
