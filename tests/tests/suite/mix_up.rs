//! The OAuth mix-up attack (RFC 9700 §4.4) against a real authorization server, on both stores:
//! a hostile authorization server that bounces the user to the honest one (oidc-provider) with
//! the honest client's id, hoping the honest code comes back on the hostile config's flow and is
//! redeemed, with its PKCE verifier, at the hostile token endpoint. The honest server names itself
//! in `iss`, which is checked against the issuer of the flow (for a config entered by hand: the
//! issuer given with it, or the one its metadata names, or the authorization endpoint's origin); a callback address of one
//! config finishes only that config's flows, even without `iss`. The hostile token endpoint sees
//! nothing; the honest flow, through its own address, connects.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    extract::{RawQuery, State},
    http::{StatusCode as AxumStatus, header},
    response::IntoResponse,
    routing::{get, post},
};
use e2e::{
    Backend, Expect, TestStack,
    oidc::{self, OidcOptions},
};
use reqwest::StatusCode;
use serde_json::json;

/// The redirect URI every oidc-provider client accepts.
const SHARED_REDIRECT: &str = "http://127.0.0.1/callback";

/// What the hostile authorization server saw at its token endpoint.
#[derive(Default)]
struct Hostile {
    honest_authorize: String,
    token_requests: Mutex<Vec<String>>,
}

/// `GET /authorize`: the same request, sent on to the honest server as its client `public-app`.
async fn bounce(State(h): State<Arc<Hostile>>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let rewritten: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).map(|(k, v)| {
                let v = if k == "client_id" {
                    "public-app".into()
                } else {
                    v
                };
                (k.into_owned(), v.into_owned())
            }),
        )
        .finish();
    (
        AxumStatus::FOUND,
        [(
            header::LOCATION,
            format!("{}?{rewritten}", h.honest_authorize),
        )],
    )
}

/// `POST /token`: what it would redeem, recorded.
async fn steal(State(h): State<Arc<Hostile>>, body: String) -> impl IntoResponse {
    h.token_requests.lock().unwrap().push(body);
    (AxumStatus::BAD_REQUEST, "{\"error\":\"invalid_grant\"}")
}

/// Starts an authorization of `config` to `redirect` and signs in as the browser would, from
/// wherever its authorization URL leads; where the provider sent the browser back.
async fn sign_in(stack: &TestStack, config: &str, redirect: &str) -> url::Url {
    let started = stack.start_authorization(config, redirect).await;
    oidc::login(started["authorization_url"].as_str().unwrap(), redirect).await
}

