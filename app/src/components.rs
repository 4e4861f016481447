//! Building blocks every page uses: the layout, headers, badges, errors, form fields and
//! pagination.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::{data::Data, domain::*, error::AppError, rpc::SessionInfo};

/// The unread count in the top bar, counted for every page.
pub type UnreadResource = Data<Result<u64, AppError>>;

/// The chrome of every signed-in page, around the page's own content: the sidebar and the
/// top bar with search and the signed-in person. It renders beside the page (in the two
/// grid cells the frame gives it), never around it, so waiting for the session never
/// re-creates the page or its data.
#[component]
pub fn Chrome(session: SessionInfo, unread: UnreadResource) -> impl IntoView {
    let user = session.user.clone();
    let can_audit = user.as_ref().is_some_and(|u| u.can(Permission::ReadAudit));
    let is_admin = user.as_ref().is_some_and(|u| u.can(Permission::Administer));
    view! {
            <aside class="row-span-2 bg-[#1f1e24] text-gray-200 flex flex-col">
                <a href="/" class="flex items-center gap-2 px-5 h-14 border-b border-white/10">
                    <span class="inline-block w-7 h-7 rounded bg-gradient-to-br from-orange-500 to-fuchsia-600"></span>
                    <span class="font-semibold text-white">"Partner Image Portal"</span>
                </a>
                <nav class="flex-1 py-4 text-sm space-y-0.5" aria-label="Main">
                    <NavLink href="/" label="Dashboard"/>
                    <NavLink href="/partners" label="Partners"/>
                    <NavLink href="/products" label="Products"/>
                    <NavLink href="/releases" label="Releases"/>
                    <NavLink href="/trains" label="Release trains"/>
                    <NavLink href="/maintenance" label="Maintenance"/>
                    <NavLink href="/workflows" label="Workflows"/>
                    <NavLink href="/approvals" label="Approvals"/>
                    <NavLink href="/jobs" label="Jobs"/>
                    <NavLink href="/listings" label="Listings"/>
                    <NavLink href="/public-images" label="Public images"/>
                    <NavLink href="/cloud" label="Account"/>
                    <NavLink href="/rebuilds" label="Security rebuilds"/>
                    <NavLink href="/assets" label="Marketing assets"/>
                    <NavLink href="/lookup" label="Which image do I launch?"/>
                    {can_audit.then(|| view! { <NavLink href="/audit" label="Audit log"/> })}
                    <NavLink href="/settings/tokens" label="API tokens"/>
                    {is_admin.then(|| view! { <NavLink href="/settings/webhooks" label="Webhooks"/> })}
                </nav>
                <div class="px-5 py-3 text-xs text-gray-400 border-t border-white/10">
                    <a href="/api/v1/openapi.json" class="hover:text-white">"REST API (OpenAPI)"</a>
                </div>
            </aside>
                <header class="col-start-2 h-14 bg-white border-b border-gray-200 flex items-center gap-4 px-6">
                    <form action="/search" method="get" class="flex-1 max-w-xl" role="search">
                        <input
                            type="search"
                            name="q"
                            aria-label="Search"
                            placeholder="Search partners, products, releases, image ids…"
                            class="w-full rounded-md border border-gray-300 bg-gray-50 px-3 py-1.5 text-sm focus:bg-white focus:border-violet-500 focus:outline-none focus:ring-2 focus:ring-violet-200"
                        />
                    </form>
                    {session.simulated_cloud.then(|| view! {
                        <span
                            data-testid="sim-badge"
                            title="Jobs run against the built-in AWS emulator; nothing real is touched."
                            class="rounded-full bg-amber-100 text-amber-900 border border-amber-300 px-3 py-0.5 text-xs font-semibold"
                        >
                            "Simulated cloud"
                        </span>
                    })}
                    <a href="/inbox" class="relative rounded-md px-2 py-1 text-sm text-gray-700 hover:bg-gray-100" data-testid="inbox-link" aria-label="Inbox">
                        "Inbox"
                        <Transition fallback=|| ()>
                            {move || unread.get().and_then(Result::ok).filter(|n| *n > 0).map(|n| view! {
                                <span class="ml-1 inline-flex min-w-5 justify-center rounded-full bg-violet-700 px-1.5 text-xs font-semibold text-white" data-testid="unread">{n}</span>
                            })}
                        </Transition>
                    </a>
                    {user.map(|u| {
                        let roles = u.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
                        view! {
                            <div class="flex items-center gap-3 text-sm">
                                <span class="text-right leading-tight">
                                    <span class="block font-medium" data-testid="current-user">{u.name.clone()}</span>
                                    <span class="block text-xs text-gray-500">{roles}</span>
                                </span>
                                <form action="/auth/sign-out" method="post">
                                    <button class="rounded-md border border-gray-300 px-2.5 py-1 text-xs hover:bg-gray-100">"Sign out"</button>
                                </form>
                            </div>
                        }
                    })}
                </header>
    }
}

