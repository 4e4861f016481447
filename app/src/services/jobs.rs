//! The durable job queue, in the portal's own database.
//!
//! A job is claimed by one statement that also takes its lease (PostgreSQL adds
//! `FOR UPDATE SKIP LOCKED`, so workers on several machines never take the same row); the
//! holder renews the lease while it works and every write it makes is guarded by
//! `locked_by`, so a worker whose lease was taken over cannot overwrite the new holder.
//! Waiting on the cloud is a re-scheduled job (`waiting` with a later `run_at`), never a
//! sleeping task. Jobs must be idempotent: a crash re-runs the current step.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, Statement, TransactionSession, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{
    audit::{self, Change},
    entities::{job, job_event},
};
use crate::{
    domain::{CurrentUser, JobState, Permission},
    dto::{Job, JobEvent, JobFilter, Page, PageRequest, Paging},
    error::{AppError, AppResult, ErrorCode},
};

/// A kind of background job, defined once: its stored name, its payload (the implementing
/// type itself) and how many attempts it gets. [`JobKind::enqueue`] queues one; the worker
/// half (`server::jobs`) runs it under the same name, found in one registry. Jobs must be
/// idempotent: a crash re-runs the step it was in.
pub trait JobKind: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stored `kind` of these jobs.
    const NAME: &'static str;
    /// Attempts before a retryable failure becomes final.
    const MAX_ATTEMPTS: i32;

    /// Queues this job; call it in the transaction that writes what the job depends on.
    /// Jobs sharing a `group_key` are shown together and may wait for each other.
    fn enqueue(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
        created_by: Option<i32>,
        group_key: Option<String>,
    ) -> impl Future<Output = AppResult<job::Model>> + Send {
        async move {
            let payload = serde_json::to_value(self)
                .map_err(|e| AppError::internal("serialising a job's payload", e))?;
            enqueue(
                db,
                now,
                NewJob {
                    kind: Self::NAME,
                    payload,
                    max_attempts: Self::MAX_ATTEMPTS,
                    group_key,
                    created_by,
                    step: "waiting for a worker".into(),
                },
            )
            .await
        }
    }
}

/// A job that does nothing but record who ran it: for measuring the runner and proving that
/// no job runs twice.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Noop {
    /// A number to tell the jobs apart.
    #[serde(default)]
    pub n: u64,
}

impl JobKind for Noop {
    const NAME: &'static str = "noop";
    const MAX_ATTEMPTS: i32 = 3;
}

/// A job to add to the queue, as stored: [`JobKind::enqueue`] makes one from a typed job.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: serde_json::Value,
    pub max_attempts: i32,
    /// Jobs started together (a release run) share a key.
    pub group_key: Option<String>,
    pub created_by: Option<i32>,
    /// Shown before the first step runs.
    pub step: String,
}

