//! Lambda function URLs (`function-urls`): each Region serves plain HTTP on a port of its
//! own, standing in for `https://<url-id>.lambda-url.<region>.on.aws/`, and hands every
//! request to the handler registered for that Region as Lambda does with payload format
//! 2.0 (`LambdaFunctionUrlRequest` in, `LambdaFunctionUrlResponse` out, the types of
//! `aws_lambda_events`).
//!
//! The request event (https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html,
//! "Request payload format"):
//! * `rawPath` and `requestContext.http.path` are the path as sent; `rawQueryString` the
//!   query string as sent (empty when there is none); `queryStringParameters` the decoded
//!   parameters, repeated ones joined with commas.
//! * `headers`: names lower-cased, repeated headers joined with commas; `Cookie` headers
//!   are not among them but split into `cookies`. Lambda's front end adds
//!   `x-forwarded-for` (127.0.0.1), `x-forwarded-proto` (`http`: the simulator serves
//!   plain HTTP), `x-forwarded-port` and `x-amzn-trace-id`.
//! * `requestContext`: `accountId` `anonymous` (auth type NONE), `apiId` and
//!   `domainPrefix` the URL id, `domainName`, `requestId`, `time` (`12/Mar/2020:19:03:58
//!   +0000`) and `timeEpoch` (ms) from the sim clock, `http` with `method`, `path`,
//!   `protocol` (`HTTP/1.1`), `sourceIp` (127.0.0.1) and `userAgent`.
//! * `body`: absent without one; as text when the content type is text (`text/*`,
//!   `application/json`, `application/javascript`, `application/xml`) and the bytes are
//!   UTF-8; otherwise base64 with `isBase64Encoded: true`. Function URLs base64-encode every
//!   other type, forms (`application/x-www-form-urlencoded`, `multipart/form-data`)
//!   included: AWS's own introduction to function URLs says a body is base64-encoded unless
//!   the content type is `application/json` or `text/*`.
//!
//! The response: `statusCode`, `headers`, `cookies` (one `set-cookie` each), `body` (decoded
//! from base64 when `isBase64Encoded`). A handler that panics, a status outside 100-999 or
//! a body that is not base64 when it says it is answers 502, as Lambda answers a function
//! error. A Region that is down closes its port (connections are refused) or hangs, like
//! every Regional endpoint.
//!
//! ```
//! use regionsim::SimBuilder;
//! use regionsim::function_urls::{FunctionUrls, LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sim = SimBuilder::new(failover_core::SharedClock::system()).start().await.unwrap();
//! let urls = sim.service::<FunctionUrls>();
//! urls.set_handler("us-east-1", |event: LambdaFunctionUrlRequest| async move {
//!     let mut resp = LambdaFunctionUrlResponse::default();
//!     resp.status_code = 200;
//!     resp.body = event.raw_path;
//!     resp
//! });
//! assert!(urls.url("us-east-1").unwrap().starts_with("http://127.0.0.1:"));
//! # });
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlRequestContext, LambdaFunctionUrlRequestContextHttpDescription,
    LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = LambdaFunctionUrlResponse> + Send + 'static>>;

/// A Region's function: the event in, the response out.
pub type Handler = Arc<dyn Fn(LambdaFunctionUrlRequest) -> HandlerFuture + Send + Sync + 'static>;

/// The function URLs of both Regions: `sim.service::<FunctionUrls>()`.
pub struct FunctionUrls {
    sim: WeakSim,
    handlers: Mutex<BTreeMap<String, Handler>>,
    /// Every event handed to a handler, with its Region, in order.
    events: Arc<Mutex<Vec<(String, LambdaFunctionUrlRequest)>>>,
    requests: AtomicU64,
}

impl FunctionUrls {
    /// Serves one port per Region of the pair.
    pub fn register(setup: &mut Setup<'_>) {
        let svc = Arc::new(FunctionUrls {
            sim: setup.sim().downgrade(),
            handlers: Mutex::new(BTreeMap::new()),
            events: Arc::default(),
            requests: AtomicU64::new(0),
        });
        setup.serve(service::FUNCTION_URLS, svc);
        setup.listen_regional(service::FUNCTION_URLS, setup.sim().regions().to_vec(), "/");
    }

