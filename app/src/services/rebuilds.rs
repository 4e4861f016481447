//! Security rebuilds that are not a GitLab release: a newer base image.
//!
//! Once a day (and on demand, `POST /api/v1/base-images/check`) the portal asks EC2, in
//! each image-maintained AWS product's build region, for the newest image of the product's
//! base image filter and owner (the filter the build uses, with `{arch}` filled in). Every
//! current image of a supported release built on an older base image (or on one the portal
//! did not record: it predates the record) is proposed for a rebuild, one proposal per new
//! base image, so a second check proposes nothing new. The supported releases follow
//! GitLab's security maintenance policy: the newest patch of each of the three newest
//! stable major.minor lines. The proposer is the portal itself; Omnibus approves (the
//! rebuilds run as a train of their own, `trains::start_rebuild_train`) or rejects with a
//! reason.
//!
//! The cloud is asked through [`BaseImageFinder`], which the server implements with its EC2
//! client; this module decides. Several processes run the daily check once a day between
//! them: the turn is taken by a guarded update of the `base_image_check` schedule mark.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};

use super::{
    audit::{self, Change},
    begin_write,
    entities::{
        image_version, partner, product, product_architecture, rebuild_proposal, release,
        schedule_mark, train,
    },
    insert_new, lookup,
    notify::{self, Event},
    products, trains, users,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult},
};

/// How many stable major.minor lines GitLab's security maintenance covers.
pub const SUPPORTED_LINES: usize = 3;

/// The schedule mark of the daily check.
pub const DAILY_CHECK: &str = "base_image_check";

/// How often the daily check runs.
pub fn check_period() -> Duration {
    Duration::hours(24)
}

/// After a check that failed (EC2 out of reach), how long until the next try.
fn retry_after() -> Duration {
    Duration::hours(1)
}

/// The longest comment a decision takes.
const MAX_COMMENT: usize = 2000;

/// What to ask the cloud: the images of one base image filter in one region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BaseImageQuery {
    /// The products' build region.
    pub region: String,
    /// The account the base image comes from.
    pub owner: String,
    /// The products' name filter with `{arch}` filled in, as the build uses it.
    pub name_pattern: String,
    pub arch: Arch,
}

/// One available image the cloud listed for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBaseImage {
    pub id: String,
    pub name: String,
    /// EC2's creation date (`2026-10-01T00:00:00.000Z`).
    pub created: Option<String>,
}

/// Lists the available images matching a query: the server's EC2 client in the portal, a
/// stand-in in tests.
pub trait BaseImageFinder: Send + Sync {
    fn find<'a>(
        &'a self,
        query: &'a BaseImageQuery,
    ) -> BoxFuture<'a, AppResult<Vec<FoundBaseImage>>>;
}

/// The finder the web layer hands to requests (a request extension), so the REST route and
/// the page's server function run the same check.
#[derive(Clone)]
pub struct Finder(pub Arc<dyn BaseImageFinder>);

impl std::fmt::Debug for Finder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Finder")
    }
}

/// The newest of the listed images, chosen as the build chooses its base image: by
/// creation date.
fn newest(found: &[FoundBaseImage]) -> Option<&FoundBaseImage> {
    found
        .iter()
        .max_by_key(|i| i.created.clone().unwrap_or_default())
}

/// Whether an image built on `base` should be rebuilt on `newest`: it was built on an older
/// image, on one no longer listed, or on one the portal did not record.
fn outdated(base: Option<&str>, newest: &FoundBaseImage, found: &[FoundBaseImage]) -> bool {
    match base {
        None => true,
        Some(id) if id == newest.id => false,
        Some(id) => match found.iter().find(|f| f.id == id) {
            Some(built_on) => {
                built_on.created.clone().unwrap_or_default()
                    < newest.created.clone().unwrap_or_default()
            }
            None => true,
        },
    }
}

