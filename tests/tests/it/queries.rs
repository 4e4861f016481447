//! No page or list runs more database statements on a larger catalogue: the statements one
//! signed-in request makes (its session, and for a page every server function it calls
//! while rendering) are counted on a catalogue, then on one grown tenfold, and no count
//! may grow.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use app::{
    domain::{ImageState, RegionImageState},
    dto::ReleaseInput,
    services::{
        Clock as _,
        entities::{
            image_region, image_version, listing, listing_version, partner, product,
            product_architecture, release,
        },
        queries::QueryCount,
    },
};
use portal_tests::{Backend, TestApp, each_backend};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};

/// The portal's router over the test portal's state, on a port of its own, keeping the
/// statement count of the last request it answered.
struct Counting {
    addr: SocketAddr,
    last: Arc<Mutex<Option<QueryCount>>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    cookie: String,
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Counting {
    async fn start(app: &TestApp, username: &str) -> Counting {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("the bound address");
        let hosts = server::auth::AllowedHosts::new(&app.state, addr);
        let limits = server::limits::WebLimits {
            event_streams_per_person: 4,
            sign_in_burst: 1000,
            sign_in_period: std::time::Duration::from_secs(1),
        };
        let last: Arc<Mutex<Option<QueryCount>>> = Arc::default();
        let keep = last.clone();
        let router = server::router(app.state.clone(), portal_tests::site_root(), hosts, &limits)
            .expect("the portal's router")
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let keep = keep.clone();
                    async move {
                        let res = next.run(req).await;
                        *keep.lock().unwrap_or_else(PoisonError::into_inner) =
                            res.extensions().get::<QueryCount>().cloned();
                        res
                    }
                },
            ));
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        // A session of the portal's own, sent as a cookie by hand.
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
            .post(format!("http://{addr}/auth/dev"))
            .header("origin", format!("http://{addr}"))
            .form(&[("username", username), ("next", "/")])
            .send()
            .await
            .expect("sign-in answers");
        assert!(res.status().is_redirection(), "sign-in: {}", res.status());
        let cookie = res
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("portal_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        Counting {
            addr,
            last,
            server,
            cookie,
        }
    }

    /// The statements `GET path` ran, after its whole answer (a success) has arrived.
    async fn count(&self, path: &str) -> usize {
        self.load(path).await.0
    }

    /// The statements `GET path` ran, the nonce its CSP header allows scripts by, and its
    /// body.
    async fn load(&self, path: &str) -> (usize, String, String) {
        let res = reqwest::Client::new()
            .get(format!("http://{}{path}", self.addr))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = res.status();
        let nonce = res
            .headers()
            .get(reqwest::header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .and_then(|csp| csp.split("'nonce-").nth(1))
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_default()
            .to_owned();
        let body = res.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {path}: {status}: {body}");
        let count = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| panic!("GET {path} was counted"))
            .get();
        (count, nonce, body)
    }
}

/// What the portal was seeded with, which every round of growth copies.
struct Seeded {
    partners: Vec<partner::Model>,
    /// The AWS partner's products.
    products: Vec<product::Model>,
    listings: Vec<listing::Model>,
}

impl Seeded {
    async fn read(app: &TestApp) -> Seeded {
        let db = app.conn();
        let partners = partner::Entity::find()
            .order_by_asc(partner::Column::Id)
            .all(db)
            .await
            .expect("partners");
        let aws = partners
            .iter()
            .find(|p| p.slug == "aws")
            .map_or(0, |p| p.id);
        Seeded {
            products: product::Entity::find()
                .filter(product::Column::PartnerId.eq(aws))
                .all(db)
                .await
                .expect("products"),
            listings: listing::Entity::find().all(db).await.expect("listings"),
            partners,
        }
    }
}

