//! Operational endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};

use app::services::{
    AppState,
    entities::{image_version, partner, product},
};

/// Request counters and durations, by method and status.
#[derive(Debug, Default, Clone)]
pub struct Metrics(Arc<Mutex<MetricsInner>>);

#[derive(Debug, Default)]
struct MetricsInner {
    requests: BTreeMap<(String, u16), u64>,
    duration_sum: f64,
    duration_count: u64,
}

impl Metrics {
    fn observe(&self, method: &str, status: u16, seconds: f64) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *inner
            .requests
            .entry((method.to_owned(), status))
            .or_default() += 1;
        inner.duration_sum += seconds;
        inner.duration_count += 1;
    }

    fn render(&self, out: &mut String) {
        let inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        out.push_str(
            "# HELP portal_http_requests_total HTTP requests answered, by method and status.\n",
        );
        out.push_str("# TYPE portal_http_requests_total counter\n");
        for ((method, status), n) in &inner.requests {
            out.push_str(&format!(
                "portal_http_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}\n"
            ));
        }
        out.push_str(
            "# HELP portal_http_request_duration_seconds Time spent answering HTTP requests.\n",
        );
        out.push_str("# TYPE portal_http_request_duration_seconds summary\n");
        out.push_str(&format!(
            "portal_http_request_duration_seconds_sum {}\n",
            inner.duration_sum
        ));
        out.push_str(&format!(
            "portal_http_request_duration_seconds_count {}\n",
            inner.duration_count
        ));
    }
}

/// Counts every request.
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe(
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /-/health`: the process is up.
pub async fn health() -> &'static str {
    "ok"
}

/// `GET /-/readiness`: the database answers.
pub async fn readiness(State(state): State<AppState>) -> Response {
    match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `GET /-/metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>, State(metrics): State<Metrics>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP portal_up The portal is serving.\n# TYPE portal_up gauge\nportal_up 1\n");
    out.push_str(&format!(
        "# HELP portal_build_info Build of the portal.\n# TYPE portal_build_info gauge\nportal_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    ));
    let counts = [
        ("partners", partner::Entity::find().count(&state.db).await),
        ("products", product::Entity::find().count(&state.db).await),
        (
            "image_versions",
            image_version::Entity::find().count(&state.db).await,
        ),
    ];
    out.push_str("# HELP portal_catalogue_objects Objects in the catalogue, by kind.\n# TYPE portal_catalogue_objects gauge\n");
    for (kind, count) in counts {
        match count {
            Ok(n) => out.push_str(&format!(
                "portal_catalogue_objects{{kind=\"{kind}\"}} {n}\n"
            )),
            Err(err) => tracing::warn!(error = %err, kind, "counting for metrics failed"),
        }
    }
    metrics.render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// A server function that never ran (its arguments did not parse) answers 500 with the
/// error's JSON; this gives the answer the status its error code says (a bad request, 400).
pub async fn server_fn_status(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let rpc = req.uri().path().starts_with("/rpc/");
    let res = next.run(req).await;
    if !rpc || res.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(err) = serde_json::from_slice::<app::error::AppError>(&bytes)
        && let Ok(status) = axum::http::StatusCode::from_u16(err.code.http_status())
    {
        parts.status = status;
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}
