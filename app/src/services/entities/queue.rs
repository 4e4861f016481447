//! The job queue: jobs and their events.

pub mod job {
    use sea_orm::entity::prelude::*;

    use crate::domain::JobState;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        pub state: JobState,
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
