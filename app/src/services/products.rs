//! Products a partner offers: edition and tier, how the image is built (architectures,
//! base image, regions) and whether it sits behind a marketplace listing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};

use super::{
    DbResultExt,
    audit::{self, Change, snapshot},
    entities::{partner, product, product_architecture},
    lookup,
};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, Validator, required_text},
};

/// Canonical's AWS account, the publisher of the Ubuntu images GitLab's images start from.
pub const CANONICAL_ACCOUNT: &str = "099720109477";

/// The largest license file taken. The builder gets it base64-encoded inside its user data,
/// which EC2 limits to 16 KB, beside a script of about 4 KB; GitLab's license files are a
/// few KB.
pub const LICENSE_MAX_BYTES: usize = 8 * 1024;

/// The AWS accounts an AWS product's base image may come from (`PORTAL_BASE_IMAGE_OWNERS`).
/// A build runs GitLab's install on the base image and ships the result under GitLab's
/// name, so the base image must come from a publisher the portal trusts, not from any
/// account that shares an image with a matching name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImageOwners(Vec<String>);

impl BaseImageOwners {
    /// Checks a list of 12-digit AWS account ids (at least one).
    pub fn new<S: AsRef<str>>(accounts: &[S]) -> Result<Self, String> {
        let mut owners = Vec::new();
        for account in accounts.iter().map(|a| a.as_ref().trim()) {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("'{account}' is not a 12-digit AWS account id"));
            }
            if !owners.iter().any(|o| o == account) {
                owners.push(account.to_owned());
            }
        }
        if owners.is_empty() {
            return Err("name at least one AWS account".to_owned());
        }
        Ok(BaseImageOwners(owners))
    }

    /// Whether a base image owned by `account` may be built on.
    pub fn allows(&self, account: &str) -> bool {
        self.0.iter().any(|o| o == account.trim())
    }

    /// The accounts, comma-separated, for messages.
    pub fn listed(&self) -> String {
        self.0.join(", ")
    }

    /// Checks a product's base image owner: on AWS it must be one of these accounts.
    fn check(&self, cloud: Cloud, owner: String) -> Result<String, String> {
        if cloud != Cloud::Aws || self.allows(&owner) {
            return Ok(owner);
        }
        Err(format!(
            "'{owner}' is not an account base images may come from; allowed: {} (PORTAL_BASE_IMAGE_OWNERS)",
            self.listed()
        ))
    }
}

impl Default for BaseImageOwners {
    /// Canonical's account only.
    fn default() -> Self {
        BaseImageOwners(vec![CANONICAL_ACCOUNT.to_owned()])
    }
}

/// A licensed image shared with everyone would hand its license file to anyone: a product
/// that carries a license is never public. Answers the field at fault and why, naming the
/// field the change touched: `license_required` on a product that was public,
/// `visibility` otherwise. `before` is the product as stored (`None` when creating one).
fn license_conflict(
    before: Option<&product::Model>,
    visibility: Visibility,
    license_required: bool,
) -> Option<(&'static str, String)> {
    if visibility != Visibility::Public || !license_required {
        return None;
    }
    let was_public_unlicensed =
        before.is_some_and(|b| b.visibility == Visibility::Public && !b.license_required);
    Some(if was_public_unlicensed {
        (
            "license_required",
            "a public product cannot carry a license: its images are shared with everyone, so make the product private first".to_owned(),
        )
    } else {
        (
            "visibility",
            "a product that carries a license cannot be public: its images would share the license file with everyone (keep it private, or turn off license_required first)".to_owned(),
        )
    })
}

struct ValidProduct {
    partner: partner::Model,
    slug: Slug,
    name: String,
    edition: Edition,
    visibility: Visibility,
    architectures: Vec<(Arch, String, String, String)>,
    base_image_owner: String,
    base_image_name_pattern: String,
    build_region: String,
    target_regions: Vec<String>,
    license_required: bool,
    listing_entity_name: Option<String>,
    listing_entity_id: Option<String>,
    maintenance_mode: MaintenanceMode,
    root_volume_gb: i32,
    description: String,
}

fn instance_type(value: &str) -> Result<String, String> {
    let v = value.trim();
    let valid = v.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    });
    if valid && v.len() <= 40 {
        Ok(v.to_owned())
    } else {
        Err(format!("'{v}' is not an instance type such as m3.medium"))
    }
}

fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Checks a product's input. `before` is the product as stored, when it is being changed.
async fn parse(
    db: &impl ConnectionTrait,
    input: &ProductInput,
    owners: &BaseImageOwners,
    before: Option<&product::Model>,
) -> AppResult<ValidProduct> {
    let mut v = Validator::new();
    let partner = match partner::by_slug(db, input.partner.trim()).await {
        Ok(p) => Some(p),
        Err(e) if e.code == crate::error::ErrorCode::NotFound => {
            v.add(
                "partner",
                format!("no partner with the slug '{}'", input.partner.trim()),
            );
            None
        }
        Err(e) => return Err(e),
    };
    let cloud = partner.as_ref().map_or(Cloud::Other, |p| p.cloud);
    let slug = v.check("slug", Slug::parse(&input.slug));
    let name = v.check("name", required_text(&input.name, 120));
    let edition = v.check("edition", input.edition.parse::<Edition>());
    let visibility = v.check("visibility", input.visibility.parse::<Visibility>());
    let maintenance_mode = v.check(
        "maintenance_mode",
        input.maintenance_mode.parse::<MaintenanceMode>(),
    );

    let mut architectures = Vec::new();
    let mut seen = BTreeSet::new();
    if input.architectures.is_empty() {
        v.add("architectures", "name at least one architecture");
    }
    for (i, a) in input.architectures.iter().enumerate() {
        let field = |f: &str| format!("architectures[{i}].{f}");
        let arch = v.check(&field("arch"), a.arch.parse::<Arch>());
        let itype = v.check(
            &field("builder_instance_type"),
            instance_type(&a.builder_instance_type),
        );
        let template = v.check(
            &field("image_name_template"),
            required_text(&a.image_name_template, 200).and_then(|t| {
                if t.contains("{version}") {
                    Ok(t)
                } else {
                    Err("must contain {version}, e.g. 'GitLab CE {version}'".into())
                }
            }),
        );
        let type_tag = v.check(&field("type_tag"), required_text(&a.type_tag, 200));
        if let Some(arch) = arch
            && !seen.insert(arch)
        {
            v.add(&field("arch"), format!("{arch} is listed twice"));
        }
        if let (Some(arch), Some(itype), Some(template), Some(type_tag)) =
            (arch, itype, template, type_tag)
        {
            architectures.push((arch, itype, template, type_tag));
        }
    }

    let base_image_owner = v.check(
        "base_image_owner",
        required_text(&input.base_image_owner, 64).and_then(|owner| owners.check(cloud, owner)),
    );
    if let Some(visibility) = visibility
        && let Some((field, message)) = license_conflict(before, visibility, input.license_required)
    {
        v.add(field, message);
    }
    let base_image_name_pattern = v.check(
        "base_image_name_pattern",
        required_text(&input.base_image_name_pattern, 255),
    );
    let build_region = v.check("build_region", cloud.parse_region(&input.build_region));
    let mut target_regions = Vec::new();
    for (i, r) in input.target_regions.iter().enumerate() {
        if let Some(region) = v.check(&format!("target_regions[{i}]"), cloud.parse_region(r))
            && !target_regions.contains(&region)
        {
            target_regions.push(region);
        }
    }
    if let Some(build) = &build_region
        && !target_regions.contains(build)
    {
        target_regions.insert(0, build.clone());
    }
    let listing_entity_name = optional(&input.listing_entity_name);
    if visibility == Some(Visibility::Private) && listing_entity_name.is_none() {
        v.add(
            "listing_entity_name",
            "a private licensed image needs the marketplace listing it backs",
        );
    }
    let root_volume_gb = v.check(
        "root_volume_gb",
        if (8..=2048).contains(&input.root_volume_gb) {
            Ok(input.root_volume_gb)
        } else {
            Err("must be between 8 and 2048 GB".into())
        },
    );
    v.finish(|| {
        Some(ValidProduct {
            partner: partner?,
            slug: slug?,
            name: name?,
            edition: edition?,
            visibility: visibility?,
            architectures,
            base_image_owner: base_image_owner?,
            base_image_name_pattern: base_image_name_pattern?,
            build_region: build_region?,
            target_regions,
            license_required: input.license_required,
            listing_entity_name,
            listing_entity_id: optional(&input.listing_entity_id),
            maintenance_mode: maintenance_mode?,
            root_volume_gb: root_volume_gb?,
            description: input.description.trim().to_owned(),
        })
    })
}

