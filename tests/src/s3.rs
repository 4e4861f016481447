//! Moto's server (`moto[server]` from PyPI), an emulator of AWS nobody here wrote: the
//! asset store's tests use its S3 (path-style, on its one endpoint), the image build's its
//! EC2. Each test starts its own on a free port; the process is killed when the test drops
//! it.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use object_store::{ObjectStore, aws::AmazonS3Builder};

/// The credentials the portal and the test sign moto's requests with (moto takes any).
pub const ACCESS_KEY_ID: &str = "portal-test-key";
pub const SECRET_ACCESS_KEY: &str = "portal-test-secret";

/// A running moto server.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub async fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("python3 -m moto.server (pip install 'moto[server]'): {e}")
            })?;
        // Owned at once, so the process is killed whatever happens next.
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..150 {
            if client
                .get(format!("{}/moto-api/", moto.url))
                .send()
                .await
                .is_ok()
            {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("moto did not start on {}", moto.url)
    }

    /// Makes a bucket (S3's CreateBucket: a PUT on the bucket's path).
    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let res = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "CreateBucket {bucket}: {}",
            res.status()
        );
        Ok(())
    }

    /// A client of the bucket of the test's own, to look at what the portal stored.
    pub fn bucket(&self, bucket: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.url)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_bucket_name(bucket)
                .with_access_key_id(ACCESS_KEY_ID)
                .with_secret_access_key(SECRET_ACCESS_KEY)
                .build()?,
        ))
    }
}

/// Gives a configuration that keeps assets in S3 the credentials moto is signed with; a
/// portal started from the command line reads them from the AWS environment instead.
pub fn give_credentials(store: &mut server::config::StoreConfig) {
    if store.assets_url.trim().starts_with("s3://") {
        store.assets_s3_credentials = Some(server::asset_store::S3Credentials {
            access_key_id: ACCESS_KEY_ID.to_owned(),
            secret_access_key: SECRET_ACCESS_KEY.to_owned(),
        });
    }
}
