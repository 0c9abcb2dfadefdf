//! What the OpenAPI document says about the shared HTTP plumbing, added to every operation in one
//! place instead of being repeated in each handler's annotation: the errors the extractors and
//! the authorizer answer (as `application/problem+json`), closed request schemas (every input type
//! refuses unknown fields), merge-patch bodies derived from their create bodies, links from each
//! create to the operations on what it created, and the list query parameters. The rules of the
//! request bodies that the derives leave out are [`rules`].

use serde_json::{Map, Value, json};
use utoipa::IntoParams;

pub mod rules;

/// The query of every list endpoint, for the OpenAPI document ([`super::ListParams`] parses it).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_token` of the previous page (opaque; base64url without padding).
    #[param(
        pattern = r"^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$",
        max_length = 2048
    )]
    pub next_token: Option<String>,
}

const PROBLEM: &str = "#/components/schemas/Problem";
const PROBLEM_JSON: &str = "application/problem+json";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM_JSON: { "schema": { "$ref": PROBLEM } } }
    })
}

/// Completes a generated document: see the module documentation.
pub fn complete(doc: &mut Value) {
    let mut closed = Vec::new();
    let mut patch_bodies = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let creates: Map<String, Value> = paths
            .iter()
            .filter_map(|(path, item)| {
                let schema = item.pointer("/post/requestBody/content/application~1json/schema")?;
                Some((path.clone(), schema.clone()))
            })
            .collect();
        let links = links_from_creates(paths);
        for (path, item) in paths.iter_mut() {
            if let Some(links) = links.get(path) {
                if let Some(created) = item.pointer_mut("/post/responses/201") {
                    created["links"] = links.clone();
                }
            }
            for method in METHODS {
                let Some(operation) = item.get_mut(method) else {
                    continue;
                };
                complete_operation(operation);
                apply_rule(path, method, operation);
                for (_, content) in operation
                    .pointer_mut("/requestBody/content")
                    .and_then(Value::as_object_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(reference) = content.pointer("/schema/$ref").and_then(Value::as_str)
                    {
                        closed.push(reference.to_owned());
                    }
                }
                // A merge patch of `/x/{id}` edits what `POST /x` creates.
                if method == "patch" {
                    let collection = path.rsplit_once('/').map(|(c, _)| c).unwrap_or_default();
                    if let Some(reference) = creates
                        .get(collection)
                        .and_then(|s| s.get("$ref"))
                        .and_then(Value::as_str)
                    {
                        let name = format!("{}Patch", schema_name(reference));
                        patch_bodies.push((reference.to_owned(), name.clone()));
                        let target = json!({ "$ref": format!("#/components/schemas/{name}") });
                        if let Some(contents) = operation
                            .pointer_mut("/requestBody/content")
                            .and_then(Value::as_object_mut)
                        {
                            for content in contents.values_mut() {
                                content["schema"] = target.clone();
                            }
                        }
                    }
                }
            }
        }
    }
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    rules::fields(schemas);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(reference) = closed.pop() {
        let name = schema_name(&reference).to_owned();
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get_mut(&name) {
            close(schema, &mut closed);
        }
    }
    for (create, name) in patch_bodies {
        if let Some(schema) = schemas.get(schema_name(&create)) {
            let patch = merge_patch_schema(schema);
            schemas.insert(name, patch);
        }
    }
    rules::between_fields(schemas);
}

/// For each collection with a create (`POST /x` answering 201 with the record), a link to every
/// operation on `/x/{param}…`, filling `param` from the created record's `id`: clients and
/// stateful testers can follow a create to what it made.
fn links_from_creates(paths: &Map<String, Value>) -> Map<String, Value> {
    let mut all = Map::new();
    for (collection, item) in paths {
        if item.pointer("/post/responses/201").is_none() {
            continue;
        }
        let prefix = format!("{collection}/{{");
        let mut links = Map::new();
        for (path, item) in paths {
            let Some(rest) = path.strip_prefix(&prefix) else {
                continue;
            };
            let Some((param, _)) = rest.split_once('}') else {
                continue;
            };
            for method in METHODS {
                let Some(id) = item
                    .pointer(&format!("/{method}/operationId"))
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                links.insert(
                    id.to_owned(),
                    json!({"operationId": id, "parameters": { param: "$response.body#/id" }}),
                );
            }
        }
        if !links.is_empty() {
            all.insert(collection.clone(), Value::Object(links));
        }
    }
    all
}

