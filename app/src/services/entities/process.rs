//! The process: workflows, stages, tasks and comments, sign-offs, holidays, listing copy and its reviews, notifications, webhooks and inbound deliveries.

pub mod workflow {
    use sea_orm::entity::prelude::*;

    use crate::domain::{WorkflowKind, WorkflowState};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "workflows")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub kind: WorkflowKind,
        pub title: String,
        pub partner_id: i32,
        pub product_id: Option<i32>,
        pub release_id: Option<i32>,
        pub security: bool,
        pub state: WorkflowState,
        pub released_on: Option<Date>,
        pub due_on: Option<Date>,
        pub sla_notified: String,
        pub completed_at: Option<DateTimeUtc>,
        pub launched_at: Option<DateTimeUtc>,
        pub launched_by: Option<String>,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// The train whose steps complete this run's tasks.
        pub train_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod workflow_stage {
    use sea_orm::entity::prelude::*;

    use crate::domain::Role;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "workflow_stages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub workflow_id: i32,
        pub position: i32,
        pub key: String,
        pub name: String,
        pub team: Role,
        pub depends_on: String,
        pub completed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Arch, Role, TaskState};

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
        pub team: Role,
        pub required: bool,
        pub state: TaskState,
        pub assignee_id: Option<i32>,
        pub due_on: Option<Date>,
        pub response_due_on: Option<Date>,
        pub escalated_at: Option<DateTimeUtc>,
        pub links: String,
        pub job_id: Option<i32>,
        pub arch: Option<Arch>,
        pub completed_at: Option<DateTimeUtc>,
        pub completed_by: Option<String>,
        pub updated_at: DateTimeUtc,
        /// The listing whose publish completes this task.
        pub listing_id: Option<i32>,
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

    use crate::domain::Role;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "signoffs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub workflow_id: i32,
        pub team: Role,
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

    use crate::domain::CopyState;

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
        pub state: CopyState,
        pub publish_marked_at: Option<DateTimeUtc>,
        pub publish_marked_by: Option<String>,
        /// JSON list of strings.
        pub search_keywords: String,
        pub sku: String,
        pub support_description: String,
        /// The logo: a logo asset and the version of it this revision was saved with.
        pub logo_asset_id: Option<i32>,
        pub logo_version: Option<i32>,
        pub video_url: String,
        /// JSON list of `AdditionalResource`.
        pub additional_resources: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod copy_review {
    use sea_orm::entity::prelude::*;

    use crate::domain::Role;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "copy_reviews")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub revision_id: i32,
        /// The team that reviewed.
        pub stage: Role,
        /// `approved` or `rejected`.
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

    use crate::domain::NotificationKind;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub user_id: i32,
        pub kind: NotificationKind,
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
