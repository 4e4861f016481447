//! Listing content end to end. Assets carry what marketing makes besides pictures (a
//! video's or a post's link, a post's or quote's text, a quote's attribution and whether the
//! customer agreed) and are linked to listings and workflow tasks (`asset_links`). Copy
//! revisions hold AWS's whole UpdateInformation (search keywords, SKU, support description,
//! the logo asset version, a video URL, additional resources). A listing records the copy
//! that is live on AWS. A product says how its versions are delivered (instance type,
//! security groups, operating system, user name). A listing version says its architecture,
//! and a release its notes link.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AssetVersions {
    Table,
    Link,
    Body,
    Attribution,
    CustomerAgreed,
}

#[derive(DeriveIden, Clone, Copy)]
enum AssetLinks {
    Table,
    Id,
    AssetId,
    ListingId,
    TaskId,
    LinkedBy,
    LinkedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CopyRevisions {
    Table,
    SearchKeywords,
    Sku,
    SupportDescription,
    LogoAssetId,
    LogoVersion,
    VideoUrl,
    AdditionalResources,
}

#[derive(DeriveIden, Clone, Copy)]
enum Listings {
    Table,
    LiveCopyRevisionId,
    LiveCopy,
    LiveCopyAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Products {
    Table,
    RecommendedInstanceType,
    OsName,
    OsVersion,
    AmiUserName,
    SecurityGroups,
}

#[derive(DeriveIden, Clone, Copy)]
enum ListingVersions {
    Table,
    Arch,
}

#[derive(DeriveIden, Clone, Copy)]
enum Releases {
    Table,
    NotesUrl,
}

/// SSH, HTTP and HTTPS from anywhere, as GitLab's listings have them today.
const SECURITY_GROUPS: &str = r#"[{"protocol":"tcp","from_port":22,"to_port":22,"cidr":"0.0.0.0/0"},{"protocol":"tcp","from_port":80,"to_port":80,"cidr":"0.0.0.0/0"},{"protocol":"tcp","from_port":443,"to_port":443,"cidr":"0.0.0.0/0"}]"#;

fn columns() -> Vec<(DynIden, ColumnDef)> {
    let av = || AssetVersions::Table.into_iden();
    let cr = || CopyRevisions::Table.into_iden();
    let li = || Listings::Table.into_iden();
    let pr = || Products::Table.into_iden();
    vec![
        (av(), string_null(AssetVersions::Link).to_owned()),
        (av(), text_null(AssetVersions::Body).to_owned()),
        (av(), string_null(AssetVersions::Attribution).to_owned()),
        (
            av(),
            boolean(AssetVersions::CustomerAgreed)
                .default(false)
                .to_owned(),
        ),
        (
            cr(),
            text(CopyRevisions::SearchKeywords).default("[]").to_owned(),
        ),
        (cr(), string(CopyRevisions::Sku).default("").to_owned()),
        (
            cr(),
            text(CopyRevisions::SupportDescription)
                .default("")
                .to_owned(),
        ),
        (cr(), integer_null(CopyRevisions::LogoAssetId).to_owned()),
        (cr(), integer_null(CopyRevisions::LogoVersion).to_owned()),
        (cr(), string(CopyRevisions::VideoUrl).default("").to_owned()),
        (
            cr(),
            text(CopyRevisions::AdditionalResources)
                .default("[]")
                .to_owned(),
        ),
        (li(), integer_null(Listings::LiveCopyRevisionId).to_owned()),
        (li(), text_null(Listings::LiveCopy).to_owned()),
        (
            li(),
            timestamp_with_time_zone_null(Listings::LiveCopyAt).to_owned(),
        ),
        (
            pr(),
            string(Products::RecommendedInstanceType)
                .default("c5.2xlarge")
                .to_owned(),
        ),
        (pr(), string(Products::OsName).default("UBUNTU").to_owned()),
        (
            pr(),
            string(Products::OsVersion).default("24.04").to_owned(),
        ),
        (
            pr(),
            string(Products::AmiUserName).default("ubuntu").to_owned(),
        ),
        (
            pr(),
            text(Products::SecurityGroups)
                .default(SECURITY_GROUPS)
                .to_owned(),
        ),
        (
            ListingVersions::Table.into_iden(),
            string_null(ListingVersions::Arch).to_owned(),
        ),
        (
            Releases::Table.into_iden(),
            string_null(Releases::NotesUrl).to_owned(),
        ),
    ]
}

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::add_columns(m, columns()).await?;
        m.create_table(
            Table::create()
                .table(AssetLinks::Table)
                .col(pk_auto(AssetLinks::Id))
                .col(integer(AssetLinks::AssetId))
                .col(integer_null(AssetLinks::ListingId))
                .col(integer_null(AssetLinks::TaskId))
                .col(string(AssetLinks::LinkedBy))
                .col(timestamp_with_time_zone(AssetLinks::LinkedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_asset_links_asset")
                        .from(AssetLinks::Table, AssetLinks::AssetId)
                        .to(Alias::new("assets"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_asset_links_listing")
                        .from(AssetLinks::Table, AssetLinks::ListingId)
                        .to(Alias::new("listings"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_asset_links_task")
                        .from(AssetLinks::Table, AssetLinks::TaskId)
                        .to(Alias::new("tasks"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, column) in [
            ("ux_asset_links_listing", AssetLinks::ListingId),
            ("ux_asset_links_task", AssetLinks::TaskId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AssetLinks::Table)
                    .col(AssetLinks::AssetId)
                    .col(column)
                    .unique()
                    .to_owned(),
            )
            .await?;
        }
        for (name, column) in [
            ("ix_asset_links_by_listing", AssetLinks::ListingId),
            ("ix_asset_links_by_task", AssetLinks::TaskId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AssetLinks::Table)
                    .col(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AssetLinks::Table).to_owned())
            .await?;
        let drops: Vec<(DynIden, DynIden)> = columns()
            .into_iter()
            .map(|(table, column)| (table, Alias::new(column.get_column_name()).into_iden()))
            .collect();
        crate::drop_columns(m, drops).await
    }
}
