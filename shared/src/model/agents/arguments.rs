//! A tool call's arguments before they are decided and sent: optional parameters given as
//! `null` are not given, and the rest is checked against the tool's input schema (errors name
//! the path, never the value).

use serde_json::{Value, value::RawValue};

use crate::{Error, error::FieldError};

/// Most argument errors reported at once.
const MAX_ARGUMENT_ERRORS: usize = 10;

/// Treats an optional parameter given as `null` as not given (agents often write `null` for "no
/// value"; the schema may not allow it, and no header is mirrored for it): such members are
/// removed. Required parameters are left for the schema check.
pub fn drop_null_optionals(schema: &RawValue, arguments: &mut Value) {
    #[derive(serde::Deserialize)]
    struct Required {
        #[serde(default)]
        required: Vec<String>,
    }
    let required = serde_json::from_str::<Required>(schema.get())
        .map(|r| r.required)
        .unwrap_or_default();
    if let Some(members) = arguments.as_object_mut() {
        members.retain(|name, value| !value.is_null() || required.contains(name));
    }
}

/// Checks `arguments` against a tool's input schema: field errors at `arguments/<path>` that
/// never quote the value. A schema the validator cannot compile is left to the server.
pub fn check(schema: &RawValue, arguments: &Value) -> Result<(), Error> {
    if !arguments.is_object() {
        return Err(Error::field("arguments", "must be a JSON object"));
    }
    let schema: Value = serde_json::from_str(schema.get())
        .map_err(|e| Error::Internal(format!("stored input schema: {e}")))?;
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(e) => {
            tracing::warn!(error = %e, "a tool's input schema does not compile; arguments not checked");
            return Ok(());
        }
    };
    let errors: Vec<FieldError> = validator
        .iter_errors(arguments)
        .take(MAX_ARGUMENT_ERRORS)
        .map(|e| {
            FieldError::new(
                format!("arguments{}", e.instance_path()),
                e.masked().to_string(),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn optional_parameters_given_as_null_are_not_given() {
        let schema = serde_json::value::to_raw_value(
            &json!({"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "string"}}, "required": ["b"]}),
        )
        .unwrap();
        let mut arguments = json!({"a": null, "b": null, "c": 1});
        drop_null_optionals(&schema, &mut arguments);
        assert_eq!(arguments, json!({"b": null, "c": 1}));
    }

    #[test]
    fn arguments_are_checked_against_the_schema_without_quoting_them() {
        let schema = serde_json::value::to_raw_value(
            &json!({"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a", "b"]}),
        )
        .unwrap();
        let err = check(&schema, &json!({"a": "secret-text"})).unwrap_err();
        let Error::Validation(errors) = err else {
            panic!("validation error");
        };
        assert!(
            errors.iter().any(|e| e.field == "arguments/a"),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.field == "arguments"), "{errors:?}");
        assert!(errors.iter().all(|e| !e.message.contains("secret-text")));
        assert!(check(&schema, &json!([])).is_err());
        assert!(check(&schema, &json!({"a": 1, "b": 2})).is_ok());
    }
}
