//! Marketing assets as marketing uses them: each kind's content and limits, versions, links
//! to listings and workflow tasks with the customer's agreement for quotes, the asset store
//! in a local folder or in S3 (moto) shared by several portal processes, and the public URL
//! of the logo an approved copy pins.

use app::{
    domain::{AssetKind, CopyState},
    dto::{AssetContent, AssetLinkInput, FirstTimeInput},
    error::ErrorCode,
    services::{
        Clock, assets,
        entities::{copy_revision, listing},
        process,
    },
};
use object_store::{ObjectStore, path::Path as StorePath};
use portal_tests::{Backend, PNG_1X1, TestApp, each_backend, s3::Moto};
use reqwest::{StatusCode, multipart};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

/// Posts a new asset as a multipart form: `fields` as text parts, and the file if any.
async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
    file: Option<(&[u8], &str)>,
) -> (StatusCode, Value) {
    let mut form = multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some((bytes, name)) = file {
        form = form.part(
            "file",
            multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
        );
    }
    let res = client
        .post(app.url("/api/v1/assets"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = res.status();
    (status, res.json().await.expect("json"))
}

fn field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body["fields"]
        .as_array()?
        .iter()
        .find(|f| f["field"] == name)?["message"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_is_made_of_what_marketing_uses_and_refuses_what_it_does_not_take() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let base = |kind: &'static str| vec![("partner", "aws"), ("kind", kind), ("title", "t")];

    // A customer quote is a text: a file on it is an error on the file, never dropped.
    let mut quote = base("customer_quote");
    quote.extend([
        ("text", "It just works."),
        ("attribution", "A. Customer, Example Corp"),
    ]);
    let (status, body) = upload(&app, &maya, &quote, Some((PNG_1X1, "quote.png"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body, "file"), Some("a customer quote takes no file"));
    let (status, body) = upload(&app, &maya, &quote, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v = &body["versions"][0];
    assert_eq!(
        (
            &v["text"],
            &v["attribution"],
            &v["customer_agreed"],
            &v["url"]
        ),
        (
            &json!("It just works."),
            &json!("A. Customer, Example Corp"),
            &json!(false),
            &Value::Null
        )
    );
    assert_eq!(v["sha256"].as_str().map(str::len), Some(64));

    // A video is an https link, and nothing else.
    let (status, body) = upload(&app, &maya, &base("video"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        field(&body, "link").is_some_and(|m| m.contains("is required")),
        "{body}"
    );
    let mut video = base("video");
    video.push(("link", "http://www.youtube.com/watch?v=gitlab"));
    let (status, body) = upload(&app, &maya, &video, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        field(&body, "link").is_some_and(|m| m.contains("https")),
        "{body}"
    );
    let mut video = base("video");
    video.extend([
        ("link", "https://www.youtube.com/watch?v=gitlab"),
        ("customer_agreed", "true"),
    ]);
    let (status, body) = upload(&app, &maya, &video, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(field(&body, "customer_agreed").is_some(), "{body}");
    video.pop();
    let (status, body) = upload(&app, &maya, &video, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["versions"][0]["link"],
        "https://www.youtube.com/watch?v=gitlab"
    );

    // A blog post is a link and its summary.
    let mut post = base("blog_post");
    post.push(("link", "https://about.gitlab.com/blog/gitlab-on-aws/"));
    let (status, body) = upload(&app, &maya, &post, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body, "text"), Some("is required"));
    post.push(("text", "How GitLab runs on AWS."));
    let (status, body) = upload(&app, &maya, &post, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A logo is at most 5 MB, and says so.
    let mut big = PNG_1X1.to_vec();
    big.resize(6 * 1024 * 1024, 0);
    let (status, body) = upload(&app, &maya, &base("logo"), Some((&big, "big.png"))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("a logo may be at most 5 MB")),
        "{body}"
    );
    // A screenshot of the same size is fine.
    let (status, body) = upload(&app, &maya, &base("screenshot"), Some((&big, "big.png"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A PDF is fine as `other`, never as a logo.
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
    let (status, body) = upload(&app, &maya, &base("logo"), Some((pdf, "logo.png"))).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(
        field(&body, "file").is_some_and(|m| m.contains("PNG, JPEG or SVG")),
        "{body}"
    );
    let (status, body) = upload(&app, &maya, &base("other"), Some((pdf, "brief.pdf"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["versions"][0]["content_type"], "application/pdf");
    let notes = "Launch notes\n- blog post on the 3rd\n".as_bytes();
    let (status, body) = upload(&app, &maya, &base("other"), Some((notes, "notes.txt"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["versions"][0]["content_type"],
        "text/plain; charset=utf-8"
    );

    // What the form says that does not parse is an error on its field.
    let mut odd = quote.clone();
    odd.extend([("customer_agreed", "perhaps"), ("listing_id", "first")]);
    let (status, body) = upload(&app, &maya, &odd, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(field(&body, "customer_agreed").is_some() && field(&body, "listing_id").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_kept_and_a_quotes_new_text_is_a_new_version() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let maya = app.user("maya").await;
        let store = app.state.store.as_ref();
        let now = app.clock.now();
        let said = |text: &str, agreed: bool| AssetContent {
            text: text.into(),
            attribution: "Dana Ops, Example Corp".into(),
            customer_agreed: agreed,
            ..Default::default()
        };
        let input = assets::UploadInput {
            partner: "aws".into(),
            kind: "customer_quote".into(),
            title: "Example Corp on GitLab".into(),
            content: said("GitLab on AWS cut our release time in half.", false),
            ..Default::default()
        };
        let quote = assets::create(app.conn(), store, &maya, now, input)
            .await
            .expect("v1");
        let add = async |content: AssetContent| {
            assets::add_version(
                app.conn(),
                store,
                &maya,
                now,
                quote.id,
                "",
                Default::default(),
                &content,
            )
            .await
        };
        let quote = add(said("GitLab on AWS cut our release time by half.", false))
            .await
            .expect("v2");
        let texts: Vec<(i32, Option<&str>)> = quote
            .versions
            .iter()
            .map(|v| (v.version, v.text.as_deref()))
            .collect();
        assert_eq!(
            texts,
            [
                (2, Some("GitLab on AWS cut our release time by half.")),
                (1, Some("GitLab on AWS cut our release time in half.")),
            ],
            "{backend:?}"
        );
        let same = add(said("GitLab on AWS cut our release time by half.", false))
            .await
            .expect_err("the same text");
        assert_eq!(same.code, ErrorCode::Conflict);
        // The customer's agreement to the same words is a version of its own.
        let quote = add(said("GitLab on AWS cut our release time by half.", true))
            .await
            .expect("v3");
        assert_eq!(quote.versions[0].version, 3);
        assert!(quote.versions[0].customer_agreed && !quote.versions[1].customer_agreed);
        // A file is no version of a quote.
        let err = assets::add_version(
            app.conn(),
            store,
            &maya,
            now,
            quote.id,
            "q.png",
            PNG_1X1.to_vec().into(),
            &said("x", true),
        )
        .await
        .expect_err("a file");
        assert_eq!(err.field("file"), Some("a customer quote takes no file"));
        assert_eq!(
            assets::get(app.conn(), quote.id)
                .await
                .expect("get")
                .versions
                .len(),
            3
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_names_its_listing_and_a_task_link_shows_in_the_workflow() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let premium = app.listing("GitLab Premium").await.expect("premium");
    let (premium, premium_title) = (premium.id, premium.title);
    let listing_id = premium.to_string();

    let (status, post) = upload(
        &app,
        &maya,
        &[
            ("partner", "aws"),
            ("kind", "blog_post"),
            ("title", "GitLab Premium on AWS"),
            (
                "link",
                "https://about.gitlab.com/blog/gitlab-premium-on-aws/",
            ),
            ("text", "Launch post."),
            ("listing_id", &listing_id),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert_eq!(post["links"][0]["listing_id"], premium);
    assert_eq!(post["links"][0]["listing_title"], premium_title.as_str());
    assert_eq!(post["links"][0]["linked_by"], "maya");
    let listed: Value = maya
        .get(app.url(&format!("/api/v1/listings/{premium}/assets")))
        .send()
        .await
        .expect("listing assets")
        .json()
        .await
        .expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], post["id"]);
    assert_eq!(listed[0]["kind"], "blog_post");

    // Another partner's asset cannot go on this listing.
    let (status, body) = upload(
        &app,
        &maya,
        &[
            ("partner", "azure"),
            ("kind", "video"),
            ("title", "Azure video"),
            ("link", "https://www.youtube.com/watch?v=azure"),
            ("listing_id", &listing_id),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(field(&body, "listing_id").is_some(), "{body}");

    // Linked to the marketing stage's task of a first-time image, it shows on the task.
    let priya = app.user("priya").await;
    let workflow = process::start_first_time(
        app.conn(),
        &priya,
        app.clock.now(),
        &FirstTimeInput {
            partner: "aws".into(),
            product: String::new(),
        },
    )
    .await
    .expect("workflow");
    let marketing = workflow
        .stages
        .iter()
        .find(|s| s.key == "marketing")
        .expect("marketing stage");
    let (task, other_task) = (marketing.tasks[0].id, marketing.tasks[1].id);
    let res = maya
        .post(app.url(&format!("/api/v1/assets/{}/links", post["id"])))
        .json(&json!({ "task_id": task }))
        .send()
        .await
        .expect("link");
    assert_eq!(res.status(), StatusCode::CREATED);
    let linked: Value = res.json().await.expect("json");
    let task_link = linked["links"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["task_id"] == task))
        .expect("the task's link")
        .clone();
    assert_eq!(task_link["workflow_id"], workflow.summary.id);
    let res = maya
        .post(app.url(&format!("/api/v1/assets/{}/links", post["id"])))
        .json(&json!({ "task_id": task }))
        .send()
        .await
        .expect("again");
    assert_eq!(res.status(), StatusCode::CONFLICT, "linking twice");
    let res = maya
        .post(app.url(&format!("/api/v1/assets/{}/links", post["id"])))
        .json(&json!({ "task_id": task, "listing_id": premium }))
        .send()
        .await
        .expect("both");
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "one target at a time"
    );

    let seen: Value = maya
        .get(app.url(&format!("/api/v1/workflows/{}", workflow.summary.id)))
        .send()
        .await
        .expect("workflow")
        .json()
        .await
        .expect("json");
    let tasks: Vec<&Value> = seen["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["tasks"].as_array().into_iter().flatten())
        .collect();
    let assets_of = |id: i32| {
        tasks
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["assets"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        assets_of(task),
        json!([{
            "id": post["id"], "kind": "blog_post", "title": "GitLab Premium on AWS", "version": 1,
            "url": null, "link": "https://about.gitlab.com/blog/gitlab-premium-on-aws/",
            "customer_agreed": false
        }])
    );
    assert_eq!(assets_of(other_task), json!([]));

    // Unlinked, it is gone from the task and stays on the listing.
    let res = maya
        .delete(app.url(&format!(
            "/api/v1/assets/{}/links/{}",
            post["id"], task_link["id"]
        )))
        .send()
        .await
        .expect("unlink");
    assert_eq!(res.status(), StatusCode::OK);
    let after: Value = res.json().await.expect("json");
    assert_eq!(after["links"].as_array().map(Vec::len), Some(1));
    let workflow = process::get(app.conn(), app.clock.now(), workflow.summary.id)
        .await
        .expect("workflow");
    assert!(
        workflow
            .stages
            .iter()
            .flat_map(|s| &s.tasks)
            .all(|t| t.assets.is_empty())
    );

    // A viewer may look but not link.
    let vic = app.signed_in("vic").await.expect("vic");
    let res = vic
        .post(app.url(&format!("/api/v1/assets/{}/links", post["id"])))
        .json(&json!({ "task_id": task }))
        .send()
        .await
        .expect("viewer");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quote_goes_on_a_listing_only_with_the_customers_agreement() {
    each_backend(|backend| async move {
        let app = TestApp::spawn(backend).await.expect("app");
        let maya = app.user("maya").await;
        let store = app.state.store.as_ref();
        let now = app.clock.now();
        let premium = app.listing("GitLab Premium").await.expect("premium").id;
        let said = |agreed: bool| AssetContent {
            text: "We moved to GitLab on AWS in a week.".into(),
            attribution: "Sam Lead, Example Corp".into(),
            customer_agreed: agreed,
            ..Default::default()
        };
        let input = |agreed: bool, listing_id: Option<i32>| assets::UploadInput {
            partner: "aws".into(),
            kind: "customer_quote".into(),
            title: "Example Corp".into(),
            content: said(agreed),
            listing_id,
            ..Default::default()
        };
        let err = assets::create(app.conn(), store, &maya, now, input(false, Some(premium)))
            .await
            .expect_err("not agreed");
        assert_eq!(err.code, ErrorCode::Conflict, "{backend:?}");
        assert_eq!(
            err.field("customer_agreed"),
            Some("the customer has not agreed to this quote being used")
        );
        assert_eq!(
            assets::list(app.conn(), None, Default::default())
                .await
                .expect("list")
                .total,
            0,
            "nothing was kept"
        );

        let quote = assets::create(app.conn(), store, &maya, now, input(false, None))
            .await
            .expect("an unagreed quote");
        let on_listing = AssetLinkInput {
            listing_id: Some(premium),
            task_id: None,
        };
        let err = assets::link(app.conn(), &maya, now, quote.id, &on_listing)
            .await
            .expect_err("not agreed");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.field("customer_agreed").is_some());

        let agreed = assets::add_version(
            app.conn(),
            store,
            &maya,
            now,
            quote.id,
            "",
            Default::default(),
            &said(true),
        )
        .await
        .expect("agreed");
        assert!(agreed.versions[0].customer_agreed);
        let linked = assets::link(app.conn(), &maya, now, quote.id, &on_listing)
            .await
            .expect("linked");
        assert_eq!(linked.links[0].listing_id, Some(premium));
        assert_eq!(
            assets::of_listing(app.conn(), premium)
                .await
                .expect("of listing")[0]
                .id,
            quote.id
        );

        // On a listing, a new version the customer has not agreed to is refused.
        let mut unagreed = said(false);
        unagreed.text = "We moved to GitLab on AWS in five days.".into();
        let err = assets::add_version(
            app.conn(),
            store,
            &maya,
            now,
            quote.id,
            "",
            Default::default(),
            &unagreed,
        )
        .await
        .expect_err("on a listing");
        assert_eq!(err.code, ErrorCode::Conflict);
        assert!(err.field("customer_agreed").is_some());
        // Off the listing it may change again.
        assets::unlink(app.conn(), &maya, now, quote.id, linked.links[0].id)
            .await
            .expect("unlinked");
        let changed = assets::add_version(
            app.conn(),
            store,
            &maya,
            now,
            quote.id,
            "",
            Default::default(),
            &unagreed,
        )
        .await
        .expect("off the listing");
        assert_eq!(changed.versions[0].version, 3);
        assert!(
            assets::of_listing(app.conn(), premium)
                .await
                .expect("of listing")
                .is_empty()
        );
    })
    .await;
}

/// A copy revision of `listing` in `state` pinning version `version` of the logo `asset`.
async fn pin_logo(app: &TestApp, listing: i32, asset: i32, version: i32, state: CopyState) -> i32 {
    let maya = app.user("maya").await;
    copy_revision::ActiveModel {
        listing_id: Set(listing),
        number: Set(100 + asset),
        title: Set("GitLab Premium".into()),
        short_description: Set("GitLab Premium on AWS.".into()),
        long_description: Set("# GitLab Premium".into()),
        highlights: Set(r#"["One application"]"#.into()),
        usage_instructions: Set("https://docs.gitlab.com/install/aws/".into()),
        release_notes_template: Set("GitLab {version}".into()),
        categories: Set(r#"["DevOps"]"#.into()),
        author_id: Set(maya.id),
        author: Set(maya.name.clone()),
        created_at: Set(app.clock.now()),
        state: Set(state),
        publish_marked_at: Set(None),
        publish_marked_by: Set(None),
        search_keywords: Set("[]".into()),
        sku: Set(String::new()),
        support_description: Set(String::new()),
        logo_asset_id: Set(Some(asset)),
        logo_version: Set(Some(version)),
        video_url: Set(String::new()),
        additional_resources: Set("[]".into()),
        ..Default::default()
    }
    .insert(app.conn())
    .await
    .expect("revision")
    .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_logo_route_serves_only_an_approved_or_live_copys_logo() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let premium = app.listing("GitLab Premium").await.expect("premium").id;
    let ultimate = app.listing("GitLab Ultimate").await.expect("ultimate").id;
    let logo_of = |title: &'static str, listing: i32| {
        let listing = listing.to_string();
        let maya = &maya;
        let app = &app;
        async move {
            let (status, body) = upload(
                app,
                maya,
                &[
                    ("partner", "aws"),
                    ("kind", "logo"),
                    ("title", title),
                    ("listing_id", &listing),
                ],
                Some((PNG_1X1, "GitLab logo (orange).png")),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"]
                .as_i64()
                .and_then(|id| i32::try_from(id).ok())
                .expect("id")
        }
    };
    let approved = logo_of("Approved logo", premium).await;
    let drafted = logo_of("Draft logo", premium).await;
    let live = logo_of("Live logo", ultimate).await;
    pin_logo(&app, premium, approved, 1, CopyState::Approved).await;
    pin_logo(&app, premium, drafted, 1, CopyState::Draft).await;
    let superseded = pin_logo(&app, ultimate, live, 1, CopyState::Superseded).await;
    let mut row: listing::ActiveModel = listing::Entity::find_by_id(ultimate)
        .one(app.conn())
        .await
        .expect("read")
        .expect("ultimate")
        .into();
    row.live_copy_revision_id = Set(Some(superseded));
    row.update(app.conn()).await.expect("live");

    // The URL AWS Marketplace is given: the portal's public address, the version, a safe name.
    let url = app
        .state
        .asset_urls
        .public_url(approved, 1, "assets/x", "GitLab logo (orange).png")
        .expect("public url");
    assert_eq!(
        url,
        format!("https://portal.test/public/assets/{approved}/1/GitLablogoorange.png")
    );
    let path = url.trim_start_matches("https://portal.test");
    let anonymous = TestApp::client();
    let res = anonymous.get(app.url(path)).send().await.expect("logo");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .is_ok_and(|csp| csp.contains("sandbox"))
    );
    assert_eq!(res.bytes().await.expect("bytes").as_ref(), PNG_1X1);
    // It reads no credentials, so whatever a client sends along changes nothing.
    let res = anonymous
        .get(app.url(path))
        .bearer_auth("pip_not-a-token")
        .send()
        .await
        .expect("with a header");
    assert_eq!(res.status(), StatusCode::OK);
    let res = anonymous
        .get(app.url(&format!("/public/assets/{live}/1/logo.png")))
        .send()
        .await
        .expect("live logo");
    assert_eq!(res.status(), StatusCode::OK, "the live revision's logo");

    // Nothing else: a draft's logo, another version, an asset nobody pinned, another shape.
    for path in [
        format!("/public/assets/{drafted}/1/logo.png"),
        format!("/public/assets/{approved}/2/logo.png"),
        format!("/public/assets/{}/1/logo.png", approved + 100),
        format!("/public/assets/{approved}/1/logo.png/more"),
        format!("/public/assets/{approved}/logo.png"),
        format!("/public/assets/-{approved}/1/logo.png"),
    ] {
        let res = anonymous.get(app.url(&path)).send().await.expect("refused");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["code"], "not_found");
    }
    let res = anonymous.post(app.url(path)).send().await.expect("post");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "only read");
    // Only that route is public: anything beside it still asks to sign in.
    for path in [
        format!("/api/v1/assets/{approved}/versions/1/file"),
        format!("/assets/{approved}"),
        "/public/assets/".to_owned(),
        "/public/other".to_owned(),
    ] {
        let res = anonymous.get(app.url(&path)).send().await.expect("private");
        assert!(
            matches!(
                res.status(),
                StatusCode::SEE_OTHER | StatusCode::UNAUTHORIZED
            ),
            "{path}: {}",
            res.status()
        );
    }
}

/// The bytes of version 1 of `asset`, read through a portal by someone signed in there.
async fn file_through(client: &reqwest::Client, url: String) -> (StatusCode, Vec<u8>) {
    let res = client.get(url).send().await.expect("file");
    let status = res.status();
    (status, res.bytes().await.expect("bytes").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_in_the_data_dir_are_shared_by_processes_sharing_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let (status, body) = upload(
        &app,
        &maya,
        &[("partner", "aws"), ("kind", "logo"), ("title", "Logo")],
        Some((PNG_1X1, "logo.png")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = &body["id"];
    let kept = std::fs::read_dir(app.data_dir.path().join("assets").join("assets"))
        .expect("the data dir's asset folder")
        .count();
    assert_eq!(kept, 1, "kept in <data dir>/assets by default");

    let other = app.another_process(&[]).await.expect("another process");
    let client = other.signed_in("vic").await.expect("vic");
    let (status, bytes) = file_through(
        &client,
        other.url(&format!("/api/v1/assets/{id}/versions/1/file")),
    )
    .await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, PNG_1X1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_in_s3_are_kept_under_the_prefix_and_served_by_another_process() {
    let moto = Moto::start()
        .await
        .expect("moto (pip install 'moto[server]')");
    moto.create_bucket("portal-assets").await.expect("bucket");
    let settings = [
        ("--assets-url", "s3://portal-assets/prod/marketing"),
        ("--assets-s3-endpoint", moto.url.as_str()),
    ];
    let app = TestApp::spawn_configured(Backend::Sqlite, &settings)
        .await
        .expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let (status, body) = upload(
        &app,
        &maya,
        &[
            ("partner", "aws"),
            ("kind", "logo"),
            ("title", "Logo in S3"),
        ],
        Some((PNG_1X1, "logo.png")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"]
        .as_i64()
        .and_then(|i| i32::try_from(i).ok())
        .expect("id");
    let sha = body["versions"][0]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();

    // In the bucket, under the prefix, with its type: looked at by a client of the test's own.
    let bucket = moto.bucket("portal-assets").expect("client");
    let key = format!("prod/marketing/assets/{id}/v1-{}", &sha[..16]);
    let object = bucket
        .get(&StorePath::from(key.as_str()))
        .await
        .expect("the object");
    assert_eq!(
        object
            .attributes
            .get(&object_store::Attribute::ContentType)
            .map(|v| v.as_ref()),
        Some("image/png")
    );
    assert_eq!(object.bytes().await.expect("bytes").as_ref(), PNG_1X1);
    assert!(
        !app.data_dir.path().join("assets").join("assets").exists(),
        "nothing on the local disk"
    );
    // Its public URL is the object's own.
    assert_eq!(
        app.state
            .asset_urls
            .public_url(id, 1, &format!("assets/{id}/v1-{}", &sha[..16]), "logo.png")
            .expect("url"),
        format!("{}/portal-assets/{key}", moto.url)
    );

    // Another process with a data directory of its own, the same database and bucket.
    let elsewhere = tempfile::tempdir().expect("dir");
    let other = app
        .another_process(&[("--data-dir", &elsewhere.path().display().to_string())])
        .await
        .expect("another process");
    let client = other.signed_in("vic").await.expect("vic");
    let (status, bytes) = file_through(
        &client,
        other.url(&format!("/api/v1/assets/{id}/versions/1/file")),
    )
    .await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, PNG_1X1));

    // And what the other one keeps, the first one serves.
    let maya_there = other.signed_in("maya").await.expect("maya");
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>"#;
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(svg.to_vec()).file_name("logo.svg"),
    );
    let res = maya_there
        .post(other.url(&format!("/api/v1/assets/{id}/versions")))
        .multipart(form)
        .send()
        .await
        .expect("version");
    assert_eq!(res.status(), StatusCode::OK);
    let (status, bytes) = file_through(
        &maya,
        app.url(&format!("/api/v1/assets/{id}/versions/2/file")),
    )
    .await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, svg.as_slice()));
    let listed = bucket
        .list_with_delimiter(Some(&StorePath::from(format!(
            "prod/marketing/assets/{id}"
        ))))
        .await
        .expect("list");
    assert_eq!(listed.objects.len(), 2);
    assert_eq!(
        assets::get(app.conn(), id).await.expect("asset").kind,
        AssetKind::Logo
    );
}

/// The strong validator a version's file is served with: its SHA-256, quoted.
fn etag_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("\"{}\"", hex_of(&sha2::Sha256::digest(bytes)))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deletes the stored bytes of version `version` of `asset`, so that only an answer that
/// does not read them can still succeed.
async fn forget_bytes(app: &TestApp, asset: i32, version: i32) {
    use app::services::entities::asset_version;
    use sea_orm::{ColumnTrait as _, QueryFilter as _};
    let v = asset_version::Entity::find()
        .filter(asset_version::Column::AssetId.eq(asset))
        .filter(asset_version::Column::Version.eq(version))
        .one(app.conn())
        .await
        .expect("read")
        .expect("the version");
    app.state
        .store
        .delete(&StorePath::from(v.storage_key.as_str()))
        .await
        .expect("deleted");
}

/// A GET of `url`, with `If-None-Match: if_none_match` when given: status, headers, body.
async fn conditional_get(
    client: &reqwest::Client,
    url: String,
    if_none_match: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = client.get(url);
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let res = req.send().await.expect("get");
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.bytes().await.expect("body").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_versions_file_is_kept_for_good_and_a_matching_tag_gets_304_without_reading_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let (status, body) = upload(
        &app,
        &maya,
        &[("partner", "aws"), ("kind", "other"), ("title", "Brief")],
        Some((b"the first brief", "brief.txt")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().expect("id");
    let res = maya
        .post(app.url(&format!("/api/v1/assets/{id}/versions")))
        .multipart(multipart::Form::new().part(
            "file",
            multipart::Part::bytes(b"the second brief".to_vec()).file_name("brief.txt"),
        ))
        .send()
        .await
        .expect("second version");
    assert_eq!(res.status(), StatusCode::OK);
    let url = |version: i32| app.url(&format!("/api/v1/assets/{id}/versions/{version}/file"));
    let first = etag_of(b"the first brief");

    let (status, headers, bytes) = conditional_get(&maya, url(1), None).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"the first brief"[..])
    );
    assert_eq!(headers["etag"], first.as_str(), "strong: no W/");
    assert_eq!(
        headers["cache-control"],
        "private, max-age=31536000, immutable"
    );
    let (_, headers, _) = conditional_get(&maya, url(2), None).await;
    assert_eq!(headers["etag"], etag_of(b"the second brief").as_str());

    // The tag the client holds, alone, in a list, weak, or `*`: not modified, no body.
    for held in [
        first.clone(),
        format!("\"other\", {first}"),
        format!("W/{first}"),
        "*".to_owned(),
    ] {
        let (status, headers, bytes) = conditional_get(&maya, url(1), Some(&held)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{held}");
        assert!(bytes.is_empty());
        assert_eq!(headers["etag"], first.as_str());
        assert_eq!(
            headers["cache-control"],
            "private, max-age=31536000, immutable"
        );
    }
    // Another version's tag is not this one's.
    let (status, _, bytes) = conditional_get(&maya, url(2), Some(&first)).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, &b"the second brief"[..])
    );

    // A 304 does not read the file: with its bytes gone, a matching tag still gets one.
    forget_bytes(&app, i32::try_from(id).expect("id"), 1).await;
    let (status, _, _) = conditional_get(&maya, url(1), Some(&first)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = conditional_get(&maya, url(1), None).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a read would fail"
    );

    // Signing in still comes first: a matching tag tells nobody anything.
    let (status, _, _) = conditional_get(&TestApp::client(), url(2), Some("*")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_logo_is_cacheable_by_anyone_and_answers_304_only_while_it_is_public() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let maya = app.signed_in("maya").await.expect("maya");
    let premium = app.listing("GitLab Premium").await.expect("premium").id;
    let (status, body) = upload(
        &app,
        &maya,
        &[
            ("partner", "aws"),
            ("kind", "logo"),
            ("title", "Logo"),
            ("listing_id", &premium.to_string()),
        ],
        Some((PNG_1X1, "logo.png")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let logo = body["id"]
        .as_i64()
        .and_then(|id| i32::try_from(id).ok())
        .expect("id");
    let revision = pin_logo(&app, premium, logo, 1, CopyState::Approved).await;
    let anonymous = TestApp::client();
    let url = app.url(&format!("/public/assets/{logo}/1/logo.png"));
    let tag = etag_of(PNG_1X1);

    let (status, headers, bytes) = conditional_get(&anonymous, url.clone(), None).await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, PNG_1X1));
    assert_eq!(headers["etag"], tag.as_str());
    assert_eq!(headers["cache-control"], "public, max-age=86400, immutable");
    let (status, headers, bytes) = conditional_get(&anonymous, url.clone(), Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(bytes.is_empty());
    assert_eq!(headers["etag"], tag.as_str());
    assert_eq!(headers["cache-control"], "public, max-age=86400, immutable");
    let (status, _, _) = conditional_get(&anonymous, url.clone(), Some("\"other\"")).await;
    assert_eq!(status, StatusCode::OK);

    // Without reading the bytes.
    forget_bytes(&app, logo, 1).await;
    let (status, _, _) = conditional_get(&anonymous, url.clone(), Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // Once no approved or live copy pins it, the tag is no way in: not found.
    let mut row: copy_revision::ActiveModel = copy_revision::Entity::find_by_id(revision)
        .one(app.conn())
        .await
        .expect("read")
        .expect("revision")
        .into();
    row.state = Set(CopyState::Draft);
    row.update(app.conn()).await.expect("no longer approved");
    let (status, _, _) = conditional_get(&anonymous, url, Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
