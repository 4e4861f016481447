//! A job that does nothing but record who ran it: for measuring the runner and proving in
//! tests that no job runs twice.

use app::services::jobs::Noop;
use futures::future::BoxFuture;

use super::{JobContext, JobHandler, JobResult, Outcome};

/// Runs [`Noop`] jobs.
pub struct Handler;

impl JobHandler for Handler {
    type Kind = Noop;

    fn run<'a>(&'a self, ctx: &'a mut JobContext, _job: Noop) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            ctx.log(format!("ran on {}", ctx.worker)).await;
            Ok(Outcome::Done(serde_json::json!({ "worker": ctx.worker })))
        })
    }
}
