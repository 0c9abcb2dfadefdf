//! Sessions and API tokens: opaque random bearer values, stored only as SHA-256 hashes
//! (`PK = SESSION#<hex sha256>`) with the tenant, the user, the role and an expiry checked on
//! read. A credential stored before roles existed has none and is `admin`, so nothing that
//! worked stops working; re-issue it with the least role it needs.
//! `Cookie: sessionid=<id>` and `Authorization: Bearer <token>` both resolve here.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    Error,
    clock::Clock,
    model::resource::{Principal, Role},
    store::{Body, Item, Store, TxOp},
};

const SK: &str = "SESSION";
/// Longest accepted credential, to bound hashing work on hostile input.
const MAX_CREDENTIAL_LEN: usize = 512;

/// What kind of credential a stored session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A browser session (`Cookie: sessionid=…`).
    Session,
    /// A long-lived API token (`Authorization: Bearer …`).
    ApiToken,
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRecord {
    tenant_id: String,
    user_id: String,
    kind: CredentialKind,
    created_at: i64,
    /// Absent on credentials made before roles: those keep every right they had.
    #[serde(default = "role_before_roles")]
    role: Role,
}

const fn role_before_roles() -> Role {
    Role::Admin
}

fn partition(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    format!("SESSION#{}", hex::encode(digest))
}

/// Whether `id` is an acceptable tenant or user id: 1–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_principal_id(id: &str) -> bool {
    crate::model::principal::valid_id(id)
}

/// Creates a session or API token for the principal (its tenant, user and role) valid for `ttl`,
/// and returns the credential (shown once; only its hash is stored).
pub async fn create(
    store: &dyn Store,
    clock: &dyn Clock,
    principal: &Principal,
    kind: CredentialKind,
    ttl: time::Duration,
) -> Result<SecretString, Error> {
    for (field, id) in [
        ("tenant", &principal.tenant_id),
        ("user", &principal.user_id),
    ] {
        if !valid_principal_id(id) {
            return Err(Error::field(
                field,
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
            ));
        }
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| Error::Internal(format!("random source: {e}")))?;
    let prefix = match kind {
        CredentialKind::Session => "",
        CredentialKind::ApiToken => "sct_",
    };
    let credential = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw));
    let now = clock.now();
    let record = SessionRecord {
        tenant_id: principal.tenant_id.clone(),
        user_id: principal.user_id.clone(),
        kind,
        created_at: now.unix_timestamp(),
        role: principal.role,
    };
    let data = Body::of(&record).map_err(|e| Error::Internal(e.to_string()))?;
    let item =
        Item::new(partition(&credential), SK, data).expiring_at((now + ttl).unix_timestamp());
    store.write(TxOp::Create(item)).await?;
    Ok(SecretString::from(credential))
}

/// The principal a live credential belongs to, or `None` if it is unknown or expired.
pub async fn authenticate(
    store: &dyn Store,
    credential: &SecretString,
) -> Result<Option<Principal>, Error> {
    let credential = credential.expose_secret();
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL_LEN {
        return Ok(None);
    }
    let Some(item) = store.get(&partition(credential), SK).await? else {
        return Ok(None);
    };
    let record: SessionRecord = item
        .data
        .read()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Some(Principal::new(
        record.tenant_id,
        record.user_id,
        record.role,
    )))
}

/// Revokes a credential; revoking an unknown one is not an error.
pub async fn revoke(store: &dyn Store, credential: &SecretString) -> Result<(), Error> {
    store
        .write(TxOp::Delete {
            pk: partition(credential.expose_secret()),
            sk: SK.to_owned(),
            condition: crate::store::Condition::None,
        })
        .await?;
    Ok(())
}

/// Extracts the credential from request headers: the `sessionid` cookie, else a Bearer token.
pub fn credential_from_headers(headers: &http::HeaderMap) -> Option<SecretString> {
    if let Some(session) = session_cookie(headers) {
        return Some(session);
    }
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| SecretString::from(token.trim().to_owned()))
}

/// The `sessionid` cookie, if the request carries one: the credential a browser sends by itself,
/// whichever site the request comes from.
pub fn session_cookie(headers: &http::HeaderMap) -> Option<SecretString> {
    for cookie_header in headers.get_all(http::header::COOKIE) {
        let Ok(text) = cookie_header.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                if name.trim() == "sessionid" && !value.trim().is_empty() {
                    return Some(SecretString::from(
                        value.trim().trim_matches('"').to_owned(),
                    ));
                }
            }
        }
    }
    None
}
