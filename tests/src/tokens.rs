//! OAuth token fixtures: an authorization-code config authorized through the real login of
//! [`crate::oidc`], and edits of a stored token record (to make it due or expired now).

use serde_json::json;
use shared::{
    AppState,
    api::Principal,
    model::{auth_config::StoredAuthConfig, oauth_flow, resource},
};

use crate::oidc::{self, OidcProvider};

/// The redirect URI the fixtures authorize with.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Creates an AUTHORIZATION_CODE config named `name` for the provider's `web-app` client (with
/// `resource` as the RFC 8707 resource, if given) and authorizes it: authorize, login and consent
/// over HTTP, callback. Returns the config id.
pub async fn authorized_config(
    state: &AppState,
    provider: &OidcProvider,
    principal: &Principal,
    name: &str,
    resource: Option<&str>,
) -> String {
    let mut body = json!({
        "name": name,
        "auth_type": "AUTHORIZATION_CODE",
        "authorization_url": provider.authorization_endpoint(),
        "token_url": provider.token_endpoint(),
        "client_id": "web-app",
        "client_secret": "web-secret",
        "token_endpoint_auth_method": "client_secret_post",
        "allowed_redirect_uris": [REDIRECT_URI],
        "scopes": ["openid", "offline_access", "mcp:tools"],
    });
    if let Some(resource) = resource {
        body["resource"] = json!(resource);
    }
    let view = resource::create::<StoredAuthConfig>(state, principal, body)
        .await
        .expect("create the auth config");
    let started = oauth_flow::authorize(state, principal, &view.meta.id, Some(REDIRECT_URI))
        .await
        .expect("authorize");
    let landed = oidc::login(&started.authorization_url, REDIRECT_URI).await;
    let params = oauth_flow::parse_callback_query(landed.query()).expect("callback query");
    oauth_flow::callback(state, principal, params)
        .await
        .expect("callback");
    view.meta.id
}

pub use shared::testing::rewrite_token;

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
