//! The release train: each product says whether its images build by themselves
//! (`build_policy`) and each listing whether its versions publish by themselves
//! (`publish_policy`); a train (`trains`) is one catalyst — a GitLab release, or a new base
//! image's rebuilds — and its steps (`train_steps`: one per build and per publish, unique
//! per train by `key`, so two processes never start the same step twice). Maintenance runs
//! and their tasks point at the train and listing they follow (`workflows.train_id`,
//! `tasks.listing_id`). Image versions keep the base image they were built from, which the
//! daily base-image check compares (`rebuild_proposals`, `schedule_marks`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Products {
    Table,
    BuildPolicy,
}

#[derive(DeriveIden, Clone, Copy)]
enum Listings {
    Table,
    PublishPolicy,
}

#[derive(DeriveIden, Clone, Copy)]
enum Workflows {
    Table,
    TrainId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    ListingId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ImageVersions {
    Table,
    BaseImageId,
    BaseImageName,
}

#[derive(DeriveIden, Clone, Copy)]
enum Trains {
    Table,
    Id,
    Key,
    Kind,
    ReleaseId,
    Title,
    Catalyst,
    StartedOn,
    DueOn,
    State,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TrainSteps {
    Table,
    Id,
    TrainId,
    Key,
    Position,
    Kind,
    ReleaseId,
    ProductId,
    Arch,
    ListingId,
    RebuildOf,
    State,
    Wait,
    Notified,
    JobId,
    ImageVersionId,
    ListingVersionId,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RebuildProposals {
    Table,
    Id,
    Arch,
    Region,
    BaseImageId,
    BaseImageName,
    BaseImageCreated,
    PreviousBaseImages,
    Items,
    State,
    ProposedBy,
    ProposedAt,
    DecidedBy,
    DecidedAt,
    Comment,
    TrainId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ScheduleMarks {
    Table,
    Name,
    LastRunAt,
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement. GitLab's own behaviour is the default:
        // every build and every publish runs by itself.
        let alters: [(DynIden, ColumnDef); 6] = [
            (
                Products::Table.into_iden(),
                string(Products::BuildPolicy)
                    .default("automatic")
                    .to_owned(),
            ),
            (
                Listings::Table.into_iden(),
                string(Listings::PublishPolicy)
                    .default("automatic")
                    .to_owned(),
            ),
            (
                Workflows::Table.into_iden(),
                integer_null(Workflows::TrainId).to_owned(),
            ),
            (
                Tasks::Table.into_iden(),
                integer_null(Tasks::ListingId).to_owned(),
            ),
            (
                ImageVersions::Table.into_iden(),
                string_null(ImageVersions::BaseImageId).to_owned(),
            ),
            (
                ImageVersions::Table.into_iden(),
                string_null(ImageVersions::BaseImageName).to_owned(),
            ),
        ];
        crate::add_columns(m, alters).await?;
        m.create_table(
            Table::create()
                .table(Trains::Table)
                .col(pk_auto(Trains::Id))
                .col(string(Trains::Key).unique_key())
                .col(string(Trains::Kind))
                .col(integer_null(Trains::ReleaseId))
                .col(string(Trains::Title))
                .col(text(Trains::Catalyst))
                .col(date(Trains::StartedOn))
                .col(date(Trains::DueOn))
                .col(string(Trains::State))
                .col(string(Trains::CreatedBy))
                .col(timestamp_with_time_zone(Trains::CreatedAt))
                .col(timestamp_with_time_zone(Trains::UpdatedAt))
                .col(timestamp_with_time_zone_null(Trains::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TrainSteps::Table)
                .col(pk_auto(TrainSteps::Id))
                .col(integer(TrainSteps::TrainId))
                .col(string(TrainSteps::Key))
                .col(integer(TrainSteps::Position))
                .col(string(TrainSteps::Kind))
                .col(integer(TrainSteps::ReleaseId))
                .col(integer(TrainSteps::ProductId))
                .col(string_null(TrainSteps::Arch))
                .col(integer_null(TrainSteps::ListingId))
                .col(integer_null(TrainSteps::RebuildOf))
                .col(string(TrainSteps::State))
                .col(text(TrainSteps::Wait))
                .col(text(TrainSteps::Notified))
                .col(integer_null(TrainSteps::JobId))
                .col(integer_null(TrainSteps::ImageVersionId))
                .col(integer_null(TrainSteps::ListingVersionId))
                .col(timestamp_with_time_zone(TrainSteps::CreatedAt))
                .col(timestamp_with_time_zone(TrainSteps::UpdatedAt))
                .col(timestamp_with_time_zone_null(TrainSteps::StartedAt))
                .col(timestamp_with_time_zone_null(TrainSteps::FinishedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_train_steps_train")
                        .from(TrainSteps::Table, TrainSteps::TrainId)
                        .to(Trains::Table, Trains::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_train_steps_key")
                .table(TrainSteps::Table)
                .col(TrainSteps::TrainId)
                .col(TrainSteps::Key)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_train_steps_job")
                .table(TrainSteps::Table)
                .col(TrainSteps::JobId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RebuildProposals::Table)
                .col(pk_auto(RebuildProposals::Id))
                .col(string(RebuildProposals::Arch))
                .col(string(RebuildProposals::Region))
                .col(string(RebuildProposals::BaseImageId).unique_key())
                .col(string(RebuildProposals::BaseImageName))
                .col(string_null(RebuildProposals::BaseImageCreated))
                .col(text(RebuildProposals::PreviousBaseImages))
                .col(text(RebuildProposals::Items))
                .col(string(RebuildProposals::State))
                .col(string(RebuildProposals::ProposedBy))
                .col(timestamp_with_time_zone(RebuildProposals::ProposedAt))
                .col(string_null(RebuildProposals::DecidedBy))
                .col(timestamp_with_time_zone_null(RebuildProposals::DecidedAt))
                .col(text(RebuildProposals::Comment))
                .col(integer_null(RebuildProposals::TrainId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ScheduleMarks::Table)
                .col(string(ScheduleMarks::Name).primary_key())
                .col(timestamp_with_time_zone(ScheduleMarks::LastRunAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ScheduleMarks::Table.into_iden(),
            RebuildProposals::Table.into_iden(),
            TrainSteps::Table.into_iden(),
            Trains::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        let drops: [(DynIden, DynIden); 6] = [
            (
                ImageVersions::Table.into_iden(),
                ImageVersions::BaseImageName.into_iden(),
            ),
            (
                ImageVersions::Table.into_iden(),
                ImageVersions::BaseImageId.into_iden(),
            ),
            (Tasks::Table.into_iden(), Tasks::ListingId.into_iden()),
            (Workflows::Table.into_iden(), Workflows::TrainId.into_iden()),
            (
                Listings::Table.into_iden(),
                Listings::PublishPolicy.into_iden(),
            ),
            (
                Products::Table.into_iden(),
                Products::BuildPolicy.into_iden(),
            ),
        ];
        crate::drop_columns(m, drops).await
    }
}
