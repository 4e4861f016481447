//! Security rebuilds on a newer base image: the proposals the daily base-image check makes,
//! and Omnibus's decision on each (an approval starts a rebuild train).

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;

use super::{current_user, id_param, page_param};
use crate::{
    components::*,
    data::server_data,
    domain::*,
    islands::ServerForm,
    rpc::{CheckBaseImages, DecideRebuild, get_rebuild_proposal, list_rebuild_proposals},
};

fn proposal_tone(state: ProposalState) -> Tone {
    match state {
        ProposalState::Proposed => Tone::Violet,
        ProposalState::Approved => Tone::Blue,
        ProposalState::Applied => Tone::Green,
        ProposalState::Rejected => Tone::Gray,
        ProposalState::Failed => Tone::Red,
    }
}

/// How a proposal's state reads here: Omnibus decides these, not Partnerships.
fn state_label(state: ProposalState) -> &'static str {
    match state {
        ProposalState::Proposed => "Waiting for Omnibus",
        ProposalState::Approved => "Approved: rebuilding",
        other => other.label(),
    }
}

#[component]
pub fn RebuildsPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(move || page.get(), list_rebuild_proposals);
    let can_check = current_user().is_some_and(|u| u.can(Permission::RebuildImages));
    view! {
        <Title text="Security rebuilds"/>
        <PageHeader
            title="Security rebuilds".into()
            subtitle="Once a day the portal looks for a newer Canonical base image than the one the current images of the supported releases (the newest patch of the three newest stable lines) were built from, and proposes rebuilding them. Omnibus approves; the rebuilds run as a train of their own, with the security maintenance clock."
        >
            {can_check.then(|| view! {
                <ServerForm action=CheckBaseImages::PATH>
                    <button class=BUTTON data-testid="check-base-images">"Check for a newer base image now"</button>
                </ServerForm>
            })}
        </PageHeader>
        <Transition fallback=Loading>
            {move || data.get().map(|r| match r {
                Ok(p) => view! {
                    <Card title="Proposals">
                        {p.items.is_empty().then(|| view! { <p class="text-sm text-gray-500">"No newer base image has been found yet."</p> })}
                        <table class=TABLE data-testid="rebuild-proposals">
                            <thead><tr>
                                <th class=TH>"Proposal"</th><th class=TH>"Base image"</th><th class=TH>"Arch"</th><th class=TH>"Images"</th><th class=TH>"State"</th><th class=TH>"Proposed"</th><th class=TH>"Train"</th>
                            </tr></thead>
                            <tbody>
                                {p.items.clone().into_iter().map(|p| view! {
                                    <tr data-testid="rebuild-proposal" data-state=p.state.as_str()>
                                        <td class=TD><a class=LINK href=format!("/rebuilds/{}", p.id)>{format!("#{}", p.id)}</a></td>
                                        <td class=TD><span class="font-mono text-xs">{p.base_image_name.clone()}</span></td>
                                        <td class=TD>{p.arch.as_str()}</td>
                                        <td class=TD>{p.items.len()}</td>
                                        <td class=TD><Badge text=state_label(p.state) tone=proposal_tone(p.state)/></td>
                                        <td class=TD>{when(p.proposed_at)}</td>
                                        <td class=TD>{p.train_id.map(|t| view! { <a class=LINK href=format!("/trains/{t}")>{format!("train #{t}")}</a> })}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <Pager base="/rebuilds".into() page=p.page pages=p.pages() total=p.total/>
                    </Card>
                }.into_any(),
                Err(error) => view! { <ErrorBox error/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
pub fn RebuildProposalPage() -> impl IntoView {
    let id = id_param("id");
    let data = server_data(id, get_rebuild_proposal);
    let can_decide = current_user().is_some_and(|u| u.can(Permission::DecideRebuilds));
    view! {
        <Transition fallback=Loading>
            {move || data.get().map(|r| match r {
                Ok(p) => {
                    let open = p.state == ProposalState::Proposed;
                    let previous = if p.previous_base_images.is_empty() {
                        "not recorded (built before the portal kept it)".to_owned()
                    } else {
                        p.previous_base_images.join(", ")
                    };
                    view! {
                        <Title text=format!("Rebuild proposal #{}", p.id)/>
                        <PageHeader
                            title=format!("Rebuild on {}", p.base_image_name)
                            subtitle=format!("Proposal #{} · {} · {} images", p.id, p.arch.label(), p.items.len())
                        >
                            <span data-testid="proposal-state" data-state=p.state.as_str()>
                                <Badge text=state_label(p.state) tone=proposal_tone(p.state)/>
                            </span>
                        </PageHeader>
                        <Card title="The new base image">
                            <dl class="grid grid-cols-[12rem_1fr] gap-x-4 gap-y-1 text-sm">
                                <dt class="text-gray-500">"Image"</dt>
                                <dd><span class="font-mono text-xs">{format!("{} ({})", p.base_image_name, p.base_image_id)}</span></dd>
                                <dt class="text-gray-500">"Published"</dt>
                                <dd>{p.base_image_created.clone().unwrap_or_else(|| "unknown".into())}</dd>
                                <dt class="text-gray-500">"Region"</dt>
                                <dd>{p.region.clone()}</dd>
                                <dt class="text-gray-500">"Current images built on"</dt>
                                <dd><span class="font-mono text-xs">{previous}</span></dd>
                                <dt class="text-gray-500">"Proposed"</dt>
                                <dd>{format!("by {}, {}", p.proposed_by, when(p.proposed_at))}</dd>
                                {p.decided_by.clone().map(|by| view! {
                                    <dt class="text-gray-500">"Decided"</dt>
                                    <dd data-testid="decision">
                                        {format!("by {by}{}", p.decided_at.map(|at| format!(", {}", when(at))).unwrap_or_default())}
                                        {(!p.comment.is_empty()).then(|| format!(": {}", p.comment))}
                                    </dd>
                                })}
                                {p.train_id.map(|t| view! {
                                    <dt class="text-gray-500">"Rebuild train"</dt>
                                    <dd><a class=LINK data-testid="rebuild-train" href=format!("/trains/{t}")>{format!("train #{t}")}</a></dd>
                                })}
                            </dl>
                        </Card>
                        <Card title=format!("Images to rebuild ({})", p.items.len())>
                            <table class=TABLE data-testid="rebuild-items">
                                <thead><tr>
                                    <th class=TH>"Image"</th><th class=TH>"Product"</th><th class=TH>"Release"</th><th class=TH>"Built on"</th><th class=TH>"Replaced by"</th>
                                </tr></thead>
                                <tbody>
                                    {p.items.clone().into_iter().map(|i| view! {
                                        <tr>
                                            <td class=TD><a class=LINK href=format!("/images/{}", i.image_version_id)>{i.image_name}</a></td>
                                            <td class=TD>{i.product_name}</td>
                                            <td class=TD>{i.version}</td>
                                            <td class=TD><span class="font-mono text-xs">{i.base_image_name.or(i.base_image_id).unwrap_or_else(|| "not recorded".into())}</span></td>
                                            <td class=TD>{i.superseded_by.map(|n| view! { <a class=LINK href=format!("/images/{n}")>{format!("image #{n}")}</a> })}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </Card>
                        {(open && can_decide).then(|| view! {
                            <Card title="Decide">
                                <p class="text-sm text-gray-600 mb-3">
                                    "Approving rebuilds every image above on the new base image, as a train of its own: each rebuild is a new image with a name of its own (“… (rebuild N)”) that replaces the current one once it is available."
                                </p>
                                <div class="flex gap-2 items-start flex-wrap">
                                    <ServerForm action=DecideRebuild::PATH>
                                        <input type="hidden" name="proposal_id" value=p.id/>
                                        <input type="hidden" name="approve" value="true"/>
                                        <input type="hidden" name="comment" value=""/>
                                        <button class=BUTTON data-testid="approve-rebuild">"Approve: rebuild"</button>
                                    </ServerForm>
                                    <ServerForm action=DecideRebuild::PATH class="flex gap-2 items-start">
                                        <input type="hidden" name="proposal_id" value=p.id/>
                                        <input type="hidden" name="approve" value="false"/>
                                        <Field label="Why not" name="comment">
                                            <input id="comment" name="comment" class=INPUT maxlength="2000"/>
                                        </Field>
                                        <button class=BUTTON_SECONDARY data-testid="reject-rebuild">"Reject"</button>
                                    </ServerForm>
                                </div>
                            </Card>
                        })}
                        <a class=LINK href="/rebuilds">"← All rebuild proposals"</a>
                    }.into_any()
                }
                Err(error) => view! { <ErrorBox error/> }.into_any(),
            })}
        </Transition>
    }
}
