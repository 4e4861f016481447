//! Cloud partners: who they are, where the partnership stands, their accounts and contacts.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};

use super::{
    DbResultExt,
    audit::{self, Change, snapshot},
    entities::{partner, partner_account, partner_contact, product},
    products,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppResult, Validator, optional_url, required_text},
};
use chrono::{DateTime, Utc};

/// A partner input that parsed.
struct ValidPartner {
    slug: Slug,
    name: String,
    cloud: Cloud,
    status: PartnerStatus,
    partner_docs_url: Option<String>,
    partnership_doc_url: Option<String>,
    notes: String,
}

fn parse(input: &PartnerInput) -> AppResult<ValidPartner> {
    let mut v = Validator::new();
    let slug = v.check("slug", Slug::parse(&input.slug));
    let name = v.check("name", required_text(&input.name, 120));
    let cloud = v.check("cloud", input.cloud.parse::<Cloud>());
    let status = v.check("status", input.status.parse::<PartnerStatus>());
    let partner_docs_url = v.check("partner_docs_url", optional_url(&input.partner_docs_url));
    let partnership_doc_url = v.check(
        "partnership_doc_url",
        optional_url(&input.partnership_doc_url),
    );
    let notes = v.check(
        "notes",
        if input.notes.chars().count() > 20_000 {
            Err("must be at most 20000 characters".into())
        } else {
            Ok(input.notes.trim().to_owned())
        },
    );
    v.finish(|| {
        Some(ValidPartner {
            slug: slug?,
            name: name?,
            cloud: cloud?,
            status: status?,
            partner_docs_url: partner_docs_url?,
            partnership_doc_url: partnership_doc_url?,
            notes: notes?,
        })
    })
}

/// Partners are found by slug in the entity layer, below every service that needs one.
pub(crate) use super::entities::partner::by_slug as find_model;

/// How many products each of these partners has: one grouped count.
async fn product_counts(
    db: &impl ConnectionTrait,
    partner_ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, u64>> {
    super::count_by(
        db,
        product::Entity::find(),
        product::Column::PartnerId,
        partner_ids,
    )
    .await
}

/// These partners as a list shows them, with their product counts: one query more for
/// the whole list.
pub(crate) async fn summaries(
    db: &impl ConnectionTrait,
    rows: Vec<partner::Model>,
) -> AppResult<Vec<PartnerSummary>> {
    let counts = product_counts(db, rows.iter().map(|p| p.id)).await?;
    Ok(rows
        .into_iter()
        .map(|p| PartnerSummary {
            id: p.id,
            product_count: counts.get(&p.id).copied().unwrap_or(0),
            cloud: p.cloud,
            status: p.status,
            slug: p.slug,
            name: p.name,
        })
        .collect())
}

/// Partners by name, one page at a time.
pub async fn list(db: &impl ConnectionTrait, page: PageRequest) -> AppResult<Page<PartnerSummary>> {
    let Paging { index, per_page } = page.checked()?;
    let paginator = partner::Entity::find()
        .order_by_asc(partner::Column::Name)
        .paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: summaries(db, rows).await?,
        page: index + 1,
        per_page,
        total,
    })
}

