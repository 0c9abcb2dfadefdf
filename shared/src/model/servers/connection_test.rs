//! Talking to an MCP server with an auth config's credentials: a connection test (initialize and
//! tools/list, within the synchronous cap), and the credential loop every request to a server
//! shares — a request whose OAuth token the server refuses (401/403) is tried once more with a
//! replaced token. Sessions are closed beside the caller's own work, adding no latency.

use std::time::Duration;

pub use crate::model::refusals::Refusal;
use crate::model::{
    auth_record::{CredentialError, StoredAuthConfig},
    credentials::{Credentials, credential_headers},
    refusals,
    resource::Principal,
    token::TokenOwner,
};
use crate::{
    AppState,
    mcp::{self, Category, ConnectionTestResult, McpTarget, Reauthorization, Stage, Transport},
};

/// A failed result for a failure before the server was contacted.
fn failed_before_contact(
    stage: Stage,
    category: Category,
    message: String,
) -> ConnectionTestResult {
    ConnectionTestResult::failed(stage, category, message, Transport::StreamableHttp, 0)
}

/// Runs a connection test of `url` with the credentials of `auth` (if any) as `principal` uses
/// them (their own token, for a `per_user` config).
pub async fn run_test(
    state: &AppState,
    principal: &Principal,
    url: &str,
    timeout_seconds: u64,
    auth: Option<&StoredAuthConfig>,
) -> ConnectionTestResult {
    let (result, closer) = run_test_then_close(state, principal, url, timeout_seconds, auth).await;
    if let Some(closer) = closer {
        closer.close().await;
    }
    result
}

/// Like [`run_test`], handing back the session's closing step to run beside the store write.
pub async fn run_test_then_close(
    state: &AppState,
    principal: &Principal,
    url: &str,
    timeout_seconds: u64,
    auth: Option<&StoredAuthConfig>,
) -> (ConnectionTestResult, Option<mcp::SessionCloser>) {
    let timeout = Duration::from_secs(timeout_seconds).min(mcp::MAX_SYNC_TEST);
    let Ok(url) = url::Url::parse(url) else {
        let result = failed_before_contact(
            Stage::Resolve,
            Category::Blocked,
            "The URL is not valid.".into(),
        );
        return (result, None);
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let outcome = with_credentials(
        state,
        principal,
        auth,
        &url,
        deadline,
        |target: McpTarget| async move {
            let (result, closer) = mcp::test_connection_then_close(&state.http, &target).await;
            let refusal = (result.category == Some(Category::Unauthorized)).then(|| Refusal {
                status: result.http_status.unwrap_or(401),
                challenge: result.challenge.clone(),
            });
            (result, refusal, closer)
        },
    )
    .await;
    match outcome {
        Ok((mut result, closer, remedy)) => {
            if let Some(remedy) = remedy {
                result.message = format!("{} {}", result.message, remedy.action);
                result.reauthorization = Some(remedy);
            }
            (result, Some(closer))
        }
        Err(e) => {
            let mut result = credential_failure(&e);
            if let (CredentialError::AuthorizationServerChanged(issuer), Some(config)) = (&e, auth)
            {
                result.reauthorization = Some(refusals::moved(config, issuer.clone()));
            }
            if let Some(remedy) = refusals::missing_own_token(&e, auth) {
                result.message = format!("{} {}", result.message, remedy.action);
                result.reauthorization = Some(remedy);
            }
            (result, None)
        }
    }
}

/// Runs `op` against `url` with the auth config's credentials until `deadline`. When `op` says
/// the server refused an OAuth token (401/403), the refusal is judged ([`refusals::judge`]):
/// when only a user can remedy it, that remedy is handed back with `op`'s outcome; otherwise the
/// token is replaced (refreshed, or fetched again) and `op` runs once more, its first session
/// closed in the background.
pub async fn with_credentials<T, F, Fut>(
    state: &AppState,
    principal: &Principal,
    auth: Option<&StoredAuthConfig>,
    url: &url::Url,
    deadline: tokio::time::Instant,
    mut op: F,
) -> Result<(T, mcp::SessionCloser, Option<Reauthorization>), CredentialError>
where
    F: FnMut(McpTarget) -> Fut,
    Fut: std::future::Future<Output = (T, Option<Refusal>, mcp::SessionCloser)>,
{
    let mut rejected = None;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let credentials = match auth {
            None => Credentials::default(),
            Some(config) => {
                credential_headers(
                    state,
                    &principal.tenant_id,
                    &principal.user_id,
                    config,
                    url,
                    rejected,
                    remaining,
                )
                .await?
            }
        };
        let target = McpTarget {
            url: url.clone(),
            headers: credentials.headers,
            timeout: remaining,
        };
        let (value, refusal, closer) = op(target).await;
        let (Some(refusal), Some(obtained_at), Some(config)) =
            (refusal, credentials.token_obtained_at, auth)
        else {
            return Ok((value, closer, None));
        };
        let owner = TokenOwner::of(config, &principal.user_id);
        if let Some(remedy) = refusals::judge(
            state,
            &principal.tenant_id,
            &owner,
            url,
            &refusal,
            obtained_at,
            deadline,
        )
        .await
        {
            return Ok((value, closer, Some(remedy)));
        }
        if rejected.is_none() {
            rejected = Some(obtained_at);
            beside(Some(closer), async {}).await;
            continue;
        }
        return Ok((value, closer, None));
    }
}

/// The connection test result when credentials could not be obtained.
fn credential_failure(e: &CredentialError) -> ConnectionTestResult {
    let category = match e {
        CredentialError::Token(crate::oauth::TokenError::Net(net)) => match net {
            crate::net::NetError::Blocked(_) => Category::Blocked,
            crate::net::NetError::Timeout => Category::Timeout,
            crate::net::NetError::Dns(_) => Category::Dns,
            _ => Category::Connect,
        },
        CredentialError::Internal(_) => Category::Protocol,
        _ => Category::Unauthorized,
    };
    let message = format!("Credentials could not be obtained: {e}.");
    failed_before_contact(Stage::Auth, category, message)
}

/// Does `work`, and ends the tested session without making the caller wait for it: the DELETE is
/// a courtesy to the server (bounded, outcome irrelevant), so it runs in the background. On Lambda
/// a background task may be paused between invocations; it then finishes on the next one.
pub async fn beside<T>(
    closer: Option<mcp::SessionCloser>,
    work: impl std::future::Future<Output = T>,
) -> T {
    if let Some(closer) = closer {
        tokio::spawn(closer.close());
    }
    work.await
}
