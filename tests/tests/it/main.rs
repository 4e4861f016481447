//! The one integration-test binary: catalogue services, the HTTP surface, and the browser.

mod account;
mod api;
mod assets;
mod bounds;
mod browser;
mod builds;
mod catalogue;
mod client;
mod cloudsync;
mod content;
mod drift;
mod fuzz;
mod jobs;
mod limits;
mod marketplace;
mod moto;
mod process;
mod publishing;
mod rebuilds;
mod retention;
mod rootfs;
mod security;
mod simcloud;
mod simworld;
mod sso;
mod trains;
