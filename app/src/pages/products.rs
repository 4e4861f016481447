//! Products: the list, one product with its release × architecture matrix, and the form.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{current_user, page_param, trains::BuildPolicyControl};
use crate::{
    components::*,
    data::server_data,
    domain::*,
    islands::ServerForm,
    rpc::{
        DeleteProductLicense, DeliveryForm, ProductForm, SaveProduct, SetProductDelivery,
        SetProductLicense, get_product, list_products,
    },
};

#[component]
pub fn ProductsPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(
        move || page.get(),
        |page| list_products(String::new(), page),
    );
    let can_edit = move || current_user().is_some_and(|u| u.can(Permission::ManageCatalogue));
    view! {
        <Title text="Products"/>
        <PageHeader title="Products".into() subtitle="What each partner offers: edition, tier, architectures and how the image is maintained.">
            {move || can_edit().then(|| view! { <a href="/products/new" class=BUTTON>"New product"</a> })}
        </PageHeader>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) => view! {
                        <Card>
                            <table class=TABLE>
                                <thead><tr>
                                    <th class=TH>"Product"</th><th class=TH>"Partner"</th><th class=TH>"Edition"</th>
                                    <th class=TH>"Visibility"</th><th class=TH>"Architectures"</th><th class=TH>"Maintenance"</th>
                                </tr></thead>
                                <tbody>
                                    {p.items.clone().into_iter().map(|row| view! {
                                        <tr>
                                            <td class=TD><a class=LINK href=format!("/products/{}/{}", row.partner_slug, row.slug)>{row.name}</a></td>
                                            <td class=TD>{row.partner_name}</td>
                                            <td class=TD>{row.edition.label()}</td>
                                            <td class=TD>{row.visibility.label()}</td>
                                            <td class=TD>{row.architectures.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                            <td class=TD>{row.maintenance_mode.label()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager base="/products".into() page=p.page pages=p.pages() total=p.total/>
                        </Card>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ProductPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (
            p.get("partner").unwrap_or_default(),
            p.get("slug").unwrap_or_default(),
        )
    };
    let data = server_data(key, |(partner, slug)| get_product(partner, slug));
    let banner = super::cloud::banner_resource(move || {
        let (partner, slug) = key();
        crate::rpc::BannerScope::Product { partner, slug }
    });
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let (p, matrix) = match data.await {
                    Ok(d) => d,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let can_edit = current_user().is_some_and(|u| u.can(Permission::ManageCatalogue));
                let archs: Vec<Arch> = p.architectures.iter().map(|a| a.arch).collect();
                let build_policy = view! {
                    <BuildPolicyControl partner=p.partner_slug.clone() product=p.slug.clone() policy=p.build_policy/>
                };
                let license_card = p.license_required.then(|| {
                    let product = p.clone();
                    view! { <LicenseCard product/> }
                });
                let delivery_card = view! { <DeliveryCard product=p.clone() can_edit/> };
                view! {
                    <Title text=format!("{} · {}", p.name, p.partner_name)/>
                    <PageHeader title=p.name.clone() subtitle=format!("{} · {}", p.partner_name, p.edition.label())>
                        {can_edit.then(|| view! { <a class=BUTTON_SECONDARY href=format!("/products/{}/{}/edit", p.partner_slug, p.slug)>"Edit"</a> })}
                    </PageHeader>
                    <super::cloud::DriftBanner banner/>
                    <div class="grid lg:grid-cols-3 gap-6">
                        <div class="lg:col-span-2">
                            <Card title="Releases × architectures">
                                <table class=TABLE data-testid="matrix">
                                    <thead><tr>
                                        <th class=TH>"Release"</th>
                                        {archs.iter().map(|a| view! { <th class=TH>{a.as_str()}</th> }).collect_view()}
                                    </tr></thead>
                                    <tbody>
                                        {matrix.into_iter().map(|row| view! {
                                            <tr>
                                                <td class=TD>
                                                    <span class="font-medium">{row.version.clone()}</span>" "
                                                    {(row.kind == ReleaseKind::Security).then(|| view! { <Badge text="security" tone=Tone::Red/> })}
                                                </td>
                                                {row.cells.into_iter().map(|cell| view! {
                                                    <td class=TD>
                                                        {match cell.image {
                                                            Some(img) => view! {
                                                                <a href=format!("/images/{}", img.id) class="inline-flex items-center gap-1">
                                                                    <Badge text=img.state.label() tone=image_state_tone(img.state)/>
                                                                    <span class="text-xs text-gray-500">{format!("{} regions", img.region_count)}</span>
                                                                </a>
                                                            }.into_any(),
                                                            None => view! { <span class="text-gray-300">"—"</span> }.into_any(),
                                                        }}
                                                    </td>
                                                }).collect_view()}
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </Card>
                            <Card title="Description">
                                <p class="text-sm text-gray-700 whitespace-pre-line">{p.description.clone()}</p>
                            </Card>
                            {delivery_card}
                        </div>
                        <div>
                            <Card title="Build">
                                {build_policy}
                                <dl class="text-sm space-y-2">
                                    <Row label="Visibility" value=p.visibility.label().to_owned()/>
                                    <Row label="Maintenance" value=p.maintenance_mode.label().to_owned()/>
                                    <Row label="Base image owner" value=p.base_image_owner.clone()/>
                                    <Row label="Base image name" value=p.base_image_name_pattern.clone()/>
                                    <Row label="Build region" value=p.build_region.clone()/>
                                    <Row label="Root volume" value=format!("{} GB", p.root_volume_gb)/>
                                    <Row label="License" value=if p.license_required { "required".into() } else { "none".into() }/>
                                    <Row label="Listing" value=p.listing_entity_name.clone().unwrap_or_else(|| "—".into())/>
                                </dl>
                            </Card>
                            {license_card}
                            <Card title="Architectures">
                                {p.architectures.iter().cloned().map(|a| view! {
                                    <div class="text-sm mb-3">
                                        <p class="font-medium">{a.arch.label()}</p>
                                        <p class="text-gray-600">"Builder: "<code>{a.builder_instance_type}</code></p>
                                        <p class="text-gray-600">"Name: "<code>{a.image_name_template}</code></p>
                                        <p class="text-gray-600">"Type tag: "{a.type_tag}</p>
                                    </div>
                                }).collect_view()}
                            </Card>
                            <Card title=format!("Target regions ({})", p.target_regions.len())>
                                <div class="flex flex-wrap gap-1">
                                    {p.target_regions.iter().cloned().map(|r| view! { <code class="text-xs bg-gray-100 rounded px-1.5 py-0.5">{r}</code> }).collect_view()}
                                </div>
                            </Card>
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn Row(label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="flex justify-between gap-3">
            <dt class="text-gray-500 shrink-0">{label}</dt>
            <dd class="text-right break-all">{value}</dd>
        </div>
    }
}

#[component]
pub fn NewProductPage() -> impl IntoView {
    let initial = ProductForm {
        partner: "aws".into(),
        edition: "ce".into(),
        visibility: "public".into(),
        amd64: Some("on".into()),
        amd64_instance_type: "m3.medium".into(),
        amd64_name_template: "GitLab CE {version}".into(),
        amd64_type_tag: "GitLab Community Edition".into(),
        arm64_instance_type: "m6g.medium".into(),
        base_image_owner: "099720109477".into(),
        base_image_name_pattern: "ubuntu/images/*ubuntu-noble-24.04-{arch}-server-*".into(),
        build_region: "us-east-1".into(),
        maintenance_mode: "image".into(),
        root_volume_gb: "20".into(),
        ..Default::default()
    };
    view! {
        <Title text="New product"/>
        <PageHeader title="New product".into()/>
        <ProductFormView original=None initial/>
    }
}

#[component]
pub fn EditProductPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (
            p.get("partner").unwrap_or_default(),
            p.get("slug").unwrap_or_default(),
        )
    };
    let data = server_data(key, |(partner, slug)| get_product(partner, slug));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok((p, _)) => view! {
                        <Title text=format!("Edit {}", p.name)/>
                        <PageHeader title=format!("Edit {}", p.name) subtitle=p.partner_name.clone()/>
                        <ProductFormView original=Some((p.partner_slug.clone(), p.slug.clone())) initial=ProductForm::from_product(&p)/>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProductFormView(original: Option<(String, String)>, initial: ProductForm) -> impl IntoView {
    let cls = |_: &'static str| INPUT;
    let (orig_partner, orig_slug) = original.unwrap_or_default();
    let text =
        move |label: &'static str, name: &'static str, field: &'static str, value: String| {
            let id = name.replace(['[', ']'], "_");
            view! {
                <Field label name error=field>
                    <input id=id name=name class=cls(field) value=value/>
                </Field>
            }
        };
    view! {
        <Card>
            <ServerForm action=SaveProduct::PATH class="max-w-3xl" testid="product-form">
                <input type="hidden" name="original_partner" value=orig_partner/>
                <input type="hidden" name="original_slug" value=orig_slug/>
                <div class="grid grid-cols-2 gap-4">
                    {text("Partner (slug)", "form[partner]", "partner", initial.partner.clone())}
                    {text("Slug", "form[slug]", "slug", initial.slug.clone())}
                </div>
                {text("Name", "form[name]", "name", initial.name.clone())}
                <div class="grid grid-cols-3 gap-4">
                    <Field label="Edition" name="form[edition]">
                        <select id="form_edition_" name="form[edition]" class=cls("edition")>
                            {Edition::ALL.iter().map(|e| view! { <option value=e.as_str() selected=e.as_str() == initial.edition>{e.label()}</option> }).collect_view()}
                        </select>
                    </Field>
                    <Field label="Visibility" name="form[visibility]">
                        <select id="form_visibility_" name="form[visibility]" class=cls("visibility")>
                            {Visibility::ALL.iter().map(|v| view! { <option value=v.as_str() selected=v.as_str() == initial.visibility>{v.label()}</option> }).collect_view()}
                        </select>
                    </Field>
                    <Field label="Maintenance" name="form[maintenance_mode]">
                        <select id="form_maintenance_mode_" name="form[maintenance_mode]" class=cls("maintenance_mode")>
                            {MaintenanceMode::ALL.iter().map(|m| view! { <option value=m.as_str() selected=m.as_str() == initial.maintenance_mode>{m.label()}</option> }).collect_view()}
                        </select>
                    </Field>
                </div>
                <fieldset class="border border-gray-200 rounded-md p-4 mb-4" data-field="architectures" data-field-id="architectures">
                    <legend class="text-sm font-medium px-1">"Architectures"</legend>
                    {[("amd64", initial.amd64.is_some(), initial.amd64_instance_type.clone(), initial.amd64_name_template.clone(), initial.amd64_type_tag.clone()),
                      ("arm64", initial.arm64.is_some(), initial.arm64_instance_type.clone(), initial.arm64_name_template.clone(), initial.arm64_type_tag.clone())]
                        .into_iter().map(|(arch, on, itype, template, tag)| view! {
                            <div class="grid grid-cols-12 gap-2 items-center mb-2 text-sm">
                                <label class="col-span-2 flex items-center gap-2">
                                    <input type="checkbox" name=format!("form[{arch}]") checked=on/>{arch}
                                </label>
                                <input class=format!("col-span-3 {}", INPUT) name=format!("form[{arch}_instance_type]") value=itype placeholder="instance type" aria-label=format!("{arch} builder instance type")/>
                                <input class=format!("col-span-4 {}", INPUT) name=format!("form[{arch}_name_template]") value=template placeholder="GitLab CE {version}" aria-label=format!("{arch} image name template")/>
                                <input class=format!("col-span-3 {}", INPUT) name=format!("form[{arch}_type_tag]") value=tag placeholder="Type tag" aria-label=format!("{arch} type tag")/>
                            </div>
                        }).collect_view()}
                </fieldset>
                <div class="grid grid-cols-2 gap-4">
                    {text("Base image owner", "form[base_image_owner]", "base_image_owner", initial.base_image_owner.clone())}
                    {text("Base image name pattern", "form[base_image_name_pattern]", "base_image_name_pattern", initial.base_image_name_pattern.clone())}
                </div>
                <div class="grid grid-cols-2 gap-4">
                    {text("Build region", "form[build_region]", "build_region", initial.build_region.clone())}
                    {text("Root volume (GB)", "form[root_volume_gb]", "root_volume_gb", initial.root_volume_gb.clone())}
                </div>
                <Field label="Target regions" name="form[target_regions]" hint="Separated by commas or new lines; the build region is always included.">
                    <TextArea value=initial.target_regions.clone() {..} id="form_target_regions_" name="form[target_regions]" rows="3" class=INPUT/>
                </Field>
                <div class="grid grid-cols-2 gap-4 items-end">
                    {text("Marketplace listing (entity name)", "form[listing_entity_name]", "listing_entity_name", initial.listing_entity_name.clone())}
                    <label class="flex items-center gap-2 text-sm mb-5">
                        <input type="checkbox" name="form[license_required]" checked=initial.license_required.is_some()/>
                        "A license file is written onto the image"
                    </label>
                </div>
                <Field label="Description" name="form[description]">
                    <TextArea value=initial.description.clone() {..} id="form_description_" name="form[description]" rows="3" class=INPUT/>
                </Field>
                <button type="submit" class=BUTTON>"Save product"</button>
            </ServerForm>
        </Card>
    }
}

/// How the product's marketplace versions are delivered (what every version publish
/// sends), with the form to change it for those who manage the catalogue.
#[component]
fn DeliveryCard(product: crate::dto::Product, can_edit: bool) -> impl IntoView {
    let d = product.delivery.clone();
    let cls = |_: &'static str| INPUT;
    let form = DeliveryForm::from_config(&d);
    let rules = d.security_groups.clone();
    let edit = can_edit.then(|| {
        let (partner, slug) = (product.partner_slug.clone(), product.slug.clone());
        view! {
            <details class="mt-4">
                <summary class="cursor-pointer text-sm text-violet-700" data-testid="edit-delivery">"Change the delivery"</summary>
                <ServerForm action=SetProductDelivery::PATH class="mt-3" testid="delivery-form">
                    <input type="hidden" name="partner" value=partner/>
                    <input type="hidden" name="product" value=slug/>
                    <div class="grid sm:grid-cols-2 gap-x-4">
                        <Field label="Recommended instance type" name="form[recommended_instance_type]" hint="family.size, e.g. c5.2xlarge">
                            <input id="form_recommended_instance_type_" name="form[recommended_instance_type]" value=form.recommended_instance_type.clone() class=cls("recommended_instance_type")/>
                        </Field>
                        <Field label="User name" name="form[user_name]" hint="Who signs in to an instance, e.g. ubuntu">
                            <input id="form_user_name_" name="form[user_name]" value=form.user_name.clone() class=cls("user_name")/>
                        </Field>
                        <Field label="Operating system" name="form[os_name]" hint="AWS Marketplace's name, e.g. UBUNTU">
                            <input id="form_os_name_" name="form[os_name]" value=form.os_name.clone() class=cls("os_name")/>
                        </Field>
                        <Field label="Operating system version" name="form[os_version]">
                            <input id="form_os_version_" name="form[os_version]" value=form.os_version.clone() class=cls("os_version")/>
                        </Field>
                    </div>
                    <Field label="Security group rules" name="form[security_groups]"
                        hint="One to 25 inbound rules, one per line: protocol (tcp, udp or icmp), port or range, IPv4 CIDR, e.g. tcp 8000-8080 10.0.0.0/8">
                        <TextArea value=form.security_groups.clone() {..} id="form_security_groups_" name="form[security_groups]" rows="4"
                            class=move || format!("{} font-mono", INPUT)/>
                    </Field>
                    <button class=BUTTON data-testid="save-delivery">"Save delivery"</button>
                </ServerForm>
            </details>
        }
    });
    view! {
        <Card title="Marketplace delivery">
            <p class="text-xs text-gray-500 mb-3">
                {if product.listing_entity_name.is_some() {
                    "What every marketplace version of this product is published with."
                } else {
                    "What every marketplace version of this product will be published with, once it has a listing."
                }}
            </p>
            <dl class="grid grid-cols-2 sm:grid-cols-4 gap-3 text-sm mb-3" data-testid="delivery">
                <div><dt class="text-gray-500">"Instance type"</dt><dd><code>{d.recommended_instance_type.clone()}</code></dd></div>
                <div><dt class="text-gray-500">"Operating system"</dt><dd>{format!("{} {}", d.os_name, d.os_version)}</dd></div>
                <div><dt class="text-gray-500">"User name"</dt><dd><code>{d.user_name.clone()}</code></dd></div>
                <div><dt class="text-gray-500">"Rules"</dt><dd>{rules.len()}</dd></div>
            </dl>
            <table class=TABLE data-testid="security-groups">
                <thead><tr><th class=TH>"Protocol"</th><th class=TH>"Ports"</th><th class=TH>"From"</th></tr></thead>
                <tbody>
                    {rules.into_iter().map(|r| view! {
                        <tr>
                            <td class=TD>{r.protocol.clone()}</td>
                            <td class=TD>{if r.from_port == r.to_port { r.from_port.to_string() } else { format!("{}–{}", r.from_port, r.to_port) }}</td>
                            <td class=TD><code class="text-xs">{r.cidr.clone()}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {edit}
        </Card>
    }
}

/// The license file of a licensed product: when it was set, and a write-only form.
#[component]
fn LicenseCard(product: crate::dto::Product) -> impl IntoView {
    let can_set = current_user().is_some_and(|u| u.can(Permission::ManageReleases));
    let status = match (&product.license_updated_at, &product.license_updated_by) {
        (Some(at), Some(by)) => format!("Set {} by {by}", at.format("%Y-%m-%d %H:%M")),
        _ => "Not set: builds of this product fail until it is".to_owned(),
    };
    let has_license = product.license_updated_at.is_some();
    let (partner, slug) = (product.partner_slug.clone(), product.slug.clone());
    let delete_form = has_license.then(|| {
        let (partner, slug) = (partner.clone(), slug.clone());
        view! {
            <ServerForm action=DeleteProductLicense::PATH class="mt-2">
                <input type="hidden" name="partner" value=partner/>
                <input type="hidden" name="product" value=slug/>
                <button class="text-sm text-red-700 hover:underline">"Delete license"</button>
            </ServerForm>
        }
    });
    let set_form = can_set.then(move || {
        view! {
            <ServerForm action=SetProductLicense::PATH testid="license-form">
                <input type="hidden" name="partner" value=partner/>
                <input type="hidden" name="product" value=slug/>
                <Field label="New license file" name="license">
                    <TextArea {..} id="license" name="license" rows="3" autocomplete="off" spellcheck="false" class=INPUT
                        placeholder="Paste the .gitlab-license text"/>
                </Field>
                <button class=BUTTON>{if has_license { "Replace license" } else { "Set license" }}</button>
            </ServerForm>
            {delete_form}
        }
    });
    view! {
        <Card title="License file">
            <p class="text-sm mb-1" data-testid="license-status">{status}</p>
            <p class="text-xs text-gray-500 mb-3">"Encrypted at rest and written onto the image; it is never shown again."</p>
            {set_form}
        </Card>
    }
}
