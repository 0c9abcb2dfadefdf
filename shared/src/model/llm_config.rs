//! LLM configs: the model an agent runs on (`provider`, `model`, optional `base_url`) and its API
//! key — write-only, sealed in the record's envelope (purpose `llm_config.secrets`) or kept in
//! Secrets Manager. Agents reference LLM configs; a referenced one cannot be deleted (409).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{
    auth_config::{Checker, SecretInput, SecretSlot, SecretView, seal_secrets},
    new_id, rfc3339, tenant_pk, validate,
};
use crate::{
    AppState, Error,
    api::{ListParams, Page, Principal},
    crypto::Envelope,
    store::{Body, Item, StoreError, TxOp},
};

/// Sort-key prefix of LLM configs.
pub(crate) const SK_PREFIX: &str = "LLM#";
const PURPOSE: &str = "llm_config.secrets";
const WHAT: &str = "LLM config";

/// Who serves the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// OpenAI.
    Openai,
    /// Anthropic.
    Anthropic,
    /// Amazon Bedrock (the API key is optional: IAM may authorize instead).
    Bedrock,
    /// Azure OpenAI (`base_url` required: the resource endpoint).
    AzureOpenai,
    /// Any OpenAI-compatible server (`base_url` required).
    OpenaiCompatible,
}

/// Body of `POST /config/llm` (and the result of applying a merge patch).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmConfigInput {
    /// Display name (1 to 200 characters, not only spaces, no control characters).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Who serves the model.
    pub provider: LlmProvider,
    /// Model id, e.g. `gpt-4.1` or `anthropic.claude-sonnet-4` (1 to 200 characters).
    #[schema(min_length = 1, max_length = 200)]
    pub model: String,
    /// API base URL (required for `azure_openai` and `openai_compatible`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// API key (secret, write-only): the value, or `{"secret_arn", "json_key"?}`; in a PATCH,
    /// `{"set": true}` keeps the stored one. Required except for `bedrock`.
    #[serde(default)]
    pub api_key: Option<SecretInput>,
}

/// An LLM config as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLlmConfig {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Who serves the model.
    pub provider: LlmProvider,
    /// Model id.
    pub model: String,
    /// API base URL.
    pub base_url: Option<String>,
    /// Where the API key is.
    pub api_key: Option<SecretSlot>,
    /// The sealed inline API key.
    pub secrets: Option<Envelope>,
    /// Creator's user id.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An LLM config as returned by the API (the key only as `{"set": true}` or its reference).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LlmConfigView {
    /// Record id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who serves the model.
    pub provider: LlmProvider,
    /// Model id.
    pub model: String,
    /// API base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Whether (and where) an API key is stored; never its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretView>,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
    /// Creator's user id.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl StoredLlmConfig {
    fn view(&self, version: u64) -> LlmConfigView {
        LlmConfigView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            provider: self.provider,
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.as_ref().map(Into::into),
            version,
            created_by: self.created_by.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

fn sk(id: &str) -> String {
    format!("{SK_PREFIX}{id}")
}

impl super::EditableRecord for StoredLlmConfig {
    const SK_PREFIX: &'static str = SK_PREFIX;
    const WHAT: &'static str = WHAT;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "description",
        "provider",
        "model",
        "base_url",
        "api_key",
    ];

    /// The stored config as an input document a merge patch applies to.
    fn editable(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("name".into(), Value::from(self.name.clone()));
        if let Some(d) = &self.description {
            doc.insert("description".into(), Value::from(d.clone()));
        }
        doc.insert(
            "provider".into(),
            serde_json::to_value(self.provider).unwrap_or_default(),
        );
        doc.insert("model".into(), Value::from(self.model.clone()));
        if let Some(url) = &self.base_url {
            doc.insert("base_url".into(), Value::from(url.clone()));
        }
        match &self.api_key {
            Some(SecretSlot::Inline) => {
                doc.insert("api_key".into(), serde_json::json!({ "set": true }));
            }
            Some(SecretSlot::Reference(r)) => {
                doc.insert(
                    "api_key".into(),
                    serde_json::to_value(r).unwrap_or_default(),
                );
            }
            None => {}
        }
        Value::Object(doc)
    }
}

/// Checks `input`; returns the stored shape (without id, timestamps or envelope) and what to do
/// with the key.
fn validate_input(
    input: LlmConfigInput,
    allow_insecure_http: bool,
    existing: Option<&StoredLlmConfig>,
) -> Result<
    (
        StoredLlmConfig,
        Vec<(String, super::auth_config::SecretChoice)>,
    ),
    Error,
> {
    let mut c = Checker { errors: Vec::new() };
    c.check("name", validate::text(&input.name, 200));
    if let Some(d) = &input.description {
        if d.chars().count() > 2000 {
            c.check("description", Err("must be at most 2000 characters".into()));
        }
    }
    c.check("model", validate::text(&input.model, 200));
    match &input.base_url {
        Some(url) => c.check(
            "base_url",
            validate::remote_url(url, allow_insecure_http).map(|_| ()),
        ),
        None if matches!(
            input.provider,
            LlmProvider::AzureOpenai | LlmProvider::OpenaiCompatible
        ) =>
        {
            c.check("base_url", Err("is required for this provider".into()));
        }
        None => {}
    }
    let mut secrets = Vec::new();
    let api_key = match &input.api_key {
        Some(key) => c
            .secret(
                "api_key",
                key,
                existing.and_then(|e| e.api_key.as_ref()),
                validate::secret_value,
            )
            .map(|(slot, choice)| {
                secrets.push(("api_key".to_owned(), choice));
                slot
            }),
        None if input.provider != LlmProvider::Bedrock => {
            c.check("api_key", Err("is required for this provider".into()));
            None
        }
        None => None,
    };
    if !c.errors.is_empty() {
        return Err(Error::Validation(c.errors));
    }
    let config = StoredLlmConfig {
        id: String::new(),
        name: input.name.trim().to_owned(),
        description: input.description,
        provider: input.provider,
        model: input.model.trim().to_owned(),
        base_url: input.base_url,
        api_key,
        secrets: None,
        created_by: String::new(),
        created_at: String::new(),
        updated_at: String::new(),
    };
    Ok((config, secrets))
}