/// The releases GitLab still ships security fixes for: the newest patch of each of the
/// [`SUPPORTED_LINES`] newest stable major.minor lines. `stable` is newest first.
fn supported(stable: Vec<release::Model>) -> Vec<release::Model> {
    let mut lines = BTreeSet::new();
    stable
        .into_iter()
        .filter(|r| r.pre.is_none() && lines.insert((r.major, r.minor)))
        .take(SUPPORTED_LINES)
        .collect()
}

async fn supported_releases(db: &impl ConnectionTrait) -> AppResult<Vec<release::Model>> {
    let stable = release::Entity::find()
        .filter(release::Column::Pre.is_null())
        .order_by_desc(release::Column::Major)
        .order_by_desc(release::Column::Minor)
        .order_by_desc(release::Column::Patch)
        .order_by_desc(release::Column::Id)
        .all(db)
        .await?;
    Ok(supported(stable))
}

/// Every base image filter of the image-maintained AWS products, with the products that
/// build on it.
async fn queries(
    db: &impl ConnectionTrait,
) -> AppResult<BTreeMap<BaseImageQuery, Vec<product::Model>>> {
    let aws: Vec<i32> = partner::Entity::find()
        .filter(partner::Column::Cloud.eq(Cloud::Aws))
        .all(db)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let products = product::Entity::find()
        .filter(product::Column::PartnerId.is_in(aws))
        .filter(product::Column::MaintenanceMode.eq(MaintenanceMode::Image))
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?;
    let archs = product_architecture::Entity::find()
        .filter(product_architecture::Column::ProductId.is_in(products.iter().map(|p| p.id)))
        .all(db)
        .await?;
    let mut out: BTreeMap<BaseImageQuery, Vec<product::Model>> = BTreeMap::new();
    for p in &products {
        for a in archs.iter().filter(|a| a.product_id == p.id) {
            let query = BaseImageQuery {
                region: p.build_region.clone(),
                owner: p.base_image_owner.clone(),
                name_pattern: p.base_image_name_pattern.replace("{arch}", a.arch.as_str()),
                arch: a.arch,
            };
            out.entry(query).or_default().push(p.clone());
        }
    }
    Ok(out)
}

/// The current image of each product × supported release on one architecture: available
/// and not replaced by a rebuild.
async fn current_images(
    db: &impl ConnectionTrait,
    products: &[product::Model],
    releases: &[release::Model],
    arch: Arch,
) -> AppResult<Vec<image_version::Model>> {
    let rows = image_version::Entity::find()
        .filter(image_version::Column::ProductId.is_in(products.iter().map(|p| p.id)))
        .filter(image_version::Column::ReleaseId.is_in(releases.iter().map(|r| r.id)))
        .filter(image_version::Column::Arch.eq(arch))
        .filter(image_version::Column::State.eq(ImageState::Available))
        .filter(image_version::Column::SupersededBy.is_null())
        .order_by_asc(image_version::Column::Id)
        .all(db)
        .await?;
    let mut newest: BTreeMap<(i32, i32), image_version::Model> = BTreeMap::new();
    for iv in rows {
        let key = (iv.product_id, iv.release_id);
        if newest
            .get(&key)
            .is_none_or(|kept| kept.rebuild < iv.rebuild)
        {
            newest.insert(key, iv);
        }
    }
    Ok(newest.into_values().collect())
}

fn id_list(text: &str) -> AppResult<Vec<i32>> {
    serde_json::from_str(text).map_err(|e| AppError::internal("stored rebuild items", e))
}

fn text_list(text: &str) -> AppResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| AppError::internal("stored base images", e))
}

fn to_json<T: serde::Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).map_err(|e| AppError::internal("rebuild proposal", e))
}

