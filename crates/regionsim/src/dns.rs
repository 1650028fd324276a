//! An authoritative DNS server (UDP and TCP on 127.0.0.1) for the application's record.
//!
//! The answer follows Route 53's health-checked records whose health checks are ARC
//! routing controls: the Regions whose controls are On, as the health checks see them
//! (after the propagation delay), each contributing its `dns_answers`, with the record's
//! TTL. When no Region is healthy Route 53 answers as if all were (it must answer
//! something), so the simulator does the same. A CNAME has one target: the first healthy
//! Region in plan order (primary first).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use failover_core::plan::Plan;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use crate::endpoints::Endpoints;
use crate::services::service;
use crate::sim::{Setup, Sim, WeakSim};

/// What the DNS server reads of the health checks: the Regions they see as healthy at
/// `now`. The ARC cluster provides it (`sim.provide::<dyn HealthChecks>(..)`): the health
/// checks are routing-control health checks.
pub trait HealthChecks: Send + Sync {
    fn healthy_regions(&self, now: SystemTime) -> Vec<String>;
}

/// The record the server is authoritative for.
#[derive(Debug, Clone, Default)]
pub struct DnsModel {
    /// `shop.example.com`.
    pub record: String,
    /// `A`, `AAAA` or `CNAME`.
    pub record_type: String,
    pub ttl: u32,
    /// What each Region contributes to the answer when it serves.
    pub answers: BTreeMap<String, Vec<String>>,
    /// The Regions in plan order (primary first).
    pub order: Vec<String>,
}

/// What the record resolves to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The Regions whose answers are served.
    pub regions: Vec<String>,
    pub values: Vec<String>,
    pub ttl: u32,
}

impl DnsModel {
    /// The plan's record, its TTL and what each Region answers.
    pub fn from_plan(plan: &Plan) -> Self {
        DnsModel {
            record: plan.dns.record.clone(),
            record_type: plan.dns.record_type.clone(),
            ttl: plan.dns.ttl_seconds,
            answers: plan.health.iter().map(|(region, h)| (region.clone(), h.dns_answers.clone())).collect(),
            order: vec![plan.regions.primary.clone(), plan.regions.secondary.clone()],
        }
    }
}

/// The authoritative server of the plan's record: `sim.service::<Dns>()`.
pub struct Dns {
    sim: WeakSim,
    /// Fixed by the plan.
    model: DnsModel,
}

impl Dns {
    /// Serves the plan's record on a UDP and TCP port; the plan's name servers become it.
    /// The record's TTL is the simulated world's (the plan's `ttl_seconds` is a belief).
    pub fn register(setup: &mut Setup<'_>) {
        let mut model = DnsModel::from_plan(setup.plan());
        model.ttl = setup.sim().world().dns_ttl;
        let dns = Arc::new(Dns { sim: setup.sim().downgrade(), model });
        setup.sim().provide(dns);
        setup.listen_socket(service::DNS, start_boxed);
        setup.rewrite_plan(rewrite_plan);
    }

    pub fn model(&self) -> &DnsModel {
        &self.model
    }

    /// The record's answer at the current sim time (what the DNS server sends).
    pub fn answer(&self) -> DnsAnswer {
        match self.sim.upgrade() {
            Some(sim) => self.answer_at(sim.clock().now()),
            None => DnsAnswer { regions: Vec::new(), values: Vec::new(), ttl: self.model.ttl },
        }
    }

    /// The record's answer as the authoritative servers gave it at `at` (at most now: the
    /// health checks' view is kept with its history, the future is not known). What a
    /// resolver that fetched the record then holds (`crate::resolvers`).
    pub fn answer_at(&self, at: SystemTime) -> DnsAnswer {
        let Some(sim) = self.sim.upgrade() else {
            return DnsAnswer { regions: Vec::new(), values: Vec::new(), ttl: self.model.ttl };
        };
        let serving = sim.try_service::<dyn HealthChecks>().map(|h| h.healthy_regions(at)).unwrap_or_default();
        let dns = &self.model;
        let mut regions: Vec<String> = dns.order.iter().filter(|r| serving.contains(r)).cloned().collect();
        if regions.is_empty() {
            regions = dns.order.clone();
        }
        if dns.record_type.eq_ignore_ascii_case("CNAME") {
            regions.truncate(1);
        }
        let values = regions.iter().flat_map(|r| dns.answers.get(r).cloned().unwrap_or_default()).collect();
        DnsAnswer { regions, values, ttl: dns.ttl }
    }
}

