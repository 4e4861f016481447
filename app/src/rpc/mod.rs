//! Server functions: what the pages call. Each one authenticates, checks the role on the
//! server, calls a service and returns a DTO; the same services back the REST API.

use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

use crate::{domain::*, dto::*, error::AppError};

/// Who is signed in and what the portal is connected to, for the layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<CurrentUser>,
    /// Jobs run against the simulated cloud.
    pub simulated_cloud: bool,
    pub dev_auth: bool,
    /// The GitLab people sign in with, when GitLab sign-in is on.
    pub gitlab_sign_in: Option<String>,
}

#[cfg(feature = "ssr")]
mod ctx {
    use crate::{
        domain::{CurrentUser, Permission},
        error::{AppError, AppResult},
        services::AppState,
    };
    use leptos::prelude::*;

    pub fn state() -> AppResult<AppState> {
        use_context::<AppState>()
            .ok_or_else(|| AppError::internal("server function context", "AppState is missing"))
    }

    pub fn user() -> Option<CurrentUser> {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
    }

    /// The state and the signed-in user, or 401.
    pub fn signed_in() -> AppResult<(AppState, CurrentUser)> {
        let user = status_of(user().ok_or_else(AppError::unauthenticated))?;
        Ok((state()?, user))
    }

    /// Like [`signed_in`], and the user must hold `permission`, or 403.
    pub fn allowed(permission: Permission) -> AppResult<(AppState, CurrentUser)> {
        let (state, user) = signed_in()?;
        if !user.can(permission) {
            let roles: Vec<&str> = permission.roles().iter().map(|r| r.as_str()).collect();
            return status_of(Err(AppError::forbidden(format!(
                "this needs one of the roles: {}",
                roles.join(", ")
            ))));
        }
        Ok((state, user))
    }

    /// Sets the response status to the error's, so a failed page load is not a 200.
    pub fn status_of<T>(result: AppResult<T>) -> AppResult<T> {
        if let Err(err) = &result
            && let Some(options) = use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(err.code.http_status())
        {
            options.set_status(status);
        }
        result
    }
}

#[server(prefix = "/rpc")]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    let state = ctx::state()?;
    Ok(SessionInfo {
        user: ctx::user(),
        simulated_cloud: state.cloud == crate::services::CloudMode::Simulated,
        dev_auth: state.dev_auth,
        gitlab_sign_in: state.gitlab.as_ref().map(|g| g.url.clone()),
    })
}

#[server(prefix = "/rpc")]
pub async fn dev_users() -> Result<Vec<DevUser>, AppError> {
    let state = ctx::state()?;
    if !state.dev_auth {
        return Ok(Vec::new());
    }
    crate::services::users::dev_users(&state.db).await
}

#[server(prefix = "/rpc")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::catalogue::dashboard(&state.db).await
}

#[server(prefix = "/rpc")]
pub async fn list_partners(page: u64) -> Result<Page<PartnerSummary>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::partners::list(
        &state.db,
        PageRequest {
            page: Some(page),
            per_page: Some(25),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn get_partner(slug: String) -> Result<Partner, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::partners::get(&state.db, &slug).await)
}

/// Creates a partner (empty `original_slug`) or updates the one with that slug.
#[server(prefix = "/rpc")]
pub async fn save_partner(original_slug: String, input: PartnerInput) -> Result<Partner, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageCatalogue)?;
    let now = state.clock.now();
    let partner = if original_slug.is_empty() {
        ctx::status_of(crate::services::partners::create(&state.db, &user, now, &input).await)?
    } else {
        ctx::status_of(
            crate::services::partners::update(&state.db, &user, now, &original_slug, &input).await,
        )?
    };
    leptos_axum::redirect(&format!("/partners/{}", partner.slug));
    Ok(partner)
}

