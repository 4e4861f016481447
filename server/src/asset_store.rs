//! Where uploaded assets are kept (`PORTAL_ASSETS_URL`): a local folder (the data
//! directory's `assets` by default), or a bucket and prefix in S3 or an S3-compatible store
//! (`PORTAL_ASSETS_S3_ENDPOINT`), so several portal processes behind a load balancer see
//! the same files. With S3, a file's public URL is the object's own; with a folder, the
//! portal serves a pinned logo itself once it knows its public address.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use object_store::{
    ObjectStore,
    aws::{AmazonS3Builder, AmazonS3ConfigKey},
    local::LocalFileSystem,
    prefix::PrefixStore,
};

use app::services::assets::AssetUrls;

/// The asset store a configuration names, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetStoreChoice {
    /// A folder on this machine (shared by processes on it, or on a shared file system).
    Folder(PathBuf),
    /// A bucket, the prefix every key goes under (may be empty), and the endpoint of an
    /// S3-compatible store (`None`: AWS's).
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
    },
}

/// Credentials for the S3 asset store given by whoever builds the configuration in code (a
/// test against a local S3 server); a portal started from the command line takes them
/// from the usual AWS environment instead.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Reads `PORTAL_ASSETS_URL` (empty: `<data dir>/assets`) and `PORTAL_ASSETS_S3_ENDPOINT`.
/// `allow_http` is whether plain http to any endpoint was asked for (`AWS_ALLOW_HTTP=true`).
pub fn parse(
    assets_url: &str,
    endpoint: Option<&str>,
    data_dir: &Path,
    allow_http: bool,
) -> anyhow::Result<AssetStoreChoice> {
    let url = assets_url.trim();
    let endpoint = endpoint.map(str::trim).filter(|e| !e.is_empty());
    let choice = if url.is_empty() {
        AssetStoreChoice::Folder(data_dir.join("assets"))
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        let prefix = prefix.trim_matches('/');
        if prefix.contains("//")
            || prefix.split('/').any(|s| s == "." || s == "..")
            || prefix.chars().any(char::is_control)
        {
            anyhow::bail!(
                "PORTAL_ASSETS_URL: the prefix '{prefix}' of {url} must be path segments without '.', '..' or empty ones"
            );
        }
        let endpoint = endpoint
            .map(|e| check_endpoint(e, allow_http))
            .transpose()?;
        return Ok(AssetStoreChoice::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint,
        });
    } else if url.starts_with("file:") {
        let path = url::Url::parse(url)
            .ok()
            .filter(|u| u.host_str().is_none_or(|h| h.is_empty() || h == "localhost"))
            .and_then(|u| u.to_file_path().ok())
            .with_context(|| {
                format!("PORTAL_ASSETS_URL: '{url}' is not a file URL of a folder (file:///path/to/folder)")
            })?;
        AssetStoreChoice::Folder(path)
    } else if let Some((scheme, _)) = url.split_once("://") {
        anyhow::bail!(
            "PORTAL_ASSETS_URL must be a folder (a path or file:///path) or s3://bucket/prefix; '{scheme}://' is neither"
        );
    } else {
        AssetStoreChoice::Folder(PathBuf::from(url))
    };
    if endpoint.is_some() {
        anyhow::bail!(
            "PORTAL_ASSETS_S3_ENDPOINT is set but the assets are kept in a folder: it needs PORTAL_ASSETS_URL=s3://bucket/prefix"
        );
    }
    Ok(choice)
}

/// S3's bucket naming rules: 3–63 lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit.
fn check_bucket(bucket: &str) -> anyhow::Result<()> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(bucket.chars().next())
        && edge(bucket.chars().last())
        && !bucket.contains("..");
    if valid {
        Ok(())
    } else {
        anyhow::bail!(
            "PORTAL_ASSETS_URL: '{bucket}' is not an S3 bucket name (3–63 lowercase letters, digits, dots and hyphens): use s3://bucket/prefix"
        )
    }
}

/// An endpoint is an http(s) URL of a host. Plain http only reaches a store on this
/// machine or a private network, unless it was asked for explicitly (`AWS_ALLOW_HTTP`).
fn check_endpoint(endpoint: &str, allow_http: bool) -> anyhow::Result<String> {
    let parsed = url::Url::parse(endpoint).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some_and(|h| !h.is_empty())
            && u.query().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    });
    let Some(parsed) = parsed else {
        anyhow::bail!(
            "PORTAL_ASSETS_S3_ENDPOINT must be the http(s) URL of an S3-compatible store (https://s3.example.com), got '{endpoint}'"
        );
    };
    if parsed.scheme() == "http" && !allow_http && !is_local(&parsed) {
        anyhow::bail!(
            "PORTAL_ASSETS_S3_ENDPOINT {endpoint} is plain http to a host that is neither this machine nor a private address: use https, or set AWS_ALLOW_HTTP=true to send the files unencrypted"
        );
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

fn is_local(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback() || ip.is_private() || IpAddr::V4(ip).is_unspecified()
        }
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unique_local()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
        None => false,
    }
}

