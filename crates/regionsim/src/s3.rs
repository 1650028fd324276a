//! Amazon S3 (REST XML), path-style (`/bucket/key`) or virtual-hosted by `Host`:
//! `PutObject`, `GetObject`, `HeadObject`, `DeleteObject`, `ListObjectsV2`, `CreateBucket`.
//!
//! The SDK's default request checksums arrive as headers or, for bodies sent as
//! `aws-chunked` (with per-chunk signatures over plain HTTP), as a trailer; both are
//! accepted and the checksum recorded. Server-side encryption headers are recorded and
//! echoed; an object without them gets the bucket's default encryption (SSE-KMS with the
//! key [`S3::set_default_encryption`] gave, else SSE-S3, as S3 does by default). A
//! bucket lives in one Region: a request signed for another Region is refused with
//! `AuthorizationHeaderMalformed`, as S3 does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use serde::Serialize;

use crate::iam::Authorization;
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::{Setup, WeakSim, lock};
use crate::wire::{self, xml_elem, xml_escape};

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct S3Object {
    #[serde(skip)]
    pub body: Bytes,
    pub content_type: Option<String>,
    /// `AES256` or `aws:kms` (`aws:kms:dsse`).
    pub sse: String,
    pub kms_key_id: Option<String>,
    /// `x-amz-meta-*` headers, without the prefix.
    pub metadata: BTreeMap<String, String>,
    /// The checksum the client sent (`x-amz-checksum-<algorithm>`), header or trailer.
    pub checksum: Option<(String, String)>,
    pub etag: String,
    pub last_modified: SystemTime,
}

#[derive(Debug, Clone, Default)]
pub struct Bucket {
    pub region: String,
    pub objects: BTreeMap<String, S3Object>,
    /// Default encryption SSE-KMS with this key (`None`: SSE-S3, S3's own default): what
    /// an object written without encryption headers is encrypted with.
    pub default_kms_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct S3Model {
    pub buckets: BTreeMap<String, Bucket>,
}

impl S3Model {
    pub fn create_bucket(&mut self, name: &str, region: &str) {
        self.buckets.entry(name.to_string()).or_insert_with(|| Bucket {
            region: region.to_string(),
            objects: BTreeMap::new(),
            default_kms_key: None,
        });
    }
}

/// Simulated S3 with its buckets: `sim.service::<S3>()`.
pub struct S3 {
    sim: WeakSim,
    state: Mutex<S3Model>,
}

impl S3 {
    /// Creates the report bucket of each of the plan's stacks, in the stack's Region, and
    /// serves S3 on a shared port.
    pub fn register(setup: &mut Setup<'_>) {
        let mut model = S3Model::default();
        for (region, stack) in &setup.plan().stacks {
            model.create_bucket(&stack.report_bucket, region);
        }
        let s3 = Arc::new(S3 { sim: setup.sim().downgrade(), state: Mutex::new(model) });
        setup.serve_shared(service::S3, Some("AWS_ENDPOINT_URL_S3"), s3);
    }

    /// The buckets, locked.
    pub fn state(&self) -> MutexGuard<'_, S3Model> {
        lock(&self.state)
    }

    /// A stored object (for tests and drills: the report the code under test wrote).
    pub fn object(&self, bucket: &str, key: &str) -> Option<S3Object> {
        self.state().buckets.get(bucket)?.objects.get(key).cloned()
    }

    /// The bucket's default encryption: SSE-KMS with `key`, or SSE-S3 (`None`), as a
    /// stack configures it (`BucketEncryption`). `false` when there is no such bucket.
    pub fn set_default_encryption(&self, bucket: &str, key: Option<&str>) -> bool {
        match self.state().buckets.get_mut(bucket) {
            Some(b) => {
                b.default_kms_key = key.map(str::to_string);
                true
            }
            None => false,
        }
    }

    /// The keys of a bucket, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.state().buckets.get(bucket).map(|b| b.objects.keys().cloned().collect()).unwrap_or_default()
    }
}

