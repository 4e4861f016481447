//! The `portal` client commands a release pipeline runs (`release record`, `release wait`,
//! `jobs follow`), run in-process against a real portal over its REST API with an API
//! token, while a background task works the jobs and the train as `portal serve` would.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use app::{
    domain::{TokenScope, TrainStepState},
    dto::ApiTokenInput,
    services::{Clock as _, jobs, tokens, trains},
};
use chrono::NaiveDate;
use portal_tests::{Backend, TestApp};
use server::client::{self, Exit, Poll, Portal, Token};

/// The day the tests' releases come out: the tests' clock's day.
fn release_day() -> NaiveDate {
    portal_tests::test_epoch().date_naive()
}

/// Looks every 20 ms, for at most a minute (the work itself takes seconds).
const POLL: Poll = Poll {
    interval: Duration::from_millis(20),
    timeout: Duration::from_secs(60),
};

/// A new API token of the omnibus engineer with these scopes, as its secret.
async fn secret(app: &TestApp, scopes: &[TokenScope]) -> String {
    let oskar = app.user("oskar").await;
    let created = tokens::create(
        app.conn(),
        &oskar,
        app.clock.now(),
        &ApiTokenInput {
            name: "release pipeline".into(),
            scopes: scopes.to_vec(),
            expires_in_days: 30,
        },
    )
    .await
    .expect("token");
    created.secret
}

/// The portal as the release pipeline's token (read, write, jobs) sees it.
async fn pipeline(app: &TestApp) -> Portal {
    let secret = secret(
        app,
        &[TokenScope::Read, TokenScope::Write, TokenScope::Jobs],
    )
    .await;
    Portal::new(&app.url("/"), &Token::new(&secret).expect("token")).expect("portal")
}

/// Works the portal's jobs and turns its train engine in the background, as a serving
/// portal does, moving the tests' clock on to whatever a job waits for; stops when dropped.
struct Driver {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Driver {
    fn start(app: &TestApp) -> Self {
        let runner = app.runner("pipeline-driver");
        let db = app.conn().clone();
        let clock = app.clock.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            while !stopped.load(Ordering::SeqCst) {
                runner.run_until_idle().await?;
                trains::advance_open(&db, clock.now())
                    .await
                    .map_err(anyhow::Error::msg)?;
                runner.run_until_idle().await?;
                let next = portal_tests::next_open_job(&db).await?;
                if let Some(at) = next
                    && at > clock.now()
                {
                    clock.set(at + chrono::Duration::seconds(1));
                }
                // Lets the client's requests in between two turns.
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(())
        });
        Driver { stop, task }
    }

    /// Stops after the current turn, failing the test if a turn failed.
    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task
            .await
            .expect("the driver ran")
            .expect("every turn of the driver succeeded");
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pipeline_records_the_release_twice_and_waits_for_its_train_to_be_done() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.approve_copy("GitLab Premium")
        .await
        .expect("copy approved");
    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    let portal = pipeline(&app).await;

    let mut out = Vec::new();
    let exit = client::record(&portal, "17.7.0", release_day(), None, &mut out).await;
    let first = text(&out);
    assert_eq!(exit, Exit::Success, "{first}");
    assert!(
        first.contains("Recorded release 17.7.0 (regular"),
        "{first}"
    );
    assert!(
        first.contains(&app.url("/releases/17.7.0/train")),
        "the train's page: {first}"
    );

    // A retried pipeline records it again: success, and nothing doubles.
    let mut out = Vec::new();
    let exit = client::record(&portal, "v17.7.0", release_day(), None, &mut out).await;
    let again = text(&out);
    assert_eq!(exit, Exit::Success, "{again}");
    assert!(
        again.contains("Release 17.7.0 is already recorded"),
        "{again}"
    );
    let train = trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    let steps = train.steps.len();

    let driver = Driver::start(&app);
    let mut out = Vec::new();
    let exit = client::wait(&portal, "17.7.0", POLL, &mut out).await;
    driver.finish().await;
    let waited = text(&out);
    assert_eq!(exit, Exit::Success, "{waited}");
    assert!(waited.contains("Done: "), "{waited}");

