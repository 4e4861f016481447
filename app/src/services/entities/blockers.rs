//! The release blockers: restriction proposals, public-image quotas, retention policies and proposals.

pub mod restriction_proposal {
    use sea_orm::entity::prelude::*;

    use crate::domain::ProposalState;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "restriction_proposals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub listing_id: i32,
        /// JSON list of listing version ids.
        pub version_ids: String,
        pub state: ProposalState,
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

    use crate::domain::RetentionAction;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "retention_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: i32,
        pub keep_newest: i32,
        pub support_days: i32,
        pub action: RetentionAction,
        pub updated_by: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod retention_proposal {
    use sea_orm::entity::prelude::*;

    use crate::domain::{ProposalState, RetentionAction};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "retention_proposals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub product_id: i32,
        pub action: RetentionAction,
        /// JSON list of `RetentionItem`: the dry run, exactly what the job will act on.
        pub items: String,
        /// JSON list of `RetentionOutcome`, filled in as the job works.
        pub outcomes: String,
        pub state: ProposalState,
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
