//! Creating workflows: the stages and tasks of a new workflow, and opening a first-time
//! image project from the handbook's template.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use super::{templates::FIRST_TIME, views::get};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        begin_write,
        entities::{listing, task, workflow, workflow_stage},
        partners, products,
    },
};

pub(super) async fn insert_workflow(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    wf: workflow::ActiveModel,
    stages: Vec<(StageSpec, Vec<TaskSpec>)>,
) -> AppResult<workflow::Model> {
    let wf = wf
        .insert(db)
        .await
        .on_unique("release", "this product already has a run for this release")?;
    let mut position = 0;
    for (stage_position, (stage, tasks)) in stages.into_iter().enumerate() {
        let s = workflow_stage::ActiveModel {
            workflow_id: Set(wf.id),
            position: Set(stage_position as i32),
            key: Set(stage.key.to_owned()),
            name: Set(stage.name.to_owned()),
            team: Set(stage.team),
            depends_on: Set(stage.depends_on.join(",")),
            completed_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        for spec in tasks {
            position += 1;
            task::ActiveModel {
                workflow_id: Set(wf.id),
                stage_id: Set(s.id),
                position: Set(position),
                title: Set(spec.title),
                description: Set(spec.description),
                team: Set(stage.team),
                required: Set(spec.required),
                state: Set(TaskState::Todo),
                due_on: Set(spec.due_on),
                links: Set(serde_json::to_string(&spec.links)
                    .map_err(|e| AppError::internal("task links", e))?),
                arch: Set(spec.arch),
                listing_id: Set(spec.listing_id),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(wf)
}

/// A stage of a workflow being created.
pub(super) struct StageSpec {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) team: Role,
    pub(super) depends_on: &'static [&'static str],
}

/// A task of a workflow being created.
pub(super) struct TaskSpec {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) required: bool,
    pub(super) due_on: Option<NaiveDate>,
    pub(super) links: Vec<TaskLink>,
    pub(super) arch: Option<Arch>,
    /// The listing whose publish completes the task.
    pub(super) listing_id: Option<i32>,
}

impl TaskSpec {
    pub(super) fn new(title: impl Into<String>, description: impl Into<String>) -> Self {
        TaskSpec {
            title: title.into(),
            description: description.into(),
            required: true,
            due_on: None,
            links: Vec::new(),
            arch: None,
            listing_id: None,
        }
    }
}

/// Opens a first-time image project for a partner (and the product, once known).
pub async fn start_first_time(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &FirstTimeInput,
) -> AppResult<Workflow> {
    actor.require(Permission::ManageWorkflows)?;
    let txn = begin_write(db).await?;
    let partner = partners::find_model(&txn, input.partner.trim())
        .await
        .map_err(|e| AppError::conflict("partner", e.message))?;
    let product = if input.product.trim().is_empty() {
        None
    } else {
        Some(
            products::find_model(&txn, &partner.slug, input.product.trim())
                .await
                .map_err(|e| AppError::conflict("product", e.message))?
                .1,
        )
    };
    let listing_link = match &product {
        Some(p) => listing::Entity::find()
            .filter(listing::Column::ProductId.eq(p.id))
            .one(&txn)
            .await?
            .map(|l| TaskLink {
                label: "Listing copy".into(),
                url: format!("/listings/{}/copy", l.id),
            }),
        None => None,
    };
    let title = match &product {
        Some(p) => format!("First-time image: {} on {}", p.name, partner.name),
        None => format!("First-time image on {}", partner.name),
    };
    let stages = FIRST_TIME
        .iter()
        .map(|s| {
            (
                StageSpec {
                    key: s.key,
                    name: s.name,
                    team: s.team,
                    depends_on: s.depends_on,
                },
                s.tasks
                    .iter()
                    .map(|t| {
                        let mut spec = TaskSpec::new(t.title, t.description);
                        spec.required = t.required;
                        if t.title.contains("image description")
                            && let Some(link) = &listing_link
                        {
                            spec.links.push(link.clone());
                        }
                        spec
                    })
                    .collect(),
            )
        })
        .collect();
    let wf = insert_workflow(
        &txn,
        now,
        workflow::ActiveModel {
            kind: Set(WorkflowKind::FirstTimeImage),
            title: Set(title.clone()),
            partner_id: Set(partner.id),
            product_id: Set(product.as_ref().map(|p| p.id)),
            security: Set(false),
            state: Set(WorkflowState::Open),
            sla_notified: Set(String::new()),
            created_by: Set(actor.username.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        },
        stages,
    )
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "workflow",
            object_id: wf.id.to_string(),
            summary: format!("opened '{title}'"),
            before: None,
            after: snapshot(&wf),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, now, wf.id).await
}
