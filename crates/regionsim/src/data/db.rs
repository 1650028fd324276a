//! One simulated cluster's real database: a SQLite file, or a database on a PostgreSQL or
//! MariaDB/MySQL server, behind one synchronous interface that speaks SQL text.
//!
//! Why synchronous: drills run on a paused tokio runtime whose clock jumps to the next
//! timer whenever every task waits. Awaiting a database socket there would let simulated
//! time leap forward in the middle of a write. The server drivers (tokio-postgres,
//! mysql_async) therefore run on a worker thread with its own runtime, and the caller
//! blocks on the answer: the simulated clock cannot move while the database works.
//!
//! Every value travels as SQL literal text on the way in and as text on the way out
//! (PostgreSQL's simple-query protocol, MySQL's text protocol, SQLite's dynamic values), so
//! no driver type mapping stands between the workload and what the diff engine reads.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread;

use super::DataError;

/// The engine family of a database, which decides the SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// A result set: rows of cells, each `None` for SQL NULL.
pub(crate) type TextRows = Vec<Vec<Option<String>>>;

enum Cmd {
    Exec(String, mpsc::Sender<Result<(), DataError>>),
    Query(String, mpsc::Sender<Result<TextRows, DataError>>),
}

/// A PostgreSQL or MySQL connection living on its own thread.
struct Worker {
    tx: Option<Mutex<mpsc::Sender<Cmd>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop; waiting for it means the session has
        // said goodbye before anyone drops its database (otherwise the server must kill it).
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    fn start(dialect: Dialect, url: String) -> Result<Worker, DataError> {
        let (tx, rx) = mpsc::channel::<Cmd>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DataError>>();
        let thread = thread::Builder::new()
            .name(format!("regionsim-db-{dialect:?}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(DataError::Database(format!("worker runtime: {e}"))));
                        return;
                    }
                };
                match dialect {
                    Dialect::Postgres => rt.block_on(pg_worker(url, rx, ready_tx)),
                    Dialect::Mysql => rt.block_on(mysql_worker(url, rx, ready_tx)),
                    Dialect::Sqlite => {
                        let _ = ready_tx.send(Err(DataError::Database("sqlite needs no worker".into())));
                    }
                }
            })
            .map_err(|e| DataError::Database(format!("cannot start a database worker: {e}")))?;
        let worker = Worker { tx: Some(Mutex::new(tx)), thread: Some(thread) };
        ready_rx.recv().map_err(|_| DataError::Database("database worker died".into()))??;
        Ok(worker)
    }

    fn send(&self, cmd: Cmd) -> Result<(), DataError> {
        self.tx
            .as_ref()
            .ok_or_else(|| DataError::Database("database worker stopped".into()))?
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(cmd)
            .map_err(|_| DataError::Database("database worker stopped".into()))
    }

    fn exec(&self, sql: String) -> Result<(), DataError> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Exec(sql, tx))?;
        rx.recv().map_err(|_| DataError::Database("database worker stopped".into()))?
    }

    fn query(&self, sql: String) -> Result<TextRows, DataError> {
        let (tx, rx) = mpsc::channel();
        self.send(Cmd::Query(sql, tx))?;
        rx.recv().map_err(|_| DataError::Database("database worker stopped".into()))?
    }
}

async fn pg_worker(url: String, rx: mpsc::Receiver<Cmd>, ready: mpsc::Sender<Result<(), DataError>>) {
    let pg_err = |e: tokio_postgres::Error| DataError::Database(format!("postgres: {e}"));
    let (client, connection) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(DataError::Database(format!("cannot connect to {url}: {e}"))));
            return;
        }
    };
    let conn_task = tokio::spawn(connection);
    // A simulated cluster needs no durability; without the commit flush PostgreSQL keeps up
    // with an hour of simulated workload replayed in one go.
    if let Err(e) = client.batch_execute("SET synchronous_commit = off").await {
        let _ = ready.send(Err(pg_err(e)));
        return;
    }
    let _ = ready.send(Ok(()));
    // The std receiver blocks this thread, which is fine: the runtime is ours alone and the
    // connection task makes progress inside each block_on'd request below.
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Exec(sql, reply) => {
                let _ = reply.send(client.batch_execute(&sql).await.map_err(pg_err));
            }
            Cmd::Query(sql, reply) => {
                let res = client.simple_query(&sql).await.map_err(pg_err).map(|msgs| {
                    msgs.into_iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(row) => {
                                Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect())
                            }
                            _ => None,
                        })
                        .collect()
                });
                let _ = reply.send(res);
            }
        }
    }
    drop(client);
    let _ = conn_task.await;
}

