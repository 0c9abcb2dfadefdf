//! What an MCP server's refusal of an auth config's OAuth token means beyond "try a fresh
//! token" (MCP authorization: step-up and authorization server changes):
//!
//! - 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`: the token lacks
//!   scopes. They are noted on the token (`INSUFFICIENT_SCOPE`), the next authorization asks for
//!   them with those granted, and the caller is told which are missing; a fresh token of the same
//!   grant would not help, so none is fetched.
//! - 401 for a config set up by discovery: the server's protected resource metadata is read
//!   again; when it no longer names the config's authorization server, the change is noted
//!   (`AUTHORIZATION_SERVER_CHANGED`), the tokens are not used again, and nothing — no refresh
//!   token, no client secret — is sent to either server until a user discovers and authorizes
//!   again.

use crate::model::{
    auth_record::{AuthType, StoredAuthConfig},
    token::{self, TokenOwner},
};
use crate::{
    AppState,
    mcp::{Reauthorization, ReauthorizationReason},
    oauth::discovery,
};

/// Most scopes taken from one challenge.
const MAX_SCOPES: usize = 32;
/// Longest scope taken from a challenge.
const MAX_SCOPE_LEN: usize = 200;

/// The scopes a challenge names, as far as they are scope tokens (RFC 6749 §3.3: visible ASCII
/// but `"` and `\`), each once, at most [`MAX_SCOPES`] of at most [`MAX_SCOPE_LEN`] bytes: a
/// hostile server cannot make the next authorization request unbounded.
fn scope_tokens(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        let valid = token.len() <= MAX_SCOPE_LEN
            && token
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
        if valid && !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
        if scopes.len() == MAX_SCOPES {
            break;
        }
    }
    scopes
}

/// Longest time spent reading the resource metadata again after a 401.
const METADATA_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// A server's refusal of the credentials a request carried.
#[derive(Debug, Clone, Default)]
pub struct Refusal {
    /// 401 or 403.
    pub status: u16,
    /// Its `WWW-Authenticate` value.
    pub challenge: Option<String>,
}

/// Judges a refusal of the token obtained at `obtained_at_us` from `config` by the server at
/// `server`: what a user must do, when only a user can remedy it (noted on the token); none when
/// a fresh token may do.
pub async fn judge(
    state: &AppState,
    tenant_id: &str,
    config: &TokenOwner<'_>,
    server: &url::Url,
    refusal: &Refusal,
    obtained_at_us: i64,
    deadline: tokio::time::Instant,
) -> Option<Reauthorization> {
    if config.auth_type != AuthType::AuthorizationCode {
        return None;
    }
    let challenge = refusal
        .challenge
        .as_deref()
        .and_then(discovery::parse_bearer_challenge)
        .unwrap_or_default();
    if refusal.status == 403 && challenge.error.as_deref() == Some("insufficient_scope") {
        let required = scope_tokens(challenge.scope.as_deref().unwrap_or_default());
        let granted = token::load(state, tenant_id, &config.record_id())
            .await
            .ok()
            .flatten()
            .and_then(|(record, _)| record.granted_scopes)
            .unwrap_or_default();
        let missing: Vec<String> = required
            .iter()
            .filter(|s| !granted.contains(s))
            .cloned()
            .collect();
        token::note_refusal(
            state,
            tenant_id,
            config,
            obtained_at_us,
            Some(&required),
            None,
        )
        .await;
        let action = if missing.is_empty() {
            "The server refuses the token although it was granted these scopes; authorizing \
             again will not help: check the account's permissions at the provider."
                .to_owned()
        } else {
            format!(
                "Authorize the auth config again: it will ask for {} as well.",
                missing.join(" ")
            )
        };
        return Some(Reauthorization {
            auth_config_id: config.meta.id.clone(),
            authorize_endpoint: authorize_endpoint(config),
            connect_url: (!missing.is_empty()).then(|| connect_url(config)),
            reason: ReauthorizationReason::InsufficientScope,
            required_scopes: required,
            missing_scopes: missing,
            authorization_server: None,
            action,
        });
    }
    let discovered = config.discovery.as_ref()?;
    if refusal.status != 401 {
        return None;
    }
    let budget = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .min(METADATA_BUDGET);
    let metadata = tokio::time::timeout(
        budget,
        discovery::resource_metadata(&state.http, server, &challenge),
    )
    .await
    .ok()?
    .ok()?;
    if metadata
        .authorization_servers
        .iter()
        .any(|issuer| issuer == &discovered.issuer)
    {
        return None;
    }
    let issuer = metadata.authorization_servers.first()?.clone();
    token::note_refusal(
        state,
        tenant_id,
        config,
        obtained_at_us,
        None,
        Some(&issuer),
    )
    .await;
    Some(moved(config, issuer))
}

