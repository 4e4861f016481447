//! Retention proposals: a dry run stored for Partnerships, decided through the shared
//! proposal flow, then carried out image by image by the `retire_images` job.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{
    aws_products,
    policy::{acts_on, candidates, guarded_images, policy},
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
    services::{
        audit::{self, Change},
        begin_write,
        entities::{
            account_image, image_region, image_version, product, release, retention_proposal,
        },
        jobs::JobKind,
        notify::{self, Event},
        proposals::{self as shared, Decision, Proposal},
    },
};

/// The retention job: an approved proposal's images deprecated, made private or
/// deregistered (run by `server::jobs::retire_images`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetireImages {
    pub proposal_id: i32,
}

impl JobKind for RetireImages {
    const NAME: &'static str = "retire_images";
    const MAX_ATTEMPTS: i32 = 10;
}

fn items_of(p: &retention_proposal::Model) -> AppResult<Vec<RetentionItem>> {
    serde_json::from_str(&p.items).map_err(|e| AppError::internal("stored retention items", e))
}

fn outcomes_of(p: &retention_proposal::Model) -> AppResult<Vec<RetentionOutcome>> {
    if p.outcomes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&p.outcomes)
        .map_err(|e| AppError::internal("stored retention outcomes", e))
}

async fn to_dtos(
    db: &impl ConnectionTrait,
    rows: Vec<retention_proposal::Model>,
) -> AppResult<Vec<RetentionProposal>> {
    let names: HashMap<i32, String> = product::Entity::find()
        .filter(product::Column::Id.is_in(rows.iter().map(|r| r.product_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    rows.into_iter()
        .map(|p| {
            Ok(RetentionProposal {
                id: p.id,
                product_id: p.product_id,
                product_name: names.get(&p.product_id).cloned().unwrap_or_default(),
                action: p.action,
                items: items_of(&p)?,
                outcomes: outcomes_of(&p)?,
                state: p.state,
                proposed_by: p.proposed_by,
                proposed_at: p.proposed_at,
                decided_by: p.decided_by,
                decided_at: p.decided_at,
                comment: p.comment,
                job_id: p.job_id,
            })
        })
        .collect()
}

async fn find(db: &impl ConnectionTrait, id: i32) -> AppResult<retention_proposal::Model> {
    retention_proposal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("retention proposal {id}")))
}

/// One proposal.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<RetentionProposal> {
    let p = find(db, id).await?;
    let mut out = to_dtos(db, vec![p]).await?;
    out.pop()
        .ok_or_else(|| AppError::internal("retention proposal", id))
}

/// The newest proposals, or only those waiting for Partnerships.
pub async fn proposals(
    db: &impl ConnectionTrait,
    open_only: bool,
) -> AppResult<Vec<RetentionProposal>> {
    let mut q = retention_proposal::Entity::find();
    if open_only {
        q = q.filter(retention_proposal::Column::State.eq(ProposalState::Proposed));
    }
    let rows = q
        .order_by_desc(retention_proposal::Column::Id)
        .limit(50)
        .all(db)
        .await?;
    to_dtos(db, rows).await
}

/// The open proposal of a product, if any: while one is, no second one is made.
async fn open_proposal(
    db: &impl ConnectionTrait,
    product_id: i32,
) -> AppResult<Option<retention_proposal::Model>> {
    Ok(retention_proposal::Entity::find()
        .filter(retention_proposal::Column::ProductId.eq(product_id))
        .filter(retention_proposal::Column::State.is_in(shared::OPEN))
        .one(db)
        .await?)
}

fn still_open(p: &retention_proposal::Model, product_name: &str) -> AppError {
    AppError::conflict(
        "product",
        format!(
            "retention proposal {} for {product_name} is still open",
            p.id
        ),
    )
}

fn nothing_to_retire(policy: &RetentionPolicy) -> String {
    format!(
        "nothing to retire: every {} image is of the newest {} releases, inside the {}-day support window, behind a public marketplace version, protected from deregistration, or already {}",
        policy.product_name,
        policy.keep_newest,
        policy.support_days,
        match policy.action {
            RetentionAction::Deprecate => "deprecated",
            RetentionAction::MakePrivate => "private",
            RetentionAction::Deregister => "deregistered",
        }
    )
}

/// Runs the product's policy without touching anything and stores the images it would
/// retire as a proposal for Partnerships.
pub async fn dry_run(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    slug: &str,
) -> AppResult<RetentionProposal> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = begin_write(db).await?;
    let policy = policy(&txn, partner_slug, slug).await?;
    if let Some(p) = open_proposal(&txn, policy.product_id).await? {
        return Err(still_open(&p, &policy.product_name));
    }
    let items = candidates(&txn, policy.product_id, &policy, now.date_naive()).await?;
    if items.is_empty() {
        return Err(AppError::conflict("product", nothing_to_retire(&policy)));
    }
    let model = store(&txn, actor, now, &policy, items, "dry run").await?;
    txn.commit().await?;
    get(db, model.id).await
}

