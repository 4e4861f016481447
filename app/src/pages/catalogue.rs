//! Releases, image versions, listings, search, the image lookup and the audit log.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, id_param, page_param};
use crate::{
    components::*,
    data::{Data, server_data},
    domain::*,
    dto::*,
    islands::ServerForm,
    rpc::{
        BuildImage, BuildRelease, CreateRelease, RebuildImage, get_image_version, get_listing,
        get_lookup_options, list_audit, list_listings, list_releases, list_trains, lookup_image,
        search,
    },
};

#[component]
pub fn ImageVersionPage() -> impl IntoView {
    let id = id_param("id");
    let data = server_data(id, get_image_version);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let iv = match data.await {
                    Ok(iv) => iv,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let current = iv.superseded_by.is_none();
                let can_build = current
                    && iv.state != ImageState::Available
                    && current_user().is_some_and(|u| u.can(Permission::RunJobs));
                let can_rebuild = current
                    && iv.state == ImageState::Available
                    && current_user().is_some_and(|u| u.can(Permission::RebuildImages));
                let image_id = iv.id;
                let target = (iv.partner_slug.clone(), iv.product_slug.clone(), iv.version.clone(), iv.arch.as_str());
                view! {
                    <Title text=iv.name.clone()/>
                    <PageHeader title=iv.name.clone() subtitle=format!("{} · release {} · {}", iv.product_name, iv.version, iv.arch.label())>
                        <Badge text=iv.state.label() tone=image_state_tone(iv.state)/>
                        {can_build.then(|| view! {
                            <ServerForm action=BuildImage::PATH>
                                <input type="hidden" name="partner" value=target.0/>
                                <input type="hidden" name="product" value=target.1/>
                                <input type="hidden" name="version" value=target.2/>
                                <input type="hidden" name="arch" value=target.3/>
                                <button class=BUTTON data-testid="build-image">"Build"</button>
                            </ServerForm>
                        })}
                    </PageHeader>
                    {iv.superseded_by.map(|newer| view! {
                        <div class="rounded-md border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-900 mb-4" data-testid="superseded">
                            "Replaced by a rebuild "
                            {iv.superseded_at.map(|at| format!("on {} ", at.format("%Y-%m-%d %H:%M UTC")))}
                            "— "<a class=LINK href=format!("/images/{newer}")>"the current image"</a>
                            ". Retention retires this one."
                        </div>
                    })}
                    {(iv.rebuild > 1).then(|| view! {
                        <p class="text-sm text-gray-700 mb-4" data-testid="rebuild-reason">
                            {format!("Rebuild {}", iv.rebuild)}
                            {iv.rebuild_reason.clone().map(|why| format!(": {why}"))}
                        </p>
                    })}
                    {iv.base_image_id.clone().map(|base| view! {
                        <p class="text-sm text-gray-700 mb-4" data-testid="base-image">
                            "Built on the base image "
                            <code class="text-xs">{iv.base_image_name.clone().map_or_else(|| base.clone(), |name| format!("{name} ({base})"))}</code>
                        </p>
                    })}
                    {can_rebuild.then(|| view! {
                        <Card title="Rebuild">
                            <p class="text-sm text-gray-600 mb-3">
                                "Builds a new image of this release (named “… (rebuild N)”). Once it is available it is the image lookups and publishing use, and this one goes to retention."
                            </p>
                            <ServerForm action=RebuildImage::PATH>
                                <input type="hidden" name="id" value=image_id/>
                                <Field label="Reason" name="reason">
                                    <select id="reason" name="reason" class=INPUT>
                                        {RebuildReason::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
                                    </select>
                                </Field>
                                <Field label="Note (optional)" name="note" hint="The advisory or base image it brings, up to 500 characters.">
                                    <input id="note" name="note" class=INPUT maxlength="500"/>
                                </Field>
                                <button class=BUTTON data-testid="rebuild-image">"Rebuild"</button>
                            </ServerForm>
                        </Card>
                    })}
                    <Card title=format!("Regions ({})", iv.regions.len())>
                        <table class=TABLE data-testid="regions">
                            <thead><tr><th class=TH>"Region"</th><th class=TH>"Image id"</th><th class=TH>"State"</th><th class=TH>"Updated"</th></tr></thead>
                            <tbody>
                                {iv.regions.into_iter().map(|r| view! {
                                    <tr>
                                        <td class=TD>{r.region}</td>
                                        <td class=TD><code class="text-xs">{r.image_id.unwrap_or_else(|| "—".into())}</code></td>
                                        <td class=TD><Badge text=r.state.label() tone=region_state_tone(r.state)/></td>
                                        <td class=TD>{r.updated_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </Card>
                    <a class=LINK href=format!("/products/{}/{}", iv.partner_slug, iv.product_slug)>"← All releases of "{iv.product_name.clone()}</a>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn ReleasesPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(move || page.get(), list_releases);
    // The newest trains, to link each release that has one to its page.
    let trains = server_data(|| (), |_| list_trains(1));
    let can_create = move || current_user().is_some_and(|u| u.can(Permission::ManageReleases));
    let can_build = move || current_user().is_some_and(|u| u.can(Permission::RunJobs));
    view! {
        <Title text="Releases"/>
        <PageHeader title="Releases".into() subtitle="GitLab releases; the latest stable release is derived from the versions."/>
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        let with_train: Vec<String> = trains
                            .await
                            .map(|p| p.items.into_iter().filter_map(|t| t.release).collect())
                            .unwrap_or_default();
                        match data.await {
                            Ok(p) => view! {
                                <Card>
                                    <table class=TABLE data-testid="releases">
                                        <thead><tr><th class=TH>"Version"</th><th class=TH>"Date"</th><th class=TH>"Kind"</th><th class=TH>"Images"</th><th class=TH>"Train"</th><th class=TH></th></tr></thead>
                                        <tbody>
                                            {p.items.clone().into_iter().map(|r| { let build_version = r.version.clone(); let has_train = with_train.contains(&r.version); view! {
                                                <tr>
                                                    <td class=TD>
                                                        <a class=LINK href=format!("/search?q={}", r.version)>{r.version.clone()}</a>" "
                                                        {r.latest_stable.then(|| view! { <Badge text="latest stable" tone=Tone::Green/> })}
                                                    </td>
                                                    <td class=TD>{r.released_on.to_string()}</td>
                                                    <td class=TD>{match r.kind {
                                                        ReleaseKind::Security => view! { <Badge text="security" tone=Tone::Red/> }.into_any(),
                                                        k => view! { <span>{k.label()}</span> }.into_any(),
                                                    }}</td>
                                                    <td class=TD>{r.image_count}</td>
                                                    <td class=TD>
                                                        {has_train.then(|| view! {
                                                            <a class=LINK href=format!("/releases/{}/train", r.version) data-testid=format!("train-{}", r.version)>"Train →"</a>
                                                        })}
                                                    </td>
                                                    <td class=TD>
                                                        <Show when=can_build>
                                                            {let v = build_version.clone(); view! {
                                                                <ServerForm action=BuildRelease::PATH>
                                                                    <input type="hidden" name="version" value=v.clone()/>
                                                                    <button class=BUTTON_SECONDARY data-testid=format!("build-{v}")>"Build"</button>
                                                                </ServerForm>
                                                            }}
                                                        </Show>
                                                    </td>
                                                </tr>
                                            }}).collect_view()}
                                        </tbody>
                                    </table>
                                    <Pager base="/releases".into() page=p.page pages=p.pages() total=p.total/>
                                </Card>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <div>
                <Show when=can_create>
                    <Card title="Record a release">
                        <ServerForm action=CreateRelease::PATH testid="release-form">
                            <Field label="Version" name="input[version]">
                                <input id="input_version_" name="input[version]" placeholder="17.5.1" class=INPUT/>
                            </Field>
                            <Field label="Release date" name="input[released_on]">
                                <input id="input_released_on_" type="date" name="input[released_on]" class=INPUT/>
                            </Field>
                            <Field label="Kind" name="input[kind]">
                                <select id="input_kind_" name="input[kind]" class=INPUT>
                                    {ReleaseKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                                </select>
                            </Field>
                            <button type="submit" class=BUTTON>"Record release"</button>
                        </ServerForm>
                    </Card>
                </Show>
            </div>
        </div>
    }
}

#[component]
pub fn ListingsPage() -> impl IntoView {
    let data = server_data(|| (), |_| list_listings());
    view! {
        <Title text="Listings"/>
        <PageHeader title="Marketplace listings".into() subtitle="Published versions count against the marketplace's limit of 100 per product."/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => p.items.into_iter().map(|l| view! {
                        <Card>
                            <div class="flex items-start justify-between gap-6" data-testid="listing">
                                <div>
                                    <a class=format!("{LINK} font-semibold") href=format!("/listings/{}", l.id)>{l.entity_name.clone()}</a>
                                    <p class="text-sm text-gray-600">{l.title.clone()}</p>
                                    <p class="text-xs text-gray-500 mt-1">{format!("{} · {} · {} public versions", l.product_name, l.marketplace.to_uppercase(), l.public_versions)}</p>
                                </div>
                                <div class="w-72 shrink-0"><UsageBar used=l.public_versions limit=l.version_limit.max(0) as u64/></div>
                            </div>
                        </Card>
                    }).collect_view().into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ListingPage() -> impl IntoView {
    use crate::rpc::{list_publish_jobs, list_restrictions};
    let id = id_param("id");
    let data = server_data(id, get_listing);
    let restrictions = server_data(id, list_restrictions);
    let jobs = server_data(id, list_publish_jobs);
    let banner = super::cloud::banner_resource(move || crate::rpc::BannerScope::Listing(id()));
    let copy = server_data(id, crate::rpc::get_listing_copy);
    let assets = ListingAssetsData::new(id);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let l = match data.await {
                    Ok(l) => l,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                view! {
                    <Title text=l.entity_name.clone()/>
                    <PageHeader title=l.entity_name.clone() subtitle=l.title.clone()>
                        <a class=BUTTON href=format!("/listings/{}/copy", l.id) data-testid="edit-copy">"Listing copy"</a>
                    </PageHeader>
                    <super::cloud::DriftBanner banner/>
                    <div class="grid lg:grid-cols-3 gap-6">
                        <div class="min-w-0"><ListingCopyCard listing=l.clone() copy/></div>
                        <div class="lg:col-span-2 min-w-0"><ListingAssets listing_id=l.id partner=l.partner_slug.clone() data=assets/></div>
                    </div>
                    <LimitPanel listing=l.clone() restrictions/>
                    <PublishPanel listing_id=l.id jobs>
                        <super::trains::PublishPolicyControl listing_id=l.id policy=l.publish_policy/>
                    </PublishPanel>
                    <Card title="Published versions">
                        <table class=TABLE>
                            <thead><tr><th class=TH>"Title"</th><th class=TH>"Release"</th><th class=TH>"Delivery option"</th><th class=TH>"Visibility"</th><th class=TH>"Published"</th></tr></thead>
                            <tbody>
                                {l.versions.into_iter().map(|v| view! {
                                    <tr>
                                        <td class=TD>{v.title}</td>
                                        <td class=TD>{v.release.unwrap_or_else(|| "—".into())}</td>
                                        <td class=TD><code class="text-xs">{v.delivery_option_id.unwrap_or_else(|| "—".into())}</code></td>
                                        <td class=TD><Badge text=v.visibility.label() tone=if v.visibility == ListingVersionVisibility::Public { Tone::Green } else { Tone::Gray }/></td>
                                        <td class=TD>{v.published_at.format("%Y-%m-%d").to_string()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </Card>
                }.into_any()
            })}
        </Suspense>
    }
}

/// The listing's copy as the marketplace shows it: its title, and which revision went
/// live when.
#[component]
fn ListingCopyCard(
    listing: Listing,
    copy: Data<Result<ListingCopy, crate::error::AppError>>,
) -> impl IntoView {
    let id = listing.id;
    let live_at = listing.live_copy_at;
    view! {
        <Card title="Copy">
            <p class="text-xs text-gray-500">"Title on the marketplace"</p>
            <p class="font-medium mb-3 break-words" data-testid="listing-title">{listing.title.clone()}</p>
            <div data-testid="listing-live-copy" class="text-sm">
                {match live_at {
                    Some(at) => view! {
                        <p>
                            "Live: "
                            <span>
                                <Transition fallback=|| "a revision".to_owned()>
                                    {move || copy.get().and_then(Result::ok).and_then(|c| c.live).and_then(|l| l.revision_number)
                                        .map_or_else(|| "a revision".to_owned(), |n| format!("revision {n}"))}
                                </Transition>
                            </span>
                            {format!(", published {}", when(at))}
                        </p>
                    }.into_any(),
                    None => view! { <p class="text-gray-600">"The portal has not published copy on this listing yet."</p> }.into_any(),
                }}
            </div>
            <a class=format!("{LINK} text-sm mt-3 inline-block") href=format!("/listings/{id}/copy")>"Revisions, approvals and publishing →"</a>
        </Card>
    }
}

/// An asset's current version as a listing or task shows it: a quote as a quote with its
/// agreement, a link with its text, a file as a link to the file.
#[component]
pub(crate) fn AssetContentView(asset: Asset) -> impl IntoView {
    let Some(v) = asset.versions.first().cloned() else {
        return ().into_any();
    };
    match asset.kind {
        AssetKind::CustomerQuote => view! {
            <blockquote class="mt-1 border-l-4 border-violet-300 pl-3 text-sm text-gray-800 italic break-words">
                {format!("“{}”", v.text.clone().unwrap_or_default())}
                <footer class="not-italic text-xs text-gray-600 mt-1">{format!("— {}", v.attribution.clone().unwrap_or_default())}</footer>
            </blockquote>
            <AgreementBadge agreed=v.customer_agreed/>
        }
        .into_any(),
        _ => view! {
            {v.link.clone().map(|link| view! {
                <a class=format!("{LINK} text-sm break-all") href=link.clone() rel="noopener noreferrer" target="_blank">{link.clone()}</a>
            })}
            {v.text.clone().map(|text| view! { <p class="text-sm text-gray-700 line-clamp-3 break-words">{text}</p> })}
            {v.url.clone().map(|url| view! {
                <a class=format!("{LINK} text-sm") href=url>{format!("{} · {}", v.filename, human_size(v.size_bytes))}</a>
            })}
        }
        .into_any(),
    }
}

/// Whether the customer agreed to their quote being used.
#[component]
pub(crate) fn AgreementBadge(agreed: bool) -> impl IntoView {
    view! {
        <span data-testid="agreement" data-agreed=agreed.to_string()>
            {if agreed {
                view! { <Badge text="agreed" tone=Tone::Green/> }
            } else {
                view! { <Badge text="not agreed" tone=Tone::Amber/> }
            }}
        </span>
    }
}

/// What the listing page's assets card shows and does: the listing's assets, the assets
/// that could be attached, and linking and unlinking.
#[derive(Clone, Copy)]
struct ListingAssetsData {
    linked: Data<Result<Vec<Asset>, crate::error::AppError>>,
    /// Every asset, of which the listing's partner's can be attached.
    all: Data<Result<Page<Asset>, crate::error::AppError>>,
}

impl ListingAssetsData {
    fn new(listing_id: impl Fn() -> i32 + Copy + Send + Sync + 'static) -> Self {
        use crate::rpc::{list_assets, list_listing_assets};
        let linked = server_data(listing_id, list_listing_assets);
        let all = server_data(|| (), |_| list_assets(String::new(), 1));
        ListingAssetsData { linked, all }
    }
}

/// The marketing assets linked to a listing, and attaching another of the partner's.
#[component]
fn ListingAssets(listing_id: i32, partner: String, data: ListingAssetsData) -> impl IntoView {
    let ListingAssetsData {
        linked: assets,
        all: partner_assets,
    } = data;
    let can_manage = current_user().is_some_and(|u| u.can(Permission::ManageAssets));
    view! {
        <Card title="Marketing assets">
            <Transition fallback=Loading>
                {move || assets.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="text-sm text-gray-500">"No asset is linked to this listing."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="divide-y divide-gray-100" data-testid="listing-assets">
                            {list.into_iter().map(|a| {
                                let link_id = a.links.iter().find(|k| k.listing_id == Some(listing_id)).map(|k| k.id);
                                let version = a.versions.first().map(|v| v.version).unwrap_or_default();
                                view! {
                                    <li class="py-3 flex items-start gap-3" data-testid="listing-asset" data-kind=a.kind.as_str()>
                                        <div class="min-w-0 flex-1">
                                            <div class="flex flex-wrap items-center gap-2">
                                                <Badge text=a.kind.label() tone=Tone::Violet/>
                                                <a class=format!("{LINK} font-medium") href=format!("/assets/{}", a.id)>{a.title.clone()}</a>
                                                <span class="text-xs text-gray-500">{format!("version {version}")}</span>
                                            </div>
                                            <AssetContentView asset=a.clone()/>
                                        </div>
                                        {(can_manage && link_id.is_some()).then(|| view! {
                                            <ServerForm action=crate::rpc::UnlinkAsset::PATH>
                                                <input type="hidden" name="asset_id" value=a.id/>
                                                <input type="hidden" name="link_id" value=link_id.unwrap_or_default()/>
                                                <button class="text-xs text-red-700 hover:underline">"Unlink"</button>
                                            </ServerForm>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                })}
            </Transition>
            {can_manage.then(|| view! {
                <Transition fallback=|| ()>
                    {move || partner_assets.get().and_then(Result::ok).map(|p| {
                        let candidates: Vec<Asset> = p.items.into_iter()
                            .filter(|a| a.partner_slug == partner && !a.links.iter().any(|k| k.listing_id == Some(listing_id)))
                            .collect();
                        if candidates.is_empty() {
                            return view! {
                                <p class="mt-4 text-xs text-gray-500">
                                    "Assets of this partner added on "<a class=LINK href="/assets">"Marketing assets"</a>" can be attached here."
                                </p>
                            }.into_any();
                        }
                        view! {
                            <ServerForm action=crate::rpc::LinkAsset::PATH class="mt-4 flex flex-wrap gap-2 items-center" testid="attach-asset">
                                <input type="hidden" name="target[listing_id]" value=listing_id/>
                                <input type="hidden" name="target[task_id]" value=""/>
                                <select name="asset_id" aria-label="Asset to attach" class="flex-1 min-w-0 rounded-md border border-gray-300 px-3 py-1.5 text-sm">
                                    {candidates.into_iter().map(|a| view! { <option value=a.id>{format!("{}: {}", a.kind.label(), a.title)}</option> }).collect_view()}
                                </select>
                                <button class=BUTTON_SECONDARY data-testid="attach">"Attach asset"</button>
                            </ServerForm>
                        }.into_any()
                    })}
                </Transition>
            })}
        </Card>
    }
}

/// The version limit: public versions used, and proposals to restrict the oldest.
#[component]
fn LimitPanel(
    listing: Listing,
    restrictions: Data<Result<Vec<RestrictionProposal>, crate::error::AppError>>,
) -> impl IntoView {
    let user = current_user();
    let can_propose = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::ManageCatalogue));
    let partnerships = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::DecideProposals));
    // Whoever proposed a restriction may withdraw it but not approve it.
    let me = user.map(|u| u.username).unwrap_or_default();
    let over = listing.public_versions as i32 >= listing.restrict_threshold;
    let listing_id = listing.id;
    view! {
        <Card title="Version limit">
            <UsageBar used=listing.public_versions limit=listing.version_limit.max(0) as u64/>
            <p class="mt-2 text-xs text-gray-600">{format!(
                "Public versions count against the limit. From {} on, the portal proposes restricting the oldest (never the last public one, never one younger than {} days); Partnerships approves before anything changes.",
                listing.restrict_threshold, listing.keep_recent_days
            )}</p>
            {can_propose.then(|| view! {
                <ServerForm action=crate::rpc::SetListingPolicy::PATH class="mt-3 flex flex-wrap gap-3 items-center text-sm" testid="listing-policy">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <label class="flex items-center gap-1">"Propose from"
                        <input name="input[restrict_threshold]" value=listing.restrict_threshold inputmode="numeric" class="w-16 rounded-md border border-gray-300 px-2 py-1"/>
                        "public versions"
                    </label>
                    <label class="flex items-center gap-1">"keep the last"
                        <input name="input[keep_recent_days]" value=listing.keep_recent_days inputmode="numeric" class="w-16 rounded-md border border-gray-300 px-2 py-1"/>
                        "days"
                    </label>
                    <label class="flex items-center gap-1">
                        <input type="checkbox" name="input[publish_backports]" value="true" checked=listing.publish_backports/>
                        "publish backport patches"
                    </label>
                    <button class="text-violet-700 hover:underline">"Save"</button>
                </ServerForm>
            })}
            {(can_propose && over).then(|| view! {
                <ServerForm action=crate::rpc::ProposeRestrictions::PATH class="mt-3">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <button class=BUTTON_SECONDARY data-testid="propose-restrictions">"Propose restricting the oldest versions"</button>
                </ServerForm>
            })}
            <Transition fallback=Loading>
                {move || restrictions.get().and_then(Result::ok).map(|list| list.into_iter().take(3).map(|p| {
                    let open = p.state == ProposalState::Proposed;
                    view! {
                        <div class="mt-4 rounded-md border border-gray-200 p-3 text-sm" data-testid="proposal" data-state=p.state.as_str()>
                            <p class="font-medium">{format!("Proposal {} by {} · {}", p.id, p.proposed_by, p.state.label())}</p>
                            <ul class="list-disc pl-5 mt-1">
                                {p.versions.iter().map(|v| view! { <li>{format!("{} (published {})", v.title, v.published_at.format("%Y-%m-%d"))}</li> }).collect_view()}
                            </ul>
                            {p.decided_by.clone().map(|d| view! { <p class="text-xs text-gray-600 mt-1">{format!("decided by {d}{}", if p.comment.is_empty() { String::new() } else { format!(": {}", p.comment) })}</p> })}
                            {(open && partnerships).then(|| {
                                let mine = p.proposed_by == me;
                                view! {
                                <div class="mt-2 flex gap-2 items-start flex-wrap">
                                    {mine.then(|| view! {
                                        <p class="text-sm text-gray-600 w-full" data-testid="own-proposal">"You proposed this: another member of Partnerships approves it. You may withdraw it."</p>
                                    })}
                                    {(!mine).then(|| view! {
                                    <ServerForm action=crate::rpc::DecideRestrictions::PATH>
                                        <input type="hidden" name="proposal_id" value=p.id/>
                                        <input type="hidden" name="approve" value="true"/>
                                        <input type="hidden" name="comment" value=""/>
                                        <button class=BUTTON data-testid="approve-restrictions">"Approve and restrict"</button>
                                    </ServerForm>
                                    })}
                                    <ServerForm action=crate::rpc::DecideRestrictions::PATH class="flex gap-2">
                                        <input type="hidden" name="proposal_id" value=p.id/>
                                        <input type="hidden" name="approve" value="false"/>
                                        <input name="comment" placeholder="Why not" class="rounded-md border border-gray-300 px-2 py-1.5 text-sm"/>
                                        <button class=BUTTON_SECONDARY>{if mine { "Withdraw" } else { "Reject" }}</button>
                                    </ServerForm>
                                </div>
                            }})}
                        </div>
                    }
                }).collect_view())}
            </Transition>
        </Card>
    }
}

/// Publishing releases on a listing: start one, follow the jobs, clear a blocked one.
#[component]
fn PublishPanel(
    listing_id: i32,
    jobs: Data<Result<Vec<Job>, crate::error::AppError>>,
    /// Whether a release publishes by itself, above the hand-started publishing.
    children: Children,
) -> impl IntoView {
    let can_run = current_user().is_some_and(|u| u.can(Permission::RunJobs));
    view! {
        <Card title="Publishing">
            {children()}
            {can_run.then(|| view! {
                <ServerForm action=crate::rpc::PublishRelease::PATH class="flex gap-2 items-center mb-4" testid="publish-form">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <input name="version" value="latest" class="w-40 rounded-md border border-gray-300 px-3 py-1.5 text-sm"/>
                    <button class=BUTTON data-testid="publish">"Publish this release"</button>
                    <span class="text-xs text-gray-500">"Validates, applies and follows the change set; only the newest stable release publishes unless backports are on."</span>
                </ServerForm>
            })}
            <Transition fallback=Loading>
                {move || jobs.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="text-sm text-gray-500">"Nothing published from the portal yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="divide-y divide-gray-100 text-sm" data-testid="publish-jobs">
                            {list.into_iter().map(|j| {
                                let blocked = j.state == JobState::Blocked;
                                view! {
                                    <li class="py-2" data-state=j.state.as_str()>
                                        <div class="flex items-center gap-2">
                                            <a class=LINK href=format!("/jobs/{}", j.id)>{format!("#{} {}", j.id, j.payload["version"].as_str().unwrap_or_default())}</a>
                                            <Badge text=j.state.label() tone=super::jobs::job_state_tone(j.state)/>
                                            <span class="text-gray-600">{j.step.clone()}</span>
                                        </div>
                                        {j.last_error.clone().filter(|_| matches!(j.state, JobState::Failed | JobState::Blocked | JobState::Queued)).map(|e| view! {
                                            <ul class="mt-1 list-disc pl-5 text-red-800" data-testid="publish-errors">
                                                {e.split("; ").map(|line| view! { <li>{line.to_owned()}</li> }).collect_view()}
                                            </ul>
                                        })}
                                        {(blocked && can_run).then(|| view! {
                                            <ServerForm action=crate::rpc::CancelBlockerAndRetry::PATH class="mt-2">
                                                <input type="hidden" name="job_id" value=j.id/>
                                                <button class=BUTTON_SECONDARY data-testid="cancel-blocker">"Cancel it and retry"</button>
                                            </ServerForm>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                })}
            </Transition>
        </Card>
    }
}

#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let data = server_data(q, search);
    view! {
        <Title text="Search"/>
        <PageHeader title=format!("Search") subtitle="Partners, products, releases and image ids."/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let r = match data.await {
                    Ok(r) => r,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                if r.is_empty() {
                    return view! { <p class="text-sm text-gray-600" data-testid="no-results">{format!("Nothing matches “{}”.", q())}</p> }.into_any();
                }
                view! {
                    <div data-testid="search-results">
                        {(!r.partners.is_empty()).then(|| view! {
                            <Card title="Partners">
                                {r.partners.into_iter().map(|p| view! { <p><a class=LINK href=format!("/partners/{}", p.slug)>{p.name}</a></p> }).collect_view()}
                            </Card>
                        })}
                        {(!r.products.is_empty()).then(|| view! {
                            <Card title="Products">
                                {r.products.into_iter().map(|p| view! {
                                    <p><a class=LINK href=format!("/products/{}/{}", p.partner_slug, p.slug)>{p.name}</a>
                                    <span class="text-xs text-gray-500">" · "{p.partner_name}</span></p>
                                }).collect_view()}
                            </Card>
                        })}
                        {(!r.releases.is_empty()).then(|| view! {
                            <Card title="Releases">
                                {r.releases.into_iter().map(|rel| view! {
                                    <p>{rel.version}<span class="text-xs text-gray-500">{format!(" · {} · {} images", rel.released_on, rel.image_count)}</span></p>
                                }).collect_view()}
                            </Card>
                        })}
                        {(!r.images.is_empty()).then(|| view! {
                            <Card title="Images">
                                {r.images.into_iter().map(|i| view! {
                                    <p><a class=LINK href=format!("/images/{}", i.image_version_id)><code>{i.image_id}</code></a>
                                    <span class="text-xs text-gray-500">{format!(" · {} · {}", i.name, i.region)}</span></p>
                                }).collect_view()}
                            </Card>
                        })}
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

/// "Which image do I launch?": pick release, product, architecture and region. The choice
/// is the page's address (`/lookup?release=…`), so an answer can be shared.
#[component]
pub fn LookupPage() -> impl IntoView {
    let query = use_query_map();
    let asked = move || {
        let q = query.read();
        let release = q.get("release").filter(|s| !s.is_empty())?;
        Some(LookupQuery {
            release,
            product: q.get("product").unwrap_or_default(),
            arch: q.get("arch").unwrap_or_default(),
            region: q.get("region").unwrap_or_default(),
            partner: Some("aws".to_owned()),
        })
    };
    let options = server_data(|| (), |_| get_lookup_options());
    let answer = server_data(asked, |q| async move {
        match q {
            Some(q) => lookup_image(q).await.map(Some),
            None => Ok(None),
        }
    });
    let select = move |label: &'static str, name: &'static str, items: Vec<(String, String)>| {
        let chosen = query.read_untracked().get(name).unwrap_or_default();
        view! {
            <Field label name>
                <select id=name name=name class=INPUT>
                    {items.into_iter().map(|(v, l)| {
                        let selected = v == chosen;
                        view! { <option value=v selected=selected>{l}</option> }
                    }).collect_view()}
                </select>
            </Field>
        }
    };
    view! {
        <Title text="Which image do I launch?"/>
        <PageHeader title="Which image do I launch?".into() subtitle="Pick a release, product, architecture and region to get the image id."/>
        <div class="grid lg:grid-cols-2 gap-6">
            <Card>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        let o = match options.await {
                            Ok(o) => o,
                            Err(error) => return view! { <ErrorBox error/> }.into_any(),
                        };
                        let mut releases = vec![("latest".to_owned(), "Latest stable".to_owned())];
                        releases.extend(o.releases.into_iter().map(|r| (r.clone(), r)));
                        view! {
                            <form method="get" action="/lookup" data-testid="lookup-form">
                                {select("Release", "release", releases)}
                                {select("Product", "product", o.products.into_iter().map(|p| (p.slug, p.name)).collect())}
                                {select("Architecture", "arch", Arch::ALL.iter().map(|a| (a.as_str().to_owned(), a.label().to_owned())).collect())}
                                {select("Region", "region", o.regions.into_iter().map(|r| (r.clone(), r)).collect())}
                                <button type="submit" class=BUTTON>"Find the image"</button>
                            </form>
                        }.into_any()
                    })}
                </Suspense>
            </Card>
            <div>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match answer.await {
                            Ok(None) => ().into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                            Ok(Some(found)) => view! {
                                <Card title="Launch this image">
                                    <p class="text-3xl font-mono font-semibold tracking-tight" data-testid="lookup-image-id">{found.image_id.clone()}</p>
                                    <p class="mt-2 text-sm text-gray-700">{found.name.clone()}" in "{found.region.clone()}</p>
                                    <p class="mt-2"><Badge text=found.state.label() tone=region_state_tone(found.state)/></p>
                                    <p class="mt-4 text-xs text-gray-500">"Also: "
                                        <code>{format!("GET /api/v1/images/lookup?release={}&product={}&arch={}&region={}", found.version, found.product, found.arch, found.region)}</code>
                                    </p>
                                    <a class=format!("{LINK} text-sm") href=format!("/images/{}", found.image_version_id)>"Every region of this image →"</a>
                                </Card>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </div>
    }
}

/// The kinds of audit event, offered as suggestions in the filter.
const AUDIT_ACTIONS: [&str; 24] = [
    "create",
    "update",
    "delete",
    "build",
    "cancel",
    "retry",
    "sign_in",
    "edit_copy",
    "request_approval",
    "approve",
    "reject",
    "mark_publish",
    "task_state",
    "task_assign",
    "task_link",
    "comment",
    "stage_done",
    "workflow_done",
    "sign_off",
    "approve_launch",
    "open_maintenance",
    "escalate",
    "sla_at_risk",
    "sla_breached",
];

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        AuditFilter {
            object_type: q.get("object_type").filter(|s| !s.is_empty()),
            object_id: q.get("object_id").filter(|s| !s.is_empty()),
            actor: q.get("actor").filter(|s| !s.is_empty()),
            action: q.get("action").filter(|s| !s.is_empty()),
            from: q.get("from").filter(|s| !s.is_empty()),
            to: q.get("to").filter(|s| !s.is_empty()),
            page: q.get("page").and_then(|p| p.parse().ok()),
        }
    };
    let data = server_data(filter, list_audit);
    view! {
        <Title text="Audit log"/>
        <PageHeader title="Audit log".into() subtitle="Every change, sign-in and approval, newest first."/>
        <Card>
            <form method="get" action="/audit" class="flex flex-wrap gap-3 items-end mb-4 text-sm">
                <label>"Object type"<input name="object_type" class=INPUT value=move || filter().object_type.unwrap_or_default()/></label>
                <label>"Object id"<input name="object_id" class=INPUT value=move || filter().object_id.unwrap_or_default()/></label>
                <label>"User"<input name="actor" class=INPUT value=move || filter().actor.unwrap_or_default()/></label>
                <label>"Kind"<input name="action" list="audit-actions" placeholder="approve, reject…" class=INPUT value=move || filter().action.unwrap_or_default()/></label>
                <datalist id="audit-actions">
                    {AUDIT_ACTIONS.iter().map(|a| view! { <option value=*a></option> }).collect_view()}
                </datalist>
                <label>"From"<input name="from" type="date" class=INPUT value=move || filter().from.unwrap_or_default()/></label>
                <label>"To"<input name="to" type="date" class=INPUT value=move || filter().to.unwrap_or_default()/></label>
                <button class=BUTTON_SECONDARY>"Filter"</button>
            </form>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(p) => {
                            let f = filter();
                            let base = format!(
                                "/audit?object_type={}&object_id={}&actor={}&action={}&from={}&to={}",
                                f.object_type.unwrap_or_default(), f.object_id.unwrap_or_default(), f.actor.unwrap_or_default(),
                                f.action.unwrap_or_default(), f.from.unwrap_or_default(), f.to.unwrap_or_default()
                            );
                            view! {
                                <table class=TABLE data-testid="audit">
                                    <thead><tr><th class=TH>"When"</th><th class=TH>"Who"</th><th class=TH>"What"</th><th class=TH>"Object"</th><th class=TH>"Change"</th></tr></thead>
                                    <tbody>
                                        {p.items.clone().into_iter().map(|e| view! {
                                            <tr>
                                                <td class=TD>{e.at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                                <td class=TD>{e.actor}</td>
                                                <td class=TD>{e.summary}</td>
                                                <td class=TD><code class="text-xs">{format!("{}:{}", e.object_type, e.object_id)}</code></td>
                                                <td class=TD>
                                                    {(e.before.is_some() || e.after.is_some()).then(|| view! {
                                                        <details class="text-xs"><summary class="cursor-pointer text-violet-700">"before → after"</summary>
                                                            <pre class="whitespace-pre-wrap break-all bg-gray-50 p-2 mt-1 max-w-md">{e.before.unwrap_or_else(|| "—".into())}</pre>
                                                            <pre class="whitespace-pre-wrap break-all bg-gray-50 p-2 mt-1 max-w-md">{e.after.unwrap_or_else(|| "—".into())}</pre>
                                                        </details>
                                                    })}
                                                </td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <Pager base page=p.page pages=p.pages() total=p.total/>
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    }
                })}
            </Suspense>
        </Card>
    }
}