pub(crate) async fn find_model(
    db: &impl ConnectionTrait,
    partner_slug: &str,
    slug: &str,
) -> AppResult<(partner::Model, product::Model)> {
    let p = partner::by_slug(db, partner_slug).await?;
    let model = product::Entity::find()
        .filter(product::Column::PartnerId.eq(p.id))
        .filter(product::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!("product '{slug}' of partner '{partner_slug}'"))
        })?;
    Ok((p, model))
}

pub(crate) async fn architectures_of(
    db: &impl ConnectionTrait,
    product_id: i32,
) -> AppResult<Vec<ProductArchitecture>> {
    Ok(product_architecture::Entity::find()
        .filter(product_architecture::Column::ProductId.eq(product_id))
        .order_by_asc(product_architecture::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|a| ProductArchitecture {
            arch: a.arch,
            builder_instance_type: a.builder_instance_type,
            image_name_template: a.image_name_template,
            type_tag: a.type_tag,
        })
        .collect())
}

/// The architectures of each of these products, in the order they were added: one query
/// for a whole list.
pub(crate) async fn architectures_by_product(
    db: &impl ConnectionTrait,
    product_ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, Vec<ProductArchitecture>>> {
    let mut out: std::collections::HashMap<i32, Vec<ProductArchitecture>> =
        std::collections::HashMap::new();
    for a in product_architecture::Entity::find()
        .filter(product_architecture::Column::ProductId.is_in(product_ids))
        .order_by_asc(product_architecture::Column::Id)
        .all(db)
        .await?
    {
        out.entry(a.product_id)
            .or_default()
            .push(ProductArchitecture {
                arch: a.arch,
                builder_instance_type: a.builder_instance_type,
                image_name_template: a.image_name_template,
                type_tag: a.type_tag,
            });
    }
    Ok(out)
}

/// A product as a list shows it, its architectures read already.
fn summary(
    partner: &partner::Model,
    p: product::Model,
    archs: &[ProductArchitecture],
) -> ProductSummary {
    ProductSummary {
        id: p.id,
        partner_slug: partner.slug.clone(),
        partner_name: partner.name.clone(),
        architectures: archs.iter().map(|a| a.arch).collect(),
        edition: p.edition,
        visibility: p.visibility,
        maintenance_mode: p.maintenance_mode,
        slug: p.slug,
        name: p.name,
    }
}

/// These products as a list shows them (each with its partner): two queries for the list.
pub(crate) async fn summaries(
    db: &impl ConnectionTrait,
    rows: Vec<product::Model>,
) -> AppResult<Vec<ProductSummary>> {
    let partners = lookup(
        db,
        partner::Column::Id,
        rows.iter().map(|p| p.partner_id),
        |p| (p.id, p),
    )
    .await?;
    let archs = architectures_by_product(db, rows.iter().map(|p| p.id)).await?;
    rows.into_iter()
        .map(|p| {
            let partner = partners
                .get(&p.partner_id)
                .ok_or_else(|| AppError::internal("product without partner", p.id))?;
            let archs = archs.get(&p.id).map_or(&[][..], Vec::as_slice);
            Ok(summary(partner, p, archs))
        })
        .collect()
}

pub(crate) async fn summaries_of_partner(
    db: &impl ConnectionTrait,
    partner: &partner::Model,
) -> AppResult<Vec<ProductSummary>> {
    let rows = product::Entity::find()
        .filter(product::Column::PartnerId.eq(partner.id))
        .order_by_asc(product::Column::Name)
        .all(db)
        .await?;
    let archs = architectures_by_product(db, rows.iter().map(|p| p.id)).await?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let a = archs.get(&p.id).map_or(&[][..], Vec::as_slice);
            summary(partner, p, a)
        })
        .collect())
}

/// Products of every partner (or one), by partner then name.
pub async fn list(
    db: &impl ConnectionTrait,
    partner_slug: Option<&str>,
    page: PageRequest,
) -> AppResult<Page<ProductSummary>> {
    let Paging { index, per_page } = page.checked()?;
    let mut query = product::Entity::find()
        .order_by_asc(product::Column::PartnerId)
        .order_by_asc(product::Column::Name);
    if let Some(slug) = partner_slug {
        let p = partner::by_slug(db, slug).await?;
        query = query.filter(product::Column::PartnerId.eq(p.id));
    }
    let paginator = query.paginate(db, per_page);
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(index).await?;
    Ok(Page {
        items: summaries(db, rows).await?,
        page: index + 1,
        per_page,
        total,
    })
}

