//! Partners: the list, one partner with its accounts, contacts and products, and the form.

use leptos::{either::Either, prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{current_user, page_param};
use crate::{
    components::*,
    data::server_data,
    domain::*,
    dto::*,
    islands::ServerForm,
    rpc::{AddPartnerAccount, AddPartnerContact, SavePartner, get_partner, list_partners},
};

#[component]
pub fn PartnersPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(move || page.get(), list_partners);
    let can_edit = move || current_user().is_some_and(|u| u.can(Permission::ManageCatalogue));
    view! {
        <Title text="Partners"/>
        <PageHeader title="Cloud partners".into() subtitle="Every cloud GitLab ships images on, and where each partnership stands.">
            {move || can_edit().then(|| view! { <a href="/partners/new" class=BUTTON data-testid="new-partner">"New partner"</a> })}
        </PageHeader>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => view! {
                        <Card>
                            <table class=TABLE>
                                <thead><tr>
                                    <th class=TH>"Partner"</th><th class=TH>"Cloud"</th>
                                    <th class=TH>"Status"</th><th class=TH>"Products"</th>
                                </tr></thead>
                                <tbody>
                                    {p.items.clone().into_iter().map(|row| view! {
                                        <tr>
                                            <td class=TD><a class=LINK href=format!("/partners/{}", row.slug)>{row.name}</a></td>
                                            <td class=TD>{row.cloud.label()}</td>
                                            <td class=TD><Badge text=row.status.label() tone=partner_status_tone(row.status)/></td>
                                            <td class=TD>{row.product_count}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager base="/partners".into() page=p.page pages=p.pages() total=p.total/>
                        </Card>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PartnerPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let data = server_data(slug, get_partner);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let p = match data.await {
                    Ok(p) => p,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let can_edit = current_user().is_some_and(|u| u.can(Permission::ManageCatalogue));
                let (edit_href, slug_a, slug_c) = (format!("/partners/{}/edit", p.slug), p.slug.clone(), p.slug.clone());
                view! {
                    <Title text=p.name.clone()/>
                    <PageHeader title=p.name.clone() subtitle=format!("{} · {}", p.cloud.label(), p.slug)>
                        {can_edit.then(|| view! { <a class=BUTTON_SECONDARY href=edit_href>"Edit"</a> })}
                    </PageHeader>
                    <div class="grid lg:grid-cols-3 gap-6">
                        <div class="lg:col-span-2">
                            <Card title="Products">
                                {if p.products.is_empty() {
                                    Either::Left(view! { <p class="text-sm text-gray-500">"No products yet."</p> })
                                } else {
                                    Either::Right(view! {
                                        <table class=TABLE>
                                            <thead><tr>
                                                <th class=TH>"Product"</th><th class=TH>"Edition"</th>
                                                <th class=TH>"Visibility"</th><th class=TH>"Architectures"</th>
                                            </tr></thead>
                                            <tbody>
                                                {p.products.iter().cloned().map(|pr| view! {
                                                    <tr>
                                                        <td class=TD><a class=LINK href=format!("/products/{}/{}", pr.partner_slug, pr.slug)>{pr.name}</a></td>
                                                        <td class=TD>{pr.edition.label()}</td>
                                                        <td class=TD>{pr.visibility.label()}</td>
                                                        <td class=TD>{pr.architectures.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    })
                                }}
                            </Card>
                            <Card title="Notes">
                                <p class="text-sm whitespace-pre-line text-gray-700">
                                    {if p.notes.is_empty() { "No notes.".to_owned() } else { p.notes.clone() }}
                                </p>
                            </Card>
                        </div>
                        <div>
                            <Card title="Partnership">
                                <dl class="text-sm space-y-2">
                                    <div class="flex justify-between"><dt class="text-gray-500">"Status"</dt>
                                        <dd><Badge text=p.status.label() tone=partner_status_tone(p.status)/></dd></div>
                                    <div class="flex justify-between"><dt class="text-gray-500">"Partner docs"</dt>
                                        <dd>{link_or_dash(p.partner_docs_url.clone())}</dd></div>
                                    <div class="flex justify-between"><dt class="text-gray-500">"Partnership doc"</dt>
                                        <dd>{link_or_dash(p.partnership_doc_url.clone())}</dd></div>
                                </dl>
                            </Card>
                            <Card title="Accounts">
                                <ul class="text-sm space-y-2 mb-3" data-testid="accounts">
                                    {p.accounts.iter().cloned().map(|a| view! {
                                        <li><span class="font-medium">{a.label}</span>" "<code class="text-xs bg-gray-100 px-1 rounded">{a.account_id}</code>
                                            <p class="text-xs text-gray-500">{a.notes}</p></li>
                                    }).collect_view()}
                                </ul>
                                {can_edit.then(|| view! { <AccountForm partner=slug_a/> })}
                            </Card>
                            <Card title="Contacts">
                                <ul class="text-sm space-y-2 mb-3" data-testid="contacts">
                                    {p.contacts.iter().cloned().map(|c| view! {
                                        <li><span class="font-medium">{c.name}</span>" · "{c.role.label()}
                                            <p class="text-xs"><a class=LINK href=format!("mailto:{}", c.email)>{c.email.clone()}</a></p></li>
                                    }).collect_view()}
                                </ul>
                                {can_edit.then(|| view! { <ContactForm partner=slug_c/> })}
                            </Card>
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

fn link_or_dash(url: Option<String>) -> impl IntoView {
    match url {
        Some(u) => Either::Left(
            view! { <a class=LINK href=u.clone() target="_blank" rel="noopener noreferrer">"Open"</a> },
        ),
        None => Either::Right(view! { <span class="text-gray-400">"—"</span> }),
    }
}

#[component]
fn AccountForm(partner: String) -> impl IntoView {
    view! {
        <details class="text-sm">
            <summary class="cursor-pointer text-violet-700">"Add an account"</summary>
            <ServerForm action=AddPartnerAccount::PATH class="mt-3">
                <input type="hidden" name="partner" value=partner/>
                <Field label="Label" name="input[label]">
                    <input id="input_label_" name="input[label]" class=INPUT/>
                </Field>
                <Field label="Account id" name="input[account_id]">
                    <input id="input_account_id_" name="input[account_id]" class=INPUT/>
                </Field>
                <input type="hidden" name="input[notes]" value=""/>
                <button type="submit" class=BUTTON>"Add account"</button>
            </ServerForm>
        </details>
    }
}

#[component]
fn ContactForm(partner: String) -> impl IntoView {
    view! {
        <details class="text-sm">
            <summary class="cursor-pointer text-violet-700">"Add a contact"</summary>
            <ServerForm action=AddPartnerContact::PATH class="mt-3">
                <input type="hidden" name="partner" value=partner/>
                <Field label="Role" name="input[role]">
                    <select id="input_role_" name="input[role]" class=INPUT>
                        {ContactRole::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.label()}</option> }).collect_view()}
                    </select>
                </Field>
                <Field label="Name" name="input[name]">
                    <input id="input_name_" name="input[name]" class=INPUT/>
                </Field>
                <Field label="Email" name="input[email]">
                    <input id="input_email_" name="input[email]" type="email" class=INPUT/>
                </Field>
                <button type="submit" class=BUTTON>"Add contact"</button>
            </ServerForm>
        </details>
    }
}

#[component]
pub fn NewPartnerPage() -> impl IntoView {
    view! {
        <Title text="New partner"/>
        <PageHeader title="New partner".into() subtitle="A cloud GitLab ships, or plans to ship, images on."/>
        <PartnerForm original_slug=String::new() initial=PartnerInput {
            cloud: "aws".into(),
            status: "prospect".into(),
            ..Default::default()
        }/>
    }
}

#[component]
pub fn EditPartnerPage() -> impl IntoView {
    let params = use_params_map();
    let data = server_data(
        move || params.read().get("slug").unwrap_or_default(),
        get_partner,
    );
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => view! {
                        <Title text=format!("Edit {}", p.name)/>
                        <PageHeader title=format!("Edit {}", p.name)/>
                        <PartnerForm original_slug=p.slug.clone() initial=PartnerInput {
                            slug: p.slug,
                            name: p.name,
                            cloud: p.cloud.as_str().into(),
                            status: p.status.as_str().into(),
                            partner_docs_url: p.partner_docs_url.unwrap_or_default(),
                            partnership_doc_url: p.partnership_doc_url.unwrap_or_default(),
                            notes: p.notes,
                        }/>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Create or edit a partner; errors show next to their fields.
#[component]
fn PartnerForm(original_slug: String, initial: PartnerInput) -> impl IntoView {
    let cls = |_: &'static str| INPUT;
    let touched = !original_slug.is_empty();
    view! {
        <Card>
            <ServerForm action=SavePartner::PATH class="max-w-2xl" testid="partner-form">
                <input type="hidden" name="original_slug" value=original_slug/>
                <NameAndSlug name=initial.name.clone() slug=initial.slug.clone() touched/>
                <div class="grid grid-cols-2 gap-4">
                    <Field label="Cloud" name="input[cloud]">
                        <select id="input_cloud_" name="input[cloud]" class=cls("cloud")>
                            {Cloud::ALL.iter().map(|c| view! {
                                <option value=c.as_str() selected=c.as_str() == initial.cloud>{c.label()}</option>
                            }).collect_view()}
                        </select>
                    </Field>
                    <Field label="Status" name="input[status]">
                        <select id="input_status_" name="input[status]" class=cls("status")>
                            {PartnerStatus::ALL.iter().map(|s| view! {
                                <option value=s.as_str() selected=s.as_str() == initial.status>{s.label()}</option>
                            }).collect_view()}
                        </select>
                    </Field>
                </div>
                <Field label="Partner documentation" name="input[partner_docs_url]">
                    <input id="input_partner_docs_url_" name="input[partner_docs_url]" class=cls("partner_docs_url")
                        placeholder="https://" value=initial.partner_docs_url/>
                </Field>
                <Field label="Partnership document" name="input[partnership_doc_url]">
                    <input id="input_partnership_doc_url_" name="input[partnership_doc_url]" class=cls("partnership_doc_url")
                        placeholder="https://" value=initial.partnership_doc_url/>
                </Field>
                <Field label="Notes" name="input[notes]">
                    <TextArea value=initial.notes {..} id="input_notes_" name="input[notes]" rows="4" class=cls("notes")/>
                </Field>
                <button type="submit" class=BUTTON>"Save partner"</button>
            </ServerForm>
        </Card>
    }
}

/// The name and slug fields: until the slug is typed in, it follows the name.
#[island]
fn NameAndSlug(name: String, slug: String, touched: bool) -> impl IntoView {
    let (name, set_name) = signal(name);
    let (slug, set_slug) = signal(slug);
    let slug_touched = RwSignal::new(touched);
    view! {
        <Field label="Name" name="input[name]">
            <input id="input_name_" name="input[name]" class=INPUT value=name.get_untracked() prop:value=name
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    if !slug_touched.get_untracked() { set_slug.set(Slug::suggest(&v)); }
                    set_name.set(v);
                }/>
        </Field>
        <Field label="Slug" name="input[slug]" hint="Used in URLs and the API, e.g. aws.">
            <input id="input_slug_" name="input[slug]" class=INPUT value=slug.get_untracked() prop:value=slug
                on:input=move |ev| { slug_touched.set(true); set_slug.set(event_target_value(&ev)); }/>
        </Field>
    }
}
