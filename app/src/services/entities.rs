//! sea-orm entities, one module per table. Enumerated columns are stored as their
//! `domain` string form and parsed back when mapped to DTOs.

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub username: String,
        pub name: String,
        pub email: String,
        pub blocked: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "user_roles")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub user_id: i32,
        pub role: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: i32,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub at: DateTimeUtc,
        pub actor_id: Option<i32>,
        pub actor: String,
        pub action: String,
        pub object_type: String,
        pub object_id: String,
        #[sea_orm(column_type = "Text")]
        pub summary: String,
        #[sea_orm(column_type = "Text")]
        pub before: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub after: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod partner {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "partners")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub slug: String,
        pub name: String,
        pub cloud: String,
        pub status: String,
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

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "partner_contacts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub role: String,
        pub name: String,
        pub email: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod product {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub slug: String,
        pub name: String,
        pub edition: String,
        pub visibility: String,
        pub base_image_owner: String,
        pub base_image_name_pattern: String,
        pub build_region: String,
        #[sea_orm(column_type = "Text")]
        pub target_regions: String,
        pub license_required: bool,
        pub listing_entity_name: Option<String>,
        pub listing_entity_id: Option<String>,
        pub maintenance_mode: String,
        pub root_volume_gb: i32,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod product_architecture {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "product_architectures")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub arch: String,
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
        pub kind: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod image_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "image_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub release_id: i32,
        pub arch: String,
        pub name: String,
        pub state: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod image_region {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "image_regions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub image_version_id: i32,
        pub region: String,
        pub image_id: Option<String>,
        pub state: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod listing {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "listings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub marketplace: String,
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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod listing_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "listing_versions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub listing_id: i32,
        pub release_id: Option<i32>,
        pub title: String,
        pub delivery_option_id: Option<String>,
        pub visibility: String,
        pub published_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod asset {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "assets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub partner_id: i32,
        pub product_id: Option<i32>,
        pub kind: String,
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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        pub state: String,
        pub run_at: DateTimeUtc,
        pub attempts: i32,
        pub max_attempts: i32,
        pub locked_by: Option<String>,
        pub lease_until: Option<DateTimeUtc>,
        pub progress: i32,
        pub step: String,
        #[sea_orm(column_type = "Text")]
        pub checkpoint: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub result: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub last_error: Option<String>,
        pub cancel_requested: bool,
        pub group_key: Option<String>,
        pub created_by: Option<i32>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "job_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub job_id: i32,
        pub at: DateTimeUtc,
        pub level: String,
        #[sea_orm(column_type = "Text")]
        pub message: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod secret {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "secrets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub nonce: String,
        #[sea_orm(column_type = "Text")]
        pub ciphertext: String,
        pub updated_at: DateTimeUtc,
        pub updated_by: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod workflow {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "workflows")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub kind: String,
        pub title: String,
        pub partner_id: i32,
        pub product_id: Option<i32>,
        pub release_id: Option<i32>,
        pub security: bool,
        pub state: String,
        pub released_on: Option<Date>,
        pub due_on: Option<Date>,
        pub sla_notified: String,
        pub completed_at: Option<DateTimeUtc>,
        pub launched_at: Option<DateTimeUtc>,
        pub launched_by: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod workflow_stage {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "workflow_stages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub workflow_id: i32,
        pub position: i32,
        pub key: String,
        pub name: String,
        pub team: String,
        pub depends_on: String,
        pub completed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub workflow_id: i32,
        pub stage_id: i32,
        pub position: i32,
        pub title: String,
        pub description: String,
        pub team: String,
        pub required: bool,
        pub state: String,
        pub assignee_id: Option<i32>,
        pub due_on: Option<Date>,
        pub response_due_on: Option<Date>,
        pub escalated_at: Option<DateTimeUtc>,
        pub links: String,
        pub job_id: Option<i32>,
        pub arch: Option<String>,
        pub completed_at: Option<DateTimeUtc>,
        pub completed_by: Option<String>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task_comment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "task_comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub task_id: i32,
        pub author_id: i32,
        pub author: String,
        pub body: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod signoff {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "signoffs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub workflow_id: i32,
        pub team: String,
        pub user_id: i32,
        pub username: String,
        pub comment: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod holiday {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "holidays")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub day: Date,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod copy_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "copy_revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub listing_id: i32,
        pub number: i32,
        pub title: String,
        pub short_description: String,
        pub long_description: String,
        pub highlights: String,
        pub usage_instructions: String,
        pub release_notes_template: String,
        pub categories: String,
        pub author_id: i32,
        pub author: String,
        pub created_at: DateTimeUtc,
        pub state: String,
        pub publish_marked_at: Option<DateTimeUtc>,
        pub publish_marked_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod copy_review {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "copy_reviews")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub revision_id: i32,
        pub stage: String,
        pub decision: String,
        pub user_id: i32,
        pub username: String,
        pub comment: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod notification {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub user_id: i32,
        pub kind: String,
        pub title: String,
        pub body: String,
        pub link: String,
        pub created_at: DateTimeUtc,
        pub read_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "webhooks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub url: String,
        pub events: String,
        pub active: bool,
        pub created_by: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod inbound_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "inbound_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub source: String,
        pub delivery_id: String,
        pub summary: String,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod restriction_proposal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "restriction_proposals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub listing_id: i32,
        /// JSON list of listing version ids.
        pub version_ids: String,
        pub state: String,
        pub proposed_by: String,
        pub proposed_at: DateTimeUtc,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub comment: String,
        pub job_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod image_quota {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "image_quotas")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub region: String,
        pub quota: i32,
        pub updated_by: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod retention_policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "retention_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: i32,
        pub keep_newest: i32,
        pub support_days: i32,
        pub action: String,
        pub updated_by: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod retention_proposal {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "retention_proposals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub action: String,
        /// JSON list of `RetentionItem`: the dry run, exactly what the job will act on.
        pub items: String,
        /// JSON list of `RetentionOutcome`, filled in as the job works.
        pub outcomes: String,
        pub state: String,
        pub proposed_by: String,
        pub proposed_at: DateTimeUtc,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub comment: String,
        pub job_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub user_id: i32,
        pub name: String,
        /// SHA-256 of the token, hex.
        #[serde(skip)]
        pub token_hash: String,
        /// The token's first characters, to recognise it by.
        pub prefix: String,
        /// Comma-separated scopes.
        pub scopes: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub last_used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sign_in_attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sign_in_attempts")]
    pub struct Model {
        /// SHA-256 of the `state` sent to GitLab, hex.
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub nonce: String,
        pub pkce_verifier: String,
        pub next: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
