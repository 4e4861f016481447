//! The public images page: quota use per region, each product's retention policy, and the
//! dry runs Partnerships approves before old images are retired.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;

use super::current_user;
use crate::{
    components::*,
    data::{Data, server_data},
    domain::*,
    dto::*,
    error::AppError,
    islands::{ScrollIntoView, ServerForm},
    rpc::{
        BannerScope, ClearQuota, DecideRetention, ProposeRegionRetention, RetentionDryRun,
        SetImageQuota, SetRetentionPolicy, get_public_images,
    },
};

type PublicImagesResource = Data<Result<PublicImages, AppError>>;

fn proposal_tone(state: ProposalState) -> Tone {
    match state {
        ProposalState::Proposed => Tone::Violet,
        ProposalState::Approved => Tone::Blue,
        ProposalState::Applied => Tone::Green,
        ProposalState::Rejected => Tone::Gray,
        ProposalState::Failed => Tone::Red,
    }
}

#[component]
pub fn PublicImagesPage() -> impl IntoView {
    let data: PublicImagesResource = server_data(|| (), |_| get_public_images());
    let query = leptos_router::hooks::use_query_map();
    let highlight = Memo::new(move |_| query.read().get("region").filter(|r| !r.is_empty()));
    let banner = super::cloud::banner_resource(|| BannerScope::PublicImages);
    let user = current_user();
    let can_manage = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::ManageCatalogue));
    let partnerships = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::DecideProposals));
    let me = user.map(|u| u.username).unwrap_or_default();
    view! {
        <Title text="Public images"/>
        <PageHeader
            title="Public images".into()
            subtitle="AWS allows each account a number of public images per region; once a region's quota is used up, a build cannot make its image public there. Retention policies say which old images go; Partnerships approves each dry run before anything changes."
        />
        <super::cloud::DriftBanner banner/>
        <Transition fallback=Loading>
            {move || data.get().map(|r| match r {
                Ok(overview) => view! {
                    <div class="space-y-6">
                        <Regions regions=overview.regions highlight=highlight.get() can_manage/>
                        <Policies policies=overview.policies can_manage/>
                        <Proposals proposals=overview.proposals partnerships me=me.clone()/>
                        {highlight.get().map(|region| view! { <ScrollIntoView target=format!("region-{region}")/> })}
                    </div>
                }.into_any(),
                Err(error) => view! { <ErrorBox error/> }.into_any(),
            })}
        </Transition>
    }
}

/// How close a region is to its quota once the next release is out: amber from 80% of
/// it, red past it.
fn quota_tone(r: &RegionQuota) -> Option<Tone> {
    let (after, quota) = (i64::from(r.after_next_release), i64::from(r.quota));
    if after > quota || r.public_images > r.quota {
        Some(Tone::Red)
    } else if r.near_quota || after * 5 >= quota * 4 {
        Some(Tone::Amber)
    } else {
        None
    }
}