fn schema_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// Every object schema with declared properties that a request body reaches refuses others
/// (the input types are `deny_unknown_fields`); free-form objects stay open.
fn close(schema: &mut Value, refs: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                refs.push(reference.clone());
            }
            if object.contains_key("properties") && !object.contains_key("additionalProperties") {
                object.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in object.iter_mut() {
                if key != "additionalProperties" || value.is_object() {
                    close(value, refs);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| close(v, refs)),
        _ => {}
    }
}

/// A JSON merge patch (RFC 7396) of a create body: every field optional, `null` removes it.
fn merge_patch_schema(create: &Value) -> Value {
    let mut patch = create.clone();
    if let Some(object) = patch.as_object_mut() {
        object.remove("required");
        object.insert(
            "description".into(),
            Value::from("A JSON merge patch (RFC 7396): the fields to change; `null` removes one."),
        );
        if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
            for property in properties.values_mut() {
                *property = nullable(property.take());
            }
        }
    }
    patch
}

fn nullable(schema: Value) -> Value {
    match schema.get("type") {
        Some(Value::String(t)) if t == "null" => schema,
        Some(Value::Array(types)) if types.iter().any(|t| t == "null") => schema,
        _ => match &schema {
            Value::Object(o)
                if o.get("oneOf").is_some_and(|v| {
                    v.as_array()
                        .is_some_and(|alts| alts.iter().any(|a| a["type"] == "null"))
                }) =>
            {
                schema
            }
            _ => json!({ "oneOf": [{ "type": "null" }, schema] }),
        },
    }
}

/// Says who may call the operation, from the role table ([`super::access::RULES`]):
/// `x-required-role` (`public`, `member` or `admin`), a sentence in the description, and the 403
/// an admin-only operation answers a member. An operation the table does not know is marked
/// `admin`, as the check treats it.
fn apply_rule(path: &str, method: &str, operation: &mut Value) {
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .unwrap_or(http::Method::GET);
    let rule = super::access::rule_for(&method, path);
    let need = super::access::need(&method, path);
    operation["x-required-role"] = Value::from(need.as_str());
    let who = match need {
        super::access::Need::Public => "No credential needed.".to_owned(),
        super::access::Need::Role(role) => format!("Requires the `{role}` role."),
    };
    let note = rule.map(|r| r.note).filter(|n| !n.is_empty());
    let sentence = match note {
        Some(note) => format!("{who} {note}"),
        None => who,
    };
    let description = match operation.get("description").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => format!("{text}\n\n{sentence}"),
        _ => sentence,
    };
    operation["description"] = Value::from(description);
    if need == super::access::Need::Role(crate::model::resource::Role::Admin) {
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            responses.entry("403").or_insert_with(|| {
                problem("The caller's role is not `admin`; nothing was changed")
            });
        }
    }
}

