//! The OAuth 2.0 authorization-code flow of an `AUTHORIZATION_CODE` auth config (DESIGN §6).
//!
//! `authorize` checks the redirect URI against the config's allowlist (exact match), creates a
//! `state` of 256 random bits and a PKCE S256 verifier, and stores the flow under
//! `STATE#<sha256(state)>` for ten minutes: tenant, user, config, redirect URI, a snapshot of the
//! authorization server and client, and the sealed verifier. `callback` consumes that item with a
//! conditional delete (single use; expiry checked on read; only by the user who started it),
//! redeems the code once at the token endpoint recorded at start with the same redirect URI and
//! verifier, and stores the tokens. An `error=` callback consumes the state and reports the
//! server's error code, reduced to safe characters.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::model::{
    auth_config,
    auth_record::{self, AuthConfigView, AuthType, CredentialError, StoredAuthConfig},
    resource::{self, Principal},
    rfc3339,
    token::{self, TokenOwner},
};
use crate::{
    AppState, Error,
    crypto::{EncryptionContext, Envelope},
    oauth::{self, TokenError},
    store::{Body, Condition, Item, StoreError, TxOp},
};

/// How long an authorization may take, in seconds.
pub const STATE_TTL_SECONDS: i64 = 600;
const STATE_SK: &str = "STATE";
const PKCE_PURPOSE: &str = "oauth.pkce";
/// Longest query string a callback may carry.
pub const MAX_CALLBACK_QUERY: usize = 8192;
/// Deadline of the code redemption.
const TOKEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The answer to `POST /oauth/{id}/authorize`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorizeResponse {
    /// Send the user's browser here.
    pub authorization_url: String,
    /// The `state` the browser brings back to the redirect URI (single use).
    pub state: String,
    /// When the authorization expires, RFC 3339.
    pub expires_at: String,
}

/// A started authorization as stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredState {
    tenant_id: String,
    user_id: String,
    auth_config_id: String,
    redirect_uri: String,
    token_url: String,
    authorization_url: String,
    client_id: String,
    config_fingerprint: String,
    requested_scopes: Option<Vec<String>>,
    pkce_verifier: Option<Envelope>,
    expires_at: i64,
    /// The authorization server's issuer, when it is known (RFC 9207): discovered, or read from
    /// the metadata the authorization endpoint's origin publishes.
    issuer: Option<String>,
    /// Whether the server puts `iss` in every authorization response (RFC 9207).
    #[serde(default)]
    iss_required: bool,
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn state_pk(hash: &str) -> String {
    format!("STATE#{hash}")
}

fn pkce_context(tenant_id: &str, hash: &str) -> EncryptionContext {
    EncryptionContext::new(tenant_id, hash, PKCE_PURPOSE)
}

/// A member connects only their own account: the tokens of a `shared` config act for every
/// user, so only an admin may authorize one (or finish its authorization).
fn require_role_to_connect(principal: &Principal, config: &StoredAuthConfig) -> Result<(), Error> {
    if config.connection_mode == crate::model::auth_config::ConnectionMode::PerUser {
        return Ok(());
    }
    principal.require(
        crate::model::resource::Role::Admin,
        "authorize a shared auth config, whose tokens act for every user",
    )
}