#[component]
fn Regions(
    regions: Vec<RegionQuota>,
    /// The region a link asked for, highlighted.
    highlight: Option<String>,
    can_manage: bool,
) -> impl IntoView {
    view! {
        <Card title="Quota per region">
            <p class="mb-4 text-xs text-gray-600">"Public images in each region (deprecated ones and public ones in the Recycle Bin are still public) against the quota, fullest first: the account's, as the sync last read them, or the catalogue's until the first sync. The quota is Service Quotas' unless it was set by hand here. The next release adds one public image per public product and architecture shipped to the region."</p>
            <table class=TABLE data-testid="regions">
                <thead>
                    <tr>
                        <th class=TH>"Region"</th>
                        <th class=TH>"Public images"</th>
                        <th class=TH>"By product"</th>
                        <th class=TH>"After the next release"</th>
                        <th class=TH>"Quota"</th>
                    </tr>
                </thead>
                <tbody>
                    {regions.into_iter().map(|r| {
                        let region = r.region.clone();
                        let clear_region = r.region.clone();
                        let highlighted = highlight.as_deref() == Some(region.as_str());
                        let tone = quota_tone(&r);
                        let counted = match r.synced_at {
                            Some(at) => format!("counted from the account, read {}", when(at)),
                            None => "from the catalogue until the first sync".to_owned(),
                        };
                        let after_class = match tone {
                            Some(Tone::Red) => "font-semibold text-red-700",
                            Some(_) => "font-semibold text-amber-700",
                            None => "text-gray-800",
                        };
                        let warning = tone.map(|tone| {
                            let (box_class, text) = if tone == Tone::Red {
                                ("border-red-200 bg-red-50 text-red-800", if r.public_images > r.quota { "Over the quota" } else { "The next release goes over the quota" })
                            } else {
                                ("border-amber-200 bg-amber-50 text-amber-900", "Near the quota")
                            };
                            let region = region.clone();
                            view! {
                                <div class=format!("mt-2 rounded-md border px-2 py-1.5 text-xs {box_class}") data-testid="quota-warning" data-tone={if tone == Tone::Red { "red" } else { "amber" }}>
                                    <p>{text}</p>
                                    {can_manage.then(|| view! {
                                        <ServerForm action=ProposeRegionRetention::PATH class="mt-1">
                                            <input type="hidden" name="region" value=region/>
                                            <button class="font-medium text-violet-700 hover:underline" data-testid="propose-retention">"Propose retention"</button>
                                        </ServerForm>
                                    })}
                                </div>
                            }
                        });
                        let source = match (r.quota_source, r.service_quota) {
                            (QuotaSource::Manual, Some(service)) => format!("{}; Service Quotas says {service}", r.quota_source.label()),
                            (source, _) => source.label().to_owned(),
                        };
                        let row_class = if highlighted { "bg-violet-50 ring-2 ring-inset ring-violet-400" } else { "" };
                        view! {
                            <tr id=format!("region-{}", r.region) class=row_class data-testid="region" data-region=r.region.clone() data-used=r.public_images data-quota=r.quota
                                data-quota-source=r.quota_source.as_str() data-after-next-release=r.after_next_release data-highlighted=highlighted.to_string()>
                                <td class=TD>
                                    <span class="font-mono text-sm whitespace-nowrap">{r.region.clone()}</span>
                                </td>
                                <td class=TD>
                                    <div class="w-64"><UsageBar used=r.public_images.max(0) as u64 limit=r.quota.max(0) as u64 unit="public images"/></div>
                                    <div class="text-xs text-gray-500" data-testid="counted">{counted}</div>
                                    {(r.outside_images > 0).then(|| view! {
                                        <a class="text-xs text-violet-700 hover:underline" href=format!("/cloud?region={}", r.region) data-testid="outside-images">
                                            {format!("{} made outside the portal", r.outside_images)}
                                        </a>
                                    })}
                                </td>
                                <td class=TD><span class="text-xs text-gray-600">
                                    {r.by_product.iter().map(|p| format!("{} {}", p.product_name, p.count)).collect::<Vec<_>>().join(" · ")}
                                </span></td>
                                <td class=TD>
                                    <span class=after_class data-testid="after-next-release">{format!("{} of {}", r.after_next_release, r.quota)}</span>
                                    {warning}
                                </td>
                                <td class=TD>
                                    {if can_manage {
                                        view! {
                                            <ServerForm action=SetImageQuota::PATH class="flex gap-2 items-center">
                                                <input type="hidden" name="region" value=region.clone()/>
                                                <input name="input[quota]" value=r.quota inputmode="numeric" aria-label=format!("Quota of {region}") class="w-20 rounded-md border border-gray-300 px-2 py-1 text-sm"/>
                                                <button class="text-sm text-violet-700 hover:underline">"Set"</button>
                                            </ServerForm>
                                        }.into_any()
                                    } else {
                                        view! { <span>{r.quota}</span> }.into_any()
                                    }}
                                    <div class="text-xs text-gray-500" data-testid="quota-source">{source}</div>
                                    {(can_manage && r.quota_source == QuotaSource::Manual).then(|| view! {
                                        <ServerForm action=ClearQuota::PATH>
                                            <input type="hidden" name="region" value=clear_region.clone()/>
                                            <button class="text-xs text-violet-700 hover:underline" data-testid="clear-quota">"Clear"</button>
                                        </ServerForm>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </Card>
    }
}

#[component]
fn Policies(policies: Vec<RetentionPolicy>, can_manage: bool) -> impl IntoView {
    view! {
        <Card title="Retention policies">
            <p class="mb-3 text-xs text-gray-600">"Per product and architecture, the images of the newest releases stay, and so does anything of a release inside the support window or behind a public marketplace version. A dry run lists exactly what the policy would retire; nothing changes until Partnerships approves it."</p>
            <table class=TABLE data-testid="policies">
                <thead>
                    <tr>
                        <th class=TH>"Product"</th>
                        <th class=TH>"Keep newest releases"</th>
                        <th class=TH>"Support window (days)"</th>
                        <th class=TH>"Past the policy"</th>
                        <th class=TH></th>
                    </tr>
                </thead>
                <tbody>
                    {policies.into_iter().map(|p| {
                        let form = format!("policy-{}", p.product_id);
                        let (partner, product) = (p.partner_slug.clone(), p.product_slug.clone());
                        let (run_partner, run_product) = (partner.clone(), product.clone());
                        let changed = match (&p.updated_by, p.updated_at) {
                            (Some(by), Some(at)) => format!("set by {by}, {}", when(at)),
                            _ => "defaults".to_owned(),
                        };
                        view! {
                            <tr data-testid="policy" data-product=p.product_slug.clone()>
                                <td class=TD>
                                    <a class=LINK href=format!("/products/{}/{}", p.partner_slug, p.product_slug)>{p.product_name.clone()}</a>
                                    <div class="text-xs text-gray-500">{changed}</div>
                                </td>
                                <td class=TD>
                                    <input form=form.clone() name="input[keep_newest]" value=p.keep_newest aria-label="Keep newest releases" disabled=!can_manage class="w-20 rounded-md border border-gray-300 px-2 py-1 text-sm"/>
                                </td>
                                <td class=TD>
                                    <input form=form.clone() name="input[support_days]" value=p.support_days aria-label="Support window in days" disabled=!can_manage class="w-20 rounded-md border border-gray-300 px-2 py-1 text-sm"/>
                                </td>
                                <td class=TD>
                                    <select form=form.clone() name="input[action]" aria-label="Past the policy" disabled=!can_manage class="rounded-md border border-gray-300 px-2 py-1 text-sm">
                                        {RetentionAction::ALL.iter().map(|a| view! {
                                            <option value=a.as_str() selected=*a == p.action>{a.label()}</option>
                                        }).collect_view()}
                                    </select>
                                </td>
                                <td class=TD>
                                    {can_manage.then(|| view! {
                                        <div class="flex gap-2">
                                            <ServerForm action=SetRetentionPolicy::PATH id=form.clone()>
                                                <input type="hidden" name="partner" value=partner.clone()/>
                                                <input type="hidden" name="product" value=product.clone()/>
                                                <button class=BUTTON_SECONDARY>"Save"</button>
                                            </ServerForm>
                                            <ServerForm action=RetentionDryRun::PATH>
                                                <input type="hidden" name="partner" value=run_partner.clone()/>
                                                <input type="hidden" name="product" value=run_product.clone()/>
                                                <button class=BUTTON data-testid="dry-run">"Dry run"</button>
                                            </ServerForm>
                                        </div>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </Card>
    }
}

#[component]
fn Proposals(
    proposals: Vec<RetentionProposal>,
    partnerships: bool,
    /// Who is looking: whoever ran a dry run may withdraw it but not approve it.
    me: String,
) -> impl IntoView {
    view! {
        <Card title="Dry runs and retention jobs">
            {proposals.is_empty().then(|| view! { <p class="text-sm text-gray-500">"No dry run yet."</p> })}
            <div class="space-y-4">
                {proposals.into_iter().map(|p| {
                    let open = p.state == ProposalState::Proposed;
                    let regions: std::collections::BTreeSet<&str> = p.items.iter().map(|i| i.region.as_str()).collect();
                    let summary = format!(
                        "{}: {} {} images in {} regions",
                        p.product_name,
                        p.action.label().to_lowercase(),
                        p.items.len(),
                        regions.len()
                    );
                    let outcomes = p.outcomes.clone();
                    view! {
                        <div class="rounded-md border border-gray-200 p-3" data-testid="retention-proposal" data-state=p.state.as_str()>
                            <div class="flex items-center gap-2 flex-wrap">
                                <span class="font-medium">{format!("#{} {summary}", p.id)}</span>
                                <Badge text=p.state.label() tone=proposal_tone(p.state)/>
                                {p.job_id.map(|j| view! { <a class=LINK href=format!("/jobs/{j}")>{format!("job #{j}")}</a> })}
                            </div>
                            <p class="text-xs text-gray-600 mt-1">
                                {format!("dry run by {}, {}", p.proposed_by, when(p.proposed_at))}
                                {p.decided_by.clone().map(|d| format!(" · decided by {d}{}", if p.comment.is_empty() { String::new() } else { format!(": {}", p.comment) }))}
                            </p>
                            <details class="mt-2" open=open>
                                <summary class="cursor-pointer text-sm text-violet-700">{format!("{} images", p.items.len())}</summary>
                                <div class="max-h-72 overflow-y-auto mt-2">
                                    <table class=TABLE data-testid="retention-items">
                                        <thead><tr>
                                            <th class=TH>"Release"</th><th class=TH>"Arch"</th><th class=TH>"Region"</th><th class=TH>"Image"</th><th class=TH>"Now"</th><th class=TH>"Done"</th>
                                        </tr></thead>
                                        <tbody>
                                            {p.items.iter().map(|i| {
                                                let done = outcomes.iter().find(|o| o.image_region_id == i.image_region_id).cloned();
                                                view! {
                                                    <tr>
                                                        <td class=TD>{i.version.clone()}</td>
                                                        <td class=TD>{i.arch.as_str()}</td>
                                                        <td class=TD><span class="font-mono text-xs">{i.region.clone()}</span></td>
                                                        <td class=TD><span class="font-mono text-xs">{i.image_id.clone()}</span></td>
                                                        <td class=TD><Badge text=i.state.label() tone=region_state_tone(i.state)/></td>
                                                        <td class=TD>{done.map(|o| o.note).unwrap_or_default()}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </details>
                            {(open && partnerships).then(|| {
                                let mine = p.proposed_by == me;
                                view! {
                                <div class="mt-3 flex gap-2 items-start flex-wrap">
                                    {mine.then(|| view! {
                                        <p class="text-sm text-gray-600 w-full" data-testid="own-proposal">"You ran this dry run: another member of Partnerships approves it. You may withdraw it."</p>
                                    })}
                                    {(!mine).then(|| view! {
                                    <ServerForm action=DecideRetention::PATH>
                                        <input type="hidden" name="proposal_id" value=p.id/>
                                        <input type="hidden" name="approve" value="true"/>
                                        <input type="hidden" name="comment" value=""/>
                                        <button class=BUTTON data-testid="approve-retention">{format!("Approve: {}", p.action.label().to_lowercase())}</button>
                                    </ServerForm>
                                    })}
                                    <ServerForm action=DecideRetention::PATH class="flex gap-2">
                                        <input type="hidden" name="proposal_id" value=p.id/>
                                        <input type="hidden" name="approve" value="false"/>
                                        <input name="comment" placeholder="Why not" aria-label="Why not" class="rounded-md border border-gray-300 px-2 py-1.5 text-sm"/>
                                        <button class=BUTTON_SECONDARY>{if mine { "Withdraw" } else { "Reject" }}</button>
                                    </ServerForm>
                                </div>
                            }})}
                        </div>
                    }
                }).collect_view()}
            </div>
        </Card>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(public_images: i32, after_next_release: i32, quota: i32) -> RegionQuota {
        RegionQuota {
            region: "us-east-1".into(),
            public_images,
            quota,
            quota_set: false,
            quota_source: QuotaSource::ServiceQuotas,
            service_quota: Some(quota),
            synced_at: None,
            outside_images: 0,
            after_next_release,
            near_quota: public_images * 5 >= quota * 4,
            by_product: Vec::new(),
        }
    }

    #[test]
    fn a_region_warns_amber_from_80_percent_after_the_next_release_and_red_past_the_quota() {
        assert_eq!(quota_tone(&region(10, 15, 20)), None);
        assert_eq!(quota_tone(&region(10, 16, 20)), Some(Tone::Amber));
        assert_eq!(quota_tone(&region(16, 16, 20)), Some(Tone::Amber));
        assert_eq!(quota_tone(&region(18, 20, 20)), Some(Tone::Amber));
        assert_eq!(quota_tone(&region(18, 21, 20)), Some(Tone::Red));
        assert_eq!(quota_tone(&region(24, 24, 5)), Some(Tone::Red));
    }
}
