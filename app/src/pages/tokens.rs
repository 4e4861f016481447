//! Personal API tokens: create one (shown once), see when each was last used, revoke.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;

use crate::{
    components::*,
    data::server_data,
    domain::*,
    islands::{Live, Reveal, ServerForm},
    rpc::{CreateApiToken, RevokeApiToken, list_api_tokens},
};

#[component]
pub fn TokensPage() -> impl IntoView {
    let data = server_data(|| (), |_| list_api_tokens());
    view! {
        <Title text="API tokens"/>
        <PageHeader title="API tokens".into() subtitle="For automation on /api/v1 as Authorization: Bearer <token>. A token acts with your roles, limited to its scopes; it is shown once and stored hashed."/>
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <Card>
                    <Live id="tokens".to_owned() active=false every_ms=0>
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
                                                                <ServerForm action=RevokeApiToken::PATH>
                                                                    <input type="hidden" name="id" value=t.id/>
                                                                    <button class="text-sm text-red-700 hover:underline" data-testid="revoke">"Revoke"</button>
                                                                </ServerForm>
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
                    </Live>
                </Card>
            </div>
            <Card title="New token">
                <ServerForm action=CreateApiToken::PATH testid="token-form" reveal=Reveal {
                    pointer: "/secret".into(),
                    text: "Token created. Copy it now: it will not be shown again.".into(),
                    testid: "new-token".into(),
                    value_testid: "token-secret".into(),
                }>
                    <Field label="Name" name="input[name]">
                        <input id="input_name_" name="input[name]" placeholder="release pipeline" class=INPUT/>
                    </Field>
                    <fieldset class="mb-4" data-field="scopes" data-field-id="scopes">
                        <legend class="text-sm font-medium text-gray-700">"Scopes"</legend>
                        {TokenScope::ALL.iter().enumerate().map(|(i, s)| view! {
                            <label class="mt-1 flex items-center gap-2 text-sm">
                                <input type="checkbox" name=format!("input[scopes][{i}]") value=s.as_str() checked=*s == TokenScope::Read/>
                                {s.label()}
                            </label>
                        }).collect_view()}
                    </fieldset>
                    <Field label="Expires in (days)" name="input[expires_in_days]">
                        <input id="input_expires_in_days_" name="input[expires_in_days]" value="90" inputmode="numeric" class=INPUT/>
                    </Field>
                    <button class=BUTTON data-testid="create-token">"Create token"</button>
                </ServerForm>
            </Card>
        </div>
    }
}
