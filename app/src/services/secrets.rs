//! Secrets — license files today — encrypted at rest with AES-256-GCM, write-only from the
//! outside: they can be set, replaced and deleted, never read back through a page or the
//! API. Only jobs reveal them, to hand them to the cloud.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, AeadCore, OsRng},
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use super::{
    audit::{self, Change},
    entities::secret,
};
use crate::{
    domain::{CurrentUser, Permission},
    error::{AppError, AppResult},
};

/// A secret's value: never printed, never serialised.
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> Self {
        SecretValue(value)
    }

    /// The plain value, for handing to the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// The key secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey(Aes256Gcm);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != 32 {
            return Err(format!(
                "a secret key is 32 bytes, this one is {}",
                bytes.len()
            ));
        }
        Aes256Gcm::new_from_slice(bytes)
            .map(SecretKey)
            .map_err(|e| e.to_string())
    }

    /// A new random key, as the base64 text kept in the key file.
    pub fn generate() -> String {
        base64::engine::general_purpose::STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    /// A key from its base64 text.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the secret key is not base64: {e}"))?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn seal(&self, name: &str, plain: &str) -> AppResult<(String, String)> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // The name is bound in as associated data: a row copied under another name won't open.
        let sealed = self
            .0
            .encrypt(
                &nonce,
                aes_gcm::aead::Payload {
                    msg: plain.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| AppError::internal("sealing a secret", "encryption failed"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok((b64.encode(nonce), b64.encode(sealed)))
    }

    pub(crate) fn open(&self, name: &str, nonce: &str, sealed: &str) -> AppResult<SecretValue> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64
            .decode(nonce)
            .map_err(|e| AppError::internal("opening a secret", e))?;
        let sealed = b64
            .decode(sealed)
            .map_err(|e| AppError::internal("opening a secret", e))?;
        if nonce.len() != 12 {
            return Err(AppError::internal("opening a secret", "bad nonce length"));
        }
        let plain = self
            .0
            .decrypt(
                Nonce::from_slice(&nonce),
                aes_gcm::aead::Payload {
                    msg: &sealed,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| {
                AppError::internal(
                    "opening a secret",
                    format!("secret '{name}' does not open with this key"),
                )
            })?;
        String::from_utf8(plain)
            .map(SecretValue)
            .map_err(|e| AppError::internal("opening a secret", e))
    }
}

/// When a secret was last set, and by whom; never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// The name a product's license file is kept under.
pub fn license_name(partner: &str, product: &str) -> String {
    format!("license:{partner}/{product}")
}

/// The IAM role AWS Marketplace assumes to read a published version's image.
pub const ACCESS_ROLE: &str = "marketplace:access-role-arn";

/// Whether the marketplace access role is set, and when; never its value.
pub async fn access_role(
    db: &impl ConnectionTrait,
    actor: &CurrentUser,
) -> AppResult<Option<SecretInfo>> {
    actor.require(Permission::Administer)?;
    info(db, ACCESS_ROLE).await
}

/// Sets the marketplace access role (an IAM role ARN), kept like any other secret.
pub async fn set_access_role(
    db: &(impl ConnectionTrait + TransactionTrait),
    key: &SecretKey,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    value: &str,
) -> AppResult<SecretInfo> {
    actor.require(Permission::Administer)?;
    let value = value.trim();
    let well_formed = value
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        });
    if !well_formed {
        return Err(AppError::validation(
            "value",
            "give an IAM role ARN: arn:aws:iam::<12-digit account>:role/<name>",
        ));
    }
    put(
        db,
        key,
        actor,
        now,
        ACCESS_ROLE,
        &SecretValue::new(value.to_owned()),
    )
    .await
}

/// Deletes the marketplace access role; not having one is not an error.
pub async fn delete_access_role(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
) -> AppResult<()> {
    actor.require(Permission::Administer)?;
    delete(db, actor, now, ACCESS_ROLE).await
}