/// How a product's marketplace versions are delivered, as its row stores it.
pub fn delivery_of(p: &product::Model) -> AppResult<DeliveryConfig> {
    Ok(DeliveryConfig {
        recommended_instance_type: p.recommended_instance_type.clone(),
        os_name: p.os_name.clone(),
        os_version: p.os_version.clone(),
        user_name: p.ami_user_name.clone(),
        security_groups: serde_json::from_str(&p.security_groups)
            .map_err(|e| AppError::internal("reading security groups", e))?,
    })
}

pub(crate) fn to_dto(
    partner: &partner::Model,
    p: product::Model,
    architectures: Vec<ProductArchitecture>,
) -> AppResult<Product> {
    let delivery = delivery_of(&p)?;
    Ok(Product {
        delivery,
        build_policy: p.build_policy,
        id: p.id,
        partner_slug: partner.slug.clone(),
        partner_name: partner.name.clone(),
        cloud: partner.cloud,
        edition: p.edition,
        visibility: p.visibility,
        maintenance_mode: p.maintenance_mode,
        target_regions: serde_json::from_str(&p.target_regions)
            .map_err(|e| AppError::internal("reading target regions", e))?,
        architectures,
        slug: p.slug,
        name: p.name,
        base_image_owner: p.base_image_owner,
        base_image_name_pattern: p.base_image_name_pattern,
        build_region: p.build_region,
        license_required: p.license_required,
        license_updated_at: None,
        license_updated_by: None,
        listing_entity_name: p.listing_entity_name,
        listing_entity_id: p.listing_entity_id,
        root_volume_gb: p.root_volume_gb,
        description: p.description,
        created_at: p.created_at,
        updated_at: p.updated_at,
    })
}

