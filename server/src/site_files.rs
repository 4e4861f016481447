//! The site's built files under `/pkg`: the stylesheet, the hydrate script and its wasm.
//!
//! `cargo xtask site` writes them under content-hashed names (`portal.<hash>.wasm`) and lists
//! the hashes in the site root's `hash.txt`, which is how the pages name them. A hashed name
//! never changes its bytes, so it is served as immutable for a year; any other file (a site
//! built without hashing) must be revalidated on each use. Both carry a strong ETag, the
//! digest of the bytes, and a matching `If-None-Match` is answered `304 Not Modified`.
//!
//! The build also writes each hashed file gzipped beside it (`portal.<hash>.wasm.gz`): a
//! browser that accepts gzip gets those bytes with `Content-Encoding: gzip` and the ETag of
//! the gzipped file, since the two encodings are different representations.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;

/// The file in the site root that lists the content hashes of the built files, one
/// `<kind>: <hash>` line each for `js`, `wasm` and `css` (leptos' `hash_files` format).
pub const HASH_FILE: &str = "hash.txt";

/// The folder of the site root the built files are in, and the path they are served under.
pub const PKG_DIR: &str = "pkg";

/// How long a browser may keep a file whose name carries its content's hash: a year.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A file without a hash in its name may change under the same name: use it only after
/// asking whether it did (cheap with the ETag).
pub const REVALIDATE: &str = "no-cache";

/// The shortest content hash a name may carry to count as hashed (the build writes 20 hex
/// digits).
const MIN_HASH_DIGITS: usize = 16;

/// The hash file of a site root, when the site was built with hashed names; the path is
/// absolute (leptos resolves a relative one against the executable's folder).
pub fn hash_file(site_root: &Path) -> Option<PathBuf> {
    let path = site_root.join(HASH_FILE);
    path.is_file()
        .then(|| std::path::absolute(&path).unwrap_or(path))
}

/// Whether a file's name carries a content hash: a dot-separated part between the stem and
/// the extension made of at least 16 hex digits, as in `portal.0123456789abcdef0123.wasm`.
pub fn is_content_hashed(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    let parts: Vec<&str> = file.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| p.len() >= MIN_HASH_DIGITS && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The cache policy of a built file.
pub fn cache_control(name: &str) -> &'static str {
    if is_content_hashed(name) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// The service behind `/pkg`: the files of `dir`, with their validators and cache policy.
pub fn service(dir: PathBuf) -> Router {
    let etags = Etags {
        dir: dir.clone(),
        known: Arc::new(Mutex::new(HashMap::new())),
    };
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_gzip())
        .layer(middleware::from_fn_with_state(etags, validators))
}

/// The strong ETags of the files, computed once per version of a file (its length and
/// modification time) and kept.
#[derive(Clone)]
struct Etags {
    dir: PathBuf,
    known: Arc<Mutex<HashMap<PathBuf, Stamp>>>,
}

struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    etag: HeaderValue,
}

impl Etags {
    /// The ETag of the file at `relative` (already checked to stay inside the folder), or
    /// `None` when there is no such file.
    async fn of(&self, relative: &str) -> Option<HeaderValue> {
        let path = self.dir.join(relative);
        let meta = tokio::fs::metadata(&path).await.ok()?;
        if !meta.is_file() {
            return None;
        }
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Ok(known) = self.known.lock()
            && let Some(stamp) = known.get(&path)
            && stamp.len == len
            && stamp.modified == modified
        {
            return Some(stamp.etag.clone());
        }
        let read = path.clone();
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(read))
            .await
            .ok()?
            .ok()?;
        let etag = strong_etag(&bytes);
        if let Ok(mut known) = self.known.lock() {
            known.insert(
                path,
                Stamp {
                    len,
                    modified,
                    etag: etag.clone(),
                },
            );
        }
        Some(etag)
    }
}

