//! Proposals Partnerships decides: restricting a listing's oldest marketplace versions
//! ([`super::limits`]) and retiring a product's old public images ([`super::retention`]).
//! One flow decides both: only a proposal still waiting for a decision, a rejection says
//! why, an approval queues the job that carries the proposal out, and the decision leaves
//! one audit line. Who decides is the callers' permission check
//! ([`Permission::DecideProposals`]), made before they come here.
//!
//! Separation of duties (an object-level check, after the permission check): both proposals
//! destroy something in the cloud, so whoever proposed one does not approve it; another
//! member of Partnerships must. The proposer may still reject their own proposal, which
//! withdraws it and changes nothing in the cloud. A refused approval is audited.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Select,
    TransactionSession, TransactionTrait,
};
use serde::Serialize;

use super::{
    audit::{self, Change},
    jobs::JobKind,
    stored,
};
use crate::{
    domain::*,
    error::{AppError, AppResult},
};

/// The states of a proposal that is still open: while one is, no second one is made for
/// the same listing or product.
pub(crate) const OPEN: [ProposalState; 2] = [ProposalState::Proposed, ProposalState::Approved];

/// A decision, as it is written onto the proposal.
pub(crate) struct Decision<'a> {
    pub by: &'a str,
    pub at: DateTime<Utc>,
    pub comment: &'a str,
    pub state: ProposalState,
    /// The job queued by an approval; `None` for a rejection.
    pub job_id: Option<i32>,
}

/// A kind of proposal Partnerships decides: a row of its own table.
pub(crate) trait Proposal:
    Clone + Serialize + Send + Sync + IntoActiveModel<Self::Active>
{
    type Entity: EntityTrait<Model = Self>;
    type Active: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send;

    /// Names one in errors and audit lines: `restriction proposal` (followed by its id).
    const NAME: &'static str;
    /// Names one when it was decided already (followed by its id).
    const DECIDED_NAME: &'static str;
    /// The audit action of an approval.
    const APPROVE: &'static str;
    /// The audit action of a rejection.
    const REJECT: &'static str;

    /// Selects the proposal with this id.
    fn select(id: i32) -> Select<Self::Entity>;
    /// Its stored [`ProposalState`].
    fn state(&self) -> &str;
    /// The username of whoever proposed it.
    fn proposed_by(&self) -> &str;
    /// What its audit lines are about: the object type and id.
    fn subject(&self) -> (&'static str, String);
    /// The job that carries it out once approved.
    type Job: JobKind;
    /// That job, and its group: jobs on the same listing or product run one after the other.
    fn job(&self) -> (Self::Job, String);
    /// The row with the decision written onto it.
    fn decided(self, decision: Decision<'_>) -> Self::Active;
}

/// Checks the comment of a decision: a rejection says why. Answers the trimmed comment.
fn decision_comment(approve: bool, comment: &str) -> AppResult<&str> {
    let comment = comment.trim();
    if !approve && comment.is_empty() {
        return Err(AppError::validation(
            "comment",
            "say why: a rejection needs a comment",
        ));
    }
    Ok(comment)
}

/// Refuses deciding a proposal that is no longer waiting for a decision.
fn still_proposed(state: &str, what: &str) -> AppResult<()> {
    if state == ProposalState::Proposed.as_str() {
        return Ok(());
    }
    Err(AppError::conflict(
        "proposal",
        format!(
            "{what} is {}",
            stored::<ProposalState>(state)?.label().to_lowercase()
        ),
    ))
}

/// The audit line of a decision: `approved proposal 3` or `rejected proposal 3: why`.
fn decision_summary(approve: bool, what: &str, comment: &str) -> String {
    format!(
        "{} {what}{}",
        if approve { "approved" } else { "rejected" },
        if comment.is_empty() {
            String::new()
        } else {
            format!(": {comment}")
        }
    )
}

/// Refuses approving one's own proposal (separation of duties); rejecting it, which
/// withdraws it, stays allowed.
fn not_own_proposal(
    approve: bool,
    proposed_by: &str,
    actor: &CurrentUser,
    what: &str,
) -> AppResult<()> {
    if approve && proposed_by == actor.username {
        return Err(AppError::forbidden(format!(
            "you proposed {what}: another member of Partnerships must approve it (you may reject it to withdraw it)"
        )));
    }
    Ok(())
}

/// Partnerships approves a proposal (its job is queued) or rejects it (with a reason).
/// Answers the decided row. The caller has checked [`Permission::DecideProposals`].
pub(crate) async fn decide<P: Proposal>(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    proposal_id: i32,
    approve: bool,
    comment: &str,
) -> AppResult<P> {
    let comment = decision_comment(approve, comment)?;
    let txn = super::begin_write(db).await?;
    let p = P::select(proposal_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} {proposal_id}", P::NAME)))?;
    still_proposed(p.state(), &format!("{} {proposal_id}", P::DECIDED_NAME))?;
    // Object-level: nobody approves what they proposed.
    if let Err(refusal) = not_own_proposal(
        approve,
        p.proposed_by(),
        actor,
        &format!("{} {proposal_id}", P::NAME),
    ) {
        txn.rollback().await?;
        return Err(audit::refused(db, actor, now, P::APPROVE, p.subject(), refusal).await?);
    }
    let (state, job_id) = if approve {
        let (job, group_key) = p.job();
        let job = job
            .enqueue(&txn, now, Some(actor.id), Some(group_key))
            .await?;
        (ProposalState::Approved, Some(job.id))
    } else {
        (ProposalState::Rejected, None)
    };
    let after = p
        .clone()
        .decided(Decision {
            by: &actor.username,
            at: now,
            comment,
            state,
            job_id,
        })
        .update(&txn)
        .await?;
    let (object_type, object_id) = p.subject();
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: if approve { P::APPROVE } else { P::REJECT },
            object_type,
            object_id,
            summary: decision_summary(approve, &format!("{} {proposal_id}", P::NAME), comment),
            before: audit::snapshot(&p),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_summarised_with_their_reason() {
        assert_eq!(
            decision_summary(true, "retention proposal 3", ""),
            "approved retention proposal 3"
        );
        assert_eq!(
            decision_summary(false, "restriction proposal 4", "too soon"),
            "rejected restriction proposal 4: too soon"
        );
    }

    #[test]
    fn a_proposer_withdraws_but_never_approves_their_own_proposal() {
        let priya = CurrentUser {
            id: 7,
            username: "priya".into(),
            name: "Priya".into(),
            roles: vec![Role::Partnerships],
        };
        let err = not_own_proposal(true, "priya", &priya, "restriction proposal 2")
            .expect_err("own proposal");
        assert_eq!(err.code, crate::error::ErrorCode::Forbidden);
        assert!(
            err.message.contains("another member of Partnerships"),
            "{}",
            err.message
        );
        assert!(not_own_proposal(false, "priya", &priya, "restriction proposal 2").is_ok());
        assert!(not_own_proposal(true, "oskar", &priya, "restriction proposal 2").is_ok());
    }

    #[test]
    fn only_a_proposed_proposal_is_decided() {
        assert!(still_proposed(ProposalState::Proposed.as_str(), "proposal 1").is_ok());
        let err = still_proposed(ProposalState::Rejected.as_str(), "proposal 1")
            .expect_err("decided already");
        assert_eq!(err.message, "proposal 1 is rejected");
    }
}