    /// The base URL (`http://127.0.0.1:port/`) standing in for `region`'s
    /// `https://<url-id>.lambda-url.<region>.on.aws/`.
    pub fn url(&self, region: &str) -> Option<String> {
        let sim = self.sim.upgrade()?;
        sim.endpoints().regional(service::FUNCTION_URLS).iter().find(|(_, r)| r == region).map(|(u, _)| u.clone())
    }

    /// The URL id of `region`'s function URL (32 lower-case characters, stable).
    pub fn url_id(region: &str) -> String {
        let a = stable_hash(region.as_bytes(), 0x5eed);
        let b = stable_hash(region.as_bytes(), a);
        format!("{a:016x}{b:016x}")
    }

    /// The host name AWS would give `region`'s function URL.
    pub fn domain_name(region: &str) -> String {
        format!("{}.lambda-url.{region}.on.aws", Self::url_id(region))
    }

    /// Makes `handler` answer `region`'s function URL (replacing any earlier one).
    pub fn set_handler<F, Fut>(&self, region: &str, handler: F)
    where
        F: Fn(LambdaFunctionUrlRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = LambdaFunctionUrlResponse> + Send + 'static,
    {
        let boxed: Handler =
            Arc::new(move |event: LambdaFunctionUrlRequest| -> HandlerFuture { Box::pin(handler(event)) });
        self.set_boxed_handler(region, boxed);
    }

    /// [`FunctionUrls::set_handler`] with a handler already boxed.
    pub fn set_boxed_handler(&self, region: &str, handler: Handler) {
        lock(&self.handlers).insert(region.to_string(), handler);
    }

    /// Removes `region`'s handler: its URL answers 502 until another is set.
    pub fn clear_handler(&self, region: &str) {
        lock(&self.handlers).remove(region);
    }

    /// Every event handed to a handler so far, with its Region, in order.
    pub fn events(&self) -> Vec<(String, LambdaFunctionUrlRequest)> {
        lock(&self.events).clone()
    }
}

fn stable_hash(bytes: &[u8], seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether Lambda passes a body of this content type as text.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime.starts_with("text/")
        || matches!(mime.as_str(), "application/json" | "application/javascript" | "application/xml")
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, usize, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as usize, day)
}

/// `requestContext.time`: `01/Jan/2026:00:00:00 +0000`.
fn clf_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000", MONTHS[m - 1], rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The payload-format-2.0 event Lambda builds from an HTTP request.
fn to_event(req: &Request, region: &str, now: SystemTime, n: u64) -> LambdaFunctionUrlRequest {
    let mut headers = HeaderMap::new();
    let mut cookies = Vec::new();
    for name in req.headers.keys() {
        let values: Vec<&str> = req.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        if name == http::header::COOKIE {
            for v in values {
                cookies.extend(v.split(';').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string));
            }
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(&values.join(",")) {
            headers.insert(name.clone(), v);
        }
    }
    let millis = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()) as i64;
    let added = [
        ("x-forwarded-for", "127.0.0.1".to_string()),
        ("x-forwarded-proto", "http".to_string()),
        ("x-forwarded-port", req.listener.addr.port().to_string()),
        ("x-amzn-trace-id", format!("Root=1-{:08x}-{n:024x}", millis / 1000)),
    ];
    for (name, value) in added {
        if !headers.contains_key(name)
            && let Ok(v) = HeaderValue::from_str(&value)
        {
            headers.insert(name, v);
        }
    }

    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in req.query_pairs() {
        match params.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v),
            None => params.push((k, vec![v])),
        }
    }
    let query: HashMap<String, String> = params.into_iter().map(|(k, v)| (k, v.join(","))).collect();

    let (body, encoded) = if req.body.is_empty() {
        (None, false)
    } else {
        match std::str::from_utf8(&req.body) {
            Ok(text) if is_text(req.header("content-type")) => (Some(text.to_string()), false),
            _ => (Some(base64::engine::general_purpose::STANDARD.encode(&req.body)), true),
        }
    };

    let url_id = FunctionUrls::url_id(region);
    let mut http_desc = LambdaFunctionUrlRequestContextHttpDescription::default();
    http_desc.method = Some(req.method.to_string());
    http_desc.path = Some(req.path.clone());
    http_desc.protocol = Some("HTTP/1.1".to_string());
    http_desc.source_ip = Some("127.0.0.1".to_string());
    http_desc.user_agent = req.header("user-agent").map(str::to_string);

    let mut context = LambdaFunctionUrlRequestContext::default();
    context.account_id = Some("anonymous".to_string());
    context.request_id = Some(crate::wire::request_id());
    context.apiid = Some(url_id.clone());
    context.domain_name = Some(FunctionUrls::domain_name(region));
    context.domain_prefix = Some(url_id);
    context.time = Some(clf_time(now));
    context.time_epoch = millis;
    context.http = http_desc;

    let mut event = LambdaFunctionUrlRequest::default();
    event.version = Some("2.0".to_string());
    event.raw_path = Some(req.path.clone());
    event.raw_query_string = Some(req.query.clone());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = query;
    event.request_context = context;
    event.body = body;
    event.is_base64_encoded = encoded;
    event
}

