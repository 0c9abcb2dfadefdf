//! The one way to write a resource. A resource is a kind of record a tenant creates, reads, lists,
//! changes with a JSON merge patch (RFC 7396, optionally conditional on `If-Match`) and deletes.
//! Its module implements [`Resource`] for its stored type — the input it reads, the view it shows,
//! its validation ([`Resource::build`]) and the records it references ([`Resource::references`])
//! — and the generic functions here do the rest, the same way for every resource:
//!
//! - [`create`]: build from the body, stamp the [`Meta`], write the record and count its
//!   references in one transaction (a missing reference fails the write: nothing is stored);
//! - [`get`] / [`list`]: read, and show through [`Resource::present`];
//! - [`patch`]: read, check `If-Match`, merge, build again, write conditionally on the version
//!   read, moving reference counts; a lost race is retried on fresh data;
//! - [`delete`]: refused (409) while other records reference it, else deleted with its own
//!   references released and whatever [`Resource::on_delete`] adds.
//!
//! The HTTP side ([`crate::api::resource`]) serves these as routes with their OpenAPI
//! description. Caller identity ([`Principal`]) and pagination ([`ListParams`], [`Page`]) are
//! domain types here, so scheduled functions and the CLI call the same code without HTTP.

use std::{collections::BTreeSet, future::Future};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::{is_valid_id, new_id, rfc3339, tenant_pk};
use crate::{
    AppState, Error,
    error::describe_serde_error,
    store::{Body, Condition, Item, Query, StoreError, TxOp, encode_page_token},
};

pub use super::principal::{Principal, Role};

