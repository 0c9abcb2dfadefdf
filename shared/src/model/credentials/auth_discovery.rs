//! An `AUTHORIZATION_CODE` auth config from an MCP server's URL alone (`discover_from`): the
//! server's challenge and protected resource metadata name its authorization server, whose
//! metadata gives the endpoints; the scopes are the challenge's, else the resource's; the client
//! is the pre-registered one when `client_id` is given, else one registered dynamically — once
//! per authorization server, redirect URIs and client authentication in a tenant: the
//! registration is kept (item `REGISTRATION#<sha256>`, its secret sealed) and reused by every
//! config discovered alike. The discovered values fill the input, which is then validated like
//! any other: discovery adds no rule of its own to what a config may be.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{
    auth_record::{
        AuthConfigInput, AuthType, ClientRegistration, Discovery, StoredAuthConfig,
        TokenEndpointAuthMethod,
    },
    destinations::origin_of,
    limits,
    resource::Principal,
    secret_fields::SecretInput,
    tenant_pk,
    validate::{self, Checker},
};
use crate::{
    AppState, Error,
    crypto::{EncryptionContext, Envelope},
    oauth::discovery::{self, DiscoveryFailure, ServerMetadata, Step},
    store::{Body, Item, TxOp},
};

/// Longest time one discovery may take in all (each of its requests is bounded as well), so a
/// slow or hostile server cannot hold a request past what an API answer may take.
const BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Envelope purpose of a kept registration's client secret.
const REGISTRATION_PURPOSE: &str = "oauth.registration";

/// A dynamic registration as kept for reuse.
#[derive(Debug, Serialize, Deserialize)]
struct KeptRegistration {
    issuer: String,
    redirect_uris: Vec<String>,
    client_id: String,
    token_endpoint_auth_method: String,
    client_secret: Option<Envelope>,
}

/// The fields discovery fills in.
pub const DISCOVERED: [&str; 6] = [
    "authorization_url",
    "token_url",
    "resource",
    "revocation_url",
    "scopes",
    "issuer",
];
/// The fields of a client registration.
const CLIENT: [&str; 3] = ["client_id", "client_secret", "token_endpoint_auth_method"];

/// Whether discovery fills `field` (a JSON path such as `scopes.0`), so that an input naming
/// `discover_from` may lack it, or hold a value discovery replaces, before discovery ran.
pub(crate) fn discovery_fills(field: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    DISCOVERED.contains(&top) || CLIENT.contains(&top) || top == "allowed_origins"
}

/// Prepares the merged document of a patch that discovers again: the discovered fields are
/// dropped (discovery fills them anew), and so is a client this service registered (a new one
/// is registered, or the kept registration at that server reused) — unless the patch itself
/// names them. A pre-registered client stays, for [`apply`] to check against the issuer found.
pub fn forget_discovered(doc: &mut Value, before: &StoredAuthConfig, merge_patch: &Value) {
    let registered = before
        .discovery
        .as_ref()
        .is_some_and(|d| d.registration != ClientRegistration::PreRegistered);
    let Some(doc) = doc.as_object_mut() else {
        return;
    };
    let client: &[&str] = if registered { &CLIENT } else { &[] };
    for field in DISCOVERED.iter().chain(client) {
        if merge_patch.get(*field).is_none() {
            doc.remove(*field);
        }
    }
}

/// Fills `input` from discovery when it names `discover_from`; what was found, for the record.
/// `rediscovery` is the config and merge patch of a patch that discovers again.
pub async fn apply(
    state: &AppState,
    principal: &Principal,
    input: &mut AuthConfigInput,
    rediscovery: Option<(&StoredAuthConfig, &Value)>,
) -> Result<Option<Discovery>, Error> {
    let Some(from) = input.discover_from.take() else {
        return Ok(None);
    };
    let mut c = Checker::default();
    let code = input.auth_type == AuthType::AuthorizationCode;
    if !code && input.auth_type != AuthType::ClientCredentials {
        c.check(
            "discover_from",
            Err("is only for auth_type AUTHORIZATION_CODE or CLIENT_CREDENTIALS".into()),
        );
    }
    for (field, given) in input.given() {
        if given && DISCOVERED.contains(&field) {
            c.check(
                field,
                Err("is discovered from discover_from; give one or the other".into()),
            );
        }
    }
    if input.client_secret.is_some() && input.client_id.is_none() {
        c.check(
            "client_secret",
            Err("goes with a pre-registered client_id".into()),
        );
    }
    let redirect_uris = input.allowed_redirect_uris.clone().unwrap_or_default();
    if code && redirect_uris.is_empty() {
        c.check(
            "allowed_redirect_uris",
            Err("is required to register a client".into()),
        );
    }
    if !code && input.client_id.is_none() {
        c.check(
            "client_id",
            Err("is required: client credentials are registered at the provider by hand".into()),
        );
    }
    let server = validate::remote_url(&from, state.allow_insecure_http);
    if let Err(message) = &server {
        c.check("discover_from", Err(message.clone()));
    }
    c.finish(())?;
    let server = server.map_err(|e| Error::field("discover_from", e))?;
    // Discovery reaches other servers: it counts as a connection test against the limits.
    let found = Found {
        from,
        server,
        code,
        redirect_uris,
    };
    limits::with_test_slot(
        state,
        principal,
        BUDGET,
        Box::pin(discover(state, principal, input, rediscovery, found)),
    )
    .await
}

