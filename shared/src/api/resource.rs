//! One way for a function crate to serve a resource ([`crate::model::resource`]) over HTTP: the
//! five routes of a [`Collection`] (`POST` and `GET` on its path, `GET`, `PATCH` and `DELETE` on
//! `{path}/{id}`) with `ETag`/`If-Match`, and their OpenAPI description, from one declaration:
//!
//! ```ignore
//! const LLM_CONFIGS: Collection = Collection::new("/ai/api/v1/config/llm", "llm_configs", "llm_config");
//! let router = routes::<StoredLlmConfig>(&LLM_CONFIGS);
//! let doc = openapi::<StoredLlmConfig>(&LLM_CONFIGS);
//! ```
//!
//! What every operation may answer besides (401, 400, 404, 412, 413, 415, 500, 503) is added to
//! the document in one place ([`super::openapi::complete`]); a collection lists only its own
//! extra answers and notes.

use axum::{
    Json, Router,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, PartialSchema, ToSchema, openapi::OpenApi};

use super::{ApiError, ApiJson, Caller, IfMatch, ListParams, Page, Problem, etag};
use crate::{
    AppState,
    model::resource::{self, Resource, Versioned},
};

/// An operation of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST {path}`.
    Create,
    /// `GET {path}`.
    List,
    /// `GET {path}/{id}`.
    Get,
    /// `PATCH {path}/{id}`.
    Patch,
    /// `DELETE {path}/{id}`.
    Delete,
}

/// How a resource is served: where, under which OpenAPI tag and operation ids, and what its
/// operations answer beyond the shared plumbing.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// Path of the collection, e.g. `/ai/api/v1/config/llm`.
    pub path: &'static str,
    /// OpenAPI tag of its operations.
    pub tag: &'static str,
    /// Operation id stem of one record (`llm_config`: `create_llm_config`, `get_llm_config`…).
    pub one: &'static str,
    /// Operation id stem of the list (`llm_configs`: `list_llm_configs`).
    pub many: &'static str,
    /// Its own answers: (operation, status, description); a `429` gets a `Retry-After` header.
    pub answers: &'static [(Op, u16, &'static str)],
    /// Summaries that replace the generic ones.
    pub notes: &'static [(Op, &'static str)],
}

impl Collection {
    /// A collection at `path` tagged `tag`, whose records are `one` (the list: `{one}s`).
    pub const fn new(path: &'static str, tag: &'static str, one: &'static str) -> Self {
        Self {
            path,
            tag,
            one,
            many: tag,
            answers: &[],
            notes: &[],
        }
    }

    /// The same with its own answers.
    pub const fn answers(self, answers: &'static [(Op, u16, &'static str)]) -> Self {
        Self { answers, ..self }
    }

    /// The same with its own summaries.
    pub const fn notes(self, notes: &'static [(Op, &'static str)]) -> Self {
        Self { notes, ..self }
    }
}

/// The routes of `R` under `collection`.
pub fn routes<R: Resource>(collection: &Collection) -> Router<AppState> {
    Router::new()
        .route(collection.path, post(create::<R>).get(list::<R>))
        .route(
            &format!("{}/{{id}}", collection.path),
            get(read::<R>).patch(patch::<R>).delete(delete::<R>),
        )
}

fn with_etag<V: serde::Serialize + Versioned>(status: StatusCode, view: &V) -> Response {
    (status, [(header::ETAG, etag(view.version()))], Json(view)).into_response()
}

async fn create<R: Resource>(
    Caller { state, principal }: Caller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let view = resource::create::<R>(&state, &principal, body).await?;
    tracing::info!(tenant = %principal.tenant_id, id = %view.id(), "{} created", R::WHAT);
    Ok(with_etag(StatusCode::CREATED, &view))
}

async fn list<R: Resource>(
    Caller { state, principal }: Caller,
    params: ListParams,
) -> Result<Json<Page<R::View>>, ApiError> {
    Ok(Json(
        resource::list::<R>(&state, &principal, &params).await?,
    ))
}

async fn read<R: Resource>(caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let view = resource::get::<R>(&caller.state, &caller.principal, &id).await?;
    Ok(with_etag(StatusCode::OK, &view))
}

async fn patch<R: Resource>(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let view = resource::patch::<R>(&state, &principal, &id, patch, version).await?;
    let version = view.version();
    tracing::info!(tenant = %principal.tenant_id, %id, version, "{} updated", R::WHAT);
    Ok(with_etag(StatusCode::OK, &view))
}

async fn delete<R: Resource>(
    Caller { state, principal }: Caller,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
) -> Result<StatusCode, ApiError> {
    resource::delete::<R>(&state, &principal, &id, version).await?;
    tracing::info!(tenant = %principal.tenant_id, %id, "{} deleted", R::WHAT);
    Ok(StatusCode::NO_CONTENT)
}