async fn to_dtos(
    db: &impl ConnectionTrait,
    rows: Vec<rebuild_proposal::Model>,
) -> AppResult<Vec<RebuildProposal>> {
    let mut ids = BTreeSet::new();
    for p in &rows {
        ids.extend(id_list(&p.items)?);
    }
    let images = lookup(db, image_version::Column::Id, ids, |iv| (iv.id, iv)).await?;
    let products =
        products::with_partner_slugs(db, images.values().map(|iv| iv.product_id)).await?;
    let versions = lookup(
        db,
        release::Column::Id,
        images.values().map(|iv| iv.release_id),
        |r| (r.id, r.version),
    )
    .await?;
    let done_trains: BTreeSet<i32> = train::Entity::find()
        .filter(train::Column::Id.is_in(rows.iter().filter_map(|p| p.train_id)))
        .filter(train::Column::State.eq(TrainState::Done))
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    rows.into_iter()
        .map(|p| {
            let items = id_list(&p.items)?
                .into_iter()
                .filter_map(|id| {
                    let iv = images.get(&id)?;
                    let (product, partner_slug) = products.get(&iv.product_id)?;
                    Some(RebuildItem {
                        image_version_id: iv.id,
                        image_name: iv.name.clone(),
                        partner_slug: partner_slug.clone(),
                        product_slug: product.slug.clone(),
                        product_name: product.name.clone(),
                        version: versions.get(&iv.release_id).cloned()?,
                        arch: iv.arch,
                        base_image_id: iv.base_image_id.clone(),
                        base_image_name: iv.base_image_name.clone(),
                        superseded_by: iv.superseded_by,
                    })
                })
                .collect();
            Ok(RebuildProposal {
                id: p.id,
                arch: p.arch,
                region: p.region,
                base_image_id: p.base_image_id,
                base_image_name: p.base_image_name,
                base_image_created: p.base_image_created,
                previous_base_images: text_list(&p.previous_base_images)?,
                items,
                // Approved while its rebuild train runs; applied once the train is done.
                state: match (p.state, p.train_id) {
                    (ProposalState::Approved, Some(t)) if done_trains.contains(&t) => {
                        ProposalState::Applied
                    }
                    (state, _) => state,
                },
                proposed_by: p.proposed_by,
                proposed_at: p.proposed_at,
                decided_by: p.decided_by,
                decided_at: p.decided_at,
                comment: p.comment,
                train_id: p.train_id,
            })
        })
        .collect()
}

async fn find(db: &impl ConnectionTrait, id: i32) -> AppResult<rebuild_proposal::Model> {
    rebuild_proposal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("rebuild proposal {id}")))
}

/// One proposal, its images as they are now.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> AppResult<RebuildProposal> {
    let p = find(db, id).await?;
    to_dtos(db, vec![p])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("rebuild proposal", id))
}

/// The proposals, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    page: PageRequest,
) -> AppResult<Page<RebuildProposal>> {
    let Paging { index, per_page } = page.checked()?;
    let paginator = rebuild_proposal::Entity::find()
        .order_by_desc(rebuild_proposal::Column::Id)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: to_dtos(db, rows).await?,
        page: index + 1,
        per_page,
        total,
    })
}

/// Runs the check now: asks the cloud for the newest base image of every filter and
/// proposes rebuilding the current images of the supported releases built on an older
/// one. Answers what it found and the proposals it made.
pub async fn check(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    finder: &dyn BaseImageFinder,
) -> AppResult<BaseImageCheck> {
    actor.require(Permission::RebuildImages)?;
    run_check(db, actor, now, finder).await
}

/// The daily check: runs [`check`] as the portal when a day has passed since it last ran
/// in any process, and answers `None` otherwise. A check that fails is tried again an hour
/// later.
pub async fn daily_check(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    finder: &dyn BaseImageFinder,
) -> AppResult<Option<BaseImageCheck>> {
    if !super::claim_turn(db, DAILY_CHECK, now, check_period()).await? {
        return Ok(None);
    }
    let portal = users::system_user(db, now).await?;
    match run_check(db, &portal, now, finder).await {
        Ok(report) => Ok(Some(report)),
        Err(err) => {
            // Give the turn back, due again in an hour, unless another process took it since.
            schedule_mark::Entity::update_many()
                .col_expr(
                    schedule_mark::Column::LastRunAt,
                    Expr::value(now - check_period() + retry_after()),
                )
                .filter(schedule_mark::Column::Name.eq(DAILY_CHECK))
                .filter(schedule_mark::Column::LastRunAt.eq(now))
                .exec(db)
                .await?;
            Err(err)
        }
    }
}

