//! The one integration-test binary: catalogue services, the HTTP surface, and the browser.

mod api;
mod browser;
mod builds;
mod catalogue;
mod jobs;
mod marketplace;
mod moto;
mod process;
mod retention;
mod security;
mod sso;