/// Starts the authorization of auth config `id` for the caller, returning where to send the
/// browser. `redirect_uri` must equal one of the config's `allowed_redirect_uris` exactly; a
/// member may authorize only a `per_user` config (403 otherwise, before anything is counted).
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    id: &str,
    redirect_uri: Option<&str>,
) -> Result<AuthorizeResponse, Error> {
    let Some(redirect_uri) = redirect_uri else {
        return Err(Error::field("redirect_uri", "is required"));
    };
    let (config, _) = resource::load::<StoredAuthConfig>(state, &principal.tenant_id, id).await?;
    require_role_to_connect(principal, &config)?;
    crate::model::limits::check(state, principal, crate::model::limits::Action::Authorize).await?;
    let (AuthType::AuthorizationCode, Some(authorization_url), Some(token_url), Some(client_id)) = (
        config.auth_type,
        config.authorization_url.as_deref(),
        config.token_url.as_deref(),
        config.client_id.as_deref(),
    ) else {
        return Err(Error::field(
            "auth_config_id",
            "must name an AUTHORIZATION_CODE auth config",
        ));
    };
    let allowed = config.allowed_redirect_uris.as_deref().unwrap_or_default();
    if !allowed.iter().any(|uri| uri == redirect_uri) {
        return Err(Error::field(
            "redirect_uri",
            "must equal one of the auth config's allowed_redirect_uris exactly",
        ));
    }
    let (issuer, iss_required) = known_issuer(state, &config, authorization_url, token_url).await;
    let flow_state = oauth::new_state();
    let hash = state_hash(flow_state.expose_secret());
    let pkce = (config.use_pkce != Some(false)).then(oauth::new_pkce);
    let pkce_verifier = match &pkce {
        Some(pkce) => Some(
            state
                .crypto
                .seal(
                    &pkce_context(&principal.tenant_id, &hash),
                    pkce.verifier.expose_secret().as_bytes(),
                )
                .await?,
        ),
        None => None,
    };
    let now = state.clock.epoch_seconds();
    let expires_at = now + STATE_TTL_SECONDS;
    let owner = TokenOwner::of(&config, &principal.user_id);
    let scopes = requested_scopes(state, &principal.tenant_id, &owner).await?;
    let url = oauth::authorization_url(&oauth::AuthorizationRequest {
        authorization_url,
        client_id,
        redirect_uri,
        scopes: scopes.as_deref().unwrap_or_default(),
        state: &flow_state,
        pkce_verifier: pkce.as_ref().map(|p| &p.verifier),
        resource: config.resource.as_deref(),
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    let stored = StoredState {
        tenant_id: principal.tenant_id.clone(),
        user_id: principal.user_id.clone(),
        auth_config_id: config.meta.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        token_url: token_url.to_owned(),
        authorization_url: authorization_url.to_owned(),
        client_id: client_id.to_owned(),
        config_fingerprint: token::authorization_code_fingerprint(&config),
        requested_scopes: scopes,
        pkce_verifier,
        expires_at,
        issuer,
        iss_required,
    };
    let data = Body::of(&stored).map_err(|e| Error::Internal(e.to_string()))?;
    let item = Item::new(state_pk(&hash), STATE_SK, data).expiring_at(expires_at);
    state.store.write(TxOp::Create(item)).await?;
    Ok(AuthorizeResponse {
        authorization_url: url.to_string(),
        state: flow_state.expose_secret().to_owned(),
        expires_at: time::OffsetDateTime::from_unix_timestamp(expires_at)
            .map(rfc3339)
            .unwrap_or_default(),
    })
}

/// The scopes an authorization asks for: the config's, and — once an MCP server asked for more
/// (step-up) — those granted so far and those it asked for, each once.
async fn requested_scopes(
    state: &AppState,
    tenant_id: &str,
    config: &TokenOwner<'_>,
) -> Result<Option<Vec<String>>, Error> {
    let record = token::load_authorization_code(state, tenant_id, config)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let Some((record, _)) = record.filter(|(r, _)| !r.required_scopes.is_empty()) else {
        return Ok(config.scopes.clone());
    };
    let mut scopes = config.scopes.clone().unwrap_or_default();
    let earlier = record.granted_scopes.unwrap_or_default();
    for scope in earlier.into_iter().chain(record.required_scopes) {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(Some(scopes))
}

/// The parameters of a callback, checked: no parameter twice, none oversized.
#[derive(Debug, Default)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<SecretString>,
    /// The `state` of the authorization.
    pub state: Option<String>,
    /// The error code, when the user or server declined.
    pub error: Option<String>,
    /// The server's error description.
    pub error_description: Option<String>,
    /// The issuer of the authorization response (RFC 9207).
    pub iss: Option<String>,
    /// The auth config the callback's address names (`/oauth/{auth_config_id}/callback`), when
    /// it names one: the response must belong to that config's authorization.
    pub auth_config_id: Option<String>,
}

/// Parses a callback's raw query string.
pub fn parse_callback_query(query: Option<&str>) -> Result<CallbackParams, Error> {
    let query = query.unwrap_or_default();
    if query.len() > MAX_CALLBACK_QUERY {
        return Err(Error::field(
            "query",
            format!("must be at most {MAX_CALLBACK_QUERY} bytes"),
        ));
    }
    let mut params = CallbackParams::default();
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let limit = match name.as_ref() {
            "code" | "iss" | "error_uri" => 4096,
            "state" | "error" => 512,
            "error_description" => 2048,
            _ => continue,
        };
        if !seen.insert(name.to_string()) {
            return Err(Error::field(name.as_ref(), "must be given once"));
        }
        if value.len() > limit {
            return Err(Error::field(
                name.as_ref(),
                format!("must be at most {limit} bytes"),
            ));
        }
        let value = value.into_owned();
        match name.as_ref() {
            "code" => params.code = Some(SecretString::from(value)),
            "state" => params.state = Some(value),
            "error" => params.error = Some(value),
            "error_description" => params.error_description = Some(value),
            "iss" => params.iss = Some(value),
            _ => {}
        }
    }
    Ok(params)
}

/// How long an authorize waits for the authorization server's metadata.
const METADATA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The issuer an authorization's response must name (RFC 9207), and whether it must be named: the
/// discovered one (required when the server says it always sends it); else the one given with the
/// config; else, for a config entered by hand, the issuer whose metadata (RFC 8414 or OpenID, at
/// the authorization endpoint's origin) names exactly this config's authorization and token
/// endpoints, checked whenever a response names one; else unknown. The look-up is one bounded
/// request through the guarded client, and its failure only leaves the issuer unknown.
async fn known_issuer(
    state: &AppState,
    config: &StoredAuthConfig,
    authorization_url: &str,
    token_url: &str,
) -> (Option<String>, bool) {
    if let Some(discovery) = &config.discovery {
        return (
            Some(discovery.issuer.clone()),
            discovery.iss_parameter_supported,
        );
    }
    // Given: checked whenever a response names one (never required, as for the metadata's).
    if let Some(issuer) = &config.issuer {
        return (Some(issuer.clone()), false);
    }
    let Some(origin) = crate::model::destinations::origin_of(authorization_url) else {
        return (None, false);
    };
    let lookup = oauth::discovery::server_metadata(&state.http, &origin, false);
    match tokio::time::timeout(METADATA_TIMEOUT, lookup).await {
        Ok(Ok(metadata))
            if metadata.authorization_endpoint == authorization_url
                && metadata.token_endpoint == token_url =>
        {
            // Checked whenever present, never required: the documented callback of a config
            // entered by hand carries `code` and `state` only.
            (Some(metadata.issuer), false)
        }
        Ok(Ok(_)) => {
            tracing::info!(%origin, "the origin's metadata names other endpoints; issuer unknown");
            (None, false)
        }
        Ok(Err(failure)) => {
            tracing::info!(%origin, step = ?failure.step, "no authorization server metadata; issuer unknown");
            (None, false)
        }
        Err(_) => {
            tracing::info!(%origin, "authorization server metadata timed out; issuer unknown");
            (None, false)
        }
    }
}

/// Mix-up defence (RFC 9207, RFC 9700 §4.4): when the authorization's issuer is known, a
/// response's `iss` must name it exactly, and must be present when the server says it always
/// sends it; when it is not known, an `iss` that is present must at least be on the origin of the
/// authorization endpoint the user was sent to. A mismatch is refused before anything is done
/// with the response (its `error` included) or its state, so no code and no PKCE verifier reach
/// the token endpoint of a server the response did not come from.
fn check_issuer(stored: &StoredState, iss: Option<&str>) -> Result<(), Error> {
    let Some(expected) = stored.issuer.as_deref() else {
        let origin = |url: &str| crate::model::destinations::origin_of(url);
        return match iss {
            Some(iss)
                if origin(iss).is_none() || origin(iss) != origin(&stored.authorization_url) =>
            {
                Err(Error::field(
                    "iss",
                    "names an authorization server on another origin than the one this \
                     authorization was started with; nothing was done with the response",
                ))
            }
            _ => Ok(()),
        };
    };
    match iss {
        Some(iss) if iss != expected => Err(Error::field(
            "iss",
            "does not name the authorization server this authorization was started with; \
             nothing was done with the response",
        )),
        None if stored.iss_required => Err(Error::field(
            "iss",
            "is required: this authorization server names itself in every response",
        )),
        _ => Ok(()),
    }
}

/// The `redirect_uri` of an authorize request's raw query: given at most once, at most 2048 bytes.
pub fn parse_authorize_query(query: Option<&str>) -> Result<Option<String>, Error> {
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name != "redirect_uri" {
            continue;
        }
        if found.is_some() {
            return Err(Error::field("redirect_uri", "must be given once"));
        }
        if value.len() > 2048 {
            return Err(Error::field("redirect_uri", "must be at most 2048 bytes"));
        }
        found = Some(value.into_owned());
    }
    Ok(found)
}

