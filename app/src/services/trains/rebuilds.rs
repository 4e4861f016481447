//! A security catalyst that is not a release: the rebuilds a new base image asks for, as a
//! train of their own, with the security-vulnerability maintenance runs they complete.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};

use super::engine::{NewStep, insert_step, step_label, turn};
use crate::{
    calendar::MAINTENANCE_BUSINESS_DAYS,
    domain::*,
    error::{AppError, AppResult},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        entities::{image_version, product, rebuild_proposal, release, train},
        process::{self, CatalystImage},
    },
};

/// Starts the rebuild train of an approved proposal, in the caller's transaction: one build
/// step per image to rebuild (a real rebuild: a new image version with a name of its own),
/// the security maintenance runs with their clock from the day the new base image was
/// found, and a first turn.
pub async fn start_rebuild_train(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    proposal: &rebuild_proposal::Model,
) -> AppResult<train::Model> {
    let ids: Vec<i32> = serde_json::from_str(&proposal.items)
        .map_err(|e| AppError::internal("rebuild proposal items", e))?;
    if ids.is_empty() {
        return Err(AppError::conflict(
            "items",
            "the proposal names no image to rebuild",
        ));
    }
    let started_on = proposal.proposed_at.date_naive();
    let calendar = process::holidays(db).await?;
    let due = calendar.add_business_days(started_on, MAINTENANCE_BUSINESS_DAYS);
    let catalyst = format!(
        "new base image {} ({})",
        proposal.base_image_name, proposal.base_image_id
    );
    let t = train::ActiveModel {
        key: Set(format!("rebuild:{}", proposal.id)),
        kind: Set(TrainKind::Rebuild),
        release_id: Set(None),
        title: Set(format!("Security rebuild {}", proposal.id)),
        catalyst: Set(catalyst.clone()),
        started_on: Set(started_on),
        due_on: Set(due),
        state: Set(TrainState::Running),
        created_by: Set(actor.username.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .on_unique("proposal", "this proposal has a train already")?;
    let mut images = Vec::new();
    for (position, id) in ids.iter().enumerate() {
        let iv = image_version::Entity::find_by_id(*id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::conflict("items", format!("image version {id} is gone")))?;
        let p = product::Entity::find_by_id(iv.product_id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::internal("image without product", iv.id))?;
        let r = release::Entity::find_by_id(iv.release_id)
            .one(db)
            .await?
            .ok_or_else(|| AppError::internal("image without release", iv.id))?;
        let step = insert_step(
            db,
            now,
            &t,
            NewStep {
                key: format!("rebuild:{}", iv.id),
                position: position as i32 + 1,
                kind: TrainStepKind::Build,
                release_id: r.id,
                product_id: p.id,
                arch: Some(iv.arch),
                listing_id: None,
                rebuild_of: Some(iv.id),
            },
        )
        .await?;
        images.push(CatalystImage {
            product_id: p.id,
            version: r.version.clone(),
            arch: iv.arch,
            task_title: step_label(&step, &p, &r, None),
        });
    }
    process::open_catalyst_runs(db, actor, now, t.id, &catalyst, started_on, &images).await?;
    audit::record(
        db,
        Some(actor),
        now,
        Change {
            action: "start_train",
            object_type: "train",
            object_id: t.id.to_string(),
            summary: format!(
                "started the security rebuild of {} image{} for the {catalyst}",
                images.len(),
                if images.len() == 1 { "" } else { "s" }
            ),
            before: None,
            after: snapshot(&t),
        },
    )
    .await?;
    turn(db, now, t.id).await?;
    train::Entity::find_by_id(t.id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("train vanished", t.id))
}