/// The one click of the quota warning: a dry run of every AWS product with public images in
/// the region that has no open proposal and has images past its policy.
pub async fn propose_region(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    region: &str,
) -> AppResult<Vec<RetentionProposal>> {
    actor.require(Permission::ManageCatalogue)?;
    let region = Cloud::Aws
        .parse_region(region)
        .map_err(|m| AppError::validation("region", m))?;
    let txn = begin_write(db).await?;
    // Products with public images there: the catalogue's and the account's.
    let catalogue_versions: Vec<i32> = image_region::Entity::find()
        .filter(image_region::Column::Region.eq(&region))
        .filter(
            image_region::Column::State
                .is_in([RegionImageState::Public, RegionImageState::Deprecated]),
        )
        .all(&txn)
        .await?
        .into_iter()
        .map(|r| r.image_version_id)
        .collect();
    let mut products: BTreeSet<i32> = image_version::Entity::find()
        .filter(image_version::Column::Id.is_in(catalogue_versions))
        .all(&txn)
        .await?
        .into_iter()
        .map(|v| v.product_id)
        .collect();
    products.extend(
        account_image::Entity::find()
            .filter(account_image::Column::Region.eq(&region))
            .filter(account_image::Column::Public.eq(true))
            .filter(account_image::Column::GoneAt.is_null())
            .filter(account_image::Column::ProductId.is_not_null())
            .all(&txn)
            .await?
            .into_iter()
            .filter_map(|i| i.product_id),
    );
    let mut made = Vec::new();
    let mut skipped = Vec::new();
    for (partner, p) in aws_products(&txn).await? {
        if !products.contains(&p.id) {
            continue;
        }
        let policy = policy(&txn, &partner.slug, &p.slug).await?;
        if let Some(open) = open_proposal(&txn, p.id).await? {
            skipped.push(format!(
                "{} waits for retention proposal {}",
                p.name, open.id
            ));
            continue;
        }
        let items = candidates(&txn, p.id, &policy, now.date_naive()).await?;
        if items.is_empty() {
            skipped.push(nothing_to_retire(&policy));
            continue;
        }
        made.push(
            store(
                &txn,
                actor,
                now,
                &policy,
                items,
                &format!("quota of {region}"),
            )
            .await?,
        );
    }
    if made.is_empty() {
        return Err(AppError::conflict(
            "region",
            if skipped.is_empty() {
                format!("no product of the portal has public images in {region}")
            } else {
                format!("nothing to propose in {region}: {}", skipped.join("; "))
            },
        ));
    }
    txn.commit().await?;
    let rows = retention_proposal::Entity::find()
        .filter(retention_proposal::Column::Id.is_in(made.iter().map(|m| m.id)))
        .order_by_asc(retention_proposal::Column::Id)
        .all(db)
        .await?;
    to_dtos(db, rows).await
}

/// Proposes retiring exactly these images of a product (by their catalogue region image
/// ids), with the product's policy action; a proposal still goes to Partnerships.
pub async fn propose_images(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    product_id: i32,
    image_region_ids: &[i32],
) -> AppResult<RetentionProposal> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = begin_write(db).await?;
    let model = propose_images_in(&txn, actor, now, product_id, image_region_ids).await?;
    txn.commit().await?;
    get(db, model.id).await
}