/// Adds one more of everything the seeded catalogue has: a partner for each partner, the
/// AWS partner's products (architectures and listings too) under the new AWS partner, six
/// older stable releases (each starting its train: builds, publishes, jobs) with every
/// image of the seeded products in every target region and a marketplace version on every
/// seeded listing, and images of the newest release for the new products.
async fn grow(app: &TestApp, seeded: &Seeded, round: usize) {
    let db = app.conn();
    let now = app.clock.now();
    let omnibus = app.omnibus().await.expect("the omnibus engineer");
    let mut new_products = Vec::new();
    for p in &seeded.partners {
        let mut row = p.clone().into_active_model().reset_all();
        row.id = NotSet;
        row.slug = Set(format!("{}-r{round}", p.slug));
        row.name = Set(format!("{} {round}", p.name));
        let copy = row.insert(db).await.expect("a partner");
        if p.slug != "aws" {
            continue;
        }
        for pr in &seeded.products {
            let mut row = pr.clone().into_active_model().reset_all();
            row.id = NotSet;
            row.partner_id = Set(copy.id);
            row.listing_entity_name = Set(pr
                .listing_entity_name
                .as_ref()
                .map(|n| format!("{n} {round}")));
            row.listing_entity_id = Set(None);
            let new = row.insert(db).await.expect("a product");
            for a in product_architecture::Entity::find()
                .filter(product_architecture::Column::ProductId.eq(pr.id))
                .all(db)
                .await
                .expect("architectures")
            {
                let mut row = a.into_active_model().reset_all();
                row.id = NotSet;
                row.product_id = Set(new.id);
                row.insert(db).await.expect("an architecture");
            }
            for l in seeded.listings.iter().filter(|l| l.product_id == pr.id) {
                let mut row = l.clone().into_active_model().reset_all();
                row.id = NotSet;
                row.product_id = Set(new.id);
                row.entity_name = Set(format!("{} {round}", l.entity_name));
                row.entity_id = Set(None);
                row.live_copy_revision_id = Set(None);
                row.live_copy = Set(None);
                row.live_copy_at = Set(None);
                row.insert(db).await.expect("a listing");
            }
            new_products.push((copy.slug.clone(), new));
        }
    }
    // Six older releases: the last starts its train (builds, publishes, maintenance runs,
    // jobs); the others are written straight in, which is quicker.
    for k in 0..6 {
        let version = format!("16.{round}.{k}");
        let r = if k == 5 {
            app::services::trains::create_release(
                db,
                &omnibus,
                now,
                &ReleaseInput {
                    version: version.clone(),
                    released_on: format!("2023-{:02}-{:02}", round.min(12), k + 1),
                    kind: "patch".into(),
                    notes_url: String::new(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("release {version}: {e:?}"));
            release::Entity::find()
                .filter(release::Column::Version.eq(&version))
                .one(db)
                .await
                .expect("the release")
                .expect("the release is there")
        } else {
            release::ActiveModel {
                id: NotSet,
                version: Set(version.clone()),
                major: Set(16),
                minor: Set(i32::try_from(round).unwrap_or_default()),
                patch: Set(k),
                pre: Set(None),
                released_on: Set(
                    chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default()
                        + chrono::Days::new(u64::try_from(round * 6 + k as usize).unwrap_or(0)),
                ),
                kind: Set(if k == 0 {
                    app::domain::ReleaseKind::Regular
                } else {
                    app::domain::ReleaseKind::Patch
                }),
                created_at: Set(now),
                notes_url: Set(None),
            }
            .insert(db)
            .await
            .expect("a release")
        };
        for pr in &seeded.products {
            add_images(app, "aws", pr, &r).await;
        }
        listing_version::Entity::insert_many(seeded.listings.iter().map(|l| {
            listing_version::ActiveModel {
                id: NotSet,
                listing_id: Set(l.id),
                release_id: Set(Some(r.id)),
                title: Set(format!("{} {version} Release", l.entity_name)),
                delivery_option_id: Set(Some(format!("do-{round}-{k}-{}", l.id))),
                visibility: Set(app::domain::ListingVersionVisibility::Public),
                published_at: Set(now),
                source: Set(app::domain::VersionSource::Portal),
                arch: Set(None),
            }
        }))
        .exec(db)
        .await
        .expect("listing versions");
    }
    let newest = release::Entity::find()
        .filter(release::Column::Version.eq("17.6.0"))
        .one(db)
        .await
        .expect("the newest release")
        .expect("the newest release is there");
    for (partner, pr) in &new_products {
        add_images(app, partner, pr, &newest).await;
    }
}

/// Writes every architecture's image of a release of a product, available in every target
/// region.
async fn add_images(app: &TestApp, partner: &str, pr: &product::Model, r: &release::Model) {
    let db = app.conn();
    let now = app.clock.now();
    let regions: Vec<String> = serde_json::from_str(&pr.target_regions).unwrap_or_default();
    for a in product_architecture::Entity::find()
        .filter(product_architecture::Column::ProductId.eq(pr.id))
        .all(db)
        .await
        .expect("architectures")
    {
        let iv = image_version::ActiveModel {
            id: NotSet,
            product_id: Set(pr.id),
            release_id: Set(r.id),
            arch: Set(a.arch),
            name: Set(format!("{} {} {}", pr.name, r.version, a.arch)),
            state: Set(ImageState::Available),
            created_at: Set(now),
            updated_at: Set(now),
            rebuild: Set(0),
            superseded_by: Set(None),
            superseded_at: Set(None),
            rebuild_reason: Set(None),
            base_image_id: Set(None),
            base_image_name: Set(None),
            source: Set(app::domain::ImageSource::Portal),
        }
        .insert(db)
        .await
        .expect("an image version");
        image_region::Entity::insert_many(regions.iter().map(|region| image_region::ActiveModel {
            id: NotSet,
            image_version_id: Set(iv.id),
            region: Set(region.clone()),
            image_id: Set(Some(format!(
                "ami-{}",
                &sha256_hex(&format!("{partner} {} {} {region}", pr.slug, iv.name))[..17]
            ))),
            state: Set(RegionImageState::Public),
            updated_at: Set(now),
        }))
        .exec(db)
        .await
        .expect("regional images");
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The pages the bench loads and the main lists, with GitLab Ultimate's listing page.
async fn catalogue_pages(app: &TestApp) -> Vec<String> {
    let listing = listing::Entity::find()
        .filter(listing::Column::EntityName.eq("GitLab Ultimate"))
        .one(app.conn())
        .await
        .expect("listings")
        .map_or(1, |l| l.id);
    [
        "/",
        "/releases",
        &format!("/listings/{listing}"),
        "/listings",
        "/public-images",
        "/partners",
        "/products",
        "/products/aws/gitlab-ee",
        "/jobs",
        "/trains",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Every page and list the test counts, on the catalogue as it is now.
async fn counts(app: &TestApp, counting: &Counting, train_of: &str) -> BTreeMap<String, usize> {
    let mut paths = catalogue_pages(app).await;
    paths.extend([
        format!("/releases/{train_of}/train"),
        "/api/v1/partners".to_owned(),
        "/api/v1/products".to_owned(),
        "/api/v1/releases".to_owned(),
        "/api/v1/listings".to_owned(),
        "/api/v1/images/lookup?release=latest&product=gitlab-ee&arch=arm64&region=eu-west-1"
            .to_owned(),
        "/api/v1/images/lookup?release=17.5.1&product=gitlab-ce&arch=amd64&region=us-east-1"
            .to_owned(),
        "/api/v1/jobs".to_owned(),
        "/api/v1/trains".to_owned(),
        format!("/api/v1/releases/{train_of}/train"),
    ]);
    let mut out = BTreeMap::new();
    for path in paths {
        // Once to warm what a first request warms, then counted with nothing kept: the
        // count is of the page's whole work, not of a kept read model.
        counting.count(&path).await;
        app.state.reads.clear();
        let n = counting.count(&path).await;
        out.insert(path.replace(train_of, "{train}"), n);
    }
    out
}

async fn sizes(app: &TestApp) -> String {
    use app::services::entities::{job, train_step};
    let db = app.conn();
    format!(
        "partners {}, products {}, releases {}, image versions {}, regional images {}, listings {}, listing versions {}, jobs {}, train steps {}",
        partner::Entity::find().count(db).await.unwrap_or(0),
        product::Entity::find().count(db).await.unwrap_or(0),
        release::Entity::find().count(db).await.unwrap_or(0),
        image_version::Entity::find().count(db).await.unwrap_or(0),
        image_region::Entity::find().count(db).await.unwrap_or(0),
        listing::Entity::find().count(db).await.unwrap_or(0),
        listing_version::Entity::find().count(db).await.unwrap_or(0),
        job::Entity::find().count(db).await.unwrap_or(0),
        train_step::Entity::find().count(db).await.unwrap_or(0),
    )
}

async fn no_count_grows_with_the_catalogue(backend: Backend) {
    let app = TestApp::spawn(backend).await.expect("portal");
    let seeded = Seeded::read(&app).await;
    grow(&app, &seeded, 1).await;
    let small_sizes = sizes(&app).await;
    let counting = Counting::start(&app, "alex").await;
    let small = counts(&app, &counting, "16.1.5").await;
    for round in 2..=10 {
        grow(&app, &seeded, round).await;
    }
    let large_sizes = sizes(&app).await;
    let large = counts(&app, &counting, "16.10.5").await;
    let mut grew = Vec::new();
    for (path, before) in &small {
        let after = large[path];
        tracing::info!(?backend, path, before, after, "statements of one request");
        if after > *before {
            grew.push(format!("{path}: {before} statements, then {after}"));
        }
    }
    assert!(
        grew.is_empty(),
        "{backend:?}: statements grew with the catalogue ({small_sizes}; then {large_sizes}):\n{}",
        grew.join("\n")
    );
}

#[tokio::test]
async fn no_page_or_list_runs_more_statements_on_a_larger_catalogue() {
    each_backend(no_count_grows_with_the_catalogue).await;
}

/// The counter sees what a page's server functions run while it renders, and nothing
/// for a request that runs none.
#[tokio::test]
async fn a_page_counts_the_statements_of_its_server_functions() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("portal");
    let counting = Counting::start(&app, "alex").await;
    // The health check runs nothing but resolving the session.
    let session = counting.count("/-/health").await;
    app.state.reads.clear();
    let me = counting.count("/api/v1/me").await;
    assert!(
        session >= 1 && me >= session,
        "the session is counted ({session}, {me})"
    );
    // The dashboard's server functions render in tasks of their own, and count.
    app.state.reads.clear();
    let page = counting.count("/").await;
    assert!(
        page > session + 10,
        "the dashboard's data is counted ({page} statements; its session alone {session})"
    );
}

/// A write through the portal, as a person makes one: a new partner named `name`, added by
/// Alex through the REST API. Returns Alex's signed-in client.
async fn add_partner(app: &TestApp, name: &str) -> reqwest::Client {
    let alex = app.signed_in("alex").await.expect("alex");
    let res = alex
        .post(app.url("/api/v1/partners"))
        .json(&serde_json::json!({
            "name": name, "slug": name.to_lowercase().replace(' ', "-"),
            "cloud": "other", "status": "prospect",
        }))
        .send()
        .await
        .expect("created");
    assert!(res.status().is_success(), "{}", res.status());
    alex
}

/// Counts Alex's requests, with nothing kept yet, and what is read then kept for an hour:
/// however slowly this machine runs the requests, the later ones find what is kept.
async fn counting_what_is_kept(app: &TestApp) -> Counting {
    let counting = Counting::start(app, "alex").await;
    app.state
        .reads
        .keep_for(std::time::Duration::from_secs(3600));
    app.state.reads.clear();
    counting
}

/// A session read for one request is kept for the next: it runs no statement, until a write
/// through the portal drops what is kept. The lookup is kept the same way.
#[tokio::test]
async fn a_session_and_a_lookup_are_kept_between_requests_until_a_write() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("portal");
    let counting = counting_what_is_kept(&app).await;
    let lookup =
        "/api/v1/images/lookup?release=17.5.1&product=gitlab-ce&arch=amd64&region=us-east-1";
    let read = counting.count(lookup).await;
    let kept = counting.count(lookup).await;
    let health = counting.count("/-/health").await;
    assert!(
        read >= 3 && kept == 0 && health == 0,
        "the session and the answer are kept ({read} statements reading them, then {kept}, and {health} for the health check)"
    );
    // Another question is read.
    let other = counting
        .count("/api/v1/images/lookup?release=17.5.1&product=gitlab-ce&arch=arm64&region=us-east-1")
        .await;
    assert!(other >= 2, "another lookup is read ({other} statements)");
    // A write drops both.
    add_partner(&app, "Kept Cloud").await;
    let after = counting.count(lookup).await;
    assert_eq!(after, read, "read again in full after the write");
}

/// A page rendered for one person is served to them again without a statement, each time
/// with a nonce of its own in its policy and its scripts; someone else's is rendered for
/// them, and a write through the portal has the page rendered again, showing it.
#[tokio::test]
async fn a_page_is_kept_for_its_person_with_a_new_nonce_each_time_until_a_write() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("portal");
    let alex = counting_what_is_kept(&app).await;
    let (rendered, first_nonce, first) = alex.load("/partners").await;
    let (kept, second_nonce, second) = alex.load("/partners").await;
    assert!(
        rendered > 0 && kept == 0,
        "the page is kept ({rendered} statements rendering it, then {kept})"
    );
    assert!(
        !first_nonce.is_empty() && first_nonce != second_nonce,
        "each answer has a nonce of its own ({first_nonce} then {second_nonce})"
    );
    let scripts = second.matches("<script").count();
    assert!(
        scripts > 0 && second.matches(&format!("nonce=\"{second_nonce}\"")).count() == scripts,
        "every script of the kept page carries the new nonce"
    );
    assert!(
        !second.contains(&first_nonce),
        "nothing of the render's nonce"
    );
    assert_eq!(
        first.replace(&first_nonce, "N"),
        second.replace(&second_nonce, "N"),
        "the same page"
    );

    // Vic's page is Vic's.
    let vic = Counting::start(&app, "vic").await;
    let (vics, _, vics_page) = vic.load("/partners").await;
    assert!(vics > 0, "rendered for Vic ({vics} statements)");
    assert!(first.contains("Alex Rivera") && !vics_page.contains("Alex Rivera"));

    // A write: the page is rendered again and shows it.
    add_partner(&app, "Kept Cloud").await;
    let (after, _, page) = alex.load("/partners").await;
    assert!(after > 0, "rendered again after the write");
    assert!(page.contains("Kept Cloud") && !first.contains("Kept Cloud"));
}

/// The dashboard's read models are kept between loads, and a write through the portal drops
/// them: the next load computes them again and shows the change.
#[tokio::test]
async fn the_dashboards_kept_read_models_are_dropped_by_a_write() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("portal");
    let counting = counting_what_is_kept(&app).await;
    let computed = counting.count("/").await;
    let kept = counting.count("/").await;
    assert!(
        kept + 5 < computed,
        "a second load uses the kept models ({kept} statements; {computed} computing them)"
    );
    // A write: a new partner, through the API.
    let alex = add_partner(&app, "Kept Cloud").await;
    let after = counting.count("/").await;
    assert!(
        after > kept + 5,
        "the write dropped the kept models ({after} statements after it; {kept} kept)"
    );
    let html = alex
        .get(app.url("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Kept Cloud"),
        "the new partner is on the dashboard"
    );
}

/// The data each resource of a page carried to the browser, in the order the page wrote it.
fn resolved_resources(html: &str) -> Vec<String> {
    const START: &str = "__RESOLVED_RESOURCES[";
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(START) {
        rest = &rest[at + START.len()..];
        let Some(open) = rest.find("] = \"") else {
            break;
        };
        let body = &rest[open + "] = \"".len()..];
        let mut escaped = false;
        let end = body.char_indices().find_map(|(i, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes.then_some(i)
        });
        let Some(end) = end else { break };
        out.push(body[..end].to_owned());
        rest = &body[end..];
    }
    out
}

/// A page sends its data once, as markup: nothing the server loaded for it is serialized
/// into the page again for the browser (that is what hydrating whole pages did).
#[tokio::test]
async fn pages_send_their_data_as_markup_only() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("portal");
    let alex = app.signed_in("alex").await.expect("alex");
    let mut paths = catalogue_pages(&app).await;
    paths.extend(
        [
            "/partners/aws",
            "/maintenance",
            "/workflows",
            "/cloud",
            "/assets",
        ]
        .map(str::to_owned),
    );
    for path in paths {
        let res = alex.get(app.url(&path)).send().await.expect("page");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let html = res.text().await.expect("html");
        assert!(html.contains("<main"), "{path} renders the page");
        // Pages render on the server; only islands hydrate, and these pages' islands load
        // nothing. Data serialized for hydration would be every row sent a second time.
        let resources = resolved_resources(&html);
        assert!(
            resources.is_empty(),
            "{path} sends data besides its markup: {}",
            resources
                .iter()
                .map(|d| d.chars().take(80).collect::<String>())
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}

#[test]
fn resolved_resources_are_read_whole_with_their_escapes() {
    let html = r#"<script>__RESOLVED_RESOURCES[0] = "{\"Ok\":\"a \\\"b\\\"\"}";__RESOLVED_RESOURCES[3] = "x";</script>"#;
    assert_eq!(
        resolved_resources(html),
        vec![r#"{\"Ok\":\"a \\\"b\\\"\"}"#.to_owned(), "x".to_owned()]
    );
}
