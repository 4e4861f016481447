//! The interactive parts of the pages. Every page renders on the server; these islands are
//! the only code the browser runs. They know no page's data types: a form posts to its
//! server function and reloads or follows the answer, showing the portal's one error type
//! next to its fields; a live region fetches its page again and swaps in its new markup.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use crate::error::AppError;

/// Marks the page interactive once the bundle has run (tests and people can wait for it).
#[island]
pub fn HydrationMark() -> impl IntoView {
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// Shows its children only while the form's `<select name=select>` has the value `value`
/// (`shown` is how the server rendered it); hidden children are not sent either.
#[island]
pub fn ShowWhen(select: String, value: String, shown: bool, children: Children) -> impl IntoView {
    let shown = RwSignal::new(shown);
    let _listener = window_event_listener(leptos::ev::change, move |ev| {
        use leptos::wasm_bindgen::JsCast;
        if let Some(el) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
            && el.name() == select
        {
            shown.set(el.value() == value);
        }
    });
    view! {
        <fieldset class=move || if shown.get() { "contents" } else { "hidden" } disabled=move || !shown.get()>
            {children()}
        </fieldset>
    }
}

/// Scrolls the element with the id `target` into view once the page is interactive (a
/// link that names a row of a long table).
#[island]
pub fn ScrollIntoView(target: String) -> impl IntoView {
    Effect::new(move || {
        if let Some(el) = document().get_element_by_id(&target) {
            el.scroll_into_view();
        }
    });
}

/// What a form shows of its server function's answer when that answer holds something the
/// portal shows only once (a new token's secret): the value at the JSON `pointer`, under
/// `text`. The page's live parts are then fetched again instead of the whole page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reveal {
    pub pointer: String,
    pub text: String,
    pub testid: String,
    pub value_testid: String,
}

