//! Secret fields, the same in every resource that holds secrets: how a client sends one (the
//! value, a Secrets Manager reference, or `{"set": true}` to keep the stored one), how it is
//! stored (a slot: sealed inline, or the reference), how it is shown (never its value), and how
//! a record's inline secrets are sealed together in one envelope per record (one key-provider
//! call per write) and opened again.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::validate::{self, Checker};
use crate::{
    AppState, Error,
    crypto::{EncryptionContext, Envelope},
    error::FieldError,
    secrets::SecretRef,
};

/// A secret field as sent by a client: the value itself, a Secrets Manager reference
/// `{"secret_arn", "json_key"?}`, or — in a PATCH — `{"set": true}` to keep the stored secret.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(
    untagged,
    expecting = "must be the secret as a string, or {\"secret_arn\": ..., \"json_key\": ...}"
)]
pub enum SecretInput {
    /// The secret value.
    #[schema(value_type = String)]
    Value(SecretString),
    /// A reference, or `{"set": true}`.
    Object(SecretObject),
}

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("SecretInput::Value([redacted])"),
            Self::Object(o) => f.debug_tuple("SecretInput::Object").field(o).finish(),
        }
    }
}

/// Object form of [`SecretInput`].
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretObject {
    /// `true` keeps the stored secret (PATCH only).
    pub set: Option<bool>,
    /// Secrets Manager secret ARN.
    pub secret_arn: Option<String>,
    /// Key inside a JSON secret.
    pub json_key: Option<String>,
}

/// Where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSlot {
    /// Sealed in the record's envelope.
    Inline,
    /// In Secrets Manager.
    Reference(SecretRef),
}

/// How a secret field appears in responses: never its value.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SecretView {
    /// Always true: the secret is set.
    pub set: bool,
    /// The Secrets Manager ARN, for a reference.
    pub secret_arn: Option<String>,
    /// The JSON key, for a reference.
    pub json_key: Option<String>,
}

impl From<&SecretSlot> for SecretView {
    fn from(slot: &SecretSlot) -> Self {
        match slot {
            SecretSlot::Inline => Self {
                set: true,
                secret_arn: None,
                json_key: None,
            },
            SecretSlot::Reference(r) => Self {
                set: true,
                secret_arn: Some(r.secret_arn.clone()),
                json_key: r.json_key.clone(),
            },
        }
    }
}

