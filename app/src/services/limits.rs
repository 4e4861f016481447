//! The marketplace's version limit (100 public versions per product on AWS Marketplace).
//! Past a listing's threshold the portal proposes restricting its oldest public versions —
//! never the last public one, never one published within the listing's recent window — and
//! restricts them (job kind `restrict_versions`) only once Partnerships approves.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select,
    Set, TransactionSession, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};

use super::{
    audit::{self, Change},
    entities::{listing, listing_version, restriction_proposal},
    jobs::JobKind,
    notify::{self, Event},
    proposals::{self, Decision, Proposal},
    publish,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
};

/// The restriction job: an approved proposal's versions restricted on AWS Marketplace (run
/// by `server::jobs::restrict_versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestrictVersions {
    pub proposal_id: i32,
}

impl JobKind for RestrictVersions {
    const NAME: &'static str = "restrict_versions";
    const MAX_ATTEMPTS: i32 = 10;
}

/// How far under the threshold a proposal brings the public versions.
const MARGIN: i32 = 10;

async fn find(db: &impl ConnectionTrait, id: i32) -> AppResult<restriction_proposal::Model> {
    restriction_proposal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("restriction proposal {id}")))
}

fn ids_of(p: &restriction_proposal::Model) -> Vec<i32> {
    serde_json::from_str(&p.version_ids).unwrap_or_default()
}

/// The versions a proposal restricts, oldest first.
pub async fn versions_of(
    db: &impl ConnectionTrait,
    p: &restriction_proposal::Model,
) -> AppResult<Vec<listing_version::Model>> {
    Ok(listing_version::Entity::find()
        .filter(listing_version::Column::Id.is_in(ids_of(p)))
        .order_by_asc(listing_version::Column::PublishedAt)
        .all(db)
        .await?)
}

async fn to_dto(
    db: &impl ConnectionTrait,
    p: restriction_proposal::Model,
) -> AppResult<RestrictionProposal> {
    let versions = versions_of(db, &p)
        .await?
        .into_iter()
        .map(|v| ListingVersion {
            id: v.id,
            title: v.title,
            release: None,
            delivery_option_id: v.delivery_option_id,
            visibility: v.visibility,
            published_at: v.published_at,
            arch: v.arch,
        })
        .collect();
    Ok(RestrictionProposal {
        id: p.id,
        listing_id: p.listing_id,
        versions,
        state: p.state,
        proposed_by: p.proposed_by,
        proposed_at: p.proposed_at,
        decided_by: p.decided_by,
        decided_at: p.decided_at,
        comment: p.comment,
        job_id: p.job_id,
    })
}

async fn to_dtos(
    db: &impl ConnectionTrait,
    rows: Vec<restriction_proposal::Model>,
) -> AppResult<Vec<RestrictionProposal>> {
    let mut out = Vec::with_capacity(rows.len());
    for p in rows {
        out.push(to_dto(db, p).await?);
    }
    Ok(out)
}

/// A listing's proposals, newest first.
pub async fn proposals_of(
    db: &impl ConnectionTrait,
    listing_id: i32,
) -> AppResult<Vec<RestrictionProposal>> {
    let rows = restriction_proposal::Entity::find()
        .filter(restriction_proposal::Column::ListingId.eq(listing_id))
        .order_by_desc(restriction_proposal::Column::Id)
        .all(db)
        .await?;
    to_dtos(db, rows).await
}

/// Proposals waiting for Partnerships, oldest first.
pub async fn open_proposals(db: &impl ConnectionTrait) -> AppResult<Vec<RestrictionProposal>> {
    let rows = restriction_proposal::Entity::find()
        .filter(restriction_proposal::Column::State.eq(ProposalState::Proposed))
        .order_by_asc(restriction_proposal::Column::Id)
        .all(db)
        .await?;
    to_dtos(db, rows).await
}

/// Proposes restricting the oldest public versions of a listing past its threshold.
pub async fn propose(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
) -> AppResult<RestrictionProposal> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let l = super::listings::find_model(&txn, listing_id).await?;
    refuse_open(&txn, listing_id).await?;
    let public: Vec<listing_version::Model> = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(listing_id))
        .filter(listing_version::Column::Visibility.eq(ListingVersionVisibility::Public))
        .order_by_asc(listing_version::Column::PublishedAt)
        .order_by_asc(listing_version::Column::Id)
        .all(&txn)
        .await?;
    let count = super::listings::synced_public_versions(&txn, listing_id)
        .await?
        .unwrap_or(public.len() as i32);
    if count < l.restrict_threshold {
        return Err(AppError::conflict(
            "listing",
            format!(
                "{count} of {} versions are public; restrictions are proposed from {}",
                l.version_limit, l.restrict_threshold
            ),
        ));
    }
    let target = (l.restrict_threshold - MARGIN).max(1);
    let wanted = (count - target).max(1) as usize;
    let recent = now - Duration::days(i64::from(l.keep_recent_days));
    // The newest public version always stays public.
    let candidates: Vec<i32> = public
        .iter()
        .take(public.len().saturating_sub(1))
        .filter(|v| v.published_at < recent && v.delivery_option_id.is_some())
        .take(wanted)
        .map(|v| v.id)
        .collect();
    if candidates.is_empty() {
        return Err(AppError::conflict(
            "listing",
            format!(
                "nothing can be restricted: the public versions are younger than {} days or the last one",
                l.keep_recent_days
            ),
        ));
    }
    let why = format!(
        "proposed restricting {} old versions of {} ({count} of {} public)",
        candidates.len(),
        l.entity_name,
        l.version_limit
    );
    let model = store(
        &txn,
        actor,
        now,
        &l,
        &candidates,
        why,
        format!(
            "Approve restricting {} old versions of {}",
            candidates.len(),
            l.entity_name
        ),
        format!("{count} of {} versions are public.", l.version_limit),
    )
    .await?;
    txn.commit().await?;
    to_dto(db, model).await
}

