//! The pages' server data: resources whose values the server renders into the page and the
//! browser reads back when it hydrates.
//!
//! They are leptos resources with one difference: the browser decodes a resource's JSON
//! with the same `serde_json` reader (`from_slice`) that decodes a server function's
//! answer. leptos' default codec reads resources with `from_str`, and since every DTO a
//! page loads is both a resource's value and a server function's answer, the bundle held
//! two decoders for each of them, one per reader.

use leptos::{
    prelude::Resource,
    server::codee::{Decoder, Encoder},
};
use serde::{Serialize, de::DeserializeOwned};

/// JSON through `serde_json`, read as bytes (see the module's doc).
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(value: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(value.as_bytes())
    }
}

/// A page's server data of type `T`.
pub type Data<T> = Resource<T, Json>;

/// Loads `fetcher(source())` again whenever the source changes, like `Resource::new`:
/// on the server once, to render and serialize; in the browser from the page at hydration,
/// then by calling the server.
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
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_reads_back_as_it_was_written() {
        let value: Result<Vec<(String, u64)>, String> = Ok(vec![("é \"q\"".into(), 7)]);
        let encoded = <Json as Encoder<_>>::encode(&value).expect("encoded");
        let decoded: Result<Vec<(String, u64)>, String> =
            <Json as Decoder<_>>::decode(&encoded).expect("decoded");
        assert_eq!(decoded, value);
        assert!(<Json as Decoder<u64>>::decode("\"not a number\"").is_err());
    }
}
