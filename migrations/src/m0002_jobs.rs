//! The durable job queue: jobs and their append-only event log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Id,
    Kind,
    Payload,
    State,
    RunAt,
    Attempts,
    MaxAttempts,
    LockedBy,
    LeaseUntil,
    Progress,
    Step,
    Checkpoint,
    Result,
    LastError,
    CancelRequested,
    GroupKey,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobEvents {
    Table,
    Id,
    JobId,
    At,
    Level,
    Message,
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(pk_auto(Jobs::Id))
                .col(string(Jobs::Kind))
                .col(text(Jobs::Payload))
                .col(string(Jobs::State))
                .col(timestamp_with_time_zone(Jobs::RunAt))
                .col(integer(Jobs::Attempts).default(0))
                .col(integer(Jobs::MaxAttempts))
                .col(string_null(Jobs::LockedBy))
                .col(timestamp_with_time_zone_null(Jobs::LeaseUntil))
                .col(integer(Jobs::Progress).default(0))
                .col(string(Jobs::Step))
                .col(text_null(Jobs::Checkpoint))
                .col(text_null(Jobs::Result))
                .col(text_null(Jobs::LastError))
                .col(boolean(Jobs::CancelRequested).default(false))
                .col(string_null(Jobs::GroupKey))
                .col(integer_null(Jobs::CreatedBy))
                .col(timestamp_with_time_zone(Jobs::CreatedAt))
                .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_jobs_claim")
                .table(Jobs::Table)
                .col(Jobs::State)
                .col(Jobs::RunAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_jobs_group")
                .table(Jobs::Table)
                .col(Jobs::GroupKey)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_jobs_kind")
                .table(Jobs::Table)
                .col(Jobs::Kind)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(JobEvents::Table)
                .col(pk_auto(JobEvents::Id))
                .col(integer(JobEvents::JobId))
                .col(timestamp_with_time_zone(JobEvents::At))
                .col(string(JobEvents::Level))
                .col(text(JobEvents::Message))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_job_events_job")
                        .from(JobEvents::Table, JobEvents::JobId)
                        .to(Jobs::Table, Jobs::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_job_events_job")
                .table(JobEvents::Table)
                .col(JobEvents::JobId)
                .col(JobEvents::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(JobEvents::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}