#[component]
fn NavLink(href: &'static str, label: &'static str) -> impl IntoView {
    view! {
        <A href=href exact=href == "/" attr:class="block mx-2 px-3 py-2 rounded-md hover:bg-white/10 hover:text-white aria-[current=page]:bg-white/15 aria-[current=page]:text-white">
            {label}
        </A>
    }
}

/// Page title with an optional action area on the right.
#[component]
pub fn PageHeader(
    title: String,
    #[prop(optional, into)] subtitle: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="flex items-start justify-between gap-4 mb-6">
            <div>
                <h1 class="text-2xl font-semibold tracking-tight">{title}</h1>
                {subtitle.map(|s| view! { <p class="mt-1 text-sm text-gray-600">{s}</p> })}
            </div>
            <div class="flex gap-2">{children.map(|c| c())}</div>
        </div>
    }
}

/// A white panel with an optional heading.
#[component]
pub fn Card(#[prop(optional, into)] title: Option<String>, children: Children) -> impl IntoView {
    view! {
        <section class="bg-white rounded-lg border border-gray-200 shadow-sm mb-6">
            {title.map(|t| view! { <h2 class="px-5 py-3 border-b border-gray-100 font-semibold text-gray-800">{t}</h2> })}
            <div class="p-5 overflow-x-auto">{children()}</div>
        </section>
    }
}

/// A small coloured label.
#[component]
pub fn Badge(#[prop(into)] text: String, #[prop(into)] tone: Tone) -> impl IntoView {
    let class = match tone {
        Tone::Green => "bg-green-100 text-green-800",
        Tone::Blue => "bg-blue-100 text-blue-800",
        Tone::Amber => "bg-amber-100 text-amber-800",
        Tone::Red => "bg-red-100 text-red-800",
        Tone::Gray => "bg-gray-100 text-gray-700",
        Tone::Violet => "bg-violet-100 text-violet-800",
    };
    view! { <span class=format!("inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium {class}")>{text}</span> }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Green,
    Blue,
    Amber,
    Red,
    Gray,
    Violet,
}

pub fn image_state_tone(state: ImageState) -> Tone {
    match state {
        ImageState::Available => Tone::Green,
        ImageState::Building => Tone::Blue,
        ImageState::Planned => Tone::Gray,
        ImageState::Failed => Tone::Red,
        ImageState::Retired => Tone::Gray,
    }
}

pub fn region_state_tone(state: RegionImageState) -> Tone {
    match state {
        RegionImageState::Public => Tone::Green,
        RegionImageState::Private => Tone::Violet,
        RegionImageState::Pending => Tone::Blue,
        RegionImageState::Deprecated => Tone::Amber,
        RegionImageState::Deregistered => Tone::Gray,
    }
}

pub fn partner_status_tone(status: PartnerStatus) -> Tone {
    match status {
        PartnerStatus::Live => Tone::Green,
        PartnerStatus::Onboarding => Tone::Blue,
        PartnerStatus::Prospect => Tone::Amber,
        PartnerStatus::Retired => Tone::Gray,
    }
}

/// A page-level error, in words.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let title = match error.code {
        crate::error::ErrorCode::NotFound => "Not found",
        crate::error::ErrorCode::Forbidden => "Not allowed",
        crate::error::ErrorCode::Unauthenticated => "Please sign in",
        crate::error::ErrorCode::Internal => "Something went wrong",
        _ => "That did not work",
    };
    view! {
        <div role="alert" class="rounded-md border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800 mb-4" data-testid="error">
            <p class="font-semibold">{title}</p>
            <p>{error.message.clone()}</p>
        </div>
    }
}

