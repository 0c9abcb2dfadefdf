//! The one guarded outbound HTTP client (DESIGN §5). Every request to a user- or server-supplied
//! URL goes through [`HttpClient`]: scheme allowlist, no user info, checks on the parsed host,
//! special-purpose addresses denied both for IP literals and inside the DNS resolver (so a name
//! that later rebinds to a private address is still refused at connect time), an explicit CIDR
//! allowlist to open ranges, no proxy from the environment, no `Referer`, redirects followed by
//! hand (≤ 5 hops, each re-checked, credentials dropped across origins), a connect timeout, an
//! overall deadline and response size caps. Each request is a client span, and carries the
//! W3C trace context, when traces are exported ([`crate::telemetry::otel`]).

mod ip;

pub use ip::is_public;

use std::{net::IpAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use ipnet::IpNet;
use tokio::time::Instant;
use tracing::Instrument;
use url::{Host, Url};

use crate::telemetry::otel;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// Connect timeout of every connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an outbound request failed, classified for diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The URL or an address it resolves to is not allowed (scheme, user info, private range...).
    #[error("blocked: {0}")]
    Blocked(String),
    /// The host name does not resolve.
    #[error("DNS lookup failed for {0}")]
    Dns(String),
    /// No TCP connection could be made.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The deadline passed.
    #[error("timed out")]
    Timeout,
    /// The response exceeds the size cap.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// Too many redirects, or a redirect without a usable `Location`.
    #[error("redirect error: {0}")]
    Redirect(String),
    /// Any other transport failure.
    #[error("request failed: {0}")]
    Other(String),
}

impl NetError {
    /// The kind of failure in one word (`blocked`, `dns`, `connect`, `tls`, `timeout`,
    /// `too_large`, `redirect`, `other`), for a span's `error.type`: never the details.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Blocked(_) => "blocked",
            Self::Dns(_) => "dns",
            Self::Connect(_) => "connect",
            Self::Tls(_) => "tls",
            Self::Timeout => "timeout",
            Self::TooLarge(_) => "too_large",
            Self::Redirect(_) => "redirect",
            Self::Other(_) => "other",
        }
    }
}

/// What outbound destinations are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    /// Accept `http://` (local and test mode).
    pub allow_insecure_http: bool,
    /// Ranges opened despite the deny rules (`OUTBOUND_ALLOW_CIDRS`), e.g. loopback for tests.
    pub allow_cidrs: Vec<IpNet>,
}

impl NetPolicy {
    /// The local stack's policy: `http` and loopback allowed.
    pub fn local() -> Self {
        Self {
            allow_insecure_http: true,
            allow_cidrs: vec![
                "127.0.0.0/8".parse().unwrap_or_else(|_| IpNet::default()),
                "::1/128".parse().unwrap_or_else(|_| IpNet::default()),
            ],
        }
    }

    /// Parses a comma-separated CIDR list (`OUTBOUND_ALLOW_CIDRS`).
    pub fn parse_cidrs(text: &str) -> Result<Vec<IpNet>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not a CIDR range"))
            })
            .collect()
    }

    /// Whether connecting to `ip` is allowed.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        let ip = ip::canonical(ip);
        self.allow_cidrs.iter().any(|net| net.contains(&ip)) || is_public(ip)
    }

    /// Checks a URL before any request: scheme, user info, host (IP literals against the deny
    /// rules; names are checked when resolved).
    pub fn check_url(&self, url: &Url) -> Result<(), NetError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure_http => {}
            "http" => return Err(NetError::Blocked("http is not allowed; use https".into())),
            other => return Err(NetError::Blocked(format!("scheme {other} is not allowed"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(NetError::Blocked(
                "URLs with user info are not allowed".into(),
            ));
        }
        match url.host() {
            None => Err(NetError::Blocked("the URL has no host".into())),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => Ok(()),
        }
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), NetError> {
        if self.ip_allowed(ip) {
            Ok(())
        } else {
            Err(NetError::Blocked(format!(
                "{ip} is a private or special-purpose address"
            )))
        }
    }
}

/// A name lookup: the system resolver in production, scripted answers in tests.
pub type Lookup = Arc<
    dyn Fn(
            String,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send>,
        > + Send
        + Sync,
>;

/// The system resolver.
fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    })
}

/// Resolves names and refuses the whole answer if any address is denied, at every connection:
/// a name that answered a public address once and a private one later is refused the second time.
#[derive(Clone)]
struct GuardedResolver {
    policy: Arc<NetPolicy>,
    lookup: Lookup,
}

