//! The daily base-image check's cloud half: asks EC2 for the base images a build would take
//! (`app::services::rebuilds` decides what to propose), and the loop that runs the check
//! once a day between every process of the portal.

use std::{sync::Arc, time::Duration as StdDuration};

use aws_sdk_ec2::error::DisplayErrorContext;
use futures::future::BoxFuture;
use tokio::sync::watch;

use app::{
    error::{AppError, AppResult},
    services::{
        AppState,
        rebuilds::{self, BaseImageFinder, BaseImageQuery, FoundBaseImage},
    },
};

use crate::cloud::Cloud;

/// Lists base images through the portal's EC2 clients, with the build's own lookup.
pub struct Ec2BaseImages {
    cloud: Arc<Cloud>,
}

impl Ec2BaseImages {
    pub fn new(cloud: Arc<Cloud>) -> Self {
        Ec2BaseImages { cloud }
    }

    /// The finder as the web layer hands it to requests.
    pub fn finder(cloud: Arc<Cloud>) -> rebuilds::Finder {
        rebuilds::Finder(Arc::new(Ec2BaseImages::new(cloud)))
    }
}

impl BaseImageFinder for Ec2BaseImages {
    fn find<'a>(
        &'a self,
        query: &'a BaseImageQuery,
    ) -> BoxFuture<'a, AppResult<Vec<FoundBaseImage>>> {
        Box::pin(async move {
            let ec2 = self.cloud.ec2(&query.region);
            let out = super::build_image::base_images(&ec2, &query.owner, &query.name_pattern)
                .send()
                .await
                .map_err(|e| {
                    AppError::internal(
                        &format!(
                            "asking EC2 in {} for the base images named '{}' of {}",
                            query.region, query.name_pattern, query.owner
                        ),
                        DisplayErrorContext(&e),
                    )
                })?;
            Ok(out
                .images()
                .iter()
                .filter_map(|i| {
                    Some(FoundBaseImage {
                        id: i.image_id()?.to_owned(),
                        name: i.name().unwrap_or_default().to_owned(),
                        created: i.creation_date().map(str::to_owned),
                    })
                })
                .collect())
        })
    }
}

/// Runs the daily check whenever its day has come (looking every `every`), until
/// `shutdown` turns true. Safe in every process: one of them takes each day's turn.
pub async fn run_daily(
    state: AppState,
    cloud: Arc<Cloud>,
    mut shutdown: watch::Receiver<bool>,
    every: StdDuration,
) {
    let finder = Ec2BaseImages::new(cloud);
    loop {
        match rebuilds::daily_check(&state.db, state.clock.now(), &finder).await {
            Ok(Some(report)) => tracing::info!(
                proposals = report.proposals.len(),
                filters = report.base_images.len(),
                "daily base-image check"
            ),
            Ok(None) => {}
            Err(err) => tracing::warn!(
                error = %err.message,
                "the daily base-image check failed; it runs again in an hour"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
