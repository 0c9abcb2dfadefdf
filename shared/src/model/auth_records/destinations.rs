//! Where an auth config's credentials may go. Its static secrets (custom header values, the
//! Basic password) and the OAuth access tokens it obtains are sent only to MCP servers on its
//! `allowed_origins`, which are set when the secrets are entered: the server's origin for an
//! inline auth config, the `resource`'s origin for an OAuth config that names one, explicitly,
//! or — for a config created on its own — by the first server that uses it. Changing them needs
//! every secret of the config again in the same request, so no sequence of calls that does not
//! contain the secrets can send them somewhere else. Checked when a server is attached or moved,
//! and again whenever credentials are produced.
//!
//! A change of where an OAuth config's codes, client secret or tokens go
//! ([`destination_change`]: its authorization, token or revocation endpoint, its `resource`, its
//! `allowed_origins`, by hand or by discovering again) is made visible: every user's tokens are
//! voided, and an `auth_config.destination_changed` event names the old and new origins and who
//! changed them.

use serde_json::Value;

use crate::Error;
use crate::model::{
    auth_record::{AuthType, StoredAuthConfig},
    validate::Checker,
};

/// Most origins one auth config may allow.
const MAX_ORIGINS: usize = 20;

/// The ASCII origin (`scheme://host[:port]`) of an `http(s)` URL, or `None`.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    matches!(url.scheme(), "http" | "https")
        .then(|| url.origin().ascii_serialization())
        .filter(|origin| origin != "null")
}

/// Validates `allowed_origins` (each an origin or a URL standing for its origin) into sorted,
/// distinct origins, recording problems in `c`.
pub(crate) fn parse_origins(
    c: &mut Checker,
    origins: &[String],
    allow_insecure_http: bool,
) -> Vec<String> {
    if origins.len() > MAX_ORIGINS {
        c.check(
            "allowed_origins",
            Err(format!("must list at most {MAX_ORIGINS} origins")),
        );
    }
    let mut parsed = Vec::new();
    for (i, origin) in origins.iter().enumerate() {
        let field = format!("allowed_origins.{i}");
        match crate::model::validate::remote_url(origin, allow_insecure_http) {
            Ok(url) => parsed.push(url.origin().ascii_serialization()),
            Err(message) => c.check(field, Err(message)),
        }
    }
    parsed.sort();
    parsed.dedup();
    parsed
}

/// Whether the config's credentials may be sent to `url` (an unbound config, written before
/// origins were kept or not yet used, may be sent anywhere its server is).
pub(crate) fn allows(config: &StoredAuthConfig, url: &url::Url) -> bool {
    config.allowed_origins.is_empty()
        || config
            .allowed_origins
            .contains(&url.origin().ascii_serialization())
}

/// Checks that a server at `url` may use `config`. `Ok(Some(origin))`: the config is unbound and
/// `may_bind` (nothing uses it yet), so this server binds it to `origin`.
pub(crate) fn check_attach(
    config: &StoredAuthConfig,
    url: &str,
    may_bind: bool,
    field: &str,
) -> Result<Option<String>, Error> {
    let origin = origin_of(url).ok_or_else(|| Error::field("url", "must be an http(s) URL"))?;
    if config.allowed_origins.contains(&origin) {
        return Ok(None);
    }
    if config.allowed_origins.is_empty() && may_bind {
        return Ok(Some(origin));
    }
    let entered_for = if config.allowed_origins.is_empty() {
        "the server that already uses it".to_owned()
    } else {
        config.allowed_origins.join(", ")
    };
    Err(Error::field(
        field,
        format!(
            "the auth config's credentials were entered for {entered_for}, not {origin}; to use \
             them there, PATCH the auth config with allowed_origins including {origin} and every \
             secret given again in the same request"
        ),
    ))
}

/// A PATCH that changes `allowed_origins` must give every secret of the config again — each
/// custom header value, the password and the client secret, as a value or a Secrets Manager
/// reference — so that only someone who holds the secrets can send them elsewhere.
pub(crate) fn check_rebinding(
    stored: &StoredAuthConfig,
    config: &StoredAuthConfig,
    merge_patch: &Value,
) -> Result<(), Error> {
    if stored.allowed_origins == config.allowed_origins {
        return Ok(());
    }
    let given = |value: Option<&Value>| match value {
        Some(Value::String(_)) => true,
        Some(Value::Object(object)) => object.contains_key("secret_arn"),
        _ => false,
    };
    let headers = config.custom_headers.keys().filter_map(|name| {
        let value = merge_patch.get("custom_headers").and_then(|h| h.get(name));
        (!given(value)).then(|| format!("custom_headers.{name}"))
    });
    let fields = [
        ("password", config.password.is_some()),
        ("client_secret", config.client_secret.is_some()),
    ]
    .into_iter()
    .filter(|(name, present)| *present && !given(merge_patch.get(*name)))
    .map(|(name, _)| name.to_owned());
    let missing: Vec<String> = headers.chain(fields).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::field(
        "allowed_origins",
        format!(
            "can change only in a request that gives every secret of the auth config again; \
             missing: {}",
            missing.join(", ")
        ),
    ))
}

/// Where an OAuth config's codes, client secret and tokens went before a change and go after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DestinationChange {
    /// The fields whose destination changed (`authorization_url`, `token_url`,
    /// `revocation_url`, `resource`, `allowed_origins`).
    pub fields: Vec<&'static str>,
    /// Every origin the config's credentials could reach before (sorted, distinct).
    pub old_origins: Vec<String>,
    /// Every origin they can reach now.
    pub new_origins: Vec<String>,
}

/// The destinations of an OAuth config: each field that names one, with its value.
fn destinations(config: &StoredAuthConfig) -> [(&'static str, Option<&str>); 4] {
    [
        ("authorization_url", config.authorization_url.as_deref()),
        ("token_url", config.token_url.as_deref()),
        ("revocation_url", config.revocation_url.as_deref()),
        ("resource", config.resource.as_deref()),
    ]
}

fn origins(config: &StoredAuthConfig) -> Vec<String> {
    let mut all: Vec<String> = destinations(config)
        .iter()
        .filter_map(|(_, url)| origin_of((*url)?))
        .chain(config.allowed_origins.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// What changed of where an OAuth config's codes, secrets or tokens go, if anything: any change
/// of an endpoint, the `resource` or `allowed_origins` (a path on the same origin too: it is
/// another endpoint). `None` for configs that are OAuth neither before nor after.
pub fn destination_change(
    before: &StoredAuthConfig,
    after: &StoredAuthConfig,
) -> Option<DestinationChange> {
    let oauth = |c: &StoredAuthConfig| {
        matches!(
            c.auth_type,
            AuthType::ClientCredentials | AuthType::AuthorizationCode
        )
    };
    if !oauth(before) && !oauth(after) {
        return None;
    }
    let mut fields: Vec<&'static str> = destinations(before)
        .iter()
        .zip(destinations(after).iter())
        .filter(|((_, old), (_, new))| old != new)
        .map(|((name, _), _)| *name)
        .collect();
    if before.allowed_origins != after.allowed_origins {
        fields.push("allowed_origins");
    }
    (!fields.is_empty()).then(|| DestinationChange {
        fields,
        old_origins: origins(before),
        new_origins: origins(after),
    })
}
