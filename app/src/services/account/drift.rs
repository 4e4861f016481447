//! What differs between the catalogue and the account: the list, the counts the banners
//! show, and the actions that resolve each kind (adopt, forget, propose retirement).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, PaginatorTrait,
    PrimaryKeyTrait, QueryFilter, QueryOrder, Select, Set, TransactionSession, TransactionTrait,
};

use super::{
    DriftScope,
    imports::{Found, import_image},
    matching::{AccountState, Recognised, actions_of, is_image_kind, suggest},
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator},
    services::{
        audit::{self, Change},
        begin_write,
        entities::{
            account_image, drift_item, image_region, image_version, listing, listing_version,
            product_architecture,
        },
        limits, lookup, products, retention,
    },
};

/// The drift items as the API shows them, with the names they refer to (one query per
/// table for the whole list).
async fn to_dtos(
    db: &impl ConnectionTrait,
    rows: Vec<drift_item::Model>,
) -> AppResult<Vec<DriftItem>> {
    let images = lookup(
        db,
        account_image::Column::Id,
        rows.iter().filter_map(|r| r.account_image_id),
        |i| (i.id, i),
    )
    .await?;
    let regions = lookup(
        db,
        image_region::Column::Id,
        rows.iter().filter_map(|r| r.image_region_id),
        |r| (r.id, r),
    )
    .await?;
    let versions = lookup(
        db,
        image_version::Column::Id,
        regions.values().map(|r| r.image_version_id),
        |v| (v.id, v.name),
    )
    .await?;
    let products =
        products::with_partner_slugs(db, rows.iter().filter_map(|r| r.product_id)).await?;
    let listings = lookup(
        db,
        listing::Column::Id,
        rows.iter().filter_map(|r| r.listing_id),
        |l| (l.id, l.entity_name),
    )
    .await?;
    let titles = lookup(
        db,
        listing_version::Column::Id,
        rows.iter().filter_map(|r| r.listing_version_id),
        |v| (v.id, v.title),
    )
    .await?;
    let wants_suggestion = rows
        .iter()
        .any(|r| r.kind == DriftKind::OutsideImage && r.state == DriftState::Open);
    let namings = if wants_suggestion {
        let aws = super::aws_products(db).await?;
        super::namings(db, aws.into_iter().map(|(_, p)| p.id)).await?
    } else {
        Vec::new()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let image = r.account_image_id.and_then(|id| images.get(&id));
            let product = r.product_id.and_then(|id| products.get(&id));
            let open = r.state == DriftState::Open;
            let suggestion = match (r.kind, image) {
                (DriftKind::OutsideImage, Some(i)) if open => {
                    let tags: BTreeMap<String, String> =
                        serde_json::from_str(&i.tags).unwrap_or_default();
                    Some(suggest(&namings, &i.name, &tags, &i.arch))
                }
                _ => None,
            };
            DriftItem {
                id: r.id,
                kind: r.kind,
                state: r.state,
                summary: r.summary,
                catalogue: r.catalogue_value,
                account: r.account_value,
                image_name: image.map(|i| i.name.clone()).or_else(|| {
                    r.image_region_id
                        .and_then(|id| regions.get(&id))
                        .and_then(|ir| versions.get(&ir.image_version_id).cloned())
                }),
                region: r.region,
                image_id: r.image_id,
                product_id: r.product_id,
                product_name: product.map(|(p, _)| p.name.clone()),
                partner_slug: product.map(|(_, partner)| partner.clone()),
                product_slug: product.map(|(p, _)| p.slug.clone()),
                listing_id: r.listing_id,
                listing: r.listing_id.and_then(|id| listings.get(&id).cloned()),
                version_title: r.listing_version_id.and_then(|id| titles.get(&id).cloned()),
                incident: r.kind == DriftKind::LiveImageGone,
                since: r.since,
                last_seen_at: r.last_seen_at,
                resolved_at: r.resolved_at,
                resolved_by: r.resolved_by,
                resolution: r.resolution,
                actions: if open {
                    actions_of(r.kind).to_vec()
                } else {
                    Vec::new()
                },
                suggestion,
            }
        })
        .collect())
}

