//! The seeded catalogue: GitLab's real cloud partners, products and listings (from the
//! release tooling: names, tags, regions, builder types, base image filter), development
//! users, and — for the simulated cloud only — a few past releases with their images so
//! no page starts empty. Every part is idempotent: it only adds what is missing.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, TransactionTrait};
use sha2::{Digest, Sha256};

use super::{entities::partner, images, listings, partners, process, products, users};
use crate::{
    domain::*,
    dto::*,
    error::{AppError, AppResult, ErrorCode},
};

/// Canonical's AWS account, owner of the Ubuntu base images.
pub const CANONICAL_OWNER: &str = products::CANONICAL_ACCOUNT;
/// The AWS account GitLab's community images are published from.
pub const GITLAB_AWS_ACCOUNT: &str = "782774275127";
/// Ubuntu 24.04 server images, per architecture.
pub const UBUNTU_NOBLE_PATTERN: &str = "ubuntu/images/*ubuntu-noble-24.04-{arch}-server-*";
/// Where images are built.
pub const BUILD_REGION: &str = "us-east-1";

/// Development users, one per team, offered by the development sign-in.
pub const DEV_USERS: &[(&str, &str, &[Role])] = &[
    ("priya", "Priya Patel", &[Role::Partnerships]),
    ("oskar", "Oskar Novak", &[Role::Omnibus]),
    ("maya", "Maya Chen", &[Role::Marketing]),
    ("alex", "Alex Rivera", &[Role::Admin]),
    ("vic", "Vic Viewer", &[Role::Viewer]),
];

/// What a seed run added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub users: usize,
    pub partners: usize,
    pub releases: usize,
    pub image_versions: usize,
    /// Listings given GitLab's approved copy.
    pub copy: usize,
}