#[server(prefix = "/rpc")]
pub async fn add_partner_account(
    partner: String,
    input: PartnerAccountInput,
) -> Result<Partner, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageCatalogue)?;
    ctx::status_of(
        crate::services::partners::add_account(&state.db, &user, state.clock.now(), &partner, &input)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn add_partner_contact(
    partner: String,
    input: PartnerContactInput,
) -> Result<Partner, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageCatalogue)?;
    ctx::status_of(
        crate::services::partners::add_contact(&state.db, &user, state.clock.now(), &partner, &input)
            .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn list_products(partner: String, page: u64) -> Result<Page<ProductSummary>, AppError> {
    let (state, _) = ctx::signed_in()?;
    let partner = Some(partner.as_str()).filter(|p| !p.is_empty());
    crate::services::products::list(
        &state.db,
        partner,
        PageRequest {
            page: Some(page),
            per_page: Some(50),
        },
    )
    .await
}

/// A product with its release × architecture matrix.
#[server(prefix = "/rpc")]
pub async fn get_product(
    partner: String,
    slug: String,
) -> Result<(Product, Vec<MatrixRow>), AppError> {
    let (state, _) = ctx::signed_in()?;
    let product = ctx::status_of(crate::services::products::get(&state.db, &partner, &slug).await)?;
    let matrix = crate::services::images::matrix(&state.db, &partner, &slug, 20).await?;
    Ok((product, matrix))
}

/// The product form as a browser sends it: fixed rows per architecture, regions as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductForm {
    pub partner: String,
    pub slug: String,
    pub name: String,
    pub edition: String,
    pub visibility: String,
    #[serde(default)]
    pub amd64: Option<String>,
    #[serde(default)]
    pub amd64_instance_type: String,
    #[serde(default)]
    pub amd64_name_template: String,
    #[serde(default)]
    pub amd64_type_tag: String,
    #[serde(default)]
    pub arm64: Option<String>,
    #[serde(default)]
    pub arm64_instance_type: String,
    #[serde(default)]
    pub arm64_name_template: String,
    #[serde(default)]
    pub arm64_type_tag: String,
    pub base_image_owner: String,
    pub base_image_name_pattern: String,
    pub build_region: String,
    /// Regions separated by commas, spaces or lines.
    pub target_regions: String,
    #[serde(default)]
    pub license_required: Option<String>,
    #[serde(default)]
    pub listing_entity_name: String,
    pub maintenance_mode: String,
    pub root_volume_gb: String,
    #[serde(default)]
    pub description: String,
}

impl ProductForm {
    pub fn from_product(p: &Product) -> Self {
        let arch = |a: Arch| p.architectures.iter().find(|x| x.arch == a);
        let amd = arch(Arch::Amd64);
        let arm = arch(Arch::Arm64);
        ProductForm {
            partner: p.partner_slug.clone(),
            slug: p.slug.clone(),
            name: p.name.clone(),
            edition: p.edition.as_str().into(),
            visibility: p.visibility.as_str().into(),
            amd64: amd.map(|_| "on".into()),
            amd64_instance_type: amd
                .map(|a| a.builder_instance_type.clone())
                .unwrap_or_default(),
            amd64_name_template: amd
                .map(|a| a.image_name_template.clone())
                .unwrap_or_default(),
            amd64_type_tag: amd.map(|a| a.type_tag.clone()).unwrap_or_default(),
            arm64: arm.map(|_| "on".into()),
            arm64_instance_type: arm
                .map(|a| a.builder_instance_type.clone())
                .unwrap_or_default(),
            arm64_name_template: arm
                .map(|a| a.image_name_template.clone())
                .unwrap_or_default(),
            arm64_type_tag: arm.map(|a| a.type_tag.clone()).unwrap_or_default(),
            base_image_owner: p.base_image_owner.clone(),
            base_image_name_pattern: p.base_image_name_pattern.clone(),
            build_region: p.build_region.clone(),
            target_regions: p.target_regions.join(", "),
            license_required: p.license_required.then(|| "on".into()),
            listing_entity_name: p.listing_entity_name.clone().unwrap_or_default(),
            maintenance_mode: p.maintenance_mode.as_str().into(),
            root_volume_gb: p.root_volume_gb.to_string(),
            description: p.description.clone(),
        }
    }

    /// The API input this form stands for. A non-number volume becomes 0, which the
    /// service refuses with a message on the field.
    pub fn into_input(self) -> ProductInput {
        let mut architectures = Vec::new();
        if self.amd64.is_some() {
            architectures.push(ProductArchitectureInput {
                arch: "amd64".into(),
                builder_instance_type: self.amd64_instance_type,
                image_name_template: self.amd64_name_template,
                type_tag: self.amd64_type_tag,
            });
        }
        if self.arm64.is_some() {
            architectures.push(ProductArchitectureInput {
                arch: "arm64".into(),
                builder_instance_type: self.arm64_instance_type,
                image_name_template: self.arm64_name_template,
                type_tag: self.arm64_type_tag,
            });
        }
        ProductInput {
            partner: self.partner,
            slug: self.slug,
            name: self.name,
            edition: self.edition,
            visibility: self.visibility,
            architectures,
            base_image_owner: self.base_image_owner,
            base_image_name_pattern: self.base_image_name_pattern,
            build_region: self.build_region,
            target_regions: self
                .target_regions
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            license_required: self.license_required.is_some(),
            listing_entity_name: self.listing_entity_name,
            listing_entity_id: String::new(),
            maintenance_mode: self.maintenance_mode,
            root_volume_gb: self.root_volume_gb.trim().parse().unwrap_or(0),
            description: self.description,
        }
    }
}