/// One partner with accounts, contacts and products.
pub async fn get(db: &impl ConnectionTrait, slug: &str) -> AppResult<Partner> {
    let p = find_model(db, slug).await?;
    let accounts = partner_account::Entity::find()
        .filter(partner_account::Column::PartnerId.eq(p.id))
        .order_by_asc(partner_account::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|a| PartnerAccount {
            id: a.id,
            label: a.label,
            account_id: a.account_id,
            notes: a.notes,
        })
        .collect();
    let contacts = partner_contact::Entity::find()
        .filter(partner_contact::Column::PartnerId.eq(p.id))
        .order_by_asc(partner_contact::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|c| {
            Ok(PartnerContact {
                id: c.id,
                role: c.role,
                name: c.name,
                email: c.email,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let products = products::summaries_of_partner(db, &p).await?;
    Ok(Partner {
        id: p.id,
        cloud: p.cloud,
        status: p.status,
        slug: p.slug,
        name: p.name,
        partner_docs_url: p.partner_docs_url,
        partnership_doc_url: p.partnership_doc_url,
        notes: p.notes,
        accounts,
        contacts,
        products,
        created_at: p.created_at,
        updated_at: p.updated_at,
    })
}

/// The conflict of a slug another partner has.
fn slug_taken(slug: &Slug) -> String {
    format!("the slug '{slug}' is already taken by another partner")
}

/// Creates a partner.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    input: &PartnerInput,
) -> AppResult<Partner> {
    actor.require(Permission::ManageCatalogue)?;
    let valid = parse(input)?;
    let txn = super::begin_write(db).await?;
    let model = partner::ActiveModel {
        slug: Set(valid.slug.to_string()),
        name: Set(valid.name),
        cloud: Set(valid.cloud),
        status: Set(valid.status),
        partner_docs_url: Set(valid.partner_docs_url),
        partnership_doc_url: Set(valid.partnership_doc_url),
        notes: Set(valid.notes),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .on_unique("slug", slug_taken(&valid.slug))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "partner",
            object_id: model.slug.clone(),
            summary: format!("created partner {}", model.name),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, &valid.slug.to_string()).await
}

/// Replaces a partner's own fields (the slug may change).
pub async fn update(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    slug: &str,
    input: &PartnerInput,
) -> AppResult<Partner> {
    actor.require(Permission::ManageCatalogue)?;
    let valid = parse(input)?;
    let txn = super::begin_write(db).await?;
    let before = find_model(&txn, slug).await?;
    let mut active: partner::ActiveModel = before.clone().into();
    active.slug = Set(valid.slug.to_string());
    active.name = Set(valid.name);
    active.cloud = Set(valid.cloud);
    active.status = Set(valid.status);
    active.partner_docs_url = Set(valid.partner_docs_url);
    active.partnership_doc_url = Set(valid.partnership_doc_url);
    active.notes = Set(valid.notes);
    active.updated_at = Set(now);
    let after = active
        .update(&txn)
        .await
        .on_unique("slug", slug_taken(&valid.slug))?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "update",
            object_type: "partner",
            object_id: after.slug.clone(),
            summary: format!("updated partner {}", after.name),
            before: snapshot(&before),
            after: snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, &after.slug).await
}

/// Adds an account the partner's cloud knows GitLab by.
pub async fn add_account(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    slug: &str,
    input: &PartnerAccountInput,
) -> AppResult<Partner> {
    actor.require(Permission::ManageCatalogue)?;
    let mut v = Validator::new();
    let label = v.check("label", required_text(&input.label, 120));
    let account_id = v.check("account_id", required_text(&input.account_id, 120));
    let (label, account_id) = v.finish(|| Some((label?, account_id?)))?;
    let txn = super::begin_write(db).await?;
    let p = find_model(&txn, slug).await?;
    let model = partner_account::ActiveModel {
        partner_id: Set(p.id),
        label: Set(label),
        account_id: Set(account_id),
        notes: Set(input.notes.trim().to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "add_account",
            object_type: "partner",
            object_id: p.slug.clone(),
            summary: format!(
                "added account {} ({}) to {}",
                model.label, model.account_id, p.name
            ),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, slug).await
}

/// Adds a contact person at the partner.
pub async fn add_contact(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    slug: &str,
    input: &PartnerContactInput,
) -> AppResult<Partner> {
    actor.require(Permission::ManageCatalogue)?;
    let mut v = Validator::new();
    let role = v.check("role", input.role.parse::<ContactRole>());
    let name = v.check("name", required_text(&input.name, 120));
    let email = v.check("email", parse_email(&input.email));
    let (role, name, email) = v.finish(|| Some((role?, name?, email?)))?;
    let txn = super::begin_write(db).await?;
    let p = find_model(&txn, slug).await?;
    let model = partner_contact::ActiveModel {
        partner_id: Set(p.id),
        role: Set(role),
        name: Set(name),
        email: Set(email),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "add_contact",
            object_type: "partner",
            object_id: p.slug.clone(),
            summary: format!(
                "added {} contact {} to {}",
                role.label().to_lowercase(),
                model.name,
                p.name
            ),
            before: None,
            after: snapshot(&model),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, slug).await
}

fn parse_email(value: &str) -> Result<String, String> {
    let v = value.trim();
    let valid = v.len() <= 254
        && !v.contains(char::is_whitespace)
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(v.to_owned())
    } else {
        Err(format!("'{v}' is not an email address"))
    }
}