/// A strong ETag of these bytes: the first 128 bits of their SHA-256, quoted.
pub fn strong_etag(bytes: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(bytes);
    let value = format!("\"{}\"", hex::encode(&digest[..16]));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names this ETag (or is `*`), for the site's files and the asset
/// files alike. The comparison is the weak one, as RFC 9110 prescribes for this header.
pub fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The request's path inside the folder when it is a plain relative file path: no empty,
/// hidden (`.`-led, so no `..`) or backslashed segment.
fn relative_path(path: &str) -> Option<&str> {
    let relative = path.strip_prefix('/').unwrap_or(path);
    let plain = !relative.is_empty()
        && relative
            .split('/')
            .all(|s| !s.is_empty() && !s.starts_with('.') && !s.contains('\\'));
    plain.then_some(relative)
}

/// Adds the ETag and the cache policy to what the folder serves, and answers a request
/// that already holds the file's current version with `304 Not Modified`.
async fn validators(State(etags): State<Etags>, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let Some(relative) = relative_path(request.uri().path()).map(str::to_owned) else {
        return next.run(request).await;
    };
    let Some(plain) = etags.of(&relative).await else {
        return next.run(request).await;
    };
    let gzipped = if accepts_gzip(request.headers()) {
        etags.of(&format!("{relative}.gz")).await
    } else {
        None
    };
    let cache = HeaderValue::from_static(cache_control(&relative));
    let vary = HeaderValue::from_static("accept-encoding");
    let chosen = gzipped.clone().unwrap_or_else(|| plain.clone());
    if none_match(request.headers(), chosen.to_str().unwrap_or_default()) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, chosen),
                (header::CACHE_CONTROL, cache),
                (header::VARY, vary),
            ],
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let sent_gzipped = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        // The tag of the representation actually sent.
        let etag = match (sent_gzipped, gzipped) {
            (true, Some(gzipped)) => gzipped,
            _ => plain,
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, etag);
        headers.insert(header::CACHE_CONTROL, cache);
        headers.insert(header::VARY, vary);
    }
    response
}

