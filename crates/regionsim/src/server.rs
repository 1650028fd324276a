//! The HTTP side of the simulator: one small hyper server per port, the request and
//! response types every simulated service sees, and the [`HttpService`] trait a service
//! implements to plug in.
//!
//! The server owns everything that is the same for every protocol: reading the body,
//! taking the Region from the SigV4 credential scope, the Region-down and per-endpoint
//! faults, extra latency, throttling and the call log (with the caller's access key id and
//! what the service says IAM evaluates, [`HttpService::authorizations`]). A service only
//! turns a request into a response; it renders errors in its own protocol's shape through
//! [`HttpService::error_response`], which is how the server's injected throttling and
//! 5xx faults come out in the shape the SDK parses.
//!
//! This module must never interpret a service's body: that is the service's job.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::iam::Authorization;
use crate::sim::{EndpointFault, Gate, Sim};

/// Where a request arrived: the service behind the port, and for a Regional endpoint (an
/// ARC cluster endpoint, a Region's web health endpoint) its index and fixed Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The service name (see [`crate::service`]).
    pub service: String,
    /// The endpoint's index among the service's endpoints (0 for a shared endpoint).
    pub index: usize,
    /// The Region of a Regional endpoint; `None` for a port shared by both Regions.
    pub region: Option<String>,
    pub addr: SocketAddr,
}

/// One HTTP request as a simulated service sees it: fully read, with the signing Region.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The URL path, percent-encoded as sent.
    pub path: String,
    /// The raw query string (without `?`), empty when absent.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The Region of the SigV4 credential scope (`Authorization` header or presigned
    /// `X-Amz-Credential`), if the request was signed.
    pub region: Option<String>,
    pub listener: Listener,
}

impl Request {
    /// The Region the request is for: the signing Region, else the endpoint's own Region.
    pub fn effective_region(&self) -> Option<&str> {
        self.region.as_deref().or(self.listener.region.as_deref())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query string decoded into pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers,
            body: body.into(),
        }
    }

    /// An empty 200.
    pub fn empty() -> Self {
        Self { status: StatusCode::OK, headers: HeaderMap::new(), body: Bytes::new() }
    }

    /// Adds a header; invalid names or values are dropped (they are programming errors
    /// in a service, and a response is still better than a panic inside the server).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            self.headers.insert(n, v);
        }
        self
    }
}

/// A service error before it is rendered in the service's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// The error code the SDK matches (`ValidationException`, `NotFound`, `NoSuchKey`).
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into() }
    }

    /// Whether the query protocol calls it a `Sender` (4xx) or `Receiver` (5xx) fault.
    pub fn is_sender_fault(&self) -> bool {
        self.status < 500
    }
}

/// The future a service returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// A simulated AWS service behind one or more ports.
///
/// Register one with [`crate::SimBuilder::service`] or [`Sim::register_service`]. The
/// server has already applied Region-down, endpoint faults, latency and throttling when
/// [`HttpService::handle`] runs, and records the call with [`HttpService::operation`].
pub trait HttpService: Send + Sync + 'static {
    /// Turns a request into a response. Errors are responses too (see `error_response`).
    fn handle(&self, req: Request) -> ResponseFuture;

    /// The operation name for the call log. The default understands the JSON protocols
    /// (`X-Amz-Target`), the query protocol (`Action=` in the form body or query string)
    /// and Smithy RPC v2 (`/service/S/operation/Op`); REST services override it.
    fn operation(&self, req: &Request) -> String {
        operation_name(req)
    }

    /// What IAM evaluates for this call, read from the request as the service parses it:
    /// one [`Authorization`] per action and resource, with the request's condition keys,
    /// and the requests the service makes on the caller's behalf (see [`crate::iam`]).
    /// Data for the call log only: it must not change what the service answers. The
    /// default knows nothing, which the least-privilege test reports as a gap.
    fn authorizations(&self, _req: &Request, _operation: &str) -> Vec<Authorization> {
        Vec::new()
    }

    /// Whether an operation changes state (the drill checks no mutating call repeats). Plain
    /// HTTP services name their calls by method and path (`GET /health`).
    fn is_mutating(&self, operation: &str) -> bool {
        !["Get", "List", "Describe", "Head", "GET ", "HEAD "].iter().any(|p| operation.starts_with(p))
    }

    /// Renders an error in this service's wire format.
    fn error_response(&self, req: &Request, err: &ApiError) -> Response;

    /// The error this service answers for an injected 5xx fault.
    fn internal_error(&self) -> ApiError {
        ApiError::new(500, "InternalFailure", "simulated server error")
    }

    /// The error this service answers when the simulator throttles a call.
    fn throttling_error(&self) -> ApiError {
        ApiError::new(400, "ThrottlingException", "Rate exceeded")
    }
}

