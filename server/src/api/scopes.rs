//! Which scope an API token needs for each route, in one table. A request authenticated by
//! a token reaches a route only when the route is in [`ROUTE_SCOPES`] and the token holds
//! that route's scope; a route missing from the table is refused to every token (sessions
//! are not affected: their roles decide, in the services). The table is checked against
//! the router by the test `every_api_route_has_a_token_scope` (`tests/tests/it/security.rs`),
//! which walks every route of [`super::router`].
//!
//! The scopes: `read` for reading; `jobs` for starting, cancelling and retrying jobs
//! (builds, publishing); `write` for every other change.

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};

use app::{
    domain::TokenScope::{self, Jobs, Read, Write},
    error::AppError,
};

use crate::auth::TokenAuth;

/// Where the API is mounted; the table's paths are relative to it.
pub const PREFIX: &str = "/api/v1";

/// Every API route as registered in [`super::router`] (method, path pattern relative to
/// [`PREFIX`]) and the scope a token needs for it. `HEAD` is answered by the `GET` route.
pub const ROUTE_SCOPES: &[(&str, &str, TokenScope)] = &[
    ("GET", "/openapi.json", Read),
    ("GET", "/me", Read),
    // Catalogue.
    ("GET", "/partners", Read),
    ("POST", "/partners", Write),
    ("GET", "/partners/{slug}", Read),
    ("PUT", "/partners/{slug}", Write),
    ("POST", "/partners/{slug}/accounts", Write),
    ("POST", "/partners/{slug}/contacts", Write),
    ("GET", "/products", Read),
    ("POST", "/products", Write),
    ("GET", "/products/{partner}/{slug}", Read),
    ("PUT", "/products/{partner}/{slug}", Write),
    ("GET", "/products/{partner}/{slug}/matrix", Read),
    ("PUT", "/products/{partner}/{slug}/license", Write),
    ("DELETE", "/products/{partner}/{slug}/license", Write),
    ("PUT", "/products/{partner}/{slug}/delivery", Write),
    ("GET", "/releases", Read),
    ("POST", "/releases", Write),
    ("GET", "/releases/{version}", Read),
    ("PUT", "/releases/{version}", Write),
    ("GET", "/releases/{version}/train", Read),
    ("GET", "/trains", Read),
    ("GET", "/trains/{id}", Read),
    ("PUT", "/products/{partner}/{slug}/build-policy", Write),
    ("PUT", "/listings/{id}/publish-policy", Write),
    ("GET", "/images", Read),
    ("POST", "/images", Write),
    ("GET", "/images/lookup", Read),
    ("GET", "/images/{id}", Read),
    ("GET", "/listings", Read),
    ("POST", "/listings", Write),
    ("GET", "/listings/{id}", Read),
    ("PUT", "/listings/{id}/policy", Write),
    ("POST", "/listings/{id}/versions", Write),
    ("GET", "/assets", Read),
    ("POST", "/assets", Write),
    ("GET", "/assets/{id}", Read),
    ("POST", "/assets/{id}/versions", Write),
    ("GET", "/assets/{id}/versions/{version}/file", Read),
    ("POST", "/assets/{id}/links", Write),
    ("DELETE", "/assets/{id}/links/{link_id}", Write),
    ("GET", "/listings/{id}/assets", Read),
    ("GET", "/search", Read),
    ("GET", "/audit", Read),
    // Jobs.
    ("GET", "/jobs", Read),
    ("GET", "/jobs/{id}", Read),
    ("GET", "/jobs/{id}/events", Read),
    ("GET", "/jobs/{id}/user-data", Read),
    ("GET", "/jobs/{id}/stream", Read),
    ("POST", "/jobs/{id}/cancel", Jobs),
    ("POST", "/jobs/{id}/retry", Jobs),
    ("POST", "/releases/{version}/build", Jobs),
    ("GET", "/releases/{version}/run", Read),
    ("POST", "/images/build", Jobs),
    ("POST", "/images/{id}/rebuild", Jobs),
    // Listing copy and its review.
    ("GET", "/listings/{id}/copy", Read),
    ("POST", "/listings/{id}/copy", Write),
    ("GET", "/listings/{id}/copy/approved", Read),
    ("GET", "/listings/{id}/copy/diff", Read),
    ("GET", "/listings/{id}/copy/live-diff", Read),
    ("POST", "/listings/{id}/copy/request-approval", Write),
    ("POST", "/listings/{id}/copy/approve", Write),
    ("POST", "/listings/{id}/copy/reject", Write),
    ("POST", "/listings/{id}/copy/mark-for-publishing", Write),
    ("GET", "/approvals", Read),
    // Release maintenance and holidays.
    ("GET", "/maintenance", Read),
    ("GET", "/holidays", Read),
    ("POST", "/holidays", Write),
    ("DELETE", "/holidays/{id}", Write),
    // The inbox.
    ("GET", "/notifications", Read),
    ("POST", "/notifications/read", Write),
    // Publishing.
    ("GET", "/listings/{id}/publish", Read),
    ("POST", "/listings/{id}/publish", Jobs),
    ("POST", "/jobs/{id}/cancel-blocker", Jobs),
    // The version limit: deciding a proposal is a change, not a job.
    ("GET", "/listings/{id}/restrictions", Read),
    ("POST", "/listings/{id}/restrictions", Write),
    ("POST", "/restrictions/{id}/approve", Write),
    ("POST", "/restrictions/{id}/reject", Write),
    // Tasks.
    ("GET", "/tasks/{id}", Read),
    ("POST", "/tasks/{id}/state", Write),
    ("PUT", "/tasks/{id}/assignment", Write),
    ("POST", "/tasks/{id}/comments", Write),
    ("POST", "/tasks/{id}/links", Write),
    // Webhooks (GitLab's release webhook authenticates with its own token).
    ("GET", "/webhooks", Read),
    ("POST", "/webhooks", Write),
    ("POST", "/webhooks/gitlab", Write),
    ("DELETE", "/webhooks/{id}", Write),
    ("POST", "/webhooks/{id}/test", Write),
    // First-time images and their launch.
    ("GET", "/workflows", Read),
    ("POST", "/workflows", Write),
    ("GET", "/workflows/{id}", Read),
    ("POST", "/workflows/{id}/sign-offs", Write),
    ("POST", "/workflows/{id}/launch", Write),
    // The public-image quota and retention.
    ("GET", "/public-images", Read),
    ("PUT", "/public-images/quotas/{region}", Write),
    ("GET", "/products/{partner}/{slug}/retention", Read),
    ("PUT", "/products/{partner}/{slug}/retention", Write),
    (
        "POST",
        "/products/{partner}/{slug}/retention/dry-run",
        Write,
    ),
    ("GET", "/retention/{id}", Read),
    ("POST", "/retention/{id}/approve", Write),
    ("POST", "/retention/{id}/reject", Write),
    // Security rebuilds on a newer base image; approving one starts its builds.
    ("POST", "/base-images/check", Write),
    ("GET", "/rebuild-proposals", Read),
    ("GET", "/rebuild-proposals/{id}", Read),
    ("POST", "/rebuild-proposals/{id}/approve", Jobs),
    ("POST", "/rebuild-proposals/{id}/reject", Write),
    // The account as it is: a sync is a job; resolving drift and the quota's actions are
    // changes.
    ("GET", "/cloud", Read),
    ("POST", "/cloud/sync", Jobs),
    ("GET", "/cloud/drift", Read),
    ("GET", "/cloud/drift/{id}", Read),
    ("POST", "/cloud/drift/{id}/adopt", Write),
    ("POST", "/cloud/drift/{id}/forget", Write),
    ("POST", "/cloud/drift/{id}/propose-retirement", Write),
    ("DELETE", "/public-images/quotas/{region}", Write),
    (
        "POST",
        "/public-images/regions/{region}/retention-proposals",
        Write,
    ),
    // Tokens (a token never makes a token: its handler refuses that) and settings.
    ("GET", "/tokens", Read),
    ("POST", "/tokens", Write),
    ("DELETE", "/tokens/{id}", Write),
    ("GET", "/settings/marketplace-access-role", Read),
    ("PUT", "/settings/marketplace-access-role", Write),
    ("DELETE", "/settings/marketplace-access-role", Write),
];

