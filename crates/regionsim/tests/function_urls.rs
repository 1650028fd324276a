//! Lambda function URLs through a plain HTTP/1.1 client (hyper's): the handler sees the
//! payload-format-2.0 event Lambda builds (raw and parsed query string, joined headers,
//! cookies, the request context, text or base64 bodies) and its response comes back as
//! HTTP (status, headers, cookies, body). Time is virtual (paused tokio clock).

mod common;

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use failover_core::SharedClock;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use regionsim::function_urls::{FunctionUrls, LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use regionsim::{DownMode, Sim, SimBuilder, service};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";

async fn start() -> Sim {
    let clock = SharedClock::virtual_at(common::epoch());
    SimBuilder::new(clock).seed(7).world_as_planned().start().await.expect("the simulator starts")
}

/// `host:port` of a base URL (`http://127.0.0.1:port/`).
fn authority(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// One request on a fresh connection: `path` with its query, the headers, the body.
async fn send(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<http::Response<Bytes>, Box<dyn std::error::Error + Send + Sync>> {
    let host = authority(url);
    let stream = tokio::net::TcpStream::connect(&host).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path).header("host", host.as_str());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender.send_request(req.body(Full::new(Bytes::copy_from_slice(body)))?).await?;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok(http::Response::from_parts(parts, bytes))
}

fn response(status: i64, body: &str) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = status;
    r.body = Some(body.to_string());
    r
}

/// The one event the handler of `region` has seen.
fn only_event(urls: &FunctionUrls, region: &str) -> LambdaFunctionUrlRequest {
    let events: Vec<LambdaFunctionUrlRequest> =
        urls.events().into_iter().filter(|(r, _)| r == region).map(|(_, e)| e).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    events.into_iter().next().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_get_reaches_the_handler_as_lambda_builds_the_event() {
    let sim = start().await;
    let urls = sim.service::<FunctionUrls>();
    urls.set_handler(EAST, |_event: LambdaFunctionUrlRequest| async move {
        let mut r = response(200, "<p>ok</p>");
        r.headers.insert("content-type", HeaderValue::from_static("text/html; charset=utf-8"));
        r.headers.insert("x-approval", HeaderValue::from_static("shown"));
        r.cookies = vec!["session=abc; Path=/; HttpOnly".to_string(), "theme=dark".to_string()];
        r
    });
    let url = urls.url(EAST).expect("a URL for us-east-1");
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "{url}");
    assert_eq!(sim.endpoints().regional(service::FUNCTION_URLS).len(), 2);

    let resp = send(
        &url,
        "GET",
        "/approve?request=r1&decision=approve&tag=a&tag=b%20c",
        &[("user-agent", "failover-test/1"), ("cookie", "a=1; b=2"), ("X-Multi", "one"), ("x-multi", "two")],
        b"",
    )
    .await
    .expect("the function URL answers");

    // The response as the handler made it.
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.headers()["x-approval"], "shown");
    let cookies: Vec<&str> = resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(cookies, ["session=abc; Path=/; HttpOnly", "theme=dark"]);
    assert_eq!(&resp.body()[..], b"<p>ok</p>");

    // The event as Lambda builds it.
    let e = only_event(&urls, EAST);
    assert_eq!(e.version.as_deref(), Some("2.0"));
    assert_eq!(e.raw_path.as_deref(), Some("/approve"));
    assert_eq!(e.raw_query_string.as_deref(), Some("request=r1&decision=approve&tag=a&tag=b%20c"));
    assert_eq!(e.query_string_parameters.get("request").map(String::as_str), Some("r1"));
    assert_eq!(e.query_string_parameters.get("decision").map(String::as_str), Some("approve"));
    assert_eq!(e.query_string_parameters.get("tag").map(String::as_str), Some("a,b c"));
    assert_eq!(e.headers["x-multi"], "one,two");
    assert_eq!(e.headers["user-agent"], "failover-test/1");
    assert_eq!(e.headers["x-forwarded-for"], "127.0.0.1");
    assert!(e.headers.get("cookie").is_none(), "cookies are not headers");
    assert_eq!(e.cookies, Some(vec!["a=1".to_string(), "b=2".to_string()]));
    assert_eq!(e.body, None);
    assert!(!e.is_base64_encoded);
    let ctx = &e.request_context;
    assert_eq!(ctx.http.method.as_deref(), Some("GET"));
    assert_eq!(ctx.http.path.as_deref(), Some("/approve"));
    assert_eq!(ctx.http.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!(ctx.http.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(ctx.http.user_agent.as_deref(), Some("failover-test/1"));
    assert_eq!(ctx.domain_name, Some(FunctionUrls::domain_name(EAST)));
    assert_eq!(ctx.apiid, Some(FunctionUrls::url_id(EAST)));
    let start_ms = common::epoch().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((start_ms..start_ms + 60_000).contains(&ctx.time_epoch), "{}", ctx.time_epoch);
    assert!(
        ctx.time.as_deref().is_some_and(|t| t.starts_with("01/Jan/2026:00:0") && t.ends_with(" +0000")),
        "{:?}",
        ctx.time
    );

    // The call log names the route.
    assert!(
        sim.calls().iter().any(|c| c.service == service::FUNCTION_URLS && c.operation == "GET /approve" && !c.mutating)
    );
}

#[tokio::test(start_paused = true)]
async fn a_form_post_arrives_base64_encoded_and_a_json_post_as_text() {
    let sim = start().await;
    let urls = sim.service::<FunctionUrls>();
    urls.set_handler(WEST, |event: LambdaFunctionUrlRequest| async move {
        if event.raw_path.as_deref() == Some("/binary") {
            let mut r = response(303, &base64::engine::general_purpose::STANDARD.encode([0u8, 159, 146, 150]));
            r.is_base64_encoded = true;
            r.headers.insert("location", HeaderValue::from_static("/done"));
            return r;
        }
        response(200, "thanks")
    });
    let url = urls.url(WEST).expect("a URL for us-west-2");

    let form = b"name=Ada+Lovelace&decision=approve";
    let resp = send(&url, "POST", "/approve", &[("content-type", "application/x-www-form-urlencoded")], form)
        .await
        .expect("the form is posted");
    assert_eq!(resp.status(), 200);
    assert_eq!(&resp.body()[..], b"thanks");
    let e = only_event(&urls, WEST);
    assert!(e.is_base64_encoded, "a form body is base64-encoded");
    let body = e.body.expect("a body");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(body).unwrap(), form);
    assert_eq!(e.request_context.http.method.as_deref(), Some("POST"));
    assert_eq!(e.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(e.raw_query_string.as_deref(), Some(""));
    assert!(e.query_string_parameters.is_empty());

    send(&url, "POST", "/json", &[("content-type", "application/json")], br#"{"a":1}"#).await.expect("posted");
    let (_, e) = urls.events().pop().expect("a second event");
    assert!(!e.is_base64_encoded);
    assert_eq!(e.body.as_deref(), Some(r#"{"a":1}"#));

    // A base64 response body is decoded on the way out.
    let resp = send(&url, "GET", "/binary", &[], b"").await.expect("answered");
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/done");
    assert_eq!(&resp.body()[..], [0u8, 159, 146, 150]);
    // Mutating calls are the ones that are not GET.
    let posts = sim.calls().into_iter().filter(|c| c.service == service::FUNCTION_URLS && c.mutating).count();
    assert_eq!(posts, 2);
}

#[tokio::test(start_paused = true)]
async fn function_errors_are_502_and_a_region_that_is_down_refuses() {
    let sim = start().await;
    let urls = sim.service::<FunctionUrls>();
    let (east, west) = (urls.url(EAST).unwrap(), urls.url(WEST).unwrap());
    assert_ne!(east, west);

    // No handler yet.
    assert_eq!(send(&east, "GET", "/", &[], b"").await.unwrap().status(), 502);

    urls.set_handler(EAST, |event: LambdaFunctionUrlRequest| async move {
        assert_ne!(event.raw_path.as_deref(), Some("/boom"), "the function fails");
        // Status 0: not a valid response.
        LambdaFunctionUrlResponse::default()
    });
    assert_eq!(send(&east, "GET", "/boom", &[], b"").await.unwrap().status(), 502);
    assert_eq!(send(&east, "GET", "/zero", &[], b"").await.unwrap().status(), 502);
    urls.set_handler(WEST, |_e: LambdaFunctionUrlRequest| async move { response(200, "west") });

    sim.set_region_down(EAST, DownMode::Refuse);
    tokio::task::yield_now().await;
    assert!(tokio::net::TcpStream::connect(authority(&east)).await.is_err(), "a down Region's URL refuses");
    assert!(send(&east, "GET", "/", &[], b"").await.is_err());
    let resp = send(&west, "GET", "/", &[], b"").await.expect("us-west-2 serves");
    assert_eq!(&resp.body()[..], b"west");

    sim.set_region_up(EAST);
    urls.set_handler(EAST, |_e: LambdaFunctionUrlRequest| async move { response(200, "east") });
    let mut answered = None;
    for _ in 0..10 {
        if let Ok(r) = send(&east, "GET", "/", &[], b"").await {
            answered = Some(r);
            break;
        }
        // The listener binds its port again once it sees the Region back.
        sim.clock().sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(&answered.expect("us-east-1 is back").body()[..], b"east");
}