/// Finishes an authorization: consumes its state, redeems the code and stores the tokens.
/// Returns the auth config with its new token state.
pub async fn callback(
    state: &AppState,
    principal: &Principal,
    params: CallbackParams,
) -> Result<AuthConfigView, Error> {
    let Some(flow_state) = params.state.as_deref() else {
        return Err(Error::field("state", "is required"));
    };
    let hash = state_hash(flow_state);
    let unknown = || {
        Error::field(
            "state",
            "is unknown, expired or already used; start the authorization again",
        )
    };
    let item = state
        .store
        .get(&state_pk(&hash), STATE_SK)
        .await?
        .ok_or_else(unknown)?;
    let stored: StoredState = item
        .data
        .read()
        .map_err(|e| Error::Internal(e.to_string()))?;
    if stored.tenant_id != principal.tenant_id || stored.user_id != principal.user_id {
        return Err(Error::field(
            "state",
            "belongs to an authorization started by another user",
        ));
    }
    check_issuer(&stored, params.iss.as_deref())?;
    // A per-config address receives only its own config's responses: a code the honest
    // server sent there for another flow (a mix-up) is refused, never redeemed elsewhere.
    if params
        .auth_config_id
        .as_deref()
        .is_some_and(|id| id != stored.auth_config_id)
    {
        return Err(Error::field(
            "auth_config_id",
            "this callback address belongs to another auth config than the authorization \
             that `state` names; nothing was done with the response",
        ));
    }
    // Single use: whoever deletes it first owns the callback.
    match state
        .store
        .write(TxOp::Delete {
            pk: state_pk(&hash),
            sk: STATE_SK.into(),
            condition: Condition::Version(item.version),
        })
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    }
    if let Some(error) = params.error.as_deref() {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        // The code, reduced to its alphabet, is all that is repeated: `error_description` is the
        // authorization server's free text (or anyone's who crafted the redirect) and is not
        // echoed into an answer of this API.
        return Err(Error::field(
            "error",
            format!(
                "the authorization server answered {code}; nothing was stored, start the authorization again"
            ),
        ));
    }
    let Some(code) = params.code else {
        return Err(Error::field("code", "is required"));
    };
    let (config, version) =
        resource::load::<StoredAuthConfig>(state, &principal.tenant_id, &stored.auth_config_id)
            .await?;
    require_role_to_connect(principal, &config)?;
    if config.auth_type != AuthType::AuthorizationCode
        || token::authorization_code_fingerprint(&config) != stored.config_fingerprint
    {
        return Err(Error::Conflict(
            "The auth config's authorization server or client changed since the authorization started; start it again."
                .into(),
        ));
    }
    let verifier = match &stored.pkce_verifier {
        Some(envelope) => {
            let plaintext = state
                .crypto
                .open(&pkce_context(&stored.tenant_id, &hash), envelope)
                .await?;
            Some(SecretString::from(
                String::from_utf8(plaintext.to_vec())
                    .map_err(|_| Error::Internal("sealed PKCE verifier is not text".into()))?,
            ))
        }
        None => None,
    };
    let client_secret = auth_record::client_secret(state, &principal.tenant_id, &config)
        .await
        .map_err(|e| match e {
            CredentialError::Secret(e) => Error::from(e),
            other => Error::Internal(other.to_string()),
        })?;
    let client_assertion = crate::model::auth_records::client_assertion::for_config(
        state,
        &principal.tenant_id,
        &config,
    )
    .await
    .map_err(|e| match e {
        CredentialError::Secret(e) => Error::from(e),
        other => Error::Internal(other.to_string()),
    })?;
    let client = oauth::OAuthClient {
        token_url: &stored.token_url,
        client_id: &stored.client_id,
        client_secret: client_secret.as_ref(),
        auth: auth_record::client_auth(&config),
        client_assertion: client_assertion.as_ref(),
    };
    let tokens = oauth::exchange_code(
        &state.http,
        &client,
        code.expose_secret(),
        &stored.redirect_uri,
        verifier.as_ref(),
        config.resource.as_deref(),
        TOKEN_TIMEOUT,
    )
    .await
    .map_err(redemption_error)?;
    token::store_authorized(
        state,
        &principal.tenant_id,
        &TokenOwner::of(&config, &principal.user_id),
        tokens,
        stored.requested_scopes,
    )
    .await
    .map_err(|e| match e {
        CredentialError::Internal(message) if message.contains("deleted") => {
            Error::NotFound("auth config")
        }
        other => Error::Internal(other.to_string()),
    })?;
    auth_config::view_with_tokens(state, principal, &config, version).await
}