async fn mysql_worker(url: String, rx: mpsc::Receiver<Cmd>, ready: mpsc::Sender<Result<(), DataError>>) {
    use mysql_async::prelude::Queryable;
    let my_err = |e: mysql_async::Error| DataError::Database(format!("mysql: {e}"));
    let opts = match mysql_async::Opts::from_url(&url) {
        Ok(o) => o,
        Err(e) => {
            let _ = ready.send(Err(DataError::BadUrl(format!("{url}: {e}"))));
            return;
        }
    };
    let mut conn = match mysql_async::Conn::new(opts).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(DataError::Database(format!("cannot connect to {url}: {e}"))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Exec(sql, reply) => {
                let _ = reply.send(conn.query_drop(sql).await.map_err(my_err));
            }
            Cmd::Query(sql, reply) => {
                let res = conn.query::<mysql_async::Row, _>(sql).await.map_err(my_err).map(|rows| {
                    rows.into_iter()
                        .map(|row| {
                            (0..row.len())
                                .map(|i| match row.as_ref(i) {
                                    None | Some(mysql_async::Value::NULL) => None,
                                    Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                                    Some(mysql_async::Value::Int(v)) => Some(v.to_string()),
                                    Some(mysql_async::Value::UInt(v)) => Some(v.to_string()),
                                    Some(other) => Some(other.as_sql(true).trim_matches('\'').to_string()),
                                })
                                .collect()
                        })
                        .collect()
                });
                let _ = reply.send(res);
            }
        }
    }
    let _ = conn.disconnect().await;
}

enum Handle {
    Sqlite(Mutex<rusqlite::Connection>),
    Remote(Worker),
}

/// One database (a SQLite file or a server database) with a synchronous SQL interface.
pub(crate) struct Database {
    pub dialect: Dialect,
    /// The database name (server) or file stem (SQLite).
    pub name: String,
    /// What a client (the diff engine) opens: `sqlite:///abs/path.db`,
    /// `postgres://user@host:port/name`, `mysql://user@host:port/name`.
    pub url: String,
    /// The SQLite file, when the backend is SQLite.
    pub path: Option<PathBuf>,
    handle: Handle,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("dialect", &self.dialect).field("url", &self.url).finish()
    }
}

impl Database {
    pub fn open_sqlite(path: PathBuf, name: &str) -> Result<Database, DataError> {
        let conn = rusqlite::Connection::open(&path).map_err(sqlite_err)?;
        // WAL lets the diff engine read while the workload writes.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;").map_err(sqlite_err)?;
        Ok(Database {
            dialect: Dialect::Sqlite,
            name: name.to_string(),
            url: format!("sqlite://{}", path.display()),
            path: Some(path),
            handle: Handle::Sqlite(Mutex::new(conn)),
        })
    }

    /// Connects to `url` (a PostgreSQL or MySQL URL naming the database itself).
    pub fn connect(dialect: Dialect, url: &str, name: &str) -> Result<Database, DataError> {
        let worker = Worker::start(dialect, url.to_string())?;
        Ok(Database {
            dialect,
            name: name.to_string(),
            url: url.to_string(),
            path: None,
            handle: Handle::Remote(worker),
        })
    }

    /// Runs statements (separated by `;`) as one batch.
    pub fn exec(&self, sql: &str) -> Result<(), DataError> {
        match &self.handle {
            Handle::Sqlite(c) => c.lock().unwrap_or_else(|e| e.into_inner()).execute_batch(sql).map_err(sqlite_err),
            Handle::Remote(w) => w.exec(sql.to_string()),
        }
    }

    /// Runs one query and returns every cell as text.
    pub fn query(&self, sql: &str) -> Result<TextRows, DataError> {
        match &self.handle {
            Handle::Sqlite(c) => {
                let conn = c.lock().unwrap_or_else(|e| e.into_inner());
                let mut stmt = conn.prepare(sql).map_err(sqlite_err)?;
                let n = stmt.column_count();
                let mut rows = stmt.query([]).map_err(sqlite_err)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(sqlite_err)? {
                    let mut cells = Vec::with_capacity(n);
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        cells.push(match row.get_ref(i).map_err(sqlite_err)? {
                            ValueRef::Null => None,
                            ValueRef::Integer(v) => Some(v.to_string()),
                            ValueRef::Real(v) => Some(format!("{v}")),
                            ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
                        });
                    }
                    out.push(cells);
                }
                Ok(out)
            }
            Handle::Remote(w) => w.query(sql.to_string()),
        }
    }
}

fn sqlite_err(e: rusqlite::Error) -> DataError {
    DataError::Database(format!("sqlite: {e}"))
}

/// Creates and drops databases on a server (PostgreSQL or MySQL) given by its URL.
pub(crate) struct Server {
    pub dialect: Dialect,
    url: url::Url,
    admin: Database,
}

impl Server {
    pub fn connect(dialect: Dialect, server_url: &str) -> Result<Server, DataError> {
        let url = url::Url::parse(server_url).map_err(|e| DataError::BadUrl(format!("{server_url}: {e}")))?;
        let admin = Database::connect(dialect, server_url, url.path().trim_start_matches('/'))?;
        Ok(Server { dialect, url, admin })
    }

