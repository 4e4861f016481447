//! What an asset is linked to: listings (the assets a listing's page shows, the logo its
//! copy may pin) and workflow tasks (the first-time image's marketing stage points at the
//! actual blog post and quote). A link stays within the asset's partner. A customer quote
//! goes on a listing only with the customer's agreement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, ModelTrait,
    QueryFilter, QueryOrder, Set, TransactionSession, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, Func, Order, Query},
};

use super::{current_version, find_model, to_dtos, version_url};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
    services::{
        DbResultExt,
        audit::{self, Change, snapshot},
        begin_write,
        entities::{asset, asset_link, asset_version, listing, partner, product, task, workflow},
        lookup, stored,
    },
};

/// The listing and task an asset is about to be linked to, found and of its partner.
#[derive(Debug, Default)]
pub(super) struct Targets {
    pub listing: Option<listing::Model>,
    pub task: Option<task::Model>,
}

/// Finds the listing and task named, recording on its field one that does not exist or
/// belongs to another partner than the asset's.
pub(super) async fn check_targets(
    db: &impl ConnectionTrait,
    v: &mut Validator,
    owner: &partner::Model,
    listing_id: Option<i32>,
    task_id: Option<i32>,
) -> AppResult<Targets> {
    let mut targets = Targets::default();
    if let Some(id) = listing_id {
        match listing::Entity::find_by_id(id).one(db).await? {
            None => v.add("listing_id", format!("listing {id} was not found")),
            Some(l) => {
                let of = product::Entity::find_by_id(l.product_id)
                    .one(db)
                    .await?
                    .map(|p| p.partner_id);
                if of == Some(owner.id) {
                    targets.listing = Some(l);
                } else {
                    v.add(
                        "listing_id",
                        format!(
                            "listing '{}' is not one of {}'s listings, whose asset this is",
                            l.title, owner.name
                        ),
                    );
                }
            }
        }
    }
    if let Some(id) = task_id {
        match task::Entity::find_by_id(id).one(db).await? {
            None => v.add("task_id", format!("task {id} was not found")),
            Some(t) => {
                let of = workflow::Entity::find_by_id(t.workflow_id)
                    .one(db)
                    .await?
                    .map(|w| w.partner_id);
                if of == Some(owner.id) {
                    targets.task = Some(t);
                } else {
                    v.add(
                        "task_id",
                        format!(
                            "task '{}' is not in a workflow of {}, whose asset this is",
                            t.title, owner.name
                        ),
                    );
                }
            }
        }
    }
    Ok(targets)
}

fn not_agreed() -> AppError {
    AppError::conflict(
        "customer_agreed",
        "the customer has not agreed to this quote being used",
    )
}

/// A customer quote goes on a listing only once the customer agreed to its current version.
pub(super) fn check_agreement(kind: AssetKind, customer_agreed: bool) -> AppResult<()> {
    if kind == AssetKind::CustomerQuote && !customer_agreed {
        return Err(not_agreed());
    }
    Ok(())
}

/// A quote on a listing takes no version the customer has not agreed to.
pub(super) async fn check_unagreed_version(
    db: &impl ConnectionTrait,
    quote: &asset::Model,
) -> AppResult<()> {
    let on_listing = asset_link::Entity::find()
        .filter(asset_link::Column::AssetId.eq(quote.id))
        .filter(asset_link::Column::ListingId.is_not_null())
        .one(db)
        .await?;
    match on_listing {
        Some(_) => Err(not_agreed()),
        None => Ok(()),
    }
}

/// Links the asset to its targets, each audited.
pub(super) async fn add_links(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    a: &asset::Model,
    targets: &Targets,
) -> AppResult<()> {
    if let Some(l) = &targets.listing {
        insert(
            db,
            actor,
            now,
            a,
            Some(l.id),
            None,
            &format!("listing '{}'", l.title),
        )
        .await?;
    }
    if let Some(t) = &targets.task {
        insert(
            db,
            actor,
            now,
            a,
            None,
            Some(t.id),
            &format!("task '{}'", t.title),
        )
        .await?;
    }
    Ok(())
}