/// Shown while a page's data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="text-sm text-gray-500">"Loading…"</p> }
}

/// A labelled form field. When its [`ServerForm`] is refused, the problem of the field
/// `error` (by default the last `[part]` of `name`, the way server functions name their
/// arguments' fields) shows underneath.
///
/// [`ServerForm`]: crate::islands::ServerForm
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(optional)] error: Option<&'static str>,
    #[prop(optional, into)] hint: Option<String>,
    children: Children,
) -> impl IntoView {
    let id = name.replace(['[', ']'], "_");
    let key = error.unwrap_or_else(|| field_key(name));
    view! {
        <div class="mb-4" data-field=key data-field-id=id.clone()>
            <label for=id.clone() class="block text-sm font-medium text-gray-800 mb-1">{label}</label>
            {children()}
            {hint.map(|h| view! { <p class="mt-1 text-xs text-gray-500">{h}</p> })}
        </div>
    }
}

/// The field an input named `name` fills: `input[title]` fills `title`.
pub fn field_key(name: &str) -> &str {
    name.rsplit_once('[')
        .map_or(name, |(_, last)| last.trim_end_matches(']'))
}

/// A `<textarea>` holding `value`; every textarea of the portal is this one, its other
/// attributes spread on it (`<TextArea value=… {..} name="…" rows="3"/>`).
///
/// A textarea's text is raw text to the HTML parser, up to the first `</textarea>`, and
/// leptos writes a textarea's children unescaped when it renders on the server: stored
/// text holding `</textarea><img …>` would close the element and the rest would become
/// live markup. So the value goes in as the element's inner HTML, escaped by
/// [`textarea_html`], which the browser reads back as exactly the text it was.
#[component]
pub fn TextArea(#[prop(optional, into)] value: String) -> impl IntoView {
    view! { <textarea inner_html=textarea_html(&value)></textarea> }
}

/// `text` as the inner HTML of a `<textarea>` that shows it unchanged: `&`, `<` and `>`
/// escaped, so nothing in it can end the element. On the server a leading line break is
/// doubled, because the parser drops one right after `<textarea>`; the browser's own
/// `innerHTML` does not.
pub fn textarea_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 1);
    if cfg!(feature = "ssr") && text.starts_with(['\n', '\r']) {
        html.push('\n');
    }
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            c => html.push(c),
        }
    }
    html
}

/// Classes of a text input; red while its field has an error (`aria-invalid`).
pub const INPUT: &str = "w-full rounded-md border border-gray-300 px-3 py-1.5 text-sm focus:border-violet-500 focus:outline-none focus:ring-2 focus:ring-violet-200 aria-invalid:border-red-400 aria-invalid:bg-red-50 aria-invalid:focus:ring-red-200";

pub const BUTTON: &str = "inline-flex items-center rounded-md bg-violet-700 px-3.5 py-2 text-sm font-medium text-white shadow-sm hover:bg-violet-800 disabled:opacity-50";
pub const BUTTON_SECONDARY: &str = "inline-flex items-center rounded-md border border-gray-300 bg-white px-3.5 py-2 text-sm font-medium text-gray-800 hover:bg-gray-50";
pub const TABLE: &str = "min-w-full text-sm";
pub const TH: &str = "px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-gray-500 border-b border-gray-200";
pub const TD: &str = "px-3 py-2 border-b border-gray-100 align-top";
pub const LINK: &str = "text-violet-700 hover:underline";

/// Previous / next links for a paginated list.
#[component]
pub fn Pager(base: String, page: u64, pages: u64, total: u64) -> impl IntoView {
    let sep = if base.contains('?') { '&' } else { '?' };
    view! {
        <div class="flex items-center justify-between mt-4 text-sm text-gray-600">
            <span>{format!("Page {page} of {pages} · {total} in all")}</span>
            <div class="flex gap-2">
                {(page > 1).then(|| view! { <a class=BUTTON_SECONDARY href=format!("{base}{sep}page={}", page - 1)>"← Previous"</a> })}
                {(page < pages).then(|| view! { <a class=BUTTON_SECONDARY href=format!("{base}{sep}page={}", page + 1)>"Next →"</a> })}
            </div>
        </div>
    }
}