/// These products by id, each with its partner's slug, for a list that names the products
/// it refers to (two queries for the whole list).
pub(crate) async fn with_partner_slugs(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, (product::Model, String)>> {
    let products = lookup(db, product::Column::Id, ids, |p| (p.id, p)).await?;
    let partners = lookup(
        db,
        partner::Column::Id,
        products.values().map(|p| p.partner_id),
        |p| (p.id, p.slug),
    )
    .await?;
    Ok(products
        .into_iter()
        .filter_map(|(id, p)| {
            let partner = partners.get(&p.partner_id)?.clone();
            Some((id, (p, partner)))
        })
        .collect())
}

pub async fn get(db: &impl ConnectionTrait, partner_slug: &str, slug: &str) -> AppResult<Product> {
    let (partner, p) = find_model(db, partner_slug, slug).await?;
    let architectures = architectures_of(db, p.id).await?;
    let mut product = to_dto(&partner, p, architectures)?;
    if let Some(info) = super::secrets::info(
        db,
        &super::secrets::license_name(&product.partner_slug, &product.slug),
    )
    .await?
    {
        product.license_updated_at = Some(info.updated_at);
        product.license_updated_by = Some(info.updated_by);
    }
    Ok(product)
}

/// Sets or replaces the license file written onto the product's images.
pub async fn set_license(
    db: &(impl ConnectionTrait + TransactionTrait),
    key: &super::secrets::SecretKey,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    slug: &str,
    license: &str,
) -> AppResult<Product> {
    actor.require(Permission::ManageReleases)?;
    let product = get(db, partner_slug, slug).await?;
    if product.visibility == Visibility::Public {
        return Err(AppError::validation(
            "license",
            format!(
                "{} is public: its images are shared with everyone, so it never carries a license file (make it private first)",
                product.name
            ),
        ));
    }
    if !product.license_required {
        return Err(AppError::conflict(
            "license",
            format!("{} carries no license file", product.name),
        ));
    }
    let text = license.trim();
    let valid = !text.is_empty()
        && text.len() <= LICENSE_MAX_BYTES
        && text
            .chars()
            .all(|c| !c.is_control() || c == '\n' || c == '\r');
    if !valid {
        return Err(AppError {
            fields: vec![crate::error::FieldError {
                field: "license".into(),
                message: format!(
                    "paste the license file's text (at most {} KB)",
                    LICENSE_MAX_BYTES / 1024
                ),
            }],
            ..AppError::new(
                crate::error::ErrorCode::ValidationFailed,
                "the license file is empty, too large or not text",
            )
        });
    }
    let name = super::secrets::license_name(&product.partner_slug, &product.slug);
    super::secrets::put(
        db,
        key,
        actor,
        now,
        &name,
        &super::secrets::SecretValue::new(text.to_owned()),
    )
    .await?;
    get(db, partner_slug, slug).await
}

/// Removes the product's license file.
pub async fn delete_license(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    slug: &str,
) -> AppResult<Product> {
    actor.require(Permission::ManageReleases)?;
    let product = get(db, partner_slug, slug).await?;
    super::secrets::delete(
        db,
        actor,
        now,
        &super::secrets::license_name(&product.partner_slug, &product.slug),
    )
    .await?;
    get(db, partner_slug, slug).await
}

/// The conflict of a slug the partner already uses.
fn slug_taken(partner: &partner::Model, slug: &Slug) -> String {
    format!(
        "{} already has a product with the slug '{slug}'",
        partner.name
    )
}

async fn write_architectures(
    db: &impl ConnectionTrait,
    product_id: i32,
    archs: &[(Arch, String, String, String)],
) -> AppResult<()> {
    product_architecture::Entity::delete_many()
        .filter(product_architecture::Column::ProductId.eq(product_id))
        .exec(db)
        .await?;
    for (arch, itype, template, type_tag) in archs {
        product_architecture::ActiveModel {
            product_id: Set(product_id),
            arch: Set(*arch),
            builder_instance_type: Set(itype.clone()),
            image_name_template: Set(template.clone()),
            type_tag: Set(type_tag.clone()),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

fn apply(active: &mut product::ActiveModel, v: &ValidProduct, now: DateTime<Utc>) -> AppResult<()> {
    active.partner_id = Set(v.partner.id);
    active.slug = Set(v.slug.to_string());
    active.name = Set(v.name.clone());
    active.edition = Set(v.edition);
    active.visibility = Set(v.visibility);
    active.base_image_owner = Set(v.base_image_owner.clone());
    active.base_image_name_pattern = Set(v.base_image_name_pattern.clone());
    active.build_region = Set(v.build_region.clone());
    active.target_regions = Set(serde_json::to_string(&v.target_regions)
        .map_err(|e| AppError::internal("writing target regions", e))?);
    active.license_required = Set(v.license_required);
    active.listing_entity_name = Set(v.listing_entity_name.clone());
    active.listing_entity_id = Set(v.listing_entity_id.clone());
    active.maintenance_mode = Set(v.maintenance_mode);
    active.root_volume_gb = Set(v.root_volume_gb);
    active.description = Set(v.description.clone());
    active.updated_at = Set(now);
    Ok(())
}

/// Adds a product. On AWS its base image must come from one of `owners`.
pub async fn create(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    owners: &BaseImageOwners,
    input: &ProductInput,
) -> AppResult<Product> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let valid = parse(&txn, input, owners, None).await?;
    let mut active = product::ActiveModel {
        created_at: Set(now),
        ..Default::default()
    };
    apply(&mut active, &valid, now)?;
    let model = active
        .insert(&txn)
        .await
        .on_unique("slug", slug_taken(&valid.partner, &valid.slug))?;
    write_architectures(&txn, model.id, &valid.architectures).await?;
    let archs = architectures_of(&txn, model.id).await?;
    let dto = to_dto(&valid.partner, model, archs)?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "create",
            object_type: "product",
            object_id: format!("{}/{}", dto.partner_slug, dto.slug),
            summary: format!("created product {} for {}", dto.name, dto.partner_name),
            before: None,
            after: snapshot(&dto),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(dto)
}

/// Changes a product. On AWS its base image must come from one of `owners`; a product
/// with a license (required, or a license file stored) cannot become public.
pub async fn update(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    owners: &BaseImageOwners,
    partner_slug: &str,
    slug: &str,
    input: &ProductInput,
) -> AppResult<Product> {
    actor.require(Permission::ManageCatalogue)?;
    let txn = super::begin_write(db).await?;
    let (partner, model) = find_model(&txn, partner_slug, slug).await?;
    let before = to_dto(
        &partner,
        model.clone(),
        architectures_of(&txn, model.id).await?,
    )?;
    let valid = parse(&txn, input, owners, Some(&model)).await?;
    if valid.visibility == Visibility::Public
        && super::secrets::info(
            &txn,
            &super::secrets::license_name(&before.partner_slug, &before.slug),
        )
        .await?
        .is_some()
    {
        return Err(AppError::validation(
            "visibility",
            format!(
                "{} has a license file: delete it before making the product public, or its images would share it with everyone",
                before.name
            ),
        ));
    }
    let mut active: product::ActiveModel = model.into();
    apply(&mut active, &valid, now)?;
    let model = active
        .update(&txn)
        .await
        .on_unique("slug", slug_taken(&valid.partner, &valid.slug))?;
    write_architectures(&txn, model.id, &valid.architectures).await?;
    let archs = architectures_of(&txn, model.id).await?;
    let after = to_dto(&valid.partner, model, archs)?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "update",
            object_type: "product",
            object_id: format!("{}/{}", after.partner_slug, after.slug),
            summary: format!("updated product {} of {}", after.name, after.partner_name),
            before: snapshot(&before),
            after: snapshot(&after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// At most this many inbound rules in a version's recommended security group (AWS's limit).
pub const SECURITY_GROUP_RULES_MAX: usize = 25;

fn os_name(value: &str) -> Result<String, String> {
    let v = value.trim();
    let word = v.starts_with(|c: char| c.is_ascii_uppercase())
        && v.len() <= 50
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if word {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "'{v}' is not AWS Marketplace's name of an operating system: one upper-case word, such as UBUNTU"
        ))
    }
}

fn ami_user_name(value: &str) -> Result<String, String> {
    let v = value.trim();
    let valid = v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.len() <= 32
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "'{v}' is not a user name AWS Marketplace accepts: a letter, then up to 31 letters, digits, '_' or '-'"
        ))
    }
}

