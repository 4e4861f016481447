//! A listing's AMI product as AWS Marketplace shows it: found by name (ListEntities, every
//! page) and read whole (DescribeEntity). The version publish, the copy publish, the cloud
//! sync and the live copy the copy page compares against all read it here.

use anyhow::anyhow;
use aws_sdk_marketplacecatalog::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::Entity,
};
use futures::future::BoxFuture;
use serde_json::Value;

use app::{
    dto::{AdditionalResource, LiveCopy},
    error::{AppError, AppResult},
    services::MarketplaceReader,
};

use super::JobError;
use crate::cloud::{Cloud, json_of};

/// The catalog every AMI product is in.
pub const CATALOG: &str = "AWSMarketplace";
/// The entity type (and its version) of an AMI product.
pub const ENTITY_TYPE: &str = "AmiProduct@1.0";

/// A failed call as a job error: throttling and AWS's own failures may pass by themselves
/// (and an answer without a code is a connection that broke), anything else will not.
pub(crate) fn api_err(
    what: &str,
    e: impl std::error::Error + ProvideErrorMetadata + 'static,
) -> JobError {
    let code = e.code().unwrap_or_default().to_owned();
    let text = format!("{what}: {}", DisplayErrorContext(&e));
    match code.as_str() {
        "ThrottlingException" | "InternalServiceException" | "" => {
            JobError::Retryable(anyhow!(text))
        }
        _ => JobError::Fatal(anyhow!(text)),
    }
}

/// The product an AMI product change applies to.
pub(crate) fn entity_ref(id: &str) -> Result<Entity, JobError> {
    Entity::builder()
        .r#type(ENTITY_TYPE)
        .identifier(id)
        .build()
        .map_err(|e| JobError::Fatal(anyhow!("building the entity: {e}")))
}

/// The entity id of the AMI product named `name`, looked for page by page.
pub(crate) async fn find_entity(
    client: &aws_sdk_marketplacecatalog::Client,
    name: &str,
) -> Result<String, JobError> {
    lookup_entity(client, name).await?.ok_or_else(|| {
        JobError::Fatal(anyhow!(
            "AWS Marketplace has no AMI product named '{name}': check the listing's entity name"
        ))
    })
}

/// The entity id of the AMI product named `name`, if there is one.
async fn lookup_entity(
    client: &aws_sdk_marketplacecatalog::Client,
    name: &str,
) -> Result<Option<String>, JobError> {
    let mut token = None;
    loop {
        let page = client
            .list_entities()
            .catalog(CATALOG)
            .entity_type("AmiProduct")
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| api_err("listing the marketplace's products", e.into_service_error()))?;
        if let Some(found) = page
            .entity_summary_list()
            .iter()
            .find(|e| e.name() == Some(name))
        {
            return found
                .entity_id()
                .map(|id| Some(id.to_owned()))
                .ok_or_else(|| JobError::Fatal(anyhow!("the product has no entity id")));
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(None),
        }
    }
}

/// The details document of an AMI product (DescribeEntity), as JSON.
pub(crate) async fn entity_details(
    client: &aws_sdk_marketplacecatalog::Client,
    entity_id: &str,
) -> Result<Value, JobError> {
    let described = client
        .describe_entity()
        .catalog(CATALOG)
        .entity_id(entity_id)
        .send()
        .await
        .map_err(|e| api_err("DescribeEntity", e.into_service_error()))?;
    match (described.details_document(), described.details()) {
        (Some(doc), _) => Ok(json_of(doc)),
        (None, Some(text)) => serde_json::from_str(text).map_err(|e| {
            JobError::Retryable(anyhow!(
                "the details of entity {entity_id} are not JSON: {e}"
            ))
        }),
        (None, None) => Err(JobError::Retryable(anyhow!(
            "entity {entity_id} came without its details"
        ))),
    }
}

