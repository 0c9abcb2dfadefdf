//! LLM configs: the model an agent runs on (`provider`, `model`, optional `base_url`) and its API
//! key — write-only, sealed in the record's envelope (purpose `llm_config.secrets`) or kept in
//! Secrets Manager. Agents reference LLM configs; a referenced one cannot be deleted (409).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::{
    resource::{self, Built, Change, Meta, Principal, Resource},
    secret_fields::{SecretInput, SecretSlot, SecretView, check_references, seal_secrets},
    validate::{self, Checker},
};
use crate::{AppState, Error, crypto::Envelope};

const PURPOSE: &str = "llm_config.secrets";

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

impl LlmProvider {
    /// Every provider.
    pub const ALL: [Self; 5] = [
        Self::Openai,
        Self::Anthropic,
        Self::Bedrock,
        Self::AzureOpenai,
        Self::OpenaiCompatible,
    ];

    /// Whether a config of this provider must name its `base_url`.
    pub fn needs_base_url(self) -> bool {
        matches!(self, Self::AzureOpenai | Self::OpenaiCompatible)
    }

    /// Whether a config of this provider must hold an API key (Bedrock may use IAM instead).
    pub fn needs_api_key(self) -> bool {
        self != Self::Bedrock
    }
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
    pub base_url: Option<String>,
    /// API key (secret, write-only): the value, or `{"secret_arn", "json_key"?}`; in a PATCH,
    /// `{"set": true}` keeps the stored one. Required except for `bedrock`.
    pub api_key: Option<SecretInput>,
}

/// An LLM config as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLlmConfig {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
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
}

/// An LLM config as returned by the API (the key only as `{"set": true}` or its reference).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LlmConfigView {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Who serves the model.
    pub provider: LlmProvider,
    /// Model id.
    pub model: String,
    /// API base URL.
    pub base_url: Option<String>,
    /// Whether (and where) an API key is stored; never its value.
    pub api_key: Option<SecretView>,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
}

impl Resource for StoredLlmConfig {
    const SK_PREFIX: &'static str = "LLM#";
    const WHAT: &'static str = "LLM config";
    const REFERRERS: &'static str = "agent(s)";
    const SECRETS: &'static [&'static str] = &["api_key"];
    type Input = LlmConfigInput;
    type View = LlmConfigView;
    type Outcome = ();

    fn view(&self, version: u64) -> LlmConfigView {
        LlmConfigView {
            meta: self.meta.clone(),
            provider: self.provider,
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.as_ref().map(Into::into),
            version,
        }
    }

    async fn build(
        state: &AppState,
        principal: &Principal,
        id: &str,
        doc: Value,
        change: Change<'_, Self>,
    ) -> Result<Built<Self>, Error> {
        let input: LlmConfigInput = resource::parse_document(doc)?;
        let before = change.before();
        let mut c = Checker::default();
        c.name_and_description(&input.name, input.description.as_deref());
        c.check("model", validate::text(&input.model, 200));
        match &input.base_url {
            Some(url) => c.check(
                "base_url",
                validate::remote_url(url, state.allow_insecure_http).map(|_| ()),
            ),
            None if input.provider.needs_base_url() => {
                c.check("base_url", Err("is required for this provider".into()));
            }
            None => {}
        }
        let existing = before.and_then(|b| b.api_key.as_ref());
        let (api_key, secrets) = match &input.api_key {
            Some(key) => match c.secret("api_key", key, existing, validate::secret_value) {
                Some((slot, choice)) => (Some(slot), vec![("api_key".to_owned(), choice)]),
                None => (None, Vec::new()),
            },
            None if input.provider.needs_api_key() => {
                c.check("api_key", Err("is required for this provider".into()));
                (None, Vec::new())
            }
            None => (None, Vec::new()),
        };
        c.finish(())?;
        // A new or changed reference must be usable by the tenant.
        if let Some(SecretSlot::Reference(reference)) = &api_key {
            if before.is_none_or(|b| b.api_key != api_key) {
                let field = vec![("api_key".to_owned(), reference)];
                check_references(state, &principal.tenant_id, field).await?;
            }
        }
        let inline = before
            .filter(|b| b.api_key == Some(SecretSlot::Inline))
            .and_then(|b| Some((b.secrets.as_ref()?, ["api_key".to_owned()].into())));
        let secrets =
            seal_secrets(state, &principal.tenant_id, id, PURPOSE, secrets, inline).await?;
        Ok(Built::record(Self {
            meta: Meta::named(&input.name, input.description),
            provider: input.provider,
            model: input.model.trim().to_owned(),
            base_url: input.base_url,
            api_key,
            secrets,
        }))
    }
}

crate::model::resource::record!(StoredLlmConfig => LlmConfigView);