/// Whether a restriction proposal is still open on the listing: one at a time.
async fn refuse_open(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<()> {
    let open = restriction_proposal::Entity::find()
        .filter(restriction_proposal::Column::ListingId.eq(listing_id))
        .filter(restriction_proposal::Column::State.is_in(proposals::OPEN))
        .one(db)
        .await?;
    match open {
        Some(p) => Err(AppError::conflict(
            "listing",
            format!("proposal {} for this listing is still open", p.id),
        )),
        None => Ok(()),
    }
}

/// Proposes restricting exactly these public versions of a listing (a version added in the
/// console, the live version whose image is gone); Partnerships still decides. Never
/// leaves the listing without a public version.
pub async fn propose_versions(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    version_ids: &[i32],
) -> AppResult<RestrictionProposal> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let model = propose_versions_in(&txn, actor, now, listing_id, version_ids).await?;
    txn.commit().await?;
    to_dto(db, model).await
}

/// [`propose_versions`] in the caller's transaction, after its permission check.
pub(crate) async fn propose_versions_in(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    listing_id: i32,
    version_ids: &[i32],
) -> AppResult<restriction_proposal::Model> {
    if version_ids.is_empty() {
        return Err(AppError::validation(
            "version_ids",
            "name at least one version to restrict",
        ));
    }
    let l = super::listings::find_model(txn, listing_id).await?;
    refuse_open(txn, listing_id).await?;
    let wanted: std::collections::BTreeSet<i32> = version_ids.iter().copied().collect();
    let versions: Vec<listing_version::Model> = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(listing_id))
        .order_by_asc(listing_version::Column::PublishedAt)
        .order_by_asc(listing_version::Column::Id)
        .all(txn)
        .await?;
    let strangers: Vec<String> = wanted
        .iter()
        .filter(|id| !versions.iter().any(|v| v.id == **id))
        .map(ToString::to_string)
        .collect();
    if !strangers.is_empty() {
        return Err(AppError::validation(
            "version_ids",
            format!(
                "not versions of {}: {}",
                l.entity_name,
                strangers.join(", ")
            ),
        ));
    }
    let chosen: Vec<&listing_version::Model> =
        versions.iter().filter(|v| wanted.contains(&v.id)).collect();
    for v in &chosen {
        if v.visibility != ListingVersionVisibility::Public {
            return Err(AppError::conflict(
                "version_ids",
                format!("'{}' is restricted already", v.title),
            ));
        }
        if v.delivery_option_id.is_none() {
            return Err(AppError::conflict(
                "version_ids",
                format!(
                    "'{}' has no delivery option on the marketplace to restrict",
                    v.title
                ),
            ));
        }
    }
    let public = versions
        .iter()
        .filter(|v| v.visibility == ListingVersionVisibility::Public)
        .count();
    if public <= chosen.len() {
        return Err(AppError::conflict(
            "version_ids",
            format!(
                "restricting {} would leave {} without a public version",
                chosen
                    .iter()
                    .map(|v| format!("'{}'", v.title))
                    .collect::<Vec<_>>()
                    .join(", "),
                l.entity_name
            ),
        ));
    }
    let ids: Vec<i32> = chosen.iter().map(|v| v.id).collect();
    let titles = chosen
        .iter()
        .map(|v| format!("'{}'", v.title))
        .collect::<Vec<_>>()
        .join(", ");
    store(
        txn,
        actor,
        now,
        &l,
        &ids,
        format!("proposed restricting {titles} on {}", l.entity_name),
        format!("Approve restricting {titles} on {}", l.entity_name),
        format!("{} asked for exactly these versions.", actor.name),
    )
    .await
}