/// The drift list: open items by default (`state=resolved` for the resolved ones,
/// `state=all` for both, open first), newest `since` first.
pub async fn drift(
    db: &impl ConnectionTrait,
    filter: &DriftFilter,
    page: PageRequest,
) -> AppResult<Page<DriftItem>> {
    let Paging { index, per_page } = page.checked()?;
    let mut v = Validator::new();
    let state = v.check(
        "state",
        match filter
            .state
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None | Some("open") => Ok(Some(DriftState::Open)),
            Some("resolved") => Ok(Some(DriftState::Resolved)),
            Some("all") => Ok(None),
            Some(other) => Err(format!(
                "unknown state '{other}': expected open, resolved or all"
            )),
        },
    );
    let region = match filter.region.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => v.check("region", Cloud::Aws.parse_region(r)).map(Some),
        _ => Some(None),
    };
    let (state, region) = v.finish(|| Some((state?, region?)))?;
    let mut q = drift_item::Entity::find();
    if let Some(state) = state {
        q = q.filter(drift_item::Column::State.eq(state));
    }
    if let Some(id) = filter.product_id {
        q = q.filter(drift_item::Column::ProductId.eq(id));
    }
    if let Some(id) = filter.listing_id {
        q = q.filter(drift_item::Column::ListingId.eq(id));
    }
    if let Some(region) = region {
        q = q.filter(drift_item::Column::Region.eq(region));
    }
    let paginator = q
        .order_by_asc(drift_item::Column::State)
        .order_by_desc(drift_item::Column::Since)
        .order_by_desc(drift_item::Column::Id)
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

async fn find(db: &impl ConnectionTrait, id: i32) -> AppResult<drift_item::Model> {
    drift_item::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("drift item {id}")))
}

/// One drift item.
pub async fn drift_item(db: &impl ConnectionTrait, id: i32) -> AppResult<DriftItem> {
    let row = find(db, id).await?;
    to_dtos(db, vec![row])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("drift item", id))
}

fn scoped(q: Select<drift_item::Entity>, scope: &DriftScope) -> Select<drift_item::Entity> {
    match scope {
        DriftScope::All => q,
        DriftScope::Product(id) => q.filter(drift_item::Column::ProductId.eq(*id)),
        DriftScope::Listing(id) => q.filter(drift_item::Column::ListingId.eq(*id)),
        DriftScope::Region(region) => q.filter(drift_item::Column::Region.eq(region.clone())),
        DriftScope::PublicImages => q.filter(
            drift_item::Column::Kind
                .is_in(DriftKind::ALL.iter().copied().filter(|k| is_image_kind(*k))),
        ),
    }
}

/// The open drift of a scope, and how much of it is an incident, for a banner.
pub async fn drift_count(db: &impl ConnectionTrait, scope: DriftScope) -> AppResult<DriftCount> {
    let open = scoped(
        drift_item::Entity::find().filter(drift_item::Column::State.eq(DriftState::Open)),
        &scope,
    );
    let incidents = open
        .clone()
        .filter(drift_item::Column::Kind.eq(DriftKind::LiveImageGone));
    Ok(DriftCount {
        open: i32::try_from(open.count(db).await?).unwrap_or(i32::MAX),
        incidents: i32::try_from(incidents.count(db).await?).unwrap_or(i32::MAX),
    })
}

