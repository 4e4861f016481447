//! Background jobs: the list (with a release run's overall progress) and one job with its
//! step, progress bar and log, both following the server while a job is open (`Live`).

use leptos::{prelude::*, server_fn::ServerFn as _};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{current_user, id_param, page_param};
use crate::{
    components::*,
    data::server_data,
    domain::*,
    dto::*,
    islands::{Live, ServerForm},
    rpc::{CancelJob, RetryJob, get_job, get_job_user_data, get_release_run, list_jobs},
};

pub fn job_state_tone(state: JobState) -> Tone {
    match state {
        JobState::Queued => Tone::Gray,
        JobState::Running => Tone::Blue,
        JobState::Waiting => Tone::Violet,
        JobState::Succeeded => Tone::Green,
        JobState::Failed => Tone::Red,
        JobState::Cancelled => Tone::Amber,
        JobState::Blocked => Tone::Red,
    }
}

/// What a job is about, in words.
pub fn job_title(job: &Job) -> String {
    match job.kind.as_str() {
        "build_image" => format!(
            "Build {} {} ({})",
            job.payload["product"].as_str().unwrap_or("?"),
            job.payload["version"].as_str().unwrap_or("?"),
            job.payload["arch"].as_str().unwrap_or("?"),
        ),
        other => other.replace('_', " "),
    }
}

