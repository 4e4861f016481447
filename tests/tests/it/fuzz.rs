//! The REST API under an OpenAPI fuzzer nobody here wrote: schemathesis, from PyPI, reads
//! the portal's own OpenAPI document and sends a bounded, seeded run of valid and invalid
//! requests to every operation, signed in as an administrator. No answer may be a 5xx or a
//! dropped connection, and every error must be the API's JSON error with a `code`
//! (`tests/fuzz/checks.py`). `cargo xtask test` installs the fuzzer under `~/.cache`.

use std::path::PathBuf;

use app::{
    domain::TokenScope,
    dto::ApiTokenInput,
    services::{Clock as _, tokens},
};
use portal_tests::{Backend, TestApp};

/// Where `cargo xtask test` put schemathesis (a `pip --target` directory).
fn schemathesis_dir() -> PathBuf {
    std::env::var_os("PORTAL_TEST_SCHEMATHESIS").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/partner-image-portal/schemathesis-4.32.5")
        },
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_fuzz_run_finds_no_server_error_and_every_error_has_a_code() {
    let dir = schemathesis_dir();
    assert!(
        dir.join("schemathesis").is_dir(),
        "schemathesis is not installed in {} (cargo xtask test installs it)",
        dir.display()
    );
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let admin = tokens::create(
        app.conn(),
        &app.user("alex").await,
        app.clock.now(),
        &ApiTokenInput {
            name: "fuzz run".to_owned(),
            scopes: vec![TokenScope::Read, TokenScope::Write, TokenScope::Jobs],
            expires_in_days: 1,
        },
    )
    .await
    .expect("an administrator's token");
    let checks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/checks.py");
    // schemathesis keeps a cache where it runs: somewhere of its own, not the checkout.
    let workdir = tempfile::tempdir().expect("a directory for the fuzz run");
    let out = tokio::process::Command::new("python3")
        .current_dir(workdir.path())
        .env("PYTHONPATH", &dir)
        .env("SCHEMATHESIS_HOOKS", &checks)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(app.url("/api/v1/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,error_has_code",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261129",
            "--generation-deterministic",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--suppress-health-check",
            "all",
            "--no-color",
            // A job's event stream stays open while the job runs: it is tested in jobs.rs.
            "--exclude-path-regex",
            "/stream$",
            // Revoking a token by a generated id would sooner or later revoke the run's
            // own: revocation is tested in security.rs.
            "--exclude-operation-id",
            "revoke",
        ])
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", admin.secret))
        .output()
        .await
        .expect("python3 runs schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the fuzz run failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // An operation answered only 401 or 403 was tested no further than the gate. Two may
    // be: GitLab's webhook takes GitLab's token, and deciding a proposal is Partnerships'
    // alone (whether the run also sent it a body the extractor refused first depends on
    // what else the schema holds, so it need not be listed).
    let refused: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("Authentication failed"))
        .take_while(|line| !line.contains("💡"))
        .filter_map(|line| line.trim().strip_prefix("- "))
        .collect();
    let meant = [
        "POST /api/v1/webhooks/gitlab",
        "POST /api/v1/retention/{id}/approve",
    ];
    assert!(
        refused.contains(&meant[0]) && refused.iter().all(|op| meant.contains(op)),
        "operations refused the administrator's token: {refused:?}\n{stdout}"
    );
}