/// An IPv4 network in CIDR notation whose address is the network's own (`10.0.0.0/8`).
fn ipv4_network(value: &str) -> Result<String, String> {
    let v = value.trim();
    let refused = || format!("'{v}' is not an IPv4 network such as 0.0.0.0/0 or 10.0.0.0/8");
    let (addr, prefix) = v.split_once('/').ok_or_else(refused)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| refused())?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 2 {
        return Err(refused());
    }
    let prefix: u32 = prefix.parse().map_err(|_| refused())?;
    if prefix > 32 {
        return Err(refused());
    }
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    let bits = u32::from(addr);
    if bits & !mask != 0 {
        return Err(format!(
            "'{v}' has host bits set: the network is {}/{prefix}",
            std::net::Ipv4Addr::from(bits & mask)
        ));
    }
    Ok(v.to_owned())
}

fn security_groups(rules: &[SecurityGroupRule]) -> Result<Vec<SecurityGroupRule>, String> {
    if rules.is_empty() {
        return Err("give at least one inbound rule".to_owned());
    }
    if rules.len() > SECURITY_GROUP_RULES_MAX {
        return Err(format!(
            "at most {SECURITY_GROUP_RULES_MAX} rules ({} given)",
            rules.len()
        ));
    }
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let n = i + 1;
            let protocol = r.protocol.trim().to_lowercase();
            if !["tcp", "udp", "icmp"].contains(&protocol.as_str()) {
                return Err(format!(
                    "rule {n}: '{}' is not a protocol: tcp, udp or icmp",
                    r.protocol.trim()
                ));
            }
            for port in [r.from_port, r.to_port] {
                if !(0..=65535).contains(&port) {
                    return Err(format!("rule {n}: port {port} is not within 0–65535"));
                }
            }
            if r.from_port > r.to_port {
                return Err(format!(
                    "rule {n}: the range starts at {} after it ends at {}",
                    r.from_port, r.to_port
                ));
            }
            let cidr = ipv4_network(&r.cidr).map_err(|m| format!("rule {n}: {m}"))?;
            Ok(SecurityGroupRule {
                protocol,
                from_port: r.from_port,
                to_port: r.to_port,
                cidr,
            })
        })
        .collect()
}

