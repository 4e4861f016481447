//! The Partner Image Portal's application: pages and components (rendered on the server, with
//! their interactive islands hydrated in the browser), server functions, shared DTOs and domain types, and — under the
//! `ssr` feature — the entities and services behind them.

// The pages' view types nest deeply.
#![recursion_limit = "256"]

pub mod calendar;
pub mod components;
pub mod data;
pub mod domain;
pub mod dto;
pub mod error;
pub mod islands;
pub mod pages;
pub mod rpc;

#[cfg(feature = "ssr")]
pub use pages::content_security_policy;
pub use pages::{App, shell};

#[cfg(feature = "ssr")]
pub mod services;
