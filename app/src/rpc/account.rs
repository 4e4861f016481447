//! Server functions of the account page: the cloud sync and what it read, the drift between
//! the catalogue and the account with the actions that resolve it, the banners of the pages
//! drift affects, and the public-image quota's one-click actions.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator, whole_number},
};

/// A page of drift items, with the portal's time so "since" reads relative to its clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftList {
    pub page: Page<DriftItem>,
    pub now: DateTime<Utc>,
}

/// Which page a drift banner stands on: the drift that page is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BannerScope {
    /// A product's page (by its partner's and its own slug, as its address has them):
    /// drift of its images and its listings' versions.
    Product { partner: String, slug: String },
    /// A listing's page: drift of its marketplace versions.
    Listing(i32),
    /// The public images page: drift of every image.
    PublicImages,
}

/// What a drift banner says: how many differences are open, how many affect a live
/// version, since when the oldest is seen, and where the account page lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftBannerInfo {
    pub count: DriftCount,
    pub since: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    pub link: String,
}

/// The account page's drift list of a product, a listing, or every image.
pub fn drift_link(product_id: Option<i32>, listing_id: Option<i32>) -> String {
    match (product_id, listing_id) {
        (Some(id), _) => format!("/cloud?product_id={id}"),
        (None, Some(id)) => format!("/cloud?listing_id={id}"),
        (None, None) => "/cloud".to_owned(),
    }
}

/// The adopt form as a browser sends it: every field as typed, empty when not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptForm {
    #[serde(default)]
    pub product_id: String,
    #[serde(default)]
    pub release: String,
    #[serde(default)]
    pub arch: String,
}

impl TryFrom<AdoptForm> for AdoptInput {
    type Error = AppError;

    /// Only the product id must parse here; whether the product, release and architecture
    /// are given and valid is the service's to say, field by field.
    fn try_from(form: AdoptForm) -> AppResult<Self> {
        let mut v = Validator::new();
        let product_id = form.product_id.trim();
        let product_id = if product_id.is_empty() {
            Some(None)
        } else {
            v.check("product_id", whole_number::<i32>(product_id))
                .map(Some)
        };
        let text = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        v.finish(|| {
            Some(AdoptInput {
                product_id: product_id?,
                release: text(form.release),
                arch: text(form.arch),
            })
        })
    }
}

/// How often the sync runs by itself, as the portal was started with.
#[cfg(feature = "ssr")]
fn sync_every(app: &crate::services::AppState) -> chrono::Duration {
    app.cloud_sync_every
}

#[server(prefix = "/rpc")]
pub async fn get_cloud_status() -> Result<CloudStatus, AppError> {
    let (app, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::account::status(&app.db, app.clock.now(), sync_every(&app)).await,
    )
}

/// The drift list, open items first, newest first.
#[server(prefix = "/rpc")]
pub async fn list_drift(
    // No filter at all is sent as no field at all.
    #[server(default)] filter: DriftFilter,
    page: u64,
) -> Result<DriftList, AppError> {
    let (app, _) = ctx::signed_in()?;
    let page = ctx::status_of(
        crate::services::account::drift(
            &app.db,
            &filter,
            PageRequest {
                page: Some(page),
                per_page: Some(25),
            },
        )
        .await,
    )?;
    Ok(DriftList {
        page,
        now: app.clock.now(),
    })
}

/// What a page's drift banner says; nothing open is a count of 0.
#[server(prefix = "/rpc")]
pub async fn drift_banner(scope: BannerScope) -> Result<DriftBannerInfo, AppError> {
    use crate::services::account::{self, DriftScope};
    let (app, _) = ctx::signed_in()?;
    let (service_scope, filter) = match &scope {
        BannerScope::Product { partner, slug } => {
            let id =
                ctx::status_of(crate::services::products::get(&app.db, partner, slug).await)?.id;
            (
                DriftScope::Product(id),
                DriftFilter {
                    product_id: Some(id),
                    ..open_drift()
                },
            )
        }
        BannerScope::Listing(id) => (
            DriftScope::Listing(*id),
            DriftFilter {
                listing_id: Some(*id),
                ..open_drift()
            },
        ),
        BannerScope::PublicImages => (DriftScope::PublicImages, open_drift()),
    };
    let count = ctx::status_of(account::drift_count(&app.db, service_scope).await)?;
    let since = if count.open == 0 {
        None
    } else {
        oldest_open(&app.db, &filter, scope == BannerScope::PublicImages).await?
    };
    Ok(DriftBannerInfo {
        count,
        since,
        now: app.clock.now(),
        link: drift_link(filter.product_id, filter.listing_id),
    })
}

#[cfg(feature = "ssr")]
fn open_drift() -> DriftFilter {
    DriftFilter {
        state: Some(DriftState::Open.as_str().to_owned()),
        ..DriftFilter::default()
    }
}

