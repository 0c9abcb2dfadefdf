//! A minimal Server-Sent Events reader over a response body, with a per-event size cap: enough for
//! MCP, which uses `event:` and `data:` lines only. Its work is linear in the bytes received (each
//! byte is scanned once and consumed events are dropped in bulk, not shifted out one by one), and
//! it yields to the scheduler between events, so a deadline around it holds even while one large
//! chunk of tiny events is being taken apart.

use crate::net::{NetError, OutboundResponse};

/// Longest event id kept (a longer one is ignored).
const MAX_EVENT_ID: usize = 256;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `message` when absent.
    pub name: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// Reads events from a streaming response.
#[derive(Debug)]
pub struct EventReader {
    response: OutboundResponse,
    buffer: Vec<u8>,
    /// Where the unconsumed part of `buffer` starts.
    start: usize,
    /// How much of `buffer` (from the start) is known to hold no event terminator.
    scanned: usize,
    max_event: usize,
    /// The last `id:` seen (the stream's last event id, for resuming it).
    last_event_id: Option<String>,
    /// The last valid `retry:` seen, in milliseconds.
    retry_ms: Option<u64>,
}

impl EventReader {
    /// Reads `response`, failing with [`NetError::TooLarge`] on an event over `max_event` bytes.
    pub fn new(response: OutboundResponse, max_event: usize) -> Self {
        Self {
            response,
            buffer: Vec::new(),
            start: 0,
            scanned: 0,
            max_event,
            last_event_id: None,
            retry_ms: None,
        }
    }

    /// A reader of `response` continuing a stream that had reached `last_event_id` with a
    /// reconnection time of `retry_ms` (what the resumed stream does not say again is kept).
    pub fn resumed(
        response: OutboundResponse,
        max_event: usize,
        last_event_id: Option<String>,
        retry_ms: Option<u64>,
    ) -> Self {
        Self {
            last_event_id,
            retry_ms,
            ..Self::new(response, max_event)
        }
    }

    /// The stream's last event id (the `id:` field last seen; an empty one resets it).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The reconnection time the server asked for (`retry:`), in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// The next event, or `None` when the stream ends.
    pub async fn next(&mut self) -> Result<Option<Event>, NetError> {
        loop {
            // Cooperative: many events may come out of one chunk without any I/O in between.
            tokio::task::consume_budget().await;
            if let Some(event) = self.take_event() {
                match event {
                    Some(event) => return Ok(Some(event)),
                    None => continue, // a comment or an empty event
                }
            }
            if self.buffer.len() - self.start > self.max_event {
                return Err(NetError::TooLarge(self.max_event));
            }
            // Drop what was consumed before growing the buffer: one move per chunk read.
            self.buffer.drain(..self.start);
            self.scanned -= self.start.min(self.scanned);
            self.start = 0;
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }

    /// Reads the rest of the stream (at most `max_bytes`, for at most `budget`) so the connection can
    /// be reused; a stream that does not end by then is simply dropped.
    pub async fn drain(mut self, budget: std::time::Duration, max_bytes: usize) {
        let mut read = 0;
        let _ = tokio::time::timeout(budget, async {
            while let Ok(Some(chunk)) = self.response.chunk().await {
                read += chunk.len();
                if read > max_bytes {
                    break;
                }
            }
        })
        .await;
    }

    /// Splits one complete event off the buffer: `Some(Some(event))`, `Some(None)` for a block
    /// without data, `None` if no complete block is buffered yet.
    fn take_event(&mut self) -> Option<Option<Event>> {
        // A terminator may straddle the previous scan's end: back up by its longest length − 1.
        let from = self.scanned.saturating_sub(3).max(self.start);
        let Some((end, len)) = find_block_end(&self.buffer[from..]) else {
            self.scanned = self.buffer.len();
            return None;
        };
        let block = &self.buffer[self.start..from + end];
        self.start = from + end + len;
        self.scanned = self.start;
        let text = String::from_utf8_lossy(block);
        let mut name = String::from("message");
        let mut data: Vec<&str> = Vec::new();
        for line in text.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => name = value.to_owned(),
                "data" => data.push(value),
                // As the SSE specification says: an id with NUL is ignored, an empty one resets.
                "id" if !value.contains('\0') && value.len() <= MAX_EVENT_ID => {
                    self.last_event_id = (!value.is_empty()).then(|| value.to_owned());
                }
                "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    self.retry_ms = value.parse().ok();
                }
                _ => {}
            }
        }
        Some((!data.is_empty()).then(|| Event {
            name,
            data: data.join("\n"),
        }))
    }
}

/// Position of the end of the first event block and the length of its blank-line terminator.
fn find_block_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buffer.len() {
        if buffer[i] == b'\n' && buffer[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buffer[i..].starts_with(b"\r\n\r\n") {
            return Some((i, 4));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_block_end;

    #[test]
    fn block_ends_are_found_for_both_line_endings() {
        assert_eq!(find_block_end(b"data: x\n\nrest"), Some((7, 2)));
        assert_eq!(find_block_end(b"data: x\r\n\r\n"), Some((7, 4)));
        assert_eq!(find_block_end(b"data: x\n"), None);
    }
}
