//! The wasm bundle's entry: installs the panic hook and hydrates the islands of the page the
//! server rendered (the interactive parts; everything else stays the server's HTML).

// Links the app crate, whose islands export the functions the hydration script calls.
use app as _;
use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the hydration script once the bundle has loaded, before it hydrates each island.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
