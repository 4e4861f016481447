//! Notifications in the portal and outbound webhooks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::NotificationKind,
    error::{AppError, AppResult, Validator},
};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Notification {
    pub id: i32,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    /// A path in the portal.
    pub link: String,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Inbox {
    pub items: Vec<Notification>,
    pub unread: u64,
    /// Notifications in all, read or not.
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Webhook {
    pub id: i32,
    pub name: String,
    /// Scheme and host only (`https://hooks.slack.com/…`): the rest of a webhook URL may be
    /// a secret and is never shown after it is added.
    pub url: String,
    /// The kinds of event sent; empty for all.
    pub events: Vec<NotificationKind>,
    pub active: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookInput {
    pub name: String,
    /// `https://…` to a public host (`http://` and this machine or a private network only
    /// where the portal allows them, for testing).
    pub url: String,
    /// The kinds of event sent; empty for all.
    #[serde(default)]
    pub events: Vec<NotificationKind>,
    /// The HMAC key; empty to have one generated.
    #[serde(default)]
    pub secret: String,
}

/// A new webhook as the webhooks page's form sends it: the event kinds comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookForm {
    pub name: String,
    pub url: String,
    /// Comma-separated event kinds; empty for all.
    #[serde(default)]
    pub events: String,
    #[serde(default)]
    pub secret: String,
}

impl TryFrom<WebhookForm> for WebhookInput {
    type Error = AppError;

    fn try_from(form: WebhookForm) -> AppResult<Self> {
        let mut v = Validator::new();
        let events = v.check(
            "events",
            form.events
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::parse::<NotificationKind>)
                .collect::<Result<Vec<_>, _>>(),
        );
        v.finish(|| {
            Some(WebhookInput {
                name: form.name,
                url: form.url,
                events: events?,
                secret: form.secret,
            })
        })
    }
}

/// A new webhook and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookCreated {
    pub webhook: Webhook,
    pub secret: String,
}
