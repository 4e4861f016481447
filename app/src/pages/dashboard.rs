//! The dashboard: the newest release's train, partners, counts, the latest release and how
//! its images stand.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{process::SlaBadge, trains::TrainCard};
use crate::{
    components::*,
    data::server_data,
    rpc::{get_dashboard, get_maintenance},
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = server_data(|| (), |_| get_dashboard());
    let maintenance = server_data(|| (), |_| get_maintenance());
    view! {
        <Title text="Dashboard"/>
        <PageHeader title="Dashboard".into() subtitle="GitLab's cloud images and marketplace listings at a glance."/>
        <TrainCard/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let open = maintenance.await.map(|b| b.open).unwrap_or_default();
                (!open.is_empty()).then(|| view! {
                    <Card title="Maintenance clocks">
                        <ul class="grid md:grid-cols-2 gap-x-6 gap-y-2 text-sm" data-testid="clocks">
                            {open.into_iter().map(|w| view! {
                                <li class="flex items-center justify-between gap-3">
                                    <a class=LINK href=format!("/workflows/{}", w.id)>{w.title.clone()}</a>
                                    {w.sla.clone().map(|sla| view! { <SlaBadge sla/> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    </Card>
                })
            })}
        </Suspense>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let d = match data.await {
                    Ok(d) => d,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let latest = d.latest_release.clone();
                view! {
                    <div class="grid grid-cols-2 md:grid-cols-4 gap-4 mb-6">
                        <Stat label="Partners" value=d.partners.len().to_string() href="/partners"/>
                        <Stat label="Products" value=d.product_count.to_string() href="/products"/>
                        <Stat label="Image versions" value=d.image_version_count.to_string() href="/releases"/>
                        <Stat
                            label="Latest stable release"
                            value=latest.as_ref().map_or_else(|| "—".to_owned(), |r| r.version.clone())
                            href="/releases"
                        />
                    </div>
                    <div class="grid lg:grid-cols-3 gap-6">
                        <div class="lg:col-span-2">
                            <Card title=latest.as_ref().map_or_else(|| "No release yet".to_owned(), |r| format!("Images of {}", r.version))>
                                {if d.latest_release_images.is_empty() {
                                    view! { <p class="text-sm text-gray-500">"No image-maintained products yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <table class=TABLE data-testid="latest-release-images">
                                            <thead><tr>
                                                <th class=TH>"Product"</th><th class=TH>"Architecture"</th>
                                                <th class=TH>"State"</th><th class=TH>"Regions"</th>
                                            </tr></thead>
                                            <tbody>
                                                {d.latest_release_images.into_iter().map(|s| {
                                                    let state = s.state.map_or_else(
                                                        || view! { <Badge text="Not started" tone=Tone::Gray/> }.into_any(),
                                                        |st| view! { <Badge text=st.label() tone=image_state_tone(st)/> }.into_any(),
                                                    );
                                                    let name = s.image_version_id.map_or_else(
                                                        || view! { <span>{s.product_name.clone()}</span> }.into_any(),
                                                        |id| view! { <a class=LINK href=format!("/images/{id}")>{s.product_name.clone()}</a> }.into_any(),
                                                    );
                                                    view! {
                                                        <tr>
                                                            <td class=TD>{name}</td>
                                                            <td class=TD>{s.arch.as_str()}</td>
                                                            <td class=TD>{state}</td>
                                                            <td class=TD>{format!("{} / {}", s.public_regions, s.target_regions)}</td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </Card>
                        </div>
                        <div>
                            <Card title="Partners">
                                <ul class="divide-y divide-gray-100">
                                    {d.partners.into_iter().map(|p| view! {
                                        <li class="py-2 flex items-center justify-between">
                                            <a class=LINK href=format!("/partners/{}", p.slug)>{p.name}</a>
                                            <Badge text=p.status.label() tone=partner_status_tone(p.status)/>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </Card>
                            <Card title="Marketplace listings">
                                {d.listings.into_iter().map(|l| view! {
                                    <div class="mb-4">
                                        <a class=format!("{LINK} text-sm font-medium") href=format!("/listings/{}", l.id)>{l.entity_name}</a>
                                        <UsageBar used=l.public_versions limit=l.version_limit.max(0) as u64/>
                                    </div>
                                }).collect_view()}
                            </Card>
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn Stat(label: &'static str, value: String, href: &'static str) -> impl IntoView {
    view! {
        <a href=href class="block bg-white rounded-lg border border-gray-200 shadow-sm px-5 py-4 hover:border-violet-300">
            <p class="text-xs uppercase tracking-wide text-gray-500">{label}</p>
            <p class="mt-1 text-2xl font-semibold">{value}</p>
        </a>
    }
}
