//! The process against a real database, on SQLite and PostgreSQL: stage order, escalation,
//! maintenance runs and their clock, staged copy approvals, the launch gate, the inbox,
//! audit filters, and webhooks in and out.

use app::{
    domain::*,
    dto::*,
    error::ErrorCode,
    services::{Clock, audit, builds, copy, notify, process, products, releases, users},
};
use chrono::{NaiveDate, TimeZone, Utc};
use portal_tests::{Backend, GITLAB_TOKEN, TestApp, each_backend};

/// A person of several teams, for the rules about one person in two roles.
async fn person(app: &TestApp, username: &str, roles: &[Role]) -> CurrentUser {
    users::upsert(
        app.conn(),
        app.clock.now(),
        username,
        username,
        &format!("{username}@example.com"),
        roles,
    )
    .await
    .expect("user")
}

fn at(s: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day")
}

async fn audit_total(app: &TestApp) -> u64 {
    audit_matching(app, AuditFilter::default()).await
}

async fn audit_matching(app: &TestApp, filter: AuditFilter) -> u64 {
    audit::list(app.conn(), &app.auditor(), &filter)
        .await
        .expect("audit")
        .total
}

fn stage<'a>(w: &'a Workflow, key: &str) -> &'a Stage {
    w.stages.iter().find(|s| s.key == key).expect("stage")
}

async fn set_state(
    app: &TestApp,
    who: &CurrentUser,
    task: i32,
    state: TaskState,
) -> Result<TaskDetail, app::error::AppError> {
    process::set_task_state(
        app.conn(),
        who,
        app.clock.now(),
        task,
        &TaskStateInput {
            state: state.as_str().into(),
            response_due_on: String::new(),
        },
    )
    .await
}

/// Completes every required task of a stage as `who`.
async fn finish_stage(app: &TestApp, who: &CurrentUser, w: &Workflow, key: &str) {
    for t in stage(w, key).tasks.iter().filter(|t| t.required) {
        set_state(app, who, t.id, TaskState::Done)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.title));
    }
}