/// The operation name of a request in the RPC protocols; `METHOD /path` otherwise.
pub fn operation_name(req: &Request) -> String {
    if let Some(target) = req.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    if let Some(i) = req.path.find("/operation/") {
        return req.path[i + "/operation/".len()..].trim_end_matches('/').to_string();
    }
    let form = req.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form && let Some((_, v)) = url::form_urlencoded::parse(&req.body).find(|(k, _)| k == "Action") {
        return v.into_owned();
    }
    if let Some(v) = req.query_param("Action") {
        return v;
    }
    format!("{} {}", req.method, req.path)
}

/// The Region in a SigV4 credential scope (`AKID/20250101/us-east-1/service/aws4_request`).
pub fn sigv4_region(headers: &HeaderMap, query: &str) -> Option<String> {
    let from_scope = |scope: &str| scope.split('/').nth(2).filter(|r| !r.is_empty()).map(str::to_string);
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let cred = auth.split([' ', ',']).find_map(|part| part.trim().strip_prefix("Credential="));
        if let Some(r) = cred.and_then(from_scope) {
            return Some(r);
        }
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")
        .and_then(|(_, v)| from_scope(&v))
}

/// The access key id of a SigV4 credential (`Credential=AKID/20250101/...` in the
/// `Authorization` header, or a presigned `X-Amz-Credential`): who signed the request.
pub fn sigv4_access_key(headers: &HeaderMap, query: &str) -> Option<String> {
    let from_scope = |scope: &str| scope.split('/').next().filter(|k| !k.is_empty()).map(str::to_string);
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let cred = auth.split([' ', ',']).find_map(|part| part.trim().strip_prefix("Credential="));
        if let Some(k) = cred.and_then(from_scope) {
            return Some(k);
        }
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")
        .and_then(|(_, v)| from_scope(&v))
}

/// What the server does with one request after the fault checks.
enum Verdict {
    Answer(Response),
    /// Never answer while the fault lasts; the connection stays open (a hanging
    /// endpoint). Carries the Region whose health was checked, and the caller's Region.
    Hang(Option<String>, Option<String>),
    /// Close the connection without a response.
    Drop,
}

/// Binds `addr` and serves `listener`'s service until the simulator is dropped. A listener
/// whose gate says "refuse" closes its socket (connections are refused) and binds again
/// on the same port when the gate opens.
pub(crate) async fn bind(sim: &Sim, service: &str, index: usize, region: Option<String>) -> std::io::Result<Listener> {
    let socket = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = socket.local_addr()?;
    let info = Listener { service: service.to_string(), index, region, addr };
    let weak = sim.downgrade();
    let listener = info.clone();
    tokio::spawn(async move { serve(weak, listener, socket).await });
    Ok(info)
}

