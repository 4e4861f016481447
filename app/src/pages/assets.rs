//! Marketing assets: the gallery with its upload form, and one asset's version history.

use leptos::{prelude::*, wasm_bindgen::JsCast, web_sys};
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::{current_user, page_param};
use crate::{
    components::*,
    domain::*,
    dto::Asset,
    error::AppError,
    rpc::{get_asset, list_assets, list_partners, upload_asset},
};

type UploadAction = Action<web_sys::FormData, Result<Asset, AppError>>;

fn upload_action() -> UploadAction {
    Action::new_local(|data: &web_sys::FormData| upload_asset(data.clone().into()))
}

/// Sends the form's fields, file included, to the upload server function.
fn submit_upload(action: UploadAction) -> impl Fn(leptos::ev::SubmitEvent) {
    move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
        else {
            return;
        };
        if let Ok(data) = web_sys::FormData::new_with_form(&form) {
            action.dispatch_local(data);
        }
    }
}

fn upload_error(action: UploadAction, field: &'static str) -> Signal<Option<String>> {
    Signal::derive(move || {
        action.value().with(|v| {
            let e = v.as_ref()?.as_ref().err()?;
            match e.field(field) {
                Some(m) => Some(m.to_owned()),
                // Errors about the bytes (type, size) belong to the file field.
                None if field == "file" && e.fields.is_empty() => Some(e.message.clone()),
                None => None,
            }
        })
    })
}

