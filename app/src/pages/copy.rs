//! Listing copy: the editor with its live preview, revisions and their approvals, the
//! side-by-side comparison of two revisions, and each team's approval queue.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, field_error, general_error, id_param};
use crate::{
    components::*,
    data::{Data, server_data},
    domain::*,
    dto::*,
    error::AppError,
    rpc::{
        ApproveCopy, CancelBlockerAndRetry, GetCopyLiveDiff, MarkCopyForPublishing, RejectCopy,
        RequestCopyApproval, SaveCopy, compare_copy_revisions, get_approvals, get_listing_copy,
        list_listing_assets, preview_markdown,
    },
};

pub fn copy_state_tone(state: CopyState) -> Tone {
    match state {
        CopyState::Draft => Tone::Gray,
        CopyState::AwaitingPartnerships | CopyState::AwaitingOmnibus => Tone::Amber,
        CopyState::Approved => Tone::Green,
        CopyState::Superseded => Tone::Gray,
    }
}

#[component]
pub fn CopyEditorPage() -> impl IntoView {
    let id = id_param("id");
    let save = ServerAction::<SaveCopy>::new();
    let request = ServerAction::<RequestCopyApproval>::new();
    let approve = ServerAction::<ApproveCopy>::new();
    let reject = ServerAction::<RejectCopy>::new();
    // A refused save keeps the form as typed; a save (or a conflict) shows the new state.
    let saved = super::successes(save.value());
    let data = server_data(
        move || {
            (
                id(),
                saved.get(),
                request.version().get(),
                approve.version().get(),
                reject.version().get(),
            )
        },
        |(id, ..)| get_listing_copy(id),
    );
    // Every resource of the page is made here, outside the suspense below, so the browser
    // finds each one's data from the server where it looks for it.
    let logos = server_data(id, |listing| async move {
        list_listing_assets(listing).await.map(|assets| {
            assets
                .into_iter()
                .filter(|a| a.kind == AssetKind::Logo)
                .collect::<Vec<_>>()
        })
    });
    let publishing = Publishing::new(id);
    let errors = move || {
        general_error(request.value())()
            .or_else(general_error(approve.value()))
            .or_else(general_error(reject.value()))
            .or_else(|| {
                // Conflicts about a stale revision carry the field `revision`.
                [request.value().get(), approve.value().get()]
                    .into_iter()
                    .flatten()
                    .find_map(Result::err)
                    .filter(|e| e.field("revision").is_some())
            })
    };
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let c = match data.await {
                    Ok(c) => c,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let title = c.listing_title.clone();
                let back = format!("/listings/{}", c.listing_id);
                let subtitle = format!("{} · every save is a revision; Partnerships, then Omnibus approve it", c.product_name);
                let head = c.head.clone();
                view! {
                    <Title text=format!("Copy of {title}")/>
                    <p class="text-sm mb-2"><a class=LINK href=back>{format!("← {title}")}</a></p>
                    <PageHeader title="Listing copy".into() subtitle=subtitle>
                        {head.map(|h| view! {
                            <span data-testid="copy-state" data-state=h.state.as_str()>
                                <Badge text=format!("Revision {} · {}", h.number, h.state.label()) tone=copy_state_tone(h.state)/>
                            </span>
                        })}
                    </PageHeader>
                    {move || errors().map(|error| view! { <ErrorBox error/> })}
                    <PublishCopyPanel listing_id=c.listing_id publishing/>
                    <div class="grid xl:grid-cols-3 gap-6">
                        <div class="xl:col-span-2 min-w-0">
                            <CopyForm copy=c.clone() save logos/>
                        </div>
                        <div class="min-w-0">
                            <ReviewPanel copy=c.clone() request approve reject/>
                            <History copy=c.clone()/>
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

/// Every message of the fields named `prefix` or `prefix[…]…` (one per list item), for a
/// field that holds a list.
fn field_errors_under<T, S>(value: S, prefix: &'static str) -> Signal<Option<String>>
where
    T: Send + Sync + 'static,
    S: With<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static,
{
    Signal::derive(move || {
        value.with(|v| {
            let e = v.as_ref()?.as_ref().err()?;
            let messages: Vec<&str> = e
                .fields
                .iter()
                .filter(|f| {
                    f.field == prefix
                        || f.field
                            .strip_prefix(prefix)
                            .is_some_and(|rest| rest.starts_with(['[', '.']))
                })
                .map(|f| f.message.as_str())
                .collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        })
    })
}

/// A field's hint with how much of its limit is used, red past it.
#[component]
fn Counter(
    #[prop(into)] used: Signal<usize>,
    max: usize,
    unit: &'static str,
    hint: &'static str,
) -> impl IntoView {
    let class = move || {
        if used.get() > max {
            "shrink-0 text-red-700 font-medium"
        } else {
            "shrink-0 text-gray-500"
        }
    };
    view! {
        <div class="mt-1 flex justify-between gap-3 text-xs">
            <span class="text-gray-500">{hint}</span>
            <span class=class>{move || format!("{} / {max} {unit}", used.get())}</span>
        </div>
    }
}

/// The comma-separated items of `text` that are not blank.
fn listed(text: &str) -> usize {
    text.split(',').filter(|k| !k.trim().is_empty()).count()
}

/// Additional resources as the form writes them: `Text | https://url`, one per line.
fn resource_lines(resources: &[AdditionalResource]) -> String {
    resources
        .iter()
        .map(|r| format!("{} | {}", r.text, r.url))
        .collect::<Vec<_>>()
        .join("\n")
}

#[component]
fn CopyForm(
    copy: ListingCopy,
    save: ServerAction<SaveCopy>,
    /// The logos linked to the listing, for the logo picker.
    logos: Data<Result<Vec<Asset>, AppError>>,
) -> impl IntoView {
    let value = save.value();
    let can_edit = current_user().is_some_and(|u| u.can(Permission::EditCopy));
    // After a conflict the form keeps what was typed, now on top of the newer revision.
    let conflict = value
        .get_untracked()
        .and_then(Result::ok)
        .and_then(|s| match s {
            CopySave::Conflict {
                message,
                yours,
                theirs,
            } => Some((message, yours, theirs)),
            CopySave::Saved { .. } => None,
        });
    let (fields, base) = match (&conflict, &copy.head) {
        (Some((_, yours, theirs)), _) => (yours.clone(), theirs.id),
        (None, Some(h)) => (h.fields.clone(), h.id),
        (None, None) => (CopyFields::default(), 0),
    };
    let long = RwSignal::new(fields.long_description.clone());
    let debounced = RwSignal::new(fields.long_description.clone());
    let generation = StoredValue::new(0_u64);
    let on_long_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        long.set(text.clone());
        let g = generation.get_value() + 1;
        generation.set_value(g);
        set_timeout(
            move || {
                if generation.get_value() == g {
                    debounced.set(text);
                }
            },
            std::time::Duration::from_millis(250),
        );
    };
    let preview = server_data(move || debounced.get(), preview_markdown);
    // What the counters count, as typed.
    let title = RwSignal::new(fields.title.chars().count());
    let short = RwSignal::new(fields.short_description.chars().count());
    let support = RwSignal::new(fields.support_description.chars().count());
    let keywords = RwSignal::new(fields.search_keywords.len());
    let count_into = |signal: RwSignal<usize>| {
        move |ev: leptos::ev::Event| signal.set(event_target_value(&ev).chars().count())
    };
    let chosen_logo = fields.logo_asset_id;
    let pinned = fields.logo_asset_id.zip(fields.logo_version);
    let general = general_error(value);
    let err = move |f: &'static str| field_error(value, f);
    let errs = move |f: &'static str| field_errors_under(value, f);
    view! {
        {conflict.map(|(message, yours, theirs)| view! { <ConflictPanel message yours theirs/> })}
        <Card title=if copy.head.is_some() { "Edit the copy" } else { "Write the first revision" }>
            <ActionForm action=save attr:data-testid="copy-form">
                {move || general().map(|error| view! { <ErrorBox error/> })}
                <input type="hidden" name="listing_id" value=copy.listing_id/>
                <input type="hidden" name="input[base_revision]" value=base/>
                <fieldset disabled=!can_edit>
                    <Field label="Product title" name="input[title]" error=err("title")>
                        <input id="input_title_" name="input[title]" value=fields.title.clone() on:input=count_into(title) class=move || input_class(err("title").get().is_some())/>
                        <Counter used=title max=72 unit="characters" hint="At most 72 characters."/>
                    </Field>
                    <Field label="Short description" name="input[short_description]" error=err("short_description")>
                        <TextArea value=fields.short_description.clone() {..} id="input_short_description_" name="input[short_description]" rows="3" on:input=count_into(short) class=move || input_class(err("short_description").get().is_some())/>
                        <Counter used=short max=1000 unit="characters" hint="At most 1,000 characters."/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Long description (Markdown)" name="input[long_description]" error=err("long_description")>
                            <TextArea value=fields.long_description.clone() {..} id="input_long_description_" name="input[long_description]" rows="14" on:input=on_long_input
                                class=move || format!("{} font-mono", input_class(err("long_description").get().is_some()))/>
                            <Counter used=Signal::derive(move || long.with(|t| t.chars().count())) max=5000 unit="characters" hint="At most 5,000 characters."/>
                        </Field>
                        <div class="mb-4 min-w-0">
                            <p class="block text-sm font-medium text-gray-800 mb-1">"Preview"</p>
                            <Transition fallback=|| ()>
                                <div class="prose-copy rounded-md border border-gray-200 bg-gray-50 p-3 text-sm min-h-[14rem] overflow-auto break-words" data-testid="preview"
                                    inner_html=move || preview.get().and_then(Result::ok).unwrap_or_default()></div>
                            </Transition>
                        </div>
                    </div>
                    <Field label="Highlights" name="input[highlights]" error=errs("highlights") hint="One to three, one per line; each at most 500 characters.">
                        <TextArea value=fields.highlights.join("\n") {..} id="input_highlights_" name="input[highlights]" rows="3" class=move || input_class(errs("highlights").get().is_some())/>
                    </Field>
                    <Field label="Usage instructions" name="input[usage_instructions]" error=err("usage_instructions") hint="Sent with every version: how to start the product once it is launched. At most 4,000 characters.">
                        <TextArea value=fields.usage_instructions.clone() {..} id="input_usage_instructions_" name="input[usage_instructions]" rows="4" class=move || input_class(err("usage_instructions").get().is_some())/>
                    </Field>
                    <Field label="Release notes template" name="input[release_notes_template]" error=err("release_notes_template") hint="{version} is replaced by the release, {notes_url} by its release notes link.">
                        <TextArea value=fields.release_notes_template.clone() {..} id="input_release_notes_template_" name="input[release_notes_template]" rows="3" class=move || input_class(err("release_notes_template").get().is_some())/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Categories" name="input[categories]" error=errs("categories") hint="One to three, separated by commas.">
                            <input id="input_categories_" name="input[categories]" value=fields.categories.join(", ") class=move || input_class(errs("categories").get().is_some())/>
                        </Field>
                        <Field label="SKU" name="input[sku]" error=err("sku") hint="Optional, at most 100 characters.">
                            <input id="input_sku_" name="input[sku]" value=fields.sku.clone() class=move || input_class(err("sku").get().is_some())/>
                        </Field>
                    </div>
                    <Field label="Search keywords" name="input[search_keywords]" error=errs("search_keywords")>
                        <input id="input_search_keywords_" name="input[search_keywords]" value=fields.search_keywords.join(", ")
                            on:input=move |ev| keywords.set(listed(&event_target_value(&ev)))
                            class=move || input_class(errs("search_keywords").get().is_some())/>
                        <Counter used=keywords max=15 unit="keywords" hint="Up to 15, separated by commas; each at most 50 characters."/>
                    </Field>
                    <Field label="Support description" name="input[support_description]" error=err("support_description")>
                        <TextArea value=fields.support_description.clone() {..} id="input_support_description_" name="input[support_description]" rows="3" on:input=count_into(support) class=move || input_class(err("support_description").get().is_some())/>
                        <Counter used=support max=2000 unit="characters" hint="How customers get support. Optional, at most 2,000 characters."/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Logo" name="input[logo_asset_id]" error=err("logo_asset_id")
                            hint="A logo linked to this listing (link one on the listing page). The revision keeps the version it was saved with.">
                            <select id="input_logo_asset_id_" name="input[logo_asset_id]" class=move || input_class(err("logo_asset_id").get().is_some())>
                                <option value="" selected=chosen_logo.is_none()>"No logo"</option>
                                <Suspense fallback=|| ()>
                                    {move || Suspend::new(async move {
                                        let logos = logos.await.unwrap_or_default();
                                        let missing = chosen_logo.filter(|id| !logos.iter().any(|a| a.id == *id));
                                        view! {
                                            {logos.into_iter().map(|a| {
                                                let current = a.versions.first().map(|v| v.version).unwrap_or_default();
                                                view! { <option value=a.id selected=chosen_logo == Some(a.id)>{format!("{} (version {current})", a.title)}</option> }
                                            }).collect_view()}
                                            {missing.map(|id| view! { <option value=id selected=true>{format!("Asset {id}, no longer linked to this listing")}</option> })}
                                        }
                                    })}
                                </Suspense>
                            </select>
                            {pinned.map(|(asset, version)| view! {
                                <p class="mt-1 text-xs text-gray-600" data-testid="pinned-logo">
                                    "This revision has "<a class=LINK href=format!("/assets/{asset}")>{format!("version {version} of the logo")}</a>"."
                                </p>
                            })}
                        </Field>
                        <Field label="Video URL" name="input[video_url]" error=err("video_url") hint="Optional: one https link, at most 2,048 characters.">
                            <input id="input_video_url_" name="input[video_url]" type="url" value=fields.video_url.clone() placeholder="https://www.youtube.com/watch?v=…" class=move || input_class(err("video_url").get().is_some())/>
                        </Field>
                    </div>
                    <Field label="Additional resources" name="input[additional_resources]" error=errs("additional_resources")
                        hint="Up to three, one per line: Text | https://link. The text is at most 100 characters.">
                        <TextArea value=resource_lines(&fields.additional_resources) {..} id="input_additional_resources_" name="input[additional_resources]" rows="3"
                            placeholder="Installation guide | https://docs.gitlab.com/install/aws/"
                            class=move || format!("{} font-mono", input_class(errs("additional_resources").get().is_some()))/>
                    </Field>
                    {can_edit.then(|| view! { <button type="submit" class=BUTTON data-testid="save-copy">"Save as a new revision"</button> })}
                </fieldset>
            </ActionForm>
        </Card>
    }
}

/// A revision's logo in words: which asset, and which version of it when that is known.
fn logo_text(asset: Option<i32>, version: Option<i32>) -> String {
    match (asset, version) {
        (None, _) => String::new(),
        (Some(a), None) => format!("asset {a}"),
        (Some(a), Some(v)) => format!("asset {a}, version {v}"),
    }
}

#[component]
fn ConflictPanel(message: String, yours: CopyFields, theirs: CopyRevision) -> impl IntoView {
    let rows = [
        (
            "Product title",
            yours.title.clone(),
            theirs.fields.title.clone(),
        ),
        (
            "Short description",
            yours.short_description.clone(),
            theirs.fields.short_description.clone(),
        ),
        (
            "Long description",
            yours.long_description.clone(),
            theirs.fields.long_description.clone(),
        ),
        (
            "Highlights",
            yours.highlights.join("\n"),
            theirs.fields.highlights.join("\n"),
        ),
        (
            "Usage instructions",
            yours.usage_instructions.clone(),
            theirs.fields.usage_instructions.clone(),
        ),
        (
            "Release notes template",
            yours.release_notes_template.clone(),
            theirs.fields.release_notes_template.clone(),
        ),
        (
            "Categories",
            yours.categories.join(", "),
            theirs.fields.categories.join(", "),
        ),
        (
            "Search keywords",
            yours.search_keywords.join(", "),
            theirs.fields.search_keywords.join(", "),
        ),
        ("SKU", yours.sku.clone(), theirs.fields.sku.clone()),
        (
            "Support description",
            yours.support_description.clone(),
            theirs.fields.support_description.clone(),
        ),
        (
            "Logo",
            logo_text(yours.logo_asset_id, None),
            logo_text(theirs.fields.logo_asset_id, None),
        ),
        (
            "Video URL",
            yours.video_url.clone(),
            theirs.fields.video_url.clone(),
        ),
        (
            "Additional resources",
            resource_lines(&yours.additional_resources),
            resource_lines(&theirs.fields.additional_resources),
        ),
    ];
    view! {
        <section role="alert" class="rounded-lg border border-amber-300 bg-amber-50 p-4 mb-6" data-testid="conflict">
            <h2 class="font-semibold text-amber-900">"Someone saved first: nothing was overwritten"</h2>
            <p class="text-sm text-amber-900 mb-3">{message}</p>
            <table class="min-w-full text-sm bg-white rounded">
                <thead><tr><th class=TH></th><th class=TH>"Yours (still in the form below)"</th><th class=TH>{format!("Theirs: revision {} by {}", theirs.number, theirs.author)}</th></tr></thead>
                <tbody>
                    {rows.into_iter().filter(|(_, a, b)| a != b).map(|(label, a, b)| view! {
                        <tr>
                            <td class=TD>{label}</td>
                            <td class=format!("{TD} whitespace-pre-wrap bg-green-50")>{a}</td>
                            <td class=format!("{TD} whitespace-pre-wrap bg-red-50")>{b}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn ReviewPanel(
    copy: ListingCopy,
    request: ServerAction<RequestCopyApproval>,
    approve: ServerAction<ApproveCopy>,
    reject: ServerAction<RejectCopy>,
) -> impl IntoView {
    let Some(head) = copy.head.clone() else {
        return view! { <Card title="Approvals"><p class="text-sm text-gray-500">"No copy yet."</p></Card> }.into_any();
    };
    let user = current_user();
    let can_edit = user.as_ref().is_some_and(|u| u.can(Permission::EditCopy));
    let reviewer = head
        .state
        .awaiting()
        .filter(|team| user.as_ref().is_some_and(|u| u.has(*team)));
    let listing_id = copy.listing_id;
    let rev = head.id;
    let reject_value = reject.value();
    let stages = [
        (Role::Marketing, "Drafted", true),
        (
            Role::Partnerships,
            "Partnerships",
            head.reviews
                .iter()
                .any(|r| r.stage == Role::Partnerships && r.decision == "approved"),
        ),
        (
            Role::Omnibus,
            "Omnibus (technical accuracy)",
            head.reviews
                .iter()
                .any(|r| r.stage == Role::Omnibus && r.decision == "approved"),
        ),
    ];
    view! {
        <Card title=format!("Approvals of revision {}", head.number)>
            <ol class="flex items-center gap-2 text-xs mb-4" data-testid="stages">
                {stages.into_iter().map(|(_, label, done)| view! {
                    <li class=if done { "rounded-full bg-green-100 text-green-800 px-2 py-0.5" } else { "rounded-full bg-gray-100 text-gray-600 px-2 py-0.5" }>
                        {format!("{}{label}", if done { "✓ " } else { "" })}
                    </li>
                }).collect_view()}
            </ol>
            <p class="text-sm text-gray-700">{format!("Written by {} on {}", head.author, when(head.created_at))}</p>
            {head.rejection().cloned().map(|r| view! {
                <div class="mt-3 rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-900" data-testid="rejection">
                    <p class="font-semibold">{format!("Rejected by {} for {}", r.username, r.stage.label())}</p>
                    <p class="whitespace-pre-line">{r.comment.clone()}</p>
                </div>
            })}
            <ul class="mt-3 space-y-1 text-sm" data-testid="reviews">
                {head.reviews.iter().map(|r| view! {
                    <li>{format!("{} {} for {} · {}{}", r.username, r.decision, r.stage.label(), when(r.at), if r.comment.is_empty() { String::new() } else { format!(" · “{}”", r.comment) })}</li>
                }).collect_view()}
            </ul>
            {(head.state == CopyState::Draft && can_edit).then(|| view! {
                <ActionForm action=request attr:class="mt-4">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <input type="hidden" name="input[revision]" value=rev/>
                    <input type="hidden" name="input[comment]" value=""/>
                    <button class=BUTTON data-testid="request-approval">"Ask Partnerships to approve"</button>
                </ActionForm>
            })}
            {reviewer.map(|team| view! {
                <div class="mt-4 space-y-3" data-testid="review-actions">
                    <ActionForm action=approve>
                        <input type="hidden" name="listing_id" value=listing_id/>
                        <input type="hidden" name="input[revision]" value=rev/>
                        <input type="hidden" name="input[comment]" value=""/>
                        <button class=BUTTON data-testid="approve">{format!("Approve for {}", team.label())}</button>
                    </ActionForm>
                    <ActionForm action=reject>
                        <input type="hidden" name="listing_id" value=listing_id/>
                        <input type="hidden" name="input[revision]" value=rev/>
                        <Field label="Reason for rejecting" name="input[comment]" error=field_error(reject_value, "comment")>
                            <TextArea {..} id="input_comment_" name="input[comment]" rows="2" class=input_class(false)/>
                        </Field>
                        <button class=BUTTON_SECONDARY data-testid="reject">"Reject"</button>
                    </ActionForm>
                </div>
            })}
            {(head.state == CopyState::Approved).then(|| view! {
                <div class="mt-4 text-sm" data-testid="approved">
                    <p class="text-green-800 font-medium">"Approved: this revision can be published."</p>
                    {head.publish_marked_at.map(|at| view! { <p class="text-gray-700">{format!("Marked for publishing by {} on {}", head.publish_marked_by.clone().unwrap_or_default(), when(at))}</p> })}
                    {head.publish_marked_at.is_none().then(|| view! {
                        <p class="text-gray-600">"Publish it from “Marketplace” above, once it is compared with the live listing."</p>
                    })}
                </div>
            })}
            {(head.state != CopyState::Approved).then(|| copy.approved_revision.map(|r| view! {
                <p class="mt-4 text-xs text-gray-600">{format!("Revision id {r} is the newest approved copy: publishing uses it until this one is approved.")}</p>
            }))}
        </Card>
    }
    .into_any()
}

/// Whether a job still has work ahead of it (or waits for someone to unblock it).
fn in_flight(job: &Job) -> bool {
    matches!(
        job.state,
        JobState::Queued | JobState::Running | JobState::Waiting | JobState::Blocked
    )
}

/// The publishing panel's actions and data: comparing with the live listing, marking,
/// unblocking the job, and the listing's copy as the panel follows the job.
#[derive(Clone, Copy)]
struct Publishing {
    compare: ServerAction<GetCopyLiveDiff>,
    mark: ServerAction<MarkCopyForPublishing>,
    unblock: ServerAction<CancelBlockerAndRetry>,
    data: Data<Result<ListingCopy, AppError>>,
}

impl Publishing {
    fn new(listing_id: impl Fn() -> i32 + Copy + Send + Sync + 'static) -> Self {
        let compare = ServerAction::<GetCopyLiveDiff>::new();
        let mark = ServerAction::<MarkCopyForPublishing>::new();
        let unblock = ServerAction::<CancelBlockerAndRetry>::new();
        // Moves on while the job works, so the panel follows it without a reload.
        let tick = RwSignal::new(0_u64);
        let data = server_data(
            move || {
                (
                    listing_id(),
                    mark.version().get(),
                    unblock.version().get(),
                    tick.get(),
                )
            },
            |(id, ..)| get_listing_copy(id),
        );
        Effect::new(move || {
            let working = data.get().and_then(Result::ok).is_some_and(|c| {
                c.publish_job
                    .as_ref()
                    .is_some_and(|j| in_flight(j) && j.state != JobState::Blocked)
            });
            if working {
                set_timeout(
                    move || {
                        tick.try_update(|t| *t += 1);
                    },
                    std::time::Duration::from_secs(2),
                );
            }
        });
        // A marked revision is compared afresh next time.
        Effect::new(move || {
            if matches!(mark.value().get(), Some(Ok(_))) {
                compare.value().set(None);
            }
        });
        Publishing {
            compare,
            mark,
            unblock,
            data,
        }
    }
}

/// Publishing the copy on its own: what is live on the marketplace, the job publishing it,
/// and marking the newest approved revision once it was compared with the live listing.
#[component]
fn PublishCopyPanel(listing_id: i32, publishing: Publishing) -> impl IntoView {
    let Publishing {
        compare,
        mark,
        unblock,
        data,
    } = publishing;
    let error = move || {
        compare
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| mark.value().get().and_then(Result::err))
            .or_else(|| unblock.value().get().and_then(Result::err))
    };
    let user = current_user();
    let can_mark = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::MarkCopyForPublishing));
    let can_run = user.as_ref().is_some_and(|u| u.can(Permission::RunJobs));
    view! {
        <Card title="Marketplace">
            <div data-testid="publish-copy">
                {move || error().map(|error| view! { <ErrorBox error/> })}
                <Transition fallback=Loading>
                    {move || data.get().map(|r| match r {
                        Ok(c) => {
                            let approved = c.approved_revision.and_then(|id| c.revisions.iter().find(|r| r.id == id).cloned());
                            let busy = c.publish_job.as_ref().is_some_and(in_flight);
                            let live_revision = c.live.as_ref().and_then(|l| l.revision_id);
                            let markable = approved.clone().filter(|a| can_mark && !busy && live_revision != Some(a.id));
                            view! {
                                <LiveStatus live=c.live.clone()/>
                                {c.publish_job.clone().map(|job| {
                                    let revision = job.payload["revision_id"].as_i64()
                                        .and_then(|id| c.revisions.iter().find(|r| i64::from(r.id) == id))
                                        .map(|r| r.number);
                                    view! { <CopyJob job revision can_run unblock/> }
                                })}
                                {approved.is_none().then(|| view! {
                                    <p class="mt-2 text-sm text-gray-600">"Once a revision is approved it can be published here on its own, without a new version."</p>
                                })}
                                {markable.map(|rev| view! { <MarkForPublishing listing_id rev compare mark/> })}
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    })}
                </Transition>
            </div>
        </Card>
    }
}

/// Which revision is live on the marketplace, and since when.
#[component]
fn LiveStatus(live: Option<LiveCopyRecord>) -> impl IntoView {
    match live {
        Some(l) => {
            let revision = l
                .revision_number
                .map_or_else(|| "a revision".to_owned(), |n| format!("revision {n}"));
            view! {
                <p class="text-sm text-gray-800" data-testid="live-copy">
                    <span class="font-medium">{format!("Live on the marketplace: {revision}")}</span>
                    {format!(", published {}", when(l.published_at))}
                    <span class="block text-gray-600">{format!("Title: {}", l.copy.title)}</span>
                </p>
            }
            .into_any()
        }
        None => view! {
            <p class="text-sm text-gray-600" data-testid="live-copy">"The portal has not published this listing's copy yet: the marketplace shows what was there before."</p>
        }
        .into_any(),
    }
}

/// The newest job publishing the copy: its state, step and errors, and "Cancel it and
/// retry" when someone else's change set blocks it.
#[component]
fn CopyJob(
    job: Job,
    /// The number of the revision it publishes.
    revision: Option<i32>,
    can_run: bool,
    unblock: ServerAction<CancelBlockerAndRetry>,
) -> impl IntoView {
    let blocked = job.state == JobState::Blocked;
    view! {
        <div class="mt-3 rounded-md border border-gray-200 p-3 text-sm" data-testid="copy-publish-job" data-state=job.state.as_str()>
            <div class="flex flex-wrap items-center gap-2">
                <a class=LINK href=format!("/jobs/{}", job.id)>{format!("Job #{} publishing the copy", job.id)}</a>
                <Badge text=job.state.label() tone=super::jobs::job_state_tone(job.state)/>
                <span class="text-gray-600">{job.step.clone()}</span>
            </div>
            <p class="mt-1 text-xs text-gray-500">
                {format!("Started {}", when(job.created_at))}
                {revision.map(|n| format!(" · revision {n}"))}
                {job.finished_at.map(|at| format!(" · finished {}", when(at)))}
            </p>
            {job.last_error.clone().filter(|_| matches!(job.state, JobState::Failed | JobState::Blocked | JobState::Queued)).map(|e| view! {
                <ul class="mt-1 list-disc pl-5 text-red-800 break-words" data-testid="copy-publish-errors">
                    {e.split("; ").map(|line| view! { <li>{line.to_owned()}</li> }).collect_view()}
                </ul>
            })}
            {(blocked && can_run).then(|| view! {
                <ActionForm action=unblock attr:class="mt-2">
                    <input type="hidden" name="job_id" value=job.id/>
                    <button class=BUTTON_SECONDARY data-testid="cancel-blocker">"Cancel it and retry"</button>
                </ActionForm>
            })}
        </div>
    }
}

/// "Mark for publishing": first the approved revision against the live listing, then the
/// button that marks it and starts the job.
#[component]
fn MarkForPublishing(
    listing_id: i32,
    rev: CopyRevisionSummary,
    compare: ServerAction<GetCopyLiveDiff>,
    mark: ServerAction<MarkCopyForPublishing>,
) -> impl IntoView {
    let rev_id = rev.id;
    let number = rev.number;
    let diff = move || {
        compare
            .value()
            .get()
            .and_then(Result::ok)
            .filter(|d| d.revision.id == rev_id)
    };
    view! {
        <div class="mt-4 border-t border-gray-100 pt-4">
            <ActionForm action=compare attr:class="flex flex-wrap items-center gap-3">
                <input type="hidden" name="listing_id" value=listing_id/>
                <input type="hidden" name="revision" value=rev_id/>
                <button class=BUTTON_SECONDARY data-testid="mark-publish" disabled=move || compare.pending().get()>
                    {move || if diff().is_some() { "Read the live listing again".to_owned() } else { format!("Mark revision {number} for publishing…") }}
                </button>
                <span class="text-xs text-gray-500">
                    {move || if compare.pending().get() { "Reading the listing from the marketplace…" } else if diff().is_some() { "" } else { "First compares it with what the marketplace shows now." }}
                </span>
            </ActionForm>
            {move || diff().map(|d| view! {
                <LiveDiffView diff=d/>
                <ActionForm action=mark attr:class="mt-4 flex flex-wrap items-center gap-3">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <input type="hidden" name="input[revision]" value=rev_id/>
                    <input type="hidden" name="input[comment]" value=""/>
                    <button class=BUTTON data-testid="confirm-mark-publish" disabled=move || mark.pending().get()>
                        {format!("Mark revision {number} for publishing")}
                    </button>
                    <span class="text-xs text-gray-500">"Starts a job that validates the change on the marketplace first, then applies it."</span>
                </ActionForm>
            })}
        </div>
    }
}

/// What is live (left) against the revision (right), field by field; fields that are the
/// same on both sides are only named.
#[component]
fn LiveDiffView(diff: CopyLiveDiff) -> impl IntoView {
    let same: Vec<String> = diff
        .fields
        .iter()
        .filter(|f| !f.changed)
        .map(|f| f.label.clone())
        .collect();
    let changed: Vec<FieldDiff> = diff.fields.iter().filter(|f| f.changed).cloned().collect();
    let count = match diff.changed {
        0 => "No field differs: the marketplace already shows this revision".to_owned(),
        1 => "1 field differs".to_owned(),
        n => format!("{n} fields differ"),
    };
    view! {
        <div class="mt-4" data-testid="live-diff">
            <p class="text-sm">
                <span class="font-semibold" data-testid="live-diff-count">{count}</span>
                <span class="text-gray-600">{format!(" · read from {} at {}", diff.entity_id, when(diff.read_at))}</span>
            </p>
            {(!changed.is_empty()).then(|| view! {
                <table class="mt-2 w-full text-sm table-fixed border border-gray-200 rounded">
                    <thead>
                        <tr>
                            <th class=format!("{TH} w-1/2")>"Live on the marketplace"</th>
                            <th class=format!("{TH} w-1/2")>{format!("Revision {}", diff.revision.number)}</th>
                        </tr>
                    </thead>
                    {changed.into_iter().map(|f| view! {
                        <tbody data-testid=format!("live-diff-{}", f.field)>
                            <tr><td colspan="2" class="px-2 pt-3 pb-1 text-xs font-semibold uppercase tracking-wide text-gray-600 bg-gray-50">{f.label.clone()}</td></tr>
                            {f.rows.into_iter().map(|r| {
                                let (l, rr) = match r.kind.as_str() {
                                    "changed" => ("bg-red-50", "bg-green-50"),
                                    "removed" => ("bg-red-50", "bg-gray-50"),
                                    "added" => ("bg-gray-50", "bg-green-50"),
                                    _ => ("", ""),
                                };
                                view! {
                                    <tr data-kind=r.kind.clone()>
                                        <td class=format!("px-2 py-0.5 align-top whitespace-pre-wrap break-words border-r border-gray-200 font-mono text-xs {l}")>{r.left.unwrap_or_default()}</td>
                                        <td class=format!("px-2 py-0.5 align-top whitespace-pre-wrap break-words font-mono text-xs {rr}")>{r.right.unwrap_or_default()}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    }).collect_view()}
                </table>
            })}
            {(!same.is_empty()).then(|| view! {
                <p class="mt-2 text-xs text-gray-600">{format!("The same on both sides: {}.", same.join(", "))}</p>
            })}
        </div>
    }
}

#[component]
fn History(copy: ListingCopy) -> impl IntoView {
    let listing_id = copy.listing_id;
    let revisions = copy.revisions.clone();
    view! {
        <Card title="Revisions">
            <table class=TABLE data-testid="revisions">
                <tbody>
                    {copy.revisions.iter().enumerate().map(|(i, r)| {
                        let previous = revisions.get(i + 1).map(|p| p.id);
                        view! {
                            <tr>
                                <td class=TD>{format!("#{}", r.number)}</td>
                                <td class=TD>{r.author.clone()}<div class="text-xs text-gray-500">{when(r.created_at)}</div></td>
                                <td class=TD><Badge text=r.state.label() tone=copy_state_tone(r.state)/></td>
                                <td class=TD>{previous.map(|p| view! {
                                    <a class=LINK href=format!("/listings/{listing_id}/copy/diff?left={p}&right={}", r.id)>"Compare"</a>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </Card>
    }
}

#[component]
pub fn CopyDiffPage() -> impl IntoView {
    let id = id_param("id");
    let query = use_query_map();
    let pair = move || {
        let q = query.read();
        (
            q.get("left").and_then(|v| v.parse().ok()).unwrap_or(0),
            q.get("right").and_then(|v| v.parse().ok()).unwrap_or(0),
        )
    };
    let data = server_data(
        move || (id(), pair()),
        |(id, (l, r))| compare_copy_revisions(id, l, r),
    );
    view! {
        <Title text="Compare revisions"/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let d = match data.await {
                    Ok(d) => d,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let listing = id();
                view! {
                    <p class="text-sm mb-2"><a class=LINK href=format!("/listings/{listing}/copy")>"← Copy editor"</a></p>
                    <PageHeader
                        title=format!("Revision {} → revision {}", d.left.number, d.right.number)
                        subtitle=format!("{} ({}) → {} ({})", d.left.author, d.left.state.label(), d.right.author, d.right.state.label())
                    />
                    {d.fields.into_iter().map(|f| view! {
                        <Card title=format!("{}{}", f.label, if f.changed { "" } else { " · unchanged" })>
                            <table class="min-w-full text-sm font-mono table-fixed" data-testid=format!("diff-{}", f.field)>
                                <tbody>
                                    {f.rows.into_iter().map(|r| {
                                        let (l, rr) = match r.kind.as_str() {
                                            "changed" => ("bg-red-50", "bg-green-50"),
                                            "removed" => ("bg-red-50", "bg-gray-50"),
                                            "added" => ("bg-gray-50", "bg-green-50"),
                                            _ => ("", ""),
                                        };
                                        view! {
                                            <tr data-kind=r.kind.clone()>
                                                <td class=format!("w-1/2 px-2 py-0.5 align-top whitespace-pre-wrap break-words border-r border-gray-200 {l}")>{r.left.unwrap_or_default()}</td>
                                                <td class=format!("w-1/2 px-2 py-0.5 align-top whitespace-pre-wrap break-words {rr}")>{r.right.unwrap_or_default()}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </Card>
                    }).collect_view()}
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let data = server_data(|| (), |_| get_approvals());
    view! {
        <Title text="Approvals"/>
        <PageHeader title="Approvals".into() subtitle="What waits for your teams: listing copy to review and launches to sign off."/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let q = match data.await {
                    Ok(q) => q,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                if q.teams.is_empty() {
                    return view! { <Card><p class="text-sm text-gray-600">"You are in none of the teams that approve: Partnerships, Omnibus, Marketing."</p></Card> }.into_any();
                }
                view! {
                    <Card title="Listing copy">
                        {q.copy.is_empty().then(|| view! { <p class="text-sm text-gray-500">"Nothing to review."</p> })}
                        <table class=TABLE data-testid="copy-queue">
                            <tbody>
                                {q.copy.into_iter().map(|c| view! {
                                    <tr>
                                        <td class=TD><a class=LINK href=format!("/listings/{}/copy", c.listing_id)>{c.listing_title.clone()}</a></td>
                                        <td class=TD>{format!("revision {} by {}", c.revision.number, c.revision.author)}</td>
                                        <td class=TD><Badge text=format!("waiting for {}", c.awaiting.label()) tone=Tone::Amber/></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </Card>
                    {(!q.restrictions.is_empty()).then(|| view! {
                        <Card title="Marketplace versions to restrict">
                            <table class=TABLE data-testid="restriction-queue">
                                <tbody>
                                    {q.restrictions.clone().into_iter().map(|p| view! {
                                        <tr>
                                            <td class=TD><a class=LINK href=format!("/listings/{}", p.listing_id)>{format!("Proposal {} on listing {}", p.id, p.listing_id)}</a></td>
                                            <td class=TD>{format!("{} versions, proposed by {}", p.versions.len(), p.proposed_by)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </Card>
                    })}
                    {(!q.retention.is_empty()).then(|| view! {
                        <Card title="Public images to retire">
                            <table class=TABLE data-testid="retention-queue">
                                <tbody>
                                    {q.retention.clone().into_iter().map(|p| view! {
                                        <tr>
                                            <td class=TD><a class=LINK href="/public-images">{format!("Dry run {} for {}", p.id, p.product_name)}</a></td>
                                            <td class=TD>{format!("{} {} images, by {}", p.action.label().to_lowercase(), p.items.len(), p.proposed_by)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </Card>
                    })}
                    <Card title="Launches">
                        {q.launches.is_empty().then(|| view! { <p class="text-sm text-gray-500">"No launch waits for your sign-off."</p> })}
                        <table class=TABLE data-testid="launch-queue">
                            <tbody>
                                {q.launches.into_iter().map(|l| view! {
                                    <tr>
                                        <td class=TD><a class=LINK href=format!("/workflows/{}", l.workflow.id)>{l.workflow.title.clone()}</a></td>
                                        <td class=TD>{format!("needs {}", l.missing_sign_offs.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "))}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </Card>
                }.into_any()
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the editor writes into its fields reads back as the same copy when saved.
    #[test]
    fn the_editors_lists_read_back_as_written() {
        let resources = vec![
            AdditionalResource {
                text: "Install on AWS".into(),
                url: "https://docs.gitlab.com/install/aws/".into(),
            },
            AdditionalResource {
                text: "Release notes".into(),
                url: "https://about.gitlab.com/releases/".into(),
            },
        ];
        let keywords = ["GitLab", "CI/CD", "self-managed"].map(str::to_owned);
        let input = CopyInput::from(CopyForm {
            additional_resources: resource_lines(&resources),
            search_keywords: keywords.join(", "),
            logo_asset_id: "7".into(),
            ..CopyForm::default()
        });
        assert_eq!(input.additional_resources, resources);
        assert_eq!(
            input
                .search_keywords
                .iter()
                .map(|k| k.trim())
                .collect::<Vec<_>>(),
            keywords
        );
        assert_eq!(input.logo_asset_id, Some(7));
        assert_eq!(listed(&keywords.join(", ")), 3);
        assert_eq!(listed("a, , b,"), 2, "blank items are not counted");
    }
}
