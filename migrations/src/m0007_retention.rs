//! The public-image quota: the quota each region allows, a retention policy per product, and
//! the retention proposals (a dry-run list) Partnerships approves before images are retired.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Products {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ImageQuotas {
    Table,
    Region,
    Quota,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RetentionPolicies {
    Table,
    ProductId,
    KeepNewest,
    SupportDays,
    Action,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RetentionProposals {
    Table,
    Id,
    ProductId,
    Action,
    Items,
    Outcomes,
    State,
    ProposedBy,
    ProposedAt,
    DecidedBy,
    DecidedAt,
    Comment,
    JobId,
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
                .table(ImageQuotas::Table)
                .col(string(ImageQuotas::Region).primary_key())
                .col(integer(ImageQuotas::Quota))
                .col(string(ImageQuotas::UpdatedBy))
                .col(timestamp_with_time_zone(ImageQuotas::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RetentionPolicies::Table)
                .col(integer(RetentionPolicies::ProductId).primary_key())
                .col(integer(RetentionPolicies::KeepNewest))
                .col(integer(RetentionPolicies::SupportDays))
                .col(string(RetentionPolicies::Action))
                .col(string(RetentionPolicies::UpdatedBy))
                .col(timestamp_with_time_zone(RetentionPolicies::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_retention_policies_product")
                        .from(RetentionPolicies::Table, RetentionPolicies::ProductId)
                        .to(Products::Table, Products::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RetentionProposals::Table)
                .col(pk_auto(RetentionProposals::Id))
                .col(integer(RetentionProposals::ProductId))
                .col(string(RetentionProposals::Action))
                .col(text(RetentionProposals::Items))
                .col(text(RetentionProposals::Outcomes))
                .col(string(RetentionProposals::State))
                .col(string(RetentionProposals::ProposedBy))
                .col(timestamp_with_time_zone(RetentionProposals::ProposedAt))
                .col(string_null(RetentionProposals::DecidedBy))
                .col(timestamp_with_time_zone_null(RetentionProposals::DecidedAt))
                .col(text(RetentionProposals::Comment))
                .col(integer_null(RetentionProposals::JobId))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_retention_proposals_product")
                        .from(RetentionProposals::Table, RetentionProposals::ProductId)
                        .to(Products::Table, Products::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RetentionProposals::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(RetentionPolicies::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ImageQuotas::Table).to_owned())
            .await
    }
}