async fn serve(weak: crate::sim::WeakSim, info: Listener, socket: TcpListener) {
    let mut socket = Some(socket);
    loop {
        let Some(sim) = weak.upgrade() else { return };
        let mut changes = sim.subscribe_changes();
        let refuse = sim.gate(&info, info.region.as_deref()) == Gate::Refuse;
        if refuse {
            // Closing the socket is what makes a dead endpoint refuse connections.
            socket = None;
            drop(sim);
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        }
        if socket.is_none() {
            match TcpListener::bind(info.addr).await {
                Ok(s) => socket = Some(s),
                Err(e) => {
                    tracing::warn!(addr = %info.addr, error = %e, "could not bind the endpoint again");
                    let retry = sim.clock().sleep(std::time::Duration::from_millis(50));
                    drop(sim);
                    retry.await;
                    continue;
                }
            }
        }
        let Some(listener) = socket.as_ref() else { continue };
        drop(sim);
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let weak = weak.clone();
                let info = info.clone();
                tokio::spawn(async move { connection(weak, info, stream).await });
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn connection(weak: crate::sim::WeakSim, info: Listener, stream: tokio::net::TcpStream) {
    let info = Arc::new(info);
    let (watch_weak, watch_info) = (weak.clone(), info.clone());
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let weak = weak.clone();
        let info = info.clone();
        async move {
            match respond(weak.clone(), &info, req).await {
                Verdict::Answer(r) => {
                    let mut out = http::Response::new(Full::new(r.body));
                    *out.status_mut() = r.status;
                    *out.headers_mut() = r.headers;
                    Ok::<_, DropConnection>(out)
                }
                Verdict::Hang(region, caller) => {
                    hang_until_cleared(&weak, &info, region.as_deref(), caller.as_deref()).await;
                    Err(DropConnection)
                }
                Verdict::Drop => Err(DropConnection),
            }
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let Some(mut changes) = watch_weak.upgrade().map(|s| s.subscribe_changes()) else { return };
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = changes.changed() => {
                // A Regional endpoint that starts refusing also closes its open (pooled)
                // connections, so that clients meet a closed port as they would in AWS.
                let refuse = changed.is_err()
                    || watch_weak.upgrade().is_none_or(|s| {
                        watch_info.region.is_some() && s.gate(&watch_info, watch_info.region.as_deref()) == Gate::Refuse
                    });
                if refuse {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                    return;
                }
            }
        }
    }
}

/// Never answers while the endpoint's fault or its Region's outage lasts; once they clear,
/// the connection is closed (a real hung request is not answered later either), so hung
/// connections do not pile up in a long-running simulator.
async fn hang_until_cleared(weak: &crate::sim::WeakSim, info: &Listener, region: Option<&str>, caller: Option<&str>) {
    loop {
        let Some(sim) = weak.upgrade() else { return std::future::pending().await };
        let mut changes = sim.subscribe_changes();
        let still = sim.request_gate(info, region, caller) == Gate::Hang;
        drop(sim);
        if !still || changes.changed().await.is_err() {
            return;
        }
    }
}

/// Returned to hyper to close a connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a simulated fault")
    }
}

impl std::error::Error for DropConnection {}

async fn respond(weak: crate::sim::WeakSim, info: &Listener, req: http::Request<Incoming>) -> Verdict {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Verdict::Drop,
    };
    let Some(sim) = weak.upgrade() else { return Verdict::Drop };
    let query = parts.uri.query().unwrap_or("").to_string();
    let region = sigv4_region(&parts.headers, &query);
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers,
        body,
        region,
        listener: info.clone(),
    };
    dispatch(&sim, request).await
}

async fn dispatch(sim: &Sim, req: Request) -> Verdict {
    let Some(handler) = sim.service_handler(&req.listener.service) else {
        let body = format!("no simulated service is registered for `{}`", req.listener.service);
        return Verdict::Answer(Response::new(501, "text/plain", body));
    };
    // Logged before the fault gate: a call that hangs or is dropped was still attempted.
    let operation = handler.operation(&req);
    let mutating = handler.is_mutating(&operation);
    let authorizations = handler.authorizations(&req, &operation);
    let seq = sim.record_call_start(&req, &operation, mutating, authorizations);
    // A Regional endpoint lives in its own Region whatever the client signed for.
    let health_region = req.listener.region.clone().or_else(|| req.region.clone());
    let caller = sim.caller_region(&req);
    match sim.request_gate(&req.listener, health_region.as_deref(), caller.as_deref()) {
        Gate::Open => {}
        Gate::Refuse => return Verdict::Drop,
        Gate::Hang => return Verdict::Hang(health_region, caller),
    }

    let fault = sim.endpoint_fault(&req.listener);
    // The world's own cost of the call (its service's time, the round trip from the
    // caller's Region), then any injected extra latency.
    let latency = sim.call_latency(&req) + sim.extra_latency(&req.listener.service);
    if !latency.is_zero() {
        sim.clock().sleep(latency).await;
    }
    let response = match fault {
        Some(EndpointFault::ServerError) => handler.error_response(&req, &handler.internal_error()),
        Some(EndpointFault::Unavailable) => handler.error_response(
            &req,
            &ApiError::new(503, "EndpointTemporarilyUnavailableException", "the endpoint is temporarily unavailable"),
        ),
        _ if sim.roll_throttle(&req.listener.service) => handler.error_response(&req, &handler.throttling_error()),
        _ => handler.handle(req).await,
    };
    sim.record_call_end(seq, response.status.as_u16());
    Verdict::Answer(response)
}
