//! A job that does nothing but record who ran it: for measuring the runner and proving in
//! tests that no job runs twice.

use futures::future::BoxFuture;

use super::{JobContext, JobHandler, JobResult, Outcome};

/// Kind `noop`.
pub struct Noop;

impl JobHandler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }

    fn run<'a>(&'a self, ctx: &'a mut JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            ctx.log(format!("ran on {}", ctx.worker)).await;
            Ok(Outcome::Done(serde_json::json!({ "worker": ctx.worker })))
        })
    }
}