/// What discovery starts from, checked.
struct Found {
    from: String,
    server: url::Url,
    /// Whether it is for an `AUTHORIZATION_CODE` config.
    code: bool,
    redirect_uris: Vec<String>,
}

/// Discovery itself, within [`BUDGET`]: the challenge, the metadata documents, and for an
/// `AUTHORIZATION_CODE` config the client (registered when none is given).
async fn discover(
    state: &AppState,
    principal: &Principal,
    input: &mut AuthConfigInput,
    rediscovery: Option<(&StoredAuthConfig, &Value)>,
    found: Found,
) -> Result<Option<Discovery>, Error> {
    let Found {
        from,
        server,
        code,
        redirect_uris,
    } = found;
    let deadline = tokio::time::Instant::now() + BUDGET;
    let failed = |failure: DiscoveryFailure| Error::DiscoveryFailed(Box::new(failure));
    let challenge = within(
        deadline,
        Step::Challenge,
        discovery::challenge(&state.http, &server),
    )
    .await?;
    let resource = within(
        deadline,
        Step::ResourceMetadata,
        discovery::resource_metadata(&state.http, &server, &challenge),
    )
    .await?;
    let issuer = resource.authorization_servers.first().ok_or_else(|| {
        failed(DiscoveryFailure {
            step: Step::ResourceMetadata,
            message: "The protected resource metadata names no authorization server.".into(),
        })
    })?;
    let metadata = within(
        deadline,
        Step::AuthorizationServerMetadata,
        discovery::server_metadata(&state.http, issuer, code),
    )
    .await?;
    // A client registered by hand belongs to the authorization server it was registered at:
    // when the server now names another one, it is not presented there.
    if let Some((before, merge_patch)) = rediscovery {
        let kept_client = merge_patch.get("client_id").is_none() && input.client_id.is_some();
        let issuer_before = before.discovery.as_ref().map(|d| d.issuer.as_str());
        if kept_client && issuer_before.is_some_and(|issuer| issuer != metadata.issuer) {
            return Err(failed(DiscoveryFailure {
                step: Step::Registration,
                message: format!(
                    "The MCP server now uses the authorization server {}, and the client was \
                     registered by hand at {}: register one at the new server and give its \
                     client_id (and client_secret) with discover_from.",
                    metadata.issuer,
                    issuer_before.unwrap_or_default()
                ),
            }));
        }
    }
    if !code {
        input.token_url = Some(metadata.token_endpoint);
        input.resource = Some(resource.resource);
        input.scopes = challenge_scopes(challenge.scope.as_deref(), &resource.scopes_supported);
        return Ok(Some(Discovery {
            from,
            issuer: metadata.issuer,
            registration: ClientRegistration::PreRegistered,
            iss_parameter_supported: false,
        }));
    }

    // The challenge's scopes, else the resource's; a refresh token where the server offers one.
    let mut scopes = challenge_scopes(challenge.scope.as_deref(), &resource.scopes_supported)
        .unwrap_or_default();
    let offline = "offline_access".to_owned();
    if metadata.scopes_supported.contains(&offline) && !scopes.contains(&offline) {
        scopes.push(offline);
    }
    let identity = state.client_identity.as_deref().filter(|identity| {
        metadata.client_id_metadata_document_supported
            && redirect_uris
                .iter()
                .all(|uri| identity.redirect_uris.contains(uri))
    });
    let registration = match (&input.client_id, identity) {
        (Some(_), _) => ClientRegistration::PreRegistered,
        (None, Some(identity)) => {
            input.client_id = Some(identity.metadata_url.clone());
            input.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::None);
            ClientRegistration::MetadataDocument
        }
        (None, None) => {
            register(
                state,
                &principal.tenant_id,
                input,
                &metadata,
                &redirect_uris,
                deadline,
            )
            .await?;
            ClientRegistration::Dynamic
        }
    };
    let token_origin = origin_of(&metadata.token_endpoint);
    input.revocation_url = metadata
        .revocation_endpoint
        .clone()
        .filter(|url| origin_of(url) == token_origin);
    input.authorization_url = Some(metadata.authorization_endpoint);
    input.token_url = Some(metadata.token_endpoint);
    input.resource = Some(resource.resource);
    input.scopes = (!scopes.is_empty()).then_some(scopes);
    Ok(Some(Discovery {
        from,
        issuer: metadata.issuer,
        registration,
        iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
    }))
}

