//! Auth configs as a resource (see [`crate::model::resource`]): what they are is in
//! [`crate::model::auth_record`], the rules of their input in [`crate::model::auth_input`]. What this module
//! adds is their life cycle around tokens: a view shows the token state of an
//! `AUTHORIZATION_CODE` config; a PATCH that changes what the tokens belong to (the type, the
//! authorization server, the client, the allowed origins) or where codes, secrets or tokens go
//! (any endpoint, the `resource`) voids them — the refresh token revoked at the provider once the
//! change is written, never for a refused or lost write — and the latter is announced as
//! `auth_config.destination_changed`; a delete revokes and deletes them with the config.
//!
//! Secret fields (`password`, `client_secret`, custom header values) are write-only: given inline
//! they are sealed together in one envelope per record, given as a Secrets Manager reference only
//! the reference is stored; responses show `{"set": true}`.

use serde_json::{Map, Value};

pub use crate::model::auth_record::{
    AuthConfigInput, AuthConfigView, AuthType, ConnectionMode, StoredAuthConfig,
    TokenEndpointAuthMethod, TokenStatus, open_secrets,
};
use crate::model::{
    auth_discovery,
    auth_input::{Validated, accept_type_alias, check_secret_destinations, validate_input},
    auth_record::{self, PURPOSE},
    auth_records::client_assertion,
    deliveries, destinations, events, grants, once,
    resource::{self, Built, Change, Principal, Resource},
    secret_fields::{check_references, seal_secrets},
    token::{self, TokenOwner},
    user_connections,
};
use crate::{AppState, Error, store::TxOp};

impl Resource for StoredAuthConfig {
    const SK_PREFIX: &'static str = auth_record::SK_PREFIX;
    const WHAT: &'static str = "auth config";