/// A percent-encoded path segment as text (`%2F` is a `/` of the key; invalid escapes stay).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Decodes an `aws-chunked` body: `hex-size[;chunk-signature=…]\r\n<data>\r\n`… ending
/// with a zero-size chunk and trailer lines. Returns the data and the trailers.
pub fn decode_aws_chunked(body: &[u8]) -> Result<(Vec<u8>, BTreeMap<String, String>), String> {
    let mut data = Vec::new();
    let mut trailers = BTreeMap::new();
    let mut pos = 0;
    let line = |pos: &mut usize| -> Result<String, String> {
        let rest = &body[*pos..];
        let end = rest.windows(2).position(|w| w == b"\r\n").ok_or("a chunk line has no CRLF")?;
        *pos += end + 2;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    loop {
        let header = line(&mut pos)?;
        let size_hex = header.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size `{size_hex}`"))?;
        if size == 0 {
            break;
        }
        let chunk = body.get(pos..pos + size).ok_or("a chunk is shorter than its size")?;
        data.extend_from_slice(chunk);
        pos += size;
        if body.get(pos..pos + 2) != Some(b"\r\n") {
            return Err("a chunk does not end with CRLF".into());
        }
        pos += 2;
    }
    while pos < body.len() {
        let l = line(&mut pos)?;
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            trailers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok((data, trailers))
}

fn http_date(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    dt.format(&fmt).unwrap_or_default()
}

/// A content hash good enough for an ETag (S3's is the MD5 of the body; any stable
/// quoted hex string satisfies the SDK).
fn etag(body: &[u8]) -> String {
    format!("\"{:016x}{:016x}\"", failover_core::stable_hash(body), body.len())
}

/// The bucket and key of a request (path-style, or virtual-hosted from `Host`).
fn bucket_and_key(req: &Request) -> (Option<String>, Option<String>) {
    let host = req.header("host").unwrap_or("");
    let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let path = req.path.trim_start_matches('/');
    let virtual_bucket = hostname
        .split_once('.')
        .filter(|_| hostname.parse::<std::net::IpAddr>().is_err())
        .map(|(b, _)| b.to_string())
        .filter(|b| !b.is_empty() && b != "s3");
    match virtual_bucket {
        Some(b) => (Some(b), (!path.is_empty()).then(|| percent_decode(path))),
        None => {
            let (b, k) = path.split_once('/').unwrap_or((path, ""));
            ((!b.is_empty()).then(|| percent_decode(b)), (!k.is_empty()).then(|| percent_decode(k)))
        }
    }
}

impl S3 {
    fn call(&self, req: &Request) -> Result<Response, ApiError> {
        let sim = self.sim.upgrade().ok_or_else(|| ApiError::new(500, "InternalError", "simulator stopped"))?;
        let op = self.operation(req);
        let (bucket_name, key) = bucket_and_key(req);
        let bucket_name =
            bucket_name.ok_or_else(|| ApiError::new(400, "InvalidRequest", "listing buckets is not simulated"))?;
        let now = sim.clock().now();
        let region = req.region.clone().unwrap_or_else(|| sim.regions()[0].clone());
        let mut s3 = self.state();
        if op == "CreateBucket" {
            if let Some(b) = s3.buckets.get(&bucket_name) {
                let code = if b.region == region { "BucketAlreadyOwnedByYou" } else { "BucketAlreadyExists" };
                return Err(ApiError::new(409, code, "The requested bucket name is not available."));
            }
            s3.create_bucket(&bucket_name, &region);
            return Ok(Response::empty().with_header("location", &format!("/{bucket_name}")));
        }
        let bucket = s3.buckets.get_mut(&bucket_name).ok_or_else(|| no_such_bucket(&bucket_name))?;
        if bucket.region != region {
            return Err(ApiError::new(
                400,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; the region '{region}' is wrong; expecting '{}'",
                    bucket.region
                ),
            ));
        }
        match op.as_str() {
            "PutObject" => {
                let key = key.ok_or_else(|| ApiError::new(400, "InvalidRequest", "a key is required"))?;
                let chunked = req.header("content-encoding").is_some_and(|c| c.contains("aws-chunked"))
                    || req.header("x-amz-content-sha256").is_some_and(|s| s.starts_with("STREAMING-"));
                let (body, trailers) = if chunked {
                    let (data, trailers) =
                        decode_aws_chunked(&req.body).map_err(|e| ApiError::new(400, "IncompleteBody", e))?;
                    if let Some(declared) =
                        req.header("x-amz-decoded-content-length").and_then(|v| v.parse::<usize>().ok())
                        && declared != data.len()
                    {
                        return Err(ApiError::new(
                            400,
                            "IncompleteBody",
                            "You did not provide the number of bytes specified by the Content-Length HTTP header",
                        ));
                    }
                    (Bytes::from(data), trailers)
                } else {
                    (req.body.clone(), BTreeMap::new())
                };
                let checksum = req
                    .headers
                    .iter()
                    .find_map(|(k, v)| {
                        let alg =
                            k.as_str().strip_prefix("x-amz-checksum-").filter(|a| *a != "algorithm" && *a != "type")?;
                        Some((alg.to_string(), v.to_str().ok()?.to_string()))
                    })
                    .or_else(|| {
                        trailers
                            .iter()
                            .find_map(|(k, v)| k.strip_prefix("x-amz-checksum-").map(|a| (a.to_string(), v.clone())))
                    });
                // Without encryption headers, the bucket's default encryption applies.
                let (sse, kms_key_id) = match req.header("x-amz-server-side-encryption") {
                    Some(sse) => {
                        (sse.to_string(), req.header("x-amz-server-side-encryption-aws-kms-key-id").map(str::to_string))
                    }
                    None => match &bucket.default_kms_key {
                        Some(k) => ("aws:kms".to_string(), Some(k.clone())),
                        None => ("AES256".to_string(), None),
                    },
                };
                let metadata = req
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().strip_prefix("x-amz-meta-")?.to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect();
                let object = S3Object {
                    etag: etag(&body),
                    body,
                    content_type: req.header("content-type").map(str::to_string),
                    sse,
                    kms_key_id,
                    metadata,
                    checksum,
                    last_modified: now,
                };
                let mut resp = Response::empty().with_header("etag", &object.etag);
                resp = sse_headers(resp, &object);
                if let Some((alg, v)) = &object.checksum {
                    resp = resp.with_header(&format!("x-amz-checksum-{alg}"), v);
                }
                bucket.objects.insert(key, object);
                Ok(resp)
            }
            "GetObject" | "HeadObject" => {
                let key = key.unwrap_or_default();
                let Some(o) = bucket.objects.get(&key) else {
                    if op == "HeadObject" {
                        return Err(ApiError::new(404, "NotFound", ""));
                    }
                    return Err(ApiError::new(404, "NoSuchKey", "The specified key does not exist."));
                };
                let body = if op == "GetObject" { o.body.clone() } else { Bytes::new() };
                let mut resp = Response::new(200, o.content_type.as_deref().unwrap_or("binary/octet-stream"), body)
                    .with_header("etag", &o.etag)
                    .with_header("last-modified", &http_date(o.last_modified))
                    .with_header("accept-ranges", "bytes");
                if op == "HeadObject" {
                    resp = resp.with_header("content-length", &o.body.len().to_string());
                }
                for (k, v) in &o.metadata {
                    resp = resp.with_header(&format!("x-amz-meta-{k}"), v);
                }
                Ok(sse_headers(resp, o))
            }
            "DeleteObject" => {
                bucket.objects.remove(&key.unwrap_or_default());
                Ok(Response::new(204, "application/xml", Bytes::new()))
            }
            "ListObjectsV2" => Ok(list_objects_v2(&bucket_name, bucket, req)),
            other => Err(ApiError::new(501, "NotImplemented", format!("{other} is not simulated"))),
        }
    }
}

fn sse_headers(mut resp: Response, o: &S3Object) -> Response {
    resp = resp.with_header("x-amz-server-side-encryption", &o.sse);
    if let Some(k) = &o.kms_key_id {
        resp = resp.with_header("x-amz-server-side-encryption-aws-kms-key-id", k);
    }
    resp
}

fn no_such_bucket(name: &str) -> ApiError {
    ApiError::new(404, "NoSuchBucket", format!("The specified bucket does not exist: {name}"))
}

fn list_objects_v2(name: &str, bucket: &Bucket, req: &Request) -> Response {
    let prefix = req.query_param("prefix").unwrap_or_default();
    let delimiter = req.query_param("delimiter").filter(|d| !d.is_empty());
    let max_keys = req.query_param("max-keys").and_then(|m| m.parse::<usize>().ok()).unwrap_or(1000).min(1000);
    let token = req.query_param("continuation-token");
    let start_after = req.query_param("start-after");
    let after = token.clone().or(start_after.clone()).unwrap_or_default();
    let mut contents = String::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut count = 0;
    let mut last = None;
    let mut truncated = false;
    for (key, o) in bucket.objects.range::<String, _>((std::ops::Bound::Excluded(&after), std::ops::Bound::Unbounded)) {
        if !key.starts_with(&prefix) {
            continue;
        }
        if count >= max_keys {
            truncated = true;
            break;
        }
        if let Some(d) = &delimiter
            && let Some(i) = key[prefix.len()..].find(d.as_str())
        {
            let common = key[..prefix.len() + i + d.len()].to_string();
            if !prefixes.contains(&common) {
                prefixes.push(common);
                count += 1;
            }
            last = Some(key.clone());
            continue;
        }
        contents.push_str(&format!(
            "<Contents>{}{}<ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            xml_elem("Key", key),
            xml_elem("LastModified", &wire::iso8601(o.last_modified)),
            xml_escape(&o.etag),
            o.body.len()
        ));
        count += 1;
        last = Some(key.clone());
    }
    let common: String =
        prefixes.iter().map(|p| format!("<CommonPrefixes>{}</CommonPrefixes>", xml_elem("Prefix", p))).collect();
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"{XMLNS}\">{}{}<KeyCount>{count}</KeyCount>\
         <MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>{contents}{common}",
        xml_elem("Name", name),
        xml_elem("Prefix", &prefix),
    );
    if let Some(t) = &token {
        body.push_str(&xml_elem("ContinuationToken", t));
    }
    if let Some(s) = &start_after {
        body.push_str(&xml_elem("StartAfter", s));
    }
    if let Some(d) = &delimiter {
        body.push_str(&xml_elem("Delimiter", d));
    }
    if truncated && let Some(l) = &last {
        body.push_str(&xml_elem("NextContinuationToken", l));
    }
    body.push_str("</ListBucketResult>");
    Response::new(200, "application/xml", body)
}