/// "or" between the last two names of a list: `adopt or forget`.
fn either(actions: &[DriftAction]) -> String {
    let names: Vec<String> = actions
        .iter()
        .map(|a| format!("'{}'", a.label().to_lowercase()))
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Refuses an action that does not resolve this kind of difference, or an item resolved
/// already.
fn allowed(item: &drift_item::Model, action: DriftAction) -> AppResult<()> {
    if item.state == DriftState::Resolved {
        return Err(AppError::conflict(
            "drift_item",
            format!(
                "drift item {} is resolved already ({} by {})",
                item.id,
                item.resolution.as_deref().unwrap_or("resolved"),
                item.resolved_by.as_deref().unwrap_or("someone")
            ),
        ));
    }
    let actions = actions_of(item.kind);
    if !actions.contains(&action) {
        return Err(AppError::conflict(
            "action",
            format!(
                "'{}' does not resolve this difference ({}): {} does",
                action.label().to_lowercase(),
                item.kind.label().to_lowercase(),
                either(actions)
            ),
        ));
    }
    Ok(())
}

/// The product, release and architecture to adopt an image as, checked.
async fn adopt_input(db: &impl ConnectionTrait, input: &AdoptInput) -> AppResult<Recognised> {
    let mut v = Validator::new();
    let product = match input.product_id {
        None => {
            v.add("product_id", "choose the product the image belongs to");
            None
        }
        Some(id) => {
            let found = super::aws_products(db)
                .await?
                .into_iter()
                .find(|(_, p)| p.id == id)
                .map(|(_, p)| p);
            if found.is_none() {
                v.add("product_id", format!("{id} is not a product on AWS"));
            }
            found
        }
    };
    let version = v.check(
        "release",
        match input.release.as_deref().map(str::trim) {
            None | Some("") => Err("give the GitLab release, such as 17.5.1".to_owned()),
            Some(r) => Version::parse(r),
        },
    );
    let arch = v.check(
        "arch",
        match input.arch.as_deref().map(str::trim) {
            None | Some("") => Err("give the architecture: amd64 or arm64".to_owned()),
            Some(a) => a.parse::<Arch>(),
        },
    );
    if let (Some(p), Some(arch)) = (&product, arch) {
        let built = product_architecture::Entity::find()
            .filter(product_architecture::Column::ProductId.eq(p.id))
            .filter(product_architecture::Column::Arch.eq(arch))
            .one(db)
            .await?;
        if built.is_none() {
            v.add("arch", format!("{} is not built for {arch}", p.name));
        }
    }
    v.finish(|| {
        Some(Recognised {
            product_id: product?.id,
            arch: arch?,
            version: version?,
        })
    })
}

/// Resolves a difference with one of the actions that resolve its kind. A proposal (of
/// retention or restriction) still goes to Partnerships for approval.
pub async fn resolve(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    id: i32,
    action: DriftAction,
    input: &AdoptInput,
) -> AppResult<DriftResolution> {
    actor.require(Permission::ResolveDrift)?;
    let txn = begin_write(db).await?;
    let item = find(&txn, id).await?;
    allowed(&item, action)?;
    let (resolution, proposal_link) = act(&txn, actor, now, &item, action, input).await?;
    let before = audit::snapshot(&item);
    let mut active: drift_item::ActiveModel = item.into();
    active.state = Set(DriftState::Resolved);
    active.resolved_at = Set(Some(now));
    active.resolved_by = Set(Some(actor.username.clone()));
    active.resolution = Set(Some(resolution.clone()));
    let after = active.update(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "resolve_drift",
            object_type: "drift_item",
            object_id: id.to_string(),
            summary: format!(
                "{} ({}): {resolution}",
                after.summary,
                action.label().to_lowercase()
            ),
            before,
            after: audit::snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(DriftResolution {
        item: drift_item(db, id).await?,
        proposal_link,
    })
}

/// The catalogue's row an item is about, by the link `id` the item holds: `what` names the
/// kind of row when the item has no such link, `row` when the row is gone.
async fn linked<E>(
    txn: &impl ConnectionTrait,
    item: &drift_item::Model,
    id: Option<i32>,
    what: &str,
    row: &str,
) -> AppResult<E::Model>
where
    E: EntityTrait,
    i32: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    let id = id.ok_or_else(|| {
        AppError::conflict(
            "drift_item",
            format!("drift item {} names no {what} of the catalogue", item.id),
        )
    })?;
    E::find_by_id(id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{row} {id}")))
}

/// The catalogue's region image an item is about.
async fn region_image(
    txn: &impl ConnectionTrait,
    item: &drift_item::Model,
) -> AppResult<image_region::Model> {
    linked::<image_region::Entity>(txn, item, item.image_region_id, "image", "region image").await
}

/// The catalogue's version an item is about.
async fn listing_version_of(
    txn: &impl ConnectionTrait,
    item: &drift_item::Model,
) -> AppResult<listing_version::Model> {
    linked::<listing_version::Entity>(
        txn,
        item,
        item.listing_version_id,
        "version",
        "listing version",
    )
    .await
}

/// The account's state an item saw.
fn account_state_of(item: &drift_item::Model) -> AccountState {
    match item.account_value.as_str() {
        "public" => AccountState::Public,
        "deprecated" => AccountState::Deprecated,
        "private" => AccountState::Private,
        _ => AccountState::Gone,
    }
}

/// Sets a region image's state and audits it.
async fn set_region_state(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    r: image_region::Model,
    state: RegionImageState,
) -> AppResult<()> {
    let before = audit::snapshot(&r);
    let what = format!("{} in {}", r.image_id.clone().unwrap_or_default(), r.region);
    let version_id = r.image_version_id;
    let mut active: image_region::ActiveModel = r.into();
    active.state = Set(state);
    active.updated_at = Set(now);
    let after = active.update(txn).await?;
    audit::record(
        txn,
        Some(actor),
        now,
        Change {
            action: "adopt_account_state",
            object_type: "image_version",
            object_id: version_id.to_string(),
            summary: format!(
                "{what} recorded as {}, as the account has it",
                state.label().to_lowercase()
            ),
            before,
            after: audit::snapshot(&after),
        },
    )
    .await
}

/// Does what the action does; answers the resolution and the proposal's link, if any.
async fn act(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    item: &drift_item::Model,
    action: DriftAction,
    input: &AdoptInput,
) -> AppResult<(String, Option<String>)> {
    use DriftAction::*;
    use DriftKind::*;
    match (item.kind, action) {
        (OutsideImage, Adopt) => adopt_outside(txn, actor, now, item, input).await,
        (OutsideImage, Forget) => Ok(("known, not the portal's".to_owned(), None)),
        (ImageMadePrivate | ImageDeprecated | ImageMadePublic, Adopt) => {
            let r = region_image(txn, item).await?;
            let state = account_state_of(item).region_state();
            set_region_state(txn, actor, now, r, state).await?;
            Ok((
                format!(
                    "the catalogue takes the account's state: {}",
                    state.label().to_lowercase()
                ),
                None,
            ))
        }
        (ImageMadePublic, ProposeRetirement) => {
            let r = region_image(txn, item).await?;
            let version = image_version::Entity::find_by_id(r.image_version_id)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::internal("region image without version", r.id))?;
            let p =
                retention::propose_images_in(txn, actor, now, version.product_id, &[r.id]).await?;
            Ok((
                format!("retention proposal {} waits for Partnerships", p.id),
                Some("/public-images".to_owned()),
            ))
        }
        (ImageGone, Forget) => {
            let r = region_image(txn, item).await?;
            let version_id = r.image_version_id;
            set_region_state(txn, actor, now, r, RegionImageState::Deregistered).await?;
            retire_if_gone_everywhere(txn, now, version_id).await?;
            Ok(("recorded as deregistered".to_owned(), None))
        }
        (LiveImageGone, ProposeRetirement) => {
            let (listing_id, versions) = live_versions(txn, item).await?;
            let p = limits::propose_versions_in(txn, actor, now, listing_id, &versions).await?;
            Ok((
                format!("restriction proposal {} waits for Partnerships", p.id),
                Some(format!("/listings/{listing_id}")),
            ))
        }
        (VersionAdded, Adopt) => Ok(("kept as is, acknowledged".to_owned(), None)),
        (VersionAdded, ProposeRetirement) => {
            let v = listing_version_of(txn, item).await?;
            let p = limits::propose_versions_in(txn, actor, now, v.listing_id, &[v.id]).await?;
            Ok((
                format!("restriction proposal {} waits for Partnerships", p.id),
                Some(format!("/listings/{}", v.listing_id)),
            ))
        }
        (VersionRestricted, Adopt) => {
            let v = listing_version_of(txn, item).await?;
            let before = audit::snapshot(&v);
            let mut active: listing_version::ActiveModel = v.into();
            active.visibility = Set(ListingVersionVisibility::Restricted);
            let after = active.update(txn).await?;
            audit::record(
                txn,
                Some(actor),
                now,
                Change {
                    action: "adopt_account_state",
                    object_type: "listing",
                    object_id: after.listing_id.to_string(),
                    summary: format!(
                        "'{}' recorded as restricted, as the marketplace has it",
                        after.title
                    ),
                    before,
                    after: audit::snapshot(&after),
                },
            )
            .await?;
            Ok(("the catalogue records it as restricted".to_owned(), None))
        }
        (VersionGone, Forget) => {
            let v = listing_version_of(txn, item).await?;
            let before = audit::snapshot(&v);
            let (listing_id, title) = (v.listing_id, v.title.clone());
            v.delete(txn).await?;
            audit::record(
                txn,
                Some(actor),
                now,
                Change {
                    action: "forget_version",
                    object_type: "listing",
                    object_id: listing_id.to_string(),
                    summary: format!("'{title}' is no longer on the listing: removed"),
                    before,
                    after: None,
                },
            )
            .await?;
            Ok(("removed from the catalogue".to_owned(), None))
        }
        (kind, action) => Err(AppError::conflict(
            "action",
            format!(
                "'{}' does not resolve {}",
                action.label().to_lowercase(),
                kind.label().to_lowercase()
            ),
        )),
    }
}

/// Retires an image version none of whose regions holds an image any more.
async fn retire_if_gone_everywhere(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    version_id: i32,
) -> AppResult<()> {
    let left = image_region::Entity::find()
        .filter(image_region::Column::ImageVersionId.eq(version_id))
        .filter(image_region::Column::State.ne(RegionImageState::Deregistered))
        .one(txn)
        .await?;
    if left.is_none()
        && let Some(v) = image_version::Entity::find_by_id(version_id)
            .one(txn)
            .await?
        && v.state == ImageState::Available
    {
        let mut active: image_version::ActiveModel = v.into();
        active.state = Set(ImageState::Retired);
        active.updated_at = Set(now);
        active.update(txn).await?;
    }
    Ok(())
}

/// The public versions a gone live image backs: the one the sync saw using it, and any
/// other public version of the listing whose release's image it is.
async fn live_versions(
    txn: &impl ConnectionTrait,
    item: &drift_item::Model,
) -> AppResult<(i32, Vec<i32>)> {
    let listing_id = item.listing_id.ok_or_else(|| {
        AppError::conflict(
            "drift_item",
            format!(
                "drift item {} names no listing: the version using the image was not read",
                item.id
            ),
        )
    })?;
    let l = listing::Entity::find_by_id(listing_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::not_found(format!("listing {listing_id}")))?;
    let public = listing_version::Entity::find()
        .filter(listing_version::Column::ListingId.eq(listing_id))
        .filter(listing_version::Column::Visibility.eq(ListingVersionVisibility::Public))
        .all(txn)
        .await?;
    let image_id = item.image_id.clone().unwrap_or_default();
    let regions = image_region::Entity::find()
        .filter(image_region::Column::ImageId.eq(image_id))
        .all(txn)
        .await?;
    let releases: Vec<i32> = image_version::Entity::find()
        .filter(image_version::Column::Id.is_in(regions.iter().map(|r| r.image_version_id)))
        .filter(image_version::Column::ProductId.eq(l.product_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|v| v.release_id)
        .collect();
    let versions: Vec<i32> = public
        .iter()
        .filter(|v| {
            Some(v.id) == item.listing_version_id
                || v.release_id.is_some_and(|r| releases.contains(&r))
        })
        .map(|v| v.id)
        .collect();
    if versions.is_empty() {
        return Err(AppError::conflict(
            "drift_item",
            format!(
                "no public version of {} uses {} any more: nothing to restrict",
                l.entity_name,
                item.image_id.as_deref().unwrap_or_default()
            ),
        ));
    }
    Ok((listing_id, versions))
}

/// Adopts an image made outside the portal as the product, release and architecture given.
async fn adopt_outside(
    txn: &impl ConnectionTrait,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    item: &drift_item::Model,
    input: &AdoptInput,
) -> AppResult<(String, Option<String>)> {
    let what = adopt_input(txn, input).await?;
    let image = match item.account_image_id {
        Some(id) => account_image::Entity::find_by_id(id).one(txn).await?,
        None => None,
    }
    .filter(|i| i.gone_at.is_none())
    .ok_or_else(|| {
        AppError::conflict(
            "drift_item",
            format!(
                "{} is no longer in the account: nothing to adopt",
                item.image_id.as_deref().unwrap_or("the image")
            ),
        )
    })?;
    let state = if !image.public {
        AccountState::Private
    } else if image.deprecation_time.is_some_and(|t| t <= now) {
        AccountState::Deprecated
    } else {
        AccountState::Public
    };
    let found = Found {
        region: &image.region,
        image_id: &image.image_id,
        name: &image.name,
        created_on: image.created_on,
        state,
    };
    let Some(imported) = import_image(txn, actor, now, &found, &what).await? else {
        return Err(AppError::conflict(
            "release",
            format!(
                "the catalogue has another image of that product, release {} and {} in {} already",
                what.version, what.arch, image.region
            ),
        ));
    };
    let name = imported.version.name.clone();
    let mut active: account_image::ActiveModel = image.into();
    active.source = Set(ImageSource::Imported);
    active.image_region_id = Set(Some(imported.region.id));
    active.product_id = Set(Some(imported.version.product_id));
    active.release_id = Set(Some(imported.version.release_id));
    active.update(txn).await?;
    Ok((format!("adopted as {name}"), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_actions_that_resolve_the_difference() {
        assert_eq!(
            either(&[DriftAction::Adopt, DriftAction::Forget]),
            "'adopt' or 'forget'"
        );
        assert_eq!(either(&[DriftAction::Forget]), "'forget'");
    }
}