/// Since when the oldest open item of `filter` is seen (only image items when
/// `images_only`). The list is newest first, so the oldest is on its last page.
#[cfg(feature = "ssr")]
async fn oldest_open(
    db: &sea_orm::DatabaseConnection,
    filter: &DriftFilter,
    images_only: bool,
) -> AppResult<Option<DateTime<Utc>>> {
    use crate::services::account;
    const PER_PAGE: u64 = 100;
    let first = account::drift(
        db,
        filter,
        PageRequest {
            page: Some(1),
            per_page: Some(PER_PAGE),
        },
    )
    .await?;
    let last = first.pages();
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut page = first;
    loop {
        oldest = page
            .items
            .iter()
            .filter(|i| !images_only || i.image_id.is_some())
            .map(|i| i.since)
            .chain(oldest)
            .min();
        // Without the image filter the last page alone holds the oldest.
        let next = if images_only {
            page.page + 1
        } else if page.page < last {
            last
        } else {
            break;
        };
        if next > last {
            break;
        }
        page = account::drift(
            db,
            filter,
            PageRequest {
                page: Some(next),
                per_page: Some(PER_PAGE),
            },
        )
        .await?;
    }
    Ok(oldest)
}

/// Adopts, forgets or proposes the retirement of what a drift item shows. The adopt form's
/// fields matter only to an image made outside the portal.
#[server(prefix = "/rpc")]
pub async fn resolve_drift(
    id: i32,
    action: DriftAction,
    #[server(default)] input: AdoptForm,
) -> Result<DriftResolution, AppError> {
    let (app, user) = ctx::signed_in()?;
    let input = ctx::status_of(AdoptInput::try_from(input))?;
    let done = ctx::status_of(
        crate::services::account::resolve(&app.db, &user, app.clock.now(), id, action, &input)
            .await,
    )?;
    ctx::flash(&crate::components::Flash {
        testid: "drift-resolved".into(),
        text: format!(
            "Resolved: {}{}",
            done.item.summary,
            done.item
                .resolution
                .as_ref()
                .map(|how| format!(" ({how})"))
                .unwrap_or_default()
        ),
        link: done.proposal_link.clone().map(|href| {
            (
                href,
                "The proposal waits for Partnerships' approval →".into(),
                "drift-proposal".into(),
            )
        }),
    });
    Ok(done)
}

/// Queues a sync now (or answers the one queued or running).
#[server(prefix = "/rpc")]
pub async fn request_cloud_sync() -> Result<Job, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(crate::services::account::request_sync(&app.db, &user, app.clock.now()).await)
}

/// Removes a region's quota set by hand: Service Quotas' value counts again.
#[server(prefix = "/rpc")]
pub async fn clear_quota(region: String) -> Result<RegionQuota, AppError> {
    let (app, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::retention::clear_quota(&app.db, &user, app.clock.now(), &region).await,
    )
}

/// The quota warning's one click: a retention dry run of every product with public images
/// in the region.
#[server(prefix = "/rpc")]
pub async fn propose_region_retention(region: String) -> Result<Vec<RetentionProposal>, AppError> {
    let (app, user) = ctx::signed_in()?;
    let proposals = ctx::status_of(
        crate::services::retention::propose_region(&app.db, &user, app.clock.now(), &region).await,
    )?;
    ctx::flash(&crate::components::Flash {
        testid: "region-proposed".into(),
        text: if proposals.is_empty() {
            "Nothing to propose: every product with public images there has an open dry run, or its policy keeps them all.".to_owned()
        } else {
            format!(
                "Proposed: {}. Partnerships approves each dry run below.",
                proposals
                    .iter()
                    .map(|p| format!("{} ({} images)", p.product_name, p.items.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        link: None,
    });
    Ok(proposals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adopt_form_with_a_product_id_that_is_no_number_names_the_field() {
        let err = AdoptInput::try_from(AdoptForm {
            product_id: "gitlab".into(),
            release: "17.5.1".into(),
            arch: "amd64".into(),
        })
        .expect_err("not a number");
        assert!(err.field("product_id").is_some(), "{err:?}");
    }

    #[test]
    fn an_adopt_form_keeps_what_was_typed_and_leaves_out_what_was_not() {
        let input = AdoptInput::try_from(AdoptForm {
            product_id: " 3 ".into(),
            release: " 17.5.1 ".into(),
            arch: String::new(),
        })
        .expect("parses");
        assert_eq!(
            input,
            AdoptInput {
                product_id: Some(3),
                release: Some("17.5.1".into()),
                arch: None,
            }
        );
        assert_eq!(
            AdoptInput::try_from(AdoptForm::default()).expect("empty"),
            AdoptInput::default()
        );
    }

    #[test]
    fn each_banner_links_to_its_drift() {
        assert_eq!(drift_link(Some(4), None), "/cloud?product_id=4");
        assert_eq!(drift_link(None, Some(2)), "/cloud?listing_id=2");
        assert_eq!(drift_link(None, None), "/cloud");
    }
}
