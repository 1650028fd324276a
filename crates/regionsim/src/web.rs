//! Each Region's application health endpoint (`GET /health` answers 200 while the
//! Region is up). The server's Region-down gate makes a down Region's port refuse or
//! hang, so this service only ever answers for a healthy Region.

use std::sync::Arc;

use failover_core::plan::{HttpCheck, Plan};

use crate::endpoints::Endpoints;
use crate::server::{ApiError, HttpService, Request, Response, ResponseFuture};
use crate::services::service;
use crate::sim::Setup;

/// The health endpoints of both Regions: `sim.service::<Web>()`.
pub struct Web;

impl Web {
    /// Serves one port per Region of the pair.
    pub fn register(setup: &mut Setup<'_>) {
        setup.serve(service::WEB, Arc::new(Web));
        setup.listen_regional(service::WEB, setup.sim().regions().to_vec(), "/health");
        setup.rewrite_plan(rewrite_plan);
    }
}

/// Each Region's HTTP checks become one check of its simulated health URL.
fn rewrite_plan(plan: &mut Plan, eps: &Endpoints) {
    for (region, h) in plan.health.iter_mut() {
        if let Some((url, _)) = eps.regional(service::WEB).iter().find(|(_, r)| r == region) {
            h.http = vec![HttpCheck {
                url: url.clone(),
                expected_status: 200,
                max_latency_ms: h.http.first().map_or(2000, |c| c.max_latency_ms),
            }];
        }
    }
}

impl HttpService for Web {
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
