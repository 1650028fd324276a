//! The address book of a running simulator: the ports every service asked for at start.
//!
//! The generic tables ([`Endpoints::services`], [`Endpoints::regional`],
//! [`Endpoints::sockets`]) hold every service, the ones added later too. The fields named
//! after a built-in service (`arc`, `web`, `dns`) are copies of their rows, kept for the
//! callers that read them by name.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde::Serialize;

use crate::services::service;

/// What the kernel bound, in registration order.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// (service, URL, `AWS_ENDPOINT_URL_*` variable).
    pub shared: Vec<(String, String, Option<&'static str>)>,
    pub regional: BTreeMap<String, Vec<(String, String)>>,
    pub sockets: BTreeMap<String, SocketAddr>,
}

/// The URLs and addresses of a running simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    /// The ARC cluster endpoints, in order: (URL, Region); `regional["arc"]`.
    pub arc: Vec<(String, String)>,
    /// The shared endpoint of each service (`rds`, `cloudwatch`, `sns`, `s3`,
    /// `secretsmanager`, `states`, `dynamodb`), serving both Regions.
    pub services: BTreeMap<String, String>,
    /// Each Region's application health URL (`http://127.0.0.1:port/health`); from
    /// `regional["web"]`.
    pub web: BTreeMap<String, String>,
    /// The authoritative DNS server (UDP and TCP); `sockets["dns"]`.
    pub dns: SocketAddr,
    /// Every service's Regional endpoints, in endpoint order: (URL, Region): `arc`, `web`,
    /// `function-urls`.
    pub regional: BTreeMap<String, Vec<(String, String)>>,
    /// Every listener that is not HTTP, by service.
    pub sockets: BTreeMap<String, SocketAddr>,
    /// `(AWS_ENDPOINT_URL_* variable, service)` in registration order.
    #[serde(skip)]
    env: Vec<(String, String)>,
}

impl Endpoints {
    pub(crate) fn new(bound: Listeners) -> Self {
        let services = bound.shared.iter().map(|(s, url, _)| (s.clone(), url.clone())).collect();
        let env = bound.shared.iter().filter_map(|(s, _, var)| Some((var.as_ref()?.to_string(), s.clone()))).collect();
        let arc = bound.regional.get(service::ARC).cloned().unwrap_or_default();
        let web = bound
            .regional
            .get(service::WEB)
            .into_iter()
            .flatten()
            .map(|(url, region)| (region.clone(), url.clone()))
            .collect();
        let dns = bound.sockets.get(service::DNS).copied().unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        Endpoints { arc, services, web, dns, regional: bound.regional, sockets: bound.sockets, env }
    }

    /// The shared endpoint URL of `service`.
    pub fn url(&self, service: &str) -> Option<&str> {
        self.services.get(service).map(String::as_str)
    }

    /// The Regional endpoints of `service`, in endpoint order: (URL, Region).
    pub fn regional(&self, service: &str) -> &[(String, String)] {
        self.regional.get(service).map_or(&[], Vec::as_slice)
    }

    /// The `AWS_ENDPOINT_URL_<SERVICE>` settings the SDKs read.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.env.iter().filter_map(|(var, s)| self.url(s).map(|u| (var.clone(), u.to_string()))).collect()
    }
}