/// Checks a delivery configuration, naming each field at fault.
pub fn parse_delivery(input: &DeliveryConfig) -> AppResult<DeliveryConfig> {
    let mut v = Validator::new();
    let itype = v.check(
        "recommended_instance_type",
        instance_type(&input.recommended_instance_type),
    );
    let name = v.check("os_name", os_name(&input.os_name));
    let version = v.check("os_version", required_text(&input.os_version, 50));
    let user = v.check("user_name", ami_user_name(&input.user_name));
    let rules = v.check("security_groups", security_groups(&input.security_groups));
    v.finish(|| {
        Some(DeliveryConfig {
            recommended_instance_type: itype?,
            os_name: name?,
            os_version: version?,
            user_name: user?,
            security_groups: rules?,
        })
    })
}

/// Sets how the product's marketplace versions are delivered (AddDeliveryOptions): the
/// recommended instance type, operating system, user name and security group rules.
pub async fn set_delivery(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    partner_slug: &str,
    slug: &str,
    input: &DeliveryConfig,
) -> AppResult<Product> {
    actor.require(Permission::ManageCatalogue)?;
    let config = parse_delivery(input)?;
    let txn = super::begin_write(db).await?;
    let (partner, model) = find_model(&txn, partner_slug, slug).await?;
    let before = delivery_of(&model)?;
    let name = model.name.clone();
    let mut active: product::ActiveModel = model.into();
    active.recommended_instance_type = Set(config.recommended_instance_type.clone());
    active.os_name = Set(config.os_name.clone());
    active.os_version = Set(config.os_version.clone());
    active.ami_user_name = Set(config.user_name.clone());
    active.security_groups = Set(serde_json::to_string(&config.security_groups)
        .map_err(|e| AppError::internal("writing security groups", e))?);
    active.updated_at = Set(now);
    active.update(&txn).await?;
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "set_delivery",
            object_type: "product",
            object_id: format!("{}/{slug}", partner.slug),
            summary: format!(
                "set how {name}'s marketplace versions are delivered ({} on {} {}, user {}, {} security group rules)",
                config.recommended_instance_type,
                config.os_name,
                config.os_version,
                config.user_name,
                config.security_groups.len()
            ),
            before: snapshot(&before),
            after: snapshot(&config),
        },
    )
    .await?;
    txn.commit().await?;
    get(db, partner_slug, slug).await
}

/// Renders an image name from its template: `GitLab CE {version} (ARM64)` → `GitLab CE 17.5.1 (ARM64)`.
pub fn render_image_name(template: &str, version: &Version) -> String {
    template.replace("{version}", &version.to_string())
}

