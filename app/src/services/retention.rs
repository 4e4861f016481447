//! The public-image quota. Each AWS region allows a number of public images per account;
//! once it is used up a build cannot make its image public. The portal counts the public
//! images the catalogue knows per region against the quota, and a retention policy per
//! product says which old images go: the images of the newest N releases per architecture
//! stay, so does anything of a release inside the support window or behind a public
//! marketplace version. A dry run stores exactly the images past the policy as a proposal;
//! once Partnerships approves it, the `retire_images` job deprecates them, makes them
//! private, or deregisters them and deletes their snapshots, as the policy says.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{
    audit::{self, Change},
    db_err,
    entities::{
        image_quota, image_region, image_version, listing, listing_version, partner, product,
        release, retention_policy, retention_proposal,
    },
    jobs::{self, NewJob},
    notify::{self, Event},
    products, stored,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
};

/// Job kind of a retention run.
pub const KIND: &str = "retire_images";
/// Public images per region a new AWS account gets.
pub const DEFAULT_QUOTA: i32 = 5;
/// The policy of a product nobody has set one for.
pub const DEFAULT_KEEP_NEWEST: i32 = 3;
pub const DEFAULT_SUPPORT_DAYS: i32 = 90;
pub const DEFAULT_ACTION: RetentionAction = RetentionAction::MakePrivate;

/// What a retention job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetirePayload {
    pub proposal_id: i32,
}

/// Region image states that count against the quota: a deprecated image is still public.
const PUBLIC_STATES: [RegionImageState; 2] =
    [RegionImageState::Public, RegionImageState::Deprecated];

/// The AWS products with their partners.
async fn aws_products(
    db: &impl ConnectionTrait,
) -> AppResult<Vec<(partner::Model, product::Model)>> {
    let partners: HashMap<i32, partner::Model> = partner::Entity::find()
        .filter(partner::Column::Cloud.eq(Cloud::Aws.as_str()))
        .all(db)
        .await
        .map_err(db_err("loading partners"))?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(product::Entity::find()
        .filter(product::Column::PartnerId.is_in(partners.keys().copied()))
        .order_by_asc(product::Column::Id)
        .all(db)
        .await
        .map_err(db_err("loading products"))?
        .into_iter()
        .filter_map(|p| Some((partners.get(&p.partner_id)?.clone(), p)))
        .collect())
}

/// Quota use per region, fullest first.
pub async fn regions(db: &impl ConnectionTrait) -> AppResult<Vec<RegionQuota>> {
    let products = aws_products(db).await?;
    let names: HashMap<i32, String> = products
        .iter()
        .map(|(_, p)| (p.id, p.name.clone()))
        .collect();
    let versions: HashMap<i32, i32> = image_version::Entity::find()
        .filter(image_version::Column::ProductId.is_in(names.keys().copied()))
        .filter(image_version::Column::State.ne(ImageState::Retired.as_str()))
        .all(db)
        .await
        .map_err(db_err("loading image versions"))?
        .into_iter()
        .map(|v| (v.id, v.product_id))
        .collect();
    let public = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.is_in(versions.keys().copied()))
        .filter(image_region::Column::State.is_in(PUBLIC_STATES.map(|s| s.as_str())))
        .all(db)
        .await
        .map_err(db_err("loading public images"))?;
    let quotas: HashMap<String, i32> = image_quota::Entity::find()
        .all(db)
        .await
        .map_err(db_err("loading quotas"))?
        .into_iter()
        .map(|q| (q.region, q.quota))
        .collect();
    // Every region a product ships to or a quota was set for, with or without images.
    let mut counts: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    for (_, p) in &products {
        for r in serde_json::from_str::<Vec<String>>(&p.target_regions).unwrap_or_default() {
            counts.entry(r).or_default();
        }
    }
    for r in quotas.keys() {
        counts.entry(r.clone()).or_default();
    }
    for r in public {
        let Some(name) = versions.get(&r.image_version_id).and_then(|p| names.get(p)) else {
            continue;
        };
        *counts
            .entry(r.region)
            .or_default()
            .entry(name.clone())
            .or_default() += 1;
    }
    let mut out: Vec<RegionQuota> = counts
        .into_iter()
        .map(|(region, per_product)| {
            let mut by_product: Vec<ProductCount> = per_product
                .into_iter()
                .map(|(product_name, count)| ProductCount {
                    product_name,
                    count,
                })
                .collect();
            by_product.sort_by_key(|p| std::cmp::Reverse(p.count));
            RegionQuota {
                public_images: by_product.iter().map(|p| p.count).sum(),
                quota: quotas.get(&region).copied().unwrap_or(DEFAULT_QUOTA),
                quota_set: quotas.contains_key(&region),
                region,
                by_product,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let used = |q: &RegionQuota| f64::from(q.public_images) / f64::from(q.quota.max(1));
        used(b).total_cmp(&used(a)).then(a.region.cmp(&b.region))
    });
    Ok(out)
}

