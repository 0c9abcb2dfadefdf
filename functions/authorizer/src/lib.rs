//! The API Gateway REQUEST authorizer: resolves `Cookie: sessionid=…` or `Authorization: Bearer
//! <api token>` to `{tenant_id, user_id, role}`, which API Gateway passes to every function in the
//! request context (where [`shared::api::access`] reads the role). The local stack runs
//! [`authenticate`] as middleware instead.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use http::HeaderMap;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use shared::{api::Principal, session, store::Store};

/// The answer API Gateway expects from a Lambda authorizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    /// Principal id (the user).
    pub principal_id: String,
    /// IAM policy allowing the API.
    pub policy_document: PolicyDocument,
    /// Context handed to the functions (`requestContext.authorizer`).
    pub context: BTreeMap<String, String>,
}

/// An IAM policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Policy language version.
    pub version: String,
    /// Statements.
    pub statement: Vec<Statement>,
}

/// One IAM policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// `execute-api:Invoke`.
    pub action: String,
    /// `Allow`.
    pub effect: String,
    /// The API's methods.
    pub resource: String,
}

/// The principal behind the request's credential, or `None` if there is none or it is unknown or
/// expired.
pub async fn authenticate(
    store: &dyn Store,
    headers: &HeaderMap,
) -> Result<Option<Principal>, shared::Error> {
    match session::credential_from_headers(headers) {
        Some(credential) => session::authenticate(store, &credential).await,
        None => Ok(None),
    }
}

/// `arn:aws:execute-api:region:account:api/stage/METHOD/path` → the same API and stage, any method
/// and path, so one decision covers the caller's whole session.
fn api_wide_resource(method_arn: &str) -> String {
    let mut parts = method_arn.splitn(2, '/');
    let api = parts.next().unwrap_or(method_arn);
    match parts.next().and_then(|rest| rest.split('/').next()) {
        Some(stage) => format!("{api}/{stage}/*/*"),
        None => method_arn.to_owned(),
    }
}

/// Handles one authorizer invocation. An unknown credential is answered with the error
/// `Unauthorized`, which API Gateway turns into a 401.
pub async fn handle(
    store: &dyn Store,
    event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>,
) -> Result<AuthorizerResponse, Error> {
    let request = event.payload;
    let Some(principal) = authenticate(store, &request.headers).await? else {
        tracing::warn!("request without a valid credential");
        return Err("Unauthorized".into());
    };
    let resource = api_wide_resource(request.method_arn.as_deref().unwrap_or("*"));
    tracing::info!(tenant = %principal.tenant_id, user = %principal.user_id, role = %principal.role, "authorized");
    Ok(AuthorizerResponse {
        principal_id: principal.user_id.clone(),
        policy_document: PolicyDocument {
            version: "2012-10-17".into(),
            statement: vec![Statement {
                action: "execute-api:Invoke".into(),
                effect: "Allow".into(),
                resource,
            }],
        },
        context: BTreeMap::from([
            ("tenant_id".to_owned(), principal.tenant_id),
            ("user_id".to_owned(), principal.user_id),
            ("role".to_owned(), principal.role.as_str().to_owned()),
        ]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_covers_the_whole_api_stage() {
        assert_eq!(
            api_wide_resource(
                "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/ai/api/v1/auth_configs"
            ),
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"
        );
    }
}
