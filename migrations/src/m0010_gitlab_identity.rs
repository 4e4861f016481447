//! GitLab identity: people who sign in with GitLab are keyed by GitLab's user id (the `sub`
//! claim), not by their username, which they may change and someone else may take later.
//! Each such account keeps GitLab's refresh token (sealed with the portal's secret key),
//! until when GitLab last confirmed its state and groups, and the lease of the sweep that
//! is checking it again. The portal's own accounts (its system user, the development users)
//! are marked as such; an account that is neither (one from before this migration) may act
//! only once its owner has signed in with GitLab again. A sign-in attempt also remembers
//! (hashed) the cookie of the browser that started it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    GitlabId,
    LocalAccount,
    GitlabRefreshToken,
    GitlabValidUntil,
    GitlabRecheckLease,
}

#[derive(DeriveIden, Clone, Copy)]
enum SignInAttempts {
    Table,
    BrowserHash,
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
            string_null(Users::GitlabId),
            boolean(Users::LocalAccount).default(false).to_owned(),
            text_null(Users::GitlabRefreshToken),
            timestamp_with_time_zone_null(Users::GitlabValidUntil),
            timestamp_with_time_zone_null(Users::GitlabRecheckLease),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ux_users_gitlab_id")
                .table(Users::Table)
                .col(Users::GitlabId)
                .unique()
                .to_owned(),
        )
        .await?;
        // The system user is the portal's own account.
        m.get_connection()
            .execute_unprepared("UPDATE users SET local_account = TRUE WHERE username = 'portal'")
            .await?;
        m.alter_table(
            Table::alter()
                .table(SignInAttempts::Table)
                .add_column(string_null(SignInAttempts::BrowserHash))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SignInAttempts::Table)
                .drop_column(SignInAttempts::BrowserHash)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ux_users_gitlab_id")
                .table(Users::Table)
                .to_owned(),
        )
        .await?;
        for column in [
            Users::GitlabRecheckLease,
            Users::GitlabValidUntil,
            Users::GitlabRefreshToken,
            Users::LocalAccount,
            Users::GitlabId,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
