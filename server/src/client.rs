//! The `portal` commands a release pipeline runs against a portal: `portal release record`,
//! `portal release wait` and `portal jobs follow`. They talk to the portal's REST API
//! (`/api/v1`) with an API token, print what happens to the writer they are given, and end
//! with an [`Exit`] a pipeline can act on.
//!
//! Waiting is polling: each command looks, prints what changed, and sleeps its interval,
//! until there is an answer or its timeout runs out. A portal that stops answering for a
//! while (a restart, a proxy's 502) is asked again until the timeout; a wrong URL, a
//! refused token or an unknown release ends the command at once.

use std::{collections::HashMap, fmt, io::Write, str::FromStr, time::Duration};

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};
use tokio::time::Instant;

use app::{
    domain::{JobState, ReleaseKind, TrainState, TrainStepState, Version},
    dto::{Job, JobEvent, Release, ReleaseInput, ReleaseTrain, TrainStep},
    error::{AppError, ErrorCode},
};

/// Writes one line of the command's output. Output that cannot be written (a closed pipe)
/// does not change how the command ends.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// How a client command ended, as the process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The release is recorded (or was already), the train is done, the job succeeded.
    Success,
    /// A step of the train failed and nothing is still running, or the job failed or was
    /// cancelled.
    Failed,
    /// The command could not do its work: bad usage, the portal out of reach, the token
    /// refused, no such release, train or job.
    Error,
    /// Nothing runs any more and the rest waits on people: a gate of the train (copy
    /// approval, a proposal, a step by hand) or a blocked job.
    Waiting,
    /// Still going when the timeout ran out.
    TimedOut,
}

impl Exit {
    /// The exit status: 0, 1, 2, 3 and 4 in the order above.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Error => 2,
            Exit::Waiting => 3,
            Exit::TimedOut => 4,
        }
    }
}

/// An API token. It is sent in the `Authorization` header only: it is not shown by
/// `Debug`, in `--help`, or in any message.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(secret: &str) -> Result<Self, String> {
        secret.parse()
    }
}

impl FromStr for Token {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A CI variable pasted with its line break still works.
        let s = s.trim();
        if s.is_empty() {
            return Err("the API token is empty: set PORTAL_TOKEN or --token".into());
        }
        Ok(Token(s.to_owned()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Which portal to talk to, and as whom.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The portal's URL, e.g. `https://images.example.com`.
    #[arg(long, env = "PORTAL_URL")]
    pub url: String,
    /// An API token (`pip_…`, made on the portal's /settings/tokens) with the scopes the
    /// command needs: `read` to wait and follow, `write` too to record a release. Prefer the
    /// environment variable: a flag's value shows in the process list.
    #[arg(long, env = "PORTAL_TOKEN", hide_env_values = true)]
    pub token: Token,
}

/// How long to wait and how often to look.
#[derive(Debug, Clone, Args)]
pub struct PollArgs {
    /// Give up (exit status 4) after this many minutes.
    #[arg(long, default_value_t = 240, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    pub timeout: u64,
    /// Seconds between two looks.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub interval: u64,
}

impl PollArgs {
    pub fn poll(&self) -> Poll {
        Poll {
            interval: Duration::from_secs(self.interval),
            timeout: Duration::from_secs(self.timeout.saturating_mul(60)),
        }
    }
}

/// The polling of a waiting command: the pause between two looks and when to give up.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    pub interval: Duration,
    pub timeout: Duration,
}

/// `portal release …`
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Record a release in the portal (a stable one starts its train); a release already
    /// recorded is success, so a retried pipeline goes on.
    Record(RecordArgs),
    /// Follow a release's train: prints each step as it changes; exits 0 when the train is
    /// done, 1 when a step failed, 3 when the rest waits on people, 4 on timeout, 2 when
    /// the portal cannot be asked.
    Wait(WaitArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The version, e.g. `17.7.0` (a leading `v` is accepted).
    pub version: String,
    /// The day it was released, YYYY-MM-DD [default: today, UTC].
    #[arg(long, value_parser = parse_day)]
    pub date: Option<NaiveDate>,
    /// `regular`, `patch` or `security` [default: `patch` when the patch number is above 0,
    /// else `regular`].
    #[arg(long)]
    pub kind: Option<ReleaseKind>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The version whose train to follow, or `latest`.
    pub version: String,
    #[command(flatten)]
    pub poll: PollArgs,
    #[command(flatten)]
    pub connection: Connection,
}

/// `portal jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Follow a job: prints its log lines and progress; exits 0 when it succeeds, 1 when it
    /// fails or is cancelled, 3 when it is blocked, 4 on timeout, 2 when the portal cannot
    /// be asked.
    Follow(FollowArgs),
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    /// The job's id.
    pub id: i32,
    #[command(flatten)]
    pub poll: PollArgs,
    #[command(flatten)]
    pub connection: Connection,
}

fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{s}' is not a day: expected YYYY-MM-DD"))
}

/// Runs `portal release …`; `today` is the default release day.
pub async fn release(command: ReleaseCommand, today: NaiveDate, out: &mut dyn Write) -> Exit {
    match command {
        ReleaseCommand::Record(args) => {
            let Some(portal) = connect(&args.connection, out) else {
                return Exit::Error;
            };
            record(
                &portal,
                &args.version,
                args.date.unwrap_or(today),
                args.kind,
                out,
            )
            .await
        }
        ReleaseCommand::Wait(args) => {
            let Some(portal) = connect(&args.connection, out) else {
                return Exit::Error;
            };
            wait(&portal, &args.version, args.poll.poll(), out).await
        }
    }
}

/// Runs `portal jobs …`.
pub async fn jobs(command: JobsCommand, out: &mut dyn Write) -> Exit {
    match command {
        JobsCommand::Follow(args) => {
            let Some(portal) = connect(&args.connection, out) else {
                return Exit::Error;
            };
            follow(&portal, args.id, args.poll.poll(), out).await
        }
    }
}

fn connect(connection: &Connection, out: &mut dyn Write) -> Option<Portal> {
    match Portal::new(&connection.url, &connection.token) {
        Ok(portal) => Some(portal),
        Err(message) => {
            say!(out, "error: {message}");
            None
        }
    }
}

/// A portal's REST API, as one token sees it.
#[derive(Debug, Clone)]
pub struct Portal {
    http: reqwest::Client,
    /// The portal's URL, ending in `/`.
    base: url::Url,
    authorization: header::HeaderValue,
}

/// What went wrong asking the portal.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// No answer: the address does not resolve, nothing listens, or it took too long.
    Unreachable(String),
    /// The portal answered with one of its errors.
    Refused { status: StatusCode, error: AppError },
    /// Something answered that is not the portal's API (a proxy's error page, a redirect,
    /// a body that does not parse).
    Unexpected {
        status: Option<StatusCode>,
        message: String,
    },
}

impl ApiError {
    /// Whether asking again later may succeed: no answer, a server error, too many requests.
    pub fn is_transient(&self) -> bool {
        let status = match self {
            ApiError::Unreachable(_) => return true,
            ApiError::Refused { status, .. } => Some(*status),
            ApiError::Unexpected { status, .. } => *status,
        };
        status.is_some_and(|s| s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS)
    }

    /// The status the portal answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Unreachable(_) => None,
            ApiError::Refused { status, .. } => Some(*status),
            ApiError::Unexpected { status, .. } => *status,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable(message) | ApiError::Unexpected { message, .. } => {
                f.write_str(message)
            }
            ApiError::Refused { status, error } => {
                let mut message = error.message.clone();
                for field in &error.fields {
                    if !message.contains(&field.message) {
                        message.push_str(&format!("; {}: {}", field.field, field.message));
                    }
                }
                match error.code {
                    ErrorCode::Unauthenticated => write!(
                        f,
                        "the portal refused the API token ({status}): {message}; check PORTAL_TOKEN \
                         (tokens are made on the portal's /settings/tokens)"
                    ),
                    ErrorCode::Forbidden => {
                        write!(f, "the API token may not do this ({status}): {message}")
                    }
                    _ => write!(f, "{message} ({status})"),
                }
            }
        }
    }
}

