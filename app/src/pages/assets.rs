//! Marketing assets: the gallery with its upload form, and one asset with its version
//! history, what it is linked to, and a form for its next version. What a form asks for
//! follows the kind: a file (logo, screenshot, other), a link (video), a link and a text
//! (blog post, social post), or a quote with its attribution and the customer's agreement.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;

use super::{
    catalogue::{AgreementBadge, AssetContentView},
    current_user, id_param, page_param,
};
use crate::{
    components::*,
    data::{Data, server_data},
    domain::*,
    dto::{Asset, AssetLink, AssetVersion},
    error::AppError,
    islands::ServerForm,
    rpc::{
        LinkAsset, UnlinkAsset, UploadAsset, get_asset, list_assets, list_listings, list_partners,
    },
};

/// What a version of an asset of one kind is made of, as the forms ask for it. The rules
/// themselves are the server's; this says which fields to offer and what they take.
struct KindForm {
    /// The file types the picker offers, and the hint under it.
    file: Option<(&'static str, &'static str)>,
    link: Option<&'static str>,
    /// The text's label and hint.
    text: Option<(&'static str, &'static str)>,
    /// Attribution and the customer's agreement.
    quote: bool,
}

fn kind_form(kind: AssetKind) -> KindForm {
    const IMAGES: &str = "image/png,image/jpeg,image/webp,image/svg+xml";
    let none = KindForm {
        file: None,
        link: None,
        text: None,
        quote: false,
    };
    match kind {
        AssetKind::Logo => KindForm {
            file: Some((
                "image/png,image/jpeg,image/svg+xml",
                "PNG, JPEG or SVG, up to 5 MB.",
            )),
            ..none
        },
        AssetKind::Screenshot => KindForm {
            file: Some((IMAGES, "PNG, JPEG, WebP or SVG, up to 10 MB.")),
            ..none
        },
        AssetKind::Other => KindForm {
            file: Some((
                "application/pdf,text/plain,image/png,image/jpeg,image/webp,image/svg+xml",
                "PDF, plain text, PNG, JPEG, WebP or SVG, up to 25 MB.",
            )),
            ..none
        },
        AssetKind::Video => KindForm {
            link: Some("The video's https address."),
            ..none
        },
        AssetKind::BlogPost => KindForm {
            link: Some("The post's https address."),
            text: Some((
                "Summary",
                "A summary of the post, at most 10,000 characters.",
            )),
            ..none
        },
        AssetKind::SocialPost => KindForm {
            link: Some("The post's https address."),
            text: Some((
                "Post text",
                "The post as published, at most 3,000 characters.",
            )),
            ..none
        },
        AssetKind::CustomerQuote => KindForm {
            text: Some(("Quote", "What the customer said, at most 2,000 characters.")),
            quote: true,
            ..none
        },
    }
}

/// The fields of one version, shown for the kind chosen (the others are hidden and
/// disabled, so the form does not send them). Without a `kind` it offers the kind too, and
/// follows the choice. `initial` fills them from a version before.
#[island]
fn VersionFields(kind: Option<AssetKind>, initial: Option<AssetVersion>) -> impl IntoView {
    let chooses = kind.is_none();
    let kind = RwSignal::new(kind.unwrap_or(AssetKind::Logo));
    let form = move || kind_form(kind.get());
    let shown = |on: bool| if on { "" } else { "hidden" };
    let takes_file = move || form().file.is_some();
    let takes_link = move || form().link.is_some();
    let takes_text = move || form().text.is_some();
    let takes_quote = move || form().quote;
    let hint = |text: Box<dyn Fn() -> &'static str + Send + Sync>| {
        view! { <p class="mt-1 text-xs text-gray-500">{text}</p> }
    };
    let (link, body, attribution, agreed) = initial.map_or_else(
        || (String::new(), String::new(), String::new(), false),
        |v| {
            (
                v.link.unwrap_or_default(),
                v.text.unwrap_or_default(),
                v.attribution.unwrap_or_default(),
                v.customer_agreed,
            )
        },
    );
    view! {
        {chooses.then(|| view! {
            <Field label="Kind" name="kind">
                <select id="kind" name="kind" class=INPUT
                    on:change=move |ev| if let Ok(k) = event_target_value(&ev).parse() { kind.set(k) }>
                    {AssetKind::ALL.iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                </select>
            </Field>
        })}
        <div class=move || shown(takes_file())>
            <Field label="File" name="file">
                <input id="file" name="file" type="file" disabled=move || !takes_file()
                    accept=move || form().file.map(|(accept, _)| accept).unwrap_or_default() class="block w-full text-sm"/>
                {hint(Box::new(move || form().file.map(|(_, hint)| hint).unwrap_or_default()))}
            </Field>
        </div>
        <div class=move || shown(takes_link())>
            <Field label="Link" name="link">
                <input id="link" name="link" type="url" placeholder="https://" disabled=move || !takes_link()
                    value=link class=INPUT/>
                {hint(Box::new(move || form().link.unwrap_or_default()))}
            </Field>
        </div>
        <div class=move || shown(takes_text())>
            <Field label="Text" name="text">
                <TextArea value=body.clone() {..} id="text" name="text" rows="4" disabled=move || !takes_text()
                    class=INPUT/>
                {hint(Box::new(move || form().text.map(|(_, hint)| hint).unwrap_or_default()))}
            </Field>
        </div>
        <div class=move || shown(takes_quote())>
            <Field label="Attribution" name="attribution" hint="Who said it: name, role, company. At most 200 characters.">
                <input id="attribution" name="attribution" disabled=move || !takes_quote()
                    value=attribution class=INPUT/>
            </Field>
            <div class="mb-4" data-field="customer_agreed" data-field-id="customer_agreed">
                <label class="flex items-center gap-2 text-sm">
                    <input type="checkbox" id="customer_agreed" name="customer_agreed" value="true" checked=agreed disabled=move || !takes_quote()/>
                    "The customer agreed to this quote being used"
                </label>
                <p class="mt-1 text-xs text-gray-500">"Without it the quote cannot be attached to a listing."</p>
            </div>
        </div>
    }
}

