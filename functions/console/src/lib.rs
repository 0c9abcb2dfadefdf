//! The console function: the web console and the hosted OAuth pages under `/console`. It owns the
//! static single-page app (HTML, CSS and JavaScript modules in `assets/`, embedded in the binary
//! at build time) and the headers it is served with. It holds no data and reads no
//! configuration: every page loads what it shows from the API on the same origin, with the
//! caller's session cookie, and the API's authorization applies as for any other client.
//!
//! Every path under `/console` that is not an asset answers the same shell page, whose script
//! routes on the address (`/console/servers/new`, `/console/oauth/callback`, …). The shell links
//! its assets by a path relative to the address, so the console works behind an API Gateway
//! stage prefix (`/prod/console/…`) without knowing it.

use axum::{
    Router,
    http::{HeaderValue, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::api::ApiError;

/// Where the console is served.
pub const BASE_PATH: &str = "/console";

/// The hosted OAuth callback page: register `<origin><BASE_PATH>/oauth/callback/<auth config id>`
/// (with any stage prefix) as an auth config's redirect URI to finish its authorizations in the
/// browser (the page below it is that config's own: it finishes no other config's authorization);
/// `<origin><BASE_PATH>/oauth/callback` itself serves every config that allows it.
pub const CALLBACK_PATH: &str = "/console/oauth/callback";

/// The local sign-in page (the local stack serves it without a session).
pub const SIGN_IN_PATH: &str = "/console/sign-in";

/// Where the assets are served.
pub const ASSETS_PATH: &str = "/console/assets/";

/// Whether `path` is a console address: [`BASE_PATH`] or anything below it.
pub fn serves(path: &str) -> bool {
    path.strip_prefix(BASE_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The Content-Security-Policy of every console answer: scripts, styles and API calls from this
/// origin only, no inline script or style, no plug-ins, no framing, forms posted nowhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

/// The app's files, served under [`ASSETS_PATH`].
static ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("pages.js", "text/javascript; charset=utf-8"),
    asset!("server-form.js", "text/javascript; charset=utf-8"),
    asset!("oauth.js", "text/javascript; charset=utf-8"),
    asset!("approvals.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// The shell page; `{{assets}}` becomes the relative path of [`ASSETS_PATH`].
const SHELL: &str = include_str!("../assets/index.html");

/// The routes of this function (no state: the console holds no data).
pub fn router() -> Router {
    Router::new()
        .route(BASE_PATH, get(shell))
        .route("/console/", get(shell))
        .route("/console/assets/{name}", get(asset))
        .route("/console/{*path}", get(shell))
        .layer(axum::middleware::map_response(console_headers))
}

/// The shell page for any console address.
async fn shell(uri: Uri) -> Response {
    let html = SHELL.replace("{{assets}}", &assets_href(uri.path()));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response()
}

/// One asset, or 404.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            )],
            a.body,
        )
            .into_response(),
        None => ApiError::NotFound("console asset").into_response(),
    }
}

/// The assets' path relative to the page at `path`: as many `../` as the page is deep below
/// `/console/`, so the browser resolves it under whatever prefix the page was reached with.
fn assets_href(path: &str) -> String {
    match path.strip_prefix("/console/") {
        Some(rest) => format!("{}assets/", "../".repeat(rest.matches('/').count())),
        None => "console/assets/".to_owned(),
    }
}

/// The headers only pages need, on every console answer: the policy above, no framing, no
/// shared browsing context. The shared finish ([`shared::api::with_fallbacks`], which both the
/// Lambda and the local stack wrap this router in) adds what every answer of the API carries: no
/// caching (a stale script must never talk to a newer API), no referrer (the callback page's
/// address holds `code` and `state` until the script removes them), no sniffing.
async fn console_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// Addresses of the console's pages, at each depth.
    const CONSOLE_ADDRESSES: [&str; 5] = [
        "/console",
        "/console/",
        "/console/servers/new",
        CALLBACK_PATH,
        "/console/oauth/callback/0190-a",
    ];

    async fn get(path: &str) -> (Response, String) {
        // As served: behind the shared finish.
        let response = shared::api::with_fallbacks(router())
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(parts, Body::empty()),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[test]
    fn console_addresses_are_the_base_and_below() {
        for path in CONSOLE_ADDRESSES {
            assert!(serves(path), "{path}");
        }
        for path in ["/consoles", "/console-x/a", "/ai/api/v1/console", "/"] {
            assert!(!serves(path), "{path}");
        }
    }

    #[test]
    fn assets_resolve_from_any_depth() {
        assert_eq!(assets_href("/console"), "console/assets/");
        assert_eq!(assets_href("/console/"), "assets/");
        assert_eq!(assets_href("/console/servers"), "assets/");
        assert_eq!(assets_href("/console/servers/new"), "../assets/");
        assert_eq!(assets_href("/console/oauth/callback"), "../assets/");
        assert_eq!(assets_href("/console/a/b/c"), "../../assets/");
    }

    #[tokio::test]
    async fn every_console_address_answers_the_shell_with_strict_headers() {
        for path in CONSOLE_ADDRESSES {
            let (response, html) = get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
            assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
            assert!(
                html.contains(&format!("{}app.js", assets_href(path))),
                "{html}"
            );
            assert!(!html.contains("{{"), "{html}");
        }
    }

    #[tokio::test]
    async fn assets_carry_their_types_and_unknown_ones_are_404() {
        for a in ASSETS {
            // Text only: the REST API declares no binary media types, and the Lambda adapter
            // sends text types as they are.
            assert!(
                a.content_type.starts_with("text/") || a.content_type.contains("+xml"),
                "{}",
                a.name
            );
            let (response, _) = get(&format!("{ASSETS_PATH}{}", a.name)).await;
            assert_eq!(response.status(), 200, "{}", a.name);
            assert_eq!(response.headers()[header::CONTENT_TYPE], a.content_type);
            assert!(
                response
                    .headers()
                    .contains_key(header::CONTENT_SECURITY_POLICY)
            );
        }
        let (response, body) = get("/console/assets/missing.js").await;
        assert_eq!(response.status(), 404);
        assert!(body.contains("not-found"), "{body}");
    }

    /// The shell and the modules reference only embedded files, nothing of another origin, and
    /// no inline script or style the policy would block.
    #[test]
    fn the_app_is_self_contained() {
        let names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        let shell_refs: Vec<&str> = SHELL
            .split("{{assets}}")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert!(!shell_refs.is_empty());
        for name in &shell_refs {
            assert!(names.contains(name), "index.html references {name}");
        }
        assert!(!SHELL.contains("<script>") && !SHELL.contains("style="));
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap();
            for rest in text.split(" from '").skip(1) {
                let target = rest.split('\'').next().unwrap_or_default();
                let target = target
                    .strip_prefix("./")
                    .unwrap_or_else(|| panic!("{}: imports {target}", a.name));
                assert!(names.contains(&target), "{} imports {target}", a.name);
            }
            assert!(!text.contains("import("), "{}: dynamic import", a.name);
            assert!(!text.contains("innerHTML"), "{} sets innerHTML", a.name);
            // Addresses of other origins appear only as examples in form placeholders.
            for line in text.lines().filter(|l| l.contains("://")) {
                assert!(line.contains("placeholder:"), "{}: {line}", a.name);
            }
        }
        assert!(
            !SHELL.contains("://"),
            "index.html loads from another origin"
        );
    }
}
