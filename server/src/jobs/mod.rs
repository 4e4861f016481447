//! Background jobs: the runner that claims jobs from the database queue and the handlers
//! that do the work. A job kind is defined once in the services, beside the code that queues
//! it (`app::services::jobs::JobKind`: name, typed payload, attempts); its handler here lives
//! in the file of the same name and is found by that name in one [`Registry`]. A handler is a
//! step machine: it saves its state after every step ([`JobContext::save`]), so a restarted
//! job resumes at its step; it must be idempotent, because a crash re-runs the step it was
//! in.

pub mod base_image_check;
pub mod build_image;
pub mod change_set;
pub mod cloud_sync;
pub mod deliver_webhook;
pub mod entity;
pub mod noop;
pub mod protection;
pub mod publish_copy;
pub mod publish_version;
pub mod restrict_versions;
pub mod retire_images;

use std::{collections::HashMap, sync::Arc, time::Duration as StdDuration};

use app::services::{
    AppState,
    entities::job,
    jobs::{self, Finish, JobKind},
    notify,
};
use chrono::Duration;
use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::watch;
use tracing::Instrument as _;

use crate::cloud::Cloud;

/// How a run of a handler ended, when it did not fail.
#[derive(Debug)]
pub enum Outcome {
    /// Finished; the value is the job's result.
    Done(serde_json::Value),
    /// Waiting on something outside (an instance booting, an image becoming available):
    /// come back after this long. The task is freed meanwhile.
    WaitFor(Duration),
}

/// How a run of a handler failed.
#[derive(Debug)]
pub enum JobError {
    /// May pass by itself (throttling, a 5xx, a timeout): retried with backoff.
    Retryable(anyhow::Error),
    /// Will not pass by trying again (a missing base image, a refused quota).
    Fatal(anyhow::Error),
    /// Something outside that a person must clear stops the job; `blocker` describes it.
    Blocked {
        error: anyhow::Error,
        blocker: serde_json::Value,
    },
    /// Someone cancelled the job.
    Cancelled,
    /// Another worker took the job over; stop without writing anything.
    LeaseLost,
}

impl From<anyhow::Error> for JobError {
    fn from(err: anyhow::Error) -> Self {
        JobError::Retryable(err)
    }
}

pub type JobResult = Result<Outcome, JobError>;

/// The worker half of a job kind: runs (or resumes) one job of that kind.
pub trait JobHandler: Send + Sync + 'static {
    /// The kind it runs, defined beside the service that queues it.
    type Kind: JobKind;
    /// Runs (or resumes) one job, given its payload.
    fn run<'a>(&'a self, ctx: &'a mut JobContext, job: Self::Kind) -> BoxFuture<'a, JobResult>;
}

/// A handler with its kind erased, so that one registry holds them all.
trait AnyHandler: Send + Sync {
    fn run<'a>(&'a self, ctx: &'a mut JobContext) -> BoxFuture<'a, JobResult>;
}

impl<H: JobHandler> AnyHandler for H {
    fn run<'a>(&'a self, ctx: &'a mut JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            let job: H::Kind = ctx.payload()?;
            JobHandler::run(self, ctx, job).await
        })
    }
}

/// Every job kind a worker runs, by its stored name: the one place a kind is looked up.
#[derive(Clone, Default)]
pub struct Registry(HashMap<&'static str, Arc<dyn AnyHandler>>);

impl Registry {
    /// Adds the handler of its kind; a second handler of the same kind replaces the first.
    pub fn with<H: JobHandler>(mut self, handler: H) -> Self {
        self.0.insert(<H::Kind as JobKind>::NAME, Arc::new(handler));
        self
    }

    /// The names of the kinds it runs.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }

    fn get(&self, kind: &str) -> Option<Arc<dyn AnyHandler>> {
        self.0.get(kind).cloned()
    }
}

/// What a handler sees of its job.
pub struct JobContext {
    pub job: job::Model,
    pub state: AppState,
    pub worker: String,
    lost: watch::Receiver<bool>,
    /// Saves left before a simulated crash (see [`Runner::crash_at_save`]).
    crash_in: Option<usize>,
}

impl JobContext {
    /// The job's input, as its kind defines it.
    fn payload<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_str(&self.job.payload)
            .map_err(|e| JobError::Fatal(anyhow::anyhow!("the job's payload is not readable: {e}")))
    }

    /// The state saved by the last completed step, if any.
    pub fn checkpoint<T: DeserializeOwned + Default>(&self) -> Result<T, JobError> {
        match &self.job.checkpoint {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                JobError::Fatal(anyhow::anyhow!("the job's checkpoint is not readable: {e}"))
            }),
            None => Ok(T::default()),
        }
    }

    /// Saves the step machine's state and progress; stops here if the job was cancelled or
    /// another worker took it over.
    pub async fn save(
        &mut self,
        progress: i32,
        step: &str,
        checkpoint: &impl Serialize,
    ) -> Result<(), JobError> {
        self.check().await?;
        if let Some(left) = self.crash_in.as_mut() {
            if *left == 0 {
                // As if the process died after the step's cloud calls, before saving it.
                return Err(JobError::LeaseLost);
            }
            *left -= 1;
        }
        let now = self.state.clock.now();
        jobs::save_step(
            &self.state.db,
            self.job.id,
            &self.worker,
            now,
            progress,
            step,
            checkpoint,
        )
        .await
        .map_err(|_| JobError::LeaseLost)?;
        self.job.checkpoint = serde_json::to_string(checkpoint).ok();
        self.job.progress = progress;
        self.job.step = step.to_owned();
        Ok(())
    }

    /// Stops with [`JobError::Cancelled`] or [`JobError::LeaseLost`] when the job should not go on.
    pub async fn check(&self) -> Result<(), JobError> {
        if *self.lost.borrow() {
            return Err(JobError::LeaseLost);
        }
        match jobs::cancel_requested(&self.state.db, self.job.id).await {
            Ok(true) => Err(JobError::Cancelled),
            Ok(false) => Ok(()),
            Err(e) => Err(JobError::Retryable(anyhow::anyhow!("{e}"))),
        }
    }

    /// Appends a line to the job's log.
    pub async fn log(&self, message: impl AsRef<str>) {
        let now = self.state.clock.now();
        if let Err(e) = jobs::log(&self.state.db, self.job.id, now, "info", message.as_ref()).await
        {
            tracing::warn!(job = self.job.id, error = %e, "could not write a job log line");
        }
    }
}

