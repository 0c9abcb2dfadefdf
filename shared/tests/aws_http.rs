#![allow(clippy::unwrap_used)]
//! The AWS SDK's HTTPS client (`shared::aws_http`) against a hostile endpoint: a TLS server on
//! loopback with a self-signed certificate for 127.0.0.1 (made by Python's `cryptography`, from
//! the test venv that `infra/scripts/test.sh` installs). Whichever roots the client trusts, it
//! must refuse the certificate during the handshake, so the server never receives a request: no
//! signed request, no credential, no payload.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use shared::aws_http::{Roots, https_client_trusting};

/// The hostile server: prints its port, then one line per connection (`HANDSHAKE-FAILED …` or
/// `REQUEST <first line>`).
const SERVER: &str = r#"
import datetime, ipaddress, socket, ssl, sys, tempfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256()))
d = tempfile.mkdtemp()
open(d + "/c.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(d + "/k.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/c.pem", d + "/k.pem")
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    conn, _ = s.accept()
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        data = tls.recv(65536)
        print("REQUEST " + data.split(b"\r\n")[0].decode(errors="replace"), flush=True)
        tls.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        tls.close()
    except Exception as e:
        print("HANDSHAKE-FAILED " + str(e), flush=True)
        conn.close()
"#;

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.deps/venv/bin/python");
    assert!(
        python.exists(),
        "this test needs the test venv's Python (with cryptography): run `bash infra/scripts/test-deps.sh`"
    );
    python
}

struct Hostile {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
    port: u16,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn hostile() -> Hostile {
    let mut child = Command::new(python())
        .args(["-c", SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    lines.read_line(&mut port).unwrap();
    Hostile {
        port: port.trim().parse().expect("the server prints its port"),
        child,
        lines,
    }
}

async fn call_through(roots: Roots, server: &mut Hostile) -> String {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client_trusting(roots))
        .endpoint_url(format!("https://127.0.0.1:{}", server.port))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIDCANARYCANARY",
            "secret-canary-never-sent",
            None,
            None,
            "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let answer = aws_sdk_dynamodb::Client::new(&config)
        .list_tables()
        .send()
        .await;
    assert!(answer.is_err(), "a self-signed server was trusted");
    let mut line = String::new();
    server.lines.read_line(&mut line).unwrap();
    line
}

#[tokio::test]
async fn the_compiled_in_roots_refuse_a_self_signed_server_before_any_request() {
    let mut server = hostile();
    let seen = call_through(Roots::CompiledIn, &mut server).await;
    // The client reached the server (the test cannot pass on a wrong port) and refused its
    // certificate in the handshake: nothing of the request was sent.
    assert!(seen.starts_with("HANDSHAKE-FAILED"), "{seen}");
    assert!(
        seen.contains("UNKNOWN_CA"),
        "refused as an unknown CA: {seen}"
    );
}

#[tokio::test]
async fn the_platform_roots_refuse_it_too() {
    let mut server = hostile();
    let seen = call_through(Roots::Platform, &mut server).await;
    assert!(seen.starts_with("HANDSHAKE-FAILED"), "{seen}");
    assert!(
        seen.contains("UNKNOWN_CA"),
        "refused as an unknown CA: {seen}"
    );
}