async fn unread_kinds(app: &TestApp, who: &CurrentUser) -> Vec<NotificationKind> {
    notify::inbox(app.conn(), who.id, PageRequest::default())
        .await
        .expect("inbox")
        .items
        .into_iter()
        .filter(|n| !n.read)
        .map(|n| n.kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_time_image_runs_in_the_handbooks_order() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let (priya, oskar, maya) = (
            app.user("priya").await,
            app.user("oskar").await,
            app.user("maya").await,
        );
        let input = FirstTimeInput {
            partner: "azure".into(),
            product: String::new(),
        };
        let refused = process::start_first_time(
            app.conn(),
            &priya,
            app.clock.now(),
            &FirstTimeInput {
                partner: "nope".into(),
                product: String::new(),
            },
        )
        .await
        .expect_err("unknown partner");
        assert_eq!(refused.code, ErrorCode::Conflict);
        let w = process::start_first_time(app.conn(), &priya, app.clock.now(), &input)
            .await
            .expect("started");
        let keys: Vec<&str> = w.stages.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            ["introduction", "technical", "marketing"],
            "{backend:?}"
        );
        assert_eq!(stage(&w, "introduction").team, Role::Partnerships);
        assert_eq!(stage(&w, "technical").team, Role::Omnibus);
        assert_eq!(stage(&w, "marketing").team, Role::Marketing);
        assert_eq!(stage(&w, "technical").depends_on, ["introduction"]);
        assert_eq!(stage(&w, "marketing").depends_on, ["introduction"]);
        assert_eq!(stage(&w, "introduction").state, StageState::Active);
        assert_eq!(stage(&w, "technical").state, StageState::Blocked);
        assert_eq!(stage(&w, "marketing").state, StageState::Blocked);

        // Stage 2 cannot start before stage 1: refused, nothing written.
        let technical = stage(&w, "technical").tasks[0].clone();
        let before = audit_total(&app).await;
        let err = set_state(&app, &oskar, technical.id, TaskState::InProgress)
            .await
            .expect_err("blocked");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(
            err.message
                .contains("cannot start before Introduction & scope is done"),
            "{}",
            err.message
        );
        assert_eq!(audit_total(&app).await, before);
        let again = process::task_detail(app.conn(), app.clock.now(), technical.id)
            .await
            .expect("task");
        assert_eq!(again.task.state, TaskState::Todo);
        assert_eq!(again.blocked_by, ["Introduction & scope"]);

        // The wrong team cannot work on a task; a required task cannot be skipped.
        let intro = stage(&w, "introduction").tasks.clone();
        let err = set_state(&app, &maya, intro[0].id, TaskState::Done)
            .await
            .expect_err("team");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let err = set_state(&app, &priya, intro[0].id, TaskState::Skipped)
            .await
            .expect_err("required");
        assert_eq!(err.code, ErrorCode::Conflict);
        let optional = intro
            .iter()
            .find(|t| !t.required)
            .expect("the optional technical call");
        set_state(&app, &priya, optional.id, TaskState::Skipped)
            .await
            .expect("optional skipped");

        // Stage 1 done: stages 2 and 3 run side by side.
        finish_stage(&app, &priya, &w, "introduction").await;
        let w = process::get(app.conn(), app.clock.now(), w.summary.id)
            .await
            .expect("workflow");
        assert_eq!(stage(&w, "introduction").state, StageState::Done);
        assert_eq!(stage(&w, "technical").state, StageState::Active);
        assert_eq!(stage(&w, "marketing").state, StageState::Active);
        set_state(&app, &oskar, technical.id, TaskState::InProgress)
            .await
            .expect("stage 2 starts");
        set_state(
            &app,
            &maya,
            stage(&w, "marketing").tasks[0].id,
            TaskState::Done,
        )
        .await
        .expect("stage 3 runs meanwhile");

        // Stage 1 cannot be reopened under the stages that started on it.
        let err = set_state(&app, &priya, intro[0].id, TaskState::InProgress)
            .await
            .expect_err("reopen");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.message.contains("already started"), "{}", err.message);

        // Assignment stays inside the task's team; comments and links are recorded.
        let err = process::assign_task(
            app.conn(),
            &oskar,
            app.clock.now(),
            technical.id,
            &TaskAssignInput {
                assignee: "maya".into(),
                due_on: String::new(),
            },
        )
        .await
        .expect_err("maya is not in Omnibus");
        assert!(err.field("assignee").is_some());
        let d = process::assign_task(
            app.conn(),
            &oskar,
            app.clock.now(),
            technical.id,
            &TaskAssignInput {
                assignee: "oskar".into(),
                due_on: "2026-11-20".into(),
            },
        )
        .await
        .expect("assigned");
        assert_eq!(d.task.assignee.map(|a| a.username), Some("oskar".into()));
        assert_eq!(d.task.due_on, Some(day("2026-11-20")));
        let err = process::add_task_link(
            app.conn(),
            &oskar,
            app.clock.now(),
            technical.id,
            &TaskLinkInput {
                label: "Issue".into(),
                url: "javascript:alert(1)".into(),
            },
        )
        .await
        .expect_err("not a URL");
        assert!(err.field("url").is_some());
        process::add_task_link(
            app.conn(),
            &oskar,
            app.clock.now(),
            technical.id,
            &TaskLinkInput {
                label: "Issue".into(),
                url: "https://gitlab.com/gitlab-org/gitlab/-/issues/1".into(),
            },
        )
        .await
        .expect("linked");
        let d = process::comment_on_task(
            app.conn(),
            &maya,
            app.clock.now(),
            technical.id,
            "Partner docs are in the doc.",
        )
        .await
        .expect("commented");
        assert_eq!((d.comments.len(), d.task.links.len()), (1, 1));
        let err = process::comment_on_task(app.conn(), &maya, app.clock.now(), technical.id, "   ")
            .await
            .expect_err("empty");
        assert_eq!(err.code, ErrorCode::ValidationFailed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_does_not_answer_escalates_to_partnerships_once() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let (priya, oskar) = (app.user("priya").await, app.user("oskar").await);
        app.clock.set(at("2026-11-02T09:00:00Z"));
        let w = process::start_first_time(
            app.conn(),
            &priya,
            app.clock.now(),
            &FirstTimeInput {
                partner: "azure".into(),
                product: String::new(),
            },
        )
        .await
        .expect("started");
        finish_stage(&app, &priya, &w, "introduction").await;
        let upload = stage(&w, "technical")
            .tasks
            .iter()
            .find(|t| t.title.contains("partner testing"))
            .expect("upload task")
            .clone();
        let waiting = |date: &str| TaskStateInput {
            state: "waiting_on_partner".into(),
            response_due_on: date.into(),
        };
        let err =
            process::set_task_state(app.conn(), &oskar, app.clock.now(), upload.id, &waiting(""))
                .await
                .expect_err("needs a date");
        assert!(err.field("response_due_on").is_some(), "{backend:?}");
        let err = process::set_task_state(
            app.conn(),
            &oskar,
            app.clock.now(),
            upload.id,
            &waiting("2026-10-01"),
        )
        .await
        .expect_err("in the past");
        assert!(err.field("response_due_on").is_some());
        process::set_task_state(
            app.conn(),
            &oskar,
            app.clock.now(),
            upload.id,
            &waiting("2026-11-04"),
        )
        .await
        .expect("waiting");
        // Not yet: the partner has until the end of the 4th.
        app.clock.set(at("2026-11-04T23:00:00Z"));
        let report = process::sweep(app.conn(), app.clock.now())
            .await
            .expect("sweep");
        assert_eq!(report.escalated, 0);
        // Escalated after that, once.
        app.clock.set(at("2026-11-05T08:00:00Z"));
        let report = process::sweep(app.conn(), app.clock.now())
            .await
            .expect("sweep");
        assert_eq!(report.escalated, 1);
        let report = process::sweep(app.conn(), app.clock.now())
            .await
            .expect("sweep");
        assert_eq!(report.escalated, 0, "a second sweep changes nothing");
        let d = process::task_detail(app.conn(), app.clock.now(), upload.id)
            .await
            .expect("task");
        assert_eq!(d.task.escalated_at, Some(at("2026-11-05T08:00:00Z")));
        assert_eq!(d.workflow.escalations, 1);
        assert_eq!(
            unread_kinds(&app, &priya)
                .await
                .iter()
                .filter(|k| **k == NotificationKind::Escalated)
                .count(),
            1
        );
        assert_eq!(
            audit_matching(
                &app,
                AuditFilter {
                    action: Some("escalate".into()),
                    ..Default::default()
                }
            )
            .await,
            1
        );
        // Partnerships can now act on the Omnibus task.
        set_state(&app, &priya, upload.id, TaskState::InProgress)
            .await
            .expect("partnerships takes it over");
        let d = process::task_detail(app.conn(), app.clock.now(), upload.id)
            .await
            .expect("task");
        assert_eq!(d.task.escalated_at, None, "answered: no longer escalated");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_opens_maintenance_runs_on_the_business_day_clock() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let (alex, oskar, maya) = (
            app.user("alex").await,
            app.user("oskar").await,
            app.user("maya").await,
        );
        app.clock.set(at("2026-11-19T10:00:00Z"));
        // Thanksgiving (Thursday 26th) and the day after do not count.
        for (d, name) in [
            ("2026-11-26", "Thanksgiving"),
            ("2026-11-27", "Day after Thanksgiving"),
        ] {
            process::add_holiday(
                app.conn(),
                &alex,
                app.clock.now(),
                &HolidayInput {
                    day: d.into(),
                    name: name.into(),
                },
            )
            .await
            .expect("holiday");
        }
        let err = process::add_holiday(
            app.conn(),
            &alex,
            app.clock.now(),
            &HolidayInput {
                day: "2026-11-26".into(),
                name: "Again".into(),
            },
        )
        .await
        .expect_err("twice");
        assert_eq!(err.code, ErrorCode::Conflict);
        let err = process::add_holiday(
            app.conn(),
            &alex,
            app.clock.now(),
            &HolidayInput {
                day: "26/11".into(),
                name: String::new(),
            },
        )
        .await
        .expect_err("bad");
        assert!(err.field("day").is_some() && err.field("name").is_some());

        let maintained: Vec<ProductSummary> = products::list(
            app.conn(),
            None,
            PageRequest {
                page: Some(1),
                per_page: Some(100),
            },
        )
        .await
        .expect("products")
        .items
        .into_iter()
        .filter(|p| p.maintenance_mode == MaintenanceMode::Image)
        .collect();
        // A release on Tuesday the 24th: Wednesday, (holidays, weekend), Monday, Tuesday.
        let (release, runs) = process::create_release_with_runs(
            app.conn(),
            &oskar,
            app.clock.now(),
            &ReleaseInput {
                version: "18.6.1".into(),
                released_on: "2026-11-24".into(),
                kind: "patch".into(),
                notes_url: String::new(),
            },
        )
        .await
        .expect("release");
        assert_eq!(runs.len(), maintained.len(), "{backend:?}");
        let w = process::get(app.conn(), app.clock.now(), runs[0])
            .await
            .expect("run");
        let sla = w.summary.sla.clone().expect("a clock");
        assert_eq!(
            (sla.released_on, sla.due_on),
            (day("2026-11-24"), day("2026-12-01"))
        );
        assert_eq!(w.summary.kind, WorkflowKind::Maintenance);
        assert_eq!(w.summary.release.as_deref(), Some(release.version.as_str()));
        assert!(!w.summary.security);
        // An AWS product the release train builds holds the train's tasks only.
        assert_eq!(w.summary.partner_slug, "aws");
        assert_eq!(stage(&w, "implementation").team, Role::Omnibus);
        let titles: Vec<&str> = stage(&w, "implementation")
            .tasks
            .iter()
            .map(|t| t.title.as_str())
            .collect();
        assert_eq!(
            titles,
            ["Update the image (amd64)", "Update the image (arm64)"],
            "{backend:?}"
        );
        // A product maintained by hand keeps the handbook's tasks.
        let mut by_hand = None;
        for id in &runs {
            let run = process::get(app.conn(), app.clock.now(), *id)
                .await
                .expect("run");
            if run.summary.partner_slug != "aws" {
                by_hand = Some(run);
                break;
            }
        }
        let by_hand = by_hand.expect("a product on another cloud");
        assert_eq!(stage(&by_hand, "technical_info").team, Role::Marketing);
        assert!(
            stage(&by_hand, "implementation")
                .tasks
                .iter()
                .any(|t| t.title == "Update the documentation")
        );
        // A release candidate gets no runs; a security release is marked.
        let (_, rc) = process::create_release_with_runs(
            app.conn(),
            &oskar,
            app.clock.now(),
            &ReleaseInput {
                version: "18.7.0-rc1".into(),
                released_on: "2026-11-24".into(),
                kind: "regular".into(),
                notes_url: String::new(),
            },
        )
        .await
        .expect("rc");
        assert!(rc.is_empty());
        let (_, sec) = process::create_release_with_runs(
            app.conn(),
            &oskar,
            app.clock.now(),
            &ReleaseInput {
                version: "18.6.2".into(),
                released_on: "2026-11-25".into(),
                kind: "security".into(),
                notes_url: String::new(),
            },
        )
        .await
        .expect("security release");
        let s = process::get(app.conn(), app.clock.now(), sec[0])
            .await
            .expect("run");
        assert!(s.summary.security && s.summary.title.starts_with("Security release"));
        assert_eq!(s.summary.sla.expect("clock").due_on, day("2026-12-02"));
        // The same release again changes nothing.
        let err = process::create_release_with_runs(
            app.conn(),
            &oskar,
            app.clock.now(),
            &ReleaseInput {
                version: "18.6.1".into(),
                released_on: "2026-11-24".into(),
                kind: "patch".into(),
                notes_url: String::new(),
            },
        )
        .await
        .expect_err("duplicate");
        assert_eq!(err.code, ErrorCode::Conflict);

        // The clock: on track, at risk under one business day, breached after the day.
        app.clock.set(at("2026-11-25T09:00:00Z"));
        let board = process::maintenance_board(app.conn(), app.clock.now())
            .await
            .expect("board");
        let run = board
            .open
            .iter()
            .find(|r| r.id == runs[0])
            .expect("open run");
        assert_eq!(run.sla.as_ref().map(|s| s.status), Some(SlaStatus::OnTrack));
        assert_eq!(
            process::sweep(app.conn(), app.clock.now())
                .await
                .expect("sweep"),
            SweepReport::default()
        );
        app.clock.set(at("2026-12-01T10:00:00Z"));
        let report = process::sweep(app.conn(), app.clock.now())
            .await
            .expect("sweep");
        assert_eq!(report.at_risk as usize, runs.len());
        app.clock.set(at("2026-12-01T11:00:00Z"));
        assert_eq!(
            process::sweep(app.conn(), app.clock.now())
                .await
                .expect("sweep")
                .at_risk,
            0,
            "announced once"
        );
        app.clock.set(at("2026-12-02T00:00:01Z"));
        let report = process::sweep(app.conn(), app.clock.now())
            .await
            .expect("sweep");
        assert_eq!(report.breached as usize, runs.len());
        let kinds = unread_kinds(&app, &maya).await;
        assert!(
            kinds.contains(&NotificationKind::SlaAtRisk)
                && kinds.contains(&NotificationKind::SlaBreached)
        );
        assert!(kinds.contains(&NotificationKind::MaintenanceOpened));
        let board = process::maintenance_board(app.conn(), app.clock.now())
            .await
            .expect("board");
        let row = board
            .timeline
            .iter()
            .find(|r| r.release == "18.6.1")
            .expect("timeline row");
        assert_eq!(
            (row.status, row.runs as usize),
            (SlaStatus::Breached, runs.len())
        );
        assert!(row.out_days > row.due_days);

        // Adding a holiday moves the due dates of open runs.
        process::add_holiday(
            app.conn(),
            &alex,
            app.clock.now(),
            &HolidayInput {
                day: "2026-11-30".into(),
                name: "Office closed".into(),
            },
        )
        .await
        .expect("holiday");
        let w = process::get(app.conn(), app.clock.now(), runs[0])
            .await
            .expect("run");
        assert_eq!(w.summary.sla.expect("clock").due_on, day("2026-12-02"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_is_linked_to_its_maintenance_task_and_completes_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.new_release("17.7.0").await.expect("release");
    let (partner, product) = ("aws", "gitlab-ce");
    let ce = products::get(app.conn(), partner, product)
        .await
        .expect("CE");
    let runs = process::list(
        app.conn(),
        app.clock.now(),
        &WorkflowFilter {
            kind: Some("maintenance".into()),
            state: Some("open".into()),
            page: None,
        },
    )
    .await
    .expect("runs");
    let run = runs
        .items
        .iter()
        .find(|w| {
            w.product_slug.as_deref() == Some(product) && w.release.as_deref() == Some("17.7.0")
        })
        .expect("CE run")
        .clone();
    let job = app.start_build(product, Arch::Amd64).await.expect("build");
    let w = process::get(app.conn(), app.clock.now(), run.id)
        .await
        .expect("run");
    let image = stage(&w, "implementation")
        .tasks
        .iter()
        .find(|t| t.arch == Some(Arch::Amd64))
        .expect("amd64 task")
        .clone();
    assert_eq!(
        (image.job_id, image.state),
        (Some(job.id), TaskState::InProgress)
    );
    let runner = app.runner("w1");
    app.drive(&runner, 200).await.expect("jobs finish");
    let w = process::get(app.conn(), app.clock.now(), run.id)
        .await
        .expect("run");
    let image = stage(&w, "implementation")
        .tasks
        .iter()
        .find(|t| t.arch == Some(Arch::Amd64))
        .expect("amd64 task")
        .clone();
    assert_eq!(
        image.state,
        TaskState::Done,
        "the successful build completed the task"
    );
    assert_eq!(image.completed_by.as_deref(), Some("portal"));
    // The clock stops when every architecture's image is out.
    assert!(ce.architectures.len() > 1);
    assert_eq!(w.summary.sla.as_ref().and_then(|s| s.image_out_at), None);
    let oskar = app.user("oskar").await;
    builds::start(
        app.conn(),
        &oskar,
        app.clock.now(),
        partner,
        product,
        "17.7.0",
        Arch::Arm64,
    )
    .await
    .expect("arm build");
    app.drive(&runner, 200).await.expect("jobs finish");
    let w = process::get(app.conn(), app.clock.now(), run.id)
        .await
        .expect("run");
    assert!(
        w.summary
            .sla
            .as_ref()
            .and_then(|s| s.image_out_at)
            .is_some()
    );
}

/// The Ultimate listing, without the copy the seed gives it: these tests write its first.
async fn ultimate_listing(app: &TestApp) -> Listing {
    app.without_copy("GitLab Ultimate")
        .await
        .expect("the seeded copy removed");
    app.listing("GitLab Ultimate")
        .await
        .expect("the Ultimate listing")
}

fn copy_input(base: i32, title: &str) -> CopyInput {
    CopyInput {
        base_revision: base,
        title: title.into(),
        short_description: "The complete DevSecOps platform, self-managed on AWS.".into(),
        long_description:
            "## GitLab Ultimate\n\nPlan, build, secure and deploy.\n\n<script>alert(1)</script>"
                .into(),
        highlights: ["Single application", "Security scanning", "Compliance"]
            .map(String::from)
            .to_vec(),
        usage_instructions: "Open the instance's address and sign in as root.".into(),
        release_notes_template: "GitLab {version}".into(),
        categories: ["DevOps", "Source Control"].map(String::from).to_vec(),
        ..CopyInput::default()
    }
}

fn saved(s: CopySave) -> CopyRevision {
    match s {
        CopySave::Saved { revision } => revision,
        CopySave::Conflict { message, .. } => panic!("conflict: {message}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_copy_is_approved_in_stages_bound_to_its_revision() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let (priya, oskar, maya) = (
            app.user("priya").await,
            app.user("oskar").await,
            app.user("maya").await,
        );
        let listing = ultimate_listing(&app).await.id;
        let now = app.clock.now();
        let review = |revision: i32, comment: &str| ReviewInput {
            revision,
            comment: comment.into(),
        };

        let err = copy::save(
            app.conn(),
            &maya,
            now,
            listing,
            &CopyInput {
                title: "x".repeat(80),
                ..copy_input(0, "")
            },
        )
        .await
        .expect_err("too long");
        assert!(err.field("title").is_some(), "{backend:?}");
        let r1 = saved(
            copy::save(
                app.conn(),
                &maya,
                now,
                listing,
                &copy_input(0, "GitLab Ultimate"),
            )
            .await
            .expect("saved"),
        );
        assert_eq!((r1.number, r1.state), (1, CopyState::Draft));
        // A save on top of a replaced revision is a conflict showing both; nothing written.
        match copy::save(
            app.conn(),
            &maya,
            now,
            listing,
            &copy_input(0, "GitLab Ultimate (edited elsewhere)"),
        )
        .await
        .expect("answered")
        {
            CopySave::Conflict { yours, theirs, .. } => {
                assert_eq!(yours.title, "GitLab Ultimate (edited elsewhere)");
                assert_eq!(theirs.id, r1.id);
            }
            CopySave::Saved { .. } => panic!("a stale save went through"),
        }
        assert_eq!(
            copy::get(app.conn(), listing)
                .await
                .expect("copy")
                .revisions
                .len(),
            1
        );

        // Out of order, the wrong team, one's own revision: all refused.
        let err = copy::approve(app.conn(), &priya, now, listing, &review(r1.id, ""))
            .await
            .expect_err("a draft");
        assert_eq!(err.code, ErrorCode::Conflict);
        copy::request_approval(app.conn(), &maya, now, listing, &review(r1.id, ""))
            .await
            .expect("requested");
        assert!(
            unread_kinds(&app, &priya)
                .await
                .contains(&NotificationKind::ApprovalRequested)
        );
        let err = copy::approve(app.conn(), &oskar, now, listing, &review(r1.id, ""))
            .await
            .expect_err("Omnibus before Partnerships");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let before = audit_total(&app).await;
        let err = copy::reject(app.conn(), &priya, now, listing, &review(r1.id, " "))
            .await
            .expect_err("no reason");
        assert!(err.field("comment").is_some());
        assert_eq!(audit_total(&app).await, before);
        copy::approve(
            app.conn(),
            &priya,
            now,
            listing,
            &review(r1.id, "Matches the partnership."),
        )
        .await
        .expect("Partnerships approves");
        let both = person(&app, "pat", &[Role::Partnerships, Role::Omnibus]).await;
        let err = copy::approve(app.conn(), &priya, now, listing, &review(r1.id, ""))
            .await
            .expect_err("priya is not Omnibus");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let c = copy::approve(
            app.conn(),
            &oskar,
            now,
            listing,
            &review(r1.id, "Accurate."),
        )
        .await
        .expect("Omnibus approves");
        let head = c.head.clone().expect("head");
        assert_eq!(head.state, CopyState::Approved);
        assert_eq!(
            head.reviews
                .iter()
                .map(|r| (r.stage, r.username.as_str()))
                .collect::<Vec<_>>(),
            [(Role::Partnerships, "priya"), (Role::Omnibus, "oskar")]
        );
        assert_eq!(
            copy::approved_revision(app.conn(), listing)
                .await
                .expect("approved")
                .map(|r| r.id),
            Some(r1.id)
        );
        assert!(
            unread_kinds(&app, &maya)
                .await
                .contains(&NotificationKind::Approved)
        );
        copy::mark_for_publishing(app.conn(), &maya, now, listing, &review(r1.id, ""))
            .await
            .expect("marked");

        // An edit starts over; the approved revision stays the one to publish.
        let r2 = saved(
            copy::save(
                app.conn(),
                &maya,
                now,
                listing,
                &copy_input(r1.id, "GitLab Ultimate on AWS"),
            )
            .await
            .expect("saved"),
        );
        assert_eq!(
            copy::approved_revision(app.conn(), listing)
                .await
                .expect("approved")
                .map(|r| r.id),
            Some(r1.id)
        );
        assert_eq!(
            copy::approved_head(app.conn(), listing)
                .await
                .expect("head"),
            None
        );
        let err = copy::mark_for_publishing(app.conn(), &maya, now, listing, &review(r2.id, ""))
            .await
            .expect_err("not approved");
        assert_eq!(err.code, ErrorCode::Conflict);
        copy::request_approval(app.conn(), &maya, now, listing, &review(r2.id, ""))
            .await
            .expect("requested");
        let err = copy::approve(app.conn(), &priya, now, listing, &review(r1.id, ""))
            .await
            .expect_err("stale revision");
        assert!(
            err.message.contains("replaced by revision 2"),
            "{}",
            err.message
        );
        // One person cannot approve both stages.
        copy::approve(app.conn(), &both, now, listing, &review(r2.id, ""))
            .await
            .expect("pat approves for Partnerships");
        let err = copy::approve(app.conn(), &both, now, listing, &review(r2.id, ""))
            .await
            .expect_err("pat again");
        assert_eq!(err.code, ErrorCode::Forbidden);
        let c = copy::reject(
            app.conn(),
            &oskar,
            now,
            listing,
            &review(r2.id, "The instance type is wrong."),
        )
        .await
        .expect("rejected");
        let head = c.head.expect("head");
        assert_eq!(head.state, CopyState::Draft);
        assert_eq!(
            head.rejection().map(|r| r.comment.as_str()),
            Some("The instance type is wrong.")
        );
        assert!(
            unread_kinds(&app, &maya)
                .await
                .contains(&NotificationKind::Rejected)
        );

        // Nobody approves what they wrote, even holding the right team.
        let mona = person(&app, "mona", &[Role::Marketing, Role::Partnerships]).await;
        let r3 = saved(
            copy::save(
                app.conn(),
                &mona,
                now,
                listing,
                &copy_input(r2.id, "GitLab Ultimate, self-managed"),
            )
            .await
            .expect("saved"),
        );
        copy::request_approval(app.conn(), &mona, now, listing, &review(r3.id, ""))
            .await
            .expect("requested");
        let err = copy::approve(app.conn(), &mona, now, listing, &review(r3.id, ""))
            .await
            .expect_err("own revision");
        assert_eq!(err.code, ErrorCode::Forbidden);
        assert!(
            err.message
                .contains("nobody approves a revision they wrote")
        );

        // Revisions compare side by side; the preview is sanitised.
        let diff = copy::diff(app.conn(), listing, r1.id, r3.id)
            .await
            .expect("diff");
        let title = diff
            .fields
            .iter()
            .find(|f| f.field == "title")
            .expect("title");
        assert!(title.changed);
        assert_eq!(title.rows[0].kind, "changed");
        assert!(
            !diff
                .fields
                .iter()
                .find(|f| f.field == "highlights")
                .expect("highlights")
                .changed
        );
        let html = copy::render_markdown(&r1.fields.long_description);
        assert!(html.contains("<h2>GitLab Ultimate</h2>") && !html.contains("<script"));

        // The audit log holds every step, filterable by kind, user and date.
        assert_eq!(
            audit_matching(
                &app,
                AuditFilter {
                    action: Some("approve".into()),
                    ..Default::default()
                }
            )
            .await,
            3
        );
        assert_eq!(
            audit_matching(
                &app,
                AuditFilter {
                    actor: Some("mona".into()),
                    object_type: Some("listing".into()),
                    ..Default::default()
                }
            )
            .await,
            2,
            "mona's save and request"
        );
        let today = now.date_naive().to_string();
        assert_eq!(
            audit_matching(
                &app,
                AuditFilter {
                    action: Some("edit_copy".into()),
                    from: Some(today.clone()),
                    to: Some(today),
                    ..Default::default()
                }
            )
            .await,
            3
        );
        assert_eq!(
            audit_matching(
                &app,
                AuditFilter {
                    action: Some("edit_copy".into()),
                    to: Some("2020-01-01".into()),
                    ..Default::default()
                }
            )
            .await,
            0
        );
        let err = audit::list(
            app.conn(),
            &app.auditor(),
            &AuditFilter {
                from: Some("2026-12-01".into()),
                to: Some("2026-11-01".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("backwards");
        assert!(err.field("to").is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_needs_the_technical_stage_approved_copy_and_three_sign_offs() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        app.without_copy("GitLab Ultimate")
            .await
            .expect("the seeded copy removed");
        let (priya, oskar, maya) = (
            app.user("priya").await,
            app.user("oskar").await,
            app.user("maya").await,
        );
        let now = app.clock.now();
        let w = process::start_first_time(
            app.conn(),
            &priya,
            now,
            &FirstTimeInput {
                partner: "aws".into(),
                product: "gitlab-ee-ultimate".into(),
            },
        )
        .await
        .expect("started");
        let id = w.summary.id;
        let gate = w.launch.clone().expect("a launch gate");
        assert!(
            !gate.ready()
                && !gate.technical_done
                && !gate.copy_approved
                && gate.missing_sign_offs.len() == 3,
            "{backend:?}"
        );
        let copy_task = stage(&w, "marketing")
            .tasks
            .iter()
            .find(|t| t.title.contains("image description"))
            .expect("copy task");
        assert_eq!(
            copy_task.links.first().map(|l| l.url.clone()),
            gate.listing_id.map(|l| format!("/listings/{l}/copy"))
        );
        let err = process::approve_launch(app.conn(), &priya, now, id)
            .await
            .expect_err("not ready");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(
            err.message
                .contains("technical implementation stage is not done"),
            "{}",
            err.message
        );

        // Sign-offs: one per team, by a member of that team.
        let sign = |team: &str| SignOffInput {
            team: team.into(),
            comment: String::new(),
        };
        let err = process::sign_off(app.conn(), &maya, now, id, &sign("omnibus"))
            .await
            .expect_err("not Omnibus");
        assert_eq!(err.code, ErrorCode::Forbidden);
        process::sign_off(app.conn(), &priya, now, id, &sign("partnerships"))
            .await
            .expect("signed");
        let err = process::sign_off(app.conn(), &priya, now, id, &sign("partnerships"))
            .await
            .expect_err("twice");
        assert!(
            err.message.contains("already signed off, by priya"),
            "{}",
            err.message
        );
        process::sign_off(app.conn(), &oskar, now, id, &sign("omnibus"))
            .await
            .expect("signed");
        process::sign_off(app.conn(), &maya, now, id, &sign("marketing"))
            .await
            .expect("signed");

        finish_stage(&app, &priya, &w, "introduction").await;
        finish_stage(&app, &oskar, &w, "technical").await;
        let err = process::approve_launch(app.conn(), &priya, now, id)
            .await
            .expect_err("copy");
        assert!(
            err.message.contains("copy revision is not approved"),
            "{}",
            err.message
        );

        let listing = gate.listing_id.expect("listing");
        let r = saved(
            copy::save(
                app.conn(),
                &maya,
                now,
                listing,
                &copy_input(0, "GitLab Ultimate"),
            )
            .await
            .expect("saved"),
        );
        let review = ReviewInput {
            revision: r.id,
            comment: String::new(),
        };
        copy::request_approval(app.conn(), &maya, now, listing, &review)
            .await
            .expect("requested");
        copy::approve(app.conn(), &priya, now, listing, &review)
            .await
            .expect("partnerships");
        copy::approve(app.conn(), &oskar, now, listing, &review)
            .await
            .expect("omnibus");

        let launched = process::approve_launch(app.conn(), &priya, now, id)
            .await
            .expect("launched");
        assert_eq!(launched.summary.state, WorkflowState::Launched);
        assert!(launched.launched_by.is_some());
        assert_eq!(
            launched
                .sign_offs
                .iter()
                .map(|s| (s.team, s.username.as_str()))
                .collect::<Vec<_>>(),
            [
                (Role::Partnerships, "priya"),
                (Role::Omnibus, "oskar"),
                (Role::Marketing, "maya")
            ]
        );
        // A launched workflow is closed.
        let open_task = stage(&launched, "marketing").tasks[0].id;
        let err = set_state(&app, &maya, open_task, TaskState::Done)
            .await
            .expect_err("closed");
        assert_eq!(err.code, ErrorCode::Conflict);
        let err = process::approve_launch(app.conn(), &priya, now, id)
            .await
            .expect_err("again");
        assert_eq!(err.code, ErrorCode::Conflict);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_in_two_teams_gives_one_of_a_launchs_sign_offs() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let now = app.clock.now();
        let priya = app.user("priya").await;
        let both = person(&app, "dana", &[Role::Omnibus, Role::Partnerships]).await;
        let w = process::start_first_time(
            app.conn(),
            &priya,
            now,
            &FirstTimeInput {
                partner: "aws".into(),
                product: "gitlab-ee-ultimate".into(),
            },
        )
        .await
        .expect("started");
        let id = w.summary.id;
        let sign = |team: &str| SignOffInput {
            team: team.into(),
            comment: String::new(),
        };
        process::sign_off(app.conn(), &both, now, id, &sign("partnerships"))
            .await
            .expect("signed for Partnerships");
        let before = audit_total(&app).await;
        let err = process::sign_off(app.conn(), &both, now, id, &sign("omnibus"))
            .await
            .expect_err("a second sign-off by the same person");
        assert_eq!(err.code, ErrorCode::Forbidden, "{backend:?}");
        assert_eq!(
            err.message,
            "you signed off for Partnerships already: the sign-off for Omnibus must come from someone else"
        );
        // The refused attempt is audited; the sign-off is not recorded.
        assert_eq!(audit_total(&app).await, before + 1, "{backend:?}");
        assert_eq!(
            audit_matching(
                &app,
                AuditFilter {
                    action: Some("sign_off_refused".into()),
                    actor: Some("dana".into()),
                    object_type: Some("workflow".into()),
                    object_id: Some(id.to_string()),
                    ..Default::default()
                }
            )
            .await,
            1
        );
        let now_w = process::get(app.conn(), now, id).await.expect("workflow");
        assert_eq!(
            now_w
                .sign_offs
                .iter()
                .map(|s| (s.team, s.username.as_str()))
                .collect::<Vec<_>>(),
            [(Role::Partnerships, "dana")]
        );
        let gate = now_w.launch.expect("gate");
        assert!(gate.missing_sign_offs.contains(&Role::Omnibus));
        // Nor is the launch waiting on dana any more; Omnibus signs off through someone else.
        let queue = process::approvals(app.conn(), now, &both)
            .await
            .expect("queue");
        assert!(
            queue.launches.iter().all(|l| l.workflow.id != id),
            "{:?}",
            queue.launches
        );
        process::sign_off(app.conn(), &app.user("oskar").await, now, id, &sign("omnibus"))
            .await
            .expect("oskar signs for Omnibus");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlabs_release_webhook_is_verified_and_idempotent() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    app.clock.set(
        Utc.with_ymd_and_hms(2026, 11, 19, 12, 0, 0)
            .single()
            .expect("time"),
    );
    let client = TestApp::client();
    let release_count = |app: &TestApp| {
        let db = app.conn().clone();
        async move {
            releases::list(
                &db,
                PageRequest {
                    page: Some(1),
                    per_page: Some(100),
                },
            )
            .await
            .expect("releases")
            .total
        }
    };
    let before = release_count(&app).await;
    let event = serde_json::json!({
        "object_kind": "release",
        "action": "create",
        "tag": "v18.6.1-ee",
        "name": "GitLab 18.6.1",
        "description": "GitLab Patch Release: 18.6.1",
        "released_at": "2026-11-19T10:00:00Z"
    });
    let send = |token: &str, uuid: &str, body: &serde_json::Value| {
        client
            .post(app.url("/api/v1/webhooks/gitlab"))
            .header("X-Gitlab-Token", token)
            .header("X-Gitlab-Event", "Release Hook")
            .header("X-Gitlab-Event-UUID", uuid)
            .json(body)
            .send()
    };
    let res = send("wrong", "u1", &event).await.expect("sent");
    assert_eq!(res.status(), 401);
    assert_eq!(release_count(&app).await, before, "nothing recorded");
    let res = client
        .post(app.url("/api/v1/webhooks/gitlab"))
        .header("X-Gitlab-Event", "Release Hook")
        .json(&event)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 401);

    let res = send(GITLAB_TOKEN, "u1", &event).await.expect("sent");
    assert_eq!(res.status(), 200);
    let outcome: ReleaseEventOutcome = res.json().await.expect("json");
    assert_eq!(
        (outcome.status.as_str(), outcome.release.as_deref()),
        ("recorded", Some("18.6.1"))
    );
    assert!(!outcome.maintenance_runs.is_empty());
    let r = releases::get(app.conn(), "18.6.1").await.expect("recorded");
    assert_eq!(
        (r.kind, r.released_on),
        (
            ReleaseKind::Patch,
            NaiveDate::from_ymd_opt(2026, 11, 19).expect("day")
        )
    );
    // The same delivery again, and the same release from another delivery: ignored.
    for uuid in ["u1", "u2"] {
        let outcome: ReleaseEventOutcome = send(GITLAB_TOKEN, uuid, &event)
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert_eq!(outcome.status, "duplicate");
        assert!(outcome.maintenance_runs.is_empty());
    }
    assert_eq!(release_count(&app).await, before + 1);

    // A tag push of a security release.
    let push = serde_json::json!({ "object_kind": "tag_push", "ref": "refs/tags/v18.6.2-ee", "after": "1a2b", "message": "GitLab Security Release 18.6.2" });
    let res = client
        .post(app.url("/api/v1/webhooks/gitlab"))
        .header("X-Gitlab-Token", GITLAB_TOKEN)
        .header("X-Gitlab-Event", "Tag Push Hook")
        .json(&push)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let r = releases::get(app.conn(), "18.6.2").await.expect("recorded");
    assert_eq!(r.kind, ReleaseKind::Security);
    let runs = process::list(
        app.conn(),
        app.clock.now(),
        &WorkflowFilter {
            kind: Some("maintenance".into()),
            state: Some("open".into()),
            page: None,
        },
    )
    .await
    .expect("runs");
    assert!(
        runs.items
            .iter()
            .any(|w| w.release.as_deref() == Some("18.6.2") && w.security)
    );

    // Not a release, not JSON, not a version: clear answers, nothing recorded.
    let deleted = serde_json::json!({ "object_kind": "tag_push", "ref": "refs/tags/v18.6.3-ee", "after": "0000000000000000000000000000000000000000" });
    let res = send(GITLAB_TOKEN, "u3", &deleted).await.expect("sent");
    let outcome: ReleaseEventOutcome = res.json().await.expect("json");
    assert!(outcome.status.starts_with("ignored"));
    let res = client
        .post(app.url("/api/v1/webhooks/gitlab"))
        .header("X-Gitlab-Token", GITLAB_TOKEN)
        .header("X-Gitlab-Event", "Release Hook")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
    let bad = serde_json::json!({ "object_kind": "release", "action": "create", "tag": "nightly" });
    let res = send(GITLAB_TOKEN, "u4", &bad).await.expect("sent");
    assert_eq!(res.status(), 422);
    assert_eq!(release_count(&app).await, before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_webhooks_are_signed_and_retried_until_delivered() {
    use std::sync::{Arc, Mutex};
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    // A receiver that fails the first time, then records what it gets.
    #[derive(Default)]
    struct Seen {
        calls: usize,
        delivered: Vec<(String, String, Vec<u8>)>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let receiver = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let seen = seen.clone();
                    async move {
                        let mut s = seen.lock().expect("lock");
                        s.calls += 1;
                        if s.calls == 1 {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let h = |n: &str| {
                            headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        s.delivered.push((
                            h(notify::SIGNATURE_HEADER),
                            h("X-Portal-Event"),
                            body.to_vec(),
                        ));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let alex = app.user("alex").await;
    let err = notify::create_webhook(
        app.conn(),
        &app.state.secret_key,
        app.state.webhooks,
        &alex,
        app.clock.now(),
        &WebhookInput {
            name: "x".into(),
            url: "ftp://example.com".into(),
            events: vec![],
            secret: "short".into(),
        },
    )
    .await
    .expect_err("bad input");
    assert!(err.field("url").is_some() && err.field("secret").is_some());
    // The page's form names the kinds comma-separated; an unknown one is its field's error.
    let err = WebhookInput::try_from(WebhookForm {
        events: "approved, nope".into(),
        ..Default::default()
    })
    .expect_err("unknown kind");
    assert!(err.field("events").is_some());
    let created = notify::create_webhook(
        app.conn(),
        &app.state.secret_key,
        app.state.webhooks,
        &alex,
        app.clock.now(),
        &WebhookInput {
            name: "Slack".into(),
            url,
            events: vec![NotificationKind::ApprovalRequested],
            secret: String::new(),
        },
    )
    .await
    .expect("created");
    assert!(created.secret.len() >= 32);

    let maya = app.user("maya").await;
    let listing = ultimate_listing(&app).await.id;
    let r = saved(
        copy::save(
            app.conn(),
            &maya,
            app.clock.now(),
            listing,
            &copy_input(0, "GitLab Ultimate"),
        )
        .await
        .expect("saved"),
    );
    copy::request_approval(
        app.conn(),
        &maya,
        app.clock.now(),
        listing,
        &ReviewInput {
            revision: r.id,
            comment: String::new(),
        },
    )
    .await
    .expect("requested");

    let runner = app.runner("w1");
    runner.run_until_idle().await.expect("run");
    assert_eq!(seen.lock().expect("lock").calls, 1, "first attempt failed");
    app.drive(&runner, 20).await.expect("delivered");
    let seen = seen.lock().expect("lock");
    assert_eq!(
        seen.delivered.len(),
        1,
        "one event subscribed, delivered once"
    );
    let (signature, event, body) = &seen.delivered[0];
    assert_eq!(event, "approval_requested");
    assert_eq!(signature, &notify::sign(&created.secret, body));
    let json: serde_json::Value = serde_json::from_slice(body).expect("json");
    assert!(
        json["text"]
            .as_str()
            .is_some_and(|t| t.contains("https://portal.test/listings/")),
        "{json}"
    );
}