async fn run_check(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    finder: &dyn BaseImageFinder,
) -> AppResult<BaseImageCheck> {
    let releases = supported_releases(db).await?;
    let mut report = BaseImageCheck {
        checked_at: now,
        base_images: Vec::new(),
        proposals: Vec::new(),
    };
    for (query, products) in queries(db).await? {
        let found = finder.find(&query).await?;
        let mut checked = CheckedBaseImage {
            arch: query.arch,
            region: query.region.clone(),
            owner: query.owner.clone(),
            name_pattern: query.name_pattern.clone(),
            newest_id: None,
            newest_name: None,
            newest_created: None,
            up_to_date: 0,
            outdated: 0,
        };
        let Some(newest) = newest(&found) else {
            report.base_images.push(checked);
            continue;
        };
        checked.newest_id = Some(newest.id.clone());
        checked.newest_name = Some(newest.name.clone());
        checked.newest_created = newest.created.clone();
        let (stale, fresh): (Vec<_>, Vec<_>) = current_images(db, &products, &releases, query.arch)
            .await?
            .into_iter()
            .partition(|iv| outdated(iv.base_image_id.as_deref(), newest, &found));
        checked.up_to_date = u32::try_from(fresh.len()).unwrap_or(u32::MAX);
        checked.outdated = u32::try_from(stale.len()).unwrap_or(u32::MAX);
        report.base_images.push(checked);
        if stale.is_empty() {
            continue;
        }
        if let Some(id) = propose(db, actor, now, &query, newest, &stale, &releases).await? {
            report.proposals.push(get(db, id).await?);
        }
    }
    Ok(report)
}

/// Records the proposal of rebuilding `stale` on `newest`, tells Omnibus, and withdraws the
/// open proposals of an older base image it covers. `None` when this base image was
/// proposed before (whatever became of that proposal).
async fn propose(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    query: &BaseImageQuery,
    newest: &FoundBaseImage,
    stale: &[image_version::Model],
    releases: &[release::Model],
) -> AppResult<Option<i32>> {
    let items: Vec<i32> = stale.iter().map(|iv| iv.id).collect();
    let previous: BTreeSet<String> = stale
        .iter()
        .filter_map(|iv| iv.base_image_id.clone())
        .collect();
    let txn = begin_write(db).await?;
    let inserted = insert_new(
        &txn,
        rebuild_proposal::ActiveModel {
            arch: Set(query.arch),
            region: Set(query.region.clone()),
            base_image_id: Set(newest.id.clone()),
            base_image_name: Set(newest.name.clone()),
            base_image_created: Set(newest.created.clone()),
            previous_base_images: Set(to_json(&previous)?),
            items: Set(to_json(&items)?),
            state: Set(ProposalState::Proposed),
            proposed_by: Set(users::SYSTEM_USERNAME.to_owned()),
            proposed_at: Set(now),
            decided_by: Set(None),
            decided_at: Set(None),
            comment: Set(String::new()),
            train_id: Set(None),
            ..Default::default()
        },
        [rebuild_proposal::Column::BaseImageId],
    )
    .await?;
    if !inserted {
        txn.rollback().await?;
        return Ok(None);
    }
    let proposal = rebuild_proposal::Entity::find()
        .filter(rebuild_proposal::Column::BaseImageId.eq(&newest.id))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal("rebuild proposal", "not found after its insert"))?;
    let versions: BTreeSet<&str> = {
        let of: BTreeSet<i32> = stale.iter().map(|iv| iv.release_id).collect();
        releases
            .iter()
            .filter(|r| of.contains(&r.id))
            .map(|r| r.version.as_str())
            .collect()
    };
    let versions = versions.into_iter().collect::<Vec<_>>().join(", ");
    let summary = format!(
        "proposed rebuilding {} {} images of {versions} on the new base image {} ({})",
        items.len(),
        query.arch,
        newest.name,
        newest.id
    );
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "propose",
            object_type: "rebuild_proposal",
            object_id: proposal.id.to_string(),
            summary,
            before: None,
            after: audit::snapshot(&proposal),
        },
    )
    .await?;
    withdraw_covered(&txn, actor, now, &proposal, &items).await?;
    notify::send(
        &txn,
        now,
        Event::new(
            NotificationKind::RebuildProposed,
            format!(
                "A newer base image: rebuild {} {} images?",
                items.len(),
                query.arch
            ),
            format!("/rebuilds/{}", proposal.id),
        )
        .body(format!(
            "{} ({}) in {} is newer than the base image of {} current images of {versions}. Approve to rebuild them as a train of their own.",
            newest.name,
            newest.id,
            query.region,
            items.len()
        ))
        .to_teams(&[Role::Omnibus]),
    )
    .await?;
    txn.commit().await?;
    Ok(Some(proposal.id))
}

