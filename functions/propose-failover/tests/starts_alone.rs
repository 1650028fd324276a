//! The built binary starts as Lambda runs it: alone in its package (functions/starts_alone.rs).

#[path = "../../starts_alone.rs"]
mod starts_alone;

#[test]
fn starts_with_nothing_beside_its_bootstrap() {
    starts_alone::assert_starts_alone(env!("CARGO_BIN_EXE_failover-propose-failover"));
}