/// Creates a product (empty originals) or updates the one named by them.
#[server(prefix = "/rpc")]
pub async fn save_product(
    original_partner: String,
    original_slug: String,
    form: ProductForm,
) -> Result<Product, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageCatalogue)?;
    let now = state.clock.now();
    let mut input = form.into_input();
    let product = if original_slug.is_empty() {
        ctx::status_of(crate::services::products::create(&state.db, &user, now, &input).await)?
    } else {
        // The marketplace entity id is set by publishing, not by the form: keep it.
        let current =
            crate::services::products::get(&state.db, &original_partner, &original_slug).await?;
        input.listing_entity_id = current.listing_entity_id.unwrap_or_default();
        ctx::status_of(
            crate::services::products::update(
                &state.db,
                &user,
                now,
                &original_partner,
                &original_slug,
                &input,
            )
            .await,
        )?
    };
    leptos_axum::redirect(&format!(
        "/products/{}/{}",
        product.partner_slug, product.slug
    ));
    Ok(product)
}

#[server(prefix = "/rpc")]
pub async fn get_image_version(id: i32) -> Result<ImageVersion, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::images::get(&state.db, id).await)
}

#[server(prefix = "/rpc")]
pub async fn list_releases(page: u64) -> Result<Page<Release>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::releases::list(
        &state.db,
        PageRequest {
            page: Some(page),
            per_page: Some(25),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn create_release(input: ReleaseInput) -> Result<Release, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageReleases)?;
    ctx::status_of(
        crate::services::releases::create(&state.db, &user, state.clock.now(), &input).await,
    )
}

#[server(prefix = "/rpc")]
pub async fn list_listings() -> Result<Page<Listing>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::listings::list(
        &state.db,
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn get_listing(id: i32) -> Result<Listing, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::listings::get(&state.db, id).await)
}

#[server(prefix = "/rpc")]
pub async fn list_assets(partner: String, page: u64) -> Result<Page<Asset>, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::assets::list(
        &state.db,
        Some(partner.as_str()),
        PageRequest {
            page: Some(page),
            per_page: Some(24),
        },
    )
    .await
}

#[server(prefix = "/rpc")]
pub async fn get_asset(id: i32) -> Result<Asset, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::assets::get(&state.db, id).await)
}

/// Uploads a new asset, or a new version of the asset named by the `asset_id` field.
#[server(prefix = "/rpc", input = MultipartFormData)]
pub async fn upload_asset(data: MultipartData) -> Result<Asset, AppError> {
    use crate::services::assets::{self, MAX_ASSET_BYTES, UploadInput};
    let (state, user) = ctx::allowed(Permission::ManageAssets)?;
    let mut form = data
        .into_inner()
        .ok_or_else(|| AppError::bad_request("the upload carried no form"))?;
    let mut input = UploadInput::default();
    let mut asset_id = String::new();
    let bad = |e: multer::Error| {
        AppError::bad_request(format!("the upload is not a well-formed form: {e}"))
    };
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            input.filename = field.file_name().unwrap_or("upload").to_owned();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                if bytes.len() + chunk.len() > MAX_ASSET_BYTES {
                    return Err(AppError {
                        fields: vec![crate::error::FieldError {
                            field: "file".into(),
                            message: "the file is larger than 10 MB".into(),
                        }],
                        ..AppError::new(
                            crate::error::ErrorCode::PayloadTooLarge,
                            "the file is larger than the 10 MB limit",
                        )
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            input.bytes = bytes.into();
        } else {
            let value = field.text().await.map_err(bad)?;
            match name.as_str() {
                "partner" => input.partner = value,
                "product" => input.product = value,
                "kind" => input.kind = value,
                "title" => input.title = value,
                "asset_id" => asset_id = value,
                _ => {}
            }
        }
    }
    let now = state.clock.now();
    ctx::status_of(if asset_id.trim().is_empty() {
        assets::create(&state.db, state.store.as_ref(), &user, now, input).await
    } else {
        match asset_id.trim().parse() {
            Ok(id) => {
                assets::add_version(
                    &state.db,
                    state.store.as_ref(),
                    &user,
                    now,
                    id,
                    &input.filename,
                    input.bytes,
                )
                .await
            }
            Err(_) => Err(AppError::not_found(format!("asset '{asset_id}'"))),
        }
    })
}

#[server(prefix = "/rpc")]
pub async fn search(q: String) -> Result<SearchResults, AppError> {
    let (state, _) = ctx::signed_in()?;
    crate::services::catalogue::search(&state.db, &q).await
}

/// What the image lookup offers to pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupOptions {
    pub releases: Vec<String>,
    pub products: Vec<ProductSummary>,
    pub regions: Vec<String>,
}

