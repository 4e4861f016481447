//! The pages' server data: what a page loads to render. Pages render only on the server
//! (the browser hydrates the islands alone, see [`crate::islands`]), so a page's data
//! reaches the browser once, as markup, and is never serialized into the page again.

use leptos::prelude::Resource;
use serde::{Serialize, de::DeserializeOwned};

/// A page's server data of type `T`.
pub type Data<T> = Resource<T>;

/// Loads `fetcher(source())` for the page being rendered (a leptos resource, which a
/// `<Suspense>` waits for).
#[track_caller]
pub fn server_data<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Data<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new(source, fetcher)
}
