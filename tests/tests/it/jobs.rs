//! The durable job queue and its runner, on SQLite and PostgreSQL.

use std::collections::HashMap;

use app::{
    domain::{JobState, Role},
    dto::{JobFilter, PageRequest},
    services::{
        Clock,
        jobs::{self, NewJob},
        users,
    },
};
use chrono::Duration;
use portal_tests::{Backend, TestApp, backends};
use server::jobs::Runner;

fn noop(n: usize) -> NewJob {
    NewJob {
        kind: "noop",
        payload: serde_json::json!({ "n": n }),
        max_attempts: 3,
        group_key: None,
        created_by: None,
        step: "queued".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_workers_drain_the_queue_without_running_any_job_twice() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, false).await.expect("app");
        let count = 120;
        for n in 0..count {
            jobs::enqueue(app.conn(), app.clock.now(), noop(n))
                .await
                .expect("enqueue");
        }
        let runners: Vec<Runner> = (0..4).map(|i| app.runner(&format!("w{i}"))).collect();
        let tasks: Vec<_> = runners
            .into_iter()
            .map(|r| tokio::spawn(async move { r.run_until_idle().await.expect("run") }))
            .collect();
        let ran: usize = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .sum();
        assert_eq!(
            ran, count,
            "{backend:?}: every job was claimed exactly once in all"
        );

        let page = jobs::list(
            app.conn(),
            &JobFilter::default(),
            PageRequest {
                page: Some(1),
                per_page: Some(100),
            },
        )
        .await
        .expect("list");
        assert_eq!(page.total, count as u64);
        let mut by_worker: HashMap<String, usize> = HashMap::new();
        for id in 1..=count as i32 {
            let job = jobs::get(app.conn(), id).await.expect("job");
            assert_eq!(
                (job.state, job.attempts),
                (JobState::Succeeded, 1),
                "{backend:?}: job {id}"
            );
            let ran_lines = jobs::events(app.conn(), id, 0)
                .await
                .expect("events")
                .into_iter()
                .filter(|e| e.message.starts_with("ran on"))
                .count();
            assert_eq!(ran_lines, 1, "{backend:?}: job {id} ran once");
            *by_worker
                .entry(
                    job.result.expect("result")["worker"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
                .or_default() += 1;
        }
        assert!(
            by_worker.len() > 1,
            "{backend:?}: the work was shared: {by_worker:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_a_stale_holder_cannot_write() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, false).await.expect("app");
        let job = jobs::enqueue(app.conn(), app.clock.now(), noop(1))
            .await
            .expect("enqueue");
        let lease = Duration::seconds(30);
        let first = jobs::claim(app.conn(), "crashed", app.clock.now(), lease)
            .await
            .expect("claim")
            .expect("a job");
        assert_eq!(first.id, job.id);
        assert!(
            jobs::claim(app.conn(), "other", app.clock.now(), lease)
                .await
                .expect("claim")
                .is_none(),
            "{backend:?}: leased"
        );

        app.clock.set(app.clock.now() + Duration::seconds(31));
        let taken = jobs::claim(app.conn(), "rescuer", app.clock.now(), lease)
            .await
            .expect("claim")
            .expect("taken over");
        assert_eq!((taken.id, taken.attempts), (job.id, 2), "{backend:?}");
        let stale = jobs::save_step(
            app.conn(),
            job.id,
            "crashed",
            app.clock.now(),
            50,
            "late",
            &(),
        )
        .await;
        assert!(stale.is_err(), "{backend:?}: the old holder is refused");
        let state = jobs::finish(
            app.conn(),
            &taken,
            "rescuer",
            app.clock.now(),
            jobs::Finish::Succeeded(serde_json::json!({})),
        )
        .await
        .expect("finish");
        assert_eq!(state, JobState::Succeeded);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_backoff_until_attempts_run_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, false)
        .await
        .expect("app");
    let job = jobs::enqueue(
        app.conn(),
        app.clock.now(),
        NewJob {
            kind: "no-such-kind",
            max_attempts: 2,
            ..noop(0)
        },
    )
    .await
    .expect("enqueue");
    let claimed = jobs::claim(app.conn(), "w", app.clock.now(), Duration::seconds(30))
        .await
        .expect("claim")
        .expect("job");
    let state = jobs::finish(
        app.conn(),
        &claimed,
        "w",
        app.clock.now(),
        jobs::Finish::Retry {
            error: "throttled".into(),
        },
    )
    .await
    .expect("finish");
    assert_eq!(state, JobState::Queued);
    let after = jobs::get(app.conn(), job.id).await.expect("job");
    let delay = after.run_at - app.clock.now();
    assert!(
        delay >= Duration::milliseconds(3750) && delay <= Duration::milliseconds(6250),
        "backoff with jitter: {delay}"
    );
    assert!(
        jobs::claim(app.conn(), "w", app.clock.now(), Duration::seconds(30))
            .await
            .expect("claim")
            .is_none(),
        "not due yet"
    );

    app.clock.set(after.run_at);
    let claimed = jobs::claim(app.conn(), "w", app.clock.now(), Duration::seconds(30))
        .await
        .expect("claim")
        .expect("due");
    let state = jobs::finish(
        app.conn(),
        &claimed,
        "w",
        app.clock.now(),
        jobs::Finish::Retry {
            error: "throttled".into(),
        },
    )
    .await
    .expect("finish");
    assert_eq!(state, JobState::Failed);
    assert!(
        jobs::get(app.conn(), job.id)
            .await
            .expect("job")
            .last_error
            .is_some_and(|e| e.contains("gave up after 2 attempts"))
    );

    // A job of a kind no worker knows fails with a message rather than looping.
    let unknown = jobs::enqueue(
        app.conn(),
        app.clock.now(),
        NewJob {
            kind: "mystery",
            ..noop(1)
        },
    )
    .await
    .expect("enqueue");
    app.runner("w").run_until_idle().await.expect("run");
    let unknown = jobs::get(app.conn(), unknown.id).await.expect("job");
    assert_eq!(unknown.state, JobState::Failed);
    assert!(unknown.last_error.is_some_and(|e| e.contains("no handler")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_are_audited_and_follow_the_state() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let oskar = users::upsert(
        app.conn(),
        app.clock.now(),
        "oskar",
        "Oskar Novak",
        "o@x",
        &[Role::Omnibus],
    )
    .await
    .expect("user");
    let queued = jobs::enqueue(app.conn(), app.clock.now(), noop(1))
        .await
        .expect("enqueue");
    let cancelled = jobs::cancel(app.conn(), &oskar, app.clock.now(), queued.id)
        .await
        .expect("cancel");
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(
        jobs::cancel(app.conn(), &oskar, app.clock.now(), queued.id)
            .await
            .is_err(),
        "already over"
    );
    let again = jobs::retry(app.conn(), &oskar, app.clock.now(), queued.id)
        .await
        .expect("retry");
    assert_eq!(again.state, JobState::Queued);
    app.runner("w").run_until_idle().await.expect("run");
    assert_eq!(
        jobs::get(app.conn(), queued.id).await.expect("job").state,
        JobState::Succeeded
    );
}
