//! Benchmark: the wall time routing-control spends getting through four dead ARC cluster
//! endpoints with the DEFAULT timeouts (connect 500 ms, attempt 1 s), against regionsim on
//! 127.0.0.1 in real time. Target: under 5 s (the AWS sample this replaces could not get
//! past one hanging endpoint inside its 3 s Lambda timeout).
//!
//! Run: `cargo bench -p failover-steps --bench arc_dead_endpoints`

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use failover_core::SharedClock;
use failover_core::contract::routing::RoutingControlInput;
use failover_steps::aws::AwsClients;
use regionsim::{EndpointFault, SimBuilder, service};

const TARGET: Duration = Duration::from_secs(5);
const RUNS: usize = 5;

async fn once(faults: [EndpointFault; 4]) -> Duration {
    let clock = SharedClock::system();
    let sim = SimBuilder::new(clock.clone()).seed(1).start().await.expect("simulator");
    let plan = sim.plan(); // default timeouts: connect 500 ms, attempt 1000 ms
    // Endpoint 0 (us-east-1, switched Off) is tried last: make it the healthy one, so the
    // four dead endpoints are all tried first, every time.
    for (i, f) in faults.iter().enumerate() {
        sim.set_endpoint_fault(service::ARC, i + 1, Some(*f));
    }
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKIDBENCH", "secret", None, None, "b")))
        .build();
    let clients = AwsClients::from_sdk_config(base, clock);
    let input = RoutingControlInput {
        plan: plan.clone(),
        states: BTreeMap::new(),
        target_region: Some("us-west-2".into()),
        allow_all_off: None,
        override_safety_rules: vec![],
    };
    let t0 = Instant::now();
    let out =
        failover_steps::routing_control::handle(input, &clients).await.expect("the fifth endpoint carries the update");
    let took = t0.elapsed();
    assert_eq!(out.failed_endpoints.len(), 4);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _ = SystemTime::now();
    let cases: [(&str, [EndpointFault; 4]); 2] = [
        (
            "refused + hanging + 5xx + unavailable",
            [EndpointFault::Refuse, EndpointFault::Hang, EndpointFault::ServerError, EndpointFault::Unavailable],
        ),
        ("four hanging (worst case)", [EndpointFault::Hang; 4]),
    ];
    println!("routing-control through four dead ARC endpoints, default timeouts (connect 500 ms, attempt 1 s)");
    println!("target (baseline): under {} s; {RUNS} runs each, median", TARGET.as_secs());
    let mut ok = true;
    for (name, faults) in cases {
        let times: Vec<Duration> = (0..RUNS).map(|_| rt.block_on(once(faults))).collect();
        let m = median(times.clone());
        let pass = m < TARGET;
        ok &= pass;
        println!(
            "  {name:<40} median {:>6.3} s  (min {:.3} s, max {:.3} s)  {:.1}% of target  {}",
            m.as_secs_f64(),
            times.iter().min().unwrap().as_secs_f64(),
            times.iter().max().unwrap().as_secs_f64(),
            100.0 * m.as_secs_f64() / TARGET.as_secs_f64(),
            if pass { "ok" } else { "OVER TARGET" }
        );
    }
    if !ok {
        std::process::exit(1);
    }
}
