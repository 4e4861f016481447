//! The process: workflows as boards of stages and tasks, the task page, and the maintenance
//! dashboard with each run's clock and a timeline of recent releases.

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, id_param};
use crate::{
    calendar::human_span,
    components::*,
    data::server_data,
    domain::*,
    dto::*,
    islands::{ServerForm, ShowWhen},
    rpc::{
        AddHoliday, AddTaskLink, ApproveLaunch, AssignTask, CommentOnTask, DeleteHoliday,
        SetTaskState, SignOffLaunch, StartFirstTimeImage, get_maintenance, get_task, get_workflow,
        list_partners, list_workflows,
    },
};

pub fn task_state_tone(state: TaskState) -> Tone {
    match state {
        TaskState::Todo => Tone::Gray,
        TaskState::InProgress => Tone::Blue,
        TaskState::WaitingOnPartner => Tone::Violet,
        TaskState::Done => Tone::Green,
        TaskState::Skipped => Tone::Gray,
    }
}

pub fn sla_tone(status: SlaStatus) -> Tone {
    match status {
        SlaStatus::OnTrack => Tone::Blue,
        SlaStatus::AtRisk => Tone::Amber,
        SlaStatus::Breached | SlaStatus::MetLate => Tone::Red,
        SlaStatus::MetOnTime => Tone::Green,
    }
}

/// A maintenance run's clock: its state and the business time left.
#[component]
pub fn SlaBadge(sla: Sla) -> impl IntoView {
    let left = chrono::Duration::minutes(sla.business_minutes_left);
    let text = match sla.status {
        SlaStatus::OnTrack | SlaStatus::AtRisk => {
            format!("{} · {} left", sla.status.label(), human_span(left))
        }
        SlaStatus::Breached => format!("Breached · {} late", human_span(left)),
        other => other.label().to_owned(),
    };
    view! {
        <span data-testid="sla" data-status=sla.status.as_str() title=format!("Due {} (3 business days after {})", sla.due_on, sla.released_on)>
            <Badge text tone=sla_tone(sla.status)/>
        </span>
    }
}

fn stage_tone(state: StageState) -> Tone {
    match state {
        StageState::Blocked => Tone::Gray,
        StageState::Active => Tone::Blue,
        StageState::Done => Tone::Green,
    }
}

