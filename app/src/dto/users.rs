//! People: a user as lists and pickers show them, and the development sign-in users.

use serde::{Deserialize, Serialize};

use crate::domain::Role;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A user the development sign-in page offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevUser {
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
}

/// A person, as lists and pickers show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserRef {
    pub id: i32,
    pub username: String,
    pub name: String,
}
