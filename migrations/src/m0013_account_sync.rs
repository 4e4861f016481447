//! The account as it is. The cloud sync reads the account's images per region
//! (`account_images`), each region's public-image quota from Service Quotas
//! (`account_regions`), and each listing's versions from the marketplace
//! (`account_listings`); what differs from the catalogue is a drift item (`drift_items`,
//! one per difference by `key`, open from when it was first seen until it is resolved).
//! Image versions and listing versions say where they came from (`source`), and the quotas
//! the seed copied from the simulated cloud's settings go: a row of `image_quotas` is now
//! only a quota set by hand, overriding the one Service Quotas reports.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ImageVersions {
    Table,
    Source,
}

#[derive(DeriveIden, Clone, Copy)]
enum ListingVersions {
    Table,
    Source,
}

#[derive(DeriveIden, Clone, Copy)]
enum ImageQuotas {
    Table,
    UpdatedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccountRegions {
    Table,
    Region,
    Quota,
    QuotaCheckedAt,
    QuotaError,
    ImagesSyncedAt,
    ImagesError,
    RecycleBinPublic,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccountImages {
    Table,
    Id,
    Region,
    ImageId,
    Name,
    Arch,
    State,
    Public,
    DeprecationTime,
    CreatedOn,
    Tags,
    Protected,
    Live,
    Source,
    ImageRegionId,
    ProductId,
    ReleaseId,
    FirstSeenAt,
    LastSeenAt,
    ChangedAt,
    GoneAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AccountListings {
    Table,
    ListingId,
    EntityId,
    PublicVersions,
    TotalVersions,
    SyncedAt,
    Error,
}

#[derive(DeriveIden, Clone, Copy)]
enum DriftItems {
    Table,
    Id,
    Key,
    Kind,
    State,
    Summary,
    CatalogueValue,
    AccountValue,
    Region,
    ImageId,
    ProductId,
    ListingId,
    ImageRegionId,
    ListingVersionId,
    AccountImageId,
    Since,
    LastSeenAt,
    ResolvedAt,
    ResolvedBy,
    Resolution,
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let alters: [(DynIden, ColumnDef); 2] = [
            (
                ImageVersions::Table.into_iden(),
                string(ImageVersions::Source).default("portal").to_owned(),
            ),
            (
                ListingVersions::Table.into_iden(),
                string(ListingVersions::Source).default("portal").to_owned(),
            ),
        ];
        crate::add_columns(m, alters).await?;
        // Quotas the seed copied from the simulated cloud: Service Quotas answers for them now.
        m.exec_stmt(
            Query::delete()
                .from_table(ImageQuotas::Table)
                .and_where(Expr::col(ImageQuotas::UpdatedBy).eq("seed"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccountRegions::Table)
                .col(string(AccountRegions::Region).primary_key())
                .col(integer_null(AccountRegions::Quota))
                .col(timestamp_with_time_zone_null(
                    AccountRegions::QuotaCheckedAt,
                ))
                .col(text_null(AccountRegions::QuotaError))
                .col(timestamp_with_time_zone_null(
                    AccountRegions::ImagesSyncedAt,
                ))
                .col(text_null(AccountRegions::ImagesError))
                .col(integer(AccountRegions::RecycleBinPublic).default(0))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccountImages::Table)
                .col(pk_auto(AccountImages::Id))
                .col(string(AccountImages::Region))
                .col(string(AccountImages::ImageId))
                .col(string(AccountImages::Name))
                .col(string(AccountImages::Arch))
                .col(string(AccountImages::State))
                .col(boolean(AccountImages::Public))
                .col(timestamp_with_time_zone_null(
                    AccountImages::DeprecationTime,
                ))
                .col(timestamp_with_time_zone_null(AccountImages::CreatedOn))
                .col(text(AccountImages::Tags))
                .col(boolean(AccountImages::Protected))
                .col(boolean(AccountImages::Live))
                .col(string(AccountImages::Source))
                .col(integer_null(AccountImages::ImageRegionId))
                .col(integer_null(AccountImages::ProductId))
                .col(integer_null(AccountImages::ReleaseId))
                .col(timestamp_with_time_zone(AccountImages::FirstSeenAt))
                .col(timestamp_with_time_zone(AccountImages::LastSeenAt))
                .col(timestamp_with_time_zone(AccountImages::ChangedAt))
                .col(timestamp_with_time_zone_null(AccountImages::GoneAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_account_images_region_image")
                .table(AccountImages::Table)
                .col(AccountImages::Region)
                .col(AccountImages::ImageId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AccountListings::Table)
                .col(integer(AccountListings::ListingId).primary_key())
                .col(string(AccountListings::EntityId))
                .col(integer(AccountListings::PublicVersions))
                .col(integer(AccountListings::TotalVersions))
                .col(timestamp_with_time_zone_null(AccountListings::SyncedAt))
                .col(text_null(AccountListings::Error))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DriftItems::Table)
                .col(pk_auto(DriftItems::Id))
                .col(string(DriftItems::Key).unique_key())
                .col(string(DriftItems::Kind))
                .col(string(DriftItems::State))
                .col(text(DriftItems::Summary))
                .col(text(DriftItems::CatalogueValue))
                .col(text(DriftItems::AccountValue))
                .col(string_null(DriftItems::Region))
                .col(string_null(DriftItems::ImageId))
                .col(integer_null(DriftItems::ProductId))
                .col(integer_null(DriftItems::ListingId))
                .col(integer_null(DriftItems::ImageRegionId))
                .col(integer_null(DriftItems::ListingVersionId))
                .col(integer_null(DriftItems::AccountImageId))
                .col(timestamp_with_time_zone(DriftItems::Since))
                .col(timestamp_with_time_zone(DriftItems::LastSeenAt))
                .col(timestamp_with_time_zone_null(DriftItems::ResolvedAt))
                .col(string_null(DriftItems::ResolvedBy))
                .col(text_null(DriftItems::Resolution))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_drift_items_state")
                .table(DriftItems::Table)
                .col(DriftItems::State)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DriftItems::Table.into_iden(),
            AccountListings::Table.into_iden(),
            AccountImages::Table.into_iden(),
            AccountRegions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        let drops: [(DynIden, DynIden); 2] = [
            (
                ListingVersions::Table.into_iden(),
                ListingVersions::Source.into_iden(),
            ),
            (
                ImageVersions::Table.into_iden(),
                ImageVersions::Source.into_iden(),
            ),
        ];
        crate::drop_columns(m, drops).await
    }
}
