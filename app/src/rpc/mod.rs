//! Server functions: what the pages call. Each one authenticates, parses, calls a service
//! (which checks the permission: see the policy in [`crate::error`]) and returns a DTO; the
//! same services back the REST API.
//!
//! One file per resource; everything is re-exported here, so `rpc::x` names every function.

#[cfg(feature = "ssr")]
mod ctx {
    use crate::{
        domain::CurrentUser,
        error::{AppError, AppResult},
        services::AppState,
    };
    use leptos::prelude::*;

    /// The state, its database counting toward the request that called (see
    /// [`crate::services::queries`]): a page's server functions run in tasks of their own.
    pub fn state() -> AppResult<AppState> {
        let state = use_context::<AppState>()
            .ok_or_else(|| AppError::internal("server function context", "AppState is missing"))?;
        if let Some(count) = use_context::<http::request::Parts>().and_then(|parts| {
            parts
                .extensions
                .get::<crate::services::queries::QueryCount>()
                .cloned()
        }) {
            let db = count.attach(&state.db, &state.reads.writes());
            return Ok(state.with(|parts| parts.db = db));
        }
        Ok(state)
    }

    pub fn user() -> Option<CurrentUser> {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
    }

    /// The state and the signed-in user, or 401.
    pub fn signed_in() -> AppResult<(AppState, CurrentUser)> {
        let user = status_of(user().ok_or_else(AppError::unauthenticated))?;
        Ok((state()?, user))
    }

    /// Sets the response status to the error's, so a failed page load is not a 200.
    pub fn status_of<T>(result: AppResult<T>) -> AppResult<T> {
        if let Err(err) = &result
            && let Some(options) = use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(err.code.http_status())
        {
            options.set_status(status);
        }
        result
    }
}

mod account;
pub use account::*;
mod assets;
pub use assets::*;
mod audit;
pub use audit::*;
mod catalogue;
pub use catalogue::*;
mod images;
pub use images::*;
mod jobs;
pub use jobs::*;
mod listings;
pub use listings::*;
mod partners;
pub use partners::*;
mod products;
pub use products::*;
mod releases;
pub use releases::*;
mod session;
pub use session::*;
mod copy;
pub use copy::*;
mod maintenance;
pub use maintenance::*;
mod notifications;
pub use notifications::*;
mod publish;
pub use publish::*;
mod restrictions;
pub use restrictions::*;
mod tasks;
pub use tasks::*;
mod webhooks;
pub use webhooks::*;
mod workflows;
pub use workflows::*;
mod retention;
pub use retention::*;
mod rebuilds;
pub use rebuilds::*;
mod tokens;
pub use tokens::*;
mod trains;
pub use trains::*;