/// The region of AWS's S3: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1.
fn aws_region() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|r| r.trim().to_owned())
        .find(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// Opens the store and says where its files' public URLs point. A folder is made when it
/// is missing.
pub fn open(
    choice: &AssetStoreChoice,
    credentials: Option<&S3Credentials>,
) -> anyhow::Result<(Arc<dyn ObjectStore>, AssetUrls)> {
    match choice {
        AssetStoreChoice::Folder(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("Failed to create the asset folder {}", dir.display()))?;
            let folder = LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("Failed to open the asset folder {}", dir.display()))?;
            Ok((
                Arc::new(folder),
                AssetUrls::Local {
                    portal: Default::default(),
                },
            ))
        }
        AssetStoreChoice::S3 {
            bucket,
            prefix,
            endpoint,
        } => {
            let region = aws_region();
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_region(&region);
            if let Some(c) = credentials {
                builder = builder
                    .with_access_key_id(&c.access_key_id)
                    .with_secret_access_key(&c.secret_access_key);
            }
            // An endpoint from the AWS environment (`AWS_ENDPOINT`) counts as given too.
            let endpoint = endpoint
                .clone()
                .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
            if let Some(endpoint) = &endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
                if endpoint.starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
            }
            let s3 = builder.build().with_context(|| {
                format!("Failed to open the S3 asset store s3://{bucket}/{prefix}")
            })?;
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(PrefixStore::new(s3, prefix.as_str()))
            };
            let bucket_url = match &endpoint {
                Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
                None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            };
            let base = if prefix.is_empty() {
                bucket_url
            } else {
                format!("{bucket_url}/{prefix}")
            };
            Ok((store, AssetUrls::S3 { base }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str, endpoint: Option<&str>) -> anyhow::Result<AssetStoreChoice> {
        parse(url, endpoint, Path::new("/srv/portal"), false)
    }

    #[test]
    fn assets_stay_in_the_data_dir_unless_a_folder_or_a_bucket_is_named() {
        assert_eq!(
            parsed("", None).expect("default"),
            AssetStoreChoice::Folder("/srv/portal/assets".into())
        );
        assert_eq!(
            parsed("/mnt/shared/assets", None).expect("path"),
            AssetStoreChoice::Folder("/mnt/shared/assets".into())
        );
        assert_eq!(
            parsed("file:///mnt/shared/assets", None).expect("file URL"),
            AssetStoreChoice::Folder("/mnt/shared/assets".into())
        );
        assert_eq!(
            parsed("s3://portal-assets/prod/assets/", None).expect("s3"),
            AssetStoreChoice::S3 {
                bucket: "portal-assets".into(),
                prefix: "prod/assets".into(),
                endpoint: None
            }
        );
        assert_eq!(
            parsed("s3://portal-assets", Some("http://127.0.0.1:9000/")).expect("endpoint"),
            AssetStoreChoice::S3 {
                bucket: "portal-assets".into(),
                prefix: String::new(),
                endpoint: Some("http://127.0.0.1:9000".into())
            }
        );
    }

    #[test]
    fn anything_else_stops_the_start_saying_why() {
        for (url, endpoint, says) in [
            ("gs://bucket/x", None, "'gs://' is neither"),
            ("s3://Bucket_Name/x", None, "is not an S3 bucket name"),
            ("s3://ab", None, "is not an S3 bucket name"),
            ("s3://bucket/a/../b", None, "without '.', '..'"),
            ("file://server/share", None, "is not a file URL of a folder"),
            (
                "",
                Some("https://s3.example.com"),
                "PORTAL_ASSETS_S3_ENDPOINT is set",
            ),
            (
                "s3://bucket/x",
                Some("ftp://s3.example.com"),
                "must be the http(s) URL",
            ),
            ("s3://bucket/x", Some("http://s3.example.com"), "plain http"),
        ] {
            let err = parsed(url, endpoint).expect_err(url).to_string();
            assert!(err.contains(says), "{url} {endpoint:?}: {err}");
        }
        // Plain http is fine on this machine, a private network, or when asked for.
        for endpoint in [
            "http://localhost:9000",
            "http://10.0.0.5:9000",
            "http://[::1]:9000",
        ] {
            assert!(
                parsed("s3://bucket/x", Some(endpoint)).is_ok(),
                "{endpoint}"
            );
        }
        assert!(
            parse(
                "s3://bucket/x",
                Some("http://minio:9000"),
                Path::new("/srv"),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn the_public_url_of_an_object_is_its_bucket_and_prefix() {
        let choice = parsed("s3://portal-assets/prod", Some("http://127.0.0.1:9000")).expect("s3");
        let credentials = S3Credentials {
            access_key_id: "key".into(),
            secret_access_key: "secret".into(),
        };
        let (_, urls) = open(&choice, Some(&credentials)).expect("opens without a request");
        let AssetUrls::S3 { base } = &urls else {
            panic!("an S3 store: {urls:?}");
        };
        assert_eq!(base, "http://127.0.0.1:9000/portal-assets/prod");
        assert_eq!(
            urls.public_url(3, 2, "assets/3/v2-0123456789abcdef", "logo.png")
                .expect("url"),
            "http://127.0.0.1:9000/portal-assets/prod/assets/3/v2-0123456789abcdef"
        );
        assert!(!format!("{credentials:?}").contains("secret"));
    }
}
