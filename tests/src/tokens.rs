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

/// Creates an AUTHORIZATION_CODE config `name` of `principal`'s tenant at the token endpoint
/// `<idp>/token` (client `bench-client`, an inline secret) and stores tokens for it as a callback
/// would: the access token `at-<refresh>`, the refresh token `refresh`, valid `expires_in`
/// seconds. The config's id. (Tokens without an authorization, for benchmarks at scale.)
pub async fn seed_authorized(
    state: &AppState,
    principal: &Principal,
    idp: &str,
    name: &str,
    refresh: &str,
    expires_in: u64,
) -> String {
    let view = resource::create::<StoredAuthConfig>(
        state,
        principal,
        json!({
            "name": name,
            "auth_type": "AUTHORIZATION_CODE",
            "authorization_url": format!("{idp}/authorize"),
            "token_url": format!("{idp}/token"),
            "client_id": "bench-client",
            "client_secret": "bench-secret",
            "allowed_redirect_uris": ["https://app.example.com/oauth/callback"],
        }),
    )
    .await
    .expect("create the auth config");
    let (config, _) =
        resource::load::<StoredAuthConfig>(state, &principal.tenant_id, &view.meta.id)
            .await
            .expect("load the auth config");
    let set = shared::oauth::TokenSet {
        access_token: secrecy::SecretString::from(format!("at-{refresh}")),
        refresh_token: Some(secrecy::SecretString::from(refresh.to_owned())),
        expires_in,
        scopes: None,
    };
    let owner = shared::model::token::TokenOwner::shared(&config);
    shared::model::token::store_authorized(state, &principal.tenant_id, &owner, set, None)
        .await
        .expect("store the tokens");
    view.meta.id
}

pub use shared::testing::rewrite_token;

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
