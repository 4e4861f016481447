//! The portal's pages, their routes and the HTML shell they render in.

mod assets;
mod catalogue;
pub(crate) mod cloud;
mod copy;
mod dashboard;
mod inbox;
mod jobs;
mod partners;
mod process;
mod products;
mod rebuilds;
mod retention;
mod tokens;
mod trains;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Outlet, ParentRoute, Route, Router, Routes},
    hooks::use_query_map,
    path,
};

use crate::{
    components::*,
    data::server_data,
    error::AppError,
    rpc::{SessionInfo, dev_users},
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        let nonce = leptos::nonce::use_nonce().map(|n| n.to_string());
        if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(nonce.as_deref())) {
            res.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                // `/pkg/portal.<hash>.css` when the site was built with hashed names.
                <HashedStylesheet id="portal" options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The Content-Security-Policy: the portal's own scripts and the hydrate wasm, plus the
/// inline hydration scripts of this response when they carry its nonce; nothing framed,
/// nothing from elsewhere. Style attributes stay allowed (progress bars set widths).
#[cfg(feature = "ssr")]
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let inline = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{inline} 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Who is signed in and what the portal is connected to, as the server knew it when it
/// rendered the page (pages render only on the server; signing in or out loads a new page).
#[derive(Clone)]
struct Session(Result<SessionInfo, AppError>);

impl Session {
    fn new() -> Self {
        #[cfg(feature = "ssr")]
        let known = crate::rpc::session_info();
        #[cfg(not(feature = "ssr"))]
        let known = Err(AppError::new(
            crate::error::ErrorCode::Internal,
            "the session is only known on the server",
        ));
        Session(known)
    }
}

/// The app: routes, with every page but sign-in inside the layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(Session::new());
    view! {
        <crate::islands::HydrationMark/>
        <Title formatter=|text| format!("{text} · Partner Image Portal")/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("sign-in") view=SignIn ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=Frame ssr=SsrMode::Async>
                    <Route path=path!("") view=dashboard::DashboardPage/>
                    <Route path=path!("partners") view=partners::PartnersPage/>
                    <Route path=path!("partners/new") view=partners::NewPartnerPage/>
                    <Route path=path!("partners/:slug") view=partners::PartnerPage/>
                    <Route path=path!("partners/:slug/edit") view=partners::EditPartnerPage/>
                    <Route path=path!("products") view=products::ProductsPage/>
                    <Route path=path!("products/new") view=products::NewProductPage/>
                    <Route path=path!("products/:partner/:slug") view=products::ProductPage/>
                    <Route path=path!("products/:partner/:slug/edit") view=products::EditProductPage/>
                    <Route path=path!("images/:id") view=catalogue::ImageVersionPage/>
                    <Route path=path!("releases") view=catalogue::ReleasesPage/>
                    <Route path=path!("releases/:version/train") view=trains::TrainPage/>
                    <Route path=path!("trains") view=trains::TrainsPage/>
                    <Route path=path!("trains/:id") view=trains::TrainPage/>
                    <Route path=path!("listings") view=catalogue::ListingsPage/>
                    <Route path=path!("listings/:id") view=catalogue::ListingPage/>
                    <Route path=path!("public-images") view=retention::PublicImagesPage/>
                    <Route path=path!("cloud") view=cloud::CloudPage/>
                    <Route path=path!("rebuilds") view=rebuilds::RebuildsPage/>
                    <Route path=path!("rebuilds/:id") view=rebuilds::RebuildProposalPage/>
                    <Route path=path!("listings/:id/copy") view=copy::CopyEditorPage/>
                    <Route path=path!("listings/:id/copy/diff") view=copy::CopyDiffPage/>
                    <Route path=path!("approvals") view=copy::ApprovalsPage/>
                    <Route path=path!("workflows") view=process::WorkflowsPage/>
                    <Route path=path!("workflows/:id") view=process::WorkflowPage/>
                    <Route path=path!("tasks/:id") view=process::TaskPage/>
                    <Route path=path!("maintenance") view=process::MaintenancePage/>
                    <Route path=path!("inbox") view=inbox::InboxPage/>
                    <Route path=path!("settings/webhooks") view=inbox::WebhooksPage/>
                    <Route path=path!("settings/tokens") view=tokens::TokensPage/>
                    <Route path=path!("assets") view=assets::AssetsPage/>
                    <Route path=path!("assets/:id") view=assets::AssetPage/>
                    <Route path=path!("search") view=catalogue::SearchPage/>
                    <Route path=path!("lookup") view=catalogue::LookupPage/>
                    <Route path=path!("audit") view=catalogue::AuditPage/>
                    <Route path=path!("jobs") view=jobs::JobsPage/>
                    <Route path=path!("jobs/:id") view=jobs::JobPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The frame of every signed-in page: the chrome and, beside it, the page the route chose.
/// Nothing here waits: a page inside a `<Suspense>` would be built again each time the
/// suspense re-checks its children, and would load its data once per build.
#[component]
fn Frame() -> impl IntoView {
    let session = expect_context::<Session>().0;
    #[cfg(feature = "ssr")]
    let flash = crate::rpc::ctx::take_flash();
    #[cfg(not(feature = "ssr"))]
    let flash = None::<Flash>;
    let location = leptos_router::hooks::use_location();
    let unread: UnreadResource = server_data(
        move || location.pathname.get(),
        |_| crate::rpc::unread_notifications(),
    );
    view! {
        <div class="min-h-screen grid grid-cols-[15rem_minmax(0,1fr)] grid-rows-[3.5rem_1fr] bg-gray-50 text-gray-900">
            {match session {
                Ok(info) => view! { <Chrome session=info unread/> }.into_any(),
                Err(error) => view! { <div class="col-start-2 p-4"><ErrorBox error/></div> }.into_any(),
            }}
            <main class="col-start-2 row-start-2 p-6 lg:p-8 max-w-7xl w-full">
                {flash.map(|flash| view! { <FlashBox flash/> })}
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <div class="min-h-screen flex items-center justify-center bg-gray-50">
            <div class="text-center">
                <p class="text-5xl font-bold text-gray-300">"404"</p>
                <h1 class="mt-2 text-xl font-semibold">"There is no page here"</h1>
                <a href="/" class=format!("mt-4 inline-block {LINK}")>"Go to the dashboard"</a>
            </div>
        </div>
    }
}

/// Development sign-in: pick one of the seeded users.
#[component]
fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    let users = server_data(|| (), |_| dev_users());
    let gitlab_sign_in = expect_context::<Session>()
        .0
        .ok()
        .and_then(|s| s.gitlab_sign_in);
    let gitlab = move || gitlab_sign_in.clone();
    view! {
        <Title text="Sign in"/>
        <div class="min-h-screen flex items-center justify-center bg-gradient-to-br from-[#1f1e24] to-[#3a2a5d]">
            <div class="w-full max-w-md bg-white rounded-xl shadow-xl p-8">
                <div class="flex items-center gap-2 mb-6">
                    <span class="inline-block w-8 h-8 rounded bg-gradient-to-br from-orange-500 to-fuchsia-600"></span>
                    <h1 class="text-xl font-semibold">"Partner Image Portal"</h1>
                </div>
                <Transition fallback=Loading>
                    {move || gitlab().map(|url| {
                        let href = format!("/auth/gitlab?next={}", crate::domain::percent_encode(&next()));
                        view! {
                            <a href=href rel="external" data-testid="sign-in-gitlab" class="mb-6 w-full inline-flex items-center justify-center gap-2 rounded-md bg-[#fc6d26] px-4 py-2.5 font-medium text-white hover:bg-[#e24329]">
                                "Sign in with GitLab"
                            </a>
                            <p class="mb-4 text-xs text-gray-500">{format!("Your role comes from your groups on {url}.")}</p>
                        }
                    })}
                </Transition>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match users.await {
                            Ok(list) if list.is_empty() => ().into_any(),
                            Ok(list) => view! {
                                <p class="text-sm text-gray-600 mb-4">
                                    "Development sign-in: choose who you are. Each user holds one team's role."
                                </p>
                                {list.into_iter().map(|u| {
                                let roles = u.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
                                view! {
                                    <form method="post" action="/auth/dev" class="mb-2">
                                        <input type="hidden" name="username" value=u.username.clone()/>
                                        <input type="hidden" name="next" value=next/>
                                        <button
                                            type="submit"
                                            data-testid=format!("sign-in-{}", u.username)
                                            class="w-full flex items-center justify-between rounded-md border border-gray-200 px-4 py-2.5 text-left hover:border-violet-400 hover:bg-violet-50"
                                        >
                                            <span class="font-medium">{u.name.clone()}</span>
                                            <span class="text-xs text-gray-500">{roles}</span>
                                        </button>
                                    </form>
                                }
                            }).collect_view()}
                            }.into_any(),
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </div>
    }
}

/// A numeric route parameter, 0 when absent or not a number (no object has id 0).
pub(crate) fn id_param(name: &'static str) -> impl Fn() -> i32 + Copy + Send + Sync + 'static {
    let params = leptos_router::hooks::use_params_map();
    move || {
        params
            .read()
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// A `?page=` query value, 1 when absent or not a number.
pub(crate) fn page_param() -> Memo<u64> {
    let query = use_query_map();
    Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p > 0)
            .unwrap_or(1)
    })
}

/// The session's user, when known.
pub(crate) fn current_user() -> Option<crate::domain::CurrentUser> {
    use_context::<Session>()
        .and_then(|s| s.0.ok())
        .and_then(|s| s.user)
}
