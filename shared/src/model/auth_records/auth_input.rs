//! The rules of auth config input: which fields each `auth_type` takes and requires, what each
//! must look like, what a client secret may follow (a PATCH that moves the endpoints must name the
//! secret again), and the deprecated `type` alias of `auth_type`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;
use crate::model::{
    auth_record::{AuthConfigInput, AuthType, StoredAuthConfig, TokenEndpointAuthMethod},
    auth_records::client_assertion,
    resource::Meta,
    secret_fields::{SecretChoice, SecretInput, SecretSlot},
    validate::{self, Checker},
};

const MAX_HEADERS: usize = 32;
const MAX_SCOPES: usize = 50;
const MAX_REDIRECT_URIS: usize = 20;

/// Validated input: the stored shape without secrets and timestamps, plus the secret decisions.
pub struct Validated {
    /// The config, without meta stamps and envelope.
    pub config: StoredAuthConfig,
    /// What to do with each secret field.
    pub secrets: Vec<(String, SecretChoice)>,
}

/// Checks `input` (the whole document, after any merge patch) against the rules of its
/// `auth_type`; `existing` is the stored config a PATCH applies to (its secrets may be kept).
pub fn validate_input(
    input: AuthConfigInput,
    allow_insecure_http: bool,
    existing: Option<&StoredAuthConfig>,
) -> Result<Validated, Error> {
    let mut c = Checker::default();
    let t = input.auth_type;
    c.name_and_description(&input.name, input.description.as_deref());

    // Which fields each type takes.
    let allowed = t.fields();
    let present = input.given();
    for (field, is_present) in present {
        if is_present && !allowed.contains(&field) {
            c.check(
                field,
                Err(format!("is not allowed for auth_type {}", t.name())),
            );
        }
    }
    let required = t.required_fields();
    for field in required {
        if !present.iter().any(|(f, p)| f == field && *p) {
            c.check(
                *field,
                Err(format!("is required for auth_type {}", t.name())),
            );
        }
    }

    let mut secrets = Vec::new();
    let mut custom_headers = BTreeMap::new();
    if let Some(headers) = &input.custom_headers {
        if headers.len() > MAX_HEADERS {
            c.check(
                "custom_headers",
                Err(format!("must have at most {MAX_HEADERS} headers")),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (name, value) in headers {
            let field = format!("custom_headers.{name}");
            c.check(&field, validate::header_name(name, t == AuthType::None));
            if !seen.insert(name.to_ascii_lowercase()) {
                c.check(
                    &field,
                    Err("is given twice (header names are case-insensitive)".into()),
                );
            }
            let existing_slot = existing.and_then(|e| e.custom_headers.get(name));
            if let Some((slot, choice)) =
                c.secret(&field, value, existing_slot, validate::header_value)
            {
                custom_headers.insert(name.clone(), slot);
                secrets.push((field, choice));
            }
        }
    }

    if let Some(username) = &input.username {
        c.check("username", validate::text(username, 256));
        if username.contains(':') {
            c.check(
                "username",
                Err("must not contain ':' (HTTP Basic separates user and password with it)".into()),
            );
        }
    }
    // A secret field's value is checked by `check` (a private key is PEM, lines and all).
    let mut secret_field = |c: &mut Checker,
                            name: &str,
                            input: Option<&SecretInput>,
                            existing: Option<&SecretSlot>,
                            check: fn(&str) -> Result<(), String>| {
        let (slot, choice) = c.secret(name, input?, existing, check)?;
        secrets.push((name.to_owned(), choice));
        Some(slot)
    };
    let password = secret_field(
        &mut c,
        "password",
        input.password.as_ref(),
        existing.and_then(|e| e.password.as_ref()),
        validate::secret_value,
    );
    let client_secret = secret_field(
        &mut c,
        "client_secret",
        input.client_secret.as_ref(),
        existing.and_then(|e| e.client_secret.as_ref()),
        validate::secret_value,
    );
    let private_key = secret_field(
        &mut c,
        "private_key",
        input.private_key.as_ref(),
        existing.and_then(|e| e.private_key.as_ref()),
        client_assertion::check_pem,
    );

    // The RFC 8707 `resource` is the MCP server's canonical URL: a remote URL like the endpoints.
    for (field, url) in [
        ("token_url", &input.token_url),
        ("authorization_url", &input.authorization_url),
        ("resource", &input.resource),
    ] {
        if let Some(url) = url {
            c.check(
                field,
                validate::remote_url(url, allow_insecure_http).map(|_| ()),
            );
        }
    }
    if let Some(client_id) = &input.client_id {
        c.check("client_id", validate::text(client_id, 256));
    }
    if let Some(scopes) = &input.scopes {
        if scopes.len() > MAX_SCOPES {
            c.check(
                "scopes",
                Err(format!("must have at most {MAX_SCOPES} scopes")),
            );
        }
        for (i, s) in scopes.iter().enumerate() {
            c.check(format!("scopes.{i}"), validate::scope(s));
        }
    }
    if let Some(audience) = &input.audience {
        c.check("audience", validate::text(audience, 512));
    }
    if let Some(uris) = &input.allowed_redirect_uris {
        if uris.is_empty() {
            c.check(
                "allowed_redirect_uris",
                Err("must list at least one redirect URI".into()),
            );
        }
        if uris.len() > MAX_REDIRECT_URIS {
            c.check(
                "allowed_redirect_uris",
                Err(format!("must list at most {MAX_REDIRECT_URIS} URIs")),
            );
        }
        for (i, uri) in uris.iter().enumerate() {
            c.check(
                format!("allowed_redirect_uris.{i}"),
                validate::redirect_uri(uri, allow_insecure_http),
            );
            if uris[..i].contains(uri) {
                c.check(
                    format!("allowed_redirect_uris.{i}"),
                    Err("is listed twice".into()),
                );
            }
        }
    }

    if let Some(revocation_url) = &input.revocation_url {
        // It receives the refresh token and the client's credentials: only where the token
        // endpoint is.
        match validate::remote_url(revocation_url, allow_insecure_http) {
            Ok(url) => {
                let token_origin = input
                    .token_url
                    .as_deref()
                    .and_then(crate::model::destinations::origin_of);
                if token_origin.is_some()
                    && token_origin != Some(url.origin().ascii_serialization())
                {
                    c.check(
                        "revocation_url",
                        Err("must be on the token_url's origin".into()),
                    );
                }
            }
            Err(message) => c.check("revocation_url", Err(message)),
        }
    }
    if let Some(issuer) = &input.issuer {
        let plausible = validate::remote_url(issuer, allow_insecure_http).and_then(|url| {
            (url.query().is_none()
                && url.fragment().is_none()
                && issuer.len() <= crate::oauth::discovery::MAX_ISSUER_LEN)
                .then_some(())
                .ok_or_else(|| "must be a URL without query or fragment".to_owned())
        });
        c.check("issuer", plausible);
    }
    let allowed_origins = match &input.allowed_origins {
        Some(origins) => {
            crate::model::destinations::parse_origins(&mut c, origins, allow_insecure_http)
        }
        // Tokens for a resource go to that resource's origin.
        None => input
            .resource
            .as_deref()
            .and_then(crate::model::destinations::origin_of)
            .into_iter()
            .collect(),
    };

    // Client authentication and PKCE.
    let mut method = input.token_endpoint_auth_method;
    let key_signed = method == Some(TokenEndpointAuthMethod::PrivateKeyJwt);
    if input.private_key.is_some() && !key_signed {
        c.check(
            "private_key",
            Err("is only taken with token_endpoint_auth_method private_key_jwt".into()),
        );
    }
    if key_signed && input.client_secret.is_some() {
        c.check(
            "client_secret",
            Err(
                "must be absent with token_endpoint_auth_method private_key_jwt (the client \
                 authenticates with its key)"
                    .into(),
            ),
        );
    }
    match t {
        AuthType::ClientCredentials => {
            if method == Some(TokenEndpointAuthMethod::None) {
                c.check(
                    "token_endpoint_auth_method",
                    Err(
                        "must be client_secret_basic, client_secret_post or private_key_jwt for \
                         CLIENT_CREDENTIALS"
                            .into(),
                    ),
                );
            }
            if !key_signed && input.client_secret.is_none() {
                c.check(
                    "client_secret",
                    Err("is required for auth_type CLIENT_CREDENTIALS unless \
                         token_endpoint_auth_method is private_key_jwt"
                        .into()),
                );
            }
            method.get_or_insert(TokenEndpointAuthMethod::ClientSecretBasic);
        }
        AuthType::AuthorizationCode => {
            let has_secret = input.client_secret.is_some();
            let m = *method.get_or_insert(if has_secret {
                TokenEndpointAuthMethod::ClientSecretBasic
            } else {
                TokenEndpointAuthMethod::None
            });
            match (m, has_secret) {
                (TokenEndpointAuthMethod::None, true) => c.check(
                    "client_secret",
                    Err(
                        "must be absent when token_endpoint_auth_method is none (public client)"
                            .into(),
                    ),
                ),
                (
                    TokenEndpointAuthMethod::ClientSecretBasic
                    | TokenEndpointAuthMethod::ClientSecretPost,
                    false,
                ) => {
                    c.check(
                        "client_secret",
                        Err("is required unless token_endpoint_auth_method is none".into()),
                    );
                }
                _ => {}
            }
            if m == TokenEndpointAuthMethod::None && input.use_pkce == Some(false) {
                c.check(
                    "use_pkce",
                    Err(
                        "must be true for a public client (token_endpoint_auth_method none)".into(),
                    ),
                );
            }
        }
        AuthType::None | AuthType::Basic => {}
    }
    let use_pkce = (t == AuthType::AuthorizationCode).then(|| input.use_pkce.unwrap_or(true));

    // How the config was created; a PATCH keeps it while the authorization server and client stay
    // those discovery found (its issuer then still names the server that answers).
    let discovery = existing
        .filter(|e| {
            e.authorization_url == input.authorization_url
                && e.token_url == input.token_url
                && e.client_id == input.client_id
        })
        .and_then(|e| e.discovery.clone());
    let config = StoredAuthConfig {
        meta: Meta::named(&input.name, input.description),
        auth_type: t,
        custom_headers,
        username: input.username,
        password,
        token_url: input.token_url,
        authorization_url: input.authorization_url,
        client_id: input.client_id,
        client_secret,
        scopes: input.scopes,
        audience: input.audience,
        resource: input.resource,
        allowed_redirect_uris: input.allowed_redirect_uris,
        use_pkce,
        revocation_url: input.revocation_url,
        issuer: input.issuer,
        token_endpoint_auth_method: method
            .filter(|_| matches!(t, AuthType::ClientCredentials | AuthType::AuthorizationCode)),
        // A key this service holds stays the config's while it signs with a key of its own; the
        // resource layer creates one where none is held yet.
        signing_key: existing
            .and_then(|e| e.signing_key.clone())
            .filter(|_| key_signed && private_key.is_none()),
        private_key,
        allowed_origins,
        discovery,
        connection_mode: input.connection_mode.unwrap_or_default(),
        tokens_epoch: existing.map_or(0, |e| e.tokens_epoch),
        secrets: None,
    };
    c.finish(Validated { config, secrets })
}

/// The origin of an endpoint URL (`None` when absent or unparsable: validation refused those).
fn origin_of(url: Option<&String>) -> Option<url::Origin> {
    url.and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin())
}

/// A stored client secret goes only to the token endpoint (and, through the browser, with the
/// authorization endpoint's flow) it was entered for: moving `token_url` or `authorization_url`
/// to another origin needs the client secret in the same request — its value, or its Secrets
/// Manager reference named again. The same holds for a client's own `private_key` (a key this
/// service holds is replaced instead, see `auth_config`). Otherwise a caller who never knew the secret could send it to
/// a server of their choosing with the next token request.
pub fn check_secret_destinations(
    stored: &StoredAuthConfig,
    config: &StoredAuthConfig,
    merge_patch: &Value,
) -> Result<(), Error> {
    let moved = [
        (&stored.token_url, &config.token_url),
        (&stored.authorization_url, &config.authorization_url),
    ]
    .into_iter()
    .any(|(before, after)| {
        origin_of(before.as_ref()).is_some()
            && origin_of(before.as_ref()) != origin_of(after.as_ref())
    });
    // The same for a client's own private key: what it signs is a credential too.
    for (field, kept) in [
        (
            "client_secret",
            stored.client_secret.is_some() && config.client_secret.is_some(),
        ),
        (
            "private_key",
            stored.private_key.is_some() && config.private_key.is_some(),
        ),
    ] {
        let given_again = match merge_patch.get(field) {
            Some(Value::String(_)) => true,
            Some(Value::Object(object)) => object.contains_key("secret_arn"),
            _ => false,
        };
        if kept && moved && !given_again {
            return Err(Error::field(
                field,
                "must be given again (the value, or its secret_arn) in the same request that \
                 moves token_url or authorization_url to another origin",
            ));
        }
    }
    Ok(())
}

/// Takes the deprecated member `type` of a create body or merge patch as `auth_type` (the
/// documented name). Giving both is refused, naming `type`, even when they agree.
pub fn accept_type_alias(doc: &mut Value) -> Result<(), Error> {
    let Some(object) = doc.as_object_mut() else {
        return Ok(());
    };
    let Some(value) = object.remove("type") else {
        return Ok(());
    };
    if object.contains_key("auth_type") {
        return Err(Error::field(
            "type",
            "is the deprecated name of auth_type; give only auth_type",
        ));
    }
    object.insert("auth_type".to_owned(), value);
    Ok(())
}
