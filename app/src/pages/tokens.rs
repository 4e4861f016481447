//! Personal API tokens: create one (shown once), see when each was last used, revoke.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{field_error, general_error};
use crate::{
    components::*,
    data::server_data,
    domain::*,
    rpc::{CreateApiToken, RevokeApiToken, list_api_tokens},
};

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let data = server_data(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    let value = create.value();
    let general = general_error(value);
    view! {
        <Title text="API tokens"/>
        <PageHeader title="API tokens".into() subtitle="For automation on /api/v1 as Authorization: Bearer <token>. A token acts with your roles, limited to its scopes; it is shown once and stored hashed."/>
        {move || general().map(|error| view! { <ErrorBox error/> })}
        {move || revoke.value().get().and_then(Result::err).map(|error| view! { <ErrorBox error/> })}
        {move || value.get().and_then(Result::ok).map(|created| view! {
            <div class="mb-6 rounded-md border border-green-300 bg-green-50 p-4" data-testid="new-token">
                <p class="text-sm font-medium text-green-900">{format!("Token '{}' created. Copy it now: it will not be shown again.", created.token.name)}</p>
                <code class="mt-2 block break-all rounded bg-white px-3 py-2 text-sm" data-testid="token-secret">{created.secret}</code>
            </div>
        })}
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <Card>
                    <Transition fallback=Loading>
                        {move || data.get().map(|r| match r {
                            Ok(list) if list.is_empty() => view! { <p class="text-sm text-gray-500">"No tokens yet."</p> }.into_any(),
                            Ok(list) => view! {
                                <table class=TABLE data-testid="tokens">
                                    <thead><tr>
                                        <th class=TH>"Name"</th><th class=TH>"Scopes"</th><th class=TH>"Expires"</th><th class=TH>"Last used"</th><th class=TH></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|t| {
                                            let live = t.revoked_at.is_none();
                                            view! {
                                                <tr data-testid="token" data-state=if live { "active" } else { "revoked" }>
                                                    <td class=TD>
                                                        <span class="font-medium">{t.name.clone()}</span>
                                                        <div class="text-xs text-gray-500"><code>{format!("{}…", t.prefix)}</code>{format!(" · {}", t.username)}</div>
                                                    </td>
                                                    <td class=TD>{t.scopes.iter().map(|s| s.label()).collect::<Vec<_>>().join(", ")}</td>
                                                    <td class=TD>{when(t.expires_at)}</td>
                                                    <td class=TD>{t.last_used_at.map(when).unwrap_or_else(|| "never".into())}</td>
                                                    <td class=TD>
                                                        {if live {
                                                            view! {
                                                                <ActionForm action=revoke>
                                                                    <input type="hidden" name="id" value=t.id/>
                                                                    <button class="text-sm text-red-700 hover:underline" data-testid="revoke">"Revoke"</button>
                                                                </ActionForm>
                                                            }.into_any()
                                                        } else {
                                                            view! { <Badge text="Revoked" tone=Tone::Gray/> }.into_any()
                                                        }}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        })}
                    </Transition>
                </Card>
            </div>
            <Card title="New token">
                <ActionForm action=create attr:class="space-y-4" attr:data-testid="token-form">
                    <Field label="Name" name="input[name]" error=field_error(value, "name")>
                        <input id="input_name_" name="input[name]" placeholder="release pipeline" class=move || input_class(field_error(value, "name").get().is_some())/>
                    </Field>
                    <fieldset>
                        <legend class="text-sm font-medium text-gray-700">"Scopes"</legend>
                        {TokenScope::ALL.iter().enumerate().map(|(i, s)| view! {
                            <label class="mt-1 flex items-center gap-2 text-sm">
                                <input type="checkbox" name=format!("input[scopes][{i}]") value=s.as_str() checked=*s == TokenScope::Read/>
                                {s.label()}
                            </label>
                        }).collect_view()}
                        {move || field_error(value, "scopes").get().map(|m| view! { <p class="mt-1 text-sm text-red-700">{m}</p> })}
                    </fieldset>
                    <Field label="Expires in (days)" name="input[expires_in_days]" error=field_error(value, "expires_in_days")>
                        <input id="input_expires_in_days_" name="input[expires_in_days]" value="90" inputmode="numeric" class=move || input_class(field_error(value, "expires_in_days").get().is_some())/>
                    </Field>
                    <button class=BUTTON data-testid="create-token">"Create token"</button>
                </ActionForm>
            </Card>
        </div>
    }
}
