//! Database schema of the Partner Image Portal, as ordered sea-orm migrations that run
//! unchanged on SQLite (the embedded default) and PostgreSQL (production).

pub use sea_orm_migration::prelude::*;

mod m0001_catalogue;
mod m0002_jobs;
mod m0003_secrets;
mod m0004_process;
mod m0005_publishing;
mod m0006_restrictions;
mod m0007_retention;
mod m0008_api_tokens;
mod m0009_sign_in_attempts;
mod m0010_gitlab_identity;
mod m0011_rebuilds;
mod m0012_release_train;
mod m0013_account_sync;
mod m0014_listing_content;

/// Every migration, oldest first. The server applies pending ones at start.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_catalogue::Migration),
            Box::new(m0002_jobs::Migration),
            Box::new(m0003_secrets::Migration),
            Box::new(m0004_process::Migration),
            Box::new(m0005_publishing::Migration),
            Box::new(m0006_restrictions::Migration),
            Box::new(m0007_retention::Migration),
            Box::new(m0008_api_tokens::Migration),
            Box::new(m0009_sign_in_attempts::Migration),
            Box::new(m0010_gitlab_identity::Migration),
            Box::new(m0011_rebuilds::Migration),
            Box::new(m0012_release_train::Migration),
            Box::new(m0013_account_sync::Migration),
            Box::new(m0014_listing_content::Migration),
        ]
    }
}

/// Adds each column to its table, one statement each (SQLite alters one column at a time).
async fn add_columns(
    m: &SchemaManager<'_>,
    columns: impl IntoIterator<Item = (DynIden, ColumnDef)>,
) -> Result<(), DbErr> {
    for (table, mut column) in columns {
        m.alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// Drops each column from its table, one statement each.
async fn drop_columns(
    m: &SchemaManager<'_>,
    columns: impl IntoIterator<Item = (DynIden, DynIden)>,
) -> Result<(), DbErr> {
    for (table, column) in columns {
        m.alter_table(Table::alter().table(table).drop_column(column).to_owned())
            .await?;
    }
    Ok(())
}