/// Stores a restriction proposal of these versions, records it and asks Partnerships.
#[expect(
    clippy::too_many_arguments,
    reason = "the two proposals differ only in their words"
)]
async fn store(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    l: &listing::Model,
    version_ids: &[i32],
    summary: String,
    title: String,
    body: String,
) -> AppResult<restriction_proposal::Model> {
    let model = restriction_proposal::ActiveModel {
        listing_id: Set(l.id),
        version_ids: Set(
            serde_json::to_string(version_ids).map_err(|e| AppError::internal("proposal", e))?
        ),
        state: Set(ProposalState::Proposed),
        proposed_by: Set(actor.username.clone()),
        proposed_at: Set(now),
        comment: Set(String::new()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "propose_restrictions",
            object_type: "listing",
            object_id: l.id.to_string(),
            summary,
            before: None,
            after: super::audit::snapshot(&model),
        },
    )
    .await?;
    notify::send(
        txn,
        now,
        Event::new(
            NotificationKind::ApprovalRequested,
            title,
            format!("/listings/{}", l.id),
        )
        .body(body)
        .to_teams(&[Role::Partnerships])
        .except(Some(actor)),
    )
    .await?;
    Ok(model)
}

impl Proposal for restriction_proposal::Model {
    type Entity = restriction_proposal::Entity;
    type Active = restriction_proposal::ActiveModel;

    const NAME: &'static str = "restriction proposal";
    const DECIDED_NAME: &'static str = "proposal";
    const APPROVE: &'static str = "approve_restrictions";
    const REJECT: &'static str = "reject_restrictions";

    fn select(id: i32) -> Select<restriction_proposal::Entity> {
        restriction_proposal::Entity::find_by_id(id)
    }

    fn state(&self) -> &str {
        self.state.as_str()
    }

    fn proposed_by(&self) -> &str {
        &self.proposed_by
    }

    fn subject(&self) -> (&'static str, String) {
        ("listing", self.listing_id.to_string())
    }

    type Job = RestrictVersions;

    fn job(&self) -> (RestrictVersions, String) {
        (
            RestrictVersions {
                proposal_id: self.id,
            },
            publish::group(self.listing_id),
        )
    }

    fn decided(self, d: Decision<'_>) -> restriction_proposal::ActiveModel {
        let mut active: restriction_proposal::ActiveModel = self.into();
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

/// Partnerships approves (the restriction job starts) or rejects (with a reason); whoever
/// proposed it may reject (withdraw) it but not approve it.
pub async fn decide(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    proposal_id: i32,
    approve: bool,
    comment: &str,
) -> AppResult<RestrictionProposal> {
    actor.require(Permission::DecideProposals)?;
    let after = proposals::decide::<restriction_proposal::Model>(
        db,
        actor,
        now,
        proposal_id,
        approve,
        comment,
    )
    .await?;
    to_dto(db, after).await
}

/// The proposal a job works on, with the listing's entity and the delivery option ids.
pub async fn plan(
    db: &impl ConnectionTrait,
    proposal_id: i32,
) -> AppResult<(restriction_proposal::Model, listing::Model, Vec<String>)> {
    let p = find(db, proposal_id).await?;
    let l = super::listings::find_model(db, p.listing_id).await?;
    let options = versions_of(db, &p)
        .await?
        .into_iter()
        .filter_map(|v| v.delivery_option_id)
        .collect();
    Ok((p, l, options))
}

/// Records the restriction in the catalogue once AWS Marketplace applied it.
pub async fn applied(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    proposal_id: i32,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    let p = find(&txn, proposal_id).await?;
    listing_version::Entity::update_many()
        .col_expr(
            listing_version::Column::Visibility,
            Expr::value(ListingVersionVisibility::Restricted),
        )
        .filter(listing_version::Column::Id.is_in(ids_of(&p)))
        .exec(&txn)
        .await?;
    settle(&txn, now, p, ProposalState::Applied, None).await?;
    Ok(txn.commit().await?)
}

/// Marks a proposal failed, with AWS Marketplace's reasons.
pub async fn failed(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    proposal_id: i32,
    why: &str,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    let p = find(&txn, proposal_id).await?;
    settle(&txn, now, p, ProposalState::Failed, Some(why)).await?;
    Ok(txn.commit().await?)
}

async fn settle(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    p: restriction_proposal::Model,
    state: ProposalState,
    why: Option<&str>,
) -> AppResult<()> {
    if p.state == state {
        return Ok(());
    }
    let listing_id = p.listing_id;
    let id = p.id;
    let count = ids_of(&p).len();
    let mut active: restriction_proposal::ActiveModel = p.into();
    active.state = Set(state);
    active.update(db).await?;
    audit::record(
        db,
        None,
        now,
        Change {
            action: if state == ProposalState::Applied {
                "restrict_versions"
            } else {
                "restrict_versions_failed"
            },
            object_type: "listing",
            object_id: listing_id.to_string(),
            summary: match why {
                None => format!("restricted {count} versions (proposal {id})"),
                Some(w) => format!("restricting the versions of proposal {id} failed: {w}"),
            },
            before: None,
            after: None,
        },
    )
    .await
}