/// Adds a job; call it in the transaction that writes what the job depends on.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    new: NewJob,
) -> AppResult<job::Model> {
    let model = job::ActiveModel {
        kind: Set(new.kind.to_owned()),
        payload: Set(new.payload.to_string()),
        state: Set(JobState::Queued),
        run_at: Set(now),
        attempts: Set(0),
        max_attempts: Set(new.max_attempts.max(1)),
        progress: Set(0),
        step: Set(new.step),
        cancel_requested: Set(false),
        group_key: Set(new.group_key),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    log(
        db,
        model.id,
        now,
        "info",
        &format!("queued ({})", model.kind),
    )
    .await?;
    Ok(model)
}

/// Appends a line to a job's log.
pub async fn log(
    db: &impl ConnectionTrait,
    job_id: i32,
    now: DateTime<Utc>,
    level: &str,
    message: &str,
) -> AppResult<()> {
    job_event::ActiveModel {
        job_id: Set(job_id),
        at: Set(now),
        level: Set(level.to_owned()),
        message: Set(message.to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Takes the next due job (or one whose holder's lease ran out) for `worker`.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> AppResult<Option<job::Model>> {
    let backend = db.get_database_backend();
    let (pick, p) = match backend {
        DbBackend::Postgres => (
            "SELECT id FROM jobs WHERE (state IN ('queued', 'waiting') AND run_at <= $3) OR (state = 'running' AND lease_until < $3) \
             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
            ["$1", "$2", "$3"],
        ),
        _ => (
            "SELECT id FROM jobs WHERE (state IN ('queued', 'waiting') AND run_at <= ?3) OR (state = 'running' AND lease_until < ?3) \
             ORDER BY run_at, id LIMIT 1",
            ["?1", "?2", "?3"],
        ),
    };
    // A job coming back from `waiting` has not failed; only fresh starts and takeovers count.
    let sql = format!(
        "UPDATE jobs SET state = 'running', locked_by = {w}, lease_until = {l}, updated_at = {n}, \
         attempts = CASE WHEN state = 'waiting' THEN attempts ELSE attempts + 1 END \
         WHERE id = ({pick}) RETURNING *",
        w = p[0],
        l = p[1],
        n = p[2],
    );
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [worker.into(), (now + lease).into(), now.into()],
    );
    Ok(job::Entity::find().from_raw_sql(stmt).one(db).await?)
}

/// Extends the lease of a job `worker` holds; false when it no longer holds it.
pub async fn renew_lease(
    db: &impl ConnectionTrait,
    id: i32,
    worker: &str,
    until: DateTime<Utc>,
) -> AppResult<bool> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(until))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::State.eq(JobState::Running))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Saves progress and the step machine's state; fails when the lease was lost.
pub async fn save_step(
    db: &impl ConnectionTrait,
    id: i32,
    worker: &str,
    now: DateTime<Utc>,
    progress: i32,
    step: &str,
    checkpoint: &impl Serialize,
) -> AppResult<()> {
    let checkpoint = serde_json::to_string(checkpoint)
        .map_err(|e| AppError::internal("serialising a checkpoint", e))?;
    let res = job::Entity::update_many()
        .col_expr(job::Column::Progress, Expr::value(progress.clamp(0, 100)))
        .col_expr(job::Column::Step, Expr::value(step))
        .col_expr(job::Column::Checkpoint, Expr::value(checkpoint))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::State.eq(JobState::Running))
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorCode::Conflict,
            format!("job {id} is no longer held by {worker}"),
        ))
    }
}

/// Whether someone asked the job to stop.
pub async fn cancel_requested(db: &impl ConnectionTrait, id: i32) -> AppResult<bool> {
    Ok(job::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|j| j.cancel_requested))
}

/// How a run of a job ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Succeeded(serde_json::Value),
    /// Come back at `run_at` (polling the cloud); not a failure.
    Wait {
        run_at: DateTime<Utc>,
    },
    /// A failure that may pass; retried with backoff until attempts run out.
    Retry {
        error: String,
    },
    /// A failure that will not pass by trying again.
    Failed {
        error: String,
    },
    /// Stopped until a person clears what blocks it; `error` says what and how.
    Blocked {
        error: String,
        blocker: serde_json::Value,
    },
    Cancelled,
}

/// Exponential backoff with jitter: about 5 s, 10 s, 20 s… at most 10 minutes.
pub fn backoff(attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 12) - 1;
    let base = (5_i64 << exp).min(600);
    let jitter = rand::rng().random_range(0.75..1.25);
    Duration::milliseconds((base as f64 * 1000.0 * jitter) as i64)
}