/// A resolution error carried through reqwest so it can be classified afterwards.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("{0} resolves to a private or special-purpose address")]
    Blocked(String),
    #[error("{0} does not resolve")]
    NotFound(String),
}

impl GuardedResolver {
    async fn resolve_checked(&self, host: String) -> Result<Vec<IpAddr>, ResolveError> {
        let addrs = (self.lookup)(host.clone())
            .await
            .map_err(|_| ResolveError::NotFound(host.clone()))?;
        if addrs.is_empty() {
            return Err(ResolveError::NotFound(host));
        }
        if addrs.iter().any(|ip| !self.policy.ip_allowed(*ip)) {
            return Err(ResolveError::Blocked(host));
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.resolve_checked(host).await?;
            Ok(
                Box::new(addrs.into_iter().map(|ip| std::net::SocketAddr::new(ip, 0)))
                    as reqwest::dns::Addrs,
            )
        })
    }
}

/// One outbound request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// Method.
    pub method: Method,
    /// Target.
    pub url: Url,
    /// Headers; all are dropped on a cross-origin redirect except `Accept` and `Content-Type`.
    pub headers: HeaderMap,
    /// Body.
    pub body: Option<Bytes>,
}

impl OutboundRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }
}

/// How a request may be sent.
#[derive(Debug, Clone, Copy)]
pub struct SendOptions {
    /// Follow redirects (≤ [`MAX_REDIRECTS`]); never for token or registration requests.
    pub follow_redirects: bool,
    /// When everything, body included, must be done.
    pub deadline: Instant,
}

/// A response whose body has not been read yet.
#[derive(Debug)]
pub struct OutboundResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The URL that answered (after redirects).
    pub url: Url,
    inner: reqwest::Response,
    deadline: Instant,
}

impl OutboundResponse {
    /// The next chunk of the body, or `None` at its end; bounded by the request's deadline.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, NetError> {
        tokio::time::timeout_at(self.deadline, self.inner.chunk())
            .await
            .map_err(|_| NetError::Timeout)?
            .map_err(classify)
    }

    /// The whole body, failing with [`NetError::TooLarge`] past `max` bytes.
    pub async fn bytes_limited(mut self, max: usize) -> Result<Bytes, NetError> {
        if self
            .inner
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(NetError::TooLarge(max));
        }
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if body.len() + chunk.len() > max {
                return Err(NetError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.into())
    }

    /// The media type of the response, lowercased, without parameters.
    pub fn media_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// The guarded client. Cheap to clone; build it once per process. The underlying connection
/// pool (and the system's root certificates it loads) is set up on the first request, so a
/// function that never sends one — the audit log, webhooks CRUD — does not pay for it at start.
#[derive(Clone)]
pub struct HttpClient {
    client: Arc<std::sync::OnceLock<reqwest::Client>>,
    resolver: GuardedResolver,
    policy: Arc<NetPolicy>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("policy", &self.policy)
            .field("started", &self.client.get().is_some())
            .finish()
    }
}

impl HttpClient {
    /// A client enforcing `policy`, resolving names with the system resolver.
    pub fn new(policy: NetPolicy) -> Result<Self, NetError> {
        Self::with_lookup(policy, system_lookup())
    }

    /// A client enforcing `policy`, resolving names with `lookup` (tests script DNS answers).
    pub fn with_lookup(policy: NetPolicy, lookup: Lookup) -> Result<Self, NetError> {
        let policy = Arc::new(policy);
        let resolver = GuardedResolver {
            policy: Arc::clone(&policy),
            lookup,
        };
        Ok(Self {
            client: Arc::default(),
            resolver,
            policy,
        })
    }