/// Withdraws the proposals of an older base image still waiting for Omnibus whose every
/// image the new proposal rebuilds too, so nobody approves the same rebuild twice.
async fn withdraw_covered(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    newer: &rebuild_proposal::Model,
    items: &[i32],
) -> AppResult<()> {
    let covers: BTreeSet<i32> = items.iter().copied().collect();
    let open = rebuild_proposal::Entity::find()
        .filter(rebuild_proposal::Column::State.eq(ProposalState::Proposed))
        .filter(rebuild_proposal::Column::Arch.eq(newer.arch))
        .filter(rebuild_proposal::Column::Region.eq(&newer.region))
        .filter(rebuild_proposal::Column::Id.ne(newer.id))
        .all(txn)
        .await?;
    for older in open {
        if !id_list(&older.items)?.iter().all(|id| covers.contains(id)) {
            continue;
        }
        let comment = format!(
            "replaced by rebuild proposal {}: {} ({}) is newer",
            newer.id, newer.base_image_name, newer.base_image_id
        );
        let mut active: rebuild_proposal::ActiveModel = older.clone().into();
        active.state = Set(ProposalState::Rejected);
        active.decided_by = Set(Some(users::SYSTEM_USERNAME.to_owned()));
        active.decided_at = Set(Some(now));
        active.comment = Set(comment.clone());
        let after = active.update(txn).await?;
        audit::record(
            txn,
            Some(actor),
            now,
            Change {
                action: "withdraw",
                object_type: "rebuild_proposal",
                object_id: older.id.to_string(),
                summary: format!("withdrew rebuild proposal {}: {comment}", older.id),
                before: audit::snapshot(&older),
                after: audit::snapshot(&after),
            },
        )
        .await?;
    }
    Ok(())
}