/// Creates the development users (or refreshes their roles).
pub async fn dev_users(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<usize> {
    for (username, name, roles) in DEV_USERS {
        users::upsert(
            db,
            now,
            username,
            name,
            &format!("{username}@gitlab.example.com"),
            roles,
        )
        .await?;
    }
    Ok(DEV_USERS.len())
}

fn arch_input(arch: Arch, template: &str, type_tag: &str) -> ProductArchitectureInput {
    ProductArchitectureInput {
        arch: arch.as_str().into(),
        builder_instance_type: match arch {
            Arch::Amd64 => "m3.medium",
            Arch::Arm64 => "m6g.medium",
        }
        .into(),
        image_name_template: template.into(),
        type_tag: type_tag.into(),
    }
}

fn aws_product(
    slug: &str,
    name: &str,
    edition: Edition,
    archs: Vec<ProductArchitectureInput>,
    listing: Option<&str>,
    description: &str,
) -> ProductInput {
    let private = listing.is_some();
    ProductInput {
        partner: "aws".into(),
        slug: slug.into(),
        name: name.into(),
        edition: edition.as_str().into(),
        visibility: if private {
            Visibility::Private
        } else {
            Visibility::Public
        }
        .as_str()
        .into(),
        architectures: archs,
        base_image_owner: CANONICAL_OWNER.into(),
        base_image_name_pattern: UBUNTU_NOBLE_PATTERN.into(),
        build_region: BUILD_REGION.into(),
        target_regions: GITLAB_AWS_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        license_required: private,
        listing_entity_name: listing.unwrap_or_default().into(),
        listing_entity_id: String::new(),
        maintenance_mode: MaintenanceMode::Image.as_str().into(),
        root_volume_gb: 20,
        description: description.into(),
    }
}

/// The real catalogue: AWS with its six image types, the two Marketplace listings, Azure and
/// Google Cloud. Adds only what is missing.
pub async fn catalogue(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let actor = users::system_user(db, now).await?;
    let mut added = 0;
    let partners_to_seed = [
        PartnerInput {
            slug: "aws".into(),
            name: "Amazon Web Services".into(),
            cloud: Cloud::Aws.as_str().into(),
            status: PartnerStatus::Live.as_str().into(),
            partner_docs_url: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AMIs.html".into(),
            partnership_doc_url: String::new(),
            notes: "Community AMIs (CE and EE, amd64 and arm64) are public; EE Premium and Ultimate are private AMIs backing the AWS Marketplace listings. Built in the release tag pipeline.".into(),
        },
        PartnerInput {
            slug: "azure".into(),
            name: "Microsoft Azure".into(),
            cloud: Cloud::Azure.as_str().into(),
            status: PartnerStatus::Live.as_str().into(),
            partner_docs_url: "https://learn.microsoft.com/en-us/partner-center/marketplace-offers/marketplace-virtual-machines".into(),
            partnership_doc_url: String::new(),
            notes: "Images are maintained by hand through the publisher portal.".into(),
        },
        PartnerInput {
            slug: "google-cloud".into(),
            name: "Google Cloud".into(),
            cloud: Cloud::Gcp.as_str().into(),
            status: PartnerStatus::Prospect.as_str().into(),
            partner_docs_url: "https://cloud.google.com/marketplace/docs/partners".into(),
            partnership_doc_url: String::new(),
            notes: String::new(),
        },
    ];
    for input in &partners_to_seed {
        match partners::create(db, &actor, now, input).await {
            Ok(_) => added += 1,
            Err(e) if e.code == ErrorCode::Conflict => {}
            Err(e) => return Err(e),
        }
    }
    let aws = partners::get(db, "aws").await?;
    if aws.accounts.is_empty() {
        partners::add_account(
            db,
            &actor,
            now,
            "aws",
            &PartnerAccountInput {
                label: "Community AMI publisher".into(),
                account_id: GITLAB_AWS_ACCOUNT.into(),
                notes: "Owner of the public GitLab CE and EE AMIs.".into(),
            },
        )
        .await?;
    }
    if aws.contacts.is_empty() {
        for (role, name, email) in [
            (
                ContactRole::Technical,
                "AWS Marketplace Seller Operations",
                "aws-marketplace-seller-ops@amazon.com",
            ),
            (
                ContactRole::Partnership,
                "AWS Marketplace seller support",
                "aws-marketplace-sellers@amazon.com",
            ),
        ] {
            partners::add_contact(
                db,
                &actor,
                now,
                "aws",
                &PartnerContactInput {
                    role: role.as_str().into(),
                    name: name.into(),
                    email: email.into(),
                },
            )
            .await?;
        }
    }
    let aws_products = [
        aws_product(
            "gitlab-ce",
            "GitLab CE",
            Edition::Ce,
            vec![
                arch_input(
                    Arch::Amd64,
                    "GitLab CE {version}",
                    "GitLab Community Edition",
                ),
                arch_input(
                    Arch::Arm64,
                    "GitLab CE {version} (ARM64)",
                    "GitLab Community Edition (ARM64)",
                ),
            ],
            None,
            "Public community AMI of GitLab Community Edition.",
        ),
        aws_product(
            "gitlab-ee",
            "GitLab EE",
            Edition::Ee,
            vec![
                arch_input(
                    Arch::Amd64,
                    "GitLab EE {version}",
                    "GitLab Enterprise Edition",
                ),
                arch_input(
                    Arch::Arm64,
                    "GitLab EE {version} (ARM64)",
                    "GitLab Enterprise Edition (ARM64)",
                ),
            ],
            None,
            "Public community AMI of GitLab Enterprise Edition, unlicensed.",
        ),
        aws_product(
            "gitlab-ee-premium",
            "GitLab EE Premium",
            Edition::EePremium,
            vec![arch_input(
                Arch::Amd64,
                "GitLab EE {version} Premium",
                "GitLab Enterprise Edition Premium",
            )],
            Some("GitLab Premium"),
            "Private AMI with a 5-seat Premium license, backing the GitLab Premium Marketplace listing.",
        ),
        aws_product(
            "gitlab-ee-ultimate",
            "GitLab EE Ultimate",
            Edition::EeUltimate,
            vec![arch_input(
                Arch::Amd64,
                "GitLab EE {version} Ultimate",
                "GitLab Enterprise Edition Ultimate",
            )],
            Some("GitLab Ultimate"),
            "Private AMI with a 5-seat Ultimate license, backing the GitLab Ultimate Marketplace listing.",
        ),
    ];
    // The built-in catalogue starts from Canonical's Ubuntu images.
    let owners = products::BaseImageOwners::default();
    for input in &aws_products {
        match products::create(db, &actor, now, &owners, input).await {
            Ok(_) => added += 1,
            Err(e) if e.code == ErrorCode::Conflict => {}
            Err(e) => return Err(e),
        }
    }
    let azure = ProductInput {
        partner: "azure".into(),
        slug: "gitlab-ee".into(),
        name: "GitLab EE".into(),
        edition: Edition::Ee.as_str().into(),
        visibility: Visibility::Public.as_str().into(),
        architectures: vec![ProductArchitectureInput {
            arch: Arch::Amd64.as_str().into(),
            builder_instance_type: "standard.d2s-v5".into(),
            image_name_template: "GitLab EE {version}".into(),
            type_tag: "GitLab Enterprise Edition".into(),
        }],
        base_image_owner: "Canonical".into(),
        base_image_name_pattern: "ubuntu-24_04-lts/server".into(),
        build_region: "eastus".into(),
        target_regions: vec!["eastus".into(), "westeurope".into()],
        license_required: false,
        listing_entity_name: String::new(),
        listing_entity_id: String::new(),
        maintenance_mode: MaintenanceMode::Image.as_str().into(),
        root_volume_gb: 30,
        description: "Azure Marketplace virtual machine offer, updated by hand.".into(),
    };
    match products::create(db, &actor, now, &owners, &azure).await {
        Ok(_) => added += 1,
        Err(e) if e.code == ErrorCode::Conflict => {}
        Err(e) => return Err(e),
    }
    for (slug, title) in [
        (
            "gitlab-ee-premium",
            "GitLab Premium Self-Managed and Duo Pro (license)",
        ),
        (
            "gitlab-ee-ultimate",
            "GitLab Ultimate Self-Managed and Duo Pro (license)",
        ),
    ] {
        match listings::create(db, &actor, now, "aws", slug, title).await {
            Ok(_) => added += 1,
            Err(e) if e.code == ErrorCode::Conflict => {}
            Err(e) => return Err(e),
        }
    }
    Ok(added)
}

/// GitLab's copy of a Marketplace listing: the text AWS Marketplace shows for the
/// self-managed Premium and Ultimate offers, with what a version publish sends (usage
/// instructions and the release notes template).
fn gitlab_copy(entity_name: &str, title: &str) -> CopyInput {
    let ultimate = entity_name.contains("Ultimate");
    let tier = if ultimate { "Ultimate" } else { "Premium" };
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    CopyInput {
        base_revision: 0,
        title: title.to_owned(),
        short_description: if ultimate {
            "GitLab is the most comprehensive AI-powered DevSecOps platform. GitLab Ultimate adds              organization-wide security, compliance and planning to Premium, so teams ship secure              software faster from a single application, self-managed in your own AWS account."
        } else {
            "GitLab is the most comprehensive AI-powered DevSecOps platform. GitLab Premium helps              teams improve collaboration and productivity with enterprise agile planning, source              code management and CI/CD in a single application, self-managed in your own AWS account."
        }
        .to_owned(),
        long_description: format!(
            "## GitLab {tier}, self-managed\n\n\
             GitLab is a single application for the whole software development lifecycle: plan, \
             create, verify, secure, package, release and monitor, with one data store, one \
             permission model and one interface.\n\n\
             This AMI runs GitLab Enterprise Edition on Ubuntu 24.04 LTS with a {tier} license \
             for 5 users, installed with the Linux package (Omnibus GitLab). It starts on first \
             boot; add users and scale the instance as your teams grow.\n\n\
             {}\n\n\
             GitLab Duo Pro brings AI-powered code suggestions and chat to the IDE and the \
             GitLab UI.",
            if ultimate {
                "**Ultimate** adds static and dynamic application security testing, dependency and \
                 container scanning, secret detection, vulnerability management, compliance \
                 frameworks and pipelines, and portfolio management on top of everything in \
                 Premium."
            } else {
                "**Premium** adds merge request approvals, code owners, merge trains, protected \
                 environments, multiple approvers in code review, epics and roadmaps, and \
                 priority support to GitLab's free features."
            }
        ),
        highlights: if ultimate {
            strings(&[
                "Security scanning built into every merge request: SAST, DAST, dependency, container and secret detection",
                "Compliance frameworks, audit events and security policies across every project",
                "Portfolio and value stream management to plan and measure delivery end to end",
            ])
        } else {
            strings(&[
                "One application for the whole DevSecOps lifecycle: plan, build, secure and deploy",
                "Faster, safer code review with merge request approvals, code owners and merge trains",
                "Enterprise-grade CI/CD with protected environments and priority support",
            ])
        },
        usage_instructions: "GitLab starts on the instance's first boot (allow a few minutes). \
             Browse to the instance's public DNS name and sign in as root with the initial \
             password in /etc/gitlab/initial_root_password (connect over SSH as the ubuntu user \
             to read it; it is removed 24 hours after the first reconfigure). Then set \
             external_url, HTTPS, email and backups in /etc/gitlab/gitlab.rb as described at \
             https://docs.gitlab.com/install/aws/"
            .to_owned(),
        release_notes_template: "GitLab {version}: {notes_url}".to_owned(),
        categories: strings(&[
            "DevOps",
            "Source Control",
            "Continuous Integration and Continuous Delivery",
        ]),
        search_keywords: strings(&[
            "gitlab",
            "devops",
            "ci/cd",
            "devsecops",
            "source code management",
            "git",
        ]),
        sku: String::new(),
        support_description: format!(
            "GitLab {tier} includes GitLab's Priority Support: around-the-clock help for \
             emergencies and next-business-day answers to everything else, through the support \
             portal at https://support.gitlab.com. Documentation is at https://docs.gitlab.com."
        ),
        logo_asset_id: None,
        video_url: String::new(),
        additional_resources: vec![
            AdditionalResource {
                text: "Install GitLab on AWS".into(),
                url: "https://docs.gitlab.com/install/aws/".into(),
            },
            AdditionalResource {
                text: "GitLab documentation".into(),
                url: "https://docs.gitlab.com/".into(),
            },
            AdditionalResource {
                text: "GitLab releases".into(),
                url: "https://about.gitlab.com/releases/categories/releases/".into(),
            },
        ],
    }
}

/// A seeded person, or the portal's system user when the development users are not seeded.
async fn seeded_person(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    username: &str,
) -> AppResult<CurrentUser> {
    use super::entities::user;
    use sea_orm::{ColumnTrait, QueryFilter};
    let found = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?;
    match found {
        Some(u) => users::by_id(db, u.id)
            .await?
            .ok_or_else(|| AppError::internal("seeded user", username)),
        None => users::system_user(db, now).await,
    }
}

/// Each AWS listing without copy gets GitLab's copy, approved as the stages require:
/// written by Marketing (Maya), approved by Partnerships (Priya), then by Omnibus (Oskar),
/// each review recorded on the revision; the portal's system user stands in for each of
/// them when the development users are not seeded.
pub async fn listing_copy(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let author = seeded_person(db, now, "maya").await?;
    let reviewers = [
        (Role::Partnerships, seeded_person(db, now, "priya").await?),
        (Role::Omnibus, seeded_person(db, now, "oskar").await?),
    ];
    let all = listings::list(
        db,
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await?;
    let mut added = 0;
    for l in all
        .items
        .into_iter()
        .filter(|l| l.marketplace == Cloud::Aws.as_str())
    {
        if super::copy::get(db, l.id).await?.head.is_some() {
            continue;
        }
        super::copy::record_approved(
            db,
            now,
            l.id,
            &gitlab_copy(&l.entity_name, &l.title),
            &author,
            &reviewers,
            "GitLab's copy of the listing, as seeded",
        )
        .await?;
        added += 1;
    }
    Ok(added)
}

/// A stable, plausible image id for a seeded image: `ami-` and 17 hex digits.
pub fn sample_image_id(name: &str, region: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{name}@{region}").as_bytes()));
    format!("ami-{}", &digest[..17])
}

/// Past releases with their images, for the simulated cloud only.
pub async fn history(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<(usize, usize)> {
    let actor = users::system_user(db, now).await?;
    let history = [
        ("17.3.7", "2024-11-12", ReleaseKind::Security),
        ("17.4.2", "2024-10-09", ReleaseKind::Patch),
        ("17.5.0", "2024-10-17", ReleaseKind::Regular),
        ("17.5.1", "2024-10-23", ReleaseKind::Patch),
        ("17.5.2", "2024-11-12", ReleaseKind::Security),
        ("17.6.0", "2024-11-21", ReleaseKind::Regular),
    ];
    // Hours from each release's day to its images being out: one late, to show a breach.
    let took = [30, 50, 26, 70, 100, 40];
    let (mut added_releases, mut added_images) = (0, 0);
    for ((version, date, kind), hours) in history.into_iter().zip(took) {
        match process::create_release_with_runs(
            db,
            &actor,
            now,
            &ReleaseInput {
                version: version.into(),
                released_on: date.into(),
                kind: kind.as_str().into(),
                notes_url: String::new(),
            },
        )
        .await
        {
            Ok((release, runs)) => {
                added_releases += 1;
                let start = release
                    .released_on
                    .and_hms_opt(9, 0, 0)
                    .unwrap_or_default()
                    .and_utc();
                for (i, run) in runs.into_iter().enumerate() {
                    let done = start + chrono::Duration::hours(hours + 3 * i as i64);
                    close_historic_run(db, run, done).await?;
                }
            }
            Err(e) if e.code == ErrorCode::Conflict => continue,
            Err(e) => return Err(e),
        }
        let newest = version == "17.6.0";
        let oldest = version == "17.3.7";
        let parsed = Version::parse(version).map_err(|e| AppError::internal("seed version", e))?;
        for slug in [
            "gitlab-ce",
            "gitlab-ee",
            "gitlab-ee-premium",
            "gitlab-ee-ultimate",
        ] {
            let product = products::get(db, "aws", slug).await?;
            for arch in &product.architectures {
                let name = products::render_image_name(&arch.image_name_template, &parsed);
                // The newest release is mid-flight: Ultimate is still building in us-east-1.
                let building = newest && slug == "gitlab-ee-ultimate";
                let live_state = match product.visibility {
                    Visibility::Public if oldest => RegionImageState::Deprecated,
                    Visibility::Public => RegionImageState::Public,
                    Visibility::Private => RegionImageState::Private,
                };
                let regions: Vec<ImageRegionInput> = if building {
                    vec![ImageRegionInput {
                        region: BUILD_REGION.into(),
                        image_id: String::new(),
                        state: RegionImageState::Pending.as_str().into(),
                    }]
                } else {
                    product
                        .target_regions
                        .iter()
                        .map(|r| ImageRegionInput {
                            region: r.clone(),
                            image_id: sample_image_id(&name, r),
                            state: live_state.as_str().into(),
                        })
                        .collect()
                };
                images::record(
                    db,
                    &actor,
                    now,
                    &ImageVersionInput {
                        partner: "aws".into(),
                        product: slug.into(),
                        version: version.into(),
                        arch: arch.arch.as_str().into(),
                        state: if building {
                            ImageState::Building
                        } else {
                            ImageState::Available
                        }
                        .as_str()
                        .into(),
                        regions,
                        rebuild: None,
                    },
                )
                .await?;
                added_images += 1;
            }
        }
        // Marketplace versions of the licensed listings for every stable release but the newest.
        if !newest {
            let published = listings::list(
                db,
                PageRequest {
                    page: Some(1),
                    per_page: Some(100),
                },
            )
            .await?;
            for listing in published.items {
                let title = format!("{} {} Release", listing.entity_name, version);
                let delivery = format!(
                    "do-{}",
                    &hex::encode(Sha256::digest(title.as_bytes()))[..12]
                );
                listings::record_version(
                    db,
                    &actor,
                    now,
                    listing.id,
                    Some(version),
                    &title,
                    Some(&delivery),
                    if oldest {
                        ListingVersionVisibility::Restricted
                    } else {
                        ListingVersionVisibility::Public
                    },
                )
                .await?;
            }
        }
    }
    {
        use super::entities::notification;
        use sea_orm::{ColumnTrait, QueryFilter};
        notification::Entity::delete_many()
            .filter(notification::Column::Kind.eq(NotificationKind::MaintenanceOpened))
            .filter(notification::Column::CreatedAt.eq(now))
            .exec(db)
            .await?;
    }
    Ok((added_releases, added_images))
}

/// The first-time image project of the prospect partner (Google Cloud), just opened.
async fn prospect_project(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
) -> AppResult<()> {
    use super::entities::workflow;
    use sea_orm::{ColumnTrait, QueryFilter};
    let partner = super::partners::find_model(db, "google-cloud").await?;
    let exists = workflow::Entity::find()
        .filter(workflow::Column::PartnerId.eq(partner.id))
        .count(db)
        .await?
        > 0;
    if !exists {
        let actor = users::system_user(db, now).await?;
        super::process::start_first_time(
            db,
            &actor,
            now,
            &FirstTimeInput {
                partner: partner.slug,
                product: String::new(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Marks a seeded maintenance run done as of `at`, as if its tasks had been worked then.
async fn close_historic_run(
    db: &impl ConnectionTrait,
    workflow_id: i32,
    at: DateTime<Utc>,
) -> AppResult<()> {
    use super::entities::{task, workflow, workflow_stage};
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    task::Entity::update_many()
        .col_expr(task::Column::State, Expr::value(TaskState::Done))
        .col_expr(task::Column::CompletedAt, Expr::value(at))
        .col_expr(task::Column::CompletedBy, Expr::value("portal"))
        .col_expr(task::Column::UpdatedAt, Expr::value(at))
        .filter(task::Column::WorkflowId.eq(workflow_id))
        .exec(db)
        .await?;
    workflow_stage::Entity::update_many()
        .col_expr(workflow_stage::Column::CompletedAt, Expr::value(at))
        .filter(workflow_stage::Column::WorkflowId.eq(workflow_id))
        .exec(db)
        .await?;
    workflow::Entity::update_many()
        .col_expr(workflow::Column::State, Expr::value(WorkflowState::Done))
        .col_expr(workflow::Column::CompletedAt, Expr::value(at))
        .col_expr(workflow::Column::UpdatedAt, Expr::value(at))
        .filter(workflow::Column::Id.eq(workflow_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Whether the catalogue is empty (no partners yet).
pub async fn is_empty(db: &impl ConnectionTrait) -> AppResult<bool> {
    Ok(partner::Entity::find().count(db).await? == 0)
}

/// Sample license files for the licensed products, so builds in the simulated cloud run end
/// to end. They license nothing; real ones are set on the product page.
pub async fn sample_licenses(
    db: &(impl ConnectionTrait + TransactionTrait),
    key: &super::secrets::SecretKey,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let actor = users::system_user(db, now).await?;
    for slug in ["gitlab-ee-premium", "gitlab-ee-ultimate"] {
        let name = super::secrets::license_name("aws", slug);
        if super::secrets::info(db, &name).await?.is_none() {
            let text = format!("SAMPLE LICENSE FOR THE SIMULATED CLOUD ({slug}); licenses nothing");
            super::secrets::put(
                db,
                key,
                &actor,
                now,
                &name,
                &super::secrets::SecretValue::new(text),
            )
            .await?;
        }
    }
    Ok(())
}

/// Seeds what the configuration asks for; safe to run again. The sample history (and its
/// sample licenses, sealed with `history_key`) is for the simulated cloud only.
pub async fn run(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    with_dev_users: bool,
    history_key: Option<&super::secrets::SecretKey>,
) -> AppResult<SeedReport> {
    let mut report = SeedReport::default();
    if with_dev_users {
        report.users = dev_users(db, now).await?;
    }
    report.partners = catalogue(db, now).await?;
    report.copy = listing_copy(db, now).await?;
    if let Some(key) = history_key {
        sample_licenses(db, key, now).await?;
        let (r, i) = history(db, now).await?;
        report.releases = r;
        report.image_versions = i;
        prospect_project(db, now).await?;
    }
    Ok(report)
}
