//! The site's built files: the pages name the stylesheet, the hydration script and the wasm
//! by their content hash, and those are served as immutable with strong validators; a
//! site built without hashed names keeps working, revalidated on every use.

use std::path::Path;

use portal_tests::{Backend, TestApp, site_root};
use reqwest::{StatusCode, header};
use sha2::{Digest, Sha256};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Every `/pkg/…` URL the page's HTML names, in order, without repeats.
fn pkg_urls(html: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for (at, _) in html.match_indices("/pkg/") {
        let rest = &html[at..];
        let end = rest
            .find(|c: char| c == '"' || c == '\'' || c == '\\' || c.is_whitespace())
            .unwrap_or(rest.len());
        let url = rest[..end].to_owned();
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// The one URL of the list that ends with `suffix`.
fn one_ending(urls: &[String], suffix: &str) -> String {
    let found: Vec<&String> = urls.iter().filter(|u| u.ends_with(suffix)).collect();
    assert_eq!(found.len(), 1, "one {suffix} URL in {urls:?}");
    found[0].clone()
}

/// The hydration script names the js and the wasm without their extension.
fn script_names(html: &str) -> String {
    let start = html
        .find("<script type=\"module\"")
        .expect("the hydration script");
    let end = html[start..].find("</script>").expect("its end") + start;
    html[start..end].to_owned()
}

struct Fetched {
    cache_control: String,
    etag: String,
    content_type: String,
    body: Vec<u8>,
}

async fn fetch(app: &TestApp, url: &str) -> Fetched {
    let res = TestApp::client()
        .get(app.url(url))
        .send()
        .await
        .expect("fetched");
    assert_eq!(res.status(), StatusCode::OK, "{url}");
    let header = |name: header::HeaderName| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    Fetched {
        cache_control: header(header::CACHE_CONTROL),
        etag: header(header::ETAG),
        content_type: header(header::CONTENT_TYPE),
        body: res.bytes().await.expect("body").to_vec(),
    }
}

/// A request holding `etag` is answered 304 without a body, with the same validators.
async fn assert_not_modified(app: &TestApp, url: &str, etag: &str, cache_control: &str) {
    let res = TestApp::client()
        .get(app.url(url))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("revalidated");
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{url}");
    assert_eq!(res.headers()[header::ETAG], etag, "{url}");
    assert_eq!(res.headers()[header::CACHE_CONTROL], cache_control, "{url}");
    assert!(res.bytes().await.expect("body").is_empty(), "{url}");

    // Another version is sent in full.
    let res = TestApp::client()
        .get(app.url(url))
        .header(header::IF_NONE_MATCH, "\"another-version\"")
        .send()
        .await
        .expect("fetched");
    assert_eq!(res.status(), StatusCode::OK, "{url}");
}

fn assert_strong(etag: &str, url: &str) {
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "{url}: a strong ETag, not {etag:?}"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_files_have_hashed_names_and_are_immutable_with_strong_validators() {
    let hashes = std::fs::read_to_string(site_root().join("hash.txt"))
        .expect("the site is built with hashed names (cargo xtask site writes hash.txt)");
    let app = TestApp::spawn(Backend::Sqlite).await.expect("portal");
    let client = app.signed_in("vic").await.expect("signed in");
    let html = client
        .get(app.url("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let urls = pkg_urls(&html);
    let js = one_ending(&urls, ".js");
    let wasm = one_ending(&urls, ".wasm");
    let css = one_ending(&urls, ".css");
    // The hydration script loads what the preload links name.
    let script = script_names(&html);
    for url in [&js, &wasm] {
        let stem = url
            .trim_start_matches("/pkg/")
            .rsplit_once('.')
            .expect("an extension")
            .0;
        assert!(
            script.contains(&format!("\"{stem}\"")),
            "{stem} in {script}"
        );
    }

    for (kind, url, content_type) in [
        ("js", &js, "text/javascript"),
        ("wasm", &wasm, "application/wasm"),
        ("css", &css, "text/css"),
    ] {
        let hash = url
            .strip_prefix("/pkg/portal.")
            .and_then(|rest| rest.strip_suffix(&format!(".{kind}")))
            .unwrap_or_else(|| panic!("{url} is portal.<hash>.{kind}"));
        assert!(
            hashes.lines().any(|l| l == format!("{kind}: {hash}")),
            "{url} is listed in hash.txt:\n{hashes}"
        );
        let file = fetch(&app, url).await;
        assert!(!file.body.is_empty(), "{url}");
        assert!(
            sha256_hex(&file.body).starts_with(hash),
            "{url}: the name carries the hash of the bytes"
        );
        assert_eq!(file.cache_control, IMMUTABLE, "{url}");
        assert!(
            file.content_type.starts_with(content_type),
            "{url}: {}",
            file.content_type
        );
        assert_strong(&file.etag, url);
        assert_not_modified(&app, url, &file.etag, IMMUTABLE).await;

        // A browser taking gzip gets the build's gzipped file: smaller, its own tag.
        let res = TestApp::client()
            .get(app.url(url))
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
            .send()
            .await
            .expect("fetched gzipped");
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip", "{url}");
        assert_eq!(res.headers()[header::VARY], "accept-encoding", "{url}");
        assert_eq!(res.headers()[header::CACHE_CONTROL], IMMUTABLE, "{url}");
        let zipped_tag = res.headers()[header::ETAG]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_strong(&zipped_tag, url);
        assert_ne!(
            zipped_tag, file.etag,
            "{url}: each encoding has its own tag"
        );
        let zipped = res.bytes().await.expect("body");
        assert_eq!(&zipped[..2], b"\x1f\x8b", "{url}: gzip's magic number");
        assert!(zipped.len() < file.body.len(), "{url}");
    }
}

/// A site with the plain names of a build without hashing, and no `hash.txt`.
fn unhashed_site(dir: &Path) {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    std::fs::write(pkg.join("portal.js"), "export default function () {}\n").expect("js");
    std::fs::write(pkg.join("portal_bg.wasm"), b"\0asm\x01\0\0\0").expect("wasm");
    std::fs::write(pkg.join("portal.css"), "body{margin:0}\n").expect("css");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_without_hashed_names_is_served_with_revalidation() {
    let dir = tempfile::tempdir().expect("a site of its own");
    unhashed_site(dir.path());
    let site = dir.path().display().to_string();
    let app = TestApp::spawn_configured(Backend::Sqlite, &[("--site-root", &site)])
        .await
        .expect("portal");
    let html = TestApp::client()
        .get(app.url("/sign-in"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let urls = pkg_urls(&html);
    assert!(urls.contains(&"/pkg/portal.css".to_owned()), "{urls:?}");
    assert!(urls.contains(&"/pkg/portal.js".to_owned()), "{urls:?}");
    assert!(urls.contains(&"/pkg/portal_bg.wasm".to_owned()), "{urls:?}");
    for url in &urls {
        let file = fetch(&app, url).await;
        assert_eq!(file.cache_control, "no-cache", "{url}");
        assert_strong(&file.etag, url);
        assert_not_modified(&app, url, &file.etag, "no-cache").await;
    }
}