async fn insert(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    a: &asset::Model,
    listing_id: Option<i32>,
    task_id: Option<i32>,
    target: &str,
) -> AppResult<asset_link::Model> {
    let field = if listing_id.is_some() {
        "listing_id"
    } else {
        "task_id"
    };
    let row = asset_link::ActiveModel {
        asset_id: Set(a.id),
        listing_id: Set(listing_id),
        task_id: Set(task_id),
        linked_by: Set(actor.username.clone()),
        linked_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .on_unique(
        field,
        format!("'{}' is already linked to {target}", a.title),
    )?;
    audit::record(
        db,
        Some(actor),
        now,
        Change {
            action: "link",
            object_type: "asset",
            object_id: a.id.to_string(),
            summary: format!("linked '{}' to {target}", a.title),
            before: None,
            after: snapshot(&row),
        },
    )
    .await?;
    Ok(row)
}

/// Links an asset to a listing or to a workflow task of its partner (exactly one).
pub async fn link(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    asset_id: i32,
    input: &AssetLinkInput,
) -> AppResult<Asset> {
    actor.require(Permission::ManageAssets)?;
    if input.listing_id.is_some() == input.task_id.is_some() {
        return Err(AppError::validation(
            "listing_id",
            "link the asset to a listing or to a task: give exactly one of listing_id and task_id",
        ));
    }
    let txn = begin_write(db).await?;
    let a = find_model(&txn, asset_id).await?;
    let owner = partner::Entity::find_by_id(a.partner_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal("asset without partner", a.id))?;
    let mut v = Validator::new();
    let targets = check_targets(&txn, &mut v, &owner, input.listing_id, input.task_id).await?;
    let targets = v.finish(|| Some(targets))?;
    if targets.listing.is_some() {
        let agreed = current_version(&txn, a.id)
            .await?
            .is_some_and(|v| v.customer_agreed);
        check_agreement(a.kind, agreed)?;
    }
    add_links(&txn, actor, now, &a, &targets).await?;
    txn.commit().await?;
    super::get(db, asset_id).await
}

/// Removes one of an asset's links.
pub async fn unlink(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    asset_id: i32,
    link_id: i32,
) -> AppResult<Asset> {
    actor.require(Permission::ManageAssets)?;
    let txn = begin_write(db).await?;
    let a = find_model(&txn, asset_id).await?;
    let row = asset_link::Entity::find_by_id(link_id)
        .filter(asset_link::Column::AssetId.eq(asset_id))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("link {link_id} of asset {asset_id}")))?;
    let target = match (row.listing_id, row.task_id) {
        (Some(id), _) => format!("listing {id}"),
        (None, Some(id)) => format!("task {id}"),
        (None, None) => "nothing".to_owned(),
    };
    row.clone().delete(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "unlink",
            object_type: "asset",
            object_id: asset_id.to_string(),
            summary: format!("unlinked '{}' from {target}", a.title),
            before: snapshot(&row),
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    super::get(db, asset_id).await
}

/// The links of these assets, with the titles of what they point at: three queries however
/// many assets.
pub(super) async fn links_of(
    db: &impl ConnectionTrait,
    asset_ids: &[i32],
) -> AppResult<HashMap<i32, Vec<AssetLink>>> {
    let rows = asset_link::Entity::find()
        .filter(asset_link::Column::AssetId.is_in(asset_ids.iter().copied()))
        .order_by_asc(asset_link::Column::LinkedAt)
        .order_by_asc(asset_link::Column::Id)
        .all(db)
        .await?;
    let listings = lookup(
        db,
        listing::Column::Id,
        rows.iter().filter_map(|l| l.listing_id),
        |l| (l.id, l.title),
    )
    .await?;
    let tasks = lookup(
        db,
        task::Column::Id,
        rows.iter().filter_map(|l| l.task_id),
        |t| (t.id, (t.title, t.workflow_id)),
    )
    .await?;
    let mut out: HashMap<i32, Vec<AssetLink>> = HashMap::new();
    for row in rows {
        let task = row.task_id.and_then(|id| tasks.get(&id));
        out.entry(row.asset_id).or_default().push(AssetLink {
            id: row.id,
            listing_id: row.listing_id,
            listing_title: row.listing_id.and_then(|id| listings.get(&id).cloned()),
            task_id: row.task_id,
            task_title: task.map(|(title, _)| title.clone()),
            workflow_id: task.map(|(_, workflow)| *workflow),
            linked_by: row.linked_by,
            linked_at: row.linked_at,
        });
    }
    Ok(out)
}