/// The scopes to ask for: the challenge's, else the resource's; none when neither names any.
fn challenge_scopes(challenge: Option<&str>, supported: &[String]) -> Option<Vec<String>> {
    let scopes: Vec<String> = match challenge {
        Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
        None => supported.to_vec(),
    };
    (!scopes.is_empty()).then_some(scopes)
}

/// `work`, failing at `step` once the discovery's `deadline` has passed.
async fn within<T>(
    deadline: tokio::time::Instant,
    step: Step,
    work: impl std::future::Future<Output = Result<T, DiscoveryFailure>>,
) -> Result<T, Error> {
    let outcome = tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(DiscoveryFailure {
                step,
                message: format!("Discovery took longer than {} s in all.", BUDGET.as_secs()),
            })
        });
    outcome.map_err(|failure| Error::DiscoveryFailed(Box::new(failure)))
}

/// Puts a dynamically registered client into `input`: the tenant's registration at this
/// authorization server for these redirect URIs when one is kept, else a new one (RFC 7591),
/// kept for the next config. The client authenticates as the server prefers among what this
/// service supports.
async fn register(
    state: &AppState,
    tenant_id: &str,
    input: &mut AuthConfigInput,
    metadata: &ServerMetadata,
    redirect_uris: &[String],
    deadline: tokio::time::Instant,
) -> Result<(), Error> {
    let failed = |failure: DiscoveryFailure| Error::DiscoveryFailed(Box::new(failure));
    let endpoint = metadata.registration_endpoint.as_deref().ok_or_else(|| {
        failed(DiscoveryFailure {
            step: Step::Registration,
            message: format!(
                "The authorization server {} offers no dynamic client registration: register a \
                 client there by hand and give its client_id (and client_secret) with \
                 discover_from.",
                metadata.issuer
            ),
        })
    })?;
    // Absent, the server takes client_secret_basic (RFC 8414 §2).
    let supported = metadata
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    let method = ["client_secret_basic", "client_secret_post", "none"]
        .into_iter()
        .find(|m| supported.iter().any(|s| s == m))
        .unwrap_or("client_secret_basic");
    let mut uris = redirect_uris.to_vec();
    uris.sort();
    let key = hex::encode(Sha256::digest(
        serde_json::json!([metadata.issuer, uris, method]).to_string(),
    ));
    let (pk, sk) = (tenant_pk(tenant_id), format!("REGISTRATION#{key}"));
    let context = EncryptionContext::new(tenant_id, &key, REGISTRATION_PURPOSE);
    let (client_id, auth_method, secret) = match state.store.get(&pk, &sk).await? {
        Some(item) => {
            let kept: KeptRegistration = item
                .data
                .read()
                .map_err(|e| Error::Internal(format!("kept registration: {e}")))?;
            let secret = match &kept.client_secret {
                Some(envelope) => {
                    let plaintext = state.crypto.open(&context, envelope).await?;
                    let text = String::from_utf8(plaintext.to_vec())
                        .map_err(|_| Error::Internal("kept client secret is not text".into()))?;
                    Some(SecretString::from(text))
                }
                None => None,
            };
            (kept.client_id, kept.token_endpoint_auth_method, secret)
        }
        None => {
            let registration = discovery::register(&state.http, endpoint, &uris, method);
            let registered = within(deadline, Step::Registration, registration).await?;
            let sealed = match &registered.client_secret {
                Some(secret) => Some(
                    state
                        .crypto
                        .seal(&context, secret.expose_secret().as_bytes())
                        .await?,
                ),
                None => None,
            };
            let kept = KeptRegistration {
                issuer: metadata.issuer.clone(),
                redirect_uris: uris,
                client_id: registered.client_id.clone(),
                token_endpoint_auth_method: registered.token_endpoint_auth_method.clone(),
                client_secret: sealed,
            };
            let data = Body::of(&kept).map_err(|e| Error::Internal(e.to_string()))?;
            // Two concurrent discoveries may both register; the first kept wins the item, and
            // each config keeps the client it registered (both are valid).
            if let Err(e) = state
                .store
                .write(TxOp::Create(Item::new(pk, sk, data)))
                .await
            {
                tracing::warn!(error = %e, "keeping a dynamic registration failed");
            }
            (
                registered.client_id,
                registered.token_endpoint_auth_method,
                registered.client_secret,
            )
        }
    };
    input.token_endpoint_auth_method = Some(match auth_method.as_str() {
        "client_secret_post" => TokenEndpointAuthMethod::ClientSecretPost,
        "none" => TokenEndpointAuthMethod::None,
        _ => TokenEndpointAuthMethod::ClientSecretBasic,
    });
    input.client_id = Some(client_id);
    input.client_secret = secret.map(SecretInput::Value);
    Ok(())
}
