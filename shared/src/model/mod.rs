//! Domain models, their validation and their persistence: what a record looks like in the API,
//! how input is checked (every error names its field), and how it is stored.

pub mod agent;
pub mod agent_tools;
pub mod auth_config;
pub mod credentials;
pub(crate) mod destinations;
pub mod limits;
pub mod llm_config;
pub mod mcp_server;
pub mod oauth_flow;
pub mod refresh_pass;
pub mod token;
pub mod validate;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Partition key of a tenant's records.
pub fn tenant_pk(tenant_id: &str) -> String {
    format!("T#{tenant_id}")
}

/// A new record id (UUIDv7: time-ordered, so lists come out in creation order).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `id` looks like an id this API issued (to answer 404 without a store read).
pub fn is_valid_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok()
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Loads the tenant's record `<sk_prefix><id>` and its version. An id this API could not have
/// issued, an unknown id and another tenant's id are all `NotFound(what)`.
pub(crate) async fn load_record<T: serde::de::DeserializeOwned>(
    state: &crate::AppState,
    tenant_id: &str,
    sk_prefix: &str,
    id: &str,
    what: &'static str,
) -> Result<(T, u64), crate::Error> {
    if !is_valid_id(id) {
        return Err(crate::Error::NotFound(what));
    }
    let item = state
        .store
        .get(&tenant_pk(tenant_id), &format!("{sk_prefix}{id}"))
        .await?
        .ok_or(crate::Error::NotFound(what))?;
    let record = item
        .data
        .read()
        .map_err(|e| crate::Error::Internal(format!("stored {what}: {e}")))?;
    Ok((record, item.version))
}