/// The assets linked to a listing, newest first.
pub async fn of_listing(db: &impl ConnectionTrait, listing_id: i32) -> AppResult<Vec<Asset>> {
    listing::Entity::find_by_id(listing_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("listing {listing_id}")))?;
    let linked = Query::select()
        .column(asset_link::Column::AssetId)
        .from(asset_link::Entity)
        .and_where(asset_link::Column::ListingId.eq(listing_id))
        .to_owned();
    let assets = asset::Entity::find()
        .filter(asset::Column::Id.in_subquery(linked))
        .order_by_desc(asset::Column::UpdatedAt)
        .order_by_desc(asset::Column::Id)
        .all(db)
        .await?;
    to_dtos(db, assets).await
}

/// One task's linked asset at its current version, as one query reads it.
#[derive(Debug, FromQueryResult)]
struct RefRow {
    task_id: i32,
    asset_id: i32,
    kind: String,
    title: String,
    version: i32,
    storage_key: String,
    link: Option<String>,
    customer_agreed: bool,
}

/// The assets linked to each of these tasks, at their current versions, in the order they
/// were linked: one query for all the tasks.
pub async fn refs_of_tasks(
    db: &impl ConnectionTrait,
    task_ids: &[i32],
) -> AppResult<HashMap<i32, Vec<AssetRef>>> {
    if task_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let newest = Alias::new("newest");
    let current = Query::select()
        .expr(Func::max(Expr::col((
            newest.clone(),
            asset_version::Column::Version,
        ))))
        .from_as(asset_version::Entity, newest.clone())
        .and_where(
            Expr::col((newest, asset_version::Column::AssetId))
                .equals((asset::Entity, asset::Column::Id)),
        )
        .to_owned();
    let query = Query::select()
        .expr_as(
            Expr::col((asset_link::Entity, asset_link::Column::TaskId)),
            Alias::new("task_id"),
        )
        .expr_as(
            Expr::col((asset::Entity, asset::Column::Id)),
            Alias::new("asset_id"),
        )
        .column((asset::Entity, asset::Column::Kind))
        .column((asset::Entity, asset::Column::Title))
        .column((asset_version::Entity, asset_version::Column::Version))
        .column((asset_version::Entity, asset_version::Column::StorageKey))
        .column((asset_version::Entity, asset_version::Column::Link))
        .column((asset_version::Entity, asset_version::Column::CustomerAgreed))
        .from(asset_link::Entity)
        .inner_join(
            asset::Entity,
            Expr::col((asset::Entity, asset::Column::Id))
                .equals((asset_link::Entity, asset_link::Column::AssetId)),
        )
        .inner_join(
            asset_version::Entity,
            Expr::col((asset_version::Entity, asset_version::Column::AssetId))
                .equals((asset::Entity, asset::Column::Id)),
        )
        .and_where(
            Expr::col((asset_link::Entity, asset_link::Column::TaskId))
                .is_in(task_ids.iter().copied()),
        )
        .and_where(
            Expr::col((asset_version::Entity, asset_version::Column::Version))
                .eq(Expr::SubQuery(None, Box::new(current.into()))),
        )
        .order_by(
            (asset_link::Entity, asset_link::Column::LinkedAt),
            Order::Asc,
        )
        .order_by((asset_link::Entity, asset_link::Column::Id), Order::Asc)
        .to_owned();
    let rows = RefRow::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    let mut out: HashMap<i32, Vec<AssetRef>> = HashMap::new();
    for row in rows {
        out.entry(row.task_id).or_default().push(AssetRef {
            id: row.asset_id,
            kind: stored(&row.kind)?,
            title: row.title,
            version: row.version,
            url: (!row.storage_key.is_empty()).then(|| version_url(row.asset_id, row.version)),
            link: row.link,
            customer_agreed: row.customer_agreed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn only_an_agreed_quote_goes_on_a_listing_and_other_kinds_need_no_agreement() {
        let err = check_agreement(AssetKind::CustomerQuote, false).expect_err("refused");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert_eq!(
            err.field("customer_agreed"),
            Some("the customer has not agreed to this quote being used")
        );
        assert!(check_agreement(AssetKind::CustomerQuote, true).is_ok());
        assert!(check_agreement(AssetKind::BlogPost, false).is_ok());
    }
}