/// A new or changed `api_key` reference must be usable by the tenant (see
/// [`super::auth_config::check_references`]).
async fn check_api_key_reference(
    state: &AppState,
    tenant_id: &str,
    config: &StoredLlmConfig,
    before: Option<&StoredLlmConfig>,
) -> Result<(), Error> {
    let Some(SecretSlot::Reference(reference)) = &config.api_key else {
        return Ok(());
    };
    if before.is_some_and(|b| b.api_key == config.api_key) {
        return Ok(());
    }
    super::credentials::check_references(state, tenant_id, vec![("api_key".to_owned(), reference)])
        .await
}

/// Creates an LLM config from a JSON body.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    doc: Value,
) -> Result<LlmConfigView, Error> {
    let input: LlmConfigInput = super::parse_document(doc)?;
    let (mut config, secrets) = validate_input(input, state.allow_insecure_http, None)?;
    check_api_key_reference(state, &principal.tenant_id, &config, None).await?;
    let id = new_id();
    let now = rfc3339(state.clock.now());
    config.id.clone_from(&id);
    config.created_by.clone_from(&principal.user_id);
    config.created_at.clone_from(&now);
    config.updated_at = now;
    config.secrets = seal_secrets(state, &principal.tenant_id, &id, PURPOSE, secrets, None).await?;
    let data = Body::of(&config).map_err(|e| Error::Internal(e.to_string()))?;
    let item = Item::new(tenant_pk(&principal.tenant_id), sk(&id), data);
    state.store.write(TxOp::Create(item)).await?;
    Ok(config.view(1))
}

/// Loads one LLM config of the caller's tenant and its version.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(StoredLlmConfig, u64), Error> {
    super::load_record(state, &principal.tenant_id, SK_PREFIX, id, WHAT).await
}

/// Reads one LLM config.
pub async fn get(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<LlmConfigView, Error> {
    let (config, version) = load(state, principal, id).await?;
    Ok(config.view(version))
}

/// Lists the tenant's LLM configs, oldest first.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
) -> Result<Page<LlmConfigView>, Error> {
    super::list_records(
        state,
        &principal.tenant_id,
        SK_PREFIX,
        params,
        WHAT,
        |config: StoredLlmConfig, version| config.view(version),
    )
    .await
}

/// Applies a JSON merge patch (conditional on `if_match` when given).
pub async fn patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    merge_patch: Value,
    if_match: Option<u64>,
) -> Result<LlmConfigView, Error> {
    super::check_merge_patch(
        &merge_patch,
        &["id", "version", "created_by", "created_at", "updated_at"],
    )?;
    super::patch_with_retries(
        state,
        &principal.tenant_id,
        id,
        &merge_patch,
        if_match,
        |stored: StoredLlmConfig, version, doc| {
            apply_patch(state, principal, id, stored, version, doc)
        },
    )
    .await
}

/// One attempt of a PATCH on the record just read and merged (see
/// [`super::patch_with_retries`]).
async fn apply_patch(
    state: &AppState,
    principal: &Principal,
    id: &str,
    stored: StoredLlmConfig,
    version: u64,
    doc: Value,
) -> Result<LlmConfigView, Error> {
    let input: LlmConfigInput = super::parse_document(doc)?;
    let (mut config, secrets) = validate_input(input, state.allow_insecure_http, Some(&stored))?;
    check_api_key_reference(state, &principal.tenant_id, &config, Some(&stored)).await?;
    config.id.clone_from(&stored.id);
    config.created_by.clone_from(&stored.created_by);
    config.created_at.clone_from(&stored.created_at);
    config.updated_at = rfc3339(state.clock.now());
    let inline = (stored.api_key == Some(SecretSlot::Inline))
        .then(|| std::iter::once("api_key".to_owned()).collect());
    config.secrets = seal_secrets(
        state,
        &principal.tenant_id,
        id,
        PURPOSE,
        secrets,
        stored.secrets.as_ref().zip(inline),
    )
    .await?;
    let data = Body::of(&config).map_err(|e| Error::Internal(e.to_string()))?;
    let item = Item::new(tenant_pk(&principal.tenant_id), sk(id), data);
    match state
        .store
        .write(TxOp::Update {
            item,
            expected_version: version,
        })
        .await
    {
        Ok(()) => Ok(config.view(version + 1)),
        Err(StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an LLM config unless an agent references it (409).
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: &str,
    if_match: Option<u64>,
) -> Result<(), Error> {
    super::delete_unreferenced(
        state,
        &principal.tenant_id,
        &sk(id),
        id,
        if_match,
        WHAT,
        "agent(s)",
    )
    .await
}
