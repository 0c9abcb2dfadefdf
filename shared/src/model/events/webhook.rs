//! Webhooks: where a tenant's events are delivered (`url`, the event types it subscribes to),
//! signed per the Standard Webhooks specification with a secret generated at create — and again
//! whenever the URL changes — and shown only in that answer (`whsec_…`), sealed in the record's
//! envelope (purpose `webhook.secret`).
//! Deliveries go through the guarded outbound client, like every request to a URL a user gave.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::model::{
    events::{Event, EventType},
    resource::{self, Built, Change, Meta, Principal, Resource},
    tenant_pk,
    validate::{self, Checker},
};
use crate::{
    AppState, Error,
    crypto::{EncryptionContext, Envelope},
    net::{OutboundRequest, SendOptions},
    store::Query,
};

const PURPOSE: &str = "webhook.secret";
/// Most webhooks one tenant may have.
pub const MAX_PER_TENANT: usize = 20;
/// Random bytes of a signing secret.
const SECRET_BYTES: usize = 32;

/// Body of `POST /config/webhook`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Display name (default: the URL's host).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Free text (at most 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Where deliveries are POSTed (https; reached through the same outbound rules as MCP
    /// servers).
    pub url: String,
    /// The event types to deliver (at least one).
    pub events: Vec<EventType>,
    /// Whether deliveries are made (default true).
    pub enabled: Option<bool>,
}

/// A webhook as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredWebhook {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Where deliveries go.
    pub url: String,
    /// The event types delivered.
    pub events: Vec<EventType>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// The sealed signing key.
    pub secret: Envelope,
}

/// A webhook as returned by the API.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    /// Id, name, description, creator and times.
    #[serde(flatten)]
    pub meta: Meta,
    /// Where deliveries go.
    pub url: String,
    /// The event types delivered.
    pub events: Vec<EventType>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// The signing secret (`whsec_…`): in the create answer, and in the answer of a PATCH that
    /// moved the webhook to another URL (a new secret), never again.
    pub secret: Option<String>,
    /// Optimistic-locking version (also the `ETag`).
    pub version: u64,
}

/// The signing secret of a webhook just created, for its answer.
#[derive(Default)]
pub struct NewSecret(Option<SecretString>);

impl Resource for StoredWebhook {
    const SK_PREFIX: &'static str = "HOOK#";
    const WHAT: &'static str = "webhook";
    type Input = WebhookInput;
    type View = WebhookView;
    type Outcome = NewSecret;

