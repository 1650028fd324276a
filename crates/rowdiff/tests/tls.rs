//! Certificate verification against a configured CA bundle, with a throwaway CA and a
//! loopback endpoint that speaks the start of PostgreSQL's or MySQL's TLS negotiation:
//! enough for the driver to verify the certificate, not a database.

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

#[derive(Clone, Copy, Debug)]
enum Proto {
    Postgres,
    Mysql,
}

/// The MySQL server greeting (protocol 10) of a server that offers TLS.
fn mysql_greeting() -> Vec<u8> {
    const CAPS: u32 = 0x1 | 0x8 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x80000; // ..., SSL, ..., PLUGIN_AUTH
    let mut p = vec![10u8];
    p.extend_from_slice(b"8.0.36\0");
    p.extend_from_slice(&7u32.to_le_bytes()); // connection id
    p.extend_from_slice(b"abcdefgh\0"); // scramble, first part, and filler
    p.extend_from_slice(&(CAPS as u16).to_le_bytes());
    p.push(0xff); // utf8mb4
    p.extend_from_slice(&2u16.to_le_bytes()); // autocommit
    p.extend_from_slice(&((CAPS >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0u8; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0"); // scramble, second part
    p.extend_from_slice(b"mysql_native_password\0");
    let mut packet = (p.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(0); // sequence id
    packet.extend_from_slice(&p);
    packet
}

/// Answers one client's request for TLS (PostgreSQL's SSLRequest with 'S'; MySQL's
/// greeting, then its SSLRequest packet), runs the TLS handshake, then hangs up. Returns
/// the port and a flag set when a handshake completed.
async fn endpoint(server: rustls::ServerConfig, proto: Proto) -> (u16, Arc<AtomicBool>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            match proto {
                Proto::Postgres => {
                    let mut req = [0u8; 8];
                    if s.read_exact(&mut req).await.is_err() {
                        continue;
                    }
                    s.write_all(b"S").await.unwrap();
                }
                Proto::Mysql => {
                    s.write_all(&mysql_greeting()).await.unwrap();
                    // SSLRequest: 4-byte header, capabilities, max packet, charset, 23 zeros.
                    let mut req = [0u8; 36];
                    if s.read_exact(&mut req).await.is_err() {
                        continue;
                    }
                    // A client that did not ask for TLS gets no handshake: the flag stays unset.
                    let caps = u32::from_le_bytes(req[4..8].try_into().unwrap());
                    if caps & 0x800 == 0 {
                        continue;
                    }
                }
            }
            if let Ok(mut tls) = acceptor.accept(s).await {
                flag.store(true, Ordering::SeqCst);
                let _ = tls.shutdown().await;
            }
        }
    });
    (port, done)
}

fn cfg(proto: Proto, port: u16, tls: TlsConfig) -> SourceConfig {
    match proto {
        Proto::Postgres => SourceConfig::postgres("127.0.0.1", port, "postgres", Some("secret"), "test"),
        Proto::Mysql => SourceConfig::mysql("127.0.0.1", port, "root", Some("secret"), "test"),
    }
    .with_tls(tls)
}

const BOTH: [Proto; 2] = [Proto::Postgres, Proto::Mysql];

#[tokio::test]
async fn a_server_certified_by_the_configured_ca_is_accepted() {
    for proto in BOTH {
        let p = pki("127.0.0.1");
        let (port, handshake) = endpoint(p.server, proto).await;
        let res = Source::connect(&cfg(proto, port, TlsConfig::with_ca_pem(p.ca_pem.into_bytes()))).await;
        // The endpoint hangs up after the handshake: the connection fails later, not on TLS.
        let err = res.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(handshake.load(Ordering::SeqCst), "{proto:?}: TLS handshake did not complete: {err}");
    }
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused() {
    for proto in BOTH {
        let p = pki("127.0.0.1");
        let other = pki("127.0.0.1");
        let (port, handshake) = endpoint(p.server, proto).await;
        let err =
            Source::connect(&cfg(proto, port, TlsConfig::with_ca_pem(other.ca_pem.into_bytes()))).await.err().unwrap();
        assert!(!handshake.load(Ordering::SeqCst), "{proto:?}");
        assert!(err.to_string().to_lowercase().contains("certificate"), "{proto:?}: {err}");
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    for proto in BOTH {
        let p = pki("db.example.invalid");
        let (port, handshake) = endpoint(p.server, proto).await;
        let err =
            Source::connect(&cfg(proto, port, TlsConfig::with_ca_pem(p.ca_pem.into_bytes()))).await.err().unwrap();
        assert!(!handshake.load(Ordering::SeqCst), "{proto:?}");
        assert!(err.to_string().to_lowercase().contains("certificate"), "{proto:?}: {err}");
    }
}

#[tokio::test]
async fn without_a_bundle_the_public_roots_are_used_and_a_private_ca_is_refused() {
    for proto in BOTH {
        let p = pki("127.0.0.1");
        let (port, handshake) = endpoint(p.server, proto).await;
        let tls = TlsConfig { enabled: true, ca_pem: None };
        let err = Source::connect(&cfg(proto, port, tls)).await.err().unwrap();
        assert!(!handshake.load(Ordering::SeqCst), "{proto:?}");
        assert!(err.to_string().to_lowercase().contains("certificate"), "{proto:?}: {err}");
    }
}