fn fqdn(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    if s.ends_with('.') { s } else { format!("{s}.") }
}

/// The plan's name servers become the simulated one.
fn rewrite_plan(plan: &mut Plan, eps: &Endpoints) {
    plan.dns.name_servers = vec![eps.dns.to_string()];
}

/// Builds the response to one query message.
fn answer(sim: &Sim, request: &[u8]) -> Option<Vec<u8>> {
    let dns = sim.service::<Dns>();
    let req = Message::from_vec(request).ok()?;
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(req.op_code())
        .set_recursion_desired(req.recursion_desired())
        .set_authoritative(true);
    let (record, record_type) = (&dns.model.record, dns.model.record_type.to_ascii_uppercase());
    let Some(q) = req.queries().first().cloned() else {
        resp.set_response_code(ResponseCode::FormErr);
        return resp.to_vec().ok();
    };
    resp.add_query(q.clone());
    if fqdn(&q.name().to_ascii()) != fqdn(record) {
        resp.set_response_code(ResponseCode::NXDomain);
        return resp.to_vec().ok();
    }
    let wanted = q.query_type();
    let current = dns.answer();
    let name = q.name().clone();
    for value in &current.values {
        let rdata = match record_type.as_str() {
            "CNAME" if matches!(wanted, RecordType::CNAME | RecordType::A | RecordType::AAAA | RecordType::ANY) => {
                Name::from_str(&fqdn(value)).ok().map(|n| RData::CNAME(CNAME(n)))
            }
            "A" if matches!(wanted, RecordType::A | RecordType::ANY) => match IpAddr::from_str(value) {
                Ok(IpAddr::V4(ip)) => Some(RData::A(A(ip))),
                _ => None,
            },
            "AAAA" if matches!(wanted, RecordType::AAAA | RecordType::ANY) => match IpAddr::from_str(value) {
                Ok(IpAddr::V6(ip)) => Some(RData::AAAA(AAAA(ip))),
                _ => None,
            },
            _ => None,
        };
        if let Some(rdata) = rdata {
            resp.add_answer(Record::from_rdata(name.clone(), current.ttl, rdata));
        }
    }
    resp.set_response_code(ResponseCode::NoError);
    resp.to_vec().ok()
}

fn start_boxed(sim: &Sim) -> Pin<Box<dyn Future<Output = std::io::Result<SocketAddr>> + Send + '_>> {
    Box::pin(start(sim))
}

/// Starts the UDP and TCP servers on one port; returns their address.
async fn start(sim: &Sim) -> std::io::Result<SocketAddr> {
    // The UDP port picked by the OS may be taken for TCP: try a few until both bind.
    let mut attempt = 0;
    let (udp, tcp, addr) = loop {
        let udp = UdpSocket::bind(("127.0.0.1", 0)).await?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, tcp, addr),
            Err(e) if attempt >= 20 => return Err(e),
            Err(_) => attempt += 1,
        }
    };
    let weak = sim.downgrade();
    tokio::spawn(serve_udp(weak.clone(), udp));
    tokio::spawn(serve_tcp(weak, tcp));
    Ok(addr)
}

async fn serve_udp(weak: WeakSim, socket: UdpSocket) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else { return };
        let Some(sim) = weak.upgrade() else { return };
        if let Some(out) = answer(&sim, &buf[..n]) {
            let _ = socket.send_to(&out, peer).await;
        }
    }
}

async fn serve_tcp(weak: WeakSim, listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { return };
        let weak = weak.clone();
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut msg).await.is_err() {
                    return;
                }
                let Some(sim) = weak.upgrade() else { return };
                let Some(out) = answer(&sim, &msg) else { return };
                let Ok(n) = u16::try_from(out.len()) else { return };
                if stream.write_all(&n.to_be_bytes()).await.is_err() || stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}
