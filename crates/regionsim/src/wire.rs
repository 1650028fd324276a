//! Wire-format helpers shared by the simulated services: the JSON protocols' error shape,
//! the query protocol's form input and XML envelopes, XML escaping, timestamps and
//! request ids. The RDS model uses the query-protocol helpers too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::Value;

use crate::server::{ApiError, Request, Response, ResponseFuture};

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// A fresh request id in the UUID layout AWS uses.
pub fn request_id() -> String {
    let n = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A JSON-protocol (awsJson 1.0 / 1.1) success response.
pub fn json_response(content_type: &str, value: &serde_json::Value) -> Response {
    Response::new(200, content_type, value.to_string()).with_header("x-amzn-requestid", &request_id())
}

/// A JSON-protocol (awsJson 1.0 / 1.1) call: the operation named by `X-Amz-Target` after
/// `target_prefix`, and the JSON input (an empty body reads as `{}`).
pub fn json_call<'a>(req: &'a Request, target_prefix: &str) -> Result<(&'a str, Value), ApiError> {
    let target = req.header("x-amz-target").unwrap_or("");
    let op = target
        .strip_prefix(target_prefix)
        .ok_or_else(|| ApiError::new(400, "UnknownOperationException", format!("unknown target `{target}`")))?;
    let input: Value = if req.body.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::new(400, "SerializationException", format!("invalid JSON: {e}")))?
    };
    Ok((op, input))
}

/// A JSON-protocol service's answer to a call: the success response, or the service's
/// own error response for `Err`.
pub fn json_answer(
    content_type: &str,
    result: Result<Value, ApiError>,
    error_response: impl FnOnce(&ApiError) -> Response,
) -> ResponseFuture {
    let resp = match result {
        Ok(v) => json_response(content_type, &v),
        Err(e) => error_response(&e),
    };
    Box::pin(async move { resp })
}

/// A JSON-protocol error: the SDK reads the code from `__type` (and `x-amzn-errortype`).
pub fn json_error(content_type: &str, err: &ApiError, extra: serde_json::Value) -> Response {
    let mut body = serde_json::json!({ "__type": err.code, "message": err.message });
    if let (Some(obj), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    Response::new(err.status, content_type, body.to_string())
        .with_header("x-amzn-errortype", &err.code)
        .with_header("x-amzn-requestid", &request_id())
}

/// Escapes text for an XML element or attribute.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// `<name>escaped value</name>`.
pub fn xml_elem(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(value))
}

/// A timestamp as the XML and JSON protocols write it (ISO 8601, UTC, milliseconds).
pub fn iso8601(t: SystemTime) -> String {
    failover_core::time_fmt::rfc3339(t)
}

/// The query protocol's form input (`Action=...&Version=...&Param.member.1=...`).
#[derive(Debug, Clone, Default)]
pub struct Form(BTreeMap<String, String>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn action(&self) -> &str {
        self.get("Action").unwrap_or("")
    }

    /// The values of a list parameter: `prefix.1`, `prefix.2`, ... (pass `Name.member`
    /// for the usual `Name.member.N` lists).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        (1..).map_while(|i| self.get(&format!("{prefix}.{i}")).map(str::to_string)).collect()
    }

    /// A list of structures: for each `prefix.N`, the fields `prefix.N.field` as a map.
    pub fn structs(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let mut out = Vec::new();
        for i in 1.. {
            let p = format!("{prefix}.{i}.");
            let fields: BTreeMap<String, String> =
                self.0.iter().filter_map(|(k, v)| k.strip_prefix(&p).map(|f| (f.to_string(), v.clone()))).collect();
            if fields.is_empty() {
                break;
            }
            out.push(fields);
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

/// A query-protocol success: `<{Action}Response><{Action}Result>…</…><ResponseMetadata>`.
pub fn query_response(action: &str, xmlns: &str, result_xml: &str) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{xmlns}\"><{action}Result>{result_xml}</{action}Result>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        request_id()
    );
    Response::new(200, "text/xml", body)
}

/// A query-protocol error: `<ErrorResponse><Error><Type/><Code/><Message/></Error>`.
pub fn query_error(err: &ApiError) -> Response {
    let kind = if err.is_sender_fault() { "Sender" } else { "Receiver" };
    let body = format!(
        "<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error>\
         <RequestId>{}</RequestId></ErrorResponse>",
        xml_escape(&err.code),
        xml_escape(&err.message),
        request_id()
    );
    Response::new(err.status, "text/xml", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_lists_and_structs() {
        let f = Form::parse(b"Action=Publish&A.member.1=x&A.member.2=y&M.entry.1.Name=k&M.entry.1.Value.StringValue=v");
        assert_eq!(f.action(), "Publish");
        assert_eq!(f.list("A.member"), vec!["x", "y"]);
        let s = f.structs("M.entry");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0]["Name"], "k");
        assert_eq!(s[0]["Value.StringValue"], "v");
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