/// A stored slot (as serialized in a record) as an editable document shows it: `{"set": true}`
/// for a sealed secret, the reference itself for a reference.
pub fn editable_slot(stored: Value) -> Value {
    match serde_json::from_value::<SecretSlot>(stored) {
        Ok(SecretSlot::Inline) => serde_json::json!({ "set": true }),
        Ok(SecretSlot::Reference(r)) => serde_json::to_value(r).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// What to do with one secret field after validation.
pub enum SecretChoice {
    /// Keep the sealed value.
    Keep,
    /// Seal this new value.
    New(SecretString),
    /// A Secrets Manager reference: nothing to seal.
    Ref,
}

impl Checker {
    /// Decides what to do with a secret field: seal a new value, keep the stored one
    /// (`{"set": true}`), or store a reference.
    pub fn secret(
        &mut self,
        field: &str,
        input: &SecretInput,
        existing: Option<&SecretSlot>,
        check_value: fn(&str) -> Result<(), String>,
    ) -> Option<(SecretSlot, SecretChoice)> {
        match input {
            SecretInput::Value(v) => {
                self.check(field, check_value(v.expose_secret()));
                Some((SecretSlot::Inline, SecretChoice::New(v.clone())))
            }
            SecretInput::Object(SecretObject {
                set: None | Some(true),
                secret_arn: Some(arn),
                json_key,
            }) => {
                self.check(format!("{field}.secret_arn"), validate::secret_arn(arn));
                if let Some(key) = json_key {
                    self.check(format!("{field}.json_key"), validate::text(key, 256));
                }
                let reference = SecretRef {
                    secret_arn: arn.clone(),
                    json_key: json_key.clone(),
                };
                Some((SecretSlot::Reference(reference), SecretChoice::Ref))
            }
            SecretInput::Object(SecretObject {
                set: Some(true),
                secret_arn: None,
                json_key: None,
            }) => match existing {
                Some(slot @ SecretSlot::Inline) => Some((slot.clone(), SecretChoice::Keep)),
                Some(slot @ SecretSlot::Reference(_)) => Some((slot.clone(), SecretChoice::Ref)),
                None => {
                    self.check(
                        field,
                        Err("no secret is stored here to keep; give the value".into()),
                    );
                    None
                }
            },
            SecretInput::Object(_) => {
                self.check(
                    field,
                    Err("must be the secret as a string, or {\"secret_arn\": ..., \"json_key\": ...}".into()),
                );
                None
            }
        }
    }
}

/// Seals the inline secrets of a record (envelope purpose `purpose`): `secrets` decided by
/// validation, `previous` the envelope and inline fields stored so far (opened only if some are
/// kept and the envelope must change).
pub async fn seal_secrets(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    purpose: &'static str,
    secrets: Vec<(String, SecretChoice)>,
    previous: Option<(&Envelope, BTreeSet<String>)>,
) -> Result<Option<Envelope>, Error> {
    let changed = secrets
        .iter()
        .any(|(_, c)| matches!(c, SecretChoice::New(_)));
    let kept: BTreeSet<String> = secrets
        .iter()
        .filter(|(_, c)| matches!(c, SecretChoice::Keep))
        .map(|(k, _)| k.clone())
        .collect();
    if !changed {
        if kept.is_empty() {
            return Ok(None);
        }
        // Nothing new and exactly the same inline secrets: the envelope stays as it is, at no
        // key-provider cost.
        if let Some((envelope, inline)) = &previous {
            if *inline == kept {
                return Ok(Some((*envelope).clone()));
            }
        }
    }
    let old = match previous {
        Some((envelope, _)) if !kept.is_empty() => {
            open_sealed(state, tenant_id, id, purpose, envelope).await?
        }
        _ => BTreeMap::new(),
    };
    let mut sealed: BTreeMap<&str, &str> = BTreeMap::new();
    for (field, choice) in &secrets {
        match choice {
            SecretChoice::New(v) => {
                sealed.insert(field, v.expose_secret());
            }
            SecretChoice::Keep => {
                if let Some(v) = old.get(field.as_str()) {
                    sealed.insert(field, v.expose_secret());
                }
            }
            SecretChoice::Ref => {}
        }
    }
    if sealed.is_empty() {
        return Ok(None);
    }
    let plaintext =
        Zeroizing::new(serde_json::to_vec(&sealed).map_err(|e| Error::Internal(e.to_string()))?);
    Ok(Some(
        state
            .crypto
            .seal(&EncryptionContext::new(tenant_id, id, purpose), &plaintext)
            .await?,
    ))
}

/// Opens the secrets a record sealed with [`seal_secrets`] under `purpose`: field → value.
pub async fn open_sealed(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    purpose: &'static str,
    envelope: &Envelope,
) -> Result<BTreeMap<String, SecretString>, Error> {
    let context = EncryptionContext::new(tenant_id, id, purpose);
    let plaintext = state.crypto.open(&context, envelope).await?;
    serde_json::from_slice(&plaintext)
        .map_err(|_| Error::Internal("sealed secrets are not a JSON object".into()))
}

/// Refuses Secrets Manager references the tenant cannot use — absent, inaccessible, not tagged
/// `agent-studio:tenant=<tenant>`, or without a string at `json_key` — with one 400 per field that
/// says the same for all of these. Each is resolved once (the value is dropped at once); the
/// references are resolved again, with the same check, whenever they are used.
pub async fn check_references(
    state: &AppState,
    tenant_id: &str,
    references: Vec<(String, &SecretRef)>,
) -> Result<(), Error> {
    let results = futures_util::future::join_all(
        references.into_iter().map(|(field, reference)| async move {
            (field, state.secrets.resolve(tenant_id, reference).await)
        }),
    )
    .await;
    let mut errors = Vec::new();
    for (field, result) in results {
        match result {
            Ok(_) => {}
            Err(crate::secrets::SecretError::NotUsable) => errors.push(FieldError::new(
                field,
                crate::secrets::SecretError::NotUsable.to_string(),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}