    const REFERRERS: &'static str = "MCP server config(s)";
    const SECRETS: &'static [&'static str] = &[
        "custom_headers.*",
        "password",
        "client_secret",
        "private_key",
    ];
    type Input = AuthConfigInput;
    type View = AuthConfigView;
    type Outcome = Written;

    /// The default, without an empty `custom_headers` or `allowed_origins` (absent, the origins
    /// are derived again from `resource`).
    fn editable(&self) -> Value {
        let mut doc = resource::editable_fields(self);
        if let Some(doc) = doc.as_object_mut() {
            for field in ["custom_headers", "allowed_origins"] {
                let empty = doc.get(field).is_some_and(|v| {
                    v.as_object().is_some_and(Map::is_empty)
                        || v.as_array().is_some_and(Vec::is_empty)
                });
                if empty {
                    doc.remove(field);
                }
            }
        }
        doc
    }

    fn view(&self, version: u64) -> AuthConfigView {
        self.view_at(version)
    }

    fn check_patch(merge_patch: &mut Value) -> Result<(), Error> {
        accept_type_alias(merge_patch)
    }

    async fn build(
        state: &AppState,
        principal: &Principal,
        id: &str,
        mut doc: Value,
        change: Change<'_, Self>,
    ) -> Result<Built<Self>, Error> {
        accept_type_alias(&mut doc)?;
        // A patch naming `discover_from` discovers again: what discovery fills is its to fill.
        let rediscovery = match &change {
            Change::Patch {
                before,
                merge_patch,
            } if merge_patch
                .get("discover_from")
                .is_some_and(|v| !v.is_null()) =>
            {
                auth_discovery::forget_discovered(&mut doc, before, merge_patch);
                Some((*before, *merge_patch))
            }
            _ => None,
        };
        let key = doc.to_string();
        let mut input: AuthConfigInput = resource::parse_document(doc)?;
        if input.discover_from.is_some() {
            check_before_discovery(&input, state.allow_insecure_http, change.before())?;
        }
        // Discovery reaches other servers: once per request, even when a lost race builds again.
        let (input, discovery) = once::remembered(
            key.as_bytes(),
            Box::pin(async move {
                let discovery =
                    auth_discovery::apply(state, principal, &mut input, rediscovery).await?;
                Ok((input, discovery))
            }),
        )
        .await?;
        let before = change.before();
        let Validated {
            mut config,
            secrets,
        } = validate_input(input, state.allow_insecure_http, before)?;
        if discovery.is_some() {
            config.discovery = discovery;
        }
        if let Change::Patch {
            before,
            merge_patch,
        } = change
        {
            check_secret_destinations(before, &config, merge_patch)?;
            destinations::check_rebinding(before, &config, merge_patch)?;
        }
        let tenant_id = &principal.tenant_id;
        check_references(state, tenant_id, config.new_references(before)).await?;
        let previous = before.and_then(|b| Some((b.secrets.as_ref()?, b.inline_fields())));
        config.secrets = seal_secrets(state, tenant_id, id, PURPOSE, secrets, previous).await?;
        if let Some(before) = before.filter(|b| b.connection_mode != config.connection_mode)
            && user_connections::any_tokens(state, tenant_id, before).await?
        {
            return Err(Error::Conflict(
                "connection_mode cannot change while the config holds tokens: every connected \
                 user disconnects first (DELETE /ai/api/v1/oauth/connections/{auth_config_id}), \
                 or create a new auth config with the other mode."
                    .into(),
            ));
        }
        let moved = before.and_then(|b| destinations::destination_change(b, &config));
        let voided = before.filter(|b| moved.is_some() || tokens_void(b, &config));
        if let Some(before) = voided {
            config.tokens_epoch = before.tokens_epoch + 1;
        }
        let (created_key, retired_key) =
            signing_key(state, tenant_id, id, before, &mut config).await?;
        let mut built = Built::record(config);
        if let Some(key) = &created_key {
            built.ops.push(client_assertion::publish_op(key)?);
        }
        if let Some(key) = &retired_key {
            built.ops.push(client_assertion::unpublish_op(&key.kid));
        }
        // Tokens belong to one authorization server and client, and go only to the origins they
        // were obtained for: a change of any of these voids them (every user's, for per_user).
        // The shared refresh token is revoked once the change is written (read now: the write
        // deletes it), never for a change that is refused or lost.
        let mut revoke = None;
        if let Some(before) = voided {
            revoke =
                grants::prepare_revocation(state, tenant_id, &TokenOwner::shared(before)).await;
            built
                .ops
                .extend(user_connections::void_ops(tenant_id, before));
        }
        built.outcome = Written {
            moved,
            revoke,
            created_key,
            retired_key,
        };
        Ok(built)
    }

    async fn on_delete(state: &AppState, principal: &Principal, record: &Self) -> Vec<TxOp> {
        // Its grant goes with it: revoked at the provider first (best effort, bounded), and its
        // cached token (if any) deleted in the same transaction.
        // Users' tokens of a per_user config are revoked and deleted by the scheduled pass, a
        // batch at a time, from the sweep recorded in the same transaction.
        grants::revoke_stored(state, &principal.tenant_id, &TokenOwner::shared(record)).await;
        let mut ops = user_connections::delete_ops(state, &principal.tenant_id, record);
        if let Some(key) = &record.signing_key {
            ops.push(client_assertion::unpublish_op(&key.key.kid));
        }
        ops
    }

    async fn after_delete(state: &AppState, _tenant_id: &str, record: &Self) {
        // The key signed for this config only: retired once the config is gone.
        if let Some(key) = &record.signing_key {
            client_assertion::retire_key(state, &key.key).await;
        }
    }

    async fn present(
        state: &AppState,
        principal: &Principal,
        record: &Self,
        written: Result<u64, Error>,
        Written {
            moved,
            revoke,
            created_key,
            retired_key,
        }: Written,
    ) -> Result<AuthConfigView, Error> {
        // A key created for a write that did not happen signs for nothing; one the written
        // change replaced, neither.
        let unused = if written.is_ok() {
            retired_key
        } else {
            created_key.map(|k| k.key)
        };
        if let Some(key) = unused {
            client_assertion::retire_key(state, &key).await;
        }
        let version = written?;
        if let Some(revoke) = revoke {
            revoke.send(state).await;
        }
        if let Some(moved) = moved {
            announce_destination_change(state, principal, record, moved).await;
        }
        view_with_tokens(state, principal, record, version).await
    }
}

/// Refuses input that is invalid whatever discovery finds, before discovery sends anything: the
/// whole input is validated as if discovery had not been asked for, and every problem with a
/// field discovery does not fill is reported at once (400), with nothing sent anywhere.
fn check_before_discovery(
    input: &AuthConfigInput,
    allow_insecure_http: bool,
    before: Option<&StoredAuthConfig>,
) -> Result<(), Error> {
    let mut without = input.clone();
    without.discover_from = None;
    match validate_input(without, allow_insecure_http, before) {
        Err(Error::Validation(errors)) => {
            let errors: Vec<_> = errors
                .into_iter()
                .filter(|e| !auth_discovery::discovery_fills(&e.field))
                .collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(Error::Validation(errors))
            }
        }
        _ => Ok(()),
    }
}

