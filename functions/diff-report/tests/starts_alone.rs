//! The built binary starts as Lambda runs it: alone in its package (functions/starts_alone.rs).

#[path = "../../starts_alone.rs"]
mod starts_alone;

#[test]
fn starts_with_nothing_beside_its_bootstrap() {
    starts_alone::assert_starts_alone(env!("CARGO_BIN_EXE_failover-diff-report"));
}

/// The start test sees a failed start: an override naming no file stops the function
/// before its first poll, and says which file.
#[test]
fn an_override_naming_no_file_stops_the_start() {
    let missing = "/nonexistent/rds-ca-bundle.pem";
    match starts_alone::start_alone(env!("CARGO_BIN_EXE_failover-diff-report"), &[("FAILOVER_CA_BUNDLE", missing)]) {
        starts_alone::Start::Exited { status, stderr } => {
            assert!(!status.success(), "{status}");
            assert!(stderr.contains(missing), "{stderr}");
        }
        polled => panic!("started with FAILOVER_CA_BUNDLE={missing}: {polled:?}"),
    }
}