/// Records how the run ended, if `worker` still holds the job. Returns the new state.
pub async fn finish(
    db: &impl ConnectionTrait,
    current: &job::Model,
    worker: &str,
    now: DateTime<Utc>,
    finish: Finish,
) -> AppResult<JobState> {
    let (state, run_at, result, error) = match finish {
        Finish::Succeeded(result) => (JobState::Succeeded, None, Some(result.to_string()), None),
        Finish::Wait { run_at } => (JobState::Waiting, Some(run_at), None, None),
        Finish::Retry { error } if current.attempts < current.max_attempts => (
            JobState::Queued,
            Some(now + backoff(current.attempts)),
            None,
            Some(error),
        ),
        Finish::Retry { error } => (
            JobState::Failed,
            None,
            None,
            Some(format!(
                "{error} (gave up after {} attempts)",
                current.attempts
            )),
        ),
        Finish::Failed { error } => (JobState::Failed, None, None, Some(error)),
        Finish::Blocked { error, blocker } => (
            JobState::Blocked,
            None,
            Some(serde_json::json!({ "blocked_by": blocker }).to_string()),
            Some(error),
        ),
        Finish::Cancelled => (JobState::Cancelled, None, None, None),
    };
    let terminal = matches!(
        state,
        JobState::Succeeded | JobState::Failed | JobState::Cancelled
    );
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(state))
        .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            job::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    if let Some(run_at) = run_at {
        update = update.col_expr(job::Column::RunAt, Expr::value(run_at));
    }
    if let Some(result) = result {
        update = update.col_expr(job::Column::Result, Expr::value(result));
    }
    if state == JobState::Succeeded {
        update = update.col_expr(job::Column::Progress, Expr::value(100));
    }
    if let Some(error) = &error {
        update = update.col_expr(job::Column::LastError, Expr::value(error.clone()));
    }
    if terminal {
        update = update.col_expr(job::Column::FinishedAt, Expr::value(now));
    }
    let res = update
        .filter(job::Column::Id.eq(current.id))
        .filter(job::Column::LockedBy.eq(worker))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::new(
            ErrorCode::Conflict,
            format!("job {} is no longer held by {worker}", current.id),
        ));
    }
    let line = match (state, &error) {
        (JobState::Queued, Some(e)) => (
            "warn",
            format!("attempt {} failed, retrying: {e}", current.attempts),
        ),
        (JobState::Failed, Some(e)) => ("error", format!("failed: {e}")),
        (JobState::Succeeded, _) => ("info", "succeeded".to_owned()),
        (JobState::Cancelled, _) => ("warn", "cancelled".to_owned()),
        (JobState::Blocked, Some(e)) => ("error", format!("blocked: {e}")),
        (JobState::Waiting, _) => return Ok(state),
        _ => return Ok(state),
    };
    log(db, current.id, now, line.0, &line.1).await?;
    Ok(state)
}

pub(crate) fn to_dto(j: job::Model) -> AppResult<Job> {
    Ok(Job {
        id: j.id,
        state: j.state,
        payload: serde_json::from_str(&j.payload).unwrap_or(serde_json::Value::Null),
        result: j
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok()),
        kind: j.kind,
        run_at: j.run_at,
        attempts: j.attempts,
        max_attempts: j.max_attempts,
        progress: j.progress,
        step: j.step,
        last_error: j.last_error,
        cancel_requested: j.cancel_requested,
        checkpoint_step: j
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            .and_then(|c| c.get("step").and_then(|s| s.as_str()).map(str::to_owned)),
        group_key: j.group_key,
        created_at: j.created_at,
        updated_at: j.updated_at,
        finished_at: j.finished_at,
    })
}

pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<Job> {
    let j = find(db, id).await?;
    to_dto(j)
}

/// The user data a build gave its builder, with the license replaced by a redaction
/// marker, as the build saved it in its state (`user_data`). `None` for a job that is not a
/// build or whose builder is not launched yet.
pub async fn user_data(db: &impl ConnectionTrait, id: i32) -> AppResult<Option<String>> {
    let j = find(db, id).await?;
    Ok(j.checkpoint
        .as_deref()
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|c| c.get("user_data")?.as_str().map(str::to_owned)))
}

/// Jobs newest first, filtered by state, kind or group.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &JobFilter,
    page: PageRequest,
) -> AppResult<Page<Job>> {
    let Paging { index, per_page } = page.checked()?;
    let mut query = job::Entity::find().order_by_desc(job::Column::Id);
    if let Some(state) = filter.state.as_deref().filter(|s| !s.is_empty()) {
        let state: JobState = state
            .parse()
            .map_err(|m: String| AppError::bad_request(m))?;
        query = query.filter(job::Column::State.eq(state));
    }
    if let Some(kind) = filter.kind.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(job::Column::Kind.eq(kind));
    }
    if let Some(group) = filter.group.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(job::Column::GroupKey.eq(group));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator.num_items().await?;
    let items = paginator
        .fetch_page(index)
        .await?
        .into_iter()
        .map(to_dto)
        .collect::<AppResult<_>>()?;
    Ok(Page {
        items,
        page: index + 1,
        per_page,
        total,
    })
}

