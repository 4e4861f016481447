//! The wasm bundle's entry: installs the panic hook and hydrates the page the server rendered.

// The pages' view types nest deeply.
#![recursion_limit = "256"]

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the hydration script once the bundle has loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
