//! REST routes of background jobs and builds: list, read, a job's log and its live stream, cancel, retry, and starting builds.

use axum::{
    Extension, Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::ToSchema;

use app::{
    domain::Arch,
    dto::*,
    error::{AppError, AppResult, ErrorCode},
    services::{AppState, builds, jobs},
};

use super::{
    created,
    extract::{self, ApiJson, ApiQuery, Authenticated},
};
use crate::limits::StreamSlots;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct JobListQuery {
    /// queued, running, waiting, succeeded, failed or cancelled.
    state: Option<String>,
    kind: Option<String>,
    /// A release run, e.g. `release:17.6.0`.
    group: Option<String>,
    page: Option<u64>,
    per_page: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobListQuery), responses((status = 200, body = Page<Job>)))]
pub(super) async fn list_jobs(
    State(s): State<AppState>,
    _: Authenticated,
    ApiQuery(q): ApiQuery<JobListQuery>,
) -> AppResult<Json<Page<Job>>> {
    let filter = JobFilter {
        state: q.state,
        kind: q.kind,
        group: q.group,
    };
    Ok(Json(
        jobs::list(
            &s.db,
            &filter,
            PageRequest {
                page: q.page,
                per_page: q.per_page,
            },
        )
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i32, Path)), responses((status = 200, body = Job), (status = 404, body = AppError)))]
pub(super) async fn get_job(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    Ok(Json(jobs::get(&s.db, extract::parse_id(&id)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct AfterQuery {
    /// Only events after this event id.
    after: Option<i32>,
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs", params(("id" = i32, Path), AfterQuery), responses((status = 200, body = Vec<JobEvent>)))]
pub(super) async fn job_events(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> AppResult<Json<Vec<JobEvent>>> {
    let id = extract::parse_id(&id)?;
    jobs::get(&s.db, id).await?;
    Ok(Json(jobs::events(&s.db, id, q.after.unwrap_or(0)).await?))
}

/// `GET /api/v1/jobs/{id}/user-data`: the exact user data a build gave its builder, with
/// the license replaced by `<license redacted>`, as text.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/user-data", tag = "jobs", params(("id" = i32, Path)),
    responses((status = 200, content_type = "text/plain", body = String, description = "The builder's user data, license redacted"),
        (status = 404, body = AppError, description = "No such job, or it is not a build whose builder was launched")))]
pub(super) async fn job_user_data(
    State(s): State<AppState>,
    _: Authenticated,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = extract::parse_id(&id)?;
    let text = jobs::user_data(&s.db, id).await?.ok_or_else(|| {
        AppError::new(
            ErrorCode::NotFound,
            format!("job {id} has no user data: it is not an image build, or its builder was not launched yet"),
        )
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /api/v1/jobs/{id}/stream`: server-sent events — `log` for each new log line, `job`
/// when the job changes, `end` once it is over. Each person may have
/// `PORTAL_EVENT_STREAMS_PER_PERSON` streams open at once; one more is a 429.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/stream", tag = "jobs", params(("id" = i32, Path), AfterQuery),
    responses((status = 200, description = "text/event-stream of `log`, `job` and `end` events"),
        (status = 429, body = AppError, description = "This person has as many streams open as they may")))]
pub(super) async fn job_stream(
    State(s): State<AppState>,
    Extension(slots): Extension<StreamSlots>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> AppResult<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    let id = extract::parse_id(&id)?;
    jobs::get(&s.db, id).await?;
    // Held by the stream: the slot is given back when the stream ends or the client leaves.
    let slot = slots.take(user.id)?;
    struct Cursor {
        after: i32,
        last: Option<Job>,
        ended: bool,
        first_round: bool,
    }
    let start = Cursor {
        after: q.after.unwrap_or(0),
        last: None,
        ended: false,
        first_round: true,
    };
    let stream = futures::stream::unfold((s, start, slot), move |(s, mut cur, slot)| async move {
        if cur.ended {
            return None;
        }
        if !cur.first_round {
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        }
        cur.first_round = false;
        let mut out: Vec<Event> = Vec::new();
        let (events, job) = match (
            jobs::events(&s.db, id, cur.after).await,
            jobs::get(&s.db, id).await,
        ) {
            (Ok(e), Ok(j)) => (e, j),
            _ => {
                return Some((
                    futures::stream::iter(out),
                    (s, Cursor { ended: true, ..cur }, slot),
                ));
            }
        };
        for e in events {
            cur.after = e.id;
            if let Ok(ev) = Event::default().event("log").json_data(&e) {
                out.push(ev);
            }
        }
        if cur.last.as_ref() != Some(&job) {
            if let Ok(ev) = Event::default().event("job").json_data(&job) {
                out.push(ev);
            }
            cur.last = Some(job.clone());
        }
        if matches!(
            job.state,
            app::domain::JobState::Succeeded
                | app::domain::JobState::Failed
                | app::domain::JobState::Cancelled
        ) {
            out.push(Event::default().event("end").data("over"));
            cur.ended = true;
        }
        Some((futures::stream::iter(out), (s, cur, slot)))
    })
    .flatten()
    .map(Ok::<_, std::convert::Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = i32, Path)), responses((status = 200, body = Job), (status = 409, body = AppError)))]
pub(super) async fn cancel_job(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    Ok(Json(
        jobs::cancel(&s.db, &user, s.clock.now(), extract::parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs", params(("id" = i32, Path)), responses((status = 200, body = Job), (status = 409, body = AppError)))]
pub(super) async fn retry_job(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
) -> AppResult<Json<Job>> {
    Ok(Json(
        jobs::retry(&s.db, &user, s.clock.now(), extract::parse_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/releases/{version}/build", tag = "jobs", params(("version" = String, Path)),
    responses((status = 201, body = ReleaseRun), (status = 404, body = AppError)))]
pub(super) async fn build_release(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(version): Path<String>,
) -> AppResult<Response> {
    Ok(created(
        builds::start_release(&s.db, &user, s.clock.now(), &version).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/releases/{version}/run", tag = "jobs", params(("version" = String, Path)), responses((status = 200, body = ReleaseRun)))]
pub(super) async fn release_run(
    State(s): State<AppState>,
    _: Authenticated,
    Path(version): Path<String>,
) -> AppResult<Json<ReleaseRun>> {
    Ok(Json(builds::run(&s.db, &version).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct BuildInput {
    partner: String,
    product: String,
    version: String,
    /// amd64 or arm64.
    arch: String,
}

#[utoipa::path(post, path = "/api/v1/images/build", tag = "jobs", request_body = BuildInput,
    responses((status = 201, body = Job), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn build_image(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(input): ApiJson<BuildInput>,
) -> AppResult<Response> {
    let arch: Arch = input.arch.parse().map_err(|m: String| AppError {
        fields: vec![app::error::FieldError {
            field: "arch".into(),
            message: m.clone(),
        }],
        ..AppError::new(ErrorCode::ValidationFailed, m)
    })?;
    Ok(created(
        builds::start(
            &s.db,
            &user,
            s.clock.now(),
            &input.partner,
            &input.product,
            &input.version,
            arch,
        )
        .await?,
    ))
}

/// Rebuilds an image version (a security fix, a new base image): a new image with a name of
/// its own replaces it as the current image once it is available; the old one is left to
/// retention. Needs the omnibus or admin role and a reason.
#[utoipa::path(post, path = "/api/v1/images/{id}/rebuild", tag = "jobs", params(("id" = i32, Path)),
    request_body = RebuildInput,
    responses((status = 201, body = Job, description = "The build of the new image"), (status = 403, body = AppError),
        (status = 404, body = AppError), (status = 409, body = AppError), (status = 422, body = AppError)))]
pub(super) async fn rebuild_image(
    State(s): State<AppState>,
    Authenticated(user): Authenticated,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RebuildInput>,
) -> AppResult<Response> {
    let id = extract::parse_id(&id)?;
    Ok(created(
        builds::rebuild(&s.db, &user, s.clock.now(), id, &input).await?,
    ))
}
