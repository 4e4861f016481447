//! The inbox of notifications, and the outbound webhooks that send the same events out.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;

use super::page_param;
use crate::{
    components::*,
    data::server_data,
    domain::*,
    islands::{Live, Reveal, ServerForm},
    rpc::{
        CreateWebhook, DeleteWebhook, MarkNotificationsRead, SetAccessRole, TestWebhook,
        access_role_state, get_inbox, list_webhooks,
    },
};

fn kind_tone(kind: NotificationKind) -> Tone {
    match kind {
        NotificationKind::ApprovalRequested | NotificationKind::SignOff => Tone::Violet,
        NotificationKind::Approved | NotificationKind::Launched => Tone::Green,
        NotificationKind::Rejected
        | NotificationKind::SlaBreached
        | NotificationKind::Escalated
        | NotificationKind::JobFailed
        | NotificationKind::TrainStopped
        | NotificationKind::CloudIncident => Tone::Red,
        NotificationKind::SlaAtRisk
        | NotificationKind::TrainWaiting
        | NotificationKind::QuotaWarning
        | NotificationKind::VersionLimitWarning => Tone::Amber,
        NotificationKind::MaintenanceOpened | NotificationKind::RebuildProposed => Tone::Blue,
    }
}

#[component]
pub fn InboxPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(move || page.get(), get_inbox);
    view! {
        <Title text="Inbox"/>
        <PageHeader title="Inbox".into() subtitle="Approvals asked of your teams, decisions on your copy, clocks at risk, escalations and failed jobs.">
            <ServerForm action=MarkNotificationsRead::PATH>
                <input type="hidden" name="id" value="0"/>
                <button class=BUTTON_SECONDARY data-testid="read-all">"Mark all read"</button>
            </ServerForm>
        </PageHeader>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let inbox = match data.await {
                    Ok(i) => i,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                view! {
                    <Card>
                        {inbox.items.is_empty().then(|| view! { <p class="text-sm text-gray-500">"Nothing yet."</p> })}
                        <ul class="divide-y divide-gray-100" data-testid="inbox">
                            {inbox.items.into_iter().map(|n| view! {
                                <li class=if n.read { "py-3 flex gap-3 items-start opacity-70" } else { "py-3 flex gap-3 items-start" } data-kind=n.kind.as_str()>
                                    <span class=if n.read { "mt-1.5 w-2 h-2 rounded-full bg-transparent" } else { "mt-1.5 w-2 h-2 rounded-full bg-violet-600" }></span>
                                    <div class="flex-1 min-w-0">
                                        <div class="flex items-center gap-2">
                                            <Badge text=n.kind.label() tone=kind_tone(n.kind)/>
                                            <a class="font-medium hover:text-violet-700" href=n.link.clone()>{n.title.clone()}</a>
                                        </div>
                                        {(!n.body.is_empty()).then(|| view! { <p class="text-sm text-gray-700 mt-0.5 whitespace-pre-line">{n.body.clone()}</p> })}
                                        <p class="text-xs text-gray-500 mt-0.5">{n.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</p>
                                    </div>
                                    {(!n.read).then(|| view! {
                                        <ServerForm action=MarkNotificationsRead::PATH>
                                            <input type="hidden" name="id" value=n.id/>
                                            <button class="text-xs text-violet-700 hover:underline">"Mark read"</button>
                                        </ServerForm>
                                    })}
                                </li>
                            }).collect_view()}
                        </ul>
                        <Pager base="/inbox".into() page=inbox.page pages=inbox.pages total=inbox.total/>
                    </Card>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let data = server_data(|| (), |_| list_webhooks());
    let kinds = NotificationKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <Title text="Webhooks"/>
        <PageHeader title="Outbound webhooks".into() subtitle="Every notification, as Slack-compatible JSON signed with HMAC-SHA256 (X-Portal-Signature: sha256=…), retried with backoff."/>
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <Live id="webhooks".to_owned() active=false every_ms=0>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match data.await {
                            Ok(hooks) => view! {
                                <Card>
                                    {hooks.is_empty().then(|| view! { <p class="text-sm text-gray-500">"No webhooks yet."</p> })}
                                    <table class=TABLE data-testid="webhooks">
                                        <tbody>
                                            {hooks.into_iter().map(|h| view! {
                                                <tr>
                                                    <td class=TD><span class="font-medium">{h.name.clone()}</span><div class="text-xs text-gray-500 break-all">{h.url.clone()}</div></td>
                                                    <td class=TD>{if h.events.is_empty() { "all events".to_owned() } else { h.events.iter().map(|e| e.label()).collect::<Vec<_>>().join(", ") }}</td>
                                                    <td class=TD>
                                                        <div class="flex gap-2">
                                                            <ServerForm action=TestWebhook::PATH><input type="hidden" name="id" value=h.id/><button class=BUTTON_SECONDARY>"Send a test"</button></ServerForm>
                                                            <ServerForm action=DeleteWebhook::PATH><input type="hidden" name="id" value=h.id/><button class="text-sm text-red-700 hover:underline px-2 py-2">"Remove"</button></ServerForm>
                                                        </div>
                                                    </td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </Card>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        }
                    })}
                </Suspense>
                </Live>
            </div>
            <Card title="Add a webhook">
                <ServerForm action=CreateWebhook::PATH reveal=Reveal {
                    pointer: "/secret".into(),
                    text: "Webhook added. Its signing secret, shown this once:".into(),
                    testid: "webhook-secret".into(),
                    value_testid: "webhook-secret-value".into(),
                }>
                    <Field label="Name" name="input[name]">
                        <input id="input_name_" name="input[name]" class=INPUT placeholder="#cloud-images on Slack"/>
                    </Field>
                    <Field label="URL" name="input[url]">
                        <input id="input_url_" name="input[url]" class=INPUT placeholder="https://hooks.slack.com/services/…"/>
                    </Field>
                    <Field label="Events" name="input[events]" hint=format!("Empty for all, or some of: {kinds}")>
                        <input id="input_events_" name="input[events]" class=INPUT/>
                    </Field>
                    <Field label="Secret" name="input[secret]" hint="Empty to have one generated.">
                        <input id="input_secret_" name="input[secret]" type="password" autocomplete="off" class=INPUT/>
                    </Field>
                    <button type="submit" class=BUTTON>"Add webhook"</button>
                </ServerForm>
            </Card>
        </div>
        <div class="mt-6 max-w-xl">
            <AccessRoleCard/>
        </div>
    }
}

/// The marketplace access role: set, replace or delete; never shown back.
#[component]
fn AccessRoleCard() -> impl IntoView {
    let state = server_data(|| (), |_| access_role_state());
    view! {
        <Card title="Marketplace access role">
            <p class="text-xs text-gray-600 mb-3">"The IAM role AWS Marketplace assumes to read a published version's image. Stored encrypted and write-only: it is never shown again; an empty value deletes it."</p>
            <Transition fallback=Loading>
                {move || state.get().map(|r| match r {
                    Ok(Some((at, by))) => view! { <p class="text-sm mb-2" data-testid="access-role-state">{format!("Set by {by}, {}", when(at))}</p> }.into_any(),
                    Ok(None) => view! { <p class="text-sm mb-2" data-testid="access-role-state">"Not set"</p> }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                })}
            </Transition>
            <ServerForm action=SetAccessRole::PATH class="flex gap-2">
                <input name="value" type="password" autocomplete="off" placeholder="arn:aws:iam::123456789012:role/…" aria-label="Access role ARN" class="flex-1 rounded-md border border-gray-300 px-2 py-1.5 text-sm"/>
                <button class=BUTTON_SECONDARY>"Save"</button>
            </ServerForm>
        </Card>
    }
}