fn workflow_state_tone(state: WorkflowState) -> Tone {
    match state {
        WorkflowState::Open => Tone::Blue,
        WorkflowState::Done => Tone::Green,
        WorkflowState::Launched => Tone::Violet,
    }
}

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        (
            q.get("kind").unwrap_or_default(),
            q.get("state").unwrap_or_default(),
            q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1_u64),
        )
    };
    let data = server_data(filter, |(kind, state, page)| {
        list_workflows(kind, state, page)
    });
    let can_start = move || current_user().is_some_and(|u| u.can(Permission::ManageWorkflows));
    let tab = move |label: &'static str, kind: &'static str, state: &'static str| {
        let active = move || {
            let (k, s, _) = filter();
            k == kind && s == state
        };
        view! {
            <a href=format!("/workflows?kind={kind}&state={state}")
               class=move || if active() { "px-3 py-1.5 rounded-md bg-violet-100 text-violet-800 text-sm font-medium" } else { "px-3 py-1.5 rounded-md text-sm text-gray-700 hover:bg-gray-100" }>
                {label}
            </a>
        }
    };
    view! {
        <Title text="Workflows"/>
        <PageHeader title="Workflows".into() subtitle="First-time images and release maintenance: stages owned by teams, with their tasks."/>
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <div class="flex flex-wrap gap-1 mb-3">
                    {tab("Open", "", "open")}
                    {tab("First-time images", "first_time_image", "")}
                    {tab("Maintenance", "maintenance", "")}
                    {tab("Launched", "", "launched")}
                    {tab("All", "", "")}
                </div>
                <Suspense fallback=Loading>
                    {move || Suspend::new(async move {
                        match data.await {
                            Ok(p) => {
                                let (kind, state, _) = filter();
                                view! {
                                    <Card>
                                        {p.items.is_empty().then(|| view! { <p class="text-sm text-gray-500">"Nothing here."</p> })}
                                        <table class=TABLE data-testid="workflows">
                                            <thead><tr><th class=TH>"Workflow"</th><th class=TH>"Partner"</th><th class=TH>"Tasks"</th><th class=TH>"State"</th></tr></thead>
                                            <tbody>
                                                {p.items.clone().into_iter().map(|w| view! { <WorkflowRow w/> }).collect_view()}
                                            </tbody>
                                        </table>
                                        <Pager base=format!("/workflows?kind={kind}&state={state}") page=p.page pages=p.pages() total=p.total/>
                                    </Card>
                                }.into_any()
                            }
                            Err(error) => view! { <ErrorBox error/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <div>
                <Show when=can_start>
                    <StartFirstTime/>
                </Show>
            </div>
        </div>
    }
}

#[component]
fn WorkflowRow(w: WorkflowSummary) -> impl IntoView {
    view! {
        <tr>
            <td class=TD>
                <a class=LINK href=format!("/workflows/{}", w.id)>{w.title.clone()}</a>
                <div class="text-xs text-gray-500 mt-0.5 flex gap-1 items-center">
                    {w.kind.label()}
                    {w.security.then(|| view! { <Badge text="security" tone=Tone::Red/> })}
                    {(w.escalations > 0).then(|| view! { <Badge text=format!("{} escalated", w.escalations) tone=Tone::Red/> })}
                </div>
            </td>
            <td class=TD>{w.partner_name.clone()}</td>
            <td class=TD>{format!("{} / {}", w.tasks_done, w.tasks_total)}</td>
            <td class=TD>
                {match w.sla.clone() {
                    Some(sla) if w.state == WorkflowState::Open || sla.image_out_at.is_some() => view! { <SlaBadge sla/> }.into_any(),
                    _ => view! { <Badge text=w.state.label() tone=workflow_state_tone(w.state)/> }.into_any(),
                }}
            </td>
        </tr>
    }
}

#[component]
fn StartFirstTime() -> impl IntoView {
    let partners = server_data(|| (), |_| list_partners(1));
    view! {
        <Card title="Start a first-time image">
            <p class="text-sm text-gray-600 mb-3">"Opens the handbook's three stages: Introduction & scope first, then Technical implementation and Marketing side by side."</p>
            <ServerForm action=StartFirstTimeImage::PATH testid="first-time-form">
                <Field label="Partner" name="input[partner]">
                    <select id="input_partner_" name="input[partner]" class=INPUT>
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                partners.await.map(|p| p.items.into_iter().map(|p| view! {
                                    <option value=p.slug.clone()>{p.name.clone()}</option>
                                }).collect_view()).unwrap_or_default()
                            })}
                        </Suspense>
                    </select>
                </Field>
                <Field label="Product (slug, optional)" name="input[product]" hint="Leave empty while the product is being scoped.">
                    <input id="input_product_" name="input[product]" class=INPUT placeholder="gitlab-ultimate"/>
                </Field>
                <button type="submit" class=BUTTON>"Start"</button>
            </ServerForm>
        </Card>
    }
}

#[component]
pub fn WorkflowPage() -> impl IntoView {
    let id = id_param("id");
    let data = server_data(id, get_workflow);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let w = match data.await {
                    Ok(w) => w,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                let s = w.summary.clone();
                let subtitle = format!(
                    "{}{} · opened {}",
                    s.partner_name,
                    s.product_name.as_ref().map(|p| format!(" · {p}")).unwrap_or_default(),
                    s.created_at.format("%Y-%m-%d")
                );
                // Whole class names, so Tailwind finds them in the source.
                let columns = match w.stages.len() {
                    0 | 1 => "grid gap-4 grid-cols-1",
                    2 => "grid gap-4 grid-cols-1 md:grid-cols-2",
                    3 => "grid gap-4 grid-cols-1 md:grid-cols-3",
                    _ => "grid gap-4 grid-cols-1 md:grid-cols-4",
                };
                view! {
                    <Title text=s.title.clone()/>
                    <PageHeader title=s.title.clone() subtitle=subtitle>
                        <span data-testid="workflow-state"><Badge text=s.state.label() tone=workflow_state_tone(s.state)/></span>
                        {s.security.then(|| view! { <Badge text="security" tone=Tone::Red/> })}
                        {s.sla.clone().map(|sla| view! { <SlaBadge sla/> })}
                    </PageHeader>
                    <div class=columns data-testid="board">
                        {w.stages.clone().into_iter().map(|stage| view! { <StageColumn stage stages=w.stages.clone()/> }).collect_view()}
                    </div>
                    {w.launch.clone().map(|gate| view! {
                        <LaunchPanel workflow=w.clone() gate/>
                    })}
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn StageColumn(stage: Stage, stages: Vec<Stage>) -> impl IntoView {
    let after: Vec<String> = stage
        .depends_on
        .iter()
        .filter_map(|k| stages.iter().find(|s| &s.key == k).map(|s| s.name.clone()))
        .collect();
    let dim = if stage.state == StageState::Blocked {
        " opacity-70"
    } else {
        ""
    };
    view! {
        <section class=format!("rounded-lg border border-gray-200 bg-gray-100/70 p-3{dim}") data-testid=format!("stage-{}", stage.key) data-state=stage.state.as_str()>
            <header class="mb-3">
                <div class="flex items-center justify-between gap-2">
                    <h2 class="font-semibold text-gray-800">{stage.name.clone()}</h2>
                    <Badge text=stage.state.label() tone=stage_tone(stage.state)/>
                </div>
                <p class="text-xs text-gray-500 mt-0.5">
                    {format!("Owned by {}", stage.team.label())}
                    {(!after.is_empty()).then(|| format!(" · after {}", after.join(", ")))}
                </p>
            </header>
            <ul class="space-y-2">
                {stage.tasks.into_iter().map(|t| view! { <TaskCard t/> }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn TaskCard(t: Task) -> impl IntoView {
    view! {
        <li class="rounded-md bg-white border border-gray-200 shadow-sm p-2.5 text-sm" data-testid=format!("task-{}", t.id)>
            <a class="font-medium text-gray-900 hover:text-violet-700" href=format!("/tasks/{}", t.id)>{t.title.clone()}</a>
            <div class="mt-1.5 flex flex-wrap items-center gap-1.5 text-xs text-gray-600">
                <Badge text=t.state.label() tone=task_state_tone(t.state)/>
                {(!t.required).then(|| view! { <Badge text="optional" tone=Tone::Gray/> })}
                {t.escalated_at.map(|_| view! { <span data-testid="escalated"><Badge text="escalated to Partnerships" tone=Tone::Red/></span> })}
                {t.assignee.clone().map(|a| view! { <span>{format!("@{}", a.username)}</span> })}
                {t.due_on.map(|d| view! { <span>{format!("due {d}")}</span> })}
                {t.job_id.map(|j| view! { <a class=LINK href=format!("/jobs/{j}")>{format!("job #{j}")}</a> })}
            </div>
        </li>
    }
}

#[component]
fn LaunchPanel(workflow: Workflow, gate: LaunchGate) -> impl IntoView {
    let id = workflow.summary.id;
    let user = current_user();
    let launched = workflow.summary.state == WorkflowState::Launched;
    let can_launch = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::ManageWorkflows))
        && !launched;
    let check = |ok: bool, text: String| {
        view! {
            <li class="flex items-start gap-2">
                <span class=if ok { "text-green-700 font-bold" } else { "text-gray-400 font-bold" }>{if ok { "✓" } else { "○" }}</span>
                <span>{text}</span>
            </li>
        }
    };
    let copy_text = match (gate.listing_id, gate.approved_revision) {
        (_, Some(r)) => format!("Listing copy approved (revision id {r})"),
        (Some(_), None) => "Listing copy approved by Partnerships and Omnibus".to_owned(),
        (None, None) => "Listing copy approved (the product needs a listing)".to_owned(),
    };
    view! {
        <Card title="Launch">
            <div class="grid md:grid-cols-2 gap-6" data-testid="launch">
                <div>
                    <ul class="space-y-1.5 text-sm">
                        {check(gate.technical_done, "Technical implementation done".to_owned())}
                        {check(gate.copy_approved, copy_text)}
                        {gate.listing_id.map(|l| view! { <li class="pl-6"><a class=LINK href=format!("/listings/{l}/copy")>"Open the copy editor"</a></li> })}
                        {check(gate.missing_sign_offs.is_empty(), "Signed off by Partnerships, Omnibus and Marketing".to_owned())}
                    </ul>
                    {launched.then(|| view! {
                        <p class="mt-4 text-sm text-violet-800" data-testid="launched">
                            {format!("Launched: approved by {} on {}", workflow.launched_by.clone().unwrap_or_default(), workflow.launched_at.map(when).unwrap_or_default())}
                        </p>
                    })}
                    {(!launched && !gate.ready()).then(|| view! {
                        <p class="mt-4 text-sm text-gray-600">{format!("Waiting for: {}.", gate.blockers.join("; "))}</p>
                    })}
                    {can_launch.then(|| view! {
                        <ServerForm action=ApproveLaunch::PATH class="mt-4">
                            <input type="hidden" name="id" value=id/>
                            <button class=BUTTON data-testid="approve-launch">"Approve the launch"</button>
                        </ServerForm>
                    })}
                </div>
                <div>
                    <h3 class="text-sm font-semibold mb-2">"Sign-offs"</h3>
                    <table class=TABLE data-testid="sign-offs">
                        <tbody>
                            {SIGN_OFF_TEAMS.iter().map(|team| {
                                let team = *team;
                                let done = workflow.sign_offs.iter().find(|s| s.team == team).cloned();
                                let mine = user.as_ref().is_some_and(|u| u.has(team));
                                view! {
                                    <tr>
                                        <td class=TD>{team.label()}</td>
                                        <td class=TD>
                                            {match done {
                                                Some(s) => view! {
                                                    <span class="text-green-800">{format!("✓ {} · {}", s.username, when(s.at))}</span>
                                                    {(!s.comment.is_empty()).then(|| view! { <p class="text-xs text-gray-500">{s.comment.clone()}</p> })}
                                                }.into_any(),
                                                None if mine && !launched => view! {
                                                    <ServerForm action=SignOffLaunch::PATH>
                                                        <input type="hidden" name="id" value=id/>
                                                        <input type="hidden" name="input[team]" value=team.as_str()/>
                                                        <input type="hidden" name="input[comment]" value=""/>
                                                        <button class=BUTTON_SECONDARY data-testid=format!("sign-off-{}", team.as_str())>{format!("Sign off for {}", team.label())}</button>
                                                    </ServerForm>
                                                }.into_any(),
                                                None => view! { <span class="text-gray-500">"waiting"</span> }.into_any(),
                                            }}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </div>
        </Card>
    }
}

#[component]
pub fn TaskPage() -> impl IntoView {
    let id = id_param("id");
    let data = server_data(id, get_task);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <TaskView d/> }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The marketing assets linked to a task (the blog post, the quote), each with what opens
/// it: its page, its file or its link.
#[component]
fn TaskAssets(assets: Vec<AssetRef>) -> impl IntoView {
    (!assets.is_empty()).then(|| {
        view! {
            <h3 class="mt-5 text-sm font-semibold">"Marketing assets"</h3>
            <ul class="mt-1 space-y-1 text-sm" data-testid="task-assets">
                {assets.into_iter().map(|a| view! {
                    <li class="flex flex-wrap items-center gap-2" data-kind=a.kind.as_str()>
                        <Badge text=a.kind.label() tone=Tone::Violet/>
                        <a class=LINK href=format!("/assets/{}", a.id)>{a.title.clone()}</a>
                        <span class="text-xs text-gray-500">{format!("version {}", a.version)}</span>
                        {a.link.clone().map(|link| view! {
                            <a class=format!("{LINK} text-xs break-all") href=link.clone() rel="noopener noreferrer" target="_blank">{link.clone()}</a>
                        })}
                        {a.url.clone().map(|url| view! { <a class=format!("{LINK} text-xs") href=url>"file"</a> })}
                        {(a.kind == AssetKind::CustomerQuote).then(|| view! { <super::catalogue::AgreementBadge agreed=a.customer_agreed/> })}
                    </li>
                }).collect_view()}
            </ul>
        }
    })
}

#[component]
fn TaskView(d: TaskDetail) -> impl IntoView {
    let t = d.task.clone();
    let id = t.id;
    let user = current_user();
    let may_work = user.as_ref().is_some_and(|u| {
        u.has(t.team)
            || (t.escalated_at.is_some() && u.has(Role::Partnerships))
            || u.can(Permission::WorkOnAnyTask)
    });
    let may_comment = user
        .as_ref()
        .is_some_and(|u| u.can(Permission::WorkOnTasks));
    let subtitle = format!(
        "{} · stage {} · {}",
        d.workflow.title,
        d.stage_name,
        t.team.label()
    );
    let waiting = t.state == TaskState::WaitingOnPartner;
    let (current_state, required) = (t.state, t.required);
    let assignee_id = t.assignee.as_ref().map(|a| a.id);
    let due_value = t.due_on.map(|d| d.to_string()).unwrap_or_default();
    let response_value = t.response_due_on.map(|d| d.to_string()).unwrap_or_default();
    view! {
        <Title text=t.title.clone()/>
        <p class="text-sm mb-2"><a class=LINK href=format!("/workflows/{}", d.workflow.id)>{format!("← {}", d.workflow.title)}</a></p>
        <PageHeader title=t.title.clone() subtitle=subtitle>
            <span data-testid="task-state"><Badge text=t.state.label() tone=task_state_tone(t.state)/></span>
            {t.escalated_at.map(|at| view! { <span title=when(at) data-testid="escalated"><Badge text="escalated to Partnerships" tone=Tone::Red/></span> })}
        </PageHeader>
        {(d.stage_state == StageState::Blocked).then(|| view! {
            <div class="rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900 mb-4" data-testid="blocked">
                {format!("This stage starts when {} is done.", d.blocked_by.join(" and "))}
            </div>
        })}
        <div class="grid lg:grid-cols-3 gap-6">
            <div class="lg:col-span-2">
                <Card title="About">
                    <p class="text-sm text-gray-800 whitespace-pre-line">{t.description.clone()}</p>
                    <dl class="mt-4 grid grid-cols-2 gap-2 text-sm">
                        <dt class="text-gray-500">"Assignee"</dt><dd>{t.assignee.clone().map_or_else(|| "nobody".to_owned(), |a| a.name)}</dd>
                        <dt class="text-gray-500">"Due"</dt><dd>{t.due_on.map_or_else(|| "—".to_owned(), |d| d.to_string())}</dd>
                        {t.response_due_on.map(|d| view! { <dt class="text-gray-500">"Partner must answer by"</dt><dd>{d.to_string()}</dd> })}
                        {t.job_id.map(|j| view! { <dt class="text-gray-500">"Build job"</dt><dd><a class=LINK href=format!("/jobs/{j}")>{format!("#{j}")}</a>{t.job_state.map(|s| format!(" · {}", s.label()))}</dd> })}
                        {t.completed_at.map(|at| view! { <dt class="text-gray-500">"Completed"</dt><dd>{format!("{} by {}", when(at), t.completed_by.clone().unwrap_or_default())}</dd> })}
                    </dl>
                    <h3 class="mt-5 text-sm font-semibold">"Links"</h3>
                    <ul class="text-sm list-disc pl-5" data-testid="links">
                        {t.links.clone().into_iter().map(|l| view! { <li><a class=LINK href=l.url.clone() rel="noopener noreferrer">{l.label.clone()}</a></li> }).collect_view()}
                    </ul>
                    <TaskAssets assets=t.assets.clone()/>
                    {may_work.then(|| view! {
                        <ServerForm action=AddTaskLink::PATH class="mt-2 flex flex-wrap gap-2 items-start">
                            <input type="hidden" name="id" value=id/>
                            <div data-field="label" data-field-id="input_label_"><input name="input[label]" placeholder="Label" aria-label="Label" class=INPUT/></div>
                            <div class="flex-1" data-field="url" data-field-id="input_url_"><input name="input[url]" placeholder="https://gitlab.com/…" aria-label="Address" class=INPUT/></div>
                            <button class=BUTTON_SECONDARY>"Add link"</button>
                        </ServerForm>
                    })}
                </Card>
                <Card title="Comments">
                    <ul class="space-y-3 mb-4" data-testid="comments">
                        {d.comments.clone().into_iter().map(|c| view! {
                            <li class="text-sm">
                                <p class="text-xs text-gray-500">{format!("{} · {}", c.author, when(c.created_at))}</p>
                                <p class="whitespace-pre-line">{c.body.clone()}</p>
                            </li>
                        }).collect_view()}
                    </ul>
                    {may_comment.then(|| view! {
                        <ServerForm action=CommentOnTask::PATH>
                            <input type="hidden" name="id" value=id/>
                            <Field label="Add a comment" name="body">
                                <TextArea {..} id="body" name="body" rows="3" class=INPUT/>
                            </Field>
                            <button class=BUTTON_SECONDARY>"Comment"</button>
                        </ServerForm>
                    })}
                </Card>
            </div>
            <div>
                {may_work.then(|| view! {
                    <Card title="Progress">
                        <ServerForm action=SetTaskState::PATH testid="state-form">
                            <input type="hidden" name="id" value=id/>
                            <Field label="State" name="input[state]">
                                <select id="input_state_" name="input[state]" class=INPUT>
                                    {TaskState::ALL.iter().filter(|s| !required || **s != TaskState::Skipped).map(|s| view! {
                                        <option value=s.as_str() selected=*s == current_state>{s.label()}</option>
                                    }).collect_view()}
                                </select>
                            </Field>
                            <ShowWhen select="input[state]".to_owned() value=TaskState::WaitingOnPartner.as_str().to_owned() shown=waiting>
                                <Field label="The partner must answer by" name="input[response_due_on]" hint="Past this day the task escalates to Partnerships.">
                                    <input id="input_response_due_on_" type="date" name="input[response_due_on]" class=INPUT
                                        value=response_value/>
                                </Field>
                            </ShowWhen>
                            <button class=BUTTON data-testid="save-state">"Update"</button>
                        </ServerForm>
                    </Card>
                    <Card title="Assignment">
                        <ServerForm action=AssignTask::PATH>
                            <input type="hidden" name="id" value=id/>
                            <Field label="Assignee" name="input[assignee]">
                                <select id="input_assignee_" name="input[assignee]" class=INPUT>
                                    <option value="">"Nobody"</option>
                                    {d.assignable.clone().into_iter().map(|u| {
                                        let selected = assignee_id == Some(u.id);
                                        view! { <option value=u.username.clone() selected=selected>{u.name.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            </Field>
                            <Field label="Due date" name="input[due_on]">
                                <input id="input_due_on_" type="date" name="input[due_on]" class=INPUT value=due_value/>
                            </Field>
                            <button class=BUTTON_SECONDARY>"Save"</button>
                        </ServerForm>
                    </Card>
                })}
            </div>
        </div>
    }
}

#[component]
pub fn MaintenancePage() -> impl IntoView {
    let data = server_data(|| (), |_| get_maintenance());
    let is_admin = move || current_user().is_some_and(|u| u.can(Permission::Administer));
    view! {
        <Title text="Maintenance"/>
        <PageHeader title="Release maintenance".into() subtitle="Every release opens a run per image-maintained product; images are due three business days after the release."/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let b = match data.await {
                    Ok(b) => b,
                    Err(error) => return view! { <ErrorBox error/> }.into_any(),
                };
                view! {
                    <Card title="Open runs">
                        {b.open.is_empty().then(|| view! { <p class="text-sm text-gray-500">"No open maintenance runs."</p> })}
                        <table class=TABLE data-testid="open-runs">
                            <thead><tr><th class=TH>"Run"</th><th class=TH>"Partner"</th><th class=TH>"Tasks"</th><th class=TH>"Due"</th><th class=TH>"Clock"</th></tr></thead>
                            <tbody>
                                {b.open.clone().into_iter().map(|w| view! {
                                    <tr>
                                        <td class=TD><a class=LINK href=format!("/workflows/{}", w.id)>{w.title.clone()}</a></td>
                                        <td class=TD>{w.partner_name.clone()}</td>
                                        <td class=TD>{format!("{} / {}", w.tasks_done, w.tasks_total)}</td>
                                        <td class=TD>{w.sla.as_ref().map(|s| s.due_on.to_string()).unwrap_or_default()}</td>
                                        <td class=TD>{w.sla.clone().map(|sla| view! { <SlaBadge sla/> })}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </Card>
                    <Card title="Recent releases: from the release to the last image out">
                        <Timeline rows=b.timeline.clone()/>
                    </Card>
                    <Card title="Holidays">
                        <p class="text-sm text-gray-600 mb-3">"Days that do not count on the clock, besides weekends."</p>
                        <ul class="text-sm mb-4" data-testid="holidays">
                            {b.holidays.clone().into_iter().map(|h| view! {
                                <li class="flex items-center gap-3 py-1">
                                    <span class="w-28 font-mono">{h.day.to_string()}</span>
                                    <span class="flex-1">{h.name.clone()}</span>
                                    <Show when=is_admin>
                                        <ServerForm action=DeleteHoliday::PATH>
                                            <input type="hidden" name="id" value=h.id/>
                                            <button class="text-xs text-red-700 hover:underline">"Remove"</button>
                                        </ServerForm>
                                    </Show>
                                </li>
                            }).collect_view()}
                        </ul>
                        <Show when=is_admin>
                            <ServerForm action=AddHoliday::PATH class="flex flex-wrap gap-2 items-start">
                                <div data-field="day" data-field-id="input_day_"><input type="date" name="input[day]" aria-label="Day" class=INPUT/></div>
                                <div data-field="name" data-field-id="input_name_"><input name="input[name]" placeholder="Name" aria-label="Name" class=INPUT/></div>
                                <button class=BUTTON_SECONDARY>"Add holiday"</button>
                            </ServerForm>
                        </Show>
                    </Card>
                }.into_any()
            })}
        </Suspense>
    }
}

/// Bars from each release's day to its last image out (or now), against its deadline.
#[component]
fn Timeline(rows: Vec<TimelineRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="text-sm text-gray-500">"No maintenance runs yet."</p> }
            .into_any();
    }
    let span = rows
        .iter()
        .map(|r| r.due_days.max(r.out_days))
        .fold(5.0_f64, f64::max)
        .ceil()
        + 1.0;
    let (label_w, chart_w, row_h) = (170.0, 560.0, 28.0);
    let x = move |days: f64| label_w + days / span * chart_w;
    let height = rows.len() as f64 * row_h + 30.0;
    let width = label_w + chart_w + 10.0;
    let ticks: Vec<f64> = (0..=span as i64).map(|d| d as f64).collect();
    view! {
        <svg viewBox=format!("0 0 {width} {height}") class="w-full max-w-4xl" role="img" aria-label="Days from each release to its last image, against its due date" data-testid="timeline">
            {ticks.into_iter().map(|d| view! {
                <line x1=x(d) x2=x(d) y1="0" y2=height - 20.0 stroke="#e5e7eb" stroke-width="1"/>
                <text x=x(d) y=height - 6.0 font-size="10" fill="#6b7280" text-anchor="middle">{format!("{d}d")}</text>
            }).collect_view()}
            {rows.into_iter().enumerate().map(|(i, r)| {
                let y = i as f64 * row_h + 4.0;
                let colour = match r.status {
                    SlaStatus::MetOnTime => "#16a34a",
                    SlaStatus::OnTrack => "#2563eb",
                    SlaStatus::AtRisk => "#d97706",
                    SlaStatus::Breached | SlaStatus::MetLate => "#dc2626",
                };
                let title = format!(
                    "{}: released {}, due {}, {}",
                    r.release,
                    r.released_on,
                    r.due_on,
                    r.image_out_at.map_or_else(|| "images not all out yet".to_owned(), |t| format!("last image out {}", when(t)))
                );
                view! {
                    <g data-release=r.release.clone() data-status=r.status.as_str()>
                        <title>{title}</title>
                        <text x="0" y=y + 15.0 font-size="12" fill="#111827">{format!("{}{}", r.release, if r.security { " (security)" } else { "" })}</text>
                        <rect x=x(0.0) y=y + 4.0 width=(x(r.out_days) - x(0.0)).max(2.0) height="14" rx="3" fill=colour opacity=if r.image_out_at.is_some() { "1" } else { "0.55" }/>
                        <line x1=x(r.due_days) x2=x(r.due_days) y1=y y2=y + 22.0 stroke="#111827" stroke-width="2" stroke-dasharray="3 2"/>
                    </g>
                }
            }).collect_view()}
        </svg>
        <p class="mt-2 text-xs text-gray-600">"Bar: release day to the last image out (faded while images are still out). Dashed line: the due date, three business days after the release."</p>
    }
    .into_any()
}
