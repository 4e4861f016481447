//! Listing copy: the editor with its live preview, revisions and their approvals, the
//! side-by-side comparison of two revisions, and each team's approval queue.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, field_error, general_error, id_param};
use crate::{
    components::*,
    domain::*,
    dto::*,
    rpc::{
        ApproveCopy, MarkCopyForPublishing, RejectCopy, RequestCopyApproval, SaveCopy,
        compare_copy_revisions, get_approvals, get_listing_copy, preview_markdown,
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
    let mark = ServerAction::<MarkCopyForPublishing>::new();
    let data = Resource::new(
        move || {
            (
                id(),
                save.version().get(),
                request.version().get(),
                approve.version().get(),
                reject.version().get(),
                mark.version().get(),
            )
        },
        |(id, ..)| get_listing_copy(id),
    );
    let errors = move || {
        general_error(request.value())()
            .or_else(general_error(approve.value()))
            .or_else(general_error(reject.value()))
            .or_else(general_error(mark.value()))
            .or_else(|| {
                // Conflicts about a stale revision carry the field `revision`.
                [
                    request.value().get(),
                    approve.value().get(),
                    mark.value().get(),
                ]
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
                    <div class="grid xl:grid-cols-3 gap-6">
                        <div class="xl:col-span-2">
                            <CopyForm copy=c.clone() save/>
                        </div>
                        <div>
                            <ReviewPanel copy=c.clone() request approve reject mark/>
                            <History copy=c.clone()/>
                        </div>
                    </div>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn CopyForm(copy: ListingCopy, save: ServerAction<SaveCopy>) -> impl IntoView {
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
    let preview = Resource::new(move || debounced.get(), preview_markdown);
    let general = general_error(value);
    let err = move |f: &'static str| field_error(value, f);
    view! {
        {conflict.map(|(message, yours, theirs)| view! { <ConflictPanel message yours theirs/> })}
        <Card title=if copy.head.is_some() { "Edit the copy" } else { "Write the first revision" }>
            <ActionForm action=save attr:data-testid="copy-form">
                {move || general().map(|error| view! { <ErrorBox error/> })}
                <input type="hidden" name="listing_id" value=copy.listing_id/>
                <input type="hidden" name="input[base_revision]" value=base/>
                <fieldset disabled=!can_edit>
                    <Field label="Product title" name="input[title]" error=err("title") hint="At most 72 characters.">
                        <input id="input_title_" name="input[title]" value=fields.title.clone() class=move || input_class(err("title").get().is_some())/>
                    </Field>
                    <Field label="Short description" name="input[short_description]" error=err("short_description")>
                        <TextArea value=fields.short_description.clone() {..} id="input_short_description_" name="input[short_description]" rows="3" class=move || input_class(err("short_description").get().is_some())/>
                    </Field>
                    <div class="grid md:grid-cols-2 gap-4">
                        <Field label="Long description (Markdown)" name="input[long_description]" error=err("long_description")>
                            <TextArea value=fields.long_description.clone() {..} id="input_long_description_" name="input[long_description]" rows="14" on:input=on_long_input
                                class=move || format!("{} font-mono", input_class(err("long_description").get().is_some()))/>
                        </Field>
                        <div class="mb-4">
                            <p class="block text-sm font-medium text-gray-800 mb-1">"Preview"</p>
                            <Transition fallback=|| ()>
                                <div class="prose-copy rounded-md border border-gray-200 bg-gray-50 p-3 text-sm min-h-[14rem] overflow-auto" data-testid="preview"
                                    inner_html=move || preview.get().and_then(Result::ok).unwrap_or_default()></div>
                            </Transition>
                        </div>
                    </div>
                    <Field label="Highlights" name="input[highlights]" error=err("highlights") hint="Up to three, one per line.">
                        <TextArea value=fields.highlights.join("\n") {..} id="input_highlights_" name="input[highlights]" rows="3" class=move || input_class(err("highlights").get().is_some())/>
                    </Field>
                    <Field label="Usage instructions" name="input[usage_instructions]" error=err("usage_instructions")>
                        <TextArea value=fields.usage_instructions.clone() {..} id="input_usage_instructions_" name="input[usage_instructions]" rows="4" class=input_class(false)/>
                    </Field>
                    <Field label="Release notes template" name="input[release_notes_template]" error=err("release_notes_template") hint="{version} is replaced by the release.">
                        <TextArea value=fields.release_notes_template.clone() {..} id="input_release_notes_template_" name="input[release_notes_template]" rows="3" class=input_class(false)/>
                    </Field>
                    <Field label="Categories" name="input[categories]" error=err("categories") hint="Up to three, separated by commas.">
                        <input id="input_categories_" name="input[categories]" value=fields.categories.join(", ") class=move || input_class(err("categories").get().is_some())/>
                    </Field>
                    {can_edit.then(|| view! { <button type="submit" class=BUTTON data-testid="save-copy">"Save as a new revision"</button> })}
                </fieldset>
            </ActionForm>
        </Card>
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
    mark: ServerAction<MarkCopyForPublishing>,
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
    let can_mark = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::MarkCopyForPublishing));
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
                    {(can_mark && head.publish_marked_at.is_none()).then(|| view! {
                        <ActionForm action=mark attr:class="mt-2">
                            <input type="hidden" name="listing_id" value=listing_id/>
                            <input type="hidden" name="input[revision]" value=rev/>
                            <input type="hidden" name="input[comment]" value=""/>
                            <button class=BUTTON_SECONDARY data-testid="mark-publish">"Mark for publishing"</button>
                        </ActionForm>
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
    let data = Resource::new(
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
    let data = Resource::new(|| (), |_| get_approvals());
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