/// Claims and runs jobs. Several runners (in one process or many) may share a database.
#[derive(Clone)]
pub struct Runner {
    state: AppState,
    handlers: Arc<Registry>,
    worker: String,
    lease: Duration,
    crash_at_save: Option<usize>,
}

impl Runner {
    pub fn new(state: AppState, handlers: Registry, worker: impl Into<String>) -> Self {
        Runner {
            state,
            handlers: Arc::new(handlers),
            worker: worker.into(),
            lease: Duration::seconds(60),
            crash_at_save: None,
        }
    }

    /// Makes every job this runner runs stop dead at its `n`th save (0-based), leaving the
    /// job claimed and its last step unsaved, as a killed process would. For crash tests.
    pub fn crash_at_save(mut self, n: usize) -> Self {
        self.crash_at_save = Some(n);
        self
    }

    /// The lease a claim takes; renewed at a third of it while the job runs.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Claims one due job and runs it. False when nothing was due.
    pub async fn run_one(&self) -> anyhow::Result<bool> {
        let now = self.state.clock.now();
        let Some(job) = jobs::claim(&self.state.db, &self.worker, now, self.lease)
            .await
            .map_err(anyhow::Error::msg)?
        else {
            return Ok(false);
        };
        let span = tracing::info_span!("job", id = job.id, kind = %job.kind, worker = %self.worker);
        // Entered only around the awaits of this job, never held across them.
        self.run_claimed(job).instrument(span).await
    }

    async fn run_claimed(&self, job: job::Model) -> anyhow::Result<bool> {
        let now = self.state.clock.now();
        let Some(handler) = self.handlers.get(job.kind.as_str()) else {
            let error = format!("no handler for jobs of kind '{}' in this worker", job.kind);
            notify::finish_job(
                &self.state.db,
                &job,
                &self.worker,
                now,
                Finish::Failed { error },
            )
            .await
            .map_err(anyhow::Error::msg)?;
            return Ok(true);
        };
        let (lost_tx, lost_rx) = watch::channel(false);
        let renewer = self.spawn_renewer(job.id, lost_tx);
        let mut ctx = JobContext {
            job: job.clone(),
            state: self.state.clone(),
            worker: self.worker.clone(),
            lost: lost_rx,
            crash_in: self.crash_at_save,
        };
        let result = handler.run(&mut ctx).await;
        renewer.abort();
        let finish = match result {
            Ok(Outcome::Done(value)) => Finish::Succeeded(value),
            Ok(Outcome::WaitFor(delay)) => Finish::Wait {
                run_at: self.state.clock.now() + delay,
            },
            Err(JobError::Retryable(e)) => Finish::Retry {
                error: format!("{e:#}"),
            },
            Err(JobError::Fatal(e)) => Finish::Failed {
                error: format!("{e:#}"),
            },
            Err(JobError::Blocked { error, blocker }) => Finish::Blocked {
                error: format!("{error:#}"),
                blocker,
            },
            Err(JobError::Cancelled) => Finish::Cancelled,
            Err(JobError::LeaseLost) => {
                tracing::warn!("lease lost; another worker has the job");
                return Ok(true);
            }
        };
        // The context holds the progress and checkpoint of the last saved step.
        let current = job::Model {
            attempts: ctx.job.attempts,
            ..job
        };
        if let Err(e) = notify::finish_job(
            &self.state.db,
            &current,
            &self.worker,
            self.state.clock.now(),
            finish,
        )
        .await
        {
            tracing::warn!(error = %e, "could not record how the job ended");
        }
        // A train waiting on this job goes on now, not at the next tick.
        if let Err(e) = app::services::trains::job_finished(
            &self.state.db,
            self.state.clock.now(),
            &current.kind,
        )
        .await
        {
            tracing::warn!(error = %e.message, "could not move the trains on");
        }
        Ok(true)
    }