fn bad_gateway() -> Response {
    Response::new(502, "text/plain", "Internal Server Error")
}

/// The HTTP response Lambda makes of a function's answer.
fn to_response(r: LambdaFunctionUrlResponse) -> Response {
    let Some(status) = u16::try_from(r.status_code).ok().and_then(|s| StatusCode::from_u16(s).ok()) else {
        return bad_gateway();
    };
    let body = match r.body {
        None => Bytes::new(),
        Some(b) if r.is_base64_encoded => match base64::engine::general_purpose::STANDARD.decode(b.as_bytes()) {
            Ok(bytes) => Bytes::from(bytes),
            Err(_) => return bad_gateway(),
        },
        Some(b) => Bytes::from(b),
    };
    let mut headers = r.headers;
    for c in &r.cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
    Response { status, headers, body }
}

impl HttpService for FunctionUrls {
    fn handle(&self, req: Request) -> ResponseFuture {
        let region = req.listener.region.clone().unwrap_or_default();
        let handler = lock(&self.handlers).get(&region).cloned();
        let now = self.sim.upgrade().map_or(UNIX_EPOCH, |s| s.clock().now());
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let event = to_event(&req, &region, now, n);
        let events = self.events.clone();
        Box::pin(async move {
            let Some(handler) = handler else {
                tracing::warn!(region = %region, "function URL called with no handler set");
                return bad_gateway();
            };
            lock(&events).push((region, event.clone()));
            // On a task of its own: a handler that panics is a function error (502), not a
            // dropped connection.
            match tokio::spawn(handler(event)).await {
                Ok(resp) => to_response(resp),
                Err(_) => bad_gateway(),
            }
        })
    }

    fn operation(&self, req: &Request) -> String {
        format!("{} {}", req.method, req.path)
    }

    fn is_mutating(&self, operation: &str) -> bool {
        !["GET ", "HEAD ", "OPTIONS "].iter().any(|m| operation.starts_with(m))
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        Response::new(err.status, "application/json", serde_json::json!({ "Message": err.message }).to_string())
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(429, "TooManyRequestsException", "Rate Exceeded.")
    }

    fn internal_error(&self) -> ApiError {
        ApiError::new(502, "InternalServerError", "Internal Server Error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_times_are_in_common_log_format() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        assert_eq!(clf_time(t), "01/Jan/2026:00:00:00 +0000");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_583_348_638);
        assert_eq!(clf_time(t), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(clf_time(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn text_types() {
        assert!(is_text(Some("application/json; charset=utf-8")));
        assert!(is_text(Some("text/html")));
        assert!(!is_text(Some("application/x-www-form-urlencoded")));
        assert!(!is_text(Some("application/octet-stream")));
        assert!(!is_text(None));
    }

    #[test]
    fn url_ids_are_stable_and_distinct() {
        let a = FunctionUrls::url_id("us-east-1");
        assert_eq!(a.len(), 32);
        assert_eq!(a, FunctionUrls::url_id("us-east-1"));
        assert_ne!(a, FunctionUrls::url_id("us-west-2"));
        assert!(FunctionUrls::domain_name("us-west-2").ends_with(".lambda-url.us-west-2.on.aws"));
    }
}