    /// Creates database `name` (dropping a leftover of the same name) and connects to it.
    pub fn create(&self, name: &str) -> Result<Database, DataError> {
        let q = quote_ident(self.dialect, name);
        self.admin.exec(&format!("DROP DATABASE IF EXISTS {q}"))?;
        self.admin.exec(&format!("CREATE DATABASE {q}"))?;
        let mut url = self.url.clone();
        url.set_path(&format!("/{name}"));
        // A database nobody could connect to would be nobody's to drop.
        Database::connect(self.dialect, url.as_str(), name).inspect_err(|_| {
            let _ = self.drop_database(name);
        })
    }

    /// The simulator's databases on this server (`rsim_*`), whoever made them.
    pub fn simulator_databases(&self) -> Result<Vec<String>, DataError> {
        let sql = match self.dialect {
            Dialect::Postgres => "SELECT datname FROM pg_database",
            _ => "SELECT schema_name FROM information_schema.schemata",
        };
        let rows = self.admin.query(sql)?;
        Ok(rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).filter(|n| n.starts_with("rsim_")).collect())
    }

    /// Drops the databases that runs which ended without dropping their own left behind (a
    /// run killed or interrupted, or a store never dropped): those whose creating process no
    /// longer runs. Only on a server on this machine (another machine's process ids say
    /// nothing here), only where /proc tells which processes run, and never a database
    /// whose name names no process (an older build's, which may be running now). Returns
    /// the names dropped.
    pub fn sweep_abandoned(&self) -> Vec<String> {
        if !on_this_machine(&self.url) {
            return Vec::new();
        }
        let names = match self.simulator_databases() {
            Ok(names) => names,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the simulated clusters' databases");
                return Vec::new();
            }
        };
        let mut dropped = Vec::new();
        for name in names {
            if owner_pid(&name).is_none_or(|pid| process_runs(pid) != Some(false)) {
                continue;
            }
            match self.drop_database(&name) {
                Ok(()) => dropped.push(name),
                Err(e) => tracing::warn!(database = %name, error = %e, "could not drop an abandoned database"),
            }
        }
        if !dropped.is_empty() {
            tracing::info!(count = dropped.len(), "dropped the databases of runs that ended without dropping them");
        }
        dropped
    }

    pub fn drop_database(&self, name: &str) -> Result<(), DataError> {
        let q = quote_ident(self.dialect, name);
        let sql = match self.dialect {
            Dialect::Postgres => format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {q}"),
        };
        self.admin.exec(&sql)
    }
}

/// The name part of one store's databases, `p<pid>r<counter><random>` (as in
/// `rsim_p4242r1a3f09c_us_east_1_orders`): the process id tells a live run's databases from
/// an abandoned run's ([`Server::sweep_abandoned`]), the counter and the random part keep
/// two stores of one process, and two machines' processes of one id, apart.
pub(crate) fn run_id(counter: u64) -> String {
    format!("p{}r{counter:x}{:06x}", std::process::id(), rand::random::<u32>() & 0xff_ffff)
}

/// The process that created database `name`, when its name says (see [`run_id`]).
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("rsim_p")?;
    let digits = &rest[..rest.find('r')?];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether process `pid` of this machine runs; `None` where /proc does not tell.
fn process_runs(pid: u32) -> Option<bool> {
    if !std::path::Path::new("/proc/self").exists() {
        return None;
    }
    Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Whether a server URL names this machine (loopback), whose process ids are ours.
fn on_this_machine(url: &url::Url) -> bool {
    match url.host() {
        // `postgres://` and `mysql://` are not special schemes: the url crate leaves an IPv4
        // address as a domain.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Quotes an identifier the dialect's way.
pub(crate) fn quote_ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_name_names_the_process_that_made_it() {
        let name = format!("rsim_{}_us_east_1_orders", run_id(3));
        assert_eq!(owner_pid(&name), Some(std::process::id()), "{name}");
        assert_ne!(process_runs(std::process::id()), Some(false), "this process runs");
        // An older build's names (hex, no process id) and other databases name no process.
        for other in
            ["rsim_50cbe802f9d_us_east_1_retail_orders_use1", "rsim_pr1", "rsim_p+12r1", "rsim_p12", "postgres"]
        {
            assert_eq!(owner_pid(other), None, "{other}");
        }
    }

    #[test]
    fn only_a_server_on_this_machine_is_swept() {
        for (u, here) in [
            ("postgres://postgres@127.0.0.1:5432/test", true),
            ("mysql://root@localhost:3306/test", true),
            ("postgres://postgres@[::1]:5432/test", true),
            ("postgres://postgres@db.example.invalid:5432/test", false),
            ("mysql://root@192.0.2.10:3306/test", false),
        ] {
            assert_eq!(on_this_machine(&url::Url::parse(u).unwrap()), here, "{u}");
        }
    }
}
