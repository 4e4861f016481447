//! Early warnings instead of release blockers: after each sync, a region whose public
//! images reach 80% of its quota and a listing whose public versions reach its restriction
//! threshold tell Omnibus and Partnerships once, with a link to the one-click proposal. The
//! warning is remembered as a schedule mark (`warning:quota:<region>`,
//! `warning:versions:<listing id>`), taken by an insert only one process wins and dropped
//! when the count falls below again, so a later crossing warns again.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};

use crate::{
    domain::*,
    error::AppResult,
    services::{
        begin_write,
        entities::{account_listing, listing, schedule_mark},
        notify::{self, Event},
        retention, take_mark,
    },
};

/// The mark of a region's quota warning.
pub(super) fn quota_mark(region: &str) -> String {
    format!("warning:quota:{region}")
}

/// The mark of a listing's version warning.
pub(super) fn versions_mark(listing_id: i32) -> String {
    format!("warning:versions:{listing_id}")
}

/// Tells Omnibus and Partnerships `event` once while `due` holds: when its mark is taken,
/// and again only after a check found it no longer due (which drops the mark). True when
/// it was told now.
async fn once(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    mark: String,
    due: bool,
    event: impl FnOnce() -> Event,
) -> AppResult<bool> {
    if !due {
        schedule_mark::Entity::delete_many()
            .filter(schedule_mark::Column::Name.eq(mark))
            .exec(txn)
            .await?;
        return Ok(false);
    }
    if !take_mark(txn, &mark, now).await? {
        return Ok(false);
    }
    notify::send(
        txn,
        now,
        event().to_teams(&[Role::Omnibus, Role::Partnerships]),
    )
    .await?;
    Ok(true)
}

/// Gives the warnings due after a sync, for the regions and listings it has read; answers
/// how many it gave.
pub(super) async fn check(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let txn = begin_write(db).await?;
    let mut given = 0;
    for r in retention::regions(&txn).await? {
        if r.synced_at.is_none() {
            continue;
        }
        let due = retention::near_quota(r.public_images, r.quota);
        let told = once(&txn, now, quota_mark(&r.region), due, || {
            Event::new(
                NotificationKind::QuotaWarning,
                format!(
                    "{}: {} of {} public images used",
                    r.region, r.public_images, r.quota
                ),
                format!("/public-images?region={}", percent_encode(&r.region)),
            )
            .body(format!(
                "The next release brings it to {} of {} ({}). Propose retention in one click on the public images page.",
                r.after_next_release,
                r.quota,
                r.quota_source.label()
            ))
        })
        .await?;
        given += usize::from(told);
    }
    let synced = account_listing::Entity::find()
        .filter(account_listing::Column::SyncedAt.is_not_null())
        .all(&txn)
        .await?;
    let listings = listing::Entity::find()
        .filter(listing::Column::Id.is_in(synced.iter().map(|a| a.listing_id)))
        .all(&txn)
        .await?;
    for a in synced {
        let Some(l) = listings.iter().find(|l| l.id == a.listing_id) else {
            continue;
        };
        let due = a.public_versions >= l.restrict_threshold;
        let told = once(&txn, now, versions_mark(l.id), due, || {
            Event::new(
                NotificationKind::VersionLimitWarning,
                format!(
                    "{}: {} public versions, restrictions are proposed from {}",
                    l.entity_name, a.public_versions, l.restrict_threshold
                ),
                format!("/listings/{}", l.id),
            )
            .body(format!(
                "AWS Marketplace allows {} public versions. Propose restricting the oldest in one click on the listing's page.",
                l.version_limit
            ))
        })
        .await?;
        given += usize::from(told);
    }
    txn.commit().await?;
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_remembered_per_region_and_listing() {
        assert_eq!(quota_mark("eu-west-1"), "warning:quota:eu-west-1");
        assert_eq!(versions_mark(7), "warning:versions:7");
    }
}