impl Portal {
    /// A client of the portal at `url`, authenticating with `token`.
    pub fn new(url: &str, token: &Token) -> Result<Self, String> {
        let shown = url.trim();
        if shown.is_empty() {
            return Err("the portal's URL is empty: set PORTAL_URL or --url".into());
        }
        let mut base = url::Url::parse(shown)
            .map_err(|e| format!("the portal's URL '{shown}' is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(format!(
                "the portal's URL '{shown}' must be an http:// or https:// address"
            ));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(
                "the portal's URL must not carry a user name or password: the API token \
                 (PORTAL_TOKEN) is how the client signs in"
                    .into(),
            );
        }
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut authorization = header::HeaderValue::from_str(&format!("Bearer {}", token.0))
            .map_err(|_| "the API token holds characters an HTTP header cannot carry")?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            // A redirect (to https, to a sign-in page) is reported, not followed: the token
            // goes to the URL it was given for, and nowhere else.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("portal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Portal {
            http,
            base,
            authorization,
        })
    }

    /// The URL of one of the portal's pages, e.g. `/jobs/12`.
    pub fn page(&self, path: &str) -> String {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(path.split('/').filter(|s| !s.is_empty()));
        }
        url.to_string()
    }

    fn endpoint(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ApiError> {
        let what = format!("{method} {}", url.path());
        let mut request = self
            .http
            .request(method, url)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            ApiError::Unreachable(format!(
                "cannot reach the portal at {}: {}",
                self.base,
                cause_chain(&e)
            ))
        })?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("elsewhere")
                .to_owned();
            return Err(ApiError::Unexpected {
                status: Some(status),
                message: format!(
                    "the portal at {} redirects {what} to {to}: set PORTAL_URL to the address \
                     the portal is served at",
                    self.base
                ),
            });
        }
        let bytes = response.bytes().await.map_err(|e| {
            ApiError::Unreachable(format!(
                "the portal at {} stopped answering {what}: {}",
                self.base,
                cause_chain(&e)
            ))
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Unexpected {
                status: Some(status),
                message: format!(
                    "the answer to {what} is not what this client understands ({e}): is {} a \
                     portal of the same version?",
                    self.base
                ),
            });
        }
        match serde_json::from_slice::<AppError>(&bytes) {
            Ok(error) => Err(ApiError::Refused { status, error }),
            Err(_) => Err(ApiError::Unexpected {
                status: Some(status),
                message: format!(
                    "{what} answered {status} without the portal's error body: is {} the \
                     portal's address?",
                    self.base
                ),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ApiError> {
        self.call(Method::GET, self.endpoint(segments), None::<&()>)
            .await
    }

    /// `GET /api/v1/releases/{version}`.
    pub async fn release(&self, version: &str) -> Result<Release, ApiError> {
        self.get(&["releases", version]).await
    }

    /// `POST /api/v1/releases`.
    pub async fn record_release(&self, input: &ReleaseInput) -> Result<Release, ApiError> {
        self.call(Method::POST, self.endpoint(&["releases"]), Some(input))
            .await
    }

    /// `GET /api/v1/releases/{version}/train`.
    pub async fn train(&self, version: &str) -> Result<ReleaseTrain, ApiError> {
        self.get(&["releases", version, "train"]).await
    }

    /// `GET /api/v1/jobs/{id}`.
    pub async fn job(&self, id: i32) -> Result<Job, ApiError> {
        self.get(&["jobs", &id.to_string()]).await
    }

    /// `GET /api/v1/jobs/{id}/events?after=…`: the log lines after the event `after`.
    pub async fn job_events(&self, id: i32, after: i32) -> Result<Vec<JobEvent>, ApiError> {
        let mut url = self.endpoint(&["jobs", &id.to_string(), "events"]);
        url.query_pairs_mut()
            .append_pair("after", &after.to_string());
        self.call(Method::GET, url, None::<&()>).await
    }
}

/// An error and each of its causes, on one line.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// A timeout in words: `240 minutes`, or seconds when it is not a whole number of minutes.
fn span(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} minutes", secs / 60)
    } else {
        format!("{:.1} seconds", d.as_secs_f64())
    }
}