/// Sets or replaces a secret. Storage only: the operation it serves (a license, a
/// webhook's signing secret, the access role) has checked the permission.
pub(crate) async fn put(
    db: &(impl ConnectionTrait + TransactionTrait),
    key: &SecretKey,
    actor: &CurrentUser,
    now: DateTime<Utc>,
    name: &str,
    value: &SecretValue,
) -> AppResult<SecretInfo> {
    let (nonce, sealed) = key.seal(name, value.expose())?;
    let txn = super::begin_write(db).await?;
    let existing = secret::Entity::find()
        .filter(secret::Column::Name.eq(name))
        .one(&txn)
        .await?;
    match existing {
        Some(row) => {
            let mut active: secret::ActiveModel = row.into();
            active.nonce = Set(nonce);
            active.ciphertext = Set(sealed);
            active.updated_at = Set(now);
            active.updated_by = Set(actor.username.clone());
            active.update(&txn).await?;
        }
        None => {
            secret::ActiveModel {
                name: Set(name.to_owned()),
                nonce: Set(nonce),
                ciphertext: Set(sealed),
                updated_at: Set(now),
                updated_by: Set(actor.username.clone()),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    audit::record(
        &txn,
        Some(actor),
        now,
        Change {
            action: "set_secret",
            object_type: "secret",
            object_id: name.to_owned(),
            summary: format!("set {name}"),
            before: None,
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(SecretInfo {
        updated_at: now,
        updated_by: actor.username.clone(),
    })
}

/// Deletes a secret; not having one is not an error. Storage only, like [`put`].
pub(crate) async fn delete(
    db: &(impl ConnectionTrait + TransactionTrait),
    actor: &CurrentUser,
    now: DateTime<Utc>,
    name: &str,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    let res = secret::Entity::delete_many()
        .filter(secret::Column::Name.eq(name))
        .exec(&txn)
        .await?;
    if res.rows_affected > 0 {
        audit::record(
            &txn,
            Some(actor),
            now,
            Change {
                action: "delete_secret",
                object_type: "secret",
                object_id: name.to_owned(),
                summary: format!("deleted {name}"),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Whether a secret is set, and when; never its value. Storage only, like [`put`]
/// (whether a product's license is set is shown to everyone).
pub(crate) async fn info(db: &impl ConnectionTrait, name: &str) -> AppResult<Option<SecretInfo>> {
    Ok(secret::Entity::find()
        .filter(secret::Column::Name.eq(name))
        .one(db)
        .await?
        .map(|s| SecretInfo {
            updated_at: s.updated_at,
            updated_by: s.updated_by,
        }))
}

/// The secret's value, for a job to hand to the cloud. Nothing a client sees calls this.
pub async fn reveal(
    db: &impl ConnectionTrait,
    key: &SecretKey,
    name: &str,
) -> AppResult<Option<SecretValue>> {
    match secret::Entity::find()
        .filter(secret::Column::Name.eq(name))
        .one(db)
        .await?
    {
        Some(row) => key.open(name, &row.nonce, &row.ciphertext).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_under_its_own_name_and_key() {
        let key = SecretKey::from_base64(&SecretKey::generate()).expect("key");
        let (nonce, sealed) = key.seal("license:aws/x", "LICENSE").expect("seal");
        assert!(!sealed.contains("LICENSE"));
        assert_eq!(
            key.open("license:aws/x", &nonce, &sealed)
                .expect("open")
                .expose(),
            "LICENSE"
        );
        assert!(
            key.open("license:aws/y", &nonce, &sealed).is_err(),
            "bound to its name"
        );
        let other = SecretKey::from_base64(&SecretKey::generate()).expect("key");
        assert!(
            other.open("license:aws/x", &nonce, &sealed).is_err(),
            "bound to its key"
        );
        assert_eq!(
            format!("{:?}", SecretValue::new("LICENSE".into())),
            "SecretValue(***)"
        );
    }
}