/// [`propose_images`] in the caller's transaction, after its permission check.
pub(crate) async fn propose_images_in(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    product_id: i32,
    image_region_ids: &[i32],
) -> AppResult<retention_proposal::Model> {
    if image_region_ids.is_empty() {
        return Err(AppError::validation(
            "image_region_ids",
            "name at least one image to retire",
        ));
    }
    let Some((partner, p)) = aws_products(txn)
        .await?
        .into_iter()
        .find(|(_, p)| p.id == product_id)
    else {
        return Err(AppError::not_found(format!("AWS product {product_id}")));
    };
    let policy = policy(txn, &partner.slug, &p.slug).await?;
    if let Some(open) = open_proposal(txn, p.id).await? {
        return Err(still_open(&open, &p.name));
    }
    let wanted: BTreeSet<i32> = image_region_ids.iter().copied().collect();
    let regions = image_region::Entity::find()
        .filter(image_region::Column::Id.is_in(wanted.iter().copied()))
        .order_by_asc(image_region::Column::Region)
        .all(txn)
        .await?;
    let versions: HashMap<i32, image_version::Model> = image_version::Entity::find()
        .filter(image_version::Column::Id.is_in(regions.iter().map(|r| r.image_version_id)))
        .filter(image_version::Column::ProductId.eq(p.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect();
    let strangers: Vec<String> = wanted
        .iter()
        .filter(|id| {
            !regions
                .iter()
                .any(|r| r.id == **id && versions.contains_key(&r.image_version_id))
        })
        .map(ToString::to_string)
        .collect();
    if !strangers.is_empty() {
        return Err(AppError::validation(
            "image_region_ids",
            format!("not images of {}: {}", p.name, strangers.join(", ")),
        ));
    }
    let releases: HashMap<i32, String> = release::Entity::find()
        .filter(release::Column::Id.is_in(versions.values().map(|v| v.release_id)))
        .all(txn)
        .await?
        .into_iter()
        .map(|r| (r.id, r.version))
        .collect();
    let guarded = guarded_images(txn, regions.iter().filter_map(|r| r.image_id.clone())).await?;
    let mut items = Vec::new();
    for r in &regions {
        let v = &versions[&r.image_version_id];
        let Some(image_id) = r.image_id.clone() else {
            return Err(AppError::conflict(
                "image_region_ids",
                format!("{} in {} has no image id yet", v.name, r.region),
            ));
        };
        if guarded.contains(&image_id) {
            return Err(AppError::conflict(
                "image_region_ids",
                format!(
                    "{image_id} ({} in {}) is protected from deregistration or behind a public marketplace version: retention never proposes it",
                    v.name, r.region
                ),
            ));
        }
        if !acts_on(policy.action, r.state) {
            return Err(AppError::conflict(
                "image_region_ids",
                format!(
                    "{image_id} ({} in {}) is {}: the policy's action, {}, does not apply to it",
                    v.name,
                    r.region,
                    r.state.label().to_lowercase(),
                    policy.action.label().to_lowercase()
                ),
            ));
        }
        items.push(RetentionItem {
            image_region_id: r.id,
            region: r.region.clone(),
            image_id,
            image_name: v.name.clone(),
            version: releases.get(&v.release_id).cloned().unwrap_or_default(),
            arch: v.arch,
            state: r.state,
        });
    }
    store(txn, actor, now, &policy, items, "proposed").await
}

/// Stores a proposal of these images, records it and asks Partnerships to decide.
async fn store(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    policy: &RetentionPolicy,
    items: Vec<RetentionItem>,
    why: &str,
) -> AppResult<retention_proposal::Model> {
    let model = retention_proposal::ActiveModel {
        product_id: Set(policy.product_id),
        action: Set(policy.action),
        items: Set(
            serde_json::to_string(&items).map_err(|e| AppError::internal("retention items", e))?
        ),
        outcomes: Set(String::new()),
        state: Set(ProposalState::Proposed),
        proposed_by: Set(actor.username.clone()),
        proposed_at: Set(now),
        comment: Set(String::new()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let regions: HashSet<&str> = items.iter().map(|i| i.region.as_str()).collect();
    let summary = format!(
        "{} {} images of {} in {} regions",
        policy.action.label().to_lowercase(),
        items.len(),
        policy.product_name,
        regions.len()
    );
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "propose_retention",
            object_type: "product",
            object_id: policy.product_id.to_string(),
            summary: format!("{why}: {summary}"),
            before: None,
            after: audit::snapshot(&model),
        },
    )
    .await?;
    notify::send(
        txn,
        now,
        Event::new(
            NotificationKind::ApprovalRequested,
            format!("Approve retiring old images: {summary}"),
            "/public-images",
        )
        .to_teams(&[Role::Partnerships])
        .except(Some(actor)),
    )
    .await?;
    Ok(model)
}

impl Proposal for retention_proposal::Model {
    type Entity = retention_proposal::Entity;
    type Active = retention_proposal::ActiveModel;

    const NAME: &'static str = "retention proposal";
    const DECIDED_NAME: &'static str = "retention proposal";
    const APPROVE: &'static str = "approve_retention";
    const REJECT: &'static str = "reject_retention";

    fn select(id: i32) -> Select<retention_proposal::Entity> {
        retention_proposal::Entity::find_by_id(id)
    }

    fn state(&self) -> &str {
        self.state.as_str()
    }

    fn proposed_by(&self) -> &str {
        &self.proposed_by
    }

    fn subject(&self) -> (&'static str, String) {
        ("product", self.product_id.to_string())
    }

    type Job = RetireImages;

    fn job(&self) -> (RetireImages, String) {
        (
            RetireImages {
                proposal_id: self.id,
            },
            format!("retention-{}", self.product_id),
        )
    }

    fn decided(self, d: Decision<'_>) -> retention_proposal::ActiveModel {
        let mut active: retention_proposal::ActiveModel = self.into();
        active.decided_by = Set(Some(d.by.to_owned()));
        active.decided_at = Set(Some(d.at));
        active.comment = Set(d.comment.to_owned());
        if let Some(job_id) = d.job_id {
            active.job_id = Set(Some(job_id));
        }
        active.state = Set(d.state);
        active
    }
}

/// Partnerships approves (the retention job starts) or rejects (with a reason); whoever
/// ran the dry run may reject (withdraw) it but not approve it.
pub async fn decide(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    proposal_id: i32,
    approve: bool,
    comment: &str,
) -> AppResult<RetentionProposal> {
    actor.require(Permission::DecideProposals)?;
    shared::decide::<retention_proposal::Model>(db, actor, now, proposal_id, approve, comment)
        .await?;
    get(db, proposal_id).await
}
/// What the job works on: the action, the dry run's items, and what is done already.
pub async fn plan(
    db: &impl ConnectionTrait,
    proposal_id: i32,
) -> AppResult<(RetentionAction, Vec<RetentionItem>, Vec<RetentionOutcome>)> {
    let p = find(db, proposal_id).await?;
    if p.state != ProposalState::Approved && p.state != ProposalState::Applied {
        return Err(AppError::conflict(
            "proposal",
            format!("retention proposal {proposal_id} is not approved"),
        ));
    }
    Ok((p.action, items_of(&p)?, outcomes_of(&p)?))
}

/// Records what the job did to one image, in the catalogue and on the proposal.
pub async fn record_outcome(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    proposal_id: i32,
    outcome: RetentionOutcome,
) -> AppResult<()> {
    let txn = begin_write(db).await?;
    let p = find(&txn, proposal_id).await?;
    let mut outcomes = outcomes_of(&p)?;
    if outcomes
        .iter()
        .any(|o| o.image_region_id == outcome.image_region_id)
    {
        return Ok(());
    }
    let region = image_region::Entity::find_by_id(outcome.image_region_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("image region {}", outcome.image_region_id)))?;
    let version_id = region.image_version_id;
    let summary = format!(
        "{} in {}: {}",
        region.image_id.clone().unwrap_or_default(),
        region.region,
        outcome.note
    );
    let mut active: image_region::ActiveModel = region.into();
    active.state = Set(outcome.state);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    // An image version with no region left is retired.
    let left = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.eq(version_id))
        .filter(image_region::Column::State.ne(RegionImageState::Deregistered))
        .one(&txn)
        .await?;
    if left.is_none()
        && let Some(v) = image_version::Entity::find_by_id(version_id)
            .one(&txn)
            .await?
    {
        let mut active: image_version::ActiveModel = v.into();
        active.state = Set(ImageState::Retired);
        active.updated_at = Set(now);
        active.update(&txn).await?;
    }
    outcomes.push(outcome);
    let mut active: retention_proposal::ActiveModel = p.into();
    active.outcomes = Set(serde_json::to_string(&outcomes)
        .map_err(|e| AppError::internal("retention outcomes", e))?);
    active.update(&txn).await?;
    audit::record(
        &txn,
        None,
        now,
        Change {
            action: "retire_image",
            object_type: "image_version",
            object_id: version_id.to_string(),
            summary,
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(txn.commit().await?)
}

/// Closes a proposal once the job is done (or gave up, with why).
pub async fn finish(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    proposal_id: i32,
    failure: Option<&str>,
) -> AppResult<()> {
    let txn = begin_write(db).await?;
    let p = find(&txn, proposal_id).await?;
    let state = if failure.is_some() {
        ProposalState::Failed
    } else {
        ProposalState::Applied
    };
    if p.state == state {
        return Ok(());
    }
    let done = outcomes_of(&p)?.len();
    let product_id = p.product_id;
    let mut active: retention_proposal::ActiveModel = p.into();
    active.state = Set(state);
    active.update(&txn).await?;
    audit::record(
        &txn,
        None,
        now,
        Change {
            action: if failure.is_some() {
                "retention_failed"
            } else {
                "retention_done"
            },
            object_type: "product",
            object_id: product_id.to_string(),
            summary: match failure {
                None => format!("retention proposal {proposal_id} done: {done} images"),
                Some(why) => {
                    format!("retention proposal {proposal_id} stopped after {done} images: {why}")
                }
            },
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(txn.commit().await?)
}
