//! Where the rows come from: connection settings ([`SourceConfig`]), built from parts or from
//! a URL, and an open connection ([`Source`]).
//!
//! A `Source` only ever reads: PostgreSQL and MySQL sessions are set read-only and every
//! diff runs inside one read-only repeatable-read transaction per side; SQLite files are
//! opened read-only.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::DiffError;

/// The database engine. Both sides of one diff are the same engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    /// MySQL and MariaDB (Aurora MySQL).
    Mysql,
    Sqlite,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
        }
    }
}

/// TLS settings. Certificates are always verified when TLS is on: against `ca_pem` when
/// given (Aurora: the RDS CA bundle), otherwise against the Mozilla roots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM certificates to trust, in memory so that a Lambda can pass the bundle compiled
    /// into it.
    #[serde(default)]
    pub ca_pem: Option<Vec<u8>>,
}

impl TlsConfig {
    pub fn disabled() -> Self {
        TlsConfig::default()
    }
    pub fn with_ca_pem(pem: Vec<u8>) -> Self {
        TlsConfig { enabled: true, ca_pem: Some(pem) }
    }
    pub fn with_ca_file(path: impl AsRef<std::path::Path>) -> Result<Self, DiffError> {
        let p = path.as_ref();
        let pem = std::fs::read(p).map_err(|e| DiffError::BadSource(format!("CA bundle {}: {e}", p.display())))?;
        Ok(TlsConfig::with_ca_pem(pem))
    }

    /// How many certificates these settings trust, each parsed and accepted as a trust
    /// anchor: `ca_pem`'s, or the Mozilla roots without it. The same check as a connection
    /// makes, for a caller that refuses a bad bundle before connecting to anything.
    pub fn trusted_roots(&self) -> Result<usize, DiffError> {
        Ok(self.root_store()?.len())
    }

    fn root_store(&self) -> Result<rustls::RootCertStore, DiffError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                use rustls_pki_types::pem::PemObject;
                let mut n = 0;
                for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| DiffError::BadSource(format!("CA bundle: {e}")))?;
                    roots.add(cert).map_err(|e| DiffError::BadSource(format!("CA bundle: {e}")))?;
                    n += 1;
                }
                if n == 0 {
                    return Err(DiffError::BadSource("CA bundle holds no certificate".into()));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(roots)
    }

    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, DiffError> {
        let roots = self.root_store()?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DiffError::BadSource(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(cfg)
    }
}

/// How to reach one side. Build it from parts (a Lambda reading a Secrets Manager secret)
/// or parse it from a URL (`postgres://`, `mysql://`, `sqlite://path`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceConfig {
    pub engine: Engine,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub password: Option<String>,
    /// Database name; for SQLite, the file path.
    pub database: String,
    #[serde(default)]
    pub tls: TlsConfig,
}

impl std::fmt::Debug for SourceConfig {
    // The password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("engine", &self.engine)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .field("tls", &self.tls.enabled)
            .finish()
    }
}

impl SourceConfig {
    pub fn postgres(host: &str, port: u16, user: &str, password: Option<&str>, database: &str) -> Self {
        SourceConfig {
            engine: Engine::Postgres,
            host: host.into(),
            port,
            user: user.into(),
            password: password.map(Into::into),
            database: database.into(),
            tls: TlsConfig::default(),
        }
    }
    pub fn mysql(host: &str, port: u16, user: &str, password: Option<&str>, database: &str) -> Self {
        SourceConfig { engine: Engine::Mysql, ..SourceConfig::postgres(host, port, user, password, database) }
    }
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        SourceConfig {
            engine: Engine::Sqlite,
            host: String::new(),
            port: 0,
            user: String::new(),
            password: None,
            database: path.into().to_string_lossy().into_owned(),
            tls: TlsConfig::default(),
        }
    }
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// `postgres://user:pass@host:5432/db?sslmode=verify-full&sslrootcert=/path/ca.pem`,
    /// `mysql://user:pass@host:3306/db?ssl-mode=VERIFY_IDENTITY&ssl-ca=/path`, `sqlite://path`.
    /// `sslmode`/`ssl-mode` values other than disable turn TLS on with verification.
    pub fn from_url(s: &str) -> Result<Self, DiffError> {
        if let Some(path) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(DiffError::BadSource("sqlite URL without a path".into()));
            }
            return Ok(SourceConfig::sqlite(path));
        }
        let u = url::Url::parse(s).map_err(|e| DiffError::BadSource(format!("URL: {e}")))?;
        let engine = match u.scheme() {
            "postgres" | "postgresql" => Engine::Postgres,
            "mysql" | "mariadb" => Engine::Mysql,
            other => {
                return Err(DiffError::BadSource(format!("URL scheme {other:?}: expected postgres, mysql or sqlite")));
            }
        };
        let host = u.host_str().ok_or_else(|| DiffError::BadSource("URL without a host".into()))?.to_string();
        let port = u.port().unwrap_or(if engine == Engine::Postgres { 5432 } else { 3306 });
        let decode = |x: &str| {
            url::form_urlencoded::parse(format!("x={x}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let user = decode(u.username());
        let password = u.password().map(decode);
        let database = u.path().trim_start_matches('/').to_string();
        if database.is_empty() {
            return Err(DiffError::BadSource("URL without a database name".into()));
        }
        let mut tls = TlsConfig::default();
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "sslmode" | "ssl-mode" | "ssl_mode" => {
                    tls.enabled = !matches!(v.to_ascii_lowercase().as_str(), "disable" | "disabled")
                }
                "sslrootcert" | "ssl-ca" | "ssl_ca" => {
                    tls = TlsConfig::with_ca_file(v.as_ref())?;
                }
                other => return Err(DiffError::BadSource(format!("URL parameter {other:?} is not understood"))),
            }
        }
        Ok(SourceConfig { engine, host, port, user, password, database, tls })
    }

    /// Opens the connection and sets the session up for reading only.
    pub async fn connect(&self) -> Result<Source, DiffError> {
        let inner = match self.engine {
            Engine::Postgres => crate::postgres::connect(self).await?,
            Engine::Mysql => crate::mysql::connect(self).await?,
            Engine::Sqlite => crate::sqlite::connect(self)?,
        };
        Ok(Source { engine: self.engine, inner: tokio::sync::Mutex::new(inner) })
    }
}

/// An open, read-only connection. One diff at a time uses it (a diff holds it for its
/// whole snapshot transaction).
pub struct Source {
    pub(crate) engine: Engine,
    pub(crate) inner: tokio::sync::Mutex<Inner>,
}

impl Source {
    pub async fn connect(cfg: &SourceConfig) -> Result<Source, DiffError> {
        cfg.connect().await
    }
    pub async fn from_url(url: &str) -> Result<Source, DiffError> {
        SourceConfig::from_url(url)?.connect().await
    }
    pub fn engine(&self) -> Engine {
        self.engine
    }
}

pub(crate) enum Inner {
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
    Sqlite(Arc<std::sync::Mutex<rusqlite::Connection>>),
}
