//! Secrets (license files, later tokens and keys), encrypted at rest.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Secrets {
    Table,
    Id,
    Name,
    Nonce,
    Ciphertext,
    UpdatedAt,
    UpdatedBy,
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
                .table(Secrets::Table)
                .col(pk_auto(Secrets::Id))
                .col(string_uniq(Secrets::Name))
                .col(string(Secrets::Nonce))
                .col(text(Secrets::Ciphertext))
                .col(timestamp_with_time_zone(Secrets::UpdatedAt))
                .col(string(Secrets::UpdatedBy))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Secrets::Table).to_owned())
            .await
    }
}