/// The kind a release gets when none is given: `patch` when the patch number is above 0.
pub fn default_kind(version: &Version) -> ReleaseKind {
    if version.patch > 0 {
        ReleaseKind::Patch
    } else {
        ReleaseKind::Regular
    }
}

/// `portal release record`: records the release, or finds it recorded, and prints it and
/// where to watch its train.
pub async fn record(
    portal: &Portal,
    version: &str,
    released_on: NaiveDate,
    kind: Option<ReleaseKind>,
    out: &mut dyn Write,
) -> Exit {
    let parsed = match Version::parse(version) {
        Ok(v) => v,
        Err(message) => {
            say!(out, "error: {message}");
            return Exit::Error;
        }
    };
    let version = parsed.to_string();
    let input = ReleaseInput {
        version: version.clone(),
        released_on: released_on.format("%Y-%m-%d").to_string(),
        kind: kind.unwrap_or_else(|| default_kind(&parsed)).to_string(),
        notes_url: String::new(),
    };
    let release = match portal.record_release(&input).await {
        Ok(release) => {
            say!(
                out,
                "Recorded release {} ({}, released {}).",
                release.version,
                release.kind,
                release.released_on
            );
            release
        }
        Err(ApiError::Refused { error, .. })
            if error.code == ErrorCode::Conflict && error.field("version").is_some() =>
        {
            // A retried pipeline: the release is there; say what the portal holds.
            match portal.release(&version).await {
                Ok(release) => {
                    say!(
                        out,
                        "Release {} is already recorded ({}, released {}).",
                        release.version,
                        release.kind,
                        release.released_on
                    );
                    release
                }
                Err(e) => {
                    say!(out, "error: {e}");
                    return Exit::Error;
                }
            }
        }
        Err(e) => {
            say!(out, "error: {e}");
            return Exit::Error;
        }
    };
    match portal.train(&release.version).await {
        Ok(train) => say!(
            out,
            "Train: {} ({} steps, due {}): {}",
            train.title,
            train.steps.len(),
            train.due_on,
            portal.page(&format!("/releases/{}/train", release.version))
        ),
        Err(ApiError::Refused { status, .. }) if status == StatusCode::NOT_FOUND => {
            let why = if parsed.pre.is_some() {
                "a release candidate starts none"
            } else {
                "it started none"
            };
            say!(out, "Release {} has no train: {why}.", release.version);
        }
        Err(e) => {
            say!(out, "error: the release is recorded, but its train: {e}");
            return Exit::Error;
        }
    }
    Exit::Success
}

/// How a train stands for someone waiting on it: `None` while something still moves by
/// itself, else how the wait ends.
pub fn verdict(train: &ReleaseTrain) -> Option<Exit> {
    if train.state == TrainState::Done {
        return Some(Exit::Success);
    }
    let moving = train.state == TrainState::Running
        || train
            .steps
            .iter()
            .any(|s| s.state == TrainStepState::Running);
    if moving {
        None
    } else if train.state == TrainState::Stopped
        || train
            .steps
            .iter()
            .any(|s| s.state == TrainStepState::Failed)
    {
        Some(Exit::Failed)
    } else {
        Some(Exit::Waiting)
    }
}

