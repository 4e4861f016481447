//! Publishing policy of a listing: whether a release that is not the newest stable one (a
//! backport patch) publishes a marketplace version.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Listings {
    Table,
    PublishBackports,
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Listings::Table)
                .add_column(boolean(Listings::PublishBackports).default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Listings::Table)
                .drop_column(Listings::PublishBackports)
                .to_owned(),
        )
        .await
    }
}
