//! Products: what a partner offers, the architectures it is built for and how.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Arch, Cloud, Edition, MaintenanceMode, Policy, Visibility};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductSummary {
    pub id: i32,
    pub partner_slug: String,
    pub partner_name: String,
    pub slug: String,
    pub name: String,
    pub edition: Edition,
    pub visibility: Visibility,
    pub architectures: Vec<Arch>,
    pub maintenance_mode: MaintenanceMode,
}

/// One architecture a product is built for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductArchitecture {
    pub arch: Arch,
    /// Instance type of the builder, e.g. m3.medium or m6g.medium.
    pub builder_instance_type: String,
    /// Image name with `{version}` for the release, e.g. `GitLab CE {version} (ARM64)`.
    pub image_name_template: String,
    /// Value of the image's `Type` tag, e.g. `GitLab Community Edition (ARM64)`.
    pub type_tag: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Product {
    pub id: i32,
    pub partner_slug: String,
    pub partner_name: String,
    pub cloud: Cloud,
    pub slug: String,
    pub name: String,
    pub edition: Edition,
    pub visibility: Visibility,
    pub architectures: Vec<ProductArchitecture>,
    /// Owner account of the base image, e.g. Canonical's 099720109477.
    pub base_image_owner: String,
    /// Name pattern with `{arch}`, e.g. `ubuntu/images/*ubuntu-noble-24.04-{arch}-server-*`.
    pub base_image_name_pattern: String,
    pub build_region: String,
    pub target_regions: Vec<String>,
    pub license_required: bool,
    /// When the license file was last set (its content is never shown).
    pub license_updated_at: Option<DateTime<Utc>>,
    pub license_updated_by: Option<String>,
    pub listing_entity_name: Option<String>,
    pub listing_entity_id: Option<String>,
    pub maintenance_mode: MaintenanceMode,
    /// Whether a release builds its images by itself (Omnibus decides).
    pub build_policy: Policy,
    pub root_volume_gb: i32,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How its marketplace versions are delivered.
    pub delivery: DeliveryConfig,
}

/// How a marketplace version of a product is delivered (AddDeliveryOptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DeliveryConfig {
    pub recommended_instance_type: String,
    /// AWS Marketplace's operating system name, e.g. `UBUNTU`.
    pub os_name: String,
    pub os_version: String,
    /// The user that signs in to an instance, e.g. `ubuntu`.
    pub user_name: String,
    /// 1 to 25 inbound rules.
    pub security_groups: Vec<SecurityGroupRule>,
}

/// One inbound rule of the security group AWS Marketplace recommends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SecurityGroupRule {
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    /// IPv4 CIDR, e.g. `0.0.0.0/0`.
    pub cidr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductArchitectureInput {
    pub arch: String,
    pub builder_instance_type: String,
    pub image_name_template: String,
    pub type_tag: String,
}

/// Create or replace a product.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ProductInput {
    /// Slug of the partner the product belongs to.
    pub partner: String,
    pub slug: String,
    pub name: String,
    /// ce, ee, ee_premium or ee_ultimate.
    pub edition: String,
    /// public or private.
    pub visibility: String,
    pub architectures: Vec<ProductArchitectureInput>,
    pub base_image_owner: String,
    pub base_image_name_pattern: String,
    pub build_region: String,
    pub target_regions: Vec<String>,
    #[serde(default)]
    pub license_required: bool,
    #[serde(default)]
    pub listing_entity_name: String,
    #[serde(default)]
    pub listing_entity_id: String,
    /// image or partner_package.
    pub maintenance_mode: String,
    #[serde(default = "default_root_volume")]
    pub root_volume_gb: i32,
    #[serde(default)]
    pub description: String,
}

fn default_root_volume() -> i32 {
    20
}