/// A job's log lines after `after` (an event id; 0 for all), oldest first.
pub async fn events(db: &impl ConnectionTrait, id: i32, after: i32) -> AppResult<Vec<JobEvent>> {
    Ok(job_event::Entity::find()
        .filter(job_event::Column::JobId.eq(id))
        .filter(job_event::Column::Id.gt(after))
        .order_by_asc(job_event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|e| JobEvent {
            id: e.id,
            at: e.at,
            level: e.level,
            message: e.message,
        })
        .collect())
}

pub(crate) async fn find(db: &impl ConnectionTrait, id: i32) -> AppResult<job::Model> {
    job::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("job {id}")))
}

/// Audits what a person did to a job.
async fn record(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
    action: &str,
    summary: String,
) -> AppResult<()> {
    let change = Change {
        action,
        object_type: "job",
        object_id: id.to_string(),
        summary,
        before: None,
        after: None,
    };
    audit::record(db, Some(actor), now, change).await
}

/// Stops a job: at once when it is not running, at its next step when it is.
pub async fn cancel(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<Job> {
    actor.require(Permission::RunJobs)?;
    let txn = super::begin_write(db).await?;
    let j = find(&txn, id).await?;
    let state = j.state;
    let mut active: job::ActiveModel = j.clone().into();
    match state {
        // Never started: nothing to clean up.
        JobState::Queued if j.checkpoint.is_none() => {
            active.state = Set(JobState::Cancelled);
            active.finished_at = Set(Some(now));
            log(
                &txn,
                id,
                now,
                "warn",
                &format!("cancelled by {}", actor.username),
            )
            .await?;
        }
        // It may hold resources (a builder instance): a worker stops it and cleans up.
        JobState::Queued | JobState::Waiting => {
            active.cancel_requested = Set(true);
            active.run_at = Set(now);
            log(
                &txn,
                id,
                now,
                "warn",
                &format!(
                    "{} asked to cancel; a worker will stop it and clean up",
                    actor.username
                ),
            )
            .await?;
        }
        JobState::Running => {
            active.cancel_requested = Set(true);
            log(
                &txn,
                id,
                now,
                "warn",
                &format!(
                    "{} asked to cancel; stopping at the next step",
                    actor.username
                ),
            )
            .await?;
        }
        done => {
            return Err(AppError::conflict(
                "state",
                format!("job {id} has already {}", done.label().to_lowercase()),
            ));
        }
    }
    active.updated_at = Set(now);
    active.update(&txn).await?;
    record(
        &txn,
        actor,
        now,
        id,
        "cancel",
        format!("cancelled job {id} ({})", j.kind),
    )
    .await?;
    txn.commit().await?;
    get(db, id).await
}

/// Runs a failed or cancelled job again, from the step it had reached.
pub async fn retry(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
) -> AppResult<Job> {
    actor.require(Permission::RunJobs)?;
    let txn = super::begin_write(db).await?;
    let j = find(&txn, id).await?;
    let state = j.state;
    if !matches!(
        state,
        JobState::Failed | JobState::Cancelled | JobState::Blocked
    ) {
        return Err(AppError::conflict(
            "state",
            format!(
                "only a failed or cancelled job can be retried; job {id} is {}",
                state.label().to_lowercase()
            ),
        ));
    }
    let kind = j.kind.clone();
    let mut active: job::ActiveModel = j.into();
    active.state = Set(JobState::Queued);
    active.run_at = Set(now);
    active.attempts = Set(0);
    active.cancel_requested = Set(false);
    active.finished_at = Set(None);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    log(
        &txn,
        id,
        now,
        "info",
        &format!("retried by {}", actor.username),
    )
    .await?;
    record(
        &txn,
        actor,
        now,
        id,
        "retry",
        format!("retried job {id} ({kind})"),
    )
    .await?;
    txn.commit().await?;
    get(db, id).await
}