/// A horizontal bar of `used` out of `limit`, amber past 90% and red at the limit.
#[component]
pub fn UsageBar(
    used: u64,
    limit: u64,
    /// What is counted, e.g. "public versions".
    #[prop(default = "public versions")]
    unit: &'static str,
) -> impl IntoView {
    let percent = used
        .saturating_mul(100)
        .checked_div(limit)
        .map_or(100, |p| p.min(100));
    let colour = if used >= limit {
        "bg-red-600"
    } else if percent >= 90 {
        "bg-amber-500"
    } else {
        "bg-violet-600"
    };
    view! {
        <div class="w-full" title=format!("{used} of {limit} {unit}")>
            <div class="h-2.5 w-full rounded-full bg-gray-200 overflow-hidden" role="progressbar" aria-valuemin="0" aria-valuemax=limit aria-valuenow=used>
                <div class=format!("h-full {colour}") style=format!("width: {percent}%")></div>
            </div>
            <p class="mt-1 text-xs text-gray-600">{format!("{used} / {limit} {unit}")}</p>
        </div>
    }
}

/// A moment as the pages show it.
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Bytes in a human unit.
pub fn human_size(bytes: i64) -> String {
    let b = bytes as f64;
    if b >= 1_048_576.0 {
        format!("{:.1} MB", b / 1_048_576.0)
    } else if b >= 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// The cookie that carries a [`Flash`] to the next page.
pub const FLASH_COOKIE: &str = "portal_flash";

/// What a form's server function did, said once on the next page (see `rpc::ctx::flash`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    /// The test id of the message.
    pub testid: String,
    pub text: String,
    /// A link after the text: its address, its words and its test id.
    pub link: Option<(String, String, String)>,
}

/// The flash the last form left, above the page. The cookie comes back from the browser, so
/// its link is followed only to a page of the portal's own (a path), never elsewhere.
#[component]
pub fn FlashBox(flash: Flash) -> impl IntoView {
    let link = flash.link.filter(|(href, _, _)| own_path(href));
    view! {
        <div role="status" data-testid=flash.testid class="mb-4 rounded-md border border-green-200 bg-green-50 px-4 py-3 text-sm text-green-900">
            {flash.text}
            {link.map(|(href, words, testid)| view! {
                " "<a class=LINK href=href data-testid=testid>{words}</a>
            })}
        </div>
    }
}

/// Whether `href` is a path on this site (not `//elsewhere`, a scheme or a backslash trick).
fn own_path(href: &str) -> bool {
    href.starts_with('/') && !href.starts_with("//") && !href.contains('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textarea_text_cannot_close_its_element() {
        let html = textarea_html("x</textarea><img src=x id=pwned>&amp;</script></style>");
        assert_eq!(
            html,
            "x&lt;/textarea&gt;&lt;img src=x id=pwned&gt;&amp;amp;&lt;/script&gt;&lt;/style&gt;"
        );
        assert!(!html.contains('<'));
    }

    /// Every page writes its textareas through [`TextArea`]: a bare `<textarea>` in a page
    /// would render stored text unescaped again.
    #[test]
    fn every_textarea_is_the_escaping_one() {
        let pages = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pages");
        let mut bare = Vec::new();
        for entry in std::fs::read_dir(&pages).expect("the pages folder") {
            let path = entry.expect("a page file").path();
            let source = std::fs::read_to_string(&path).expect("a page's source");
            for (n, line) in source.lines().enumerate() {
                if line.contains("<textarea") {
                    bare.push(format!("{}:{}", path.display(), n + 1));
                }
            }
        }
        assert!(
            bare.is_empty(),
            "use <TextArea> instead of <textarea> at {bare:?}"
        );
    }

    #[test]
    fn a_flash_links_only_to_the_portals_own_pages() {
        assert!(own_path("/listings/1"));
        for href in [
            "//evil.example/x",
            "https://evil.example",
            "javascript:alert(1)",
            "/\\evil.example",
            "",
        ] {
            assert!(!own_path(href), "{href}");
        }
    }
}