#[component]
pub fn AssetsPage() -> impl IntoView {
    let page = page_param();
    let upload = upload_action();
    let navigate = use_navigate();
    Effect::new(move || {
        if let Some(Ok(asset)) = upload.value().get() {
            navigate(&format!("/assets/{}", asset.id), Default::default());
        }
    });
    let data = Resource::new(move || page.get(), |page| list_assets(String::new(), page));
    let partners = Resource::new(|| (), |_| list_partners(1));
    let can_upload = move || current_user().is_some_and(|u| u.can(Permission::ManageAssets));
    view! {
        <Title text="Marketing assets"/>
        <PageHeader title="Marketing assets".into() subtitle="Logos, screenshots and other material per partner and product. Every upload keeps the versions before it."/>
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match data.await {
                            Ok(p) if p.items.is_empty() => view! { <Card><p class="text-sm text-gray-500">"No assets yet."</p></Card> }.into_any(),
                            Ok(p) => view! {
                                <div class="grid sm:grid-cols-2 xl:grid-cols-3 gap-4" data-testid="gallery">
                                    {p.items.clone().into_iter().map(|a| {
                                        let current = a.versions.first().cloned();
                                        view! {
                                            <a href=format!("/assets/{}", a.id) class="block bg-white rounded-lg border border-gray-200 shadow-sm overflow-hidden hover:border-violet-300">
                                                <div class="h-32 bg-[repeating-conic-gradient(#f3f4f6_0_25%,#fff_0_50%)] bg-[length:16px_16px] flex items-center justify-center">
                                                    {current.map(|v| view! { <img src=v.url alt=a.title.clone() class="max-h-28 max-w-full object-contain"/> })}
                                                </div>
                                                <div class="p-3">
                                                    <p class="font-medium text-sm truncate">{a.title.clone()}</p>
                                                    <p class="text-xs text-gray-500">{format!("{} · {} · v{}", a.kind.label(), a.partner_name, a.versions.len())}</p>
                                                </div>
                                            </a>
                                        }
                                    }).collect_view()}
                                </div>
                                <Pager base="/assets".into() page=p.page pages=p.pages() total=p.total/>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <div>
                <Show when=can_upload>
                    <Card title="Upload an asset">
                        <form on:submit=submit_upload(upload) data-testid="upload-form" class="text-sm">
                            <Field label="Partner" name="partner" error=upload_error(upload, "partner")>
                                <select id="partner" name="partner" class=input_class(false)>
                                    <Suspense fallback=|| ()>
                                        {move || Suspend::new(async move {
                                            partners.await.map(|p| p.items.into_iter().map(|p| view! { <option value=p.slug>{p.name}</option> }).collect_view()).ok()
                                        })}
                                    </Suspense>
                                </select>
                            </Field>
                            <Field label="Product (slug, optional)" name="product" error=upload_error(upload, "product")>
                                <input id="product" name="product" class=input_class(false) placeholder="gitlab-ee"/>
                            </Field>
                            <Field label="Kind" name="kind" error=upload_error(upload, "kind")>
                                <select id="kind" name="kind" class=input_class(false)>
                                    {AssetKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                                </select>
                            </Field>
                            <Field label="Title" name="title" error=upload_error(upload, "title")>
                                <input id="title" name="title" class=input_class(false)/>
                            </Field>
                            <Field label="File" name="file" error=upload_error(upload, "file") hint="PNG, JPEG, WebP or SVG, up to 10 MB.">
                                <input id="file" name="file" type="file" accept="image/png,image/jpeg,image/webp,image/svg+xml" class="block w-full text-sm"/>
                            </Field>
                            <button type="submit" class=BUTTON disabled=move || upload.pending().get()>
                                {move || if upload.pending().get() { "Uploading…" } else { "Upload" }}
                            </button>
                        </form>
                    </Card>
                </Show>
            </div>
        </div>
    }
}

#[component]
pub fn AssetPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0)
    };
    let upload = upload_action();
    let data = Resource::new(
        move || (id(), upload.version().get()),
        |(id, _)| get_asset(id),
    );
    let can_upload = move || current_user().is_some_and(|u| u.can(Permission::ManageAssets));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let a = match data.await {
                    Ok(a) => a,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let current = a.versions.first().cloned();
                view! {
                    <Title text=a.title.clone()/>
                    <PageHeader title=a.title.clone() subtitle=format!("{} · {}{}", a.kind.label(), a.partner_name,
                        a.product_slug.as_ref().map(|p| format!(" · {p}")).unwrap_or_default())/>
                    <div class="grid lg:grid-cols-3 gap-6">
                        <div class="lg:col-span-2">
                            <Card title="Current version">
                                {current.map(|v| view! {
                                    <div class="bg-[repeating-conic-gradient(#f3f4f6_0_25%,#fff_0_50%)] bg-[length:16px_16px] rounded p-4 flex justify-center">
                                        <img src=v.url.clone() alt=a.title.clone() class="max-h-80 object-contain" data-testid="current-image"/>
                                    </div>
                                })}
                            </Card>
                            <Card title="Version history">
                                <table class=TABLE data-testid="versions">
                                    <thead><tr><th class=TH>"Version"</th><th class=TH>"File"</th><th class=TH>"Type"</th><th class=TH>"Size"</th><th class=TH>"SHA-256"</th><th class=TH>"By"</th><th class=TH>"When"</th></tr></thead>
                                    <tbody>
                                        {a.versions.iter().cloned().map(|v| view! {
                                            <tr>
                                                <td class=TD><a class=LINK href=v.url>{format!("v{}", v.version)}</a></td>
                                                <td class=TD>{v.filename}</td>
                                                <td class=TD>{v.content_type}</td>
                                                <td class=TD>{human_size(v.size_bytes)}</td>
                                                <td class=TD><code class="text-xs" title=v.sha256.clone()>{v.sha256.chars().take(12).collect::<String>()}</code></td>
                                                <td class=TD>{v.uploaded_by.unwrap_or_else(|| "—".into())}</td>
                                                <td class=TD>{v.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </Card>
                        </div>
                        <div>
                            {can_upload().then(|| view! {
                                <Card title="Upload a new version">
                                    <form on:submit=submit_upload(upload) class="text-sm" data-testid="version-form">
                                        <input type="hidden" name="asset_id" value=a.id.to_string()/>
                                        <Field label="File" name="file" error=upload_error(upload, "file") hint="The earlier versions stay available.">
                                            <input id="file" name="file" type="file" accept="image/png,image/jpeg,image/webp,image/svg+xml" class="block w-full text-sm"/>
                                        </Field>
                                        <button type="submit" class=BUTTON>"Upload version"</button>
                                    </form>
                                </Card>
                            })}
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}