/// A form that calls the server function at `action`.
///
/// The fields are the server-rendered children: nothing typed is lost, because a refused
/// form stays as it was, with each field's error under it (the [`Field`] of its name) and
/// any other error above the fields. An accepted form follows the server's redirect, or
/// loads the page again to show what changed. `multipart` sends files as they are.
///
/// Without the bundle the form still posts: the server function answers with a redirect.
///
/// [`Field`]: crate::components::Field
#[island]
pub fn ServerForm(
    #[prop(into)] action: String,
    #[prop(optional, into)] id: Option<String>,
    #[prop(optional, into)] class: Option<String>,
    #[prop(optional, into)] testid: Option<String>,
    #[prop(optional)] multipart: Option<bool>,
    #[prop(optional)] reveal: Option<Reveal>,
    children: Children,
) -> impl IntoView {
    let revealed = RwSignal::new(None::<String>);
    let multipart = multipart.unwrap_or(false);
    let error = RwSignal::new(None::<crate::error::AppError>);
    let busy = RwSignal::new(false);
    let form = NodeRef::<leptos::html::Form>::new();
    #[cfg(feature = "hydrate")]
    let submit_reveal = reveal.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            if busy.get_untracked() {
                return;
            }
            let Some(el) = form.get_untracked() else {
                return;
            };
            busy.set(true);
            let submitter = ev.submitter();
            let reveal = submit_reveal.clone();
            leptos::task::spawn_local(async move {
                match send(&el, submitter, multipart).await {
                    Ok(Sent {
                        redirect: Some(to), ..
                    }) => {
                        let _ = window().location().set_href(&to);
                    }
                    Ok(Sent { body, .. }) => match reveal {
                        Some(reveal) => {
                            let value = serde_json::from_str::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| {
                                    v.pointer(&reveal.pointer)
                                        .and_then(|s| s.as_str().map(str::to_owned))
                                });
                            show_field_errors(&el, None);
                            error.set(None);
                            el.reset();
                            revealed.set(value);
                            busy.set(false);
                            refresh_live_parts().await;
                        }
                        None => {
                            let _ = window().location().reload();
                        }
                    },
                    Err(e) => {
                        let all_shown = show_field_errors(&el, Some(&e));
                        error.set((!all_shown).then_some(e));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let enctype = multipart.then_some("multipart/form-data");
    let shown = reveal.clone().map(|reveal| {
        move || {
            revealed.get().map(|value| view! {
                <div class="mb-4 rounded-md border border-green-300 bg-green-50 p-4" data-testid=reveal.testid.clone()>
                    <p class="text-sm font-medium text-green-900">{reveal.text.clone()}</p>
                    <code class="mt-2 block break-all rounded bg-white px-3 py-2 text-sm" data-testid=reveal.value_testid.clone()>{value}</code>
                </div>
            })
        }
    });
    view! {
        <form
            method="post"
            action=action
            enctype=enctype
            id=id
            class=class
            data-testid=testid
            aria-busy=move || busy.get().to_string()
            node_ref=form
            on:submit=on_submit
        >
            {shown}
            {move || error.get().map(|error| view! { <div data-form-error><crate::components::ErrorBox error/></div> })}
            {children()}
        </form>
    }
}

/// A server function's accepted answer: where the server sends the browser next, if
/// anywhere, and the answer itself.
#[cfg(feature = "hydrate")]
struct Sent {
    redirect: Option<String>,
    body: String,
}

/// Posts `form` to its action the way the server function client does (urlencoded, or
/// multipart), with the pressed button's value; the answer, or the portal's error.
#[cfg(feature = "hydrate")]
async fn send(
    form: &web_sys::HtmlFormElement,
    submitter: Option<web_sys::HtmlElement>,
    multipart: bool,
) -> Result<Sent, AppError> {
    use leptos::wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let broken = |what: &str| {
        AppError::new(
            crate::error::ErrorCode::Internal,
            format!("The form could not be sent ({what}). Reload the page and try again."),
        )
    };
    let data = web_sys::FormData::new_with_form(form).map_err(|_| broken("its fields"))?;
    if let Some(button) = submitter {
        let name = button.get_attribute("name").unwrap_or_default();
        if !name.is_empty() {
            let value = button.get_attribute("value").unwrap_or_default();
            let _ = data.append_with_str(&name, &value);
        }
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    if multipart {
        init.set_body(&data);
    } else {
        let params = web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data)
            .map_err(|_| broken("a file in a plain form"))?;
        init.set_body(&params);
    }
    let headers = web_sys::Headers::new().map_err(|_| broken("headers"))?;
    let _ = headers.set("Accept", "application/json");
    init.set_headers(&headers);
    let action = form.get_attribute("action").unwrap_or_default();
    let request =
        web_sys::Request::new_with_str_and_init(&action, &init).map_err(|_| broken("request"))?;
    let response: web_sys::Response = JsFuture::from(window().fetch_with_request(&request))
        .await
        .map_err(|_| {
            AppError::new(
                crate::error::ErrorCode::Internal,
                "The portal could not be reached. Check the connection and send the form again.",
            )
        })?
        .unchecked_into();
    let status = response.status();
    let redirect = response
        .headers()
        .get("serverfnredirect")
        .ok()
        .flatten()
        .and_then(|_| response.headers().get("location").ok().flatten());
    let text = match response.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    if response.ok() {
        return Ok(Sent {
            redirect,
            body: text.unwrap_or_default(),
        });
    }
    Err(text
        .and_then(|t| serde_json::from_str::<AppError>(&t).ok())
        .unwrap_or_else(|| {
            AppError::new(
                crate::error::ErrorCode::Internal,
                format!("The portal answered with HTTP {status} and no explanation."),
            )
        }))
}

/// Writes each field problem of `error` under the form's [`Field`] of that name (and its
/// parts, `name[0]` or `name.part`, under the same field), and clears the ones of the last
/// try.
/// Whether every problem found its field: if not, the error shows above the form too.
///
/// [`Field`]: crate::components::Field
#[cfg(feature = "hydrate")]
pub(crate) fn show_field_errors(form: &web_sys::HtmlFormElement, error: Option<&AppError>) -> bool {
    use leptos::wasm_bindgen::JsCast;

    if let Ok(old) = form.query_selector_all("[data-field-error]") {
        for i in 0..old.length() {
            if let Some(el) = old
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
            {
                el.remove();
            }
        }
    }
    let problems = error.map(|e| e.fields.as_slice()).unwrap_or_default();
    let mut shown = 0;
    let Ok(fields) = form.query_selector_all("[data-field]") else {
        return problems.is_empty();
    };
    for i in 0..fields.length() {
        let Some(field) = fields
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
        else {
            continue;
        };
        let key = field.get_attribute("data-field").unwrap_or_default();
        let id = field.get_attribute("data-field-id").unwrap_or_default();
        let mine: Vec<&str> = problems
            .iter()
            .filter(|p| {
                p.field == key
                    || p.field
                        .strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with(['[', '.']))
            })
            .map(|p| p.message.as_str())
            .collect();
        if let Ok(inputs) = field.query_selector_all("input, select, textarea") {
            for j in 0..inputs.length() {
                if let Some(input) = inputs
                    .item(j)
                    .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                {
                    if mine.is_empty() {
                        let _ = input.remove_attribute("aria-invalid");
                    } else {
                        let _ = input.set_attribute("aria-invalid", "true");
                    }
                }
            }
        }
        if mine.is_empty() {
            continue;
        }
        shown += mine.len();
        if let Ok(p) = document().create_element("p") {
            p.set_class_name("mt-1 text-sm text-red-700");
            let testid = field
                .get_attribute("data-field-testid")
                .unwrap_or_else(|| format!("error-{id}"));
            let _ = p.set_attribute("data-testid", &testid);
            let _ = p.set_attribute("data-field-error", "");
            p.set_text_content(Some(&mine.join(" ")));
            let _ = field.append_child(&p);
        }
    }
    shown == problems.len() && !problems.is_empty()
}

/// A part of the page that follows the server while `active`: every `every_ms` it fetches
/// the page again and swaps in its own new markup (`id` names it among the page's live
/// parts), until the server renders it no longer active. A part where someone is at work
/// waits (see [`in_use`]), so nothing typed there, and no error shown, is replaced.
#[island]
pub fn Live(id: String, active: bool, every_ms: u32, children: Children) -> impl IntoView {
    let root = NodeRef::<leptos::html::Div>::new();
    #[cfg(not(feature = "hydrate"))]
    let _ = every_ms;
    #[cfg(feature = "hydrate")]
    if active {
        let fetching = std::rc::Rc::new(std::cell::Cell::new(false));
        let stopped = std::rc::Rc::new(std::cell::Cell::new(false));
        let handle = set_interval_with_handle(
            move || {
                if fetching.get() || stopped.get() {
                    return;
                }
                let Some(el) = root.get_untracked() else {
                    return;
                };
                if in_use(&el) {
                    return;
                }
                fetching.set(true);
                let (fetching, stopped) = (fetching.clone(), stopped.clone());
                leptos::task::spawn_local(async move {
                    if let Some(still) = refresh(&el).await {
                        stopped.set(!still);
                    }
                    fetching.set(false);
                });
            },
            std::time::Duration::from_millis(every_ms.into()),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    view! {
        <div data-live=id data-live-active=active.to_string() node_ref=root>
            {children()}
        </div>
    }
}

/// Whether someone is at work in `part`: typing in it, a form in it being sent or showing
/// its problems, or a field changed from what the server rendered.
#[cfg(feature = "hydrate")]
fn in_use(part: &web_sys::HtmlDivElement) -> bool {
    use leptos::wasm_bindgen::JsCast;
    let typing = document().active_element().is_some_and(|a| {
        part.contains(Some(&a)) && matches!(a.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
    });
    let busy = part
        .query_selector("form[aria-busy='true'], [data-field-error], [data-form-error]")
        .ok()
        .flatten()
        .is_some();
    let changed = part
        .query_selector_all("input, textarea, select")
        .is_ok_and(|fields| {
            (0..fields.length())
                .filter_map(|i| fields.item(i))
                .any(|field| {
                    if let Some(input) = field.dyn_ref::<web_sys::HtmlInputElement>() {
                        match input.type_().as_str() {
                            "checkbox" | "radio" => input.checked() != input.default_checked(),
                            "hidden" | "submit" | "button" => false,
                            _ => input.value() != input.default_value(),
                        }
                    } else if let Some(text) = field.dyn_ref::<web_sys::HtmlTextAreaElement>() {
                        text.default_value().is_ok_and(|d| d != text.value())
                    } else if let Some(select) = field.dyn_ref::<web_sys::HtmlSelectElement>() {
                        let options = select.options();
                        (0..options.length())
                            .filter_map(|i| options.item(i))
                            .filter_map(|o| o.dyn_into::<web_sys::HtmlOptionElement>().ok())
                            .any(|o| o.selected() != o.default_selected())
                    } else {
                        false
                    }
                })
        });
    typing || busy || changed
}

/// Fetches the page again for every live part of it (see [`Live`]).
#[cfg(feature = "hydrate")]
async fn refresh_live_parts() {
    use leptos::wasm_bindgen::JsCast;
    let Ok(parts) = document().query_selector_all("[data-live]") else {
        return;
    };
    for i in 0..parts.length() {
        if let Some(el) = parts
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlDivElement>().ok())
        {
            refresh(&el).await;
        }
    }
}

/// Fetches the page again and puts the new markup of `el`'s live part in place, hydrating
/// the islands in it; whether that part is still active. `None` when the page could not be
/// read this time (the next tick tries again).
#[cfg(feature = "hydrate")]
async fn refresh(el: &web_sys::HtmlDivElement) -> Option<bool> {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    let id = el.get_attribute("data-live")?;
    let href = window().location().href().ok()?;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    headers.set("Accept", "text/html").ok()?;
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(&href, &init).ok()?;
    let response: web_sys::Response = JsFuture::from(window().fetch_with_request(&request))
        .await
        .ok()?
        .unchecked_into();
    if !response.ok() {
        return None;
    }
    let text = JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    let parsed = web_sys::DomParser::new()
        .ok()?
        .parse_from_string(&text, web_sys::SupportedType::TextHtml)
        .ok()?;
    let selector = format!("[data-live=\"{}\"]", id.replace(['"', '\\'], ""));
    let Some(fresh) = parsed.query_selector(&selector).ok().flatten() else {
        // The page no longer has this part: it is finished with.
        return Some(false);
    };
    el.set_inner_html(&fresh.inner_html());
    let still = fresh.get_attribute("data-live-active").as_deref() == Some("true");
    let _ = el.set_attribute("data-live-active", &still.to_string());
    // The new markup's own islands come alive the way the page's first ones did.
    let hydrate = js_sys::Reflect::get(&window(), &JsValue::from_str("__hydrateIsland"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let (Some(hydrate), Ok(islands)) = (hydrate, el.query_selector_all("leptos-island")) {
        for i in 0..islands.length() {
            if let Some(island) = islands
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let name = island.get_attribute("data-component").unwrap_or_default();
                let _ = hydrate.call2(&JsValue::NULL, &island, &JsValue::from_str(&name));
            }
        }
    }
    Some(still)
}
