//! The account page: what the cloud sync read of the account (regions, quotas, listings),
//! the drift between the catalogue and the account with the actions that resolve it, and
//! the banner the product, listing and public-image pages carry when drift affects them.

use chrono::{DateTime, Utc};
use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, jobs::job_state_tone, page_param};
use crate::{
    components::*,
    data::{Data, server_data},
    domain::*,
    dto::*,
    error::AppError,
    islands::{Live, ServerForm},
    rpc::{
        BannerScope, DriftBannerInfo, DriftList, RequestCloudSync, ResolveDrift, drift_banner,
        get_cloud_status, list_drift, list_listings, list_products,
    },
};

/// How long ago `at` was, seen at `now`, in words.
pub(crate) fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    if seconds < 0 {
        return "just now".to_owned();
    }
    let (n, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3_600 => (seconds / 60, "minute"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A moment as "3 hours ago (2026-11-02 09:00 UTC)".
fn ago_and_when(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    format!("{} ({})", ago(now, at), when(at))
}

/// "1 difference", "3 differences".
fn plural(n: i32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(crate) fn drift_tone(kind: DriftKind) -> Tone {
    match kind {
        DriftKind::OutsideImage => Tone::Violet,
        DriftKind::VersionAdded => Tone::Blue,
        DriftKind::ImageMadePrivate
        | DriftKind::ImageMadePublic
        | DriftKind::ImageDeprecated
        | DriftKind::VersionRestricted => Tone::Amber,
        DriftKind::ImageGone | DriftKind::VersionGone => Tone::Gray,
        DriftKind::LiveImageGone => Tone::Red,
    }
}

/// A page's drift banner data. Created where the page creates its other resources (at its
/// top, not inside a view that waited for something), so it loads once with them.
pub type BannerResource = Data<Result<DriftBannerInfo, AppError>>;

pub fn banner_resource(scope: impl Fn() -> BannerScope + Send + Sync + 'static) -> BannerResource {
    server_data(scope, drift_banner)
}

/// The banner of a page drift affects: how many differences are open since when, how many
/// touch a live version, and a link to them on the account page. Nothing when none is open.
#[component]
pub fn DriftBanner(banner: BannerResource) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || {
                banner.get().and_then(Result::ok).filter(|b| b.count.open > 0).map(move |b| {
                    let incidents = b.count.incidents;
                    let class = if incidents > 0 {
                        "border-red-300 bg-red-50 text-red-900"
                    } else {
                        "border-amber-300 bg-amber-50 text-amber-900"
                    };
                    let mut text = format!(
                        "{} between the catalogue and the account",
                        plural(b.count.open, "difference", "differences")
                    );
                    if let Some(since) = b.since {
                        text.push_str(&format!(" since {} ({})", when(since), ago(b.now, since)));
                    }
                    if incidents > 0 {
                        text.push_str(&format!(
                            ", {} a live version",
                            plural(incidents, "affects", "affect")
                        ));
                    }
                    view! {
                        <div role="status" data-testid="drift-banner" data-open=b.count.open data-incidents=incidents
                            class=format!("mb-4 flex items-center justify-between gap-4 rounded-md border px-4 py-3 text-sm {class}")>
                            <span>{text}</span>
                            <a class="shrink-0 font-medium underline" href=b.link data-testid="drift-banner-link">"Review the drift →"</a>
                        </div>
                    }
                })
            }}
        </Transition>
    }
}

