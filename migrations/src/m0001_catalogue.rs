//! Users, sessions and the audit log; the catalogue of partners, products, releases,
//! image versions, listings and marketing assets.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Username,
    Name,
    Email,
    Blocked,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserRoles {
    Table,
    Id,
    UserId,
    Role,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Id,
    At,
    ActorId,
    Actor,
    Action,
    ObjectType,
    ObjectId,
    Summary,
    Before,
    After,
}

#[derive(DeriveIden, Clone, Copy)]
enum Partners {
    Table,
    Id,
    Slug,
    Name,
    Cloud,
    Status,
    PartnerDocsUrl,
    PartnershipDocUrl,
    Notes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PartnerAccounts {
    Table,
    Id,
    PartnerId,
    Label,
    AccountId,
    Notes,
}

#[derive(DeriveIden, Clone, Copy)]
enum PartnerContacts {
    Table,
    Id,
    PartnerId,
    Role,
    Name,
    Email,
}

#[derive(DeriveIden, Clone, Copy)]
enum Products {
    Table,
    Id,
    PartnerId,
    Slug,
    Name,
    Edition,
    Visibility,
    BaseImageOwner,
    BaseImageNamePattern,
    BuildRegion,
    TargetRegions,
    LicenseRequired,
    ListingEntityName,
    ListingEntityId,
    MaintenanceMode,
    RootVolumeGb,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProductArchitectures {
    Table,
    Id,
    ProductId,
    Arch,
    BuilderInstanceType,
    ImageNameTemplate,
    TypeTag,
}

#[derive(DeriveIden, Clone, Copy)]
enum Releases {
    Table,
    Id,
    Version,
    Major,
    Minor,
    Patch,
    Pre,
    ReleasedOn,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ImageVersions {
    Table,
    Id,
    ProductId,
    ReleaseId,
    Arch,
    Name,
    State,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ImageRegions {
    Table,
    Id,
    ImageVersionId,
    Region,
    ImageId,
    State,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Listings {
    Table,
    Id,
    ProductId,
    Marketplace,
    EntityType,
    EntityName,
    EntityId,
    Title,
    VersionLimit,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ListingVersions {
    Table,
    Id,
    ListingId,
    ReleaseId,
    Title,
    DeliveryOptionId,
    Visibility,
    PublishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Assets {
    Table,
    Id,
    PartnerId,
    ProductId,
    Kind,
    Title,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AssetVersions {
    Table,
    Id,
    AssetId,
    Version,
    StorageKey,
    ContentType,
    SizeBytes,
    Sha256,
    Filename,
    UploadedBy,
    CreatedAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_auto(Users::Id))
                .col(string_uniq(Users::Username))
                .col(string(Users::Name))
                .col(string(Users::Email))
                .col(boolean(Users::Blocked).default(false))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserRoles::Table)
                .col(pk_auto(UserRoles::Id))
                .col(integer(UserRoles::UserId))
                .col(string(UserRoles::Role))
                .foreign_key(&mut fk(
                    "fk_user_roles_user",
                    (UserRoles::Table, UserRoles::UserId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_user_roles",
            UserRoles::Table,
            &[UserRoles::UserId, UserRoles::Role],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(string(Sessions::Id).primary_key())
                .col(integer(Sessions::UserId))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                .foreign_key(&mut fk(
                    "fk_sessions_user",
                    (Sessions::Table, Sessions::UserId),
                    (Users::Table, Users::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(pk_auto(AuditEvents::Id))
                .col(timestamp_with_time_zone(AuditEvents::At))
                .col(integer_null(AuditEvents::ActorId))
                .col(string(AuditEvents::Actor))
                .col(string(AuditEvents::Action))
                .col(string(AuditEvents::ObjectType))
                .col(string(AuditEvents::ObjectId))
                .col(text(AuditEvents::Summary))
                .col(text_null(AuditEvents::Before))
                .col(text_null(AuditEvents::After))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_audit_object",
            AuditEvents::Table,
            &[AuditEvents::ObjectType, AuditEvents::ObjectId],
        )
        .await?;
        index(m, "ix_audit_at", AuditEvents::Table, &[AuditEvents::At]).await?;

        m.create_table(
            Table::create()
                .table(Partners::Table)
                .col(pk_auto(Partners::Id))
                .col(string_uniq(Partners::Slug))
                .col(string(Partners::Name))
                .col(string(Partners::Cloud))
                .col(string(Partners::Status))
                .col(string_null(Partners::PartnerDocsUrl))
                .col(string_null(Partners::PartnershipDocUrl))
                .col(text(Partners::Notes))
                .col(timestamp_with_time_zone(Partners::CreatedAt))
                .col(timestamp_with_time_zone(Partners::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PartnerAccounts::Table)
                .col(pk_auto(PartnerAccounts::Id))
                .col(integer(PartnerAccounts::PartnerId))
                .col(string(PartnerAccounts::Label))
                .col(string(PartnerAccounts::AccountId))
                .col(text(PartnerAccounts::Notes))
                .foreign_key(&mut fk(
                    "fk_partner_accounts_partner",
                    (PartnerAccounts::Table, PartnerAccounts::PartnerId),
                    (Partners::Table, Partners::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_partner_accounts_partner",
            PartnerAccounts::Table,
            &[PartnerAccounts::PartnerId],
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PartnerContacts::Table)
                .col(pk_auto(PartnerContacts::Id))
                .col(integer(PartnerContacts::PartnerId))
                .col(string(PartnerContacts::Role))
                .col(string(PartnerContacts::Name))
                .col(string(PartnerContacts::Email))
                .foreign_key(&mut fk(
                    "fk_partner_contacts_partner",
                    (PartnerContacts::Table, PartnerContacts::PartnerId),
                    (Partners::Table, Partners::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_partner_contacts_partner",
            PartnerContacts::Table,
            &[PartnerContacts::PartnerId],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Products::Table)
                .col(pk_auto(Products::Id))
                .col(integer(Products::PartnerId))
                .col(string(Products::Slug))
                .col(string(Products::Name))
                .col(string(Products::Edition))
                .col(string(Products::Visibility))
                .col(string(Products::BaseImageOwner))
                .col(string(Products::BaseImageNamePattern))
                .col(string(Products::BuildRegion))
                .col(text(Products::TargetRegions))
                .col(boolean(Products::LicenseRequired))
                .col(string_null(Products::ListingEntityName))
                .col(string_null(Products::ListingEntityId))
                .col(string(Products::MaintenanceMode))
                .col(integer(Products::RootVolumeGb))
                .col(text(Products::Description))
                .col(timestamp_with_time_zone(Products::CreatedAt))
                .col(timestamp_with_time_zone(Products::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_products_partner",
                    (Products::Table, Products::PartnerId),
                    (Partners::Table, Partners::Id),
                    Restrict,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_products_partner_slug",
            Products::Table,
            &[Products::PartnerId, Products::Slug],
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ProductArchitectures::Table)
                .col(pk_auto(ProductArchitectures::Id))
                .col(integer(ProductArchitectures::ProductId))
                .col(string(ProductArchitectures::Arch))
                .col(string(ProductArchitectures::BuilderInstanceType))
                .col(string(ProductArchitectures::ImageNameTemplate))
                .col(string(ProductArchitectures::TypeTag))
                .foreign_key(&mut fk(
                    "fk_product_architectures_product",
                    (ProductArchitectures::Table, ProductArchitectures::ProductId),
                    (Products::Table, Products::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_product_architectures",
            ProductArchitectures::Table,
            &[ProductArchitectures::ProductId, ProductArchitectures::Arch],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Releases::Table)
                .col(pk_auto(Releases::Id))
                .col(string_uniq(Releases::Version))
                .col(integer(Releases::Major))
                .col(integer(Releases::Minor))
                .col(integer(Releases::Patch))
                .col(string_null(Releases::Pre))
                .col(date(Releases::ReleasedOn))
                .col(string(Releases::Kind))
                .col(timestamp_with_time_zone(Releases::CreatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_releases_order",
            Releases::Table,
            &[Releases::Major, Releases::Minor, Releases::Patch],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ImageVersions::Table)
                .col(pk_auto(ImageVersions::Id))
                .col(integer(ImageVersions::ProductId))
                .col(integer(ImageVersions::ReleaseId))
                .col(string(ImageVersions::Arch))
                .col(string(ImageVersions::Name))
                .col(string(ImageVersions::State))
                .col(timestamp_with_time_zone(ImageVersions::CreatedAt))
                .col(timestamp_with_time_zone(ImageVersions::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_image_versions_product",
                    (ImageVersions::Table, ImageVersions::ProductId),
                    (Products::Table, Products::Id),
                    Restrict,
                ))
                .foreign_key(&mut fk(
                    "fk_image_versions_release",
                    (ImageVersions::Table, ImageVersions::ReleaseId),
                    (Releases::Table, Releases::Id),
                    Restrict,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_image_versions",
            ImageVersions::Table,
            &[
                ImageVersions::ProductId,
                ImageVersions::ReleaseId,
                ImageVersions::Arch,
            ],
        )
        .await?;
        index(
            m,
            "ix_image_versions_release",
            ImageVersions::Table,
            &[ImageVersions::ReleaseId],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ImageRegions::Table)
                .col(pk_auto(ImageRegions::Id))
                .col(integer(ImageRegions::ImageVersionId))
                .col(string(ImageRegions::Region))
                .col(string_null(ImageRegions::ImageId))
                .col(string(ImageRegions::State))
                .col(timestamp_with_time_zone(ImageRegions::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_image_regions_version",
                    (ImageRegions::Table, ImageRegions::ImageVersionId),
                    (ImageVersions::Table, ImageVersions::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_image_regions",
            ImageRegions::Table,
            &[ImageRegions::ImageVersionId, ImageRegions::Region],
        )
        .await?;
        index(
            m,
            "ix_image_regions_image_id",
            ImageRegions::Table,
            &[ImageRegions::ImageId],
        )
        .await?;
        index(
            m,
            "ix_image_regions_region_state",
            ImageRegions::Table,
            &[ImageRegions::Region, ImageRegions::State],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Listings::Table)
                .col(pk_auto(Listings::Id))
                .col(integer(Listings::ProductId))
                .col(string(Listings::Marketplace))
                .col(string(Listings::EntityType))
                .col(string(Listings::EntityName))
                .col(string_null(Listings::EntityId))
                .col(string(Listings::Title))
                .col(integer(Listings::VersionLimit))
                .col(timestamp_with_time_zone(Listings::CreatedAt))
                .col(timestamp_with_time_zone(Listings::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_listings_product",
                    (Listings::Table, Listings::ProductId),
                    (Products::Table, Products::Id),
                    Restrict,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_listings_product_marketplace",
            Listings::Table,
            &[Listings::ProductId, Listings::Marketplace],
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ListingVersions::Table)
                .col(pk_auto(ListingVersions::Id))
                .col(integer(ListingVersions::ListingId))
                .col(integer_null(ListingVersions::ReleaseId))
                .col(string(ListingVersions::Title))
                .col(string_null(ListingVersions::DeliveryOptionId))
                .col(string(ListingVersions::Visibility))
                .col(timestamp_with_time_zone(ListingVersions::PublishedAt))
                .foreign_key(&mut fk(
                    "fk_listing_versions_listing",
                    (ListingVersions::Table, ListingVersions::ListingId),
                    (Listings::Table, Listings::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_listing_versions_release",
                    (ListingVersions::Table, ListingVersions::ReleaseId),
                    (Releases::Table, Releases::Id),
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_listing_versions_title",
            ListingVersions::Table,
            &[ListingVersions::ListingId, ListingVersions::Title],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Assets::Table)
                .col(pk_auto(Assets::Id))
                .col(integer(Assets::PartnerId))
                .col(integer_null(Assets::ProductId))
                .col(string(Assets::Kind))
                .col(string(Assets::Title))
                .col(timestamp_with_time_zone(Assets::CreatedAt))
                .col(timestamp_with_time_zone(Assets::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_assets_partner",
                    (Assets::Table, Assets::PartnerId),
                    (Partners::Table, Partners::Id),
                    Restrict,
                ))
                .foreign_key(&mut fk(
                    "fk_assets_product",
                    (Assets::Table, Assets::ProductId),
                    (Products::Table, Products::Id),
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        index(m, "ix_assets_partner", Assets::Table, &[Assets::PartnerId]).await?;
        m.create_table(
            Table::create()
                .table(AssetVersions::Table)
                .col(pk_auto(AssetVersions::Id))
                .col(integer(AssetVersions::AssetId))
                .col(integer(AssetVersions::Version))
                .col(string(AssetVersions::StorageKey))
                .col(string(AssetVersions::ContentType))
                .col(big_integer(AssetVersions::SizeBytes))
                .col(string(AssetVersions::Sha256))
                .col(string(AssetVersions::Filename))
                .col(integer_null(AssetVersions::UploadedBy))
                .col(timestamp_with_time_zone(AssetVersions::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_asset_versions_asset",
                    (AssetVersions::Table, AssetVersions::AssetId),
                    (Assets::Table, Assets::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        unique_index(
            m,
            "ux_asset_versions",
            AssetVersions::Table,
            &[AssetVersions::AssetId, AssetVersions::Version],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AssetVersions::Table.into_iden(),
            Assets::Table.into_iden(),
            ListingVersions::Table.into_iden(),
            Listings::Table.into_iden(),
            ImageRegions::Table.into_iden(),
            ImageVersions::Table.into_iden(),
            Releases::Table.into_iden(),
            ProductArchitectures::Table.into_iden(),
            Products::Table.into_iden(),
            PartnerContacts::Table.into_iden(),
            PartnerAccounts::Table.into_iden(),
            Partners::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            Sessions::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn index<T: IntoIden + Copy + 'static>(
    m: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[T],
) -> Result<(), DbErr> {
    let mut stmt = Index::create().name(name).table(table).to_owned();
    for col in cols {
        stmt.col(*col);
    }
    m.create_index(stmt).await
}

async fn unique_index<T: IntoIden + Copy + 'static>(
    m: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[T],
) -> Result<(), DbErr> {
    let mut stmt = Index::create().name(name).table(table).unique().to_owned();
    for col in cols {
        stmt.col(*col);
    }
    m.create_index(stmt).await
}
