//! GitLab sign-in attempts in flight: the `state` (hashed), the nonce and PKCE verifier the
//! callback checks, and where to go afterwards. Each is used once and lives 10 minutes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum SignInAttempts {
    Table,
    StateHash,
    Nonce,
    PkceVerifier,
    Next,
    CreatedAt,
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
                .table(SignInAttempts::Table)
                .col(string(SignInAttempts::StateHash).primary_key())
                .col(string(SignInAttempts::Nonce))
                .col(string(SignInAttempts::PkceVerifier))
                .col(text(SignInAttempts::Next))
                .col(timestamp_with_time_zone(SignInAttempts::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SignInAttempts::Table).to_owned())
            .await
    }
}
