//! The catalogue: partners, products, releases, image versions and regional images, listings and their versions, marketing assets.

pub mod partner {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Cloud, PartnerStatus};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "partners")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub slug: String,
        pub name: String,
        pub cloud: Cloud,
        pub status: PartnerStatus,
        pub partner_docs_url: Option<String>,
        pub partnership_doc_url: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub notes: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// The partner with this slug; products, assets and workflows find their partner so.
    pub async fn by_slug(db: &impl ConnectionTrait, slug: &str) -> crate::error::AppResult<Model> {
        Entity::find()
            .filter(Column::Slug.eq(slug))
            .one(db)
            .await?
            .ok_or_else(|| crate::error::AppError::not_found(format!("partner '{slug}'")))
    }
}

pub mod partner_account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "partner_accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub label: String,
        pub account_id: String,
        #[sea_orm(column_type = "Text")]
        pub notes: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod partner_contact {
    use sea_orm::entity::prelude::*;

    use crate::domain::ContactRole;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "partner_contacts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub role: ContactRole,
        pub name: String,
        pub email: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod product {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Edition, MaintenanceMode, Policy, Visibility};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub slug: String,
        pub name: String,
        pub edition: Edition,
        pub visibility: Visibility,
        pub base_image_owner: String,
        pub base_image_name_pattern: String,
        pub build_region: String,
        #[sea_orm(column_type = "Text")]
        pub target_regions: String,
        pub license_required: bool,
        pub listing_entity_name: Option<String>,
        pub listing_entity_id: Option<String>,
        pub maintenance_mode: MaintenanceMode,
        pub root_volume_gb: i32,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Whether a release builds this product's images by itself.
        pub build_policy: Policy,
        /// How a marketplace version of this product is delivered: the instance type
        /// AWS Marketplace recommends, the operating system and user name of the image,
        /// and the security group rules (a JSON list of `SecurityGroupRule`).
        pub recommended_instance_type: String,
        pub os_name: String,
        pub os_version: String,
        pub ami_user_name: String,
        #[sea_orm(column_type = "Text")]
        pub security_groups: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod product_architecture {
    use sea_orm::entity::prelude::*;

    use crate::domain::Arch;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "product_architectures")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub arch: Arch,
        pub builder_instance_type: String,
        pub image_name_template: String,
        pub type_tag: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod release {
    use sea_orm::entity::prelude::*;

    use crate::domain::ReleaseKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "releases")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub version: String,
        pub major: i32,
        pub minor: i32,
        pub patch: i32,
        pub pre: Option<String>,
        pub released_on: Date,
        pub kind: ReleaseKind,
        pub created_at: DateTimeUtc,
        /// The release's notes, as the release event gave them.
        pub notes_url: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod image_version {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Arch, ImageSource, ImageState};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "image_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub release_id: i32,
        pub arch: Arch,
        pub name: String,
        pub state: ImageState,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Which image of this release × product × architecture: 1 for the first, 2 for
        /// the first rebuild, and so on.
        pub rebuild: i32,
        /// The newer image that replaced this one as the current image.
        pub superseded_by: Option<i32>,
        pub superseded_at: Option<DateTimeUtc>,
        /// Why a rebuild was made (a security fix, a new base image), as given.
        pub rebuild_reason: Option<String>,
        /// The base image it was built from (its id and name in the build region).
        pub base_image_id: Option<String>,
        pub base_image_name: Option<String>,
        /// Built by the portal, or imported from the account by the cloud sync.
        pub source: ImageSource,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod image_region {
    use sea_orm::entity::prelude::*;

    use crate::domain::RegionImageState;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "image_regions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub image_version_id: i32,
        pub region: String,
        pub image_id: Option<String>,
        pub state: RegionImageState,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod listing {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Cloud, Policy};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "listings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        /// The partner's cloud, whose marketplace lists the product.
        pub marketplace: Cloud,
        pub entity_type: String,
        pub entity_name: String,
        pub entity_id: Option<String>,
        pub title: String,
        pub version_limit: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Whether a release other than the newest stable one publishes a version.
        pub publish_backports: bool,
        /// Public versions past which the portal proposes restricting the oldest.
        pub restrict_threshold: i32,
        /// Versions published this recently are never proposed for restriction.
        pub keep_recent_days: i32,
        /// Whether a release publishes a version of this listing by itself.
        pub publish_policy: Policy,
        /// The copy revision last published to the marketplace by the portal.
        pub live_copy_revision_id: Option<i32>,
        /// The copy as the marketplace showed it after that publish (JSON `LiveCopy`).
        #[sea_orm(column_type = "Text", nullable)]
        pub live_copy: Option<String>,
        pub live_copy_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod listing_version {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Arch, ListingVersionVisibility, VersionSource};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "listing_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub listing_id: i32,
        pub release_id: Option<i32>,
        pub title: String,
        pub delivery_option_id: Option<String>,
        pub visibility: ListingVersionVisibility,
        pub published_at: DateTimeUtc,
        /// Published by the portal, or found on the listing by the cloud sync.
        pub source: VersionSource,
        /// The architecture of the version's image, when known.
        pub arch: Option<Arch>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod asset {
    use sea_orm::entity::prelude::*;

    use crate::domain::AssetKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "assets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub product_id: Option<i32>,
        pub kind: AssetKind,
        pub title: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod asset_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "asset_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub asset_id: i32,
        pub version: i32,
        pub storage_key: String,
        pub content_type: String,
        pub size_bytes: i64,
        pub sha256: String,
        pub filename: String,
        pub uploaded_by: Option<i32>,
        pub created_at: DateTimeUtc,
        /// A video's, blog post's or social post's address.
        pub link: Option<String>,
        /// A post's or customer quote's text.
        #[sea_orm(column_type = "Text", nullable)]
        pub body: Option<String>,
        /// Who a customer quote is by.
        pub attribution: Option<String>,
        /// Whether the customer agreed to the quote being used.
        pub customer_agreed: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod asset_link {
    use sea_orm::entity::prelude::*;

    /// An asset linked to a listing or to a workflow task (exactly one of the two).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "asset_links")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub asset_id: i32,
        pub listing_id: Option<i32>,
        pub task_id: Option<i32>,
        pub linked_by: String,
        pub linked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
