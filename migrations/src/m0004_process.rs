//! The process: workflows (first-time images and release maintenance) with their stages,
//! tasks, comments and sign-offs; holidays for the business-day clock; listing copy with
//! its revisions and reviews; notifications, outbound webhooks and received release events.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Workflows {
    Table,
    Id,
    Kind,
    Title,
    PartnerId,
    ProductId,
    ReleaseId,
    Security,
    State,
    ReleasedOn,
    DueOn,
    SlaNotified,
    CompletedAt,
    LaunchedAt,
    LaunchedBy,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WorkflowStages {
    Table,
    Id,
    WorkflowId,
    Position,
    Key,
    Name,
    Team,
    DependsOn,
    CompletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    WorkflowId,
    StageId,
    Position,
    Title,
    Description,
    Team,
    Required,
    State,
    AssigneeId,
    DueOn,
    ResponseDueOn,
    EscalatedAt,
    Links,
    JobId,
    Arch,
    CompletedAt,
    CompletedBy,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TaskComments {
    Table,
    Id,
    TaskId,
    AuthorId,
    Author,
    Body,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Signoffs {
    Table,
    Id,
    WorkflowId,
    Team,
    UserId,
    Username,
    Comment,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum Holidays {
    Table,
    Id,
    Day,
    Name,
}

#[derive(DeriveIden, Clone, Copy)]
enum CopyRevisions {
    Table,
    Id,
    ListingId,
    Number,
    Title,
    ShortDescription,
    LongDescription,
    Highlights,
    UsageInstructions,
    ReleaseNotesTemplate,
    Categories,
    AuthorId,
    Author,
    CreatedAt,
    State,
    PublishMarkedAt,
    PublishMarkedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum CopyReviews {
    Table,
    Id,
    RevisionId,
    Stage,
    Decision,
    UserId,
    Username,
    Comment,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    Title,
    Body,
    Link,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Webhooks {
    Table,
    Id,
    Name,
    Url,
    Events,
    Active,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum InboundEvents {
    Table,
    Id,
    Source,
    DeliveryId,
    Summary,
    ReceivedAt,
}

/// A foreign key from `table.column` to `target.id` of a table created earlier.
fn fk(
    name: &str,
    table: impl IntoIden + Copy,
    column: impl IntoIden,
    target: &str,
    cascade: bool,
) -> ForeignKeyCreateStatement {
    let mut key = ForeignKey::create();
    key.name(name)
        .from(table, column)
        .to(Alias::new(target), Alias::new("id"))
        .on_delete(if cascade {
            ForeignKeyAction::Cascade
        } else {
            ForeignKeyAction::Restrict
        });
    key
}

async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(Alias::new(*c));
    }
    if unique {
        idx.unique();
    }
    m.create_index(idx.to_owned()).await
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
                .table(Workflows::Table)
                .col(pk_auto(Workflows::Id))
                .col(string(Workflows::Kind))
                .col(string(Workflows::Title))
                .col(integer(Workflows::PartnerId))
                .col(integer_null(Workflows::ProductId))
                .col(integer_null(Workflows::ReleaseId))
                .col(boolean(Workflows::Security))
                .col(string(Workflows::State))
                .col(date_null(Workflows::ReleasedOn))
                .col(date_null(Workflows::DueOn))
                .col(string(Workflows::SlaNotified))
                .col(timestamp_with_time_zone_null(Workflows::CompletedAt))
                .col(timestamp_with_time_zone_null(Workflows::LaunchedAt))
                .col(string_null(Workflows::LaunchedBy))
                .col(string(Workflows::CreatedBy))
                .col(timestamp_with_time_zone(Workflows::CreatedAt))
                .col(timestamp_with_time_zone(Workflows::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_workflows_partner",
                    Workflows::Table,
                    Workflows::PartnerId,
                    "partners",
                    false,
                ))
                .foreign_key(&mut fk(
                    "fk_workflows_product",
                    Workflows::Table,
                    Workflows::ProductId,
                    "products",
                    false,
                ))
                .foreign_key(&mut fk(
                    "fk_workflows_release",
                    Workflows::Table,
                    Workflows::ReleaseId,
                    "releases",
                    false,
                ))
                .to_owned(),
        )
        .await?;
        // One maintenance run per product and release; NULLs (first-time images) never clash.
        index(
            m,
            "ux_workflows_product_release",
            Workflows::Table,
            &["product_id", "release_id"],
            true,
        )
        .await?;
        index(
            m,
            "ix_workflows_state",
            Workflows::Table,
            &["state", "kind"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WorkflowStages::Table)
                .col(pk_auto(WorkflowStages::Id))
                .col(integer(WorkflowStages::WorkflowId))
                .col(integer(WorkflowStages::Position))
                .col(string(WorkflowStages::Key))
                .col(string(WorkflowStages::Name))
                .col(string(WorkflowStages::Team))
                .col(string(WorkflowStages::DependsOn))
                .col(timestamp_with_time_zone_null(WorkflowStages::CompletedAt))
                .foreign_key(&mut fk(
                    "fk_stages_workflow",
                    WorkflowStages::Table,
                    WorkflowStages::WorkflowId,
                    "workflows",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_stages_workflow_key",
            WorkflowStages::Table,
            &["workflow_id", "key"],
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(pk_auto(Tasks::Id))
                .col(integer(Tasks::WorkflowId))
                .col(integer(Tasks::StageId))
                .col(integer(Tasks::Position))
                .col(string(Tasks::Title))
                .col(text(Tasks::Description))
                .col(string(Tasks::Team))
                .col(boolean(Tasks::Required))
                .col(string(Tasks::State))
                .col(integer_null(Tasks::AssigneeId))
                .col(date_null(Tasks::DueOn))
                .col(date_null(Tasks::ResponseDueOn))
                .col(timestamp_with_time_zone_null(Tasks::EscalatedAt))
                .col(text(Tasks::Links))
                .col(integer_null(Tasks::JobId))
                .col(string_null(Tasks::Arch))
                .col(timestamp_with_time_zone_null(Tasks::CompletedAt))
                .col(string_null(Tasks::CompletedBy))
                .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_tasks_workflow",
                    Tasks::Table,
                    Tasks::WorkflowId,
                    "workflows",
                    true,
                ))
                .foreign_key(&mut fk(
                    "fk_tasks_stage",
                    Tasks::Table,
                    Tasks::StageId,
                    "workflow_stages",
                    true,
                ))
                .foreign_key(&mut fk(
                    "fk_tasks_assignee",
                    Tasks::Table,
                    Tasks::AssigneeId,
                    "users",
                    false,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_tasks_workflow",
            Tasks::Table,
            &["workflow_id", "position"],
            false,
        )
        .await?;
        index(
            m,
            "ix_tasks_state",
            Tasks::Table,
            &["state", "response_due_on"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TaskComments::Table)
                .col(pk_auto(TaskComments::Id))
                .col(integer(TaskComments::TaskId))
                .col(integer(TaskComments::AuthorId))
                .col(string(TaskComments::Author))
                .col(text(TaskComments::Body))
                .col(timestamp_with_time_zone(TaskComments::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_task_comments_task",
                    TaskComments::Table,
                    TaskComments::TaskId,
                    "tasks",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_task_comments_task",
            TaskComments::Table,
            &["task_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Signoffs::Table)
                .col(pk_auto(Signoffs::Id))
                .col(integer(Signoffs::WorkflowId))
                .col(string(Signoffs::Team))
                .col(integer(Signoffs::UserId))
                .col(string(Signoffs::Username))
                .col(text(Signoffs::Comment))
                .col(timestamp_with_time_zone(Signoffs::At))
                .foreign_key(&mut fk(
                    "fk_signoffs_workflow",
                    Signoffs::Table,
                    Signoffs::WorkflowId,
                    "workflows",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_signoffs_workflow_team",
            Signoffs::Table,
            &["workflow_id", "team"],
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Holidays::Table)
                .col(pk_auto(Holidays::Id))
                .col(date_uniq(Holidays::Day))
                .col(string(Holidays::Name))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CopyRevisions::Table)
                .col(pk_auto(CopyRevisions::Id))
                .col(integer(CopyRevisions::ListingId))
                .col(integer(CopyRevisions::Number))
                .col(string(CopyRevisions::Title))
                .col(text(CopyRevisions::ShortDescription))
                .col(text(CopyRevisions::LongDescription))
                .col(text(CopyRevisions::Highlights))
                .col(text(CopyRevisions::UsageInstructions))
                .col(text(CopyRevisions::ReleaseNotesTemplate))
                .col(text(CopyRevisions::Categories))
                .col(integer(CopyRevisions::AuthorId))
                .col(string(CopyRevisions::Author))
                .col(timestamp_with_time_zone(CopyRevisions::CreatedAt))
                .col(string(CopyRevisions::State))
                .col(timestamp_with_time_zone_null(
                    CopyRevisions::PublishMarkedAt,
                ))
                .col(string_null(CopyRevisions::PublishMarkedBy))
                .foreign_key(&mut fk(
                    "fk_copy_revisions_listing",
                    CopyRevisions::Table,
                    CopyRevisions::ListingId,
                    "listings",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        // Two saves on top of the same revision race for the same number: one loses.
        index(
            m,
            "ux_copy_revisions_number",
            CopyRevisions::Table,
            &["listing_id", "number"],
            true,
        )
        .await?;
        index(
            m,
            "ix_copy_revisions_state",
            CopyRevisions::Table,
            &["state"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CopyReviews::Table)
                .col(pk_auto(CopyReviews::Id))
                .col(integer(CopyReviews::RevisionId))
                .col(string(CopyReviews::Stage))
                .col(string(CopyReviews::Decision))
                .col(integer(CopyReviews::UserId))
                .col(string(CopyReviews::Username))
                .col(text(CopyReviews::Comment))
                .col(timestamp_with_time_zone(CopyReviews::At))
                .foreign_key(&mut fk(
                    "fk_copy_reviews_revision",
                    CopyReviews::Table,
                    CopyReviews::RevisionId,
                    "copy_revisions",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_copy_reviews_revision",
            CopyReviews::Table,
            &["revision_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .col(pk_auto(Notifications::Id))
                .col(integer(Notifications::UserId))
                .col(string(Notifications::Kind))
                .col(string(Notifications::Title))
                .col(text(Notifications::Body))
                .col(string(Notifications::Link))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                .foreign_key(&mut fk(
                    "fk_notifications_user",
                    Notifications::Table,
                    Notifications::UserId,
                    "users",
                    true,
                ))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ix_notifications_user",
            Notifications::Table,
            &["user_id", "read_at"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Webhooks::Table)
                .col(pk_auto(Webhooks::Id))
                .col(string(Webhooks::Name))
                .col(string(Webhooks::Url))
                .col(text(Webhooks::Events))
                .col(boolean(Webhooks::Active))
                .col(string(Webhooks::CreatedBy))
                .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(InboundEvents::Table)
                .col(pk_auto(InboundEvents::Id))
                .col(string(InboundEvents::Source))
                .col(string(InboundEvents::DeliveryId))
                .col(text(InboundEvents::Summary))
                .col(timestamp_with_time_zone(InboundEvents::ReceivedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ux_inbound_events_delivery",
            InboundEvents::Table,
            &["source", "delivery_id"],
            true,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "inbound_events",
            "webhooks",
            "notifications",
            "copy_reviews",
            "copy_revisions",
            "holidays",
            "signoffs",
            "task_comments",
            "tasks",
            "workflow_stages",
            "workflows",
        ] {
            m.drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