    let train = trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    assert_eq!(train.steps.len(), steps, "the second record added no step");
    for step in &train.steps {
        assert_eq!(step.state, TrainStepState::Done, "{step:?}");
        // Each step was printed in its final state, once.
        let line = client::step_line(step);
        assert_eq!(waited.matches(&line).count(), 1, "{line} in {waited}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listing_without_approved_copy_ends_the_wait_on_its_gate_with_status_3() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // Only Ultimate has approved copy: Premium's publish waits on Marketing.
    app.without_copy("GitLab Premium")
        .await
        .expect("the seeded copy removed");
    app.approve_copy("GitLab Ultimate")
        .await
        .expect("copy approved");
    let portal = pipeline(&app).await;
    let mut out = Vec::new();
    assert_eq!(
        client::record(&portal, "17.7.0", release_day(), None, &mut out).await,
        Exit::Success,
        "{}",
        text(&out)
    );

    let driver = Driver::start(&app);
    let mut out = Vec::new();
    let exit = client::wait(&portal, "17.7.0", POLL, &mut out).await;
    driver.finish().await;
    let waited = text(&out);
    assert_eq!(exit, Exit::Waiting, "{waited}");

    let train = trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    let premium = app.listing("GitLab Premium").await.expect("listing");
    let gate = train
        .steps
        .iter()
        .find(|s| s.listing_id == Some(premium.id))
        .expect("Premium's publish step");
    assert!(!gate.state.is_settled(), "{gate:?}");
    assert!(!gate.wait.is_empty(), "the gate says what it waits for");
    let waits = waited
        .split("Still waiting:")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of waits in {waited}"));
    assert!(
        waits.contains(&format!("{} {}: {}", gate.kind, gate.label, gate.wait)),
        "{waited}"
    );
    // Everything that does not need the copy went through.
    for step in train.steps.iter().filter(|s| s.id != gate.id) {
        assert_eq!(step.state, TrainStepState::Done, "{step:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_build_ends_the_wait_with_status_1_and_says_why() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.sim
        .configure(|c| c.install_failure = Some("package".to_owned()));
    let portal = pipeline(&app).await;
    let mut out = Vec::new();
    assert_eq!(
        client::record(&portal, "17.7.0", release_day(), None, &mut out).await,
        Exit::Success,
        "{}",
        text(&out)
    );

    let driver = Driver::start(&app);
    let mut out = Vec::new();
    let exit = client::wait(&portal, "17.7.0", POLL, &mut out).await;
    driver.finish().await;
    let waited = text(&out);
    assert_eq!(exit, Exit::Failed, "{waited}");
    assert!(waited.contains("Failed: "), "{waited}");

    let train = trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    let failed: Vec<_> = train
        .steps
        .iter()
        .filter(|s| s.state == TrainStepState::Failed)
        .collect();
    assert!(!failed.is_empty(), "{:?}", train.steps);
    let report = waited.split("Failed: ").nth(1).unwrap_or_default();
    for step in failed {
        let reason = if step.wait.is_empty() {
            step.job
                .as_ref()
                .and_then(|j| j.last_error.clone())
                .unwrap_or_default()
        } else {
            step.wait.clone()
        };
        assert!(
            report.contains(&format!("{} {}: {reason}", step.kind, step.label)),
            "{step:?} in {waited}"
        );
        assert!(
            reason.contains("package"),
            "the failed install step: {reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn following_a_build_prints_each_log_line_once_and_ends_with_its_outcome() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let portal = pipeline(&app).await;
    let mut out = Vec::new();
    assert_eq!(
        client::record(&portal, "17.7.0", release_day(), None, &mut out).await,
        Exit::Success,
        "{}",
        text(&out)
    );
    let train = trains::release_train(app.conn(), app.clock.now(), "17.7.0")
        .await
        .expect("train");
    let job = train
        .steps
        .iter()
        .find_map(|s| s.job.clone())
        .expect("the train started a build");

    // Nobody works the jobs yet: the follower gives up when its time is out.
    let mut out = Vec::new();
    let short = Poll {
        interval: Duration::from_millis(10),
        timeout: Duration::from_millis(50),
    };
    let exit = client::follow(&portal, job.id, short, &mut out).await;
    let idle = text(&out);
    assert_eq!(exit, Exit::TimedOut, "{idle}");
    assert!(idle.contains(&format!("job {} is still", job.id)), "{idle}");

    let driver = Driver::start(&app);
    let mut out = Vec::new();
    let exit = client::follow(&portal, job.id, POLL, &mut out).await;
    driver.finish().await;
    let followed = text(&out);
    assert_eq!(exit, Exit::Success, "{followed}");
    assert!(
        followed.contains(&format!("Job {} succeeded.", job.id)),
        "{followed}"
    );
    let events = jobs::events(app.conn(), job.id, 0).await.expect("log");
    assert!(events.len() > 3, "a build logs its steps: {events:?}");
    for event in &events {
        let line = format!(
            "{} {:<5} {}",
            event.at.format("%H:%M:%S"),
            event.level,
            event.message
        );
        let expected = events
            .iter()
            .filter(|e| e.message == event.message && e.at == event.at && e.level == event.level)
            .count();
        assert_eq!(
            followed.matches(&line).count(),
            expected,
            "{line} in {followed}"
        );
    }
    assert!(followed.contains("100%"), "its progress: {followed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_an_unreachable_portal_or_an_unknown_release_is_status_2_with_a_clear_message()
{
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");

    let mut said = Vec::new();

    // A token the portal does not know.
    let stranger = Portal::new(
        &app.url(""),
        &Token::new("pip_0000000000000000000000000000000000000000").expect("token"),
    )
    .expect("portal");
    let mut out = Vec::new();
    let exit = client::record(&stranger, "17.7.0", release_day(), None, &mut out).await;
    let unknown = text(&out);
    assert_eq!(exit, Exit::Error, "{unknown}");
    assert!(unknown.contains("refused the API token"), "{unknown}");
    assert!(unknown.contains("401"), "{unknown}");
    assert!(unknown.contains("PORTAL_TOKEN"), "{unknown}");

    // A token that may read but not record.
    let reader = secret(&app, &[TokenScope::Read]).await;
    let read_only =
        Portal::new(&app.url(""), &Token::new(&reader).expect("token")).expect("portal");
    let mut out = Vec::new();
    let exit = client::record(&read_only, "17.7.0", release_day(), None, &mut out).await;
    let refused = text(&out);
    assert_eq!(exit, Exit::Error, "{refused}");
    assert!(refused.contains("403"), "{refused}");
    assert!(refused.contains("'write' scope"), "{refused}");
    said.push(refused);

    // A release the portal does not know has no train to wait for.
    let mut out = Vec::new();
    let exit = client::wait(&read_only, "17.9.0", POLL, &mut out).await;
    let unknown_release = text(&out);
    assert_eq!(exit, Exit::Error, "{unknown_release}");
    assert!(
        unknown_release.contains("no train to follow for release 17.9.0"),
        "{unknown_release}"
    );
    assert!(unknown_release.contains("404"), "{unknown_release}");
    said.push(unknown_release);

    // Nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let gone = format!("http://{}", free.local_addr().expect("address"));
    drop(free);
    let nowhere = Portal::new(&gone, &Token::new(&reader).expect("token")).expect("portal");
    let mut out = Vec::new();
    let exit = client::follow(&nowhere, 1, POLL, &mut out).await;
    let unreachable = text(&out);
    assert_eq!(exit, Exit::Error, "{unreachable}");
    assert!(
        unreachable.contains(&format!("cannot reach the portal at {gone}/")),
        "{unreachable}"
    );
    said.push(unreachable);

    // A version that is not one is refused before anything is sent.
    let mut out = Vec::new();
    let exit = client::record(&read_only, "17.7", release_day(), None, &mut out).await;
    let not_a_version = text(&out);
    assert_eq!(exit, Exit::Error);
    assert!(
        not_a_version.contains("is not a release version"),
        "{not_a_version}"
    );
    said.push(not_a_version);

    // The token is never printed, whatever happens.
    for text in &said {
        assert!(!text.contains(&reader), "the token in {text}");
    }
    let shown = format!("{:?}", Token::new(&reader).expect("token"));
    assert!(!shown.contains(&reader), "{shown}");
}