#[server(prefix = "/rpc")]
pub async fn get_lookup_options() -> Result<LookupOptions, AppError> {
    let (state, _) = ctx::signed_in()?;
    let releases = crate::services::releases::newest(&state.db, 50)
        .await?
        .into_iter()
        .map(|r| r.version)
        .collect();
    let products = crate::services::products::list(
        &state.db,
        Some("aws"),
        PageRequest {
            page: Some(1),
            per_page: Some(100),
        },
    )
    .await?
    .items;
    Ok(LookupOptions {
        releases,
        products,
        regions: AWS_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
    })
}

#[server(prefix = "/rpc")]
pub async fn lookup_image(query: LookupQuery) -> Result<ImageLookup, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::images::lookup(&state.db, &query).await)
}

#[server(prefix = "/rpc")]
pub async fn list_audit(filter: AuditFilter) -> Result<Page<AuditEvent>, AppError> {
    let (state, _) = ctx::allowed(Permission::ReadAudit)?;
    crate::services::audit::list(&state.db, &filter).await
}

#[server(prefix = "/rpc")]
pub async fn list_jobs(filter: JobFilter, page: u64) -> Result<Page<Job>, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(
        crate::services::jobs::list(
            &state.db,
            &filter,
            PageRequest {
                page: Some(page),
                per_page: Some(50),
            },
        )
        .await,
    )
}

/// A job and its log so far.
#[server(prefix = "/rpc")]
pub async fn get_job(id: i32) -> Result<(Job, Vec<JobEvent>), AppError> {
    let (state, _) = ctx::signed_in()?;
    let job = ctx::status_of(crate::services::jobs::get(&state.db, id).await)?;
    let events = crate::services::jobs::events(&state.db, id, 0).await?;
    Ok((job, events))
}

#[server(prefix = "/rpc")]
pub async fn cancel_job(id: i32) -> Result<Job, AppError> {
    let (state, user) = ctx::allowed(Permission::RunJobs)?;
    ctx::status_of(crate::services::jobs::cancel(&state.db, &user, state.clock.now(), id).await)
}

#[server(prefix = "/rpc")]
pub async fn retry_job(id: i32) -> Result<Job, AppError> {
    let (state, user) = ctx::allowed(Permission::RunJobs)?;
    ctx::status_of(crate::services::jobs::retry(&state.db, &user, state.clock.now(), id).await)
}

/// Builds every image of a release that is not built yet; lands on the release run.
#[server(prefix = "/rpc")]
pub async fn build_release(version: String) -> Result<ReleaseRun, AppError> {
    let (state, user) = ctx::allowed(Permission::RunJobs)?;
    let run = ctx::status_of(
        crate::services::builds::start_release(&state.db, &user, state.clock.now(), &version).await,
    )?;
    leptos_axum::redirect(&format!("/jobs?group=release:{}", run.version));
    Ok(run)
}

/// Builds one image; lands on its job.
#[server(prefix = "/rpc")]
pub async fn build_image(
    partner: String,
    product: String,
    version: String,
    arch: Arch,
) -> Result<Job, AppError> {
    let (state, user) = ctx::allowed(Permission::RunJobs)?;
    let job = ctx::status_of(
        crate::services::builds::start(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &product,
            &version,
            arch,
        )
        .await,
    )?;
    leptos_axum::redirect(&format!("/jobs/{}", job.id));
    Ok(job)
}

#[server(prefix = "/rpc")]
pub async fn get_release_run(version: String) -> Result<ReleaseRun, AppError> {
    let (state, _) = ctx::signed_in()?;
    ctx::status_of(crate::services::builds::run(&state.db, &version).await)
}

/// Sets or replaces a product's license file; it can never be read back.
#[server(prefix = "/rpc")]
pub async fn set_product_license(
    partner: String,
    product: String,
    license: String,
) -> Result<Product, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageReleases)?;
    ctx::status_of(
        crate::services::products::set_license(
            &state.db,
            &state.secret_key,
            &user,
            state.clock.now(),
            &partner,
            &product,
            &license,
        )
        .await,
    )
}

#[server(prefix = "/rpc")]
pub async fn delete_product_license(partner: String, product: String) -> Result<Product, AppError> {
    let (state, user) = ctx::allowed(Permission::ManageReleases)?;
    ctx::status_of(
        crate::services::products::delete_license(
            &state.db,
            &user,
            state.clock.now(),
            &partner,
            &product,
        )
        .await,
    )
}

mod process;
pub use process::*;
mod retention;
pub use retention::*;
mod tokens;
pub use tokens::*;
