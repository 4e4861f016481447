//! Server functions of products: the list, a product with its matrix, the product form and saving it, the license file.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ctx;
use crate::{domain::*, dto::*, error::AppError};

#[server(prefix = "/rpc")]
pub async fn list_products(partner: String, page: u64) -> Result<Page<ProductSummary>, AppError> {
    let (state, _) = ctx::signed_in()?;
    let partner = Some(partner.as_str()).filter(|p| !p.is_empty());
    crate::services::products::list(
        &state.db,
        partner,
        PageRequest {
            page: Some(page),
            per_page: Some(50),
        },
    )
    .await
}

/// A product with its release × architecture matrix.
#[server(prefix = "/rpc")]
pub async fn get_product(
    partner: String,
    slug: String,
) -> Result<(Product, Vec<MatrixRow>), AppError> {
    let (state, _) = ctx::signed_in()?;
    let product = ctx::status_of(crate::services::products::get(&state.db, &partner, &slug).await)?;
    let matrix = crate::services::images::matrix(&state.db, &partner, &slug, 20).await?;
    Ok((product, matrix))
}

/// The product form as a browser sends it: fixed rows per architecture, regions as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductForm {
    pub partner: String,
    pub slug: String,
    pub name: String,
    pub edition: String,
    pub visibility: String,
    #[serde(default)]
    pub amd64: Option<String>,
    #[serde(default)]
    pub amd64_instance_type: String,
    #[serde(default)]
    pub amd64_name_template: String,
    #[serde(default)]
    pub amd64_type_tag: String,
    #[serde(default)]
    pub arm64: Option<String>,
    #[serde(default)]
    pub arm64_instance_type: String,
    #[serde(default)]
    pub arm64_name_template: String,
    #[serde(default)]
    pub arm64_type_tag: String,
    pub base_image_owner: String,
    pub base_image_name_pattern: String,
    pub build_region: String,
    /// Regions separated by commas, spaces or lines.
    pub target_regions: String,
    #[serde(default)]
    pub license_required: Option<String>,
    #[serde(default)]
    pub listing_entity_name: String,
    pub maintenance_mode: String,
    pub root_volume_gb: String,
    #[serde(default)]
    pub description: String,
}

impl ProductForm {
    pub fn from_product(p: &Product) -> Self {
        let arch = |a: Arch| p.architectures.iter().find(|x| x.arch == a);
        let amd = arch(Arch::Amd64);
        let arm = arch(Arch::Arm64);
        ProductForm {
            partner: p.partner_slug.clone(),
            slug: p.slug.clone(),
            name: p.name.clone(),
            edition: p.edition.as_str().into(),
            visibility: p.visibility.as_str().into(),
            amd64: amd.map(|_| "on".into()),
            amd64_instance_type: amd
                .map(|a| a.builder_instance_type.clone())
                .unwrap_or_default(),
            amd64_name_template: amd
                .map(|a| a.image_name_template.clone())
                .unwrap_or_default(),
            amd64_type_tag: amd.map(|a| a.type_tag.clone()).unwrap_or_default(),
            arm64: arm.map(|_| "on".into()),
            arm64_instance_type: arm
                .map(|a| a.builder_instance_type.clone())
                .unwrap_or_default(),
            arm64_name_template: arm
                .map(|a| a.image_name_template.clone())
                .unwrap_or_default(),
            arm64_type_tag: arm.map(|a| a.type_tag.clone()).unwrap_or_default(),
            base_image_owner: p.base_image_owner.clone(),
            base_image_name_pattern: p.base_image_name_pattern.clone(),
            build_region: p.build_region.clone(),
            target_regions: p.target_regions.join(", "),
            license_required: p.license_required.then(|| "on".into()),
            listing_entity_name: p.listing_entity_name.clone().unwrap_or_default(),
            maintenance_mode: p.maintenance_mode.as_str().into(),
            root_volume_gb: p.root_volume_gb.to_string(),
            description: p.description.clone(),
        }
    }

    /// The API input this form stands for. A non-number volume becomes 0, which the
    /// service refuses with a message on the field.
    pub fn into_input(self) -> ProductInput {
        let mut architectures = Vec::new();
        if self.amd64.is_some() {
            architectures.push(ProductArchitectureInput {
                arch: "amd64".into(),
                builder_instance_type: self.amd64_instance_type,
                image_name_template: self.amd64_name_template,
                type_tag: self.amd64_type_tag,
            });
        }
        if self.arm64.is_some() {
            architectures.push(ProductArchitectureInput {
                arch: "arm64".into(),
                builder_instance_type: self.arm64_instance_type,
                image_name_template: self.arm64_name_template,
                type_tag: self.arm64_type_tag,
            });
        }
        ProductInput {
            partner: self.partner,
            slug: self.slug,
            name: self.name,
            edition: self.edition,
            visibility: self.visibility,
            architectures,
            base_image_owner: self.base_image_owner,
            base_image_name_pattern: self.base_image_name_pattern,
            build_region: self.build_region,
            target_regions: self
                .target_regions
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            license_required: self.license_required.is_some(),
            listing_entity_name: self.listing_entity_name,
            listing_entity_id: String::new(),
            maintenance_mode: self.maintenance_mode,
            root_volume_gb: self.root_volume_gb.trim().parse().unwrap_or(0),
            description: self.description,
        }
    }
}

/// Creates a product (empty originals) or updates the one named by them.
#[server(prefix = "/rpc")]
pub async fn save_product(
    original_partner: String,
    original_slug: String,
    form: ProductForm,
) -> Result<Product, AppError> {
    let (state, user) = ctx::signed_in()?;
    let now = state.clock.now();
    let mut input = form.into_input();
    let product = if original_slug.is_empty() {
        ctx::status_of(
            crate::services::products::create(
                &state.db,
                &user,
                now,
                &state.base_image_owners,
                &input,
            )
            .await,
        )?
    } else {
        // The marketplace entity id is set by publishing, not by the form: keep it.
        let current =
            crate::services::products::get(&state.db, &original_partner, &original_slug).await?;
        input.listing_entity_id = current.listing_entity_id.unwrap_or_default();
        ctx::status_of(
            crate::services::products::update(
                &state.db,
                &user,
                now,
                &state.base_image_owners,
                &original_partner,
                &original_slug,
                &input,
            )
            .await,
        )?
    };
    leptos_axum::redirect(&format!(
        "/products/{}/{}",
        product.partner_slug, product.slug
    ));
    Ok(product)
}

/// Sets or replaces a product's license file; it can never be read back.
#[server(prefix = "/rpc")]
pub async fn set_product_license(
    partner: String,
    product: String,
    license: String,
) -> Result<Product, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::products::set_license(
            &state.db,
            &state.secret_key,
            &user,
            state.clock.now(),
            &partner,
            &product,
            &license,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn delete_product_license(partner: String, product: String) -> Result<Product, AppError> {
    let (state, user) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::products::delete_license(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &product,
        )
        .await,
    )
}