/// What a written change of an auth config does after its write (and only then).
#[derive(Debug, Default)]
pub struct Written {
    /// A change of where the config's codes, secrets or tokens go, announced.
    moved: Option<destinations::DestinationChange>,
    /// The voided shared refresh token, revoked at the provider.
    revoke: Option<grants::PendingRevocation>,
    /// A signing key created for the config by this change (retired if the write fails).
    created_key: Option<auth_record::ManagedKey>,
    /// The signing key the change replaced or dropped (retired once it is written).
    retired_key: Option<crate::crypto::signing::SigningKeyRef>,
}

/// Settles which key this service holds for `config` (a `private_key_jwt` config without a key
/// of its own): the one held before, unless the token or authorization endpoint moved to another
/// origin (a held key signs for the authorization server it was registered at, and for no
/// other: a member who points the endpoints elsewhere gets a fresh key no server trusts), else
/// a new one, created once per request. Returns the key created and the key let go.
async fn signing_key(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    before: Option<&StoredAuthConfig>,
    config: &mut StoredAuthConfig,
) -> Result<
    (
        Option<auth_record::ManagedKey>,
        Option<crate::crypto::signing::SigningKeyRef>,
    ),
    Error,
> {
    let held_before = before.and_then(|b| b.signing_key.as_ref());
    let origin = |url: &Option<String>| url.as_deref().and_then(destinations::origin_of);
    let moved = before.is_some_and(|b| {
        origin(&b.token_url) != origin(&config.token_url)
            || origin(&b.authorization_url) != origin(&config.authorization_url)
    });
    if moved {
        config.signing_key = None;
    }
    let wants_key = config.token_endpoint_auth_method
        == Some(TokenEndpointAuthMethod::PrivateKeyJwt)
        && config.private_key.is_none();
    let mut created = None;
    if wants_key && config.signing_key.is_none() {
        let key = once::remembered(
            format!("signing-key:{tenant_id}:{id}").as_bytes(),
            client_assertion::create_key(state, tenant_id),
        )
        .await?;
        config.signing_key = Some(key.clone());
        created = Some(key);
    }
    let retired = held_before
        .filter(|held| config.signing_key.as_ref() != Some(*held))
        .map(|held| held.key.clone());
    Ok((created, retired))
}

/// Makes a written change of where a config's credentials go visible: logged, and published as
/// `auth_config.destination_changed` (old and new origins, the fields, who changed them) to the
/// bus and the tenant's webhooks. The PATCH itself is in the audit log.
async fn announce_destination_change(
    state: &AppState,
    principal: &Principal,
    record: &StoredAuthConfig,
    moved: destinations::DestinationChange,
) {
    tracing::warn!(
        tenant = %principal.tenant_id,
        auth_config_id = %record.meta.id,
        by = %principal.user_id,
        fields = ?moved.fields,
        old_origins = ?moved.old_origins,
        new_origins = ?moved.new_origins,
        "auth config destinations changed; every user's tokens voided"
    );
    let event = events::event(
        state,
        &principal.tenant_id,
        events::EventType::DestinationChanged,
        serde_json::json!({
            "auth_config_id": record.meta.id,
            "name": record.meta.name,
            "fields": moved.fields,
            "old_origins": moved.old_origins,
            "new_origins": moved.new_origins,
            "changed_by": principal.user_id,
        }),
    );
    deliveries::publish(state, vec![event]).await;
}

/// Whether changing `before` into `after` voids the tokens `before` obtained.
fn tokens_void(before: &StoredAuthConfig, after: &StoredAuthConfig) -> bool {
    before.auth_type != after.auth_type
        || before.allowed_origins != after.allowed_origins
        || token::authorization_code_fingerprint(before)
            != token::authorization_code_fingerprint(after)
}

/// The view of a stored config with the caller's token state (one extra read for
/// `AUTHORIZATION_CODE`, two for `per_user`: the caller's tokens and the user count).
pub async fn view_with_tokens(
    state: &AppState,
    principal: &Principal,
    config: &StoredAuthConfig,
    version: u64,
) -> Result<AuthConfigView, Error> {
    let mut view = config.view_at(version);
    if config.auth_type != AuthType::AuthorizationCode {
        return Ok(view);
    }
    let owner = TokenOwner::of(config, &principal.user_id);
    let tenant_id = &principal.tenant_id;
    if config.connection_mode == ConnectionMode::PerUser {
        let (token, users) =
            futures_util::future::try_join(token::token_state(state, tenant_id, &owner), async {
                user_connections::connected_users(state, tenant_id, &config.meta.id)
                    .await
                    .map_err(Error::from)
            })
            .await?;
        view.connected_users = Some(users);
        return Ok(view.with_token_state(token));
    }
    let token = token::token_state(state, tenant_id, &owner).await?;
    Ok(view.with_token_state(token))
}
