//! The one error type of the portal's boundaries.
//!
//! Policy:
//! - Services, server functions and REST handlers return [`AppError`]. It is what a client
//!   may see: a stable `code`, a human `message`, and for bad input the fields at fault, so a
//!   form can show each message next to its field.
//! - A value that parses but lies outside the bounds the portal accepts (a date outside
//!   2000-01-01 to a year from today, a page number or size past the paginator's limits) is
//!   a 400 that still names the field ([`AppError::out_of_bounds`], [`Validator::within`]).
//! - Anything the client cannot act on (a database failure, an I/O error) becomes
//!   [`ErrorCode::Internal`] with the plain message "internal error"; the cause is logged in
//!   full where the conversion happens ([`AppError::internal`]), never sent.
//! - A database error converts with `?` alone: the conversion logs it with the file and
//!   line of that `?`. A unique violation that means "already exists" is turned into a
//!   conflict by `DbResultExt::on_unique`, in one place (`services`).
//! - Jobs and adapters use `anyhow` with context inside, and convert at their edge.
//!
//! Authorisation:
//! - Services decide. Every service function that changes something, or reads what not
//!   everyone may read, opens with one permission check on its actor,
//!   `actor.require(Permission::X)?;` ([`crate::domain::CurrentUser::require`]), before it
//!   validates its input or looks anything up: a refused person gets 403 "this needs one
//!   of the roles: …", not a validation error or "not found".
//! - Which role holds which permission is said in one place,
//!   [`crate::domain::Permission::roles`]; nothing else lists the roles allowed an action.
//! - Rules that depend on the object (the task's team, an escalation letting Partnerships
//!   act, a team signing off only for itself, nobody approving their own revision, one
//!   person approving one stage only, nobody approving their own proposal, one person
//!   giving one of a launch's sign-offs) are object-level checks: they come after the
//!   permission check, in the service, and are named as such where they stand. A refusal
//!   that separates duties is also audited (`services::audit::refused`), outside the
//!   refused action's transaction.
//! - Server functions and REST handlers stay mechanical: authenticate (anonymous is 401),
//!   parse, call the service, map the answer. They check no permission themselves; the one
//!   rule left at an edge is what only the edge knows, how the request was authenticated
//!   (an API token cannot make tokens).
//! - Acting on one's own things (one's API tokens, one's notifications) needs only being
//!   signed in; the service keeps it to the actor's own.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Input that does not parse or breaks a rule; `fields` says where.
    ValidationFailed,
    /// The request body is not well-formed (JSON, multipart).
    BadRequest,
    /// Sign in first.
    Unauthenticated,
    /// Signed in, but the role does not allow it.
    Forbidden,
    NotFound,
    /// Clashes with what exists (a taken slug, a duplicate release).
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Past a limit on how much one person or client may do at once or in a while.
    TooManyRequests,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed => 422,
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Internal => 500,
        }
    }
}

/// One field's problem, for showing next to the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An error a client may see. Serialised as `{"code": …, "message": …, "fields": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError {
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} was not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "sign in to continue")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// A conflict caused by one field's value (a taken slug, an existing version).
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        AppError {
            code: ErrorCode::Conflict,
            message: message.clone(),
            fields: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// One field's validation error.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        AppError {
            fields: vec![FieldError {
                field: field.to_owned(),
                message: message.clone(),
            }],
            ..Self::new(ErrorCode::ValidationFailed, message)
        }
    }

    /// A value outside the bounds the portal accepts (a date far from today, a page past
    /// any list): a 400 that names the field, like a validation error does.
    pub fn out_of_bounds(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        AppError {
            code: ErrorCode::BadRequest,
            message: format!("{field}: {message}"),
            fields: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }

    /// Logs the cause in full and returns the plain internal error.
    #[cfg(feature = "ssr")]
    pub fn internal(context: &str, cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The message for one field, if any.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| f.message.as_str())
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

/// Collects every field problem of one input before failing, so a form shows them all at once.
#[derive(Debug, Default)]
pub struct Validator {
    fields: Vec<FieldError>,
    /// Whether a value was outside the portal's bounds, which makes the answer a 400.
    out_of_bounds: bool,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one field, recording its error and returning `None` when it does not parse.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// Checks one parsed value against the portal's bounds (see [`AppError::out_of_bounds`]),
    /// recording its error and returning `None` when it is outside them.
    pub fn within<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        let value = self.check(field, result);
        if value.is_none() {
            self.out_of_bounds = true;
        }
        value
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Fails with every recorded problem, or hands back the parsed value.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> AppResult<T> {
        if self.fields.is_empty()
            && let Some(value) = value()
        {
            return Ok(value);
        }
        let message = match self.fields.as_slice() {
            [] => "the input is incomplete".to_owned(),
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields need attention", many.len()),
        };
        Err(AppError {
            code: if self.out_of_bounds {
                ErrorCode::BadRequest
            } else {
                ErrorCode::ValidationFailed
            },
            message,
            fields: self.fields,
        })
    }
}

/// A required, trimmed text field of bounded length.
pub fn required_text(value: &str, max: usize) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        Err("is required".to_owned())
    } else if v.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(v.to_owned())
    }
}

/// An optional http(s) URL; empty means none.
pub fn optional_url(value: &str) -> Result<Option<String>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let valid = (v.starts_with("https://") || v.starts_with("http://"))
        && v.len() <= 2000
        && !v.contains(char::is_whitespace)
        && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if valid {
        Ok(Some(v.to_owned()))
    } else {
        Err(format!("'{v}' is not an http(s) URL"))
    }
}

/// A whole number as a form's text field holds it (the API takes a JSON number instead).
/// Only whether it is a number is checked here; its range is the service's to check.
pub fn whole_number<T>(value: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = std::num::ParseIntError>,
{
    use std::num::IntErrorKind;
    let v = value.trim();
    v.parse::<T>().map_err(|e| match e.kind() {
        IntErrorKind::Empty => "give a whole number".to_owned(),
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            format!("{v} is far out of range")
        }
        _ => format!("'{v}' is not a whole number"),
    })
}

// Server functions carry `AppError` across the wire as themselves.
impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(m) | E::Deserialization(m) | E::MissingArg(m) => AppError::bad_request(m),
            E::Request(m) => AppError::new(
                ErrorCode::Internal,
                format!("the portal could not be reached: {m}"),
            ),
            other => AppError::new(ErrorCode::Internal, other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sea_orm::DbErr> for AppError {
    /// The plain internal error, logged with the place of the `?` that converted it.
    #[track_caller]
    fn from(err: sea_orm::DbErr) -> Self {
        let at = std::panic::Location::caller();
        AppError::internal(&format!("database error at {at}"), err)
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.code.http_status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validator_reports_every_field_at_once() {
        let mut v = Validator::new();
        let name = v.check("name", required_text("  ", 10));
        let url = v.check("docs", optional_url("ftp://x"));
        let err = v.finish(|| Some((name?, url?))).expect_err("two errors");
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!(err.field("name"), Some("is required"));
        assert!(err.field("docs").is_some_and(|m| m.contains("http")));
    }

    #[test]
    fn a_form_number_is_a_whole_number_whatever_its_range() {
        assert_eq!(whole_number::<i32>(" -3 "), Ok(-3));
        assert_eq!(
            whole_number::<i32>(""),
            Err("give a whole number".to_owned())
        );
        assert_eq!(
            whole_number::<i32>("ninety"),
            Err("'ninety' is not a whole number".to_owned())
        );
        assert!(whole_number::<i32>("99999999999").is_err_and(|m| m.contains("out of range")));
    }
}
