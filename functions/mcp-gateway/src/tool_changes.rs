//! The standalone event stream of a session (`GET` with `Mcp-Session-Id`, 2025 revisions): it
//! carries `notifications/tools/list_changed` whenever what `tools/list` would answer changes —
//! a tool approved or withdrawn, a server or allowlist changed — so a session client lists again.
//! (Without a stream, the session's next tool call announces the change: see [`crate::sessions`].)
//!
//! Nothing pushes such a change to a running function, so the stream looks: every [`POLL`] it
//! reads the agent's catalogue (through the recent records, as a tool call does) and compares
//! its fingerprint with the last one. A comment line goes out at each look, which keeps API
//! Gateway's idle timeout away. The stream ends before the function must (its Lambda deadline,
//! less [`MARGIN`]; at most [`LONGEST`]), with `retry` telling the client when to open the next
//! one; a change made while no stream is open is announced by the next stream's first look,
//! which compares with the fingerprint the previous stream ended with, kept in the stream's
//! `Last-Event-ID` (the client sends it back when it reconnects).

use std::{
    hash::{Hash, Hasher},
    time::Duration,
};

use axum::response::{
    IntoResponse, Response,
    sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::{self, Stream};
use shared::{AppState, api::Principal, model::agent_tools};

/// How often a stream looks at the catalogue.
pub const POLL: Duration = Duration::from_secs(5);
/// Time left to the function's deadline when a stream ends.
pub const MARGIN: Duration = Duration::from_secs(3);
/// Longest one stream lasts (outside Lambda too).
pub const LONGEST: Duration = Duration::from_secs(300);
/// How long a client waits before it opens the next stream (the SSE `retry` field).
const RETRY: Duration = Duration::from_secs(1);

/// The fingerprint of a catalogue's tools: what `tools/list` answers, hashed.
pub fn fingerprint_of(tools: &[agent_tools::CatalogueTool]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    serde_json::to_string(tools)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// The fingerprint of what `tools/list` answers the caller for the agent, or `None` when the
/// catalogue cannot be read now (the look is skipped).
async fn fingerprint(state: &AppState, principal: &Principal, agent_id: &str) -> Option<u64> {
    let catalogue = agent_tools::catalogue(state, principal, agent_id, false)
        .await
        .ok()?;
    Some(fingerprint_of(&catalogue.tools))
}

/// Where one stream is.
struct Watch {
    state: AppState,
    principal: Principal,
    agent_id: String,
    /// The fingerprint last announced (or seen first).
    seen: Option<u64>,
    /// When the stream ends.
    until: tokio::time::Instant,
    /// Whether the first look is still to come.
    first: bool,
}

/// The stream of the caller's session with `agent_id`: it ends by `deadline` (the function's),
/// and `last_event_id` is the fingerprint the client's previous stream ended with.
pub fn stream(
    state: AppState,
    principal: Principal,
    agent_id: String,
    deadline: Option<tokio::time::Instant>,
    last_event_id: Option<&str>,
) -> Response {
    let now = tokio::time::Instant::now();
    let until = deadline
        .map(|d| d.checked_sub(MARGIN).unwrap_or(now))
        .unwrap_or(now + LONGEST)
        .min(now + LONGEST);
    let watch = Watch {
        state,
        principal,
        agent_id,
        seen: last_event_id.and_then(|id| u64::from_str_radix(id, 16).ok()),
        until,
        first: true,
    };
    Sse::new(events(watch))
        .keep_alive(KeepAlive::new().interval(POLL * 2))
        .into_response()
}

/// One event per look: a comment, or the change notification (its id the new fingerprint).
fn events(watch: Watch) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    stream::unfold(watch, |mut watch| async move {
        if !watch.first {
            let now = tokio::time::Instant::now();
            if now + POLL > watch.until {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
        let first = std::mem::take(&mut watch.first);
        let current = fingerprint(&watch.state, &watch.principal, &watch.agent_id).await;
        let event = match (watch.seen, current) {
            (Some(seen), Some(now)) if seen != now => {
                watch.seen = Some(now);
                Event::default()
                    .event("message")
                    .id(format!("{now:x}"))
                    .data(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#)
            }
            (None, Some(now)) => {
                watch.seen = Some(now);
                // The first look of a stream names where it starts, so a client that reconnects
                // hears of what changed in between.
                Event::default().id(format!("{now:x}")).comment("watching")
            }
            _ => Event::default().comment("watching"),
        };
        let event = if first { event.retry(RETRY) } else { event };
        Some((Ok(event), watch))
    })
}
