//! Release trains: one page per train (every build, publish and maintenance run, with what
//! each waits for, and a timeline against the due date), kept current while the train
//! moves; the list of trains; the dashboard's card; and the policy controls that say
//! whether a product's builds and a listing's publishes run by themselves.

use chrono::{DateTime, NaiveDate, Utc};
use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    current_user,
    jobs::{ProgressBar, job_state_tone},
    page_param,
    process::{SlaBadge, sla_tone},
};
use crate::{
    components::*,
    data::{Data, server_data},
    domain::*,
    dto::*,
    error::AppError,
    islands::{Live, ServerForm},
    rpc::{
        SetBuildPolicy, SetPublishPolicy, get_release_train, get_train, list_trains, newest_train,
    },
};

pub fn train_state_tone(state: TrainState) -> Tone {
    match state {
        TrainState::Running => Tone::Blue,
        TrainState::Waiting => Tone::Amber,
        TrainState::Stopped => Tone::Red,
        TrainState::Done => Tone::Green,
    }
}

pub fn step_state_tone(state: TrainStepState) -> Tone {
    match state {
        TrainStepState::Pending | TrainStepState::Skipped => Tone::Gray,
        TrainStepState::Waiting => Tone::Amber,
        TrainStepState::Running => Tone::Blue,
        TrainStepState::Manual => Tone::Violet,
        TrainStepState::Failed => Tone::Red,
        TrainStepState::Done => Tone::Green,
    }
}

/// The train's progress bar, coloured as the job bars are.
fn train_bar_state(state: TrainState) -> JobState {
    match state {
        TrainState::Running => JobState::Running,
        TrainState::Waiting => JobState::Blocked,
        TrainState::Stopped => JobState::Failed,
        TrainState::Done => JobState::Succeeded,
    }
}

/// Which train a page shows: a release's, or one by its id.
#[derive(Debug, Clone, PartialEq)]
enum TrainKey {
    Release(String),
    Id(i32),
}

async fn fetch_train(key: TrainKey) -> Result<ReleaseTrain, AppError> {
    match key {
        TrainKey::Release(version) => get_release_train(version).await,
        TrainKey::Id(id) => get_train(id).await,
    }
}

type TrainResource = Data<Result<ReleaseTrain, AppError>>;

