//! Figures for the job runner and the build, printed as a table:
//!
//! - 10 000 no-op jobs drained by four runners, on SQLite and (with
//!   `PORTAL_TEST_POSTGRES_URL`) PostgreSQL: jobs per second;
//! - a full release fan-out (6 image types × 19 regions) against the simulated cloud with
//!   no delays: wall time, and the time spent in the portal's code versus in cloud calls
//!   (the simulator's own time answering requests).
//!
//! Run with `cargo bench -p portal-tests --bench runner`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::time::{Duration, Instant};

use app::services::{
    Clock, builds,
    jobs::{self, NewJob},
};
use portal_tests::{Backend, TestApp, backends};

const JOBS: usize = 10_000;
const RUNNERS: usize = 4;

async fn drain(backend: Backend) -> anyhow::Result<(Duration, Duration)> {
    let app = TestApp::spawn_with(backend, false).await?;
    let started = Instant::now();
    for chunk in 0..JOBS / 500 {
        let txn = sea_orm::TransactionTrait::begin(app.conn()).await?;
        for n in 0..500 {
            let job = NewJob {
                kind: "noop",
                payload: serde_json::json!({ "n": chunk * 500 + n }),
                max_attempts: 1,
                group_key: None,
                created_by: None,
                step: "queued".into(),
            };
            jobs::enqueue(&txn, app.clock.now(), job)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        sea_orm::TransactionSession::commit(txn).await?;
    }
    let enqueued = started.elapsed();
    let started = Instant::now();
    let tasks: Vec<_> = (0..RUNNERS)
        .map(|i| {
            let runner = app.runner(&format!("bench-{i}"));
            tokio::spawn(async move { runner.run_until_idle().await })
        })
        .collect();
    let mut ran = 0;
    for t in futures::future::join_all(tasks).await {
        ran += t??;
    }
    anyhow::ensure!(ran == JOBS, "drained {ran} of {JOBS}");
    Ok((enqueued, started.elapsed()))
}

async fn fan_out() -> anyhow::Result<(Duration, Duration, Duration, u64)> {
    let app = TestApp::spawn(Backend::Sqlite).await?;
    let user = app.omnibus().await?;
    app.new_release("17.7.0").await?;
    let started = Instant::now();
    let run = builds::start_release(app.conn(), &user, app.clock.now(), "17.7.0")
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        run.jobs.len() == 6,
        "expected six builds, got {}",
        run.jobs.len()
    );
    let runners: Vec<_> = (0..3).map(|i| app.runner(&format!("fan-{i}"))).collect();
    let mut busy = Duration::ZERO;
    loop {
        let round = futures::future::join_all(runners.iter().map(|r| async move {
            let t = Instant::now();
            let ran = r.run_until_idle().await;
            (t.elapsed(), ran)
        }))
        .await;
        let mut any = false;
        for (t, ran) in round {
            busy += t;
            any |= ran? > 0;
        }
        if !any {
            break;
        }
    }
    let wall = started.elapsed();
    let run = builds::run(app.conn(), "17.7.0")
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        run.progress == 100,
        "the release run stopped at {}%",
        run.progress
    );
    Ok((wall, busy, app.sim.busy(), app.sim.requests()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> anyhow::Result<()> {
    println!("job runner: {JOBS} no-op jobs, {RUNNERS} runners");
    for backend in backends() {
        let (enqueue, drained) = drain(backend).await?;
        println!(
            "  {backend:?}: enqueued in {:.2} s ({:.0} jobs/s), drained in {:.2} s ({:.0} jobs/s)",
            enqueue.as_secs_f64(),
            JOBS as f64 / enqueue.as_secs_f64(),
            drained.as_secs_f64(),
            JOBS as f64 / drained.as_secs_f64()
        );
    }
    let (wall, busy, cloud, requests) = fan_out().await?;
    println!(
        "release fan-out: 6 image types × 19 regions against the simulated cloud, no delays, 3 runners"
    );
    println!(
        "  wall time {:.2} s; {requests} EC2 requests",
        wall.as_secs_f64()
    );
    println!(
        "  runner time {:.2} s = cloud {:.2} s (simulator answering) + portal {:.2} s (jobs, database, SDK, HTTP)",
        busy.as_secs_f64(),
        cloud.as_secs_f64(),
        busy.saturating_sub(cloud).as_secs_f64()
    );
    Ok(())
}