/// The drift list's filters, from the query string (`?state=`, `?product_id=`,
/// `?listing_id=`, `?region=`), so banners and notifications can link to them.
fn filter_from_query() -> Memo<DriftFilter> {
    let query = use_query_map();
    Memo::new(move |_| {
        let q = query.read();
        let text = |name: &str| {
            q.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        DriftFilter {
            state: text("state").filter(|s| s == DriftState::Resolved.as_str()),
            product_id: text("product_id").and_then(|v| v.parse().ok()),
            listing_id: text("listing_id").and_then(|v| v.parse().ok()),
            region: text("region"),
        }
    })
}

/// The page's address for a filter, with another state.
fn drift_href(filter: &DriftFilter, state: DriftState) -> String {
    let mut parts = Vec::new();
    if state == DriftState::Resolved {
        parts.push("state=resolved".to_owned());
    }
    if let Some(p) = filter.product_id {
        parts.push(format!("product_id={p}"));
    }
    if let Some(l) = filter.listing_id {
        parts.push(format!("listing_id={l}"));
    }
    if let Some(r) = &filter.region {
        parts.push(format!("region={}", percent_encode(r)));
    }
    if parts.is_empty() {
        "/cloud".to_owned()
    } else {
        format!("/cloud?{}", parts.join("&"))
    }
}

#[component]
pub fn CloudPage() -> impl IntoView {
    let filter = filter_from_query();
    let page = page_param();
    let status = server_data(|| (), |_| get_cloud_status());
    let drift = server_data(
        move || (filter.get(), page.get()),
        |(f, p)| list_drift(f, p),
    );
    let products = server_data(|| (), |_| list_products("aws".to_owned(), 1));
    let listings = server_data(|| (), |_| list_listings());
    let user = current_user();
    let can_sync = user.as_ref().is_some_and(|u| u.can(Permission::SyncCloud));
    let can_resolve = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::ResolveDrift));
    view! {
        <Title text="Account"/>
        <PageHeader
            title="Account".into()
            subtitle="The AWS account as the sync last read it: images and public-image quotas per region, marketplace versions per listing, and every difference from the catalogue with the action that resolves it."
        >
            {can_sync.then(|| view! {
                <ServerForm action=RequestCloudSync::PATH>
                    <button class=format!("{BUTTON} whitespace-nowrap") data-testid="sync-now">"Sync now"</button>
                </ServerForm>
            })}
        </PageHeader>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let status = match status.await {
                    Ok(status) => status,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let drift = drift.await;
                // While the newest sync is queued or running, the page follows it.
                let syncing = status.last_sync.as_ref().is_some_and(|j| {
                    matches!(j.state, JobState::Queued | JobState::Running | JobState::Waiting)
                });
                let (regions, listings_status) = (status.regions.clone(), status.listings.clone());
                view! {
                    <Live id="cloud".to_owned() active=syncing every_ms=2000>
                        <SyncCard status/>
                        <Card title="Drift">
                            <DriftTabs filter/>
                            <DriftFilters filter products listings/>
                            {match drift {
                                Ok(list) => view! { <DriftItems list filter=filter.get_untracked() can_resolve products/> }.into_any(),
                                Err(error) => view! { <ErrorBox error/> }.into_any(),
                            }}
                        </Card>
                        <RegionsCard regions/>
                        <ListingsCard listings=listings_status/>
                    </Live>
                }.into_any()
            })}
        </Suspense>
    }
}

type ProductsResource = Data<Result<Page<ProductSummary>, AppError>>;
type ListingsResource = Data<Result<Page<Listing>, AppError>>;

/// The newest sync: its state and time, what it found, and how often it runs.
#[component]
fn SyncCard(status: CloudStatus) -> impl IntoView {
    let schedule = if status.every_minutes > 0 {
        format!(
            "The sync runs at start, every {} and on demand.",
            plural(
                i32::try_from(status.every_minutes).unwrap_or(i32::MAX),
                "minute",
                "minutes"
            )
        )
    } else {
        "The sync runs at start and on demand.".to_owned()
    };
    let drift = status.drift.clone();
    view! {
        <Card title="Sync">
            <div data-testid="sync" class="flex flex-wrap items-start justify-between gap-4 text-sm">
                <div>
                    {match status.last_sync {
                        Some(job) => {
                            let at = job.finished_at.unwrap_or(job.updated_at);
                            let found = job.result.as_ref().map(sync_summary);
                            view! {
                                <p class="flex items-center gap-2" data-testid="last-sync" data-state=job.state.as_str()>
                                    <a class=LINK href=format!("/jobs/{}", job.id)>{format!("Sync #{}", job.id)}</a>
                                    <Badge text=job.state.label() tone=job_state_tone(job.state)/>
                                    <span class="text-gray-600">{when(at)}</span>
                                </p>
                                {found.map(|f| view! { <p class="mt-1 text-gray-600">{f}</p> })}
                                {job.last_error.map(|e| view! { <p class="mt-1 text-red-700">{e}</p> })}
                            }.into_any()
                        }
                        None => view! { <p class="text-gray-600" data-testid="last-sync">"No sync has run yet: the counts are the catalogue's."</p> }.into_any(),
                    }}
                    <p class="mt-1 text-xs text-gray-500">{schedule}</p>
                </div>
                <div class="flex gap-2">
                    <Badge text=plural(drift.open, "open difference", "open differences") tone={if drift.open > 0 { Tone::Amber } else { Tone::Green }}/>
                    {(drift.incidents > 0).then(|| view! {
                        <Badge text=plural(drift.incidents, "incident", "incidents") tone=Tone::Red/>
                    })}
                </div>
            </div>
        </Card>
    }
}