/// Which page of a list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// Page size, 1..=200.
    pub limit: usize,
    /// Sort key to continue after, decoded from `next_token`.
    pub start_after: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `next_token` to get the next page; null on the last page.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items`, continuing after `last_sk` if more follow.
    pub fn new(items: Vec<T>, last_sk: Option<&str>) -> Self {
        Self {
            items,
            next_token: last_sk.map(encode_page_token),
        }
    }
}

/// What every record has, flattened into its stored form and its view.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Meta {
    /// Record id (UUIDv7).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Creator's user id.
    pub created_by: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

impl Meta {
    /// The metadata of input: its name (trimmed) and description; the rest is stamped on write.
    pub fn named(name: &str, description: Option<String>) -> Self {
        Self {
            name: name.trim().to_owned(),
            description,
            ..Self::default()
        }
    }
}

/// What the HTTP layer reads off a view: the id (to log) and the version (the `ETag`).
pub trait Versioned {
    /// The record's id.
    fn id(&self) -> &str;
    /// The record's version.
    fn version(&self) -> u64;
}

/// A stored record's metadata.
pub trait Record {
    /// Its metadata.
    fn meta(&self) -> &Meta;
    /// Its metadata, to stamp.
    fn meta_mut(&mut self) -> &mut Meta;
}

/// Implements [`Record`] for a stored type and [`Versioned`] for its view, both of which
/// flatten a `meta: Meta` (the view also has a `version`): `record!(StoredAgent => AgentView)`.
macro_rules! record {
    ($stored:ty => $view:ty) => {
        impl $crate::model::resource::Record for $stored {
            fn meta(&self) -> &$crate::model::resource::Meta {
                &self.meta
            }
            fn meta_mut(&mut self) -> &mut $crate::model::resource::Meta {
                &mut self.meta
            }
        }
        impl $crate::model::resource::Versioned for $view {
            fn id(&self) -> &str {
                &self.meta.id
            }
            fn version(&self) -> u64 {
                self.version
            }
        }
    };
}
pub(crate) use record;

/// What a build starts from.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a, R> {
    /// A new record.
    Create,
    /// A merge patch of `before`, as the client sent it (`doc` is the merged result).
    Patch {
        /// The record as stored.
        before: &'a R,
        /// The merge patch.
        merge_patch: &'a Value,
    },
}

impl<R> Change<'_, R> {
    /// The stored record a patch applies to.
    pub fn before(&self) -> Option<&R> {
        match self {
            Self::Create => None,
            Self::Patch { before, .. } => Some(before),
        }
    }
}

/// A record built from input, ready to be written.
pub struct Built<R: Resource> {
    /// The record (its [`Meta`] is stamped by the write).
    pub record: R,
    /// More operations for the same transaction.
    pub ops: Vec<TxOp>,
    /// Sort keys of references that `ops` already count (an item created with its count).
    pub counted: BTreeSet<String>,
    /// What the write reports beside the record (e.g. the connection test just run).
    pub outcome: R::Outcome,
}

impl<R: Resource> Built<R> {
    /// Just the record: nothing else to write or report.
    pub fn record(record: R) -> Self {
        Self {
            record,
            ops: Vec::new(),
            counted: BTreeSet::new(),
            outcome: R::Outcome::default(),
        }
    }
}

/// A kind of record: see the module documentation.
pub trait Resource: Record + Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// Sort-key prefix of its records.
    const SK_PREFIX: &'static str;
    /// What it is called in errors ("agent").
    const WHAT: &'static str;
    /// What may reference it, for the 409 of a delete ("agent(s)").
    const REFERRERS: &'static str = "other records";
    /// Its secret fields (`field`, or `field.*` for each value of a map): in the editable
    /// document a stored secret is `{"set": true}` or its reference, never its stored form.
    const SECRETS: &'static [&'static str] = &[];
    /// The body of a create (and what a merged patch document must parse as). Its members are
    /// the record's editable fields: a merge patch may name no others, not even to remove them
    /// (`null`), as the OpenAPI document's closed patch schemas say.
    type Input: DeserializeOwned + utoipa::ToSchema;
    /// What the API shows.
    type View: Serialize + utoipa::ToSchema + Versioned + Send;
    /// What a write reports beside the record ([`Built::outcome`]).
    type Outcome: Default + Send;

    /// The record as an input document a merge patch applies to: its stored members that are
    /// members of [`Resource::Input`], without nulls, secrets as `{"set": true}` or their
    /// reference.
    fn editable(&self) -> Value {
        editable_fields(self)
    }
    /// The record as the API shows it at `version`.
    fn view(&self, version: u64) -> Self::View;

    /// Parses and validates an input document (`doc`) into the record `id`, with everything its
    /// write needs (secrets sealed, references checked); every error names its field.
    fn build(
        state: &AppState,
        principal: &Principal,
        id: &str,
        doc: Value,
        change: Change<'_, Self>,
    ) -> impl Future<Output = Result<Built<Self>, Error>> + Send;

    /// Sort keys of the records this one references (counted, so those cannot be deleted).
    fn references(&self) -> BTreeSet<String> {
        BTreeSet::new()
    }

    /// The answer when a write failed on one of its references (deleted meanwhile).
    fn missing_references(
        _state: &AppState,
        _principal: &Principal,
        _record: &Self,
    ) -> impl Future<Output = Error> + Send {
        async {
            Error::Conflict(format!(
                "A record the {} references changed meanwhile; read it again and retry.",
                Self::WHAT
            ))
        }
    }

    /// More operations (and side effects before them) of deleting `record`.
    fn on_delete(
        _state: &AppState,
        _principal: &Principal,
        _record: &Self,
    ) -> impl Future<Output = Vec<TxOp>> + Send {
        async { Vec::new() }
    }

    /// Writes what the record's body will name but not hold (a server's large tool list), just
    /// before the record is written; [`Resource::after_write`] settles it.
    fn before_write(
        _state: &AppState,
        _tenant_id: &str,
        _record: &mut Self,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Settles what [`Resource::before_write`] did, once the write `committed` or failed.
    fn after_write(
        _state: &AppState,
        _tenant_id: &str,
        _record: &mut Self,
        _committed: bool,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Whether the record's body holds all of it ([`Resource::complete`] adds nothing).
    fn held_whole(&self) -> bool {
        true
    }

    /// Completes a record as read with what its body names but does not hold.
    fn complete(
        _state: &AppState,
        _tenant_id: &str,
        _record: &mut Self,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// What follows the record's delete (what its body named but did not hold goes too).
    fn after_delete(
        _state: &AppState,
        _tenant_id: &str,
        _record: &Self,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The stored body of the record.
    fn body(&mut self) -> Result<Body, Error> {
        Body::of(&*self).map_err(|e| Error::Internal(e.to_string()))
    }

    /// The response for the record once written at version `written` (or why not), with what
    /// the build reported; reads pass `Ok(version)` and no outcome.
    fn present(
        _state: &AppState,
        _principal: &Principal,
        record: &Self,
        written: Result<u64, Error>,
        _outcome: Self::Outcome,
    ) -> impl Future<Output = Result<Self::View, Error>> + Send {
        async move { written.map(|version| record.view(version)) }
    }

    /// Checks (and may rewrite) a merge patch before it is applied.
    fn check_patch(_merge_patch: &mut Value) -> Result<(), Error> {
        Ok(())
    }
}

/// The default [`Resource::editable`]: see there.
pub fn editable_fields<R: Resource>(record: &R) -> Value {
    let Ok(Value::Object(stored)) = serde_json::to_value(record) else {
        return Value::Object(serde_json::Map::new());
    };
    let fields = input_fields::<R>();
    let mut doc: serde_json::Map<String, Value> = stored
        .into_iter()
        .filter(|(field, value)| fields.contains(field) && !value.is_null())
        .collect();
    for secret in R::SECRETS {
        match secret.strip_suffix(".*") {
            Some(map) => {
                for slot in doc
                    .get_mut(map)
                    .and_then(Value::as_object_mut)
                    .into_iter()
                    .flatten()
                {
                    *slot.1 = super::secret_fields::editable_slot(slot.1.take());
                }
            }
            None => {
                if let Some(slot) = doc.get_mut(*secret) {
                    *slot = super::secret_fields::editable_slot(slot.take());
                }
            }
        }
    }
    Value::Object(doc)
}

/// The members of `R`'s input document, from its schema.
pub fn input_fields<R: Resource>() -> BTreeSet<String> {
    properties(<R::Input as utoipa::PartialSchema>::schema())
}

/// The members of `R`'s view that are not members of its input: read-only (a merge patch naming
/// one is refused).
pub fn read_only_fields<R: Resource>() -> BTreeSet<String> {
    let shown = properties(<R::View as utoipa::PartialSchema>::schema());
    let input = input_fields::<R>();
    shown.into_iter().filter(|f| !input.contains(f)).collect()
}

/// The property names of an object schema, through `allOf` (a flattened [`Meta`]).
fn properties(schema: utoipa::openapi::RefOr<utoipa::openapi::Schema>) -> BTreeSet<String> {
    use utoipa::openapi::{RefOr, Schema};
    match schema {
        RefOr::T(Schema::Object(object)) => object.properties.into_keys().collect(),
        RefOr::T(Schema::AllOf(all)) => all.items.into_iter().flat_map(properties).collect(),
        RefOr::Ref(reference) if reference.ref_location.ends_with("/Meta") => {
            properties(<Meta as utoipa::PartialSchema>::schema())
        }
        _ => BTreeSet::new(),
    }
}

/// The sort key of the record `id` of kind `R`.
pub fn sk<R: Resource>(id: &str) -> String {
    format!("{}{id}", R::SK_PREFIX)
}

/// Loads the tenant's record `id` of kind `R` and its version. An id this API could not have
/// issued, an unknown id and another tenant's id are all `NotFound`.
pub async fn load<R: Resource>(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<(R, u64), Error> {
    let (mut record, version) = load_body::<R>(state, tenant_id, id).await?;
    R::complete(state, tenant_id, &mut record).await?;
    Ok((record, version))
}

/// Like [`load`], but only what the record's own body holds ([`Resource::complete`] not run):
/// for a pass that reads many records before it works on each.
pub async fn load_body<R: Resource>(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<(R, u64), Error> {
    let (record, version, _) = read_body::<R>(state, tenant_id, id).await?;
    Ok((record, version))
}

/// The record's body as stored, its version, and the body's size in bytes.
pub(crate) async fn read_body<R: Resource>(
    state: &AppState,
    tenant_id: &str,
    id: &str,
) -> Result<(R, u64, usize), Error> {
    if !is_valid_id(id) {
        return Err(Error::NotFound(R::WHAT));
    }
    let item = state
        .store
        .get(&tenant_pk(tenant_id), &sk::<R>(id))
        .await?
        .ok_or(Error::NotFound(R::WHAT))?;
    let record = item
        .data
        .read()
        .map_err(|e| Error::Internal(format!("stored {}: {e}", R::WHAT)))?;
    Ok((record, item.version, item.data.len()))
}

/// Reads one record.
pub async fn get<R: Resource>(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<R::View, Error> {
    let (record, version) = load::<R>(state, &principal.tenant_id, id).await?;
    R::present(
        state,
        principal,
        &record,
        Ok(version),
        R::Outcome::default(),
    )
    .await
}

/// One page of the items under `prefix` in `pk`, continuing after `params`' position when it
/// lies under the prefix (a position from another list starts at the beginning).
pub async fn prefix_page(
    state: &AppState,
    pk: &str,
    prefix: &str,
    params: &ListParams,
) -> Result<crate::store::QueryPage, Error> {
    let after = params
        .start_after
        .as_deref()
        .filter(|key| key.starts_with(prefix));
    Ok(state
        .store
        .query(Query::prefix(pk, prefix).after(after).limit(params.limit))
        .await?)
}

/// One page of the tenant's records of kind `R`, oldest first.
pub async fn list<R: Resource>(
    state: &AppState,
    principal: &Principal,
    params: &ListParams,
) -> Result<Page<R::View>, Error> {
    // A position outside the kind's key range (a token of another list, or one never issued)
    // is clamped to the range: before it, the list starts at the beginning; after it, it is empty.
    let start_after = match params.start_after.as_deref() {
        Some(key) if !key.starts_with(R::SK_PREFIX) && key > R::SK_PREFIX => {
            return Ok(Page::new(Vec::new(), None));
        }
        Some(key) if !key.starts_with(R::SK_PREFIX) => None,
        other => other,
    };
    let page = state
        .store
        .query(
            Query::prefix(&tenant_pk(&principal.tenant_id), R::SK_PREFIX)
                .after(start_after)
                .limit(params.limit),
        )
        .await?;
    let records = page
        .items
        .into_iter()
        .map(|item| {
            let version = item.version;
            item.data
                .read::<R>()
                .map(|record| (record, version))
                .map_err(|e| Error::Internal(format!("stored {}: {e}", R::WHAT)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut records = records;
    let tenant_id = principal.tenant_id.as_str();
    futures_util::future::try_join_all(
        records
            .iter_mut()
            .map(|(record, _)| R::complete(state, tenant_id, record)),
    )
    .await?;
    // Views that need another read (an auth config's token state) are read concurrently.
    let items = futures_util::future::try_join_all(records.iter().map(|(record, version)| {
        R::present(
            state,
            principal,
            record,
            Ok(*version),
            R::Outcome::default(),
        )
    }))
    .await?;
    Ok(Page::new(items, page.last_sk.as_deref()))
}

/// A new record, built and stamped but not written: its item, the other operations of its
/// transaction, and what the build reported.
pub struct Prepared<R: Resource> {
    /// The record as it will be stored.
    pub record: R,
    /// Its item (version 1).
    pub item: Item,
    /// The rest of its transaction: reference counts and the build's own operations.
    pub ops: Vec<TxOp>,
    /// What the build reported.
    pub outcome: R::Outcome,
}

/// Builds a new record from a create body without writing it.
pub async fn prepare<R: Resource>(
    state: &AppState,
    principal: &Principal,
    doc: Value,
) -> Result<Prepared<R>, Error> {
    let id = new_id();
    let built = R::build(state, principal, &id, doc, Change::Create).await?;
    let mut record = built.record;
    let now = rfc3339(state.clock.now());
    let meta = record.meta_mut();
    meta.id.clone_from(&id);
    meta.created_by.clone_from(&principal.user_id);
    meta.created_at.clone_from(&now);
    meta.updated_at = now;
    let pk = tenant_pk(&principal.tenant_id);
    R::before_write(state, &principal.tenant_id, &mut record).await?;
    let item = Item::new(pk.clone(), sk::<R>(&id), record.body()?);
    let mut ops = adjust(&pk, record.references().difference(&built.counted), 1);
    ops.extend(built.ops);
    Ok(Prepared {
        record,
        item,
        ops,
        outcome: built.outcome,
    })
}

/// Creates a record from a create body; a reference that does not exist fails the whole write.
pub async fn create<R: Resource>(
    state: &AppState,
    principal: &Principal,
    doc: Value,
) -> Result<R::View, Error> {
    let mut prepared = prepare::<R>(state, principal, doc).await?;
    let mut ops = vec![TxOp::Create(prepared.item)];
    ops.extend(prepared.ops);
    let result = write_all(state, ops).await;
    R::after_write(
        state,
        &principal.tenant_id,
        &mut prepared.record,
        result.is_ok(),
    )
    .await;
    let written = match result {
        Ok(()) => Ok(1),
        Err(StoreError::ConditionFailed { .. }) => {
            Err(R::missing_references(state, principal, &prepared.record).await)
        }
        Err(e) => Err(e.into()),
    };
    R::present(
        state,
        principal,
        &prepared.record,
        written,
        prepared.outcome,
    )
    .await
}

/// Applies a JSON merge patch to the record `id` (conditional on `if_match` when given: 412
/// otherwise), builds the whole result again and writes it if the version is still the one read;
/// a write that loses a race is merged again on fresh data.
pub async fn patch<R: Resource>(
    state: &AppState,
    principal: &Principal,
    id: &str,
    mut merge_patch: Value,
    if_match: Option<u64>,
) -> Result<R::View, Error> {
    check_merge_patch::<R>(&merge_patch)?;
    R::check_patch(&mut merge_patch)?;
    let fields = input_fields::<R>();
    if let Some(unknown) = merge_patch
        .as_object()
        .and_then(|patch| patch.keys().find(|key| !fields.contains(*key)))
    {
        return Err(Error::field(unknown.clone(), "is not a known field"));
    }
    let merge_patch = &merge_patch;
    // What a build sends elsewhere is sent once, whatever the retries (`super::once`).
    super::once::per_write(retry_lost_races(R::WHAT, || async move {
        let (before, version) = load::<R>(state, &principal.tenant_id, id).await?;
        check_version(R::WHAT, if_match, version)?;
        let mut doc = before.editable();
        json_patch::merge(&mut doc, merge_patch);
        let change = Change::Patch {
            before: &before,
            merge_patch,
        };
        let built = R::build(state, principal, id, doc, change).await?;
        let mut record = built.record;
        let (kept, meta) = (before.meta(), record.meta_mut());
        meta.id.clone_from(&kept.id);
        meta.created_by.clone_from(&kept.created_by);
        meta.created_at.clone_from(&kept.created_at);
        meta.updated_at = rfc3339(state.clock.now());
        let pk = tenant_pk(&principal.tenant_id);
        R::before_write(state, &principal.tenant_id, &mut record).await?;
        let mut ops = vec![TxOp::Update {
            item: Item::new(pk.clone(), sk::<R>(id), record.body()?),
            expected_version: version,
        }];
        let (old, new) = (before.references(), record.references());
        let added: BTreeSet<String> = new.difference(&old).cloned().collect();
        ops.extend(adjust(&pk, added.difference(&built.counted), 1));
        ops.extend(adjust(&pk, old.difference(&new), -1));
        ops.extend(built.ops);
        let result = write_all(state, ops).await;
        R::after_write(state, &principal.tenant_id, &mut record, result.is_ok()).await;
        let written = match result {
            Ok(()) => Ok(version + 1),
            Err(StoreError::ConditionFailed { index: 0 }) => Err(Error::VersionRace),
            Err(StoreError::ConditionFailed { .. }) => {
                Err(R::missing_references(state, principal, &record).await)
            }
            Err(e) => Err(e.into()),
        };
        R::present(state, principal, &record, written, built.outcome).await
    }))
    .await
}

/// Deletes the record `id` unless other records reference it: 404 if absent, 412 on a stale
/// `If-Match`, 409 while it is referenced. The delete is conditional on the version read and on
/// still being unreferenced, so a reference added meanwhile wins; the record's own references
/// are released in the same transaction.
pub async fn delete<R: Resource>(
    state: &AppState,
    principal: &Principal,
    id: &str,
    if_match: Option<u64>,
) -> Result<(), Error> {
    if !is_valid_id(id) {
        return Err(Error::NotFound(R::WHAT));
    }
    let pk = &tenant_pk(&principal.tenant_id);
    retry_lost_races(R::WHAT, || async move {
        let item = state
            .store
            .get(pk, &sk::<R>(id))
            .await?
            .ok_or(Error::NotFound(R::WHAT))?;
        check_version(R::WHAT, if_match, item.version)?;
        if item.ref_count > 0 {
            return Err(Error::Conflict(format!(
                "The {} is used by {} {}; remove it from those first.",
                R::WHAT,
                item.ref_count,
                R::REFERRERS
            )));
        }
        let record: R = item
            .data
            .read()
            .map_err(|e| Error::Internal(format!("stored {}: {e}", R::WHAT)))?;
        let mut ops = vec![TxOp::Delete {
            pk: pk.clone(),
            sk: sk::<R>(id),
            condition: Condition::VersionUnreferenced(item.version),
        }];
        ops.extend(adjust(pk, &record.references(), -1));
        ops.extend(R::on_delete(state, principal, &record).await);
        match write_all(state, ops).await {
            Ok(()) => {
                R::after_delete(state, &principal.tenant_id, &record).await;
                Ok(())
            }
            // Changed or newly referenced meanwhile: the next attempt's read says which.
            Err(StoreError::ConditionFailed { .. }) => Err(Error::VersionRace),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// One write, or a transaction of several (a single write costs half as much in DynamoDB).
async fn write_all(state: &AppState, mut ops: Vec<TxOp>) -> Result<(), StoreError> {
    if ops.len() == 1 {
        if let Some(op) = ops.pop() {
            return state.store.write(op).await;
        }
    }
    state.store.transact(ops).await
}

/// Reference-count adjustments by `delta` of the records `sks`.
fn adjust<'a>(pk: &str, sks: impl IntoIterator<Item = &'a String>, delta: i64) -> Vec<TxOp> {
    sks.into_iter()
        .map(|sk| TxOp::AdjustRefs {
            pk: pk.to_owned(),
            sk: sk.clone(),
            delta,
        })
        .collect()
}

/// Parses a JSON document (a create body, or a record after a merge patch) into `T`, naming the
/// field of any error without quoting its value.
pub fn parse_document<T: DeserializeOwned>(doc: Value) -> Result<T, Error> {
    if !doc.is_object() {
        return Err(Error::field("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        Error::Validation(vec![describe_serde_error(&path, &e.inner().to_string())])
    })
}

/// Checks the preamble of a JSON merge patch: an object that touches no read-only member.
fn check_merge_patch<R: Resource>(patch: &Value) -> Result<(), Error> {
    let Some(patch) = patch.as_object() else {
        return Err(Error::field(
            "body",
            "must be a JSON object (a JSON merge patch)",
        ));
    };
    let read_only = read_only_fields::<R>();
    match patch.keys().find(|field| read_only.contains(*field)) {
        Some(field) => Err(Error::field(field.clone(), "is read-only")),
        None => Ok(()),
    }
}

/// The optimistic-locking check of `If-Match`: `expected` (if given) must be the stored version
/// (412 otherwise).
pub fn check_version(what: &str, expected: Option<u64>, actual: u64) -> Result<(), Error> {
    match expected {
        Some(v) if v != actual => Err(Error::PreconditionFailed(format!(
            "The {what} is at version {actual}, not the one If-Match names; read it again and retry."
        ))),
        _ => Ok(()),
    }
}

/// How many times one request tries a read-check-write cycle that concurrent writers keep beating.
const WRITE_ATTEMPTS: u32 = 40;

/// Runs `attempt` — read the record, check `If-Match`, merge, validate, write conditionally on
/// the version read — again whenever its write lost a race to a concurrent writer
/// ([`Error::VersionRace`]). Each new attempt starts from fresh data, so a write without
/// `If-Match` is never refused for a conflict the caller could not have caused, and one with
/// `If-Match` fails its precondition (412) in the re-read's version check. Bounded, with a short
/// random pause between attempts so that racing writers spread out.
pub async fn retry_lost_races<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    for n in 0..WRITE_ATTEMPTS {
        match attempt().await {
            Err(Error::VersionRace) => {
                let ceiling_ms = 2u64 << n.min(5);
                let mut byte = [0u8; 1];
                let jitter = getrandom::fill(&mut byte).map(|()| u64::from(byte[0]));
                let pause = jitter.unwrap_or(128) * ceiling_ms / 255;
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
    Err(Error::Conflict(format!(
        "The {what} is being changed by many writers at once; retry later."
    )))
}
