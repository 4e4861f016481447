//! The inbox of notifications, and the outbound webhooks that send the same events out.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{field_error, general_error, page_param};
use crate::{
    components::*,
    data::server_data,
    domain::*,
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
    let read = ServerAction::<MarkNotificationsRead>::new();
    let data = server_data(
        move || (page.get(), read.version().get()),
        |(p, _)| get_inbox(p),
    );
    view! {
        <Title text="Inbox"/>
        <PageHeader title="Inbox".into() subtitle="Approvals asked of your teams, decisions on your copy, clocks at risk, escalations and failed jobs.">
            <ActionForm action=read>
                <input type="hidden" name="id" value="0"/>
                <button class=BUTTON_SECONDARY data-testid="read-all">"Mark all read"</button>
            </ActionForm>
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
                                        <ActionForm action=read>
                                            <input type="hidden" name="id" value=n.id/>
                                            <button class="text-xs text-violet-700 hover:underline">"Mark read"</button>
                                        </ActionForm>
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
    let create = ServerAction::<CreateWebhook>::new();
    let remove = ServerAction::<DeleteWebhook>::new();
    let test = ServerAction::<TestWebhook>::new();
    let data = server_data(
        move || (create.version().get(), remove.version().get()),
        |_| list_webhooks(),
    );
    let value = create.value();
    let general = general_error(value);
    let kinds = NotificationKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <Title text="Webhooks"/>
        <PageHeader title="Outbound webhooks".into() subtitle="Every notification, as Slack-compatible JSON signed with HMAC-SHA256 (X-Portal-Signature: sha256=…), retried with backoff."/>
        {move || test.value().get().map(|r| match r {
            Ok(job) => view! { <p class="mb-4 text-sm">"Test queued as "<a class=LINK href=format!("/jobs/{}", job.id)>{format!("job #{}", job.id)}</a></p> }.into_any(),
            Err(error) => view! { <ErrorBox error/> }.into_any(),
        })}
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
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
                                                            <ActionForm action=test><input type="hidden" name="id" value=h.id/><button class=BUTTON_SECONDARY>"Send a test"</button></ActionForm>
                                                            <ActionForm action=remove><input type="hidden" name="id" value=h.id/><button class="text-sm text-red-700 hover:underline px-2 py-2">"Remove"</button></ActionForm>
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
            </div>
            <Card title="Add a webhook">
                {move || value.get().and_then(Result::ok).map(|c| view! {
                    <div class="rounded-md border border-green-300 bg-green-50 p-3 text-sm mb-4" data-testid="webhook-secret">
                        <p class="font-semibold">{format!("Added {}. Its signing secret, shown this once:", c.webhook.name)}</p>
                        <code class="break-all">{c.secret.clone()}</code>
                    </div>
                })}
                <ActionForm action=create>
                    {move || general().map(|error| view! { <ErrorBox error/> })}
                    <Field label="Name" name="input[name]" error=field_error(value, "name")>
                        <input id="input_name_" name="input[name]" class=input_class(false) placeholder="#cloud-images on Slack"/>
                    </Field>
                    <Field label="URL" name="input[url]" error=field_error(value, "url")>
                        <input id="input_url_" name="input[url]" class=input_class(false) placeholder="https://hooks.slack.com/services/…"/>
                    </Field>
                    <Field label="Events" name="input[events]" error=field_error(value, "events") hint=format!("Empty for all, or some of: {kinds}")>
                        <input id="input_events_" name="input[events]" class=input_class(false)/>
                    </Field>
                    <Field label="Secret" name="input[secret]" error=field_error(value, "secret") hint="Empty to have one generated.">
                        <input id="input_secret_" name="input[secret]" type="password" autocomplete="off" class=input_class(false)/>
                    </Field>
                    <button type="submit" class=BUTTON>"Add webhook"</button>
                </ActionForm>
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
    let set = ServerAction::<SetAccessRole>::new();
    let state = server_data(move || set.version().get(), |_| access_role_state());
    view! {
        <Card title="Marketplace access role">
            <p class="text-xs text-gray-600 mb-3">"The IAM role AWS Marketplace assumes to read a published version's image. Stored encrypted and write-only: it is never shown again; an empty value deletes it."</p>
            {move || set.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error/> })}
            <Transition fallback=Loading>
                {move || state.get().map(|r| match r {
                    Ok(Some((at, by))) => view! { <p class="text-sm mb-2" data-testid="access-role-state">{format!("Set by {by}, {}", when(at))}</p> }.into_any(),
                    Ok(None) => view! { <p class="text-sm mb-2" data-testid="access-role-state">"Not set"</p> }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                })}
            </Transition>
            <ActionForm action=set attr:class="flex gap-2">
                <input name="value" type="password" autocomplete="off" placeholder="arn:aws:iam::123456789012:role/…" aria-label="Access role ARN" class="flex-1 rounded-md border border-gray-300 px-2 py-1.5 text-sm"/>
                <button class=BUTTON_SECONDARY>"Save"</button>
            </ActionForm>
        </Card>
    }
}
