//! The start test of every function package: each `functions/<name>/tests/starts_alone.rs`
//! includes this file (`#[path]`; `.ci/check_build_metadata.py` refuses a package without
//! one) and gives it `env!("CARGO_BIN_EXE_failover-<name>")`, the binary Cargo built.
//!
//! [`start_alone`] does what Lambda does with a package: the binary alone, as `bootstrap`,
//! in an otherwise empty directory that is its working directory and `LAMBDA_TASK_ROOT`,
//! with the environment Lambda sets and nothing else (no `FAILOVER_CA_BUNDLE`, no HOME, no
//! AWS profile), against a fake Runtime API on 127.0.0.1 that never answers. The function
//! has started when it asks for its first event (`GET /2018-06-01/runtime/invocation/next`);
//! a function whose start needs a file beside it exits before that. The process is killed
//! then. No other address is ever contacted: the credentials are in the environment and the
//! instance metadata client is disabled.
#![allow(dead_code)]

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The request line of the first poll.
const NEXT: &[u8] = b"GET /2018-06-01/runtime/invocation/next ";
/// A debug build starts in milliseconds; this bounds a loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

/// How a start ended.
#[derive(Debug)]
pub enum Start {
    /// It asked the Runtime API for its first event; the task directory held these names
    /// then (only `bootstrap`, unless the function wrote beside itself).
    Polled { task_dir: Vec<String> },
    /// It exited first.
    Exited { status: ExitStatus, stderr: String },
}

/// Runs `binary` as a Lambda package of its own; `env` is added to Lambda's environment.
pub fn start_alone(binary: &str, env: &[(&str, &str)]) -> Start {
    let name = Path::new(binary).file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    // Under target/ (CARGO_TARGET_TMPDIR): a system temp directory may be mounted noexec.
    let scratch = Scratch(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("starts-alone-{name}-{}-{nanos}", std::process::id())),
    );
    let task = scratch.0.join("task");
    std::fs::create_dir_all(&task).unwrap_or_else(|e| panic!("{}: {e}", task.display()));
    let bootstrap = task.join("bootstrap");
    std::fs::copy(binary, &bootstrap).unwrap_or_else(|e| panic!("copy {binary} to {}: {e}", bootstrap.display()));
    let stderr_path = scratch.0.join("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("a file for the function's stderr");

    let api = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the Runtime API");
    api.set_nonblocking(true).expect("a non-blocking listener");
    let api_addr = api.local_addr().expect("the listener's address").to_string();

    let mut cmd = Command::new(&bootstrap);
    cmd.current_dir(&task)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api_addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/failover/test/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "starts-alone")
        // The template's LoggingConfig: JSON at INFO.
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("LAMBDA_TASK_ROOT", &task)
        .env("AWS_REGION", "us-west-2")
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "AKIDSTARTSALONE")
        .env("AWS_SECRET_ACCESS_KEY", "starts-alone")
        .env("AWS_SESSION_TOKEN", "starts-alone")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = Running(spawn(&mut cmd, &bootstrap));

    let deadline = Instant::now() + LIMIT;
    let mut conns: Vec<(TcpStream, Vec<u8>)> = Vec::new();
    loop {
        match api.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(true).expect("a non-blocking connection");
                conns.push((s, Vec::new()));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("the fake Runtime API: {e}"),
        }
        for (s, got) in &mut conns {
            let mut buf = [0u8; 1024];
            // Nothing yet (WouldBlock) or a closed connection: look again next round.
            if let Ok(n) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            if got.starts_with(NEXT) {
                let mut task_dir: Vec<String> = std::fs::read_dir(&task)
                    .expect("the task directory")
                    .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
                    .collect();
                task_dir.sort();
                return Start::Polled { task_dir };
            }
        }
        if let Some(status) = child.0.try_wait().expect("the function's status") {
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            return Start::Exited { status, stderr };
        }
        if Instant::now() > deadline {
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let seen: Vec<String> = conns.iter().map(|(_, g)| String::from_utf8_lossy(g).into_owned()).collect();
            panic!("{name}: no Runtime API poll within {LIMIT:?}; requests seen: {seen:?}; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that `binary` starts as a package of its own, with nothing beside its bootstrap,
/// and writes nothing there.
pub fn assert_starts_alone(binary: &str) {
    match start_alone(binary, &[]) {
        Start::Polled { task_dir } => {
            assert_eq!(task_dir, ["bootstrap"], "{binary}: wrote beside its bootstrap (a task root is read-only)")
        }
        Start::Exited { status, stderr } => {
            panic!("{binary}: exited ({status}) before its first Runtime API poll, alone in its directory:\n{stderr}")
        }
    }
}

/// Spawns, retrying while the fresh copy is still open for writing somewhere (ETXTBSY: a
/// process forked by another test thread during the copy holds it for a moment).
fn spawn(cmd: &mut Command, bootstrap: &Path) -> Child {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(c) => return c,
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("start {}: {e}", bootstrap.display()),
        }
    }
}

/// The scratch directory, removed at the end.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The function's process, killed at the end (it waits for an event that never comes).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
