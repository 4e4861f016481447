pub mod train {
    use sea_orm::entity::prelude::*;

    use crate::domain::{TrainKind, TrainState};

    /// One catalyst and everything it set moving: a GitLab release, or the rebuilds of a
    /// new base image.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "trains")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        /// `release:<version>` or `rebuild:<proposal id>`: one train per catalyst.
        #[sea_orm(unique)]
        pub key: String,
        pub kind: TrainKind,
        pub release_id: Option<i32>,
        pub title: String,
        #[sea_orm(column_type = "Text")]
        pub catalyst: String,
        /// The day the clock starts: the release's date, or the day the catalyst was found.
        pub started_on: Date,
        /// Three business days later.
        pub due_on: Date,
        pub state: TrainState,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod train_step {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Arch, TrainStepKind, TrainStepState};

    /// One build or publish of a train.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "train_steps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub train_id: i32,
        /// Unique in its train: `build:<product id>:<arch>`, `publish:<listing id>`.
        pub key: String,
        pub position: i32,
        pub kind: TrainStepKind,
        pub release_id: i32,
        pub product_id: i32,
        pub arch: Option<Arch>,
        pub listing_id: Option<i32>,
        /// For a rebuild: the image version it replaces.
        pub rebuild_of: Option<i32>,
        pub state: TrainStepState,
        /// What it waits for, why it was skipped or how it failed; empty when nothing.
        #[sea_orm(column_type = "Text")]
        pub wait: String,
        /// The wait last announced, so each wait is announced once.
        #[sea_orm(column_type = "Text")]
        pub notified: String,
        pub job_id: Option<i32>,
        pub image_version_id: Option<i32>,
        pub listing_version_id: Option<i32>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod rebuild_proposal {
    use sea_orm::entity::prelude::*;

    use crate::domain::{Arch, ProposalState};

    /// A newer base image than the one current images were built from, and the rebuilds it
    /// asks Omnibus for.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "rebuild_proposals")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub arch: Arch,
        pub region: String,
        /// One proposal per new base image.
        #[sea_orm(unique)]
        pub base_image_id: String,
        pub base_image_name: String,
        pub base_image_created: Option<String>,
        /// JSON list of the base image ids the replaced images were built from.
        #[sea_orm(column_type = "Text")]
        pub previous_base_images: String,
        /// JSON list of the image version ids to rebuild.
        #[sea_orm(column_type = "Text")]
        pub items: String,
        /// Proposed, then approved (its train runs, then applied) or rejected.
        pub state: ProposalState,
        pub proposed_by: String,
        pub proposed_at: DateTimeUtc,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        #[sea_orm(column_type = "Text")]
        pub comment: String,
        pub train_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod schedule_mark {
    use sea_orm::entity::prelude::*;

    /// When a periodic task (the daily base-image check) last ran, shared by every process
    /// so it runs once per period whatever the number of processes.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "schedule_marks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub last_run_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