impl HttpService for S3 {
    fn handle(&self, req: Request) -> ResponseFuture {
        let resp = self.call(&req).unwrap_or_else(|e| self.error_response(&req, &e));
        Box::pin(async move { resp })
    }

    fn operation(&self, req: &Request) -> String {
        let (bucket, key) = bucket_and_key(req);
        let op = match (&req.method, bucket.is_some(), key.is_some()) {
            (&Method::PUT, true, true) => "PutObject",
            (&Method::GET, true, true) => "GetObject",
            (&Method::HEAD, true, true) => "HeadObject",
            (&Method::DELETE, true, true) => "DeleteObject",
            (&Method::PUT, true, false) => "CreateBucket",
            (&Method::GET, true, false) if req.query_param("list-type").as_deref() == Some("2") => "ListObjectsV2",
            (&Method::GET, true, false) => "ListObjects",
            (&Method::HEAD, true, false) => "HeadBucket",
            (&Method::GET, false, _) => "ListBuckets",
            _ => return format!("{} {}", req.method, req.path),
        };
        op.to_string()
    }

    /// The S3 action on the object (`arn:aws:s3:::bucket/key`) or the bucket, with the
    /// request's encryption headers as `s3:` condition keys; `s3:ListBucket` too for a
    /// read of a missing key (without it S3 answers `AccessDenied`, not `NoSuchKey`); and
    /// the KMS use S3 makes on the caller's behalf for SSE-KMS: `kms:GenerateDataKey` on a
    /// write (the header's key; the AWS managed `aws/s3` key when the header names none;
    /// the bucket's default key without headers), `kms:Decrypt` on a read.
    fn authorizations(&self, req: &Request, operation: &str) -> Vec<Authorization> {
        let (Some(bucket), key) = bucket_and_key(req) else {
            return vec![Authorization::new("s3:ListAllMyBuckets", "*")];
        };
        let bucket_arn = format!("arn:aws:s3:::{bucket}");
        let object_arn = format!("{bucket_arn}/{}", key.clone().unwrap_or_default());
        let s3 = self.state();
        let stored = s3.buckets.get(&bucket);
        let region = req.region.clone().or_else(|| stored.map(|b| b.region.clone())).unwrap_or_default();
        let object = stored.and_then(|b| b.objects.get(key.as_deref().unwrap_or_default()));
        let kms_of = |o: &S3Object| {
            o.sse.starts_with("aws:kms").then(|| match &o.kms_key_id {
                Some(k) => crate::iam::kms_key_arn(k, &region),
                None => crate::iam::aws_managed_key("s3", &region),
            })
        };
        match operation {
            "PutObject" => {
                let mut put = Authorization::new("s3:PutObject", object_arn);
                let sse = req.header("x-amz-server-side-encryption");
                let header_key = req.header("x-amz-server-side-encryption-aws-kms-key-id");
                if let Some(v) = sse {
                    put = put.with("s3:x-amz-server-side-encryption", v);
                }
                if let Some(k) = header_key {
                    put = put.with("s3:x-amz-server-side-encryption-aws-kms-key-id", k);
                }
                let kms = match sse {
                    Some(v) if v.starts_with("aws:kms") => Some(
                        header_key
                            .map(|k| crate::iam::kms_key_arn(k, &region))
                            .unwrap_or_else(|| crate::iam::aws_managed_key("s3", &region)),
                    ),
                    Some(_) => None,
                    None => stored.and_then(|b| b.default_kms_key.clone()),
                };
                let mut out = vec![put];
                out.extend(kms.map(|k| Authorization::new("kms:GenerateDataKey", k).via("s3", &region)));
                out
            }
            "GetObject" | "HeadObject" => {
                let mut out = vec![Authorization::new("s3:GetObject", object_arn)];
                match object {
                    None => out.push(Authorization::new("s3:ListBucket", bucket_arn)),
                    Some(o) if operation == "GetObject" => {
                        out.extend(kms_of(o).map(|k| Authorization::new("kms:Decrypt", k).via("s3", &region)));
                    }
                    Some(_) => {}
                }
                out
            }
            "DeleteObject" => vec![Authorization::new("s3:DeleteObject", object_arn)],
            "CreateBucket" => vec![Authorization::new("s3:CreateBucket", bucket_arn)],
            "ListObjectsV2" | "ListObjects" | "HeadBucket" => vec![Authorization::new("s3:ListBucket", bucket_arn)],
            other => vec![Authorization::new(format!("s3:{other}"), bucket_arn)],
        }
    }

