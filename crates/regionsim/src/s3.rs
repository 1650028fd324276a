//! Amazon S3 (REST XML, path-style addressing).

use std::collections::BTreeMap;

use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::sim::WeakSim;

#[derive(Debug, Clone, Default)]
pub struct S3Model {
    pub buckets: BTreeMap<String, String>,
}

impl S3Model {
    pub fn create_bucket(&mut self, name: &str, region: &str) {
        self.buckets.insert(name.to_string(), region.to_string());
    }
}

pub struct S3Service {
    sim: WeakSim,
}

impl S3Service {
    pub fn new(sim: WeakSim) -> Self {
        Self { sim }
    }
}

impl HttpService for S3Service {
    fn handle(&self, req: Request) -> ResponseFuture {
        let _ = &self.sim;
        let resp = self.error_response(&req, &ApiError::new(501, "NotImplemented", "not yet"));
        Box::pin(async move { resp })
    }

    fn error_response(&self, _req: &Request, err: &ApiError) -> Response {
        Response::new(err.status, "text/plain", err.message.clone())
    }
}
