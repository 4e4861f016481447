//! Listing copy: the editor with its live preview, revisions and their approvals, the
//! side-by-side comparison of two revisions, and each team's approval queue.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, id_param};
use crate::{
    components::*,
    data::server_data,
    domain::*,
    dto::*,
    error::AppError,
    islands::{Live, ServerForm},
    rpc::{
        ApproveCopy, CancelBlockerAndRetry, MarkCopyForPublishing, RejectCopy, RequestCopyApproval,
        SaveCopy, compare_copy_revisions, get_approvals, get_copy_live_diff, get_listing_copy,
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
    let data = server_data(id, get_listing_copy);
    // `?compare=<revision>`: the approved revision against what the marketplace shows now.
    let query = use_query_map();
    let compare = move || {
        query
            .read()
            .get("compare")
            .and_then(|r| r.parse::<i32>().ok())
    };
    let diff = server_data(
        move || (id(), compare()),
        |(listing, revision)| async move {
            match revision {
                Some(revision) => get_copy_live_diff(listing, revision).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // Every resource of the page is made here, outside the suspense below, so each loads
    // once (a suspense builds its children again while it checks for more to wait for).
    let logos = server_data(id, |listing| async move {
        list_listing_assets(listing).await.map(|assets| {
            assets
                .into_iter()
                .filter(|a| a.kind == AssetKind::Logo)
                .collect::<Vec<_>>()
        })
    });

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
                let logos = logos.await.unwrap_or_default();
                let diff = diff.await;
                let can_edit = current_user().is_some_and(|u| u.can(Permission::EditCopy));
                let (fields, base) = match &c.head {
                    Some(h) => (h.fields.clone(), h.id),
                    None => (CopyFields::default(), 0),
                };
                let chosen = fields.logo_asset_id;
                let mut logo_options: Vec<(i32, String)> = logos
                    .iter()
                    .map(|a| {
                        let current = a.versions.first().map(|v| v.version).unwrap_or_default();
                        (a.id, format!("{} (version {current})", a.title))
                    })
                    .collect();
                if let Some(id) = chosen.filter(|id| !logos.iter().any(|a| a.id == *id)) {
                    logo_options.push((id, format!("Asset {id}, no longer linked to this listing")));
                }
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
                    <PublishCopyPanel copy=c.clone() diff/>
                    <div class="grid xl:grid-cols-3 gap-6">
                        <div class="xl:col-span-2 min-w-0">
                            <CopyForm listing_id=c.listing_id first=c.head.is_none() fields base can_edit logos=logo_options/>
                        </div>
                        <div class="min-w-0">
                            <ReviewPanel copy=c.clone()/>
                            <History copy=c.clone()/>
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
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

/// The copy editor: the fields with their counters, and the long description's preview as
/// the marketplace would show it. A refused save keeps everything typed, each problem under
/// its field; a save someone else's beat keeps it too, shows both side by side, and the next
/// save goes on top of theirs.
#[island]
fn CopyForm(
    listing_id: i32,
    /// No revision yet.
    first: bool,
    fields: CopyFields,
    /// The revision the edit starts from.
    base: i32,
    can_edit: bool,
    /// The logos linked to the listing, for the picker: id and label.
    logos: Vec<(i32, String)>,
) -> impl IntoView {
    let save = ServerAction::<SaveCopy>::new();
    let value = save.value();
    let form = NodeRef::<leptos::html::Form>::new();
    let base = RwSignal::new(base);
    let conflict = RwSignal::new(None::<(String, CopyFields, CopyRevision)>);
    let general = RwSignal::new(None::<AppError>);
    Effect::new(move || match value.get() {
        Some(Ok(CopySave::Saved { .. })) => {
            let _ = window().location().reload();
        }
        Some(Ok(CopySave::Conflict {
            message,
            yours,
            theirs,
        })) => {
            base.set(theirs.id);
            conflict.set(Some((message, yours, theirs)));
            general.set(None);
        }
        Some(Err(e)) => {
            #[cfg(feature = "hydrate")]
            let all_shown = form
                .get_untracked()
                .is_some_and(|f| crate::islands::show_field_errors(&f, Some(&e)));
            #[cfg(not(feature = "hydrate"))]
            let all_shown = false;
            general.set((!all_shown).then_some(e));
        }
        None => {}
    });
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
    let preview = Resource::new(move || debounced.get(), preview_markdown);
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
    view! {
        {move || conflict.get().map(|(message, yours, theirs)| view! { <ConflictPanel message yours theirs/> })}
        <Card title=if first { "Write the first revision" } else { "Edit the copy" }>
            <ActionForm action=save node_ref=form attr:data-testid="copy-form">
                {move || general.get().map(|error| view! { <ErrorBox error/> })}
                <input type="hidden" name="listing_id" value=listing_id/>
                <input type="hidden" name="input[base_revision]" prop:value=move || base.get().to_string() value=base.get_untracked()/>
                <fieldset disabled=!can_edit>
                    <Field label="Product title" name="input[title]">
                        <input id="input_title_" name="input[title]" value=fields.title.clone() on:input=count_into(title) class=INPUT/>
                        <Counter used=title max=72 unit="characters" hint="At most 72 characters."/>
                    </Field>
                    <Field label="Short description" name="input[short_description]">
                        <TextArea value=fields.short_description.clone() {..} id="input_short_description_" name="input[short_description]" rows="3" on:input=count_into(short) class=INPUT/>
                        <Counter used=short max=1000 unit="characters" hint="At most 1,000 characters."/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Long description (Markdown)" name="input[long_description]">
                            <TextArea value=fields.long_description.clone() {..} id="input_long_description_" name="input[long_description]" rows="14" on:input=on_long_input
                                class=move || format!("{} font-mono", INPUT)/>
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
                    <Field label="Highlights" name="input[highlights]" hint="One to three, one per line; each at most 500 characters.">
                        <TextArea value=fields.highlights.join("\n") {..} id="input_highlights_" name="input[highlights]" rows="3" class=INPUT/>
                    </Field>
                    <Field label="Usage instructions" name="input[usage_instructions]" hint="Sent with every version: how to start the product once it is launched. At most 4,000 characters.">
                        <TextArea value=fields.usage_instructions.clone() {..} id="input_usage_instructions_" name="input[usage_instructions]" rows="4" class=INPUT/>
                    </Field>
                    <Field label="Release notes template" name="input[release_notes_template]" hint="{version} is replaced by the release, {notes_url} by its release notes link.">
                        <TextArea value=fields.release_notes_template.clone() {..} id="input_release_notes_template_" name="input[release_notes_template]" rows="3" class=INPUT/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Categories" name="input[categories]" hint="One to three, separated by commas.">
                            <input id="input_categories_" name="input[categories]" value=fields.categories.join(", ") class=INPUT/>
                        </Field>
                        <Field label="SKU" name="input[sku]" hint="Optional, at most 100 characters.">
                            <input id="input_sku_" name="input[sku]" value=fields.sku.clone() class=INPUT/>
                        </Field>
                    </div>
                    <Field label="Search keywords" name="input[search_keywords]">
                        <input id="input_search_keywords_" name="input[search_keywords]" value=fields.search_keywords.join(", ")
                            on:input=move |ev| keywords.set(listed(&event_target_value(&ev)))
                            class=INPUT/>
                        <Counter used=keywords max=15 unit="keywords" hint="Up to 15, separated by commas; each at most 50 characters."/>
                    </Field>
                    <Field label="Support description" name="input[support_description]">
                        <TextArea value=fields.support_description.clone() {..} id="input_support_description_" name="input[support_description]" rows="3" on:input=count_into(support) class=INPUT/>
                        <Counter used=support max=2000 unit="characters" hint="How customers get support. Optional, at most 2,000 characters."/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Logo" name="input[logo_asset_id]"
                            hint="A logo linked to this listing (link one on the listing page). The revision keeps the version it was saved with.">
                            <select id="input_logo_asset_id_" name="input[logo_asset_id]" class=INPUT>
                                <option value="" selected=chosen_logo.is_none()>"No logo"</option>
                                {logos.into_iter().map(|(id, label)| view! {
                                    <option value=id selected=chosen_logo == Some(id)>{label}</option>
                                }).collect_view()}
                            </select>
                            {pinned.map(|(asset, version)| view! {
                                <p class="mt-1 text-xs text-gray-600" data-testid="pinned-logo">
                                    "This revision has "<a class=LINK href=format!("/assets/{asset}")>{format!("version {version} of the logo")}</a>"."
                                </p>
                            })}
                        </Field>
                        <Field label="Video URL" name="input[video_url]" hint="Optional: one https link, at most 2,048 characters.">
                            <input id="input_video_url_" name="input[video_url]" type="url" value=fields.video_url.clone() placeholder="https://www.youtube.com/watch?v=…" class=INPUT/>
                        </Field>
                    </div>
                    <Field label="Additional resources" name="input[additional_resources]"
                        hint="Up to three, one per line: Text | https://link. The text is at most 100 characters.">
                        <TextArea value=resource_lines(&fields.additional_resources) {..} id="input_additional_resources_" name="input[additional_resources]" rows="3"
                            placeholder="Installation guide | https://docs.gitlab.com/install/aws/"
                            class=move || format!("{} font-mono", INPUT)/>
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
fn ReviewPanel(copy: ListingCopy) -> impl IntoView {
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
                <ServerForm action=RequestCopyApproval::PATH class="mt-4">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <input type="hidden" name="input[revision]" value=rev/>
                    <input type="hidden" name="input[comment]" value=""/>
                    <button class=BUTTON data-testid="request-approval">"Ask Partnerships to approve"</button>
                </ServerForm>
            })}
            {reviewer.map(|team| view! {
                <div class="mt-4 space-y-3" data-testid="review-actions">
                    <ServerForm action=ApproveCopy::PATH>
                        <input type="hidden" name="listing_id" value=listing_id/>
                        <input type="hidden" name="input[revision]" value=rev/>
                        <input type="hidden" name="input[comment]" value=""/>
                        <button class=BUTTON data-testid="approve">{format!("Approve for {}", team.label())}</button>
                    </ServerForm>
                    <ServerForm action=RejectCopy::PATH>
                        <input type="hidden" name="listing_id" value=listing_id/>
                        <input type="hidden" name="input[revision]" value=rev/>
                        <Field label="Reason for rejecting" name="input[comment]">
                            <TextArea {..} id="input_comment_" name="input[comment]" rows="2" class=INPUT/>
                        </Field>
                        <button class=BUTTON_SECONDARY data-testid="reject">"Reject"</button>
                    </ServerForm>
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

/// Publishing the copy on its own: what is live on the marketplace, the job publishing it,
/// and marking the newest approved revision once it was compared with the live listing
/// (`diff`, asked for with `?compare=`). While the job works, the panel follows it.
#[component]
fn PublishCopyPanel(
    copy: ListingCopy,
    diff: Result<Option<CopyLiveDiff>, AppError>,
) -> impl IntoView {
    let user = current_user();
    let can_mark = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::MarkCopyForPublishing));
    let can_run = user.as_ref().is_some_and(|u| u.can(Permission::RunJobs));
    let c = copy;
    let listing_id = c.listing_id;
    let approved = c
        .approved_revision
        .and_then(|id| c.revisions.iter().find(|r| r.id == id).cloned());
    let busy = c.publish_job.as_ref().is_some_and(in_flight);
    let working = c
        .publish_job
        .as_ref()
        .is_some_and(|j| in_flight(j) && j.state != JobState::Blocked);
    let live_revision = c.live.as_ref().and_then(|l| l.revision_id);
    let markable = approved
        .clone()
        .filter(|a| can_mark && !busy && live_revision != Some(a.id));
    let (diff, diff_error) = match diff {
        Ok(d) => (d, None),
        Err(e) => (None, Some(e)),
    };
    view! {
        <Card title="Marketplace">
            <div data-testid="publish-copy">
                {diff_error.map(|error| view! { <ErrorBox error/> })}
                <Live id="publish-copy".to_owned() active=working every_ms=2000>
                    <LiveStatus live=c.live.clone()/>
                    {c.publish_job.clone().map(|job| {
                        let revision = job.payload["revision_id"].as_i64()
                            .and_then(|id| c.revisions.iter().find(|r| i64::from(r.id) == id))
                            .map(|r| r.number);
                        view! { <CopyJob job revision can_run/> }
                    })}
                    {approved.is_none().then(|| view! {
                        <p class="mt-2 text-sm text-gray-600">"Once a revision is approved it can be published here on its own, without a new version."</p>
                    })}
                    {markable.map(|rev| view! { <MarkForPublishing listing_id rev diff/> })}
                </Live>
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
                <ServerForm action=CancelBlockerAndRetry::PATH class="mt-2">
                    <input type="hidden" name="job_id" value=job.id/>
                    <button class=BUTTON_SECONDARY data-testid="cancel-blocker">"Cancel it and retry"</button>
                </ServerForm>
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
    /// The comparison asked for, if any.
    diff: Option<CopyLiveDiff>,
) -> impl IntoView {
    let rev_id = rev.id;
    let number = rev.number;
    let diff = diff.filter(|d| d.revision.id == rev_id);
    let compared = diff.is_some();
    view! {
        <div class="mt-4 border-t border-gray-100 pt-4">
            <form method="get" action=format!("/listings/{listing_id}/copy") class="flex flex-wrap items-center gap-3">
                <input type="hidden" name="compare" value=rev_id/>
                <button class=BUTTON_SECONDARY data-testid="mark-publish">
                    {if compared { "Read the live listing again".to_owned() } else { format!("Mark revision {number} for publishing…") }}
                </button>
                <span class="text-xs text-gray-500">
                    {if compared { "" } else { "First compares it with what the marketplace shows now." }}
                </span>
            </form>
            {diff.map(|d| view! {
                <LiveDiffView diff=d/>
                <ServerForm action=MarkCopyForPublishing::PATH class="mt-4 flex flex-wrap items-center gap-3">
                    <input type="hidden" name="listing_id" value=listing_id/>
                    <input type="hidden" name="input[revision]" value=rev_id/>
                    <input type="hidden" name="input[comment]" value=""/>
                    <button class=BUTTON data-testid="confirm-mark-publish">
                        {format!("Mark revision {number} for publishing")}
                    </button>
                    <span class="text-xs text-gray-500">"Starts a job that validates the change on the marketplace first, then applies it."</span>
                </ServerForm>
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