/// Where a user starts an authorization of `config`.
fn authorize_endpoint(config: &StoredAuthConfig) -> String {
    format!("/ai/api/v1/oauth/{}/authorize", config.meta.id)
}

/// The console's hosted connect page of `config`.
fn connect_url(config: &StoredAuthConfig) -> String {
    format!("/console/connect/{}", config.meta.id)
}

/// The remedy for a caller without a usable token of a `per_user` config (`why` says what
/// is missing).
pub fn connect_first(config: &StoredAuthConfig, why: &str) -> Reauthorization {
    Reauthorization {
        auth_config_id: config.meta.id.clone(),
        authorize_endpoint: authorize_endpoint(config),
        connect_url: Some(connect_url(config)),
        reason: ReauthorizationReason::AuthorizationRequired,
        required_scopes: Vec::new(),
        missing_scopes: Vec::new(),
        authorization_server: None,
        action: format!(
            "Each user connects their own account to this auth config, and {why}: connect it in \
             the console ({}) or authorize it (POST {} with a redirect_uri), then call again.",
            connect_url(config),
            authorize_endpoint(config)
        ),
    }
}

/// For a `per_user` config: the remedy when the caller's own token is missing or unusable
/// (never another user's token instead).
pub fn missing_own_token(
    e: &crate::model::auth_record::CredentialError,
    auth: Option<&StoredAuthConfig>,
) -> Option<Reauthorization> {
    use crate::model::auth_record::{ConnectionMode, CredentialError};
    let config = auth.filter(|c| c.connection_mode == ConnectionMode::PerUser)?;
    let why = match e {
        CredentialError::NotAuthorized => "you have not connected yours",
        CredentialError::ReauthorizationRequired => "the provider no longer accepts yours",
        CredentialError::Expired(_) => "yours expired and could not be refreshed",
        _ => return None,
    };
    Some(connect_first(config, why))
}

/// The remedy for a config whose server moved to the authorization server `issuer`.
pub fn moved(config: &StoredAuthConfig, issuer: String) -> Reauthorization {
    Reauthorization {
        auth_config_id: config.meta.id.clone(),
        authorize_endpoint: authorize_endpoint(config),
        connect_url: None,
        reason: ReauthorizationReason::AuthorizationServerChanged,
        required_scopes: Vec::new(),
        missing_scopes: Vec::new(),
        action: format!(
            "The MCP server now uses the authorization server {issuer}: discover the auth config \
             again (PATCH discover_from), then authorize it."
        ),
        authorization_server: Some(issuer),
    }
}

#[cfg(test)]
mod tests {
    use super::scope_tokens;

    #[test]
    fn challenge_scopes_are_bounded_scope_tokens() {
        assert_eq!(
            scope_tokens("mcp:write  mcp:write files"),
            ["mcp:write", "files"]
        );
        assert_eq!(scope_tokens("ok bad\"quote back\\slash é"), ["ok"]);
        let many: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        assert_eq!(scope_tokens(&many.join(" ")).len(), 32);
        assert!(scope_tokens(&"x".repeat(201)).is_empty());
    }
}