/// What a finished sync reports, in words (its result is the sync's report).
fn sync_summary(result: &serde_json::Value) -> String {
    let n = |key: &str| {
        result
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let mut text = format!(
        "Read {} regions and {} listings: {} images, {} imported, {} made outside the portal; {} differences opened, {} resolved",
        n("regions"),
        n("listings"),
        n("images"),
        n("imported"),
        n("outside"),
        n("drift_opened"),
        n("drift_resolved"),
    );
    let errors = result
        .get("errors")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    if errors > 0 {
        text.push_str(&format!("; {errors} reads failed (see the job)"));
    }
    text.push('.');
    text
}

/// A time the sync read something, or what went wrong reading it.
#[component]
fn Read(
    at: Option<DateTime<Utc>>,
    error: Option<String>,
    #[prop(default = "not read yet")] never: &'static str,
) -> impl IntoView {
    view! {
        {at.map(|at| view! { <div class="text-xs text-gray-600">{when(at)}</div> })}
        {match error {
            Some(e) => view! { <div class="text-xs text-red-700" data-testid="read-error">{e}</div> }.into_any(),
            None if at.is_none() => view! { <div class="text-xs text-gray-400">{never}</div> }.into_any(),
            None => ().into_any(),
        }}
    }
}

/// A card with a table of what the syncs read (a row per region or listing), or a line
/// saying that nothing was read yet.
#[component]
fn ReadCard(
    title: &'static str,
    /// What the card says while there is no row.
    nothing: &'static str,
    testid: &'static str,
    headers: &'static [&'static str],
    rows: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <Card title=title>
            {(!rows).then(|| view! { <p class="text-sm text-gray-500">{nothing}</p> })}
            {rows.then(|| view! {
                <table class=TABLE data-testid=testid>
                    <thead><tr>
                        {headers.iter().map(|h| view! { <th class=TH>{*h}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>{children()}</tbody>
                </table>
            })}
        </Card>
    }
}

#[component]
fn RegionsCard(regions: Vec<AccountRegion>) -> impl IntoView {
    view! {
        <ReadCard
            title="Regions"
            nothing="No region read yet."
            testid="account-regions"
            headers=&[
                "Region",
                "Service quota",
                "Images",
                "Public",
                "Made outside the portal",
                "Protected",
                "Public in the Recycle Bin",
                "Images read",
            ]
            rows=!regions.is_empty()
        >
            {regions.into_iter().map(|r| view! {
                <tr data-testid="account-region" data-region=r.region.clone()>
                    <td class=TD>
                        <a class=format!("{LINK} font-mono text-sm whitespace-nowrap") href=format!("/public-images?region={}", r.region)>{r.region.clone()}</a>
                    </td>
                    <td class=TD>
                        <span class="font-medium" data-testid="service-quota">{r.service_quota.map_or_else(|| "—".to_owned(), |q| q.to_string())}</span>
                        <Read at=r.quota_checked_at error=r.quota_error.clone() never="not asked yet"/>
                    </td>
                    <td class=TD>{r.images}</td>
                    <td class=TD>{r.public_images}</td>
                    <td class=TD>
                        {if r.outside_images > 0 {
                            view! { <a class=LINK href=format!("/cloud?region={}", r.region)>{r.outside_images}</a> }.into_any()
                        } else {
                            view! { <span>"0"</span> }.into_any()
                        }}
                    </td>
                    <td class=TD>{r.protected_images}</td>
                    <td class=TD>{r.recycle_bin_public}</td>
                    <td class=TD><Read at=r.images_synced_at error=r.images_error.clone()/></td>
                </tr>
            }).collect_view()}
        </ReadCard>
    }
}

#[component]
fn ListingsCard(listings: Vec<AccountListing>) -> impl IntoView {
    view! {
        <ReadCard
            title="Marketplace listings"
            nothing="No listing read yet."
            testid="account-listings"
            headers=&["Listing", "Public versions", "All versions", "Read"]
            rows=!listings.is_empty()
        >
            {listings.into_iter().map(|l| {
                let over = l.public_versions >= l.restrict_threshold;
                view! {
                    <tr data-testid="account-listing" data-listing=l.listing_id data-public=l.public_versions>
                        <td class=TD>
                            <a class=LINK href=format!("/listings/{}", l.listing_id)>{l.entity_name.clone()}</a>
                            <div class="font-mono text-xs text-gray-500">{l.entity_id.clone()}</div>
                        </td>
                        <td class=TD>
                            <div class="w-64">
                                <UsageBar used=l.public_versions.max(0) as u64 limit=l.version_limit.max(0) as u64/>
                            </div>
                            <div class={if over { "text-xs text-amber-800" } else { "text-xs text-gray-500" }}>
                                {format!("restriction proposed from {}", l.restrict_threshold)}
                            </div>
                        </td>
                        <td class=TD>{format!("{} of {}", l.total_versions, l.version_limit)}</td>
                        <td class=TD><Read at=l.synced_at error=l.error.clone()/></td>
                    </tr>
                }
            }).collect_view()}
        </ReadCard>
    }
}

/// Open and resolved drift, each a tab keeping the filters.
#[component]
fn DriftTabs(filter: Memo<DriftFilter>) -> impl IntoView {
    let tab = move |state: DriftState| {
        let current = move || {
            let resolved = filter.with(|f| f.state.is_some());
            (state == DriftState::Resolved) == resolved
        };
        view! {
            <a
                href=move || filter.with(|f| drift_href(f, state))
                data-testid=format!("tab-{}", state.as_str())
                aria-current=move || current().then_some("page")
                class=move || if current() {
                    "border-b-2 border-violet-700 px-3 py-2 font-medium text-violet-800"
                } else {
                    "border-b-2 border-transparent px-3 py-2 text-gray-600 hover:text-gray-900"
                }
            >
                {state.label()}
            </a>
        }
    };
    view! {
        <nav class="mb-4 flex gap-2 border-b border-gray-200 text-sm" aria-label="Drift">
            {tab(DriftState::Open)}
            {tab(DriftState::Resolved)}
        </nav>
    }
}

/// Product, listing and region filters (a plain form: the filters live in the address).
#[component]
fn DriftFilters(
    filter: Memo<DriftFilter>,
    products: ProductsResource,
    listings: ListingsResource,
) -> impl IntoView {
    view! {
        <form method="get" action="/cloud" class="mb-4 flex flex-wrap items-end gap-3 text-sm" data-testid="drift-filters">
            {move || filter.with(|f| f.state.is_some()).then(|| view! { <input type="hidden" name="state" value="resolved"/> })}
            <label>"Product"
                <ProductSelect id="filter_product_id" name="product_id" products empty="Any"
                    selected=filter.with_untracked(|f| f.product_id)/>
            </label>
            <label>"Listing"
                <Transition fallback=|| ()>
                    {move || {
                        let items = listings.get().and_then(Result::ok).map(|p| p.items).unwrap_or_default();
                        let selected = filter.with(|f| f.listing_id);
                        view! {
                            <select name="listing_id" class=INPUT>
                                <option value="">"Any"</option>
                                {items.into_iter().map(|l| view! {
                                    <option value=l.id selected=selected == Some(l.id)>{l.entity_name}</option>
                                }).collect_view()}
                            </select>
                        }
                    }}
                </Transition>
            </label>
            <label>"Region"
                <input name="region" placeholder="us-east-1" class=INPUT value=move || filter.with(|f| f.region.clone().unwrap_or_default())/>
            </label>
            <button class=BUTTON_SECONDARY>"Filter"</button>
            {move || {
                let any = filter.with(|f| f.product_id.is_some() || f.listing_id.is_some() || f.region.is_some());
                any.then(|| view! { <a class=LINK href=move || filter.with(|f| drift_href(&DriftFilter { state: f.state.clone(), ..DriftFilter::default() }, if f.state.is_some() { DriftState::Resolved } else { DriftState::Open }))>"Clear the filters"</a> })
            }}
        </form>
    }
}

#[component]
fn DriftItems(
    list: DriftList,
    filter: DriftFilter,
    can_resolve: bool,
    products: ProductsResource,
) -> impl IntoView {
    let DriftList { page, now } = list;
    let resolved = filter.state.is_some();
    let base = drift_href(
        &filter,
        if resolved {
            DriftState::Resolved
        } else {
            DriftState::Open
        },
    );
    if page.items.is_empty() {
        let empty = if resolved {
            "Nothing resolved yet."
        } else {
            "No open difference: the catalogue and the account agree, as far as the last sync saw."
        };
        return view! { <p class="text-sm text-gray-500" data-testid="drift-empty">{empty}</p> }
            .into_any();
    }
    let (p, pages, total) = (page.page, page.pages(), page.total);
    view! {
        <ul class="divide-y divide-gray-100" data-testid="drift">
            {page.items.into_iter().map(|item| view! { <DriftRow item now can_resolve products/> }).collect_view()}
        </ul>
        <Pager base page=p pages total/>
    }
    .into_any()
}

/// One difference: what, where, since when, and the actions that resolve it (or who
/// resolved it and how).
#[component]
fn DriftRow(
    item: DriftItem,
    now: DateTime<Utc>,
    can_resolve: bool,
    products: ProductsResource,
) -> impl IntoView {
    let where_ = {
        let mut parts: Vec<AnyView> = Vec::new();
        if let (Some(name), Some(partner), Some(slug)) =
            (&item.product_name, &item.partner_slug, &item.product_slug)
        {
            parts.push(view! { <a class=LINK href=format!("/products/{partner}/{slug}")>{name.clone()}</a> }.into_any());
        }
        if let (Some(id), Some(name)) = (item.listing_id, &item.listing) {
            parts.push(
                view! { <a class=LINK href=format!("/listings/{id}")>{name.clone()}</a> }
                    .into_any(),
            );
        }
        if let Some(v) = &item.version_title {
            parts.push(view! { <span>{v.clone()}</span> }.into_any());
        }
        if let Some(r) = &item.region {
            parts.push(view! { <span class="font-mono">{r.clone()}</span> }.into_any());
        }
        if let Some(i) = &item.image_id {
            parts.push(view! { <span class="font-mono">{i.clone()}</span> }.into_any());
        }
        if let Some(n) = &item.image_name {
            parts.push(view! { <span>{n.clone()}</span> }.into_any());
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| view! { {(i > 0).then_some(" · ")}{part} })
            .collect_view()
    };
    let value = |text: &str| {
        if text.is_empty() {
            "—".to_owned()
        } else {
            text.to_owned()
        }
    };
    let resolution = item.resolved_at.map(|at| {
        format!(
            "Resolved by {}, {}: {}",
            item.resolved_by.clone().unwrap_or_else(|| "someone".into()),
            ago_and_when(now, at),
            item.resolution.clone().unwrap_or_default()
        )
    });
    let actions = (can_resolve && item.state == DriftState::Open).then(|| {
        item.actions
            .iter()
            .map(|&action| {
                if action == DriftAction::Adopt && item.kind == DriftKind::OutsideImage {
                    view! { <AdoptForm item=item.clone() products/> }.into_any()
                } else {
                    view! {
                        <ServerForm action=ResolveDrift::PATH>
                            <input type="hidden" name="id" value=item.id/>
                            <input type="hidden" name="action" value=action.as_str()/>
                            <button class={if action == DriftAction::Adopt { BUTTON } else { BUTTON_SECONDARY }}
                                data-testid=format!("drift-{}", action.as_str())>{action.label()}</button>
                        </ServerForm>
                    }
                    .into_any()
                }
            })
            .collect_view()
    });
    view! {
        <li class="py-4" data-testid="drift-item" data-id=item.id data-kind=item.kind.as_str()
            data-state=item.state.as_str() data-image=item.image_id.clone().unwrap_or_default()>
            <div class="flex flex-wrap items-center gap-2">
                <Badge text=item.kind.label() tone=drift_tone(item.kind)/>
                {item.incident.then(|| view! { <Badge text="Incident: a live version is affected" tone=Tone::Red/> })}
                <span class="font-medium" data-testid="drift-summary">{item.summary.clone()}</span>
            </div>
            <p class="mt-1 text-xs text-gray-600">{where_}</p>
            <dl class="mt-2 grid max-w-2xl grid-cols-[8rem_1fr] gap-x-3 gap-y-1 text-sm">
                <dt class="text-gray-500">"Catalogue"</dt><dd data-testid="drift-catalogue">{value(&item.catalogue)}</dd>
                <dt class="text-gray-500">"Account"</dt><dd data-testid="drift-account">{value(&item.account)}</dd>
                <dt class="text-gray-500">"Since"</dt>
                <dd data-testid="drift-since">
                    {ago_and_when(now, item.since)}
                    <span class="text-xs text-gray-500">{format!(" · last seen {}", ago(now, item.last_seen_at))}</span>
                </dd>
            </dl>
            {resolution.map(|r| view! { <p class="mt-2 text-sm text-green-800" data-testid="drift-resolution">{r}</p> })}
            {actions.map(|a| view! { <div class="mt-3 flex flex-wrap items-start gap-2" data-testid="drift-actions">{a}</div> })}
        </li>
    }
}

/// Adopting an image made outside the portal: the product, release and architecture it
/// is, prefilled from what its name and tags suggest.
#[component]
fn AdoptForm(item: DriftItem, products: ProductsResource) -> impl IntoView {
    let suggestion = item.suggestion.clone().unwrap_or_default();
    let id = item.id;
    let suggested_product = suggestion.product_id;
    let suggested_arch = suggestion.arch.clone();
    let field_id = move |field: &str| format!("adopt_{id}_{field}");
    view! {
        <details class="rounded-md border border-gray-200 px-3 py-2" data-testid="adopt">
            <summary class="cursor-pointer text-sm font-medium text-violet-700">"Adopt…"</summary>
            <ServerForm action=ResolveDrift::PATH class="mt-3 w-72">
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="action" value=DriftAction::Adopt.as_str()/>
                <div class="mb-3" data-field="product_id" data-field-id=field_id("product_id") data-field-testid="field-error">
                    <label for=field_id("product_id") class="block text-sm font-medium text-gray-800 mb-1">"Product"</label>
                    <ProductSelect id=field_id("product_id") name="input[product_id]" products empty="Choose…"
                        selected=suggested_product/>
                </div>
                <div class="mb-3" data-field="release" data-field-id=field_id("release") data-field-testid="field-error">
                    <label for=field_id("release") class="block text-sm font-medium text-gray-800 mb-1">"Release"</label>
                    <input id=field_id("release") name="input[release]" placeholder="17.5.1" value=suggestion.release.clone().unwrap_or_default()
                        class=INPUT/>
                    <p class="mt-1 text-xs text-gray-500">"Recorded if the catalogue does not have it."</p>
                </div>
                <div class="mb-3" data-field="arch" data-field-id=field_id("arch") data-field-testid="field-error">
                    <label for=field_id("arch") class="block text-sm font-medium text-gray-800 mb-1">"Architecture"</label>
                    <select id=field_id("arch") name="input[arch]" class=INPUT>
                        <option value="">"Choose…"</option>
                        {Arch::ALL.iter().map(|a| view! {
                            <option value=a.as_str() selected=suggested_arch.as_deref() == Some(a.as_str())>{a.as_str()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button class=BUTTON data-testid="drift-adopt">"Adopt into the catalogue"</button>
            </ServerForm>
        </details>
    }
}

/// A select of the AWS products, once they are loaded.
#[component]
fn ProductSelect(
    #[prop(into)] id: String,
    name: &'static str,
    products: ProductsResource,
    /// What the empty choice reads.
    empty: &'static str,
    selected: Option<i32>,
) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || {
                let items = products.get().and_then(Result::ok).map(|p| p.items).unwrap_or_default();
                let chosen = selected;
                view! {
                    <select id=id.clone() name=name class=INPUT>
                        <option value="">{empty}</option>
                        {items.into_iter().map(|p| view! {
                            <option value=p.id selected=chosen == Some(p.id)>{p.name}</option>
                        }).collect_view()}
                    </select>
                }
            }}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_reads_as_how_long_ago_it_was() {
        let now = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, now + chrono::Duration::minutes(5)), "just now");
        assert_eq!(
            ago(now, now - chrono::Duration::seconds(61)),
            "1 minute ago"
        );
        assert_eq!(
            ago(now, now - chrono::Duration::minutes(59)),
            "59 minutes ago"
        );
        assert_eq!(ago(now, now - chrono::Duration::hours(3)), "3 hours ago");
        assert_eq!(ago(now, now - chrono::Duration::days(1)), "1 day ago");
        assert_eq!(
            ago_and_when(now, now - chrono::Duration::days(2)),
            "2 days ago (2026-10-31 09:00 UTC)"
        );
    }

    #[test]
    fn the_tabs_keep_the_filters_a_banner_linked_to() {
        let filter = DriftFilter {
            state: None,
            product_id: Some(3),
            listing_id: None,
            region: Some("eu-west-1".into()),
        };
        assert_eq!(
            drift_href(&filter, DriftState::Resolved),
            "/cloud?state=resolved&product_id=3&region=eu-west-1"
        );
        assert_eq!(
            drift_href(&filter, DriftState::Open),
            "/cloud?product_id=3&region=eu-west-1"
        );
        assert_eq!(
            drift_href(&DriftFilter::default(), DriftState::Open),
            "/cloud"
        );
    }
}
