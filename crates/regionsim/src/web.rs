//! Each Region's application health endpoint (`GET /health` answers 200 while the
//! Region is up). The server's Region-down gate makes a down Region's port refuse or
//! hang, so this service only ever answers for a healthy Region.

use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};

pub struct WebService;

impl HttpService for WebService {
    fn handle(&self, req: Request) -> ResponseFuture {
        let region = req.listener.region.clone().unwrap_or_default();
        let resp = if req.path == "/health" {
            Response::new(200, "application/json", serde_json::json!({ "status": "ok", "region": region }).to_string())
        } else {
            Response::new(404, "text/plain", "not found")
        };
        Box::pin(async move { resp })
    }

    fn operation(&self, req: &Request) -> String {
        format!("{} {}", req.method, req.path)
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        Response::new(err.status, "text/plain", format!("{}: {}", err.code, err.message))
    }
}