async fn mix_up_gets_the_hostile_server_no_code_and_no_verifier(backend: Backend) {
    let stack = TestStack::start(backend).await;
    let origin = stack.api.trim_end_matches("/ai/api/v1").to_owned();
    // The honest config first (its id names its callback address), then its server.
    let honest = stack
        .created(
            "/auth_configs",
            json!({"name": "honest", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": "http://127.0.0.1:9/auth", "token_url": "http://127.0.0.1:9/token",
                   "client_id": "public-app", "allowed_redirect_uris": [SHARED_REDIRECT],
                   "scopes": ["openid"]}),
        )
        .await;
    let honest_callback = format!("{origin}/ai/api/v1/oauth/{honest}/callback");
    let provider = oidc::start(OidcOptions {
        redirect_uris: vec![honest_callback.clone()],
        ..OidcOptions::default()
    })
    .await;
    stack
        .patch(
            &format!("/auth_configs/{honest}"),
            json!({"authorization_url": provider.authorization_endpoint(),
                   "token_url": provider.token_endpoint(),
                   "allowed_redirect_uris": [honest_callback, SHARED_REDIRECT]}),
        )
        .await
        .answered(StatusCode::OK);

    let hostile = Arc::new(Hostile {
        honest_authorize: provider.authorization_endpoint(),
        ..Hostile::default()
    });
    let hostile_base = e2e::serve_on_loopback(
        Router::new()
            .route("/authorize", get(bounce))
            .route("/token", post(steal))
            .with_state(Arc::clone(&hostile)),
    )
    .await;
    // The hostile config lists the honest config's callback address too: nothing stops an
    // admin (or a discovery) from naming any address.
    let hostile_config = stack
        .created(
            "/auth_configs",
            json!({"name": "hostile", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": format!("{hostile_base}/authorize"),
                   "token_url": format!("{hostile_base}/token"),
                   "client_id": "attacker-client",
                   "allowed_redirect_uris": [SHARED_REDIRECT, honest_callback],
                   "scopes": ["openid"]}),
        )
        .await;

    // 1. Through the shared callback: the honest server's `iss` is not the hostile flow's.
    let landed = sign_in(&stack, &hostile_config, SHARED_REDIRECT).await;
    let query = landed.query().unwrap().to_owned();
    assert!(
        query.contains("iss="),
        "the honest server names itself: {landed}"
    );
    stack
        .get(&format!("/oauth/callback?{query}"))
        .await
        .refused_on("iss");

    // 2. Through the honest config's own address, `iss` stripped (a server that does not name
    // itself): the address names another config than the flow; refused all the same.
    let landed = sign_in(&stack, &hostile_config, &honest_callback).await;
    let without_iss: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(landed.query_pairs().filter(|(k, _)| k != "iss"))
        .finish();
    stack
        .get(&format!("/oauth/{honest}/callback?{without_iss}"))
        .await
        .refused_on("auth_config_id");
    assert!(
        hostile.token_requests.lock().unwrap().is_empty(),
        "a code or verifier reached the hostile token endpoint: {:?}",
        hostile.token_requests.lock().unwrap()
    );
    let stats = provider.stats().await;
    assert_eq!(stats.token_requests, 0, "no code was redeemed anywhere");

    // 3. The honest flow through its own address: an `iss` of another server is refused (the
    // issuer was read from the provider's metadata), the real one connects.
    let landed = sign_in(&stack, &honest, &honest_callback).await;
    let forged: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(landed.query_pairs().map(|(k, v)| {
            if k == "iss" {
                (k, hostile_base.clone().into())
            } else {
                (k, v)
            }
        }))
        .finish();
    stack
        .get(&format!("/oauth/{honest}/callback?{forged}"))
        .await
        .refused_on("iss");
    let connected = stack
        .get(&format!(
            "/oauth/{honest}/callback?{}",
            landed.query().unwrap()
        ))
        .await
        .answered(StatusCode::OK);
    assert_eq!(connected["token_status"], "VALID", "{connected}");
    assert!(hostile.token_requests.lock().unwrap().is_empty());

    // 4. An issuer given with the config is the one responses must name.
    let given = stack
        .created(
            "/auth_configs",
            json!({"name": "given", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": provider.authorization_endpoint(),
                   "token_url": provider.token_endpoint(), "client_id": "public-app",
                   "issuer": "http://issuer.example", "allowed_redirect_uris": [SHARED_REDIRECT],
                   "scopes": ["openid"]}),
        )
        .await;
    let (_, view) = stack.get(&format!("/auth_configs/{given}")).await;
    assert_eq!(view["issuer"], "http://issuer.example");
    let landed = sign_in(&stack, &given, SHARED_REDIRECT).await;
    stack
        .get(&format!("/oauth/callback?{}", landed.query().unwrap()))
        .await
        .refused_on("iss");
    stack
        .post(
            "/auth_configs",
            json!({"name": "bad", "auth_type": "AUTHORIZATION_CODE",
                   "authorization_url": provider.authorization_endpoint(),
                   "token_url": provider.token_endpoint(), "client_id": "public-app",
                   "issuer": "http://issuer.example/?tenant=1",
                   "allowed_redirect_uris": [SHARED_REDIRECT]}),
        )
        .await
        .refused_on("issuer");
}

e2e::on_both_stores!(mix_up_gets_the_hostile_server_no_code_and_no_verifier);
e2e::on_the_rehearsal!(mix_up_gets_the_hostile_server_no_code_and_no_verifier,);
