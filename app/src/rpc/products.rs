//! Server functions of products: the list, a product with its matrix, the product form and saving it, the license file, how its marketplace versions are delivered.

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

/// The delivery form as a browser sends it: one security group rule per line, written
/// `tcp 22 0.0.0.0/0` or `tcp 8000-8080 10.0.0.0/8` (protocol, port or port range, CIDR).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryForm {
    pub recommended_instance_type: String,
    pub os_name: String,
    pub os_version: String,
    pub user_name: String,
    pub security_groups: String,
}

impl DeliveryForm {
    pub fn from_config(d: &DeliveryConfig) -> Self {
        DeliveryForm {
            recommended_instance_type: d.recommended_instance_type.clone(),
            os_name: d.os_name.clone(),
            os_version: d.os_version.clone(),
            user_name: d.user_name.clone(),
            security_groups: d
                .security_groups
                .iter()
                .map(rule_line)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The configuration this form stands for; a rule line that cannot be read is an error
    /// on `security_groups` naming the line (the values themselves are the service's to
    /// check).
    pub fn into_config(self) -> Result<DeliveryConfig, AppError> {
        let mut v = crate::error::Validator::new();
        let mut rules = Vec::new();
        let lines = self
            .security_groups
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty());
        for (n, line) in lines.enumerate() {
            match parse_rule(line) {
                Ok(rule) => rules.push(rule),
                Err(why) => v.add("security_groups", format!("rule {}: {why}", n + 1)),
            }
        }
        v.finish(|| {
            Some(DeliveryConfig {
                recommended_instance_type: self.recommended_instance_type.trim().to_owned(),
                os_name: self.os_name.trim().to_owned(),
                os_version: self.os_version.trim().to_owned(),
                user_name: self.user_name.trim().to_owned(),
                security_groups: rules,
            })
        })
    }
}

/// A rule as the form writes it: `tcp 22 0.0.0.0/0`, or `tcp 8000-8080 …` for a range.
pub fn rule_line(r: &SecurityGroupRule) -> String {
    if r.from_port == r.to_port {
        format!("{} {} {}", r.protocol, r.from_port, r.cidr)
    } else {
        format!("{} {}-{} {}", r.protocol, r.from_port, r.to_port, r.cidr)
    }
}

fn parse_rule(line: &str) -> Result<SecurityGroupRule, String> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [protocol, ports, cidr] = parts.as_slice() else {
        return Err(format!(
            "'{line}' is not 'protocol port CIDR' (for example 'tcp 443 0.0.0.0/0')"
        ));
    };
    let port = |p: &str| {
        p.parse::<i32>()
            .map_err(|_| format!("'{p}' is not a port number (0–65535)"))
    };
    let (from_port, to_port) = match ports.split_once('-') {
        Some((from, to)) => (port(from)?, port(to)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    Ok(SecurityGroupRule {
        protocol: protocol.to_lowercase(),
        from_port,
        to_port,
        cidr: (*cidr).to_owned(),
    })
}

/// Sets how a product's marketplace versions are delivered: instance type, operating
/// system, user name and security group rules.
#[server(prefix = "/rpc")]
pub async fn set_product_delivery(
    partner: String,
    product: String,
    form: DeliveryForm,
) -> Result<Product, AppError> {
    let (state, user) = ctx::signed_in()?;
    let config = ctx::status_of(form.into_config())?;
    let saved = ctx::status_of(
        crate::services::products::set_delivery(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &product,
            &config,
        )
        .await,
    )?;
    ctx::flash(&crate::components::Flash {
        testid: "delivery-saved".into(),
        text: "Saved: the next version publish uses it.".into(),
        link: None,
    });
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_rules_read_back_as_written() {
        let form = DeliveryForm {
            recommended_instance_type: " c5.2xlarge ".into(),
            os_name: "UBUNTU".into(),
            os_version: "24.04".into(),
            user_name: "ubuntu".into(),
            security_groups: "tcp 22 0.0.0.0/0\n\nTCP 8000-8080 10.0.0.0/8\n".into(),
        };
        let config = form.into_config().expect("readable");
        assert_eq!(config.recommended_instance_type, "c5.2xlarge");
        assert_eq!(
            config.security_groups,
            [
                SecurityGroupRule {
                    protocol: "tcp".into(),
                    from_port: 22,
                    to_port: 22,
                    cidr: "0.0.0.0/0".into()
                },
                SecurityGroupRule {
                    protocol: "tcp".into(),
                    from_port: 8000,
                    to_port: 8080,
                    cidr: "10.0.0.0/8".into()
                },
            ]
        );
        assert_eq!(
            DeliveryForm::from_config(&config).security_groups,
            "tcp 22 0.0.0.0/0\ntcp 8000-8080 10.0.0.0/8"
        );
    }

    #[test]
    fn an_unreadable_rule_is_an_error_on_the_rules_naming_the_line() {
        let form = DeliveryForm {
            security_groups: "tcp 22 0.0.0.0/0\ntcp http 0.0.0.0/0\nudp 53".into(),
            ..DeliveryForm::default()
        };
        let error = form.into_config().expect_err("refused");
        let messages: Vec<&str> = error
            .fields
            .iter()
            .filter(|f| f.field == "security_groups")
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].starts_with("rule 2: 'http' is not a port"),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("rule 3: 'udp 53' is not"),
            "{messages:?}"
        );
    }
}