/// How a failed code redemption is reported.
fn redemption_error(e: TokenError) -> Error {
    match e {
        ref e @ TokenError::Refused { ref code, .. } if !e.is_transient() => Error::field(
            "code",
            format!(
                "the authorization server refused the code ({code}); start the authorization again"
            ),
        ),
        other => Error::Upstream(format!(
            "The token endpoint could not redeem the code: {other}. Start the authorization again."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_given_twice_is_rejected() {
        let Err(Error::Validation(errors)) = parse_callback_query(Some("state=a&code=b&state=c"))
        else {
            panic!("duplicate accepted");
        };
        assert_eq!(errors[0].field, "state");
    }

    #[test]
    fn oversized_parameters_and_queries_are_rejected() {
        let long = "a".repeat(600);
        assert!(parse_callback_query(Some(&format!("state={long}"))).is_err());
        let huge = "x=".to_owned() + &"a".repeat(MAX_CALLBACK_QUERY);
        assert!(parse_callback_query(Some(&huge)).is_err());
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let params = parse_callback_query(Some("code=c&state=s&iss=https%3A%2F%2Fas&x=1&x=2"))
            .expect("parsed");
        assert_eq!(params.state.as_deref(), Some("s"));
        assert_eq!(
            params.code.map(|c| c.expose_secret().to_owned()).as_deref(),
            Some("c")
        );
    }
}