/// One step as a line: `build GitLab EE 17.7.0 (arm64): running 40% copying to the target
/// regions`, `publish GitLab Premium 17.7.0 Release: waiting — waiting on Marketing's copy
/// approval`.
pub fn step_line(step: &TrainStep) -> String {
    let mut line = format!(
        "{} {}: {}",
        step.kind,
        step.label,
        step.state.label().to_lowercase()
    );
    let running_job = step
        .job
        .as_ref()
        .filter(|_| step.state == TrainStepState::Running);
    if let Some(job) = running_job {
        line.push_str(&format!(" {}%", job.progress));
        if !job.step.is_empty() {
            line.push(' ');
            line.push_str(&job.step);
        }
    }
    if !step.wait.is_empty() {
        line.push_str(" — ");
        line.push_str(&step.wait);
    }
    line
}

/// The train as a whole, printed when its state or its clock changes (each step's progress
/// has its own lines).
fn train_line(train: &ReleaseTrain) -> (String, String) {
    let key = format!("{} {}", train.state, train.sla);
    let line = format!(
        "{}: {} {}%, {}",
        train.title,
        train.state.label().to_lowercase(),
        train.progress,
        train.sla.label().to_lowercase()
    );
    (key, line)
}

/// `portal release wait`: follows the release's train until it is done, fails, waits on
/// people, or `poll.timeout` runs out, printing each step whenever it changes.
pub async fn wait(portal: &Portal, version: &str, poll: Poll, out: &mut dyn Write) -> Exit {
    let deadline = Instant::now() + poll.timeout;
    let mut shown: HashMap<i32, String> = HashMap::new();
    let mut shown_train = String::new();
    let mut last: Option<ReleaseTrain> = None;
    let mut trouble = false;
    loop {
        match portal.train(version).await {
            Ok(train) => {
                if last.is_none() {
                    say!(
                        out,
                        "Following {} (started {}, due {}): {}",
                        train.title,
                        train.started_on,
                        train.due_on,
                        portal.page(&match &train.release {
                            Some(v) => format!("/releases/{v}/train"),
                            None => format!("/trains/{}", train.id),
                        })
                    );
                }
                if std::mem::take(&mut trouble) {
                    say!(out, "The portal answers again.");
                }
                for step in &train.steps {
                    let line = step_line(step);
                    if shown.get(&step.id) != Some(&line) {
                        say!(out, "{line}");
                        shown.insert(step.id, line);
                    }
                }
                let (key, line) = train_line(&train);
                if key != shown_train {
                    say!(out, "{line}");
                    shown_train = key;
                }
                if let Some(exit) = verdict(&train) {
                    report(portal, &train, exit, out);
                    return exit;
                }
                last = Some(train);
            }
            // Once the train was seen, a portal out of reach for a while (a restart) is
            // asked again until the timeout.
            Err(e) if last.is_some() && e.is_transient() => {
                if !trouble {
                    say!(out, "warning: {e}; asking again until the timeout");
                    trouble = true;
                }
            }
            Err(e) => {
                if e.status() == Some(StatusCode::NOT_FOUND) {
                    say!(out, "error: no train to follow for release {version}: {e}");
                } else {
                    say!(out, "error: {e}");
                }
                return Exit::Error;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            say!(
                out,
                "Timed out after {}; the train is still moving.",
                span(poll.timeout)
            );
            if let Some(train) = &last {
                for step in train.steps.iter().filter(|s| !s.state.is_settled()) {
                    say!(out, "  {}", step_line(step));
                }
            }
            return Exit::TimedOut;
        }
        tokio::time::sleep(poll.interval.min(deadline - now)).await;
    }
}

/// The closing words on a settled train.
fn report(portal: &Portal, train: &ReleaseTrain, exit: Exit, out: &mut dyn Write) {
    let failed: Vec<&TrainStep> = train
        .steps
        .iter()
        .filter(|s| s.state == TrainStepState::Failed)
        .collect();
    let waiting: Vec<&TrainStep> = train
        .steps
        .iter()
        .filter(|s| !s.state.is_settled())
        .collect();
    match exit {
        Exit::Success => say!(
            out,
            "Done: {} ({}).",
            train.title,
            train.sla.label().to_lowercase()
        ),
        Exit::Failed if failed.is_empty() => say!(out, "Stopped: {}.", train.title),
        Exit::Failed => {
            say!(
                out,
                "Failed: {} step(s) of {} failed:",
                failed.len(),
                train.title
            );
            for step in &failed {
                say!(out, "  {} {}: {}", step.kind, step.label, reason(step));
                if let Some(job) = &step.job {
                    say!(
                        out,
                        "    job: {}",
                        portal.page(&format!("/jobs/{}", job.id))
                    );
                }
            }
        }
        _ => say!(
            out,
            "Waiting: nothing of {} runs by itself any more.",
            train.title
        ),
    }
    if exit != Exit::Success && !waiting.is_empty() {
        say!(out, "Still waiting:");
        for step in &waiting {
            say!(out, "  {} {}: {}", step.kind, step.label, reason(step));
        }
    }
    for run in &train.runs {
        say!(
            out,
            "Maintenance: {}: {}/{} tasks done{}",
            run.title,
            run.tasks_done,
            run.tasks_total,
            run.sla
                .as_ref()
                .map(|s| format!(", {}", s.status.label().to_lowercase()))
                .unwrap_or_default()
        );
    }
}

/// What a step waits for or how it failed, in words.
fn reason(step: &TrainStep) -> String {
    if !step.wait.is_empty() {
        return step.wait.clone();
    }
    step.job
        .as_ref()
        .and_then(|j| j.last_error.clone())
        .unwrap_or_else(|| step.state.label().to_lowercase())
}

/// `portal jobs follow`: prints the job's log lines (each once) and its progress until it
/// is over, blocked, or `poll.timeout` runs out.
pub async fn follow(portal: &Portal, id: i32, poll: Poll, out: &mut dyn Write) -> Exit {
    let deadline = Instant::now() + poll.timeout;
    let mut after = 0;
    let mut seen_job = false;
    let mut shown_progress = String::new();
    let mut trouble = false;
    loop {
        // The job first, then its log: a job seen over has written its last line already.
        let looked = match portal.job(id).await {
            Ok(job) => portal.job_events(id, after).await.map(|e| (job, e)),
            Err(e) => Err(e),
        };
        match looked {
            Ok((job, events)) => {
                if !seen_job {
                    say!(
                        out,
                        "Following job {id} ({}): {}",
                        job.kind,
                        portal.page(&format!("/jobs/{id}"))
                    );
                    seen_job = true;
                }
                if std::mem::take(&mut trouble) {
                    say!(out, "The portal answers again.");
                }
                for event in events {
                    after = after.max(event.id);
                    say!(
                        out,
                        "{} {:<5} {}",
                        event.at.format("%H:%M:%S"),
                        event.level,
                        event.message
                    );
                }
                let progress = format!(
                    "{} {}%{}",
                    job.state.label().to_lowercase(),
                    job.progress,
                    if job.step.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", job.step)
                    }
                );
                if progress != shown_progress {
                    say!(out, "job {id}: {progress}");
                    shown_progress = progress;
                }
                let error = job.last_error.as_deref().unwrap_or("no reason recorded");
                match job.state {
                    JobState::Succeeded => {
                        say!(out, "Job {id} succeeded.");
                        return Exit::Success;
                    }
                    JobState::Failed => {
                        say!(out, "Job {id} failed: {error}");
                        return Exit::Failed;
                    }
                    JobState::Cancelled => {
                        say!(out, "Job {id} was cancelled.");
                        return Exit::Failed;
                    }
                    JobState::Blocked => {
                        say!(out, "Job {id} is blocked: {error}");
                        return Exit::Waiting;
                    }
                    JobState::Queued | JobState::Running | JobState::Waiting => {}
                }
            }
            Err(e) if seen_job && e.is_transient() => {
                if !trouble {
                    say!(out, "warning: {e}; asking again until the timeout");
                    trouble = true;
                }
            }
            Err(e) => {
                say!(out, "error: {e}");
                return Exit::Error;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            say!(
                out,
                "Timed out after {}; job {id} is still {}.",
                span(poll.timeout),
                shown_progress
            );
            return Exit::TimedOut;
        }
        tokio::time::sleep(poll.interval.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use app::{
        domain::{Policy, SlaStatus, TrainKind, TrainStepKind},
        dto::TrainTimeline,
    };
    use chrono::{TimeZone as _, Utc};

    use super::*;

    fn job(state: JobState, progress: i32, step: &str) -> Job {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .single()
            .expect("a time");
        Job {
            id: 7,
            kind: "build_image".into(),
            payload: serde_json::Value::Null,
            state,
            run_at: at,
            attempts: 1,
            max_attempts: 5,
            progress,
            step: step.into(),
            result: None,
            last_error: None,
            cancel_requested: false,
            checkpoint_step: None,
            group_key: None,
            created_at: at,
            updated_at: at,
            finished_at: None,
        }
    }

    fn step(id: i32, kind: TrainStepKind, state: TrainStepState, wait: &str) -> TrainStep {
        TrainStep {
            id,
            key: format!("step:{id}"),
            kind,
            label: match kind {
                TrainStepKind::Build => "GitLab EE 17.7.0 (arm64)".into(),
                TrainStepKind::Publish => "GitLab Premium 17.7.0 Release".into(),
            },
            release: "17.7.0".into(),
            partner_slug: "aws".into(),
            product_slug: "gitlab-ee".into(),
            product_name: "GitLab EE".into(),
            arch: None,
            listing_id: None,
            listing: None,
            rebuild_of: None,
            state,
            wait: wait.into(),
            policy: Policy::Automatic,
            job: None,
            image_version_id: None,
            started_at: None,
            finished_at: None,
        }
    }

    fn train(state: TrainState, steps: Vec<TrainStep>) -> ReleaseTrain {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .single()
            .expect("a time");
        ReleaseTrain {
            id: 1,
            kind: TrainKind::Release,
            title: "Release 17.7.0".into(),
            catalyst: "GitLab 17.7.0 was released".into(),
            release: Some("17.7.0".into()),
            started_on: at.date_naive(),
            due_on: at.date_naive(),
            state,
            sla: SlaStatus::OnTrack,
            progress: 50,
            created_at: at,
            finished_at: None,
            steps,
            runs: Vec::new(),
            timeline: TrainTimeline {
                due_days: 3.0,
                now_days: 0.0,
                milestones: Vec::new(),
            },
        }
    }

    #[test]
    fn a_running_step_shows_its_jobs_progress_and_a_waiting_one_what_it_waits_for() {
        let mut build = step(1, TrainStepKind::Build, TrainStepState::Running, "");
        build.job = Some(job(JobState::Running, 40, "copying to the target regions"));
        assert_eq!(
            step_line(&build),
            "build GitLab EE 17.7.0 (arm64): running 40% copying to the target regions"
        );
        let publish = step(
            2,
            TrainStepKind::Publish,
            TrainStepState::Waiting,
            "waiting on Marketing's copy approval",
        );
        assert_eq!(
            step_line(&publish),
            "publish GitLab Premium 17.7.0 Release: waiting — waiting on Marketing's copy approval"
        );
        let mut done = step(3, TrainStepKind::Build, TrainStepState::Done, "");
        done.job = Some(job(JobState::Succeeded, 100, "done"));
        assert_eq!(step_line(&done), "build GitLab EE 17.7.0 (arm64): done");
    }

    #[test]
    fn the_wait_ends_on_done_on_a_failure_once_nothing_runs_and_on_a_gate() {
        use TrainStepKind::{Build, Publish};
        use TrainStepState as S;
        let done = train(TrainState::Done, vec![step(1, Build, S::Done, "")]);
        assert_eq!(verdict(&done), Some(Exit::Success));

        let running = train(
            TrainState::Running,
            vec![
                step(1, Build, S::Running, ""),
                step(2, Publish, S::Pending, ""),
            ],
        );
        assert_eq!(verdict(&running), None);

        // A failed branch while another still runs: keep following.
        let failing = train(
            TrainState::Stopped,
            vec![
                step(1, Build, S::Failed, "install failed"),
                step(2, Build, S::Running, ""),
            ],
        );
        assert_eq!(verdict(&failing), None);

        let failed = train(
            TrainState::Stopped,
            vec![
                step(1, Build, S::Failed, "install failed"),
                step(2, Publish, S::Waiting, "waiting on the image"),
            ],
        );
        assert_eq!(verdict(&failed), Some(Exit::Failed));

        let gated = train(
            TrainState::Waiting,
            vec![
                step(1, Build, S::Done, ""),
                step(
                    2,
                    Publish,
                    S::Waiting,
                    "waiting on Marketing's copy approval",
                ),
                step(3, Publish, S::Manual, "published by hand"),
            ],
        );
        assert_eq!(verdict(&gated), Some(Exit::Waiting));
    }

    #[test]
    fn the_portal_url_may_carry_a_path_and_never_credentials() {
        let token = Token::new("  pip_secret\n").expect("token");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        let portal = Portal::new("https://images.example.com/portal", &token).expect("portal");
        assert_eq!(
            portal.endpoint(&["releases", "17.7.0", "train"]).as_str(),
            "https://images.example.com/portal/api/v1/releases/17.7.0/train"
        );
        assert_eq!(
            portal.page("/releases/17.7.0/train"),
            "https://images.example.com/portal/releases/17.7.0/train"
        );
        assert!(!format!("{portal:?}").contains("pip_secret"));
        let root = Portal::new("http://127.0.0.1:3000/", &token).expect("portal");
        assert_eq!(
            root.endpoint(&["jobs", "12"]).as_str(),
            "http://127.0.0.1:3000/api/v1/jobs/12"
        );
        for (url, says) in [
            ("", "empty"),
            ("images.example.com", "not a URL"),
            ("ftp://images.example.com", "http:// or https://"),
            (
                "https://ci:hunter2@images.example.com",
                "user name or password",
            ),
        ] {
            let err = Portal::new(url, &token).expect_err(url);
            assert!(err.contains(says), "{url}: {err}");
        }
        assert!(Token::new(" \n").is_err());
    }

    #[test]
    fn a_release_is_a_patch_when_its_patch_number_is_above_zero() {
        let kind = |v: &str| default_kind(&Version::parse(v).expect("version"));
        assert_eq!(kind("17.7.0"), ReleaseKind::Regular);
        assert_eq!(kind("17.7.1"), ReleaseKind::Patch);
        assert_eq!(kind("v18.0.12"), ReleaseKind::Patch);
    }

    #[test]
    fn only_an_answer_that_may_change_is_asked_again() {
        let refused = |status: u16, code| ApiError::Refused {
            status: StatusCode::from_u16(status).expect("status"),
            error: AppError::new(code, "no"),
        };
        assert!(ApiError::Unreachable("connection refused".into()).is_transient());
        assert!(refused(500, ErrorCode::Internal).is_transient());
        assert!(refused(429, ErrorCode::TooManyRequests).is_transient());
        assert!(
            ApiError::Unexpected {
                status: Some(StatusCode::BAD_GATEWAY),
                message: "proxy".into()
            }
            .is_transient()
        );
        for (status, code) in [
            (401, ErrorCode::Unauthenticated),
            (403, ErrorCode::Forbidden),
            (404, ErrorCode::NotFound),
        ] {
            assert!(!refused(status, code).is_transient(), "{status}");
        }
        let message = refused(401, ErrorCode::Unauthenticated).to_string();
        assert!(
            message.contains("refused the API token (401 Unauthorized)"),
            "{message}"
        );
        let message = refused(403, ErrorCode::Forbidden).to_string();
        assert!(
            message.contains("may not do this (403 Forbidden)"),
            "{message}"
        );
    }
}