/// Omnibus approves a rebuild proposal (its rebuild train starts, in the same change) or
/// rejects it with a reason. A proposal is decided once: deciding it again is a conflict.
pub async fn decide(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    proposal_id: i32,
    approve: bool,
    comment: &str,
) -> AppResult<RebuildProposal> {
    actor.require(Permission::DecideRebuilds)?;
    let comment = comment.trim();
    if !approve && comment.is_empty() {
        return Err(AppError::validation(
            "comment",
            "say why: a rejection needs a comment",
        ));
    }
    if comment.chars().count() > MAX_COMMENT {
        return Err(AppError::validation(
            "comment",
            format!("must be at most {MAX_COMMENT} characters"),
        ));
    }
    let txn = begin_write(db).await?;
    let before = find(&txn, proposal_id).await?;
    // Only a proposal still waiting is decided, by one person: the update is guarded.
    let decided = rebuild_proposal::Entity::update_many()
        .set(rebuild_proposal::ActiveModel {
            state: Set(if approve {
                ProposalState::Approved
            } else {
                ProposalState::Rejected
            }),
            decided_by: Set(Some(actor.username.clone())),
            decided_at: Set(Some(now)),
            comment: Set(comment.to_owned()),
            ..Default::default()
        })
        .filter(rebuild_proposal::Column::Id.eq(proposal_id))
        .filter(rebuild_proposal::Column::State.eq(ProposalState::Proposed))
        .exec(&txn)
        .await?;
    if decided.rows_affected != 1 {
        txn.rollback().await?;
        return Err(AppError::conflict(
            "proposal",
            format!(
                "rebuild proposal {proposal_id} was decided already: it is {}",
                before.state.label().to_lowercase()
            ),
        ));
    }
    let mut after = find(&txn, proposal_id).await?;
    if approve {
        let train = trains::start_rebuild_train(&txn, actor, now, &after).await?;
        let mut active: rebuild_proposal::ActiveModel = after.into();
        active.train_id = Set(Some(train.id));
        after = active.update(&txn).await?;
    }
    let items = id_list(&after.items)?.len();
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: if approve { "approve" } else { "reject" },
            object_type: "rebuild_proposal",
            object_id: proposal_id.to_string(),
            summary: if approve {
                format!(
                    "approved rebuild proposal {proposal_id}: {items} images on {}{}",
                    after.base_image_name,
                    after
                        .train_id
                        .map(|t| format!(", rebuild train {t}"))
                        .unwrap_or_default()
                )
            } else {
                format!("rejected rebuild proposal {proposal_id}: {comment}")
            },
            before: audit::snapshot(&before),
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, proposal_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, created: &str) -> FoundBaseImage {
        FoundBaseImage {
            id: id.into(),
            name: format!("ubuntu-noble-24.04-amd64-server-{created}"),
            created: Some(format!("{created}T00:00:00.000Z")),
        }
    }

    fn release(id: i32, version: &str) -> release::Model {
        let v = Version::parse(version).expect("version");
        release::Model {
            id,
            version: version.into(),
            major: v.major as i32,
            minor: v.minor as i32,
            patch: v.patch as i32,
            pre: v.pre,
            released_on: chrono::NaiveDate::default(),
            kind: ReleaseKind::Regular,
            created_at: DateTime::<Utc>::default(),
            notes_url: None,
        }
    }

    #[test]
    fn the_newest_base_image_is_the_one_the_build_would_take() {
        let found = [
            image("ami-a", "2026-09-15"),
            image("ami-c", "2026-10-20"),
            image("ami-b", "2026-10-01"),
        ];
        assert_eq!(newest(&found).map(|i| i.id.as_str()), Some("ami-c"));
        assert_eq!(newest(&[]), None);
    }

    #[test]
    fn an_image_is_outdated_when_built_on_an_older_or_unrecorded_base_image() {
        let found = [image("ami-a", "2026-09-15"), image("ami-b", "2026-10-01")];
        let newest = &found[1];
        assert!(
            !outdated(Some("ami-b"), newest, &found),
            "built on the newest"
        );
        assert!(
            outdated(Some("ami-a"), newest, &found),
            "built on an older one"
        );
        assert!(outdated(None, newest, &found), "predates the record");
        assert!(
            outdated(Some("ami-gone"), newest, &found),
            "built on one no longer listed"
        );
    }

    #[test]
    fn the_supported_releases_are_the_newest_patches_of_three_lines() {
        let stable = vec![
            release(9, "17.7.1"),
            release(8, "17.7.0"),
            release(7, "17.6.2"),
            release(6, "17.6.1"),
            release(5, "17.5.3"),
            release(4, "17.4.9"),
        ];
        let versions: Vec<String> = supported(stable).into_iter().map(|r| r.version).collect();
        assert_eq!(versions, ["17.7.1", "17.6.2", "17.5.3"]);
    }
}