/// `/releases/:version/train` and `/trains/:id`: the train, following the server every few
/// seconds until it is done.
#[component]
pub fn TrainPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        match p.get("version") {
            Some(version) => TrainKey::Release(version),
            None => TrainKey::Id(p.get("id").and_then(|v| v.parse().ok()).unwrap_or(0)),
        }
    };
    let data: TrainResource = server_data(key, fetch_train);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(train) => {
                        let moving = train.state != TrainState::Done;
                        view! {
                            <Live id="train".to_owned() active=moving every_ms=2500>
                                <TrainView train/>
                            </Live>
                        }.into_any()
                    }
                    Err(error) => view! {
                        <Title text="Release train"/>
                        <PageHeader title="Release train".into()/>
                        <ErrorBox error/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TrainView(train: ReleaseTrain) -> impl IntoView {
    let (builds, publishes): (Vec<TrainStep>, Vec<TrainStep>) = train
        .steps
        .iter()
        .cloned()
        .partition(|s| s.kind == TrainStepKind::Build);
    let done = train
        .steps
        .iter()
        .filter(|s| s.state == TrainStepState::Done)
        .count();
    let waiting = train
        .steps
        .iter()
        .filter(|s| matches!(s.state, TrainStepState::Waiting | TrainStepState::Manual))
        .count();
    let failed = train
        .steps
        .iter()
        .filter(|s| s.state == TrainStepState::Failed)
        .count();
    let finished = train
        .finished_at
        .map(|at| format!(" · finished {}", when(at)));
    let runs = train.runs.clone();
    let total = train.steps.len();
    view! {
        <Title text=train.title.clone()/>
        <PageHeader title=train.title.clone() subtitle=train.catalyst.clone()>
            <span data-testid="train-state" data-state=train.state.as_str()>
                <Badge text=train.state.label() tone=train_state_tone(train.state)/>
            </span>
        </PageHeader>
        <Card>
            <div class="flex flex-wrap items-center justify-between gap-3 mb-3 text-sm">
                <p class="text-gray-700" data-testid="train-clock">
                    {format!("Clock started {} · due {} (end of day, 3 business days)", train.started_on, train.due_on)}
                    {finished}
                </p>
                <span data-testid="train-sla" data-status=train.sla.as_str()>
                    <Badge text=train.sla.label() tone=sla_tone(train.sla)/>
                </span>
            </div>
            <ProgressBar percent=train.progress state=train_bar_state(train.state)/>
            <p class="mt-2 text-sm text-gray-600" data-testid="train-counts">
                {format!("{}% · {done} of {total} steps done", train.progress)}
                {(waiting > 0).then(|| view! { <span class="text-amber-800 font-medium">{format!(" · {waiting} waiting")}</span> })}
                {(failed > 0).then(|| view! { <span class="text-red-700 font-medium">{format!(" · {failed} failed")}</span> })}
            </p>
        </Card>
        <StepsCard title="Image builds" steps=builds empty="No image builds in this train."/>
        <StepsCard title="Marketplace publishes" steps=publishes empty="No marketplace listing publishes in this train."/>
        <Card title="Maintenance runs">
            {if runs.is_empty() {
                view! { <p class="text-sm text-gray-500">"No maintenance runs for this train."</p> }.into_any()
            } else {
                view! {
                    <ul class="divide-y divide-gray-100 text-sm" data-testid="train-runs">
                        {runs.into_iter().map(|w| view! {
                            <li class="py-2 flex flex-wrap items-center justify-between gap-3" data-state=w.state.as_str()>
                                <a class=LINK href=format!("/workflows/{}", w.id)>{w.title.clone()}</a>
                                <span class="flex items-center gap-3">
                                    <span class="text-gray-600">{format!("{} / {} tasks done", w.tasks_done, w.tasks_total)}</span>
                                    {w.sla.clone().map(|sla| view! { <SlaBadge sla/> })}
                                </span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </Card>
        <Card title="Timeline: from the start of the clock to each image out and each version live">
            <TrainTimelineView train/>
        </Card>
    }
}

/// A table of the train's builds or publishes.
#[component]
fn StepsCard(title: &'static str, steps: Vec<TrainStep>, empty: &'static str) -> impl IntoView {
    let table = if steps.is_empty() {
        view! { <p class="text-sm text-gray-500">{empty}</p> }.into_any()
    } else {
        view! {
            <table class=format!("{TABLE} table-fixed") data-testid="train-steps">
                <colgroup>
                    <col class="w-[26%]"/><col class="w-[11%]"/><col class="w-[22%]"/><col class="w-[29%]"/><col class="w-[12%]"/>
                </colgroup>
                <thead><tr>
                    <th class=TH>"Step"</th><th class=TH>"State"</th><th class=TH>"Job"</th>
                    <th class=TH>"Waiting for"</th><th class=TH>"Policy"</th>
                </tr></thead>
                <tbody>{steps.into_iter().map(|s| view! { <StepRow step=s/> }).collect_view()}</tbody>
            </table>
        }
        .into_any()
    };
    view! { <Card title=title>{table}</Card> }
}

#[component]
fn StepRow(step: TrainStep) -> impl IntoView {
    let target = match (step.kind, step.listing_id, step.image_version_id) {
        (TrainStepKind::Publish, Some(listing), _) => Some(format!("/listings/{listing}")),
        (_, _, Some(image)) => Some(format!("/images/{image}")),
        _ => None,
    };
    let detail = match (&step.listing, step.arch) {
        (Some(listing), _) => format!("{} · {listing}", step.product_name),
        (None, Some(arch)) => format!("{} · {}", step.product_name, arch.label()),
        (None, None) => step.product_name.clone(),
    };
    let label = match target {
        Some(href) => view! { <a class=LINK href=href>{step.label.clone()}</a> }.into_any(),
        None => view! { <span>{step.label.clone()}</span> }.into_any(),
    };
    let job = step.job.clone().map_or_else(
        || view! { <span class="text-gray-400">"—"</span> }.into_any(),
        |j| {
            view! {
                <div>
                    <div class="flex items-center justify-between gap-2 text-xs mb-1">
                        <a class=LINK href=format!("/jobs/{}", j.id) data-testid="step-job">{format!("#{}", j.id)}</a>
                        <Badge text=j.state.label() tone=job_state_tone(j.state)/>
                    </div>
                    <ProgressBar percent=j.progress state=j.state/>
                    <p class="mt-1 text-xs text-gray-600 truncate" title=j.step.clone()>{format!("{}% · {}", j.progress, j.step)}</p>
                </div>
            }
            .into_any()
        },
    );
    let wait = (!step.wait.is_empty()).then(|| {
        let class = match step.state {
            TrainStepState::Failed => "border-red-200 bg-red-50 text-red-800",
            TrainStepState::Waiting | TrainStepState::Manual | TrainStepState::Pending => {
                "border-amber-200 bg-amber-50 text-amber-900 font-medium"
            }
            _ => "border-gray-200 bg-gray-50 text-gray-700",
        };
        view! {
            <p class=format!("rounded-md border px-2 py-1 text-sm break-words {class}") data-testid="step-wait">{step.wait.clone()}</p>
        }
    });
    let policy_tone = match step.policy {
        Policy::Automatic => Tone::Gray,
        Policy::Manual => Tone::Violet,
    };
    view! {
        <tr data-testid="train-step" data-key=step.key.clone() data-kind=step.kind.as_str() data-state=step.state.as_str()>
            <td class=TD>
                <div class="font-medium break-words">{label}</div>
                <div class="text-xs text-gray-500 break-words">{detail}</div>
                {step.rebuild_of.map(|old| view! {
                    <div class="text-xs text-gray-500">"Rebuilds "<a class=LINK href=format!("/images/{old}")>"the image it replaces"</a></div>
                })}
            </td>
            <td class=TD><span data-testid="step-state"><Badge text=step.state.label() tone=step_state_tone(step.state)/></span></td>
            <td class=TD>{job}</td>
            <td class=TD>{wait}</td>
            <td class=TD><Badge text=step.policy.label() tone=policy_tone/></td>
        </tr>
    }
}

/// Days from midnight UTC of `start` to `at`.
fn days_since(start: NaiveDate, at: DateTime<Utc>) -> f64 {
    start.and_hms_opt(0, 0, 0).map_or(0.0, |origin| {
        (at - origin.and_utc()).num_seconds() as f64 / 86_400.0
    })
}

/// One bar per step from the start of the clock: to its image out or version live (green
/// on time, red late), to where it failed, or faded up to now while it is under way; a
/// dashed line at the due date and a line at now. Plain boxes placed by percentages.
#[component]
fn TrainTimelineView(train: ReleaseTrain) -> impl IntoView {
    let timeline = train.timeline.clone();
    let failed_days = |s: &TrainStep| {
        (s.state == TrainStepState::Failed)
            .then_some(s.finished_at)
            .flatten()
            .map(|at| days_since(train.started_on, at))
    };
    let furthest = train
        .steps
        .iter()
        .filter_map(failed_days)
        .chain(timeline.milestones.iter().map(|m| m.days))
        .fold(timeline.due_days.max(timeline.now_days), f64::max);
    let span = (furthest.ceil() + 0.5).max(1.0);
    let pct = move |days: f64| (days / span * 100.0).clamp(0.0, 100.0);
    let due = pct(timeline.due_days);
    let now = pct(timeline.now_days);
    let late_now = timeline.now_days > timeline.due_days;
    let now_label = if train.state == TrainState::Done {
        "finished"
    } else {
        "now"
    };
    let guides = move || {
        view! {
            <div class="absolute inset-y-0 border-l-2 border-dashed border-gray-700" style=format!("left: {due:.3}%")></div>
            <div class="absolute inset-y-0 border-l-2 border-violet-600" style=format!("left: {now:.3}%")></div>
        }
    };
    let ticks: Vec<i64> = (0..=span.floor() as i64).collect();
    let rows = train
        .steps
        .iter()
        .map(|s| {
            let milestone = timeline.milestones.iter().find(|m| m.step_key == s.key);
            let (width, class, mark, title, on_time) = if let Some(m) = milestone {
                let what = match m.kind {
                    TrainStepKind::Build => "image out",
                    TrainStepKind::Publish => "version live",
                };
                (
                    pct(m.days),
                    if m.on_time { "bg-green-600" } else { "bg-red-600" },
                    true,
                    format!(
                        "{}: {what} {} (day {:.1}), {}",
                        s.label,
                        when(m.at),
                        m.days,
                        if m.on_time { "on time" } else { "late" }
                    ),
                    Some(m.on_time),
                )
            } else if let Some(days) = failed_days(s) {
                (
                    pct(days),
                    "bg-red-300",
                    false,
                    format!("{}: failed (day {days:.1})", s.label),
                    None,
                )
            } else if s.state == TrainStepState::Skipped {
                (0.0, "", false, format!("{}: skipped", s.label), None)
            } else {
                (
                    now,
                    if late_now {
                        "bg-red-300"
                    } else {
                        "bg-violet-300"
                    },
                    false,
                    format!("{}: {}", s.label, s.state.label().to_lowercase()),
                    None,
                )
            };
            let skipped = s.state == TrainStepState::Skipped;
            view! {
                <div class="flex items-stretch" data-testid="timeline-row" data-key=s.key.clone()
                    data-on-time=on_time.map(|t| t.to_string())>
                    <div class="w-64 shrink-0 pr-3 py-1 text-xs text-gray-800 truncate" title=title.clone()>{s.label.clone()}</div>
                    <div class="relative flex-1 h-7 bg-gray-50" title=title>
                        {guides()}
                        {(!skipped).then(|| view! {
                            <div class=format!("absolute top-2 left-0 h-3 rounded-r {class}") style=format!("width: {width:.3}%")></div>
                        })}
                        {mark.then(|| view! {
                            <div class=format!("absolute top-1 h-5 w-5 -ml-2.5 rounded-full border-2 border-white shadow {class}") style=format!("left: {width:.3}%")></div>
                        })}
                        {skipped.then(|| view! { <span class="absolute left-1 top-1 text-xs text-gray-500">"skipped"</span> })}
                    </div>
                </div>
            }
        })
        .collect_view();
    view! {
        <div data-testid="train-timeline" class="min-w-[40rem]">
            <div class="flex">
                <div class="w-64 shrink-0"></div>
                <div class="relative flex-1 h-6 text-xs">
                    <span class="absolute top-0 -translate-x-1/2 whitespace-nowrap font-medium text-gray-900" style=format!("left: {due:.3}%")>
                        {format!("due {}", train.due_on)}
                    </span>
                </div>
            </div>
            {rows}
            <div class="flex">
                <div class="w-64 shrink-0"></div>
                <div class="relative flex-1 h-10 text-xs text-gray-500">
                    {ticks.into_iter().map(|d| view! {
                        <span class="absolute top-1 -translate-x-1/2" style=format!("left: {:.3}%", pct(d as f64))>{format!("day {d}")}</span>
                    }).collect_view()}
                    <span class="absolute top-5 -translate-x-1/2 whitespace-nowrap font-medium text-violet-700" style=format!("left: {now:.3}%") data-testid="timeline-now">
                        {now_label}
                    </span>
                </div>
            </div>
        </div>
        <p class="mt-2 text-xs text-gray-600">
            "Each bar runs from the start of the clock (midnight UTC of the release day) to the image out or the version live: green on time, red late; pale while under way. "
            "Dashed line: the end of the due day. Violet line: "{now_label}"."
        </p>
    }
}

/// `/trains`: every train, newest first.
#[component]
pub fn TrainsPage() -> impl IntoView {
    let page = page_param();
    let data = server_data(move || page.get(), list_trains);
    view! {
        <Title text="Release trains"/>
        <PageHeader title="Release trains".into() subtitle="What each release (or a new base image) set moving: every build, publish and maintenance run."/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(p) if p.items.is_empty() => view! {
                        <Card><p class="text-sm text-gray-500" data-testid="no-trains">"No train yet: recording a stable release starts one."</p></Card>
                    }.into_any(),
                    Ok(p) => view! {
                        <Card>
                            <table class=TABLE data-testid="trains">
                                <thead><tr>
                                    <th class=TH>"Train"</th><th class=TH>"State"</th><th class=TH>"Progress"</th>
                                    <th class=TH>"Steps"</th><th class=TH>"Due"</th><th class=TH>"Clock"</th>
                                </tr></thead>
                                <tbody>
                                    {p.items.clone().into_iter().map(|t| view! {
                                        <tr data-state=t.state.as_str()>
                                            <td class=TD>
                                                <a class=LINK href=format!("/trains/{}", t.id)>{t.title.clone()}</a>
                                                <div class="text-xs text-gray-500">{format!("{} · started {}", t.kind.label(), when(t.created_at))}</div>
                                            </td>
                                            <td class=TD><Badge text=t.state.label() tone=train_state_tone(t.state)/></td>
                                            <td class=TD><div class="w-32"><ProgressBar percent=t.progress state=train_bar_state(t.state)/></div></td>
                                            <td class=TD>
                                                {format!("{} / {} done", t.steps_done, t.steps_total)}
                                                {(t.waiting > 0).then(|| view! { <span class="text-amber-800">{format!(" · {} waiting", t.waiting)}</span> })}
                                                {(t.failed > 0).then(|| view! { <span class="text-red-700">{format!(" · {} failed", t.failed)}</span> })}
                                            </td>
                                            <td class=TD>{t.due_on.to_string()}</td>
                                            <td class=TD><Badge text=t.sla.label() tone=sla_tone(t.sla)/></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager base="/trains".into() page=p.page pages=p.pages() total=p.total/>
                        </Card>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Where a train's page is: its release's, or its own for a rebuild train.
fn train_href(train: &ReleaseTrain) -> String {
    match (&train.release, train.kind) {
        (Some(version), TrainKind::Release) => format!("/releases/{version}/train"),
        _ => format!("/trains/{}", train.id),
    }
}

/// The dashboard's card: the newest release's train, its counts and its first waits.
#[component]
pub fn TrainCard() -> impl IntoView {
    let data = server_data(|| (), |_| newest_train());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let body = match data.await {
                    Ok(Some(train)) => {
                        let href = train_href(&train);
                        let count = |f: fn(TrainStepState) -> bool| train.steps.iter().filter(|s| f(s.state)).count();
                        let done = count(|s| s == TrainStepState::Done);
                        let waiting = count(|s| matches!(s, TrainStepState::Waiting | TrainStepState::Manual));
                        let failed = count(|s| s == TrainStepState::Failed);
                        let waits: Vec<TrainStep> = train
                            .steps
                            .iter()
                            .filter(|s| !s.wait.is_empty() && matches!(s.state, TrainStepState::Waiting | TrainStepState::Manual | TrainStepState::Failed))
                            .take(3)
                            .cloned()
                            .collect();
                        view! {
                            <div data-testid="dashboard-train" data-state=train.state.as_str()>
                                <div class="flex flex-wrap items-center justify-between gap-3 mb-2">
                                    <a class=format!("{LINK} font-medium") href=href.clone()>{train.title.clone()}</a>
                                    <span class="flex items-center gap-2">
                                        <Badge text=train.state.label() tone=train_state_tone(train.state)/>
                                        <Badge text=train.sla.label() tone=sla_tone(train.sla)/>
                                    </span>
                                </div>
                                <ProgressBar percent=train.progress state=train_bar_state(train.state)/>
                                <p class="mt-2 text-sm text-gray-600">
                                    {format!("{}% · {done} of {} steps done · {waiting} waiting · {failed} failed · due {}", train.progress, train.steps.len(), train.due_on)}
                                </p>
                                {(!waits.is_empty()).then(|| view! {
                                    <ul class="mt-3 space-y-1 text-sm">
                                        {waits.into_iter().map(|s| {
                                            let class = if s.state == TrainStepState::Failed { "text-red-700" } else { "text-amber-800" };
                                            view! {
                                                <li class="flex flex-wrap gap-x-2">
                                                    <span class="font-medium text-gray-800">{s.label.clone()}</span>
                                                    <span class=class>{s.wait.clone()}</span>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                })}
                                <a class=format!("{LINK} mt-3 inline-block text-sm") href=href>"Open the train →"</a>
                            </div>
                        }.into_any()
                    }
                    Ok(None) => view! {
                        <p class="text-sm text-gray-500" data-testid="dashboard-train-empty">
                            "No release train yet: recording a stable release starts its builds, publishes and maintenance runs."
                        </p>
                    }.into_any(),
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                };
                view! { <Card title="Release train">{body}</Card> }
            })}
        </Suspense>
    }
}

/// A product's build policy, and the control to change it for who may (Omnibus, admin).
#[component]
pub fn BuildPolicyControl(partner: String, product: String, policy: Policy) -> impl IntoView {
    let can = current_user().is_some_and(|u| u.can(Permission::SetBuildPolicy));
    view! {
        <PolicyControl
            label="Builds"
            explain="Whether a stable release builds this product's images by itself."
            testid="build-policy"
            policy
            can
        >
            <ServerForm action=SetBuildPolicy::PATH class="flex items-center gap-2">
                <input type="hidden" name="partner" value=partner/>
                <input type="hidden" name="product" value=product/>
                <PolicySelect policy testid="build-policy"/>
                <button class=BUTTON_SECONDARY data-testid="save-build-policy">"Save"</button>
            </ServerForm>
        </PolicyControl>
    }
}

/// A listing's publish policy, and the control to change it for who may (Partnerships,
/// admin).
#[component]
pub fn PublishPolicyControl(listing_id: i32, policy: Policy) -> impl IntoView {
    let can = current_user().is_some_and(|u| u.can(Permission::SetPublishPolicy));
    view! {
        <PolicyControl
            label="Publishing"
            explain="Whether a stable release publishes this listing's version by itself once its images are out and the copy is approved."
            testid="publish-policy"
            policy
            can
        >
            <ServerForm action=SetPublishPolicy::PATH class="flex items-center gap-2">
                <input type="hidden" name="listing_id" value=listing_id/>
                <PolicySelect policy testid="publish-policy"/>
                <button class=BUTTON_SECONDARY data-testid="save-publish-policy">"Save"</button>
            </ServerForm>
        </PolicyControl>
    }
}

#[component]
fn PolicySelect(policy: Policy, testid: &'static str) -> impl IntoView {
    view! {
        <span data-field="policy" data-field-id="policy" data-field-testid=format!("error-{testid}")>
            <select name="policy" aria-label="Policy" class="rounded-md border border-gray-300 px-2 py-1.5 text-sm">
                {Policy::ALL.iter().map(|p| view! { <option value=p.as_str() selected=*p == policy>{p.label()}</option> }).collect_view()}
            </select>
        </span>
    }
}

/// The current policy in words, and (for who may change it) the form.
#[component]
fn PolicyControl(
    label: &'static str,
    explain: &'static str,
    testid: &'static str,
    policy: Policy,
    can: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="text-sm mb-4 pb-4 border-b border-gray-100" data-testid=testid data-policy=policy.as_str()>
            <div class="flex items-center justify-between gap-3">
                <span class="text-gray-500">{label}</span>
                <Badge text=policy.label() tone=if policy == Policy::Automatic { Tone::Green } else { Tone::Violet }/>
            </div>
            <p class="mt-1 text-xs text-gray-500">{explain}</p>
            {can.then(|| view! { <div class="mt-2">{children()}</div> })}
        </div>
    }
}