#[component]
pub fn AssetsPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(move || page.get(), |page| list_assets(String::new(), page));
    let partners = server_data(|| (), |_| list_partners(1));
    let listings = server_data(|| (), |_| list_listings());
    let can_upload = move || current_user().is_some_and(|u| u.can(Permission::ManageAssets));
    view! {
        <Title text="Marketing assets"/>
        <PageHeader title="Marketing assets".into() subtitle="Logos, screenshots, videos, blog and social posts, customer quotes and other material per partner and product. Every change keeps the versions before it."/>
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2 min-w-0">
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match data.await {
                            Ok(p) if p.items.is_empty() => view! { <Card><p class="text-sm text-gray-500">"No assets yet."</p></Card> }.into_any(),
                            Ok(p) => view! {
                                <div class="grid sm:grid-cols-2 xl:grid-cols-3 gap-4" data-testid="gallery">
                                    {p.items.clone().into_iter().map(|a| view! { <GalleryItem asset=a/> }).collect_view()}
                                </div>
                                <Pager base="/assets".into() page=p.page pages=p.pages() total=p.total/>
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <div class="min-w-0">
                <Show when=can_upload>
                    <Card title="Add an asset">
                        <ServerForm action=UploadAsset::PATH multipart=true testid="upload-form" class="text-sm">
                            <Field label="Partner" name="partner">
                                <select id="partner" name="partner" class=INPUT>
                                    <Suspense fallback=|| ()>
                                        {move || Suspend::new(async move {
                                            partners.await.map(|p| p.items.into_iter().map(|p| view! { <option value=p.slug>{p.name}</option> }).collect_view()).ok()
                                        })}
                                    </Suspense>
                                </select>
                            </Field>
                            <Field label="Product (slug, optional)" name="product">
                                <input id="product" name="product" class=INPUT placeholder="gitlab-ee"/>
                            </Field>
                            <Field label="Title" name="title">
                                <input id="title" name="title" class=INPUT/>
                            </Field>
                            <VersionFields kind=None initial=None/>
                            <Field label="Listing (optional)" name="listing_id" hint="Links the asset to this listing at once; a listing of the same partner.">
                                <select id="listing_id" name="listing_id" class=INPUT>
                                    <option value="">"None"</option>
                                    <Suspense fallback=|| ()>
                                        {move || Suspend::new(async move {
                                            listings.await.map(|p| p.items.into_iter().map(|l| view! {
                                                <option value=l.id>{format!("{} ({})", l.entity_name, l.partner_slug)}</option>
                                            }).collect_view()).ok()
                                        })}
                                    </Suspense>
                                </select>
                            </Field>
                            <button type="submit" class=BUTTON>"Add"</button>
                        </ServerForm>
                    </Card>
                </Show>
            </div>
        </div>
    }
}

/// One asset in the gallery, shown as what it is: an image, a file, a quote or a link.
#[component]
fn GalleryItem(asset: Asset) -> impl IntoView {
    let current = asset.versions.first().cloned();
    let image = current
        .as_ref()
        .filter(|v| v.content_type.starts_with("image/"))
        .and_then(|v| v.url.clone());
    let href = format!("/assets/{}", asset.id);
    let meta = format!(
        "{} · {} · v{}{}",
        asset.kind.label(),
        asset.partner_name,
        asset.versions.len(),
        match asset.links.len() {
            0 => String::new(),
            1 => " · 1 link".to_owned(),
            n => format!(" · {n} links"),
        }
    );
    let body = match (asset.kind, image) {
        (_, Some(src)) => view! {
            <a href=href.clone() class="h-32 bg-[repeating-conic-gradient(#f3f4f6_0_25%,#fff_0_50%)] bg-[length:16px_16px] flex items-center justify-center">
                <img src=src alt=asset.title.clone() class="max-h-28 max-w-full object-contain"/>
            </a>
        }
        .into_any(),
        (AssetKind::Logo | AssetKind::Screenshot | AssetKind::Other, None) => view! {
            <a href=href.clone() class="h-32 bg-gray-50 flex items-center justify-center text-sm text-gray-500">
                {current.as_ref().map(|v| v.content_type.clone()).unwrap_or_default()}
            </a>
        }
        .into_any(),
        _ => view! {
            <div class="h-32 overflow-hidden bg-gray-50 px-3 py-2">
                <AssetContentView asset=asset.clone()/>
            </div>
        }
        .into_any(),
    };
    view! {
        <div class="bg-white rounded-lg border border-gray-200 shadow-sm overflow-hidden hover:border-violet-300" data-testid="gallery-item" data-kind=asset.kind.as_str()>
            {body}
            <div class="p-3 border-t border-gray-100">
                <a href=href class="block font-medium text-sm truncate hover:text-violet-700">{asset.title.clone()}</a>
                <p class="text-xs text-gray-500">{meta}</p>
            </div>
        </div>
    }
}

#[component]
pub fn AssetPage() -> impl IntoView {
    let id = id_param("id");
    let data = server_data(id, get_asset);
    // Made here, outside the suspense below, like every resource of a page.
    let listings = server_data(|| (), |_| list_listings());
    let can_manage = move || current_user().is_some_and(|u| u.can(Permission::ManageAssets));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let a = match data.await {
                    Ok(a) => a,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let current = a.versions.first().cloned();
                let kind = a.kind;
                let rows = a.versions.iter().cloned().map(|v| view! { <VersionRow v/> }).collect_view();
                let links = view! { <AssetLinks asset=a.clone() can_manage=can_manage() listings/> };
                let new_version = can_manage().then(|| {
                    let (asset_id, initial) = (a.id, current.clone());
                    view! {
                        <Card title="Save a new version">
                            <ServerForm action=UploadAsset::PATH multipart=true class="text-sm" testid="version-form">
                                <input type="hidden" name="asset_id" value=asset_id.to_string()/>
                                <VersionFields kind=Some(kind) initial/>
                                <p class="mb-3 text-xs text-gray-500">"The earlier versions stay available."</p>
                                <button type="submit" class=BUTTON>"Save version"</button>
                            </ServerForm>
                        </Card>
                    }
                });
                view! {
                    <Title text=a.title.clone()/>
                    <p class="text-sm mb-2"><a class=LINK href="/assets">"← Marketing assets"</a></p>
                    <PageHeader title=a.title.clone() subtitle=format!("{} · {}{}", a.kind.label(), a.partner_name,
                        a.product_slug.as_ref().map(|p| format!(" · {p}")).unwrap_or_default())/>
                    <div class="grid lg:grid-cols-3 gap-6">
                        <div class="lg:col-span-2 min-w-0">
                            <Card title="Current version">
                                {current.clone().map(|v| view! { <CurrentVersion asset=a.clone() version=v/> })}
                            </Card>
                            <Card title="Version history">
                                <table class=format!("{TABLE} table-fixed") data-testid="versions">
                                    <thead><tr>
                                        <th class=format!("{TH} w-16")>"Version"</th><th class=TH>"Content"</th>
                                        <th class=format!("{TH} w-28")>"SHA-256"</th><th class=format!("{TH} w-28")>"By"</th><th class=format!("{TH} w-36")>"When"</th>
                                    </tr></thead>
                                    <tbody>
                                        {rows}
                                    </tbody>
                                </table>
                            </Card>
                        </div>
                        <div class="min-w-0">
                            {links}
                            {new_version}
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

/// The current version as what it is: the image, the file, the quote or the link.
#[component]
fn CurrentVersion(asset: Asset, version: AssetVersion) -> impl IntoView {
    let image = Some(&version)
        .filter(|v| v.content_type.starts_with("image/"))
        .and_then(|v| v.url.clone());
    let meta = format!(
        "Version {} by {} on {}",
        version.version,
        version.uploaded_by.clone().unwrap_or_else(|| "—".into()),
        when(version.created_at)
    );
    view! {
        {match image {
            Some(src) => view! {
                <div class="bg-[repeating-conic-gradient(#f3f4f6_0_25%,#fff_0_50%)] bg-[length:16px_16px] rounded p-4 flex justify-center">
                    <img src=src alt=asset.title.clone() class="max-h-80 max-w-full object-contain" data-testid="current-image"/>
                </div>
            }.into_any(),
            None => view! { <div data-testid="current-content"><AssetContentView asset=asset.clone()/></div> }.into_any(),
        }}
        <p class="mt-3 text-xs text-gray-500">{meta}</p>
    }
}

/// One version in the history: its file, or its link and text.
#[component]
fn VersionRow(v: AssetVersion) -> impl IntoView {
    let label = format!("v{}", v.version);
    let content = match &v.url {
        Some(_) => format!(
            "{} · {} · {}",
            v.filename,
            v.content_type,
            human_size(v.size_bytes)
        ),
        None => [
            v.link.clone(),
            v.text.clone(),
            v.attribution.clone().map(|a| format!("— {a}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · "),
    };
    view! {
        <tr>
            <td class=TD>
                {match v.url.clone() {
                    Some(url) => view! { <a class=LINK href=url>{label}</a> }.into_any(),
                    None => view! { <span>{label}</span> }.into_any(),
                }}
            </td>
            <td class=format!("{TD} break-words")>
                <span class="line-clamp-3">{content}</span>
                {(v.url.is_none() && (v.customer_agreed || v.attribution.is_some())).then(|| view! { <AgreementBadge agreed=v.customer_agreed/> })}
            </td>
            <td class=TD><code class="text-xs" title=v.sha256.clone()>{v.sha256.chars().take(12).collect::<String>()}</code></td>
            <td class=format!("{TD} break-words")>{v.uploaded_by.clone().unwrap_or_else(|| "—".into())}</td>
            <td class=TD>{v.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
        </tr>
    }
}

/// What the asset is linked to, with unlink, and a form to link it to a listing or a task.
#[component]
fn AssetLinks(
    asset: Asset,
    can_manage: bool,
    /// The listings it can be linked to (those of its partner).
    listings: Data<Result<crate::dto::Page<crate::dto::Listing>, AppError>>,
) -> impl IntoView {
    let asset_id = asset.id;
    let partner = asset.partner_slug.clone();
    view! {
        <Card title="Linked to">
            {asset.links.is_empty().then(|| view! { <p class="text-sm text-gray-500">"Nothing yet: link it to a listing or a workflow task."</p> })}
            <ul class="space-y-2 text-sm" data-testid="asset-links">
                {asset.links.iter().cloned().map(|l| view! { <LinkRow l asset_id can_manage/> }).collect_view()}
            </ul>
            {can_manage.then(|| view! {
                <ServerForm action=LinkAsset::PATH class="mt-4 text-sm" testid="link-form">
                    <input type="hidden" name="asset_id" value=asset_id/>
                    <Field label="Listing" name="target[listing_id]">
                        <select id="target_listing_id_" name="target[listing_id]" class=INPUT>
                            <option value="">"—"</option>
                            <Transition fallback=|| ()>
                                {move || {
                                    let partner = partner.clone();
                                    listings.get().and_then(Result::ok).map(|p| p.items.into_iter()
                                        .filter(|l| l.partner_slug == partner)
                                        .map(|l| view! { <option value=l.id>{l.entity_name}</option> })
                                        .collect_view())
                                }}
                            </Transition>
                        </select>
                    </Field>
                    <Field label="or workflow task (its number)" name="target[task_id]">
                        <input id="target_task_id_" name="target[task_id]" inputmode="numeric" placeholder="e.g. 12" class=INPUT/>
                    </Field>
                    <button class=BUTTON_SECONDARY data-testid="link-asset">"Link"</button>
                </ServerForm>
            })}
        </Card>
    }
}

#[component]
fn LinkRow(l: AssetLink, asset_id: i32, can_manage: bool) -> impl IntoView {
    let (href, what) = match (l.listing_id, l.task_id) {
        (Some(id), _) => (
            format!("/listings/{id}"),
            format!(
                "Listing: {}",
                l.listing_title.clone().unwrap_or_else(|| id.to_string())
            ),
        ),
        (None, Some(id)) => (
            format!("/tasks/{id}"),
            format!(
                "Task: {}",
                l.task_title.clone().unwrap_or_else(|| id.to_string())
            ),
        ),
        (None, None) => (String::new(), String::new()),
    };
    view! {
        <li class="flex items-start justify-between gap-2">
            <div class="min-w-0">
                <a class=format!("{LINK} break-words") href=href>{what}</a>
                <p class="text-xs text-gray-500">{format!("by {} on {}", l.linked_by, when(l.linked_at))}</p>
            </div>
            {can_manage.then(|| view! {
                <ServerForm action=UnlinkAsset::PATH>
                    <input type="hidden" name="asset_id" value=asset_id/>
                    <input type="hidden" name="link_id" value=l.id/>
                    <button class="text-xs text-red-700 hover:underline" data-testid="unlink">"Unlink"</button>
                </ServerForm>
            })}
        </li>
    }
}