    /// The connection pool, built on first use.
    fn client(&self) -> Result<&reqwest::Client, NetError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .dns_resolver(self.resolver.clone())
            .no_proxy()
            .referer(false)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("agent-studio-connect/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NetError::Other(format!("building the HTTP client: {e}")))?;
        // Two first requests at once may both build one; the first stored is kept by both.
        Ok(self.client.get_or_init(|| client))
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &NetPolicy {
        &self.policy
    }

    /// Sends `request`, following redirects if allowed, each hop checked again.
    pub async fn send(
        &self,
        request: OutboundRequest,
        options: SendOptions,
    ) -> Result<OutboundResponse, NetError> {
        let mut request = request;
        for hop in 0..=MAX_REDIRECTS {
            self.policy.check_url(&request.url)?;
            // Each hop is a span of its own, and carries its own trace context (a hop to another
            // origin has dropped the headers of the one before).
            let span = otel::client_span(&request.method, &request.url);
            let mut headers = request.headers.clone();
            otel::inject(&span, &mut headers);
            let mut builder = self
                .client()?
                .request(request.method.clone(), request.url.clone())
                .headers(headers);
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let sent = tokio::time::timeout_at(options.deadline, builder.send())
                .instrument(span.clone())
                .await
                .map_err(|_| NetError::Timeout)
                .and_then(|sent| sent.map_err(classify));
            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    otel::record_error(&span, error.kind());
                    return Err(error);
                }
            };
            let status = response.status();
            otel::record_status(&span, status, true);
            if !options.follow_redirects
                || !status.is_redirection()
                || status == StatusCode::NOT_MODIFIED
            {
                return Ok(OutboundResponse {
                    status,
                    headers: response.headers().clone(),
                    url: request.url,
                    inner: response,
                    deadline: options.deadline,
                });
            }
            if hop == MAX_REDIRECTS {
                break;
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| NetError::Redirect(format!("{status} without a Location header")))?;
            let next = request
                .url
                .join(location)
                .map_err(|_| NetError::Redirect("the Location header is not a URL".into()))?;
            request = redirected(request, next, status);
        }
        Err(NetError::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// The request to send after a redirect: 303 (and 301/302 after POST) become GET without a body;
/// crossing to another origin drops every header but `Accept` and `Content-Type`.
fn redirected(mut request: OutboundRequest, next: Url, status: StatusCode) -> OutboundRequest {
    let to_get = status == StatusCode::SEE_OTHER
        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && request.method == Method::POST);
    if to_get {
        request.method = Method::GET;
        request.body = None;
        request.headers.remove(header::CONTENT_TYPE);
    }
    if next.origin() != request.url.origin() {
        let keep: Vec<_> = [header::ACCEPT, header::CONTENT_TYPE]
            .into_iter()
            .filter_map(|name| request.headers.get(&name).cloned().map(|v| (name, v)))
            .collect();
        request.headers = keep.into_iter().collect();
    }
    request.url = next;
    request
}

/// Maps a reqwest error onto a diagnosis, looking through its source chain for our resolver's
/// verdict and for TLS failures.
fn classify(error: reqwest::Error) -> NetError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut text = String::new();
    while let Some(e) = source {
        if let Some(resolve) = e.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Blocked(host) => NetError::Blocked(format!(
                    "{host} resolves to a private or special-purpose address"
                )),
                ResolveError::NotFound(host) => NetError::Dns(host.clone()),
            };
        }
        text.push_str(&e.to_string().to_ascii_lowercase());
        text.push(' ');
        source = e.source();
    }
    if error.is_timeout() {
        NetError::Timeout
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        NetError::Tls(error.without_url().to_string())
    } else if error.is_connect() {
        NetError::Connect(error.without_url().to_string())
    } else {
        NetError::Other(error.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> NetPolicy {
        NetPolicy::default()
    }

    #[test]
    fn urls_are_checked_for_scheme_user_info_and_literal_hosts() {
        let cases = [
            ("https://example.com/mcp", true),
            ("http://example.com/mcp", false),
            ("ftp://example.com/", false),
            ("file:///etc/passwd", false),
            ("gopher://example.com/", false),
            ("https://user:pw@example.com/", false),
            ("https://user@example.com/", false),
            ("https://127.0.0.1/", false),
            ("https://2130706433/", false),
            ("https://0x7f.0.0.1/", false),
            ("https://0177.0.0.1/", false),
            ("https://127.1/", false),
            ("https://0/", false),
            ("https://169.254.169.254/latest/meta-data/", false),
            ("https://[::1]/", false),
            ("https://[::ffff:127.0.0.1]/", false),
            ("https://[::ffff:7f00:1]/", false),
            ("https://[64:ff9b::a9fe:a9fe]/", false),
            ("https://[2002:a9fe:a9fe::1]/", false),
            ("https://[fd00:ec2::254]/", false),
            ("https://[fe80::1]/", false),
            ("https://100.64.0.1/", false),
            ("https://10.0.0.1/", false),
            ("https://192.168.1.1/", false),
            ("https://172.16.0.1/", false),
            ("https://224.0.0.1/", false),
            ("https://255.255.255.255/", false),
            ("https://8.8.8.8/", true),
            ("https://[2606:4700:4700::1111]/", true),
            ("https://[::ffff:8.8.8.8]/", true),
        ];
        for (url, ok) in cases {
            let parsed = Url::parse(url).unwrap();
            assert_eq!(policy().check_url(&parsed).is_ok(), ok, "{url}");
        }
        // The "user info" trick: the host is evil.example, not trusted.example.
        let tricky = Url::parse("https://trusted.example@evil.example/").unwrap();
        assert!(policy().check_url(&tricky).is_err());
    }

    #[test]
    fn insecure_http_and_allow_cidrs_open_what_they_name() {
        let allows = |p: &NetPolicy, url: &str| p.check_url(&Url::parse(url).unwrap()).is_ok();
        let mut p = NetPolicy {
            allow_insecure_http: true,
            allow_cidrs: NetPolicy::parse_cidrs("127.0.0.0/8, 10.1.0.0/16").unwrap(),
        };
        assert!(allows(&p, "http://127.0.0.1:8080/mcp"));
        assert!(allows(&p, "http://10.1.2.3/"));
        assert!(!allows(&p, "http://10.2.0.1/"));
        assert!(allows(&p, "http://[::ffff:127.0.0.1]/"));
        p.allow_insecure_http = false;
        assert!(!allows(&p, "http://127.0.0.1/"));
        assert!(NetPolicy::parse_cidrs("10.0.0.0/8,nonsense").is_err());
        assert_eq!(NetPolicy::parse_cidrs("").unwrap(), vec![]);
    }

    fn scripted(answers: Vec<Vec<&'static str>>) -> Lookup {
        let answers = Arc::new(std::sync::Mutex::new(answers.into_iter()));
        Arc::new(move |_host| {
            let next = answers.lock().unwrap().next().unwrap_or_default();
            Box::pin(async move { Ok(next.into_iter().map(|a| a.parse().unwrap()).collect()) })
        })
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_rebinds_to_a_private_address() {
        let resolver = GuardedResolver {
            policy: Arc::new(policy()),
            lookup: scripted(vec![
                vec!["93.184.216.34"],
                vec!["127.0.0.1"],
                vec!["93.184.216.34", "10.0.0.7"],
                vec!["::ffff:169.254.169.254"],
                vec![],
            ]),
        };
        let resolve = || resolver.resolve_checked("rebind.example".into());
        assert!(resolve().await.is_ok(), "public answer");
        for answer in ["then loopback", "mixed answer", "mapped metadata address"] {
            let blocked = matches!(resolve().await, Err(ResolveError::Blocked(_)));
            assert!(blocked, "{answer}");
        }
        assert!(
            matches!(resolve().await, Err(ResolveError::NotFound(_))),
            "no answer"
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_blocked_before_connecting() {
        let client = HttpClient::with_lookup(
            NetPolicy {
                allow_insecure_http: true,
                allow_cidrs: vec![],
            },
            scripted(vec![vec!["127.0.0.1"]]),
        )
        .unwrap();
        let request = OutboundRequest::new(
            Method::GET,
            Url::parse("http://internal.example:9/").unwrap(),
        );
        let options = SendOptions {
            follow_redirects: true,
            deadline: Instant::now() + Duration::from_secs(5),
        };
        let err = client.send(request, options).await.unwrap_err();
        assert!(matches!(err, NetError::Blocked(_)), "{err:?}");
    }

    #[test]
    fn a_cross_origin_redirect_drops_credentials() {
        let mut request =
            OutboundRequest::new(Method::POST, Url::parse("https://a.example/mcp").unwrap());
        request.headers.insert("x-api-key", "k".parse().unwrap());
        request
            .headers
            .insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        request
            .headers
            .insert(header::ACCEPT, "application/json".parse().unwrap());
        request.body = Some(Bytes::from_static(b"{}"));
        let same = redirected(
            request.clone(),
            Url::parse("https://a.example/v2/mcp").unwrap(),
            StatusCode::TEMPORARY_REDIRECT,
        );
        assert!(same.headers.contains_key("x-api-key"));
        assert_eq!(same.method, Method::POST);
        let other = redirected(
            request.clone(),
            Url::parse("https://b.example/mcp").unwrap(),
            StatusCode::PERMANENT_REDIRECT,
        );
        assert!(!other.headers.contains_key("x-api-key"));
        assert!(!other.headers.contains_key(header::AUTHORIZATION));
        assert!(other.headers.contains_key(header::ACCEPT));
        assert!(other.body.is_some());
        let see_other = redirected(
            request,
            Url::parse("https://a.example/done").unwrap(),
            StatusCode::SEE_OTHER,
        );
        assert_eq!(see_other.method, Method::GET);
        assert!(see_other.body.is_none());
    }
}