/// The scope a token needs for `method` on the route registered as `route` (with or
/// without [`PREFIX`]); `None` for a route the table does not know, which no token may call.
pub fn scope_of(method: &Method, route: &str) -> Option<TokenScope> {
    let route = route.strip_prefix(PREFIX).unwrap_or(route);
    let method = if *method == Method::HEAD {
        Method::GET.as_str()
    } else {
        method.as_str()
    };
    ROUTE_SCOPES
        .iter()
        .find(|(m, path, _)| *m == method && *path == route)
        .map(|(_, _, scope)| *scope)
}

/// Why a token holding `scopes` may not call `method` on `route`, if it may not.
fn refusal(scopes: &[TokenScope], method: &Method, route: Option<&str>) -> Option<AppError> {
    let needed = route.and_then(|r| scope_of(method, r));
    match needed {
        Some(scope) if scopes.contains(&scope) => None,
        Some(scope) => Some(AppError::forbidden(format!(
            "this API token lacks the '{}' scope",
            scope.as_str()
        ))),
        None => Some(AppError::forbidden(format!(
            "API tokens may not call {method} {}: sign in instead",
            route.unwrap_or("this route")
        ))),
    }
}

/// The scope gate, layered on every API route: a request authenticated by a token goes on
/// only with the scope the table names for the route it reached.
pub async fn token_scope(req: Request, next: Next) -> Response {
    let Some(token) = req.extensions().get::<TokenAuth>() else {
        return next.run(req).await;
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    match refusal(&token.scopes, req.method(), route) {
        None => next.run(req).await,
        Some(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_table_names_each_route_once_with_a_method_the_router_knows() {
        let mut seen = HashSet::new();
        for (method, path, _) in ROUTE_SCOPES {
            assert!(
                ["GET", "POST", "PUT", "DELETE"].contains(method),
                "{method} {path}"
            );
            assert!(path.starts_with('/'), "{path}");
            assert!(
                seen.insert((method, path)),
                "{method} {path} is listed twice"
            );
        }
    }

    #[test]
    fn a_route_is_matched_by_its_pattern_not_by_how_its_path_ends() {
        // `PUT /partners/build` is the partner route, a change: jobs is not enough.
        assert_eq!(
            scope_of(&Method::PUT, "/api/v1/partners/{slug}"),
            Some(Write)
        );
        assert_eq!(
            scope_of(&Method::POST, "/api/v1/releases/{version}/build"),
            Some(Jobs)
        );
        assert_eq!(scope_of(&Method::HEAD, "/jobs/{id}"), Some(Read));
        assert_eq!(scope_of(&Method::PATCH, "/partners/{slug}"), None);
        assert_eq!(scope_of(&Method::POST, "/partners/build"), None);
        let refused =
            refusal(&[Jobs], &Method::PUT, Some("/api/v1/partners/{slug}")).expect("refused");
        assert_eq!(refused.message, "this API token lacks the 'write' scope");
        assert!(refusal(&[Read, Write], &Method::PUT, Some("/partners/{slug}")).is_none());
        let unknown = refusal(
            &[Read, Write, Jobs],
            &Method::POST,
            Some("/api/v1/unlisted"),
        )
        .expect("refused");
        assert!(
            unknown.message.contains("may not call POST"),
            "{}",
            unknown.message
        );
        assert!(refusal(&[Read, Write, Jobs], &Method::GET, None).is_some());
    }
}