/// The component name of a page of `R`'s views (`Page` alone would name every resource's page).
fn page_name<R: Resource>() -> String {
    format!("Page_{}", R::View::name())
}

/// The OpenAPI description of `R`'s routes under `collection`, with the schemas they name.
pub fn openapi<R: Resource>(collection: &Collection) -> OpenApi {
    let mut schemas = vec![
        (R::Input::name().into_owned(), R::Input::schema()),
        (R::View::name().into_owned(), R::View::schema()),
        (page_name::<R>(), Page::<R::View>::schema()),
        (Problem::name().into_owned(), Problem::schema()),
    ];
    R::Input::schemas(&mut schemas);
    R::View::schemas(&mut schemas);
    Problem::schemas(&mut schemas);
    let schema_ref = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let body =
        |name: &str| json!({ "content": { "application/json": { "schema": schema_ref(name) } } });
    let c = collection;
    let what = R::WHAT;
    let view = R::View::name();
    let id = json!({"name": "id", "in": "path", "required": true,
        "description": format!("The {what}'s id"), "schema": {"type": "string"}});
    let expected = json!({"name": "If-Match", "in": "header", "required": false,
        "description": "Expected version as an ETag, e.g. \"3\"", "schema": {"type": ["string", "null"]}});
    let list_query =
        serde_json::to_value(super::openapi::ListQuery::into_params(|| None)).unwrap_or_default();
    let operation = |op: Op, name: String, summary: String, mut responses: Map<String, Value>| {
        for (_, status, description) in c.answers.iter().filter(|(at, ..)| *at == op) {
            let mut answer = body(&Problem::name());
            answer["description"] = Value::from(*description);
            if *status == 429 {
                answer["headers"] = json!({"Retry-After": {
                    "description": "Seconds until the limit allows it again",
                    "schema": {"type": "integer", "format": "int64", "minimum": 0}}});
            }
            responses.insert(status.to_string(), answer);
        }
        let summary = c
            .notes
            .iter()
            .find(|(at, _)| *at == op)
            .map_or(summary, |(_, note)| (*note).to_owned());
        json!({"tags": [c.tag], "operationId": name, "summary": summary, "responses": responses})
    };
    let answer = |description: &str, content: Option<&str>| {
        let mut answer = content.map_or_else(|| json!({}), body);
        answer["description"] = Value::from(description);
        answer
    };
    let responses = |pairs: Vec<(&str, Value)>| -> Map<String, Value> {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    };
    let mut create = operation(
        Op::Create,
        format!("create_{}", c.one),
        format!("Create a {what}."),
        responses(vec![("201", answer("Created", Some(&view)))]),
    );
    create["requestBody"] = body(&R::Input::name());
    create["requestBody"]["required"] = Value::Bool(true);
    let mut list = operation(
        Op::List,
        format!("list_{}", c.many),
        format!("List the tenant's {what}s, oldest first."),
        responses(vec![("200", answer("A page", Some(&page_name::<R>())))]),
    );
    list["parameters"] = list_query;
    let mut read = operation(
        Op::Get,
        format!("get_{}", c.one),
        format!("Get one {what}."),
        responses(vec![("200", answer("Found", Some(&view)))]),
    );
    read["parameters"] = json!([id]);
    let mut patch = operation(
        Op::Patch,
        format!("patch_{}", c.one),
        format!(
            "Update a {what} with a JSON merge patch (RFC 7396); `If-Match` makes it conditional."
        ),
        responses(vec![
            ("200", answer("Updated", Some(&view))),
            (
                "409",
                answer(
                    "Changed by many writers at once; retry",
                    Some(&Problem::name()),
                ),
            ),
        ]),
    );
    patch["parameters"] = json!([id, expected]);
    patch["requestBody"] = json!({"required": true, "content": {
        "application/merge-patch+json": {"schema": {"type": "object"}}}});
    let mut delete = operation(
        Op::Delete,
        format!("delete_{}", c.one),
        format!("Delete a {what}; 409 while {} use it.", R::REFERRERS),
        responses(vec![
            ("204", answer("Deleted", None)),
            ("409", answer("Still referenced", Some(&Problem::name()))),
        ]),
    );
    delete["parameters"] = json!([id, expected]);
    let doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "", "version": ""},
        "paths": {
            c.path: {"post": create, "get": list},
            format!("{}/{{id}}", c.path): {"get": read, "patch": patch, "delete": delete},
        },
        "components": {"schemas": schemas.into_iter().collect::<std::collections::BTreeMap<_, _>>()},
    });
    serde_json::from_value(doc).expect("the generated OpenAPI description is well-formed")
}