/// A progress bar of 0–100.
#[component]
pub fn ProgressBar(
    #[prop(into)] percent: Signal<i32>,
    #[prop(into)] state: Signal<JobState>,
) -> impl IntoView {
    view! {
        <div class="h-2.5 w-full rounded-full bg-gray-200 overflow-hidden" role="progressbar" aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=move || percent.get() data-testid="job-progress">
            <div
                class=move || format!("h-full {}", match state.get() {
                    JobState::Failed => "bg-red-600",
                    JobState::Succeeded => "bg-green-600",
                    JobState::Cancelled | JobState::Blocked => "bg-amber-500",
                    _ => "bg-violet-600",
                })
                style=move || format!("width: {}%", percent.get().clamp(0, 100))
            ></div>
        </div>
    }
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let page = page_param();
    let filter = move || {
        let q = query.read();
        JobFilter {
            state: q.get("state").filter(|s| !s.is_empty()),
            kind: q.get("kind").filter(|s| !s.is_empty()),
            group: q.get("group").filter(|s| !s.is_empty()),
        }
    };
    let data = server_data(move || (filter(), page.get()), |(f, p)| list_jobs(f, p));
    let run = server_data(
        move || {
            filter()
                .group
                .and_then(|g| g.strip_prefix("release:").map(str::to_owned))
        },
        |version| async move {
            match version {
                Some(v) => get_release_run(v).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Title text="Jobs"/>
        <PageHeader title="Jobs".into() subtitle="Builds and other work the portal does in the background."/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                run.await.ok().flatten().map(|r| {
                    let overall = if r.jobs.iter().any(|j| j.state == JobState::Failed) {
                        JobState::Failed
                    } else if r.progress >= 100 {
                        JobState::Succeeded
                    } else {
                        JobState::Running
                    };
                    view! {
                    <Card title=format!("Release run {}", r.version)>
                        <div data-testid="release-run">
                            <ProgressBar percent=r.progress state=overall/>
                            <p class="mt-2 text-sm text-gray-600">{format!("{}% · {} builds · {} done", r.progress, r.jobs.len(),
                                r.jobs.iter().filter(|j| j.state == JobState::Succeeded).count())}</p>
                        </div>
                    </Card>
                    }
                })
            })}
        </Suspense>
        <Card>
            <form method="get" action="/jobs" class="flex flex-wrap gap-3 items-end mb-4 text-sm">
                <label>"State"
                    <select name="state" class=INPUT>
                        <option value="">"Any"</option>
                        {JobState::ALL.iter().map(|s| view! {
                            <option value=s.as_str() selected=move || filter().state.as_deref() == Some(s.as_str())>{s.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Kind"
                    <select name="kind" class=INPUT>
                        <option value="">"Any"</option>
                        <option value="build_image" selected=move || filter().kind.as_deref() == Some("build_image")>"Image build"</option>
                    </select>
                </label>
                <label>"Release run"<input name="group" placeholder="release:17.6.0" class=INPUT value=move || filter().group.unwrap_or_default()/></label>
                <button class=BUTTON_SECONDARY>"Filter"</button>
            </form>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    let run = run.await.ok().flatten();
                    match data.await {
                        Ok(p) if p.items.is_empty() => view! { <p class="text-sm text-gray-500">"No jobs match."</p> }.into_any(),
                        Ok(p) => {
                            // While a listed job (or the release run) is open, the list follows it.
                            let open = |s: JobState| matches!(s, JobState::Queued | JobState::Running | JobState::Waiting);
                            let active = p.items.iter().any(|j| open(j.state))
                                || run.is_some_and(|r| r.jobs.iter().any(|j| open(j.state)));
                            view! {
                            <Live id="jobs".to_owned() active every_ms=2000>
                            <table class=TABLE data-testid="jobs">
                                <thead><tr><th class=TH>"Job"</th><th class=TH>"State"</th><th class=TH>"Progress"</th><th class=TH>"Step"</th><th class=TH>"Started"</th></tr></thead>
                                <tbody>
                                    {p.items.clone().into_iter().map(|j| view! {
                                        <tr>
                                            <td class=TD><a class=LINK href=format!("/jobs/{}", j.id)>{format!("#{} {}", j.id, job_title(&j))}</a></td>
                                            <td class=TD><Badge text=j.state.label() tone=job_state_tone(j.state)/></td>
                                            <td class=TD><div class="w-32"><ProgressBar percent=j.progress state=j.state/></div></td>
                                            <td class=TD>{j.step.clone()}</td>
                                            <td class=TD>{j.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager base="/jobs".into() page=p.page pages=p.pages() total=p.total/>
                            </Live>
                        }.into_any()
                        }
                        Err(error) => view! { <ErrorBox error/> }.into_any(),
                    }
                })}
            </Suspense>
        </Card>
    }
}

#[component]
pub fn JobPage() -> impl IntoView {
    let id = id_param("id");
    let data = server_data(id, get_job);
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok((job, events)) => {
                        // While the job is open, the page follows it.
                        let open = matches!(job.state, JobState::Queued | JobState::Running | JobState::Waiting);
                        view! {
                            <Live id="job".to_owned() active=open every_ms=1000>
                                <JobView job events/>
                            </Live>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn JobView(job: Job, events: Vec<JobEvent>) -> impl IntoView {
    let id = job.id;
    let title = job_title(&job);
    let subtitle = format!(
        "{} · attempt {} of {}",
        job.kind, job.attempts, job.max_attempts
    );
    let can_run = current_user().is_some_and(|u| u.can(Permission::RunJobs));
    let open = matches!(
        job.state,
        JobState::Queued | JobState::Running | JobState::Waiting
    );
    let retriable = matches!(
        job.state,
        JobState::Failed | JobState::Cancelled | JobState::Blocked
    );
    let error = job.last_error.clone().filter(|_| {
        matches!(
            job.state,
            JobState::Failed | JobState::Queued | JobState::Blocked
        )
    });
    let step = format!(
        "{}% · {} · attempt {} of {}",
        job.progress, job.step, job.attempts, job.max_attempts
    );
    let build = (job.kind == "build_image").then(|| {
        let (at, state) = (step_index(&job), job.state);
        view! { <StepTimeline at state/> <UserData id/> }
    });
    view! {
        <Title text=format!("Job {id}")/>
        <PageHeader title=format!("#{id} {title}") subtitle=subtitle>
            {(can_run && open).then(|| view! {
                <ServerForm action=CancelJob::PATH>
                    <input type="hidden" name="id" value=id/>
                    <button class=BUTTON_SECONDARY data-testid="cancel">"Cancel"</button>
                </ServerForm>
            })}
            {(can_run && retriable).then(|| view! {
                <ServerForm action=RetryJob::PATH>
                    <input type="hidden" name="id" value=id/>
                    <button class=BUTTON data-testid="retry">"Retry"</button>
                </ServerForm>
            })}
        </PageHeader>
        <Card>
            <div class="flex items-center justify-between mb-2 text-sm">
                <span data-testid="job-state"><Badge text=job.state.label() tone=job_state_tone(job.state)/></span>
                <span class="text-gray-600" data-testid="job-step">{step}</span>
            </div>
            <ProgressBar percent=job.progress state=job.state/>
            {error.map(|e| view! {
                <p class="mt-3 text-sm text-red-700 whitespace-pre-wrap break-words" data-testid="job-error">{e}</p>
            })}
        </Card>
        {build}
        <Card title="Log">
            <ol class="font-mono text-xs space-y-1 max-h-[28rem] overflow-y-auto" data-testid="job-log">
                {events.into_iter().map(|e| view! {
                    <li class=match e.level.as_str() { "error" => "text-red-700", "warn" => "text-amber-700", _ => "text-gray-800" }>
                        <span class="text-gray-400">{e.at.format("%H:%M:%S").to_string()}" "</span>{e.message}
                    </li>
                }).collect_view()}
            </ol>
        </Card>
    }
}

/// The user data a build gave its builder (license redacted), folded away until opened. It
/// exists once the builder is launched; the page asks again while the job moves on.
#[component]
fn UserData(id: i32) -> impl IntoView {
    let data = server_data(move || id, get_job_user_data);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                data.await.ok().flatten().map(|text| view! {
                    <Card title="User data">
                        <details data-testid="job-user-data">
                            <summary class="cursor-pointer text-sm text-gray-700">"The script the builder ran, with the license redacted"</summary>
                            <pre class="mt-2 max-h-[32rem] overflow-auto whitespace-pre-wrap break-all bg-gray-50 p-2 font-mono text-xs">{text}</pre>
                        </details>
                    </Card>
                })
            })}
        </Suspense>
    }
}

/// Where a build is among [`BUILD_STEPS`]: its last checkpoint, the first step before one.
fn step_index(job: &Job) -> usize {
    job.checkpoint_step
        .as_deref()
        .and_then(|s| BUILD_STEPS.iter().position(|(key, _)| *key == s))
        .unwrap_or(0)
}

/// The build's steps: done, current (or where it failed) and still to come; `at` is the
/// current step's index.
#[component]
fn StepTimeline(at: usize, state: JobState) -> impl IntoView {
    view! {
        <Card title="Steps">
            <ol class="grid sm:grid-cols-2 lg:grid-cols-3 gap-x-6 gap-y-1.5 text-sm" data-testid="steps">
                {BUILD_STEPS.iter().enumerate().map(|(i, (_, label))| {
                    let (mark, class) = match state {
                        JobState::Succeeded => ("✓", "bg-green-600 text-white"),
                        _ if i < at => ("✓", "bg-green-600 text-white"),
                        JobState::Failed if i == at => ("!", "bg-red-600 text-white"),
                        JobState::Cancelled if i == at => ("–", "bg-amber-500 text-white"),
                        _ if i == at => ("●", "bg-violet-600 text-white"),
                        _ => ("", "bg-gray-200"),
                    };
                    let current = at == i && state != JobState::Succeeded;
                    view! {
                        <li class="flex items-center gap-2">
                            <span class=format!("inline-flex w-5 h-5 shrink-0 items-center justify-center rounded-full text-[11px] {class}")>{mark}</span>
                            <span class=if current { "font-medium" } else { "text-gray-700" }>{*label}</span>
                        </li>
                    }
                }).collect_view()}
            </ol>
        </Card>
    }
}