/// The form's starting point for a product of this partner.
pub fn input_for(product: &Product) -> ProductInput {
    ProductInput {
        partner: product.partner_slug.clone(),
        slug: product.slug.clone(),
        name: product.name.clone(),
        edition: product.edition.as_str().to_owned(),
        visibility: product.visibility.as_str().to_owned(),
        architectures: product
            .architectures
            .iter()
            .map(|a| ProductArchitectureInput {
                arch: a.arch.as_str().to_owned(),
                builder_instance_type: a.builder_instance_type.clone(),
                image_name_template: a.image_name_template.clone(),
                type_tag: a.type_tag.clone(),
            })
            .collect(),
        base_image_owner: product.base_image_owner.clone(),
        base_image_name_pattern: product.base_image_name_pattern.clone(),
        build_region: product.build_region.clone(),
        target_regions: product.target_regions.clone(),
        license_required: product.license_required,
        listing_entity_name: product.listing_entity_name.clone().unwrap_or_default(),
        listing_entity_id: product.listing_entity_id.clone().unwrap_or_default(),
        maintenance_mode: product.maintenance_mode.as_str().to_owned(),
        root_volume_gb: product.root_volume_gb,
        description: product.description.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(visibility: Visibility, license_required: bool) -> product::Model {
        product::Model {
            id: 1,
            partner_id: 1,
            slug: "gitlab-ee-premium".into(),
            name: "GitLab EE Premium".into(),
            edition: Edition::EePremium,
            visibility,
            base_image_owner: CANONICAL_ACCOUNT.into(),
            base_image_name_pattern: "ubuntu/*".into(),
            build_region: "us-east-1".into(),
            target_regions: "[]".into(),
            license_required,
            listing_entity_name: None,
            listing_entity_id: None,
            maintenance_mode: MaintenanceMode::Image,
            root_volume_gb: 20,
            description: String::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            build_policy: Policy::Automatic,
            recommended_instance_type: "c5.2xlarge".into(),
            os_name: "UBUNTU".into(),
            os_version: "24.04".into(),
            ami_user_name: "ubuntu".into(),
            security_groups: "[]".into(),
        }
    }

    #[test]
    fn a_licensed_product_is_never_public_and_the_field_changed_is_named() {
        assert_eq!(license_conflict(None, Visibility::Private, true), None);
        assert_eq!(license_conflict(None, Visibility::Public, false), None);
        let licensed = stored(Visibility::Private, true);
        let (field, message) =
            license_conflict(Some(&licensed), Visibility::Public, true).expect("refused");
        assert_eq!(field, "visibility");
        assert!(message.contains("cannot be public"), "{message}");
        let public = stored(Visibility::Public, false);
        let (field, _) =
            license_conflict(Some(&public), Visibility::Public, true).expect("refused");
        assert_eq!(field, "license_required");
        assert_eq!(
            license_conflict(None, Visibility::Public, true).map(|(f, _)| f),
            Some("visibility")
        );
    }

    #[test]
    fn base_images_come_from_the_allowed_accounts_on_aws_only() {
        let owners = BaseImageOwners::default();
        assert!(owners.allows(CANONICAL_ACCOUNT));
        assert_eq!(
            owners.check(Cloud::Aws, CANONICAL_ACCOUNT.into()),
            Ok(CANONICAL_ACCOUNT.to_owned())
        );
        let err = owners
            .check(Cloud::Aws, "111122223333".into())
            .expect_err("someone else's account");
        assert!(
            err.contains("'111122223333'") && err.contains(CANONICAL_ACCOUNT),
            "{err}"
        );
        // Images on other clouds are made by hand; their publisher is a name.
        assert!(owners.check(Cloud::Azure, "Canonical".into()).is_ok());
        let custom = BaseImageOwners::new(&[" 111122223333", "099720109477", "111122223333"])
            .expect("valid");
        assert_eq!(custom.listed(), "111122223333, 099720109477");
        assert!(BaseImageOwners::new(&["12345"]).is_err());
        assert!(BaseImageOwners::new::<&str>(&[]).is_err());
    }

    #[test]
    fn a_delivery_configuration_names_each_field_at_fault() {
        let rule = |protocol: &str, from: i32, to: i32, cidr: &str| SecurityGroupRule {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            cidr: cidr.into(),
        };
        let good = DeliveryConfig {
            recommended_instance_type: "c5.2xlarge".into(),
            os_name: "UBUNTU".into(),
            os_version: "24.04".into(),
            user_name: "ubuntu".into(),
            security_groups: vec![
                rule("TCP", 22, 22, "0.0.0.0/0"),
                rule("udp", 0, 65535, "10.0.0.0/8"),
            ],
        };
        let parsed = parse_delivery(&good).expect("valid");
        assert_eq!(parsed.security_groups[0].protocol, "tcp");
        let err = parse_delivery(&DeliveryConfig {
            recommended_instance_type: "huge".into(),
            os_name: "ubuntu".into(),
            os_version: " ".into(),
            user_name: "1root".into(),
            security_groups: Vec::new(),
        })
        .expect_err("invalid");
        for field in [
            "recommended_instance_type",
            "os_name",
            "os_version",
            "user_name",
            "security_groups",
        ] {
            assert!(err.field(field).is_some(), "{field}: {err:?}");
        }
        for (rules, says) in [
            (vec![rule("gre", 1, 1, "0.0.0.0/0")], "protocol"),
            (vec![rule("tcp", 443, 80, "0.0.0.0/0")], "starts at 443"),
            (vec![rule("tcp", 0, 70000, "0.0.0.0/0")], "65535"),
            (vec![rule("tcp", 22, 22, "10.0.0.1/8")], "host bits"),
            (vec![rule("tcp", 22, 22, "10.0.0.0/33")], "IPv4 network"),
            (vec![rule("tcp", 22, 22, "::/0")], "IPv4 network"),
            (vec![rule("tcp", 22, 22, "0.0.0.0/0"); 26], "at most 25"),
        ] {
            let err = parse_delivery(&DeliveryConfig {
                security_groups: rules,
                ..good.clone()
            })
            .expect_err(says);
            assert!(
                err.field("security_groups")
                    .is_some_and(|m| m.contains(says)),
                "{says}: {err:?}"
            );
        }
    }
}
