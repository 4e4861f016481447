pub mod account_region {
    use sea_orm::entity::prelude::*;

    /// What the last cloud sync read of one region: its public-image quota from Service
    /// Quotas, and when its images were read (each with the error, if that read failed).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "account_regions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub region: String,
        /// Public images allowed, as Service Quotas reports it (`L-0E3CBAB9`).
        pub quota: Option<i32>,
        pub quota_checked_at: Option<DateTimeUtc>,
        #[sea_orm(column_type = "Text", nullable)]
        pub quota_error: Option<String>,
        /// When the account's images in the region were last read in full.
        pub images_synced_at: Option<DateTimeUtc>,
        #[sea_orm(column_type = "Text", nullable)]
        pub images_error: Option<String>,
        /// Public images in the Recycle Bin: they count against the quota too.
        pub recycle_bin_public: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod account_image {
    use sea_orm::entity::prelude::*;

    use crate::domain::ImageSource;

    /// An image the account owns in a region, as the last sync saw it (kept after it is
    /// gone, with `gone_at`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "account_images")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub region: String,
        pub image_id: String,
        pub name: String,
        /// EC2's architecture (`x86_64`, `arm64`).
        pub arch: String,
        /// EC2's state (`available`, `pending`, `failed`, …).
        pub state: String,
        pub public: bool,
        pub deprecation_time: Option<DateTimeUtc>,
        pub created_on: Option<DateTimeUtc>,
        /// The image's tags, a JSON object.
        #[sea_orm(column_type = "Text")]
        pub tags: String,
        /// EC2 deregistration protection is on.
        pub protected: bool,
        /// The source image of a public marketplace version.
        pub live: bool,
        pub source: ImageSource,
        /// The catalogue's record of this image, when it has one.
        pub image_region_id: Option<i32>,
        /// The product and release it was matched to by its name or tags.
        pub product_id: Option<i32>,
        pub release_id: Option<i32>,
        pub first_seen_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        /// When its visibility, state or protection last changed.
        pub changed_at: DateTimeUtc,
        pub gone_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod account_listing {
    use sea_orm::entity::prelude::*;

    /// A listing's versions as the last sync read them from the marketplace entity.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "account_listings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub listing_id: i32,
        pub entity_id: String,
        pub public_versions: i32,
        pub total_versions: i32,
        pub synced_at: Option<DateTimeUtc>,
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod drift_item {
    use sea_orm::entity::prelude::*;

    use crate::domain::{DriftKind, DriftState};

    /// One difference between the catalogue and the account, open from when a sync first
    /// saw it until someone resolves it or a sync no longer sees it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "drift_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The difference's identity (`<kind>:<region>:<image id>`,
        /// `<kind>:<listing id>:<delivery option id>`): one item per difference.
        #[sea_orm(unique)]
        pub key: String,
        pub kind: DriftKind,
        pub state: DriftState,
        #[sea_orm(column_type = "Text")]
        pub summary: String,
        /// What the catalogue says, and what the account says.
        #[sea_orm(column_type = "Text")]
        pub catalogue_value: String,
        #[sea_orm(column_type = "Text")]
        pub account_value: String,
        pub region: Option<String>,
        pub image_id: Option<String>,
        pub product_id: Option<i32>,
        pub listing_id: Option<i32>,
        pub image_region_id: Option<i32>,
        pub listing_version_id: Option<i32>,
        pub account_image_id: Option<i32>,
        pub since: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub resolved_at: Option<DateTimeUtc>,
        pub resolved_by: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub resolution: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