    fn view(&self, version: u64) -> WebhookView {
        WebhookView {
            meta: self.meta.clone(),
            url: self.url.clone(),
            events: self.events.clone(),
            enabled: self.enabled,
            secret: None,
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
        let input: WebhookInput = resource::parse_document(doc)?;
        let mut c = Checker::default();
        let url = validate::remote_url(&input.url, state.allow_insecure_http);
        let name = match (&input.name, &url) {
            (Some(name), _) => name.clone(),
            // A long host makes a name of the longest a name may be.
            (None, Ok(url)) => url
                .host_str()
                .unwrap_or("webhook")
                .chars()
                .take(validate::MAX_NAME_CHARS)
                .collect(),
            (None, Err(_)) => "webhook".to_owned(),
        };
        c.name_and_description(&name, input.description.as_deref());
        c.check("url", url.map(|_| ()));
        if input.events.is_empty() {
            c.check("events", Err(format!("name at least one of {}", names())));
        }
        let mut events = input.events.clone();
        events.sort_by_key(|e| e.as_str());
        events.dedup();
        c.finish(())?;
        let (secret, shown) = match change.before() {
            // The key stays with the receiver it was handed to: a webhook moved to another URL
            // signs with a new one (shown in this answer, once), so the old receiver's key can
            // never sign, nor verify, what the new one receives.
            Some(before) if before.url == input.url => (before.secret.clone(), None),
            Some(_) => new_secret(state, &principal.tenant_id, id).await?,
            None => {
                let count = state
                    .store
                    .query(
                        Query::prefix(&tenant_pk(&principal.tenant_id), Self::SK_PREFIX)
                            .limit(MAX_PER_TENANT),
                    )
                    .await?
                    .items
                    .len();
                if count >= MAX_PER_TENANT {
                    return Err(Error::Conflict(format!(
                        "A tenant may have at most {MAX_PER_TENANT} webhooks; delete one first."
                    )));
                }
                new_secret(state, &principal.tenant_id, id).await?
            }
        };
        let mut built = Built::record(Self {
            meta: Meta::named(&name, input.description),
            url: input.url,
            events,
            enabled: input.enabled.unwrap_or(true),
            secret,
        });
        built.outcome = NewSecret(shown);
        Ok(built)
    }

    async fn present(
        _: &AppState,
        _: &Principal,
        record: &Self,
        written: Result<u64, Error>,
        NewSecret(secret): NewSecret,
    ) -> Result<WebhookView, Error> {
        let mut view = record.view(written?);
        view.secret = secret.map(|s| s.expose_secret().to_owned());
        Ok(view)
    }
}

crate::model::resource::record!(StoredWebhook => WebhookView);

/// A new signing key for webhook `id`: sealed for the record, and as `whsec_…` for the answer.
async fn new_secret(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<(Envelope, Option<SecretString>), Error> {
    let mut key = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
    getrandom::fill(key.as_mut()).map_err(|e| Error::Internal(e.to_string()))?;
    let context = EncryptionContext::new(tenant_id, id, PURPOSE);
    let sealed = state.crypto.seal(&context, key.as_ref()).await?;
    let shown = SecretString::from(format!("whsec_{}", STANDARD.encode(key.as_ref())));
    Ok((sealed, Some(shown)))
}

fn names() -> String {
    EventType::ALL.map(EventType::as_str).join(", ")
}

/// The tenant's enabled webhooks subscribed to `kind`.
pub async fn subscribed(
    state: &AppState,
    tenant_id: &str,
    kind: EventType,
) -> Result<Vec<StoredWebhook>, Error> {
    let page = state
        .store
        .query(
            Query::prefix(&tenant_pk(tenant_id), StoredWebhook::SK_PREFIX)
                .limit(MAX_PER_TENANT * 2),
        )
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(|item| item.data.read::<StoredWebhook>().ok())
        .filter(|hook| hook.enabled && hook.events.contains(&kind))
        .collect())
}

/// The webhook `id` of `tenant_id`, if it exists.
pub async fn load(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<Option<StoredWebhook>, Error> {
    match resource::load::<StoredWebhook>(state, tenant_id, id).await {
        Ok((hook, _)) => Ok(Some(hook)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The Standard Webhooks signature of a message: `v1,` and the base64 HMAC-SHA256, keyed with
/// the secret's bytes, of `<id>.<timestamp>.<body>`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Sends `event` to `hook`, signed, within `timeout`: `Ok` on a 2xx answer, otherwise why not
/// (no redirect is followed, the answer's body is not read).
pub async fn send(
    state: &AppState,
    hook: &StoredWebhook,
    event: &Event,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let context = EncryptionContext::new(&event.tenant, &hook.meta.id, PURPOSE);
    let key = state
        .crypto
        .open(&context, &hook.secret)
        .await
        .map_err(|e| format!("the signing key could not be opened: {e}"))?;
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let timestamp = state.clock.epoch_micros().div_euclid(1_000_000);
    let url = url::Url::parse(&hook.url).map_err(|e| format!("bad URL: {e}"))?;
    let mut request = OutboundRequest::new(http::Method::POST, url);
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("webhook-id", event.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature(&key, &event.id, timestamp, &body),
        ),
        ("user-agent", "agent-studio-connect-webhooks".to_owned()),
    ];
    for (name, value) in headers {
        let value = http::HeaderValue::from_str(&value).map_err(|e| e.to_string())?;
        request.headers.insert(name, value);
    }
    request.body = Some(body.into());
    let options = SendOptions {
        follow_redirects: false,
        deadline: tokio::time::Instant::now() + timeout,
    };
    let response = state
        .http
        .send(request, options)
        .await
        .map_err(|e| e.to_string())?;
    if response.status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", response.status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        let key = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            super::signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
