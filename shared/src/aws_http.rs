//! The HTTPS client every AWS SDK client of a process shares: which roots it trusts, and when
//! its TLS connector is built.
//!
//! The SDK's default client builds a TLS connector, loading the platform's root certificates
//! (on Debian a bundle and then every file of `/etc/ssl/certs`, about 290 certificates parsed),
//! each time an SDK client is constructed, so that a broken trust store fails early. A function
//! constructs five or six clients at start (DynamoDB, KMS, Secrets Manager, EventBridge, SQS, and
//! STS inside the credentials chain), which made that most of its init time. This client:
//!
//! - trusts the Mozilla root set compiled into the binary (`webpki-root-certs`, the set the
//!   platform bundles are made from, and which holds Amazon's roots); verification is otherwise
//!   the SDK's own (rustls with aws-lc, its cipher suites, the server name checked);
//! - builds its connector on the first request, once per connection settings, then reuses it;
//! - honours `SSL_CERT_FILE` / `SSL_CERT_DIR`: when either is set (a proxy's or a private CA),
//!   the platform's store is loaded instead, as the SDK would;
//! - keeps the SDK's proxy handling (`HTTPS_PROXY`, `NO_PROXY`).

use std::sync::{Arc, LazyLock};

use aws_smithy_http_client::{
    Builder, ConnectorBuilder,
    proxy::ProxyConfig,
    tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::{
    http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector},
    runtime_components::RuntimeComponents,
};
use base64::Engine as _;

/// Which roots the client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The Mozilla root set compiled into the binary: nothing read at run time.
    CompiledIn,
    /// The platform's store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the system's bundle).
    Platform,
}

impl Roots {
    /// The platform's store when the environment names one (`SSL_CERT_FILE` or `SSL_CERT_DIR`
    /// set and not empty), else the compiled-in set.
    pub fn from_env() -> Self {
        let named = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if named("SSL_CERT_FILE") || named("SSL_CERT_DIR") {
            Self::Platform
        } else {
            Self::CompiledIn
        }
    }
}

/// The compiled-in roots as one PEM bundle (the form the SDK's trust store takes), made on the
/// first connector build.
static COMPILED_IN_PEM: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2_200);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        pem.extend_from_slice(engine.encode(cert.as_ref()).as_bytes());
        pem.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
    }
    pem
});

/// The TLS context for `roots`.
fn tls_context(roots: Roots) -> TlsContext {
    let store = match roots {
        Roots::Platform => TrustStore::default(),
        Roots::CompiledIn => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(COMPILED_IN_PEM.as_slice()),
    };
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store without extra server names is valid")
}

/// The HTTPS client for an `SdkConfig` (see the module docs): roots from [`Roots::from_env`].
pub fn https_client() -> SharedHttpClient {
    https_client_trusting(Roots::from_env())
}

/// The HTTPS client trusting `roots`.
pub fn https_client_trusting(roots: Roots) -> SharedHttpClient {
    let context = Arc::new(LazyLock::new(move || tls_context(roots)));
    let inner = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context((**context).clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(OnFirstUse(inner))
}

/// The SDK's client, minus the connector it builds when an SDK client is constructed: the trait's
/// default `validate_base_client_config` checks nothing, so the connector is built by the first
/// `http_connector` call (the first request) and cached there per settings.
#[derive(Debug)]
struct OnFirstUse(SharedHttpClient);

impl HttpClient for OnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compiled-in root is in the bundle, Amazon's among them (AWS endpoints chain to
    /// Amazon Root CA 1–4 or to Starfield Services Root G2, which cross-signs them).
    #[test]
    fn the_bundle_holds_every_root_and_amazons() {
        let bundle = String::from_utf8(COMPILED_IN_PEM.clone()).unwrap();
        assert_eq!(
            bundle.matches("-----BEGIN CERTIFICATE-----").count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS
                    .iter()
                    .any(|c| c.as_ref().windows(name.len()).any(|w| w == name.as_bytes())),
                "{name} is compiled in"
            );
        }
    }

    /// The bundle decodes back to the compiled-in certificates, byte for byte. (The SDK parses
    /// each one when it builds a connector and panics on one it cannot: every test that reaches
    /// DynamoDB Local or moto builds one.)
    #[test]
    fn the_bundle_round_trips() {
        use base64::Engine as _;
        let bundle = String::from_utf8(COMPILED_IN_PEM.clone()).unwrap();
        let engine = base64::engine::general_purpose::STANDARD;
        let decoded: Vec<Vec<u8>> = bundle
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|pem| engine.decode(pem.split('\n').next().unwrap()).unwrap())
            .collect();
        let compiled: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .collect();
        assert_eq!(decoded, compiled);
    }
}
