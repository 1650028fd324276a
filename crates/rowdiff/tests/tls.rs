//! Certificate verification against a configured CA bundle, with a throwaway CA and a
//! loopback endpoint that speaks the start of PostgreSQL's TLS negotiation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rowdiff::{Source, SourceConfig, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn pki(san: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![san.to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    Pki { ca_pem: ca.pem(), server }
}

/// Answers one PostgreSQL SSLRequest with 'S', runs the TLS handshake, then hangs up.
/// Returns the port and a flag set when a handshake completed.
async fn endpoint(server: rustls::ServerConfig) -> (u16, Arc<AtomicBool>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut req = [0u8; 8];
            if s.read_exact(&mut req).await.is_err() {
                continue;
            }
            s.write_all(b"S").await.unwrap();
            if let Ok(mut tls) = acceptor.accept(s).await {
                flag.store(true, Ordering::SeqCst);
                let _ = tls.shutdown().await;
            }
        }
    });
    (port, done)
}

fn cfg(port: u16, tls: TlsConfig) -> SourceConfig {
    SourceConfig::postgres("127.0.0.1", port, "postgres", Some("secret"), "test").with_tls(tls)
}

#[tokio::test]
async fn a_server_certified_by_the_configured_ca_is_accepted() {
    let p = pki("127.0.0.1");
    let (port, handshake) = endpoint(p.server).await;
    let err = Source::connect(&cfg(port, TlsConfig::with_ca_pem(p.ca_pem.into_bytes()))).await.err().unwrap();
    // The endpoint hangs up after the handshake: the connection fails later, not on TLS.
    assert!(handshake.load(Ordering::SeqCst), "TLS handshake did not complete: {err}");
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused() {
    let p = pki("127.0.0.1");
    let other = pki("127.0.0.1");
    let (port, handshake) = endpoint(p.server).await;
    let err = Source::connect(&cfg(port, TlsConfig::with_ca_pem(other.ca_pem.into_bytes()))).await.err().unwrap();
    assert!(!handshake.load(Ordering::SeqCst));
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let p = pki("db.example.invalid");
    let (port, handshake) = endpoint(p.server).await;
    let err = Source::connect(&cfg(port, TlsConfig::with_ca_pem(p.ca_pem.into_bytes()))).await.err().unwrap();
    assert!(!handshake.load(Ordering::SeqCst));
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn without_a_bundle_the_public_roots_are_used_and_a_private_ca_is_refused() {
    let p = pki("127.0.0.1");
    let (port, handshake) = endpoint(p.server).await;
    let tls = TlsConfig { enabled: true, ca_pem: None };
    let err = Source::connect(&cfg(port, tls)).await.err().unwrap();
    assert!(!handshake.load(Ordering::SeqCst));
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}