/// Sets the public-image quota the account has in a region (after AWS raised it).
pub async fn set_quota(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    region: &str,
    input: &QuotaInput,
) -> AppResult<RegionQuota> {
    let mut v = Validator::new();
    let region = v.check("region", Cloud::Aws.parse_region(region));
    let quota = v.check(
        "quota",
        input
            .quota
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|q| (1..=100_000).contains(q))
            .ok_or_else(|| "give the number of public images AWS allows, 1 or more".to_owned()),
    );
    let (region, quota) = v.finish(|| Some((region?, quota?)))?;
    let txn = super::begin_write(db).await?;
    let before = image_quota::Entity::find_by_id(region.clone())
        .one(&txn)
        .await
        .map_err(db_err("finding a quota"))?;
    let model = image_quota::ActiveModel {
        region: Set(region.clone()),
        quota: Set(quota),
        updated_by: Set(actor.username.clone()),
        updated_at: Set(now),
    };
    let after = match &before {
        Some(_) => model.update(&txn).await,
        None => model.insert(&txn).await,
    }
    .map_err(db_err("saving a quota"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "set_quota",
            object_type: "region",
            object_id: region.clone(),
            summary: format!("public-image quota of {region} set to {quota}"),
            before: before.as_ref().and_then(audit::snapshot),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await.map_err(db_err("committing a quota"))?;
    regions(db)
        .await?
        .into_iter()
        .find(|r| r.region == region)
        .ok_or_else(|| AppError::internal("quota", "region vanished"))
}

/// Records the quota a region has when nobody set one yet (the simulated cloud's).
pub async fn seed_quotas(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    regions: &[&str],
    quota: i32,
) -> AppResult<()> {
    for region in regions {
        let known = image_quota::Entity::find_by_id((*region).to_owned())
            .one(db)
            .await
            .map_err(db_err("finding a quota"))?;
        if known.is_none() {
            image_quota::ActiveModel {
                region: Set((*region).to_owned()),
                quota: Set(quota),
                updated_by: Set("seed".into()),
                updated_at: Set(now),
            }
            .insert(db)
            .await
            .map_err(db_err("seeding a quota"))?;
        }
    }
    Ok(())
}

fn policy_dto(
    partner: &partner::Model,
    p: &product::Model,
    row: Option<retention_policy::Model>,
) -> AppResult<RetentionPolicy> {
    Ok(match row {
        Some(r) => RetentionPolicy {
            product_id: p.id,
            partner_slug: partner.slug.clone(),
            product_slug: p.slug.clone(),
            product_name: p.name.clone(),
            keep_newest: r.keep_newest,
            support_days: r.support_days,
            action: stored(&r.action)?,
            updated_by: Some(r.updated_by),
            updated_at: Some(r.updated_at),
        },
        None => RetentionPolicy {
            product_id: p.id,
            partner_slug: partner.slug.clone(),
            product_slug: p.slug.clone(),
            product_name: p.name.clone(),
            keep_newest: DEFAULT_KEEP_NEWEST,
            support_days: DEFAULT_SUPPORT_DAYS,
            action: DEFAULT_ACTION,
            updated_by: None,
            updated_at: None,
        },
    })
}

/// Every AWS product's policy (the defaults where none was set).
pub async fn policies(db: &impl ConnectionTrait) -> AppResult<Vec<RetentionPolicy>> {
    let mut rows: HashMap<i32, retention_policy::Model> = retention_policy::Entity::find()
        .all(db)
        .await
        .map_err(db_err("loading retention policies"))?
        .into_iter()
        .map(|r| (r.product_id, r))
        .collect();
    aws_products(db)
        .await?
        .iter()
        .map(|(partner, p)| policy_dto(partner, p, rows.remove(&p.id)))
        .collect()
}

/// One product's policy.
pub async fn policy(
    db: &impl ConnectionTrait,
    partner_slug: &str,
    slug: &str,
) -> AppResult<RetentionPolicy> {
    let (partner, p) = products::find_model(db, partner_slug, slug).await?;
    let row = retention_policy::Entity::find_by_id(p.id)
        .one(db)
        .await
        .map_err(db_err("finding a retention policy"))?;
    policy_dto(&partner, &p, row)
}

/// Sets a product's retention policy.
pub async fn set_policy(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    slug: &str,
    input: &RetentionPolicyInput,
) -> AppResult<RetentionPolicy> {
    let mut v = Validator::new();
    let keep = v.check(
        "keep_newest",
        input
            .keep_newest
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                "keep the images of 1 to 100 releases: the newest always stays".to_owned()
            }),
    );
    let days = v.check(
        "support_days",
        input
            .support_days
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| (0..=3650).contains(n))
            .ok_or_else(|| "give the support window in days, 0 to 3650".to_owned()),
    );
    let action = v.check("action", input.action.parse::<RetentionAction>());
    let (keep, days, action) = v.finish(|| Some((keep?, days?, action?)))?;
    let txn = super::begin_write(db).await?;
    let (partner, p) = products::find_model(&txn, partner_slug, slug).await?;
    if stored::<Cloud>(&partner.cloud)? != Cloud::Aws {
        return Err(AppError::validation(
            "product",
            "retention policies are for products on AWS",
        ));
    }
    let before = retention_policy::Entity::find_by_id(p.id)
        .one(&txn)
        .await
        .map_err(db_err("finding a retention policy"))?;
    let model = retention_policy::ActiveModel {
        product_id: Set(p.id),
        keep_newest: Set(keep),
        support_days: Set(days),
        action: Set(action.as_str().to_owned()),
        updated_by: Set(actor.username.clone()),
        updated_at: Set(now),
    };
    let after = match &before {
        Some(_) => model.update(&txn).await,
        None => model.insert(&txn).await,
    }
    .map_err(db_err("saving a retention policy"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "set_retention",
            object_type: "product",
            object_id: p.id.to_string(),
            summary: format!(
                "retention of {}: keep the newest {keep}, {days} days of support, then {}",
                p.name,
                action.label().to_lowercase()
            ),
            before: before.as_ref().and_then(audit::snapshot),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit()
        .await
        .map_err(db_err("committing a retention policy"))?;
    policy_dto(&partner, &p, Some(after))
}

/// The states an image may be in for the action to apply to it.
fn acts_on(action: RetentionAction, state: RegionImageState) -> bool {
    use RegionImageState::*;
    match action {
        RetentionAction::Deprecate => state == Public,
        RetentionAction::MakePrivate => matches!(state, Public | Deprecated),
        RetentionAction::Deregister => matches!(state, Public | Deprecated | Private),
    }
}

/// The images of a product past its policy, oldest release first: the dry run.
pub async fn candidates(
    db: &impl ConnectionTrait,
    product_id: i32,
    policy: &RetentionPolicy,
    today: NaiveDate,
) -> AppResult<Vec<RetentionItem>> {
    let versions = image_version::Entity::find()
        .filter(image_version::Column::ProductId.eq(product_id))
        .filter(image_version::Column::State.eq(ImageState::Available.as_str()))
        .all(db)
        .await
        .map_err(db_err("loading image versions"))?;
    let releases: HashMap<i32, release::Model> = release::Entity::find()
        .filter(release::Column::Id.is_in(versions.iter().map(|v| v.release_id)))
        .all(db)
        .await
        .map_err(db_err("loading releases"))?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    // Releases behind a public marketplace version of this product are in use.
    let listings: Vec<i32> = listing::Entity::find()
        .filter(listing::Column::ProductId.eq(product_id))
        .all(db)
        .await
        .map_err(db_err("loading listings"))?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let in_use: HashSet<i32> = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.is_in(listings))
        .filter(listing_version::Column::Visibility.eq(ListingVersionVisibility::Public.as_str()))
        .all(db)
        .await
        .map_err(db_err("loading listing versions"))?
        .into_iter()
        .filter_map(|v| v.release_id)
        .collect();
    let window_start = today - Duration::days(i64::from(policy.support_days));
    let mut by_arch: BTreeMap<String, Vec<(Version, &image_version::Model, &release::Model)>> =
        BTreeMap::new();
    for v in &versions {
        let Some(r) = releases.get(&v.release_id) else {
            continue;
        };
        let version =
            Version::parse(&r.version).map_err(|e| AppError::internal("stored release", e))?;
        by_arch
            .entry(v.arch.clone())
            .or_default()
            .push((version, v, r));
    }
    let mut past: Vec<(Version, &image_version::Model)> = Vec::new();
    for list in by_arch.values_mut() {
        list.sort_by(|a, b| b.0.cmp(&a.0));
        for (i, (version, v, r)) in list.iter().enumerate() {
            let newest = i < policy.keep_newest.max(1) as usize;
            let supported = r.released_on > window_start;
            if !newest && !supported && !in_use.contains(&r.id) {
                past.push((version.clone(), v));
            }
        }
    }
    past.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.arch.cmp(&b.1.arch)));
    let regions = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.is_in(past.iter().map(|(_, v)| v.id)))
        .order_by_asc(image_region::Column::Region)
        .all(db)
        .await
        .map_err(db_err("loading image regions"))?;
    let mut items = Vec::new();
    for (version, v) in past {
        for r in regions.iter().filter(|r| r.image_version_id == v.id) {
            let state: RegionImageState = stored(&r.state)?;
            let Some(image_id) = &r.image_id else {
                continue;
            };
            if acts_on(policy.action, state) {
                items.push(RetentionItem {
                    image_region_id: r.id,
                    region: r.region.clone(),
                    image_id: image_id.clone(),
                    image_name: v.name.clone(),
                    version: version.to_string(),
                    arch: stored(&v.arch)?,
                    state,
                });
            }
        }
    }
    Ok(items)
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
        .await
        .map_err(db_err("loading products"))?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    rows.into_iter()
        .map(|p| {
            Ok(RetentionProposal {
                id: p.id,
                product_id: p.product_id,
                product_name: names.get(&p.product_id).cloned().unwrap_or_default(),
                action: stored(&p.action)?,
                items: items_of(&p)?,
                outcomes: outcomes_of(&p)?,
                state: stored(&p.state)?,
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
        .await
        .map_err(db_err("finding a retention proposal"))?
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
        q = q.filter(retention_proposal::Column::State.eq(ProposalState::Proposed.as_str()));
    }
    let rows = q
        .order_by_desc(retention_proposal::Column::Id)
        .limit(50)
        .all(db)
        .await
        .map_err(db_err("listing retention proposals"))?;
    to_dtos(db, rows).await
}

/// The public images page.
pub async fn overview(db: &impl ConnectionTrait) -> AppResult<PublicImages> {
    Ok(PublicImages {
        regions: regions(db).await?,
        policies: policies(db).await?,
        proposals: proposals(db, false).await?,
    })
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
    let txn = super::begin_write(db).await?;
    let policy = policy(&txn, partner_slug, slug).await?;
    let open = retention_proposal::Entity::find()
        .filter(retention_proposal::Column::ProductId.eq(policy.product_id))
        .filter(retention_proposal::Column::State.is_in([
            ProposalState::Proposed.as_str(),
            ProposalState::Approved.as_str(),
        ]))
        .one(&txn)
        .await
        .map_err(db_err("finding retention proposals"))?;
    if let Some(p) = open {
        return Err(AppError::conflict(
            "product",
            format!(
                "retention proposal {} for {} is still open",
                p.id, policy.product_name
            ),
        ));
    }
    let items = candidates(&txn, policy.product_id, &policy, now.date_naive()).await?;
    if items.is_empty() {
        return Err(AppError::conflict(
            "product",
            format!(
                "nothing to retire: every {} image is of the newest {} releases, inside the {}-day support window, behind a public marketplace version, or already {}",
                policy.product_name,
                policy.keep_newest,
                policy.support_days,
                match policy.action {
                    RetentionAction::Deprecate => "deprecated",
                    RetentionAction::MakePrivate => "private",
                    RetentionAction::Deregister => "deregistered",
                }
            ),
        ));
    }
    let model = retention_proposal::ActiveModel {
        product_id: Set(policy.product_id),
        action: Set(policy.action.as_str().to_owned()),
        items: Set(
            serde_json::to_string(&items).map_err(|e| AppError::internal("retention items", e))?
        ),
        outcomes: Set(String::new()),
        state: Set(ProposalState::Proposed.as_str().to_owned()),
        proposed_by: Set(actor.username.clone()),
        proposed_at: Set(now),
        comment: Set(String::new()),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(db_err("saving a retention proposal"))?;
    let regions: HashSet<&str> = items.iter().map(|i| i.region.as_str()).collect();
    let summary = format!(
        "{} {} images of {} in {} regions",
        policy.action.label().to_lowercase(),
        items.len(),
        policy.product_name,
        regions.len()
    );
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "propose_retention",
            object_type: "product",
            object_id: policy.product_id.to_string(),
            summary: format!("dry run: {summary}"),
            before: None,
            after: audit::snapshot(&model),
        },
    )
    .await?;
    notify::send(
        &txn,
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
    txn.commit()
        .await
        .map_err(db_err("committing a retention proposal"))?;
    get(db, model.id).await
}

/// Partnerships approves (the retention job starts) or rejects (with a reason).
pub async fn decide(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    proposal_id: i32,
    approve: bool,
    comment: &str,
) -> AppResult<RetentionProposal> {
    let comment = super::limits::partnerships_decision(
        actor,
        approve,
        comment,
        "which public images are retired",
    )?;
    let txn = super::begin_write(db).await?;
    let p = find(&txn, proposal_id).await?;
    super::limits::still_proposed(&p.state, &format!("retention proposal {proposal_id}"))?;
    let mut active: retention_proposal::ActiveModel = p.clone().into();
    active.decided_by = Set(Some(actor.username.clone()));
    active.decided_at = Set(Some(now));
    active.comment = Set(comment.to_owned());
    if approve {
        let job = jobs::enqueue(
            &txn,
            now,
            NewJob {
                kind: KIND,
                payload: serde_json::to_value(RetirePayload { proposal_id })
                    .map_err(|e| AppError::internal("retire payload", e))?,
                max_attempts: 10,
                group_key: Some(format!("retention-{}", p.product_id)),
                created_by: Some(actor.id),
                step: "waiting for a worker".into(),
            },
        )
        .await?;
        active.job_id = Set(Some(job.id));
        active.state = Set(ProposalState::Approved.as_str().to_owned());
    } else {
        active.state = Set(ProposalState::Rejected.as_str().to_owned());
    }
    let after = active
        .update(&txn)
        .await
        .map_err(db_err("deciding a retention proposal"))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: if approve {
                "approve_retention"
            } else {
                "reject_retention"
            },
            object_type: "product",
            object_id: p.product_id.to_string(),
            summary: super::limits::decision_summary(
                approve,
                &format!("retention proposal {proposal_id}"),
                comment,
            ),
            before: audit::snapshot(&p),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit()
        .await
        .map_err(db_err("committing a decision"))?;
    get(db, proposal_id).await
}

/// What the job works on: the action, the dry run's items, and what is done already.
pub async fn plan(
    db: &impl ConnectionTrait,
    proposal_id: i32,
) -> AppResult<(RetentionAction, Vec<RetentionItem>, Vec<RetentionOutcome>)> {
    let p = find(db, proposal_id).await?;
    if p.state != ProposalState::Approved.as_str() && p.state != ProposalState::Applied.as_str() {
        return Err(AppError::conflict(
            "proposal",
            format!("retention proposal {proposal_id} is not approved"),
        ));
    }
    Ok((stored(&p.action)?, items_of(&p)?, outcomes_of(&p)?))
}

/// Records what the job did to one image, in the catalogue and on the proposal.
pub async fn record_outcome(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    proposal_id: i32,
    outcome: RetentionOutcome,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
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
        .await
        .map_err(db_err("finding an image region"))?
        .ok_or_else(|| AppError::not_found(format!("image region {}", outcome.image_region_id)))?;
    let version_id = region.image_version_id;
    let summary = format!(
        "{} in {}: {}",
        region.image_id.clone().unwrap_or_default(),
        region.region,
        outcome.note
    );
    let mut active: image_region::ActiveModel = region.into();
    active.state = Set(outcome.state.as_str().to_owned());
    active.updated_at = Set(now);
    active
        .update(&txn)
        .await
        .map_err(db_err("updating an image region"))?;
    // An image version with no region left is retired.
    let left = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.eq(version_id))
        .filter(image_region::Column::State.ne(RegionImageState::Deregistered.as_str()))
        .one(&txn)
        .await
        .map_err(db_err("loading image regions"))?;
    if left.is_none()
        && let Some(v) = image_version::Entity::find_by_id(version_id)
            .one(&txn)
            .await
            .map_err(db_err("finding an image version"))?
    {
        let mut active: image_version::ActiveModel = v.into();
        active.state = Set(ImageState::Retired.as_str().to_owned());
        active.updated_at = Set(now);
        active
            .update(&txn)
            .await
            .map_err(db_err("retiring an image version"))?;
    }
    outcomes.push(outcome);
    let mut active: retention_proposal::ActiveModel = p.into();
    active.outcomes = Set(serde_json::to_string(&outcomes)
        .map_err(|e| AppError::internal("retention outcomes", e))?);
    active
        .update(&txn)
        .await
        .map_err(db_err("recording a retention outcome"))?;
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
    txn.commit()
        .await
        .map_err(db_err("committing a retention outcome"))
}

/// Closes a proposal once the job is done (or gave up, with why).
pub async fn finish(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    proposal_id: i32,
    failure: Option<&str>,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    let p = find(&txn, proposal_id).await?;
    let state = if failure.is_some() {
        ProposalState::Failed
    } else {
        ProposalState::Applied
    };
    if p.state == state.as_str() {
        return Ok(());
    }
    let done = outcomes_of(&p)?.len();
    let product_id = p.product_id;
    let mut active: retention_proposal::ActiveModel = p.into();
    active.state = Set(state.as_str().to_owned());
    active
        .update(&txn)
        .await
        .map_err(db_err("closing a retention proposal"))?;
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
    txn.commit()
        .await
        .map_err(db_err("committing a retention proposal"))
}