    fn error_response(&self, req: &Request, err: &ApiError) -> Response {
        if req.method == Method::HEAD {
            // HEAD responses carry no body; the SDK maps the status.
            return Response::new(err.status, "application/xml", Bytes::new());
        }
        let (bucket, key) = bucket_and_key(req);
        let mut body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>{}{}",
            xml_elem("Code", &err.code),
            xml_elem("Message", &err.message)
        );
        if let (Some(k), "NoSuchKey") = (&key, err.code.as_str()) {
            body.push_str(&xml_elem("Key", k));
        }
        if let (Some(b), "NoSuchBucket") = (&bucket, err.code.as_str()) {
            body.push_str(&xml_elem("BucketName", b));
        }
        body.push_str(&xml_elem("RequestId", &wire::request_id()));
        body.push_str("</Error>");
        Response::new(err.status, "application/xml", body)
    }

    fn throttling_error(&self) -> ApiError {
        ApiError::new(503, "SlowDown", "Please reduce your request rate.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode_with_signatures_and_trailers() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=ghi\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:xyz\r\n\r\n";
        let (data, trailers) = decode_aws_chunked(body).unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(trailers["x-amz-checksum-crc32"], "AAAAAA==");
    }

    #[test]
    fn percent_decoding_keeps_slashes_and_decodes_escapes() {
        assert_eq!(percent_decode("reports/a%20b%2Fc.json"), "reports/a b/c.json");
        assert_eq!(percent_decode("50%"), "50%");
    }
}