    fn spawn_renewer(&self, id: i32, lost: watch::Sender<bool>) -> tokio::task::JoinHandle<()> {
        let (state, worker, lease) = (self.state.clone(), self.worker.clone(), self.lease);
        let every = (lease / 3)
            .to_std()
            .unwrap_or(StdDuration::from_secs(20))
            .max(StdDuration::from_millis(50));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let until = state.clock.now() + lease;
                match jobs::renew_lease(&state.db, id, &worker, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let _ = lost.send(true);
                        return;
                    }
                    Err(e) => tracing::warn!(job = id, error = %e, "could not renew a lease"),
                }
            }
        })
    }

    /// Runs due jobs until none is left; what waits for later stays queued. For tests and
    /// one-shot use.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        let mut ran = 0;
        while self.run_one().await? {
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs forever (until `shutdown` turns true), polling when the queue is empty.
    pub async fn run_forever(self, mut shutdown: watch::Receiver<bool>, idle_poll: StdDuration) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(worker = %self.worker, error = %e, "the job runner hit an error")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(idle_poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Every job kind this build of the portal runs.
pub fn handlers(cloud: &Arc<Cloud>) -> Registry {
    Registry::default()
        .with(noop::Handler)
        .with(build_image::Handler::new(cloud.clone()))
        .with(cloud_sync::Handler::new(cloud.clone()))
        .with(deliver_webhook::Handler::new())
        .with(publish_copy::Handler::new(cloud.clone()))
        .with(publish_version::Handler::new(cloud.clone()))
        .with(restrict_versions::Handler::new(cloud.clone()))
        .with(retire_images::Handler::new(cloud.clone()))
}

/// The process clock: once a minute escalates tasks whose partner did not answer in time
/// and flags maintenance runs at risk or past their deadline. Safe to run in every process:
/// each flag is set (and announced) once.
pub async fn run_clock(state: AppState, mut shutdown: watch::Receiver<bool>, every: StdDuration) {
    loop {
        match app::services::process::sweep(&state.db, state.clock.now()).await {
            Ok(report) if report != Default::default() => tracing::info!(?report, "process clock"),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err.message, "the process clock failed; trying again")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// The train tick: every `every`, one turn of every train that is not done, so a wait that
/// cleared (copy approved, a proposal decided, a policy turned automatic, a restart) goes
/// on by itself. Safe in every process: a step is started by one turn only.
pub async fn run_trains(state: AppState, mut shutdown: watch::Receiver<bool>, every: StdDuration) {
    loop {
        if let Err(err) = app::services::trains::advance_open(&state.db, state.clock.now()).await {
            tracing::warn!(error = %err.message, "the train tick failed; trying again");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Starts `count` workers in this process, and with them the process clock, the train
/// tick, the daily base-image check and the account sync (at start, then every
/// `state.cloud_sync_every`; zero: only at start and on demand); they stop when `shutdown`
/// turns true.
pub fn spawn_workers(
    state: &AppState,
    cloud: &Arc<Cloud>,
    count: u32,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "portal".into());
    let clock = (count > 0).then(|| {
        tokio::spawn(run_clock(
            state.clone(),
            shutdown.clone(),
            StdDuration::from_secs(60),
        ))
    });
    let trains = (count > 0).then(|| {
        tokio::spawn(run_trains(
            state.clone(),
            shutdown.clone(),
            StdDuration::from_secs(5),
        ))
    });
    // Looks once a minute whether the day's base-image check is due (in any process).
    let base_images = (count > 0).then(|| {
        tokio::spawn(base_image_check::run_daily(
            state.clone(),
            cloud.clone(),
            shutdown.clone(),
            StdDuration::from_secs(60),
        ))
    });
    // Queues the sync at start, then looks once a minute whether the next one is due.
    let cloud_sync = (count > 0).then(|| {
        tokio::spawn(cloud_sync::run_schedule(
            state.clone(),
            shutdown.clone(),
            StdDuration::from_secs(60),
            state.cloud_sync_every,
        ))
    });
    (0..count)
        .map(|i| {
            let runner = Runner::new(
                state.clone(),
                handlers(cloud),
                format!("{host}:{}:{i}", std::process::id()),
            );
            tokio::spawn(runner.run_forever(shutdown.clone(), StdDuration::from_millis(500)))
        })
        .chain(clock)
        .chain(trains)
        .chain(base_images)
        .chain(cloud_sync)
        .collect()
}
