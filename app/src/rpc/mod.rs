//! Server functions: what the pages call. Each one authenticates, parses, calls a service
//! (which checks the permission: see the policy in [`crate::error`]) and returns a DTO; the
//! same services back the REST API.
//!
//! One file per resource; everything is re-exported here, so `rpc::x` names every function.

#[cfg(feature = "ssr")]
pub(crate) mod ctx {
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

    /// Leaves `flash` for the next page this browser loads (a cookie that page clears): what
    /// a form's server function did, said once on the page the form goes back to. It holds
    /// no secret: what is shown only once (a token) stays in the form's answer.
    pub fn flash(flash: &crate::components::Flash) {
        use base64::Engine as _;
        let Ok(json) = serde_json::to_vec(flash) else {
            return;
        };
        set_flash_cookie(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json),
            120,
        );
    }

    /// The flash the last form left, if any, cleared from the browser by this response.
    pub fn take_flash() -> Option<crate::components::Flash> {
        use base64::Engine as _;
        let parts = use_context::<http::request::Parts>()?;
        let value = crate::services::cookie(&parts.headers, crate::components::FLASH_COOKIE)?;
        set_flash_cookie("", 0);
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Sets (or, for 0 seconds, clears) the flash cookie on this response.
    fn set_flash_cookie(value: &str, max_age_secs: u32) {
        let (Some(options), Ok(state)) = (use_context::<leptos_axum::ResponseOptions>(), state())
        else {
            return;
        };
        let secure = if state.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        if let Ok(cookie) = http::HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
            crate::components::FLASH_COOKIE
        )) {
            options.append_header(http::header::SET_COOKIE, cookie);
        }
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
