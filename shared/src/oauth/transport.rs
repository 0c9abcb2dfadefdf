//! The `oauth2` crate's HTTP client, implemented on the guarded client: no redirects, the caller's
//! deadline, a 1 MiB body cap. It remembers the status and `Retry-After` of the response so errors
//! can be classified, and presents a 200 response carrying an `error` member as a 400 so that it
//! is parsed as the OAuth error it is.

use std::{future::Future, pin::Pin, sync::Mutex, time::Duration};

use http::{HeaderValue, header};
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use tokio::time::Instant;
use url::Url;

use super::MAX_TOKEN_RESPONSE;
use crate::net::{HttpClient, NetError, OutboundRequest, SendOptions};

/// What the last response looked like.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Seen {
    /// Status as handed to `oauth2` (400 for a 200 carrying an OAuth error).
    pub status: u16,
    /// Status as received.
    pub original_status: u16,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
}

/// One token request's transport.
pub(super) struct Transport {
    http: HttpClient,
    deadline: Instant,
    seen: Mutex<Seen>,
}

impl Transport {
    pub(super) fn new(http: &HttpClient, timeout: Duration) -> Self {
        Self {
            http: http.clone(),
            deadline: Instant::now() + timeout,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub(super) fn seen(&self) -> Seen {
        self.seen.lock().map(|s| *s).unwrap_or_default()
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, NetError> {
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|_| NetError::Blocked("the token endpoint is not a valid URL".into()))?;
        let mut outbound = OutboundRequest::new(parts.method, url);
        outbound.headers = parts.headers;
        if let Some(value) = outbound.headers.get_mut(header::AUTHORIZATION) {
            value.set_sensitive(true);
        }
        outbound.body = Some(body.into());
        let options = SendOptions {
            follow_redirects: false,
            deadline: self.deadline,
        };
        let response = self.http.send(outbound, options).await?;
        let original_status = response.status.as_u16();
        let retry_after = response
            .headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let content_type = response.headers.get(header::CONTENT_TYPE).cloned();
        let body = response.bytes_limited(MAX_TOKEN_RESPONSE).await?.to_vec();
        let mut status = original_status;
        if status == 200 && carries_error(&body) {
            status = 400;
        }
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Seen {
                status,
                original_status,
                retry_after,
            };
        }
        let mut builder = http::Response::builder().status(status);
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        } else {
            builder = builder.header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        builder
            .body(body)
            .map_err(|_| NetError::Other("invalid token response".into()))
    }
}

/// Whether a JSON body has an `error` member (RFC 6749 §5.2).
fn carries_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .is_ok_and(|object| object.contains_key("error"))
}

impl<'c> AsyncHttpClient<'c> for Transport {
    type Error = NetError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, NetError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