/// One page of the tenant's records of one kind (`sk_prefix`), oldest first, as views.
pub(crate) async fn list_records<T: serde::de::DeserializeOwned, V>(
    state: &crate::AppState,
    tenant_id: &str,
    sk_prefix: &str,
    params: &crate::api::ListParams,
    what: &'static str,
    view: impl Fn(T, u64) -> V,
) -> Result<crate::api::Page<V>, crate::Error> {
    // A position outside the kind's key range (a token of another list, or one never issued)
    // is clamped to the range: before it, the list starts at the beginning; after it, it is empty.
    let start_after = match params.start_after.as_deref() {
        Some(key) if !key.starts_with(sk_prefix) && key > sk_prefix => {
            return Ok(crate::api::Page::new(Vec::new(), None));
        }
        Some(key) if !key.starts_with(sk_prefix) => None,
        other => other,
    };
    let page = state
        .store
        .query(&tenant_pk(tenant_id), sk_prefix, start_after, params.limit)
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|item| {
            let version = item.version;
            item.data
                .read::<T>()
                .map(|record| view(record, version))
                .map_err(|e| crate::Error::Internal(format!("stored {what}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::api::Page::new(items, page.last_sk.as_deref()))
}

/// Parses a JSON document (a create body, or a record after a merge patch) into `T`, naming the
/// field of any error without quoting its value.
pub(crate) fn parse_document<T: serde::de::DeserializeOwned>(
    doc: serde_json::Value,
) -> Result<T, crate::Error> {
    if !doc.is_object() {
        return Err(crate::Error::field("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        crate::Error::Validation(vec![crate::api::describe_serde_error(
            &path,
            &e.inner().to_string(),
        )])
    })
}

/// Checks the preamble of a JSON merge patch: an object that touches none of `read_only`.
pub(crate) fn check_merge_patch(
    patch: &serde_json::Value,
    read_only: &[&str],
) -> Result<(), crate::Error> {
    if !patch.is_object() {
        return Err(crate::Error::field(
            "body",
            "must be a JSON object (a JSON merge patch)",
        ));
    }
    match read_only.iter().find(|field| patch.get(**field).is_some()) {
        Some(field) => Err(crate::Error::field(*field, "is read-only")),
        None => Ok(()),
    }
}

/// A stored record a JSON merge patch applies to.
pub(crate) trait EditableRecord: serde::de::DeserializeOwned {
    /// Sort-key prefix of its kind.
    const SK_PREFIX: &'static str;
    /// What it is called in errors.
    const WHAT: &'static str;
    /// The members of its input document: a merge patch may name no others, not even to remove
    /// them (`null`), as the OpenAPI document's closed patch schemas say.
    const FIELDS: &'static [&'static str];
    /// The record as an input document (secrets as `{"set": true}` or their reference).
    fn editable(&self) -> serde_json::Value;
}

/// The common start of a PATCH: loads the tenant's record `id`, checks `If-Match` against its
/// version, and applies `merge_patch` to its editable document. Returns the record, its version
/// and the merged document (still to be parsed and validated as input).
pub(crate) async fn load_and_merge<T: EditableRecord>(
    state: &crate::AppState,
    tenant_id: &str,
    id: &str,
    merge_patch: &serde_json::Value,
    if_match: Option<u64>,
) -> Result<(T, u64, serde_json::Value), crate::Error> {
    if let Some(unknown) = merge_patch
        .as_object()
        .and_then(|patch| patch.keys().find(|key| !T::FIELDS.contains(&key.as_str())))
    {
        return Err(crate::Error::field(unknown.clone(), "is not a known field"));
    }
    let (stored, version) = load_record::<T>(state, tenant_id, T::SK_PREFIX, id, T::WHAT).await?;
    check_version(T::WHAT, if_match, version)?;
    let mut doc = stored.editable();
    json_patch::merge(&mut doc, merge_patch);
    Ok((stored, version, doc))
}

/// A PATCH of the tenant's record `id`: [`load_and_merge`] then `apply` (validate and write
/// conditionally on the version read), the whole cycle run again on fresh data whenever `apply`
/// loses a version race ([`retry_lost_races`]).
pub(crate) async fn patch_with_retries<T, R, F, Fut>(
    state: &crate::AppState,
    tenant_id: &str,
    id: &str,
    merge_patch: &serde_json::Value,
    if_match: Option<u64>,
    apply: F,
) -> Result<R, crate::Error>
where
    T: EditableRecord,
    F: Fn(T, u64, serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<R, crate::Error>>,
{
    retry_lost_races(T::WHAT, || async {
        let (stored, version, doc) =
            load_and_merge::<T>(state, tenant_id, id, merge_patch, if_match).await?;
        apply(stored, version, doc).await
    })
    .await
}

/// The optimistic-locking check of `If-Match`: `expected` (if given) must be the stored version
/// (412 otherwise).
pub(crate) fn check_version(
    what: &str,
    expected: Option<u64>,
    actual: u64,
) -> Result<(), crate::Error> {
    match expected {
        Some(v) if v != actual => Err(crate::Error::PreconditionFailed(format!(
            "The {what} is at version {actual}, not the one If-Match names; read it again and retry."
        ))),
        _ => Ok(()),
    }
}

/// How many times one request tries a read-check-write cycle that concurrent writers keep beating.
const WRITE_ATTEMPTS: u32 = 40;

/// Runs `attempt` — read the record, check `If-Match`, merge, validate, write conditionally on
/// the version read — again whenever its write lost a race to a concurrent writer
/// ([`crate::Error::VersionRace`]). Each new attempt starts from fresh data, so a write without
/// `If-Match` is never refused for a conflict the caller could not have caused, and one with
/// `If-Match` fails its precondition (412) in the re-read's version check. Bounded, with a short
/// random pause between attempts so that racing writers spread out.
pub(crate) async fn retry_lost_races<T, F, Fut>(
    what: &str,
    mut attempt: F,
) -> Result<T, crate::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::Error>>,
{
    for n in 0..WRITE_ATTEMPTS {
        match attempt().await {
            Err(crate::Error::VersionRace) => {
                let ceiling_ms = 2u64 << n.min(5);
                let mut byte = [0u8; 1];
                let jitter = getrandom::fill(&mut byte).map(|()| u64::from(byte[0]));
                let pause = jitter.unwrap_or(128) * ceiling_ms / 255;
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
    Err(crate::Error::Conflict(format!(
        "The {what} is being changed by many writers at once; retry later."
    )))
}

/// Deletes the tenant's record `sk` (`id` as the caller gave it) unless other records reference
/// it: 404 if absent, 409 on a stale `If-Match` or while `ref_count > 0`. The delete is
/// conditional on the version read and on still being unreferenced, so a reference added
/// meanwhile wins.
pub(crate) async fn delete_unreferenced(
    state: &crate::AppState,
    tenant_id: &str,
    sk: &str,
    id: &str,
    if_match: Option<u64>,
    what: &'static str,
    referrers: &str,
) -> Result<(), crate::Error> {
    use crate::store::{Condition, StoreError, TxOp};
    if !is_valid_id(id) {
        return Err(crate::Error::NotFound(what));
    }
    let pk = tenant_pk(tenant_id);
    retry_lost_races(what, || async {
        let item = state
            .store
            .get(&pk, sk)
            .await?
            .ok_or(crate::Error::NotFound(what))?;
        check_version(what, if_match, item.version)?;
        if item.ref_count > 0 {
            return Err(crate::Error::Conflict(format!(
                "The {what} is used by {} {referrers}; remove it from those first.",
                item.ref_count
            )));
        }
        let delete = TxOp::Delete {
            pk: pk.clone(),
            sk: sk.to_owned(),
            condition: Condition::VersionUnreferenced(item.version),
        };
        match state.store.write(delete).await {
            Ok(()) => Ok(()),
            // Changed or newly referenced meanwhile: the next attempt's read says which.
            Err(StoreError::ConditionFailed { .. }) => Err(crate::Error::VersionRace),
            Err(e) => Err(e.into()),
        }
    })
    .await
}