/// Adds the answers of the shared plumbing to one operation and marks every problem response
/// as `application/problem+json`.
fn complete_operation(operation: &mut Value) {
    let public = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(Map::is_empty)));
    let parameters: Vec<(String, String)> = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["in"].as_str()?.to_owned(), p["name"].as_str()?.to_owned())))
        .collect();
    let has_body = operation.get("requestBody").is_some();
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_problem = content
            .get("application/json")
            .and_then(|c| c.pointer("/schema/$ref"))
            .is_some_and(|r| r == PROBLEM);
        if is_problem {
            if let Some(json) = content.remove("application/json") {
                content.insert(PROBLEM_JSON.into(), json);
            }
        }
    }
    if public {
        return;
    }
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem(description));
    };
    add("401", "No valid session or API token");
    add(
        "500",
        "An unexpected error; nothing was changed (generic body)",
    );
    add(
        "503",
        "A dependency (store, KMS, Secrets Manager) is unavailable; nothing was changed",
    );
    if has_body {
        add("400", "Invalid input; `errors` name the fields");
        add("413", "The body exceeds 512 KiB");
        add("415", "The body is not JSON");
    }
    if parameters.iter().any(|(at, _)| at == "query") {
        add(
            "400",
            "An invalid, unknown or repeated query parameter; `errors` name it",
        );
    }
    if parameters.iter().any(|(at, _)| at == "path") {
        add("404", "No such resource in this tenant");
    }
    if parameters
        .iter()
        .any(|(at, name)| at == "header" && name.eq_ignore_ascii_case("If-Match"))
    {
        add(
            "412",
            "If-Match names a version that is not the current one",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_get_their_media_type_and_shared_answers_are_added() {
        let mut doc = json!({
            "paths": {
                "/x": {
                    "post": {
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/XInput"}}}},
                        "responses": {"201": {"description": "created"},
                                      "422": {"description": "no", "content": {"application/json": {"schema": {"$ref": PROBLEM}}}}}
                    }
                },
                "/x/{id}": {
                    "patch": {
                        "operationId": "patch_x",
                        "parameters": [{"in": "path", "name": "id"}, {"in": "header", "name": "If-Match"}],
                        "requestBody": {"content": {"application/merge-patch+json": {"schema": {"type": "object"}}}},
                        "responses": {"200": {"description": "ok"}}
                    }
                },
                "/open": {"get": {"security": [{}], "responses": {"200": {"description": "ok"}}}}
            },
            "components": {"schemas": {
                "XInput": {"type": "object", "required": ["name"],
                           "properties": {"name": {"type": "string"}, "free": {"type": "object"}}}
            }}
        });
        complete(&mut doc);
        let post = &doc["paths"]["/x"]["post"]["responses"];
        assert!(post["422"]["content"][PROBLEM_JSON].is_object());
        assert!(post["422"]["content"].get("application/json").is_none());
        for status in ["400", "401", "413", "415", "500", "503"] {
            assert!(
                post[status]["content"][PROBLEM_JSON].is_object(),
                "{status}"
            );
        }
        assert_eq!(
            post["201"]["links"]["patch_x"],
            json!({"operationId": "patch_x", "parameters": {"id": "$response.body#/id"}})
        );
        let patch = &doc["paths"]["/x/{id}"]["patch"];
        for status in ["404", "412"] {
            assert!(patch["responses"][status].is_object(), "{status}");
        }
        assert_eq!(
            patch["requestBody"]["content"]["application/merge-patch+json"]["schema"]["$ref"],
            "#/components/schemas/XInputPatch"
        );
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["XInput"]["additionalProperties"], false);
        assert!(
            schemas["XInput"]["properties"]["free"]
                .get("additionalProperties")
                .is_none()
        );
        assert!(schemas["XInputPatch"].get("required").is_none());
        assert_eq!(schemas["XInputPatch"]["additionalProperties"], false);
        assert_eq!(
            schemas["XInputPatch"]["properties"]["name"]["oneOf"][0]["type"],
            "null"
        );
        // Not in the role table: marked as the check treats it (admin only, 403 for others).
        let open = &doc["paths"]["/open"]["get"];
        assert_eq!(open["x-required-role"], "admin");
        assert_eq!(
            open["responses"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["200", "403"]
        );
        assert_eq!(patch["x-required-role"], "admin");
        assert!(patch["responses"]["403"]["content"][PROBLEM_JSON].is_object());
    }

    #[test]
    fn operations_say_which_role_they_need() {
        let mut doc = json!({"paths": {
            "/ai/api/v1/auth_configs": {
                "get": {"description": "List.", "responses": {"200": {"description": "ok"}}},
                "post": {"responses": {"201": {"description": "created"}}}
            },
            "/ai/api/v1/openapi.json": {"get": {"security": [{}], "responses": {"200": {"description": "ok"}}}}
        }});
        complete(&mut doc);
        let list = &doc["paths"]["/ai/api/v1/auth_configs"]["get"];
        assert_eq!(list["x-required-role"], "member");
        assert_eq!(list["description"], "List.\n\nRequires the `member` role.");
        assert!(list["responses"].get("403").is_none());
        let create = &doc["paths"]["/ai/api/v1/auth_configs"]["post"];
        assert_eq!(create["x-required-role"], "admin");
        assert!(create["responses"]["403"].is_object());
        assert_eq!(
            doc["paths"]["/ai/api/v1/openapi.json"]["get"]["x-required-role"],
            "public"
        );
    }
}
