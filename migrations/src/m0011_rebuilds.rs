//! Rebuilds: a release × product × architecture may have several images over time (a
//! security rebuild, a new base image). Each image version is numbered (`rebuild`: 1 for
//! the first image, 2 for the first rebuild, …) and unique by that number; the one a newer
//! image replaced says by which and when (`superseded_by`, `superseded_at`); a rebuild
//! keeps why it was made (`rebuild_reason`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ImageVersions {
    Table,
    ProductId,
    ReleaseId,
    Arch,
    Rebuild,
    SupersededBy,
    SupersededAt,
    RebuildReason,
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            integer(ImageVersions::Rebuild).default(1).to_owned(),
            integer_null(ImageVersions::SupersededBy),
            timestamp_with_time_zone_null(ImageVersions::SupersededAt),
            string_null(ImageVersions::RebuildReason),
        ] {
            m.alter_table(
                Table::alter()
                    .table(ImageVersions::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.drop_index(
            Index::drop()
                .name("ux_image_versions")
                .table(ImageVersions::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_image_versions_rebuild")
                .table(ImageVersions::Table)
                .col(ImageVersions::ProductId)
                .col(ImageVersions::ReleaseId)
                .col(ImageVersions::Arch)
                .col(ImageVersions::Rebuild)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Only the newest image of each release × product × architecture can stay.
        m.get_connection()
            .execute_unprepared(
                "DELETE FROM image_regions WHERE image_version_id IN \
                 (SELECT id FROM image_versions WHERE superseded_by IS NOT NULL)",
            )
            .await?;
        m.get_connection()
            .execute_unprepared("DELETE FROM image_versions WHERE superseded_by IS NOT NULL")
            .await?;
        m.drop_index(
            Index::drop()
                .name("ux_image_versions_rebuild")
                .table(ImageVersions::Table)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_image_versions")
                .table(ImageVersions::Table)
                .col(ImageVersions::ProductId)
                .col(ImageVersions::ReleaseId)
                .col(ImageVersions::Arch)
                .unique()
                .to_owned(),
        )
        .await?;
        for column in [
            ImageVersions::RebuildReason,
            ImageVersions::SupersededAt,
            ImageVersions::SupersededBy,
            ImageVersions::Rebuild,
        ] {
            m.alter_table(
                Table::alter()
                    .table(ImageVersions::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
