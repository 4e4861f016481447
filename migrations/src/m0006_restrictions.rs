//! The 100-version limit: a listing's threshold for proposing restrictions and how recent a
//! version must be to be kept, and the proposals Partnerships approves before the oldest
//! public versions are restricted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Listings {
    Table,
    Id,
    RestrictThreshold,
    KeepRecentDays,
}

#[derive(DeriveIden, Clone, Copy)]
enum RestrictionProposals {
    Table,
    Id,
    ListingId,
    VersionIds,
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
        m.alter_table(
            Table::alter()
                .table(Listings::Table)
                .add_column(integer(Listings::RestrictThreshold).default(90))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Listings::Table)
                .add_column(integer(Listings::KeepRecentDays).default(30))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RestrictionProposals::Table)
                .col(pk_auto(RestrictionProposals::Id))
                .col(integer(RestrictionProposals::ListingId))
                .col(text(RestrictionProposals::VersionIds))
                .col(string(RestrictionProposals::State))
                .col(string(RestrictionProposals::ProposedBy))
                .col(timestamp_with_time_zone(RestrictionProposals::ProposedAt))
                .col(string_null(RestrictionProposals::DecidedBy))
                .col(timestamp_with_time_zone_null(
                    RestrictionProposals::DecidedAt,
                ))
                .col(text(RestrictionProposals::Comment))
                .col(integer_null(RestrictionProposals::JobId))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_restriction_proposals_listing")
                        .from(RestrictionProposals::Table, RestrictionProposals::ListingId)
                        .to(Listings::Table, Listings::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RestrictionProposals::Table).to_owned())
            .await?;
        for col in [Listings::RestrictThreshold, Listings::KeepRecentDays] {
            m.alter_table(
                Table::alter()
                    .table(Listings::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