/// Whether the request's `Accept-Encoding` takes gzip (named, or `*`, with a weight above 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const HASHED: &str = "portal.0123456789abcdef0123.wasm";

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join(HASHED), b"\0asm hashed").expect("write");
        std::fs::write(dir.path().join("portal.js"), b"export default 1;").expect("write");
        dir
    }

    async fn get(dir: &Path, path: &str, if_none_match: Option<&str>) -> Response {
        get_encoded(dir, path, if_none_match, None).await
    }

    async fn get_encoded(
        dir: &Path,
        path: &str,
        if_none_match: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> Response {
        let mut request = Request::builder().uri(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        if let Some(encodings) = accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, encodings);
        }
        service(dir.to_path_buf())
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    fn header_of(response: &Response, name: header::HeaderName) -> String {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn only_names_with_a_long_hex_part_count_as_hashed() {
        assert!(is_content_hashed(HASHED));
        assert!(is_content_hashed("snippets/x/portal.0123456789ABCDEF.js"));
        assert!(!is_content_hashed("portal.js"));
        assert!(!is_content_hashed("portal_bg.wasm"));
        assert!(!is_content_hashed("0123456789abcdef0123.wasm"));
        assert!(!is_content_hashed("portal.0123456789abcdeg0123.css"));
        assert!(!is_content_hashed("portal.0123.css"));
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_star() {
        let etag = "\"abc\"";
        let headers = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            h
        };
        assert!(none_match(&headers("\"abc\""), etag));
        assert!(none_match(&headers("\"x\", W/\"abc\""), etag));
        assert!(none_match(&headers("*"), etag));
        assert!(!none_match(&headers("\"abd\""), etag));
        assert!(!none_match(&HeaderMap::new(), etag));
    }

    #[test]
    fn only_plain_relative_paths_are_looked_at() {
        assert_eq!(relative_path("/portal.js"), Some("portal.js"));
        assert_eq!(relative_path("/snippets/a/b.js"), Some("snippets/a/b.js"));
        assert_eq!(relative_path("/../hash.txt"), None);
        assert_eq!(relative_path("/a//b.js"), None);
        assert_eq!(relative_path("/.hidden"), None);
        assert_eq!(relative_path("/"), None);
    }

    #[tokio::test]
    async fn a_hashed_file_is_immutable_with_a_strong_etag_and_a_304_when_held() {
        let dir = site();
        let response = get(dir.path(), &format!("/{HASHED}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header_of(&response, header::CACHE_CONTROL), IMMUTABLE);
        let etag = header_of(&response, header::ETAG);
        assert_eq!(
            etag,
            strong_etag(b"\0asm hashed").to_str().expect("ascii"),
            "the ETag is the digest of the bytes"
        );
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&body[..], b"\0asm hashed");

        let again = get(dir.path(), &format!("/{HASHED}"), Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header_of(&again, header::ETAG), etag);
        assert_eq!(header_of(&again, header::CACHE_CONTROL), IMMUTABLE);
        let body = again.into_body().collect().await.expect("body").to_bytes();
        assert!(body.is_empty());
    }

    #[tokio::test]
    async fn an_unhashed_file_is_revalidated_and_its_etag_follows_its_bytes() {
        let dir = site();
        let first = get(dir.path(), "/portal.js", None).await;
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(header_of(&first, header::CACHE_CONTROL), REVALIDATE);
        let etag = header_of(&first, header::ETAG);
        assert_eq!(
            get(dir.path(), "/portal.js", Some(&etag)).await.status(),
            StatusCode::NOT_MODIFIED
        );

        // Rebuilt under the same name: the old ETag no longer matches.
        std::fs::write(
            dir.path().join("portal.js"),
            b"export default 2; // rebuilt",
        )
        .expect("write");
        let changed = get(dir.path(), "/portal.js", Some(&etag)).await;
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(header_of(&changed, header::ETAG), etag);
    }

    #[tokio::test]
    async fn a_browser_taking_gzip_gets_the_gzipped_file_under_its_own_etag() {
        let dir = site();
        let gzipped = b"\x1f\x8b pretend gzip of the wasm";
        std::fs::write(dir.path().join(format!("{HASHED}.gz")), gzipped).expect("write");
        let path = format!("/{HASHED}");

        let zipped = get_encoded(dir.path(), &path, None, Some("br, gzip;q=0.8")).await;
        assert_eq!(zipped.status(), StatusCode::OK);
        assert_eq!(header_of(&zipped, header::CONTENT_ENCODING), "gzip");
        assert_eq!(header_of(&zipped, header::CONTENT_TYPE), "application/wasm");
        assert_eq!(header_of(&zipped, header::VARY), "accept-encoding");
        assert_eq!(header_of(&zipped, header::CACHE_CONTROL), IMMUTABLE);
        let zipped_tag = header_of(&zipped, header::ETAG);
        assert_eq!(zipped_tag, strong_etag(gzipped).to_str().expect("ascii"));
        let body = zipped.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], gzipped);

        // Held: 304 under the gzipped file's tag, not under the plain one.
        let held = get_encoded(dir.path(), &path, Some(&zipped_tag), Some("gzip")).await;
        assert_eq!(held.status(), StatusCode::NOT_MODIFIED);
        let plain_tag = strong_etag(b"\0asm hashed");
        let plain_tag = plain_tag.to_str().expect("ascii");
        let stale = get_encoded(dir.path(), &path, Some(plain_tag), Some("gzip")).await;
        assert_eq!(stale.status(), StatusCode::OK);

        // gzip refused (q=0) or not offered: the plain bytes under the plain tag.
        for encodings in [Some("gzip;q=0, identity"), None] {
            let plain = get_encoded(dir.path(), &path, None, encodings).await;
            assert_eq!(plain.status(), StatusCode::OK);
            assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
            assert_eq!(header_of(&plain, header::ETAG), plain_tag);
        }
    }

    #[tokio::test]
    async fn a_missing_file_is_a_404_without_validators() {
        let dir = site();
        let response = get(dir.path(), "/portal.0123456789abcdef9999.css", None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.headers().get(header::ETAG).is_none());
    }

    #[test]
    fn a_site_is_hashed_only_with_its_hash_file() {
        let dir = site();
        assert_eq!(hash_file(dir.path()), None);
        std::fs::write(dir.path().join(HASH_FILE), "js: a\n").expect("write");
        assert_eq!(hash_file(dir.path()), Some(dir.path().join(HASH_FILE)));

        // A site root given relative to the working folder.
        let here = tempfile::tempdir_in(".").expect("a folder here");
        let relative = Path::new(here.path().file_name().expect("a name"));
        std::fs::write(relative.join(HASH_FILE), "js: a\n").expect("write");
        let found = hash_file(relative).expect("found");
        assert!(found.is_absolute(), "{}", found.display());
        assert!(found.ends_with(relative.join(HASH_FILE)));
    }
}
