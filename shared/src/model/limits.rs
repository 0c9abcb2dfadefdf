//! Rate limits on the work that reaches other servers: connection tests (create, a re-testing
//! PATCH, `/test`), OAuth authorize and tool calls, per user per minute, plus a per-tenant cap on
//! connection tests under way. Their state is in the store — one conditional write per request
//! (a transaction of two counters for a test), in fixed windows that expire — so the limits hold
//! across Lambda instances. Over a limit: 429 with `Retry-After`; other users are unaffected.

use super::resource::Principal;
use crate::{AppState, Error, store::TxOp};

pub use crate::config::Limits;

/// A connection test takes at most this long, so a tenant has at most as many tests under way as
/// it may start within this many seconds.
const TEST_WINDOW_SECONDS: i64 = 25;
/// The per-user window.
const USER_WINDOW_SECONDS: i64 = 60;

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A connection test.
    ConnectionTest,
    /// The start of an OAuth authorization.
    Authorize,
    /// A tool call.
    ToolCall,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::ConnectionTest => "tests",
            Self::Authorize => "authorize",
            Self::ToolCall => "tool-calls",
        }
    }
}

fn counter(pk: String, action: &str, window: i64, seconds: i64, limit: u64) -> TxOp {
    let start = window * seconds;
    TxOp::Count {
        pk,
        sk: format!("{action}#{start}"),
        limit,
        // Kept a window beyond its end, then deleted by TTL.
        expires_at: start + 2 * seconds,
    }
}

/// Counts one `action` of `principal`; a 429 problem (with `Retry-After`) when over a limit.
pub async fn check(state: &AppState, principal: &Principal, action: Action) -> Result<(), Error> {
    let limits = state.limits;
    let now = state.clock.epoch_seconds();
    let per_user = match action {
        Action::ConnectionTest => limits.tests_per_minute,
        Action::Authorize => limits.authorize_per_minute,
        Action::ToolCall => limits.tool_calls_per_minute,
    };
    let user_window = now.div_euclid(USER_WINDOW_SECONDS);
    let mut ops = vec![counter(
        format!("LIMIT#{}#{}", principal.tenant_id, principal.user_id),
        action.name(),
        user_window,
        USER_WINDOW_SECONDS,
        per_user,
    )];
    let test_window = now.div_euclid(TEST_WINDOW_SECONDS);
    if action == Action::ConnectionTest {
        ops.push(counter(
            format!("LIMIT#{}", principal.tenant_id),
            "tests",
            test_window,
            TEST_WINDOW_SECONDS,
            limits.tenant_concurrent_tests,
        ));
    }
    match state.store.transact(ops).await {
        Ok(()) => Ok(()),
        Err(crate::store::StoreError::ConditionFailed { index }) => {
            let (seconds, window, detail) = if index == 0 {
                (
                    USER_WINDOW_SECONDS,
                    user_window,
                    format!("You may do this {per_user} times a minute."),
                )
            } else {
                (
                    TEST_WINDOW_SECONDS,
                    test_window,
                    format!(
                        "Your organisation may run {} connection tests at once.",
                        limits.tenant_concurrent_tests
                    ),
                )
            };
            let retry_after = u64::try_from((window + 1) * seconds - now)
                .unwrap_or(1)
                .max(1);
            Err(Error::RateLimited {
                retry_after,
                detail,
            })
        }
        Err(e) => Err(e.into()),
    }
}
