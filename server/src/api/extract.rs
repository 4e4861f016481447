//! Extractors that answer bad input with the API's JSON error instead of axum's plain text.

use axum::{
    Json,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use app::{
    domain::CurrentUser,
    error::{AppError, ErrorCode},
};

/// The signed-in user; answers 401 when there is none.
pub struct Authenticated(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .map(Authenticated)
            .ok_or_else(AppError::unauthenticated)
    }
}

/// A JSON body; a malformed one is a 400 that says where it broke.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(AppError::new(
                ErrorCode::BadRequest,
                format!(
                    "the request body is not the expected JSON: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// A query string; a malformed one is a 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(AppError::bad_request(format!(
                "the query string is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// A numeric id from a path; anything else is "not found", as no such object can exist.
pub fn parse_id(raw: &str) -> Result<i32, AppError> {
    raw.parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::not_found(format!("'{raw}'")))
}