/// The copy of an AMI product's details document, field by field as `UpdateInformation`
/// sets it (a field the document lacks is empty).
pub fn live_copy_of(details: &Value) -> LiveCopy {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let texts = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let description = &details["Description"];
    let promotion = &details["PromotionalResources"];
    LiveCopy {
        title: text(&description["ProductTitle"]),
        short_description: text(&description["ShortDescription"]),
        long_description: text(&description["LongDescription"]),
        highlights: texts(&description["Highlights"]),
        categories: texts(&description["Categories"]),
        search_keywords: texts(&description["SearchKeywords"]),
        sku: text(&description["Sku"]),
        support_description: text(&details["SupportInformation"]["Description"]),
        logo_url: text(&promotion["LogoUrl"]),
        video_url: promotion["Videos"]
            .as_array()
            .and_then(|videos| videos.first())
            .map(|v| text(&v["Url"]))
            .unwrap_or_default(),
        additional_resources: promotion["AdditionalResources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| AdditionalResource {
                text: text(&r["Text"]),
                url: text(&r["Url"]),
            })
            .collect(),
    }
}

/// A failed read, for the page that asked: the cause is logged, AWS's details are not shown.
fn app_error(e: JobError) -> AppError {
    let cause = match e {
        JobError::Retryable(e) | JobError::Fatal(e) | JobError::Blocked { error: e, .. } => {
            format!("{e:#}")
        }
        JobError::Cancelled | JobError::LeaseLost => "stopped".to_owned(),
    };
    AppError::internal("reading the listing's product from AWS Marketplace", cause)
}

impl MarketplaceReader for Cloud {
    fn live_copy<'a>(
        &'a self,
        entity_id: Option<&'a str>,
        entity_name: &'a str,
    ) -> BoxFuture<'a, AppResult<(String, LiveCopy)>> {
        Box::pin(async move {
            let client = self.marketplace();
            let id = match entity_id {
                Some(id) => id.to_owned(),
                None => lookup_entity(&client, entity_name)
                    .await
                    .map_err(app_error)?
                    .ok_or_else(|| {
                        AppError::not_found(format!(
                            "AWS Marketplace's AMI product named '{entity_name}'"
                        ))
                    })?,
            };
            let details = entity_details(&client, &id).await.map_err(app_error)?;
            Ok((id, live_copy_of(&details)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_copy_is_read_from_every_part_of_the_details() {
        let details = serde_json::json!({
            "Description": {
                "ProductTitle": "GitLab Premium",
                "ShortDescription": "Short",
                "LongDescription": "Long",
                "Sku": "GL-PREM",
                "Highlights": ["One", "Two"],
                "Categories": ["DevOps"],
                "SearchKeywords": ["gitlab", "devops"],
                "Visibility": "Public"
            },
            "PromotionalResources": {
                "LogoUrl": "https://assets.example/logo.png",
                "Videos": [{ "Type": "Link", "Title": "Product video", "Url": "https://video.example/1" }],
                "AdditionalResources": [{ "Type": "Link", "Text": "Docs", "Url": "https://docs.gitlab.com" }]
            },
            "SupportInformation": { "Description": "Support by GitLab" },
            "Versions": []
        });
        let live = live_copy_of(&details);
        assert_eq!(live.title, "GitLab Premium");
        assert_eq!(live.short_description, "Short");
        assert_eq!(live.long_description, "Long");
        assert_eq!(live.sku, "GL-PREM");
        assert_eq!(live.highlights, ["One", "Two"]);
        assert_eq!(live.categories, ["DevOps"]);
        assert_eq!(live.search_keywords, ["gitlab", "devops"]);
        assert_eq!(live.logo_url, "https://assets.example/logo.png");
        assert_eq!(live.video_url, "https://video.example/1");
        assert_eq!(
            live.additional_resources,
            [AdditionalResource {
                text: "Docs".into(),
                url: "https://docs.gitlab.com".into()
            }]
        );
        assert_eq!(live.support_description, "Support by GitLab");
        assert_eq!(live_copy_of(&serde_json::json!({})), LiveCopy::default());
    }
}
