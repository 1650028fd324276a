//! failover-core: the pieces every other crate agrees on.
//!
//! * [`plan::Plan`]: the failover plan, parsed from YAML and validated, the single source
//!   of truth about the Region pair.
//! * [`contract`]: the input and output type of every Lambda function (the state
//!   contract). Changing a type here changes the API between the state machine and the
//!   functions.
//! * [`error::StepError`] and [`error::ErrorKind`]: the error contract, the stable
//!   `errorType` names the state machines match.
//! * [`clock::SharedClock`]: the only source of time.
//! * [`aurora_rules`]: whether a global database may be switched over or failed over, the
//!   one home of those rules (preflight shows them, aurora-failover refuses on them).
//! * [`stable_hash`]: the one hash whose values may be written down (names, seeds, ids).
//! * [`rto`]: the recovery time, the one definition notify, the drill and the benchmarks
//!   measure (start to clients served by the target, less the wait for human decisions).
//! * [`approval`]: the signed approve and reject links, the approval request's state
//!   machine and the pages of the approval Function URL (pure: no clock, no AWS).
//! * [`propose`]: the canary-alarm proposer's decision table (start a failover, tell a
//!   person why not, or ignore), its split-brain rule and its lock's names (pure).
//!
//! This crate talks to no AWS service and reads no environment variable.

pub mod approval;
pub mod aurora_rules;
pub mod clock;
pub mod contract;
pub mod error;
pub mod plan;
pub mod propose;
pub mod rto;
pub mod time_fmt;

pub use clock::SharedClock;

/// FNV-1a (64 bits) of `bytes`: stable across Rust releases and platforms, unlike the
/// standard hasher, so a name or seed derived from it never changes between versions.
pub fn stable_hash(bytes: impl AsRef<[u8]>) -> u64 {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(bytes.as_ref());
    h.finish()
}
pub use error::{ErrorKind, StepError};
pub use plan::Plan;

#[cfg(test)]
mod tests {
    #[test]
    fn stable_hash_is_fnv1a_64() {
        // Published FNV-1a test vectors: the empty string is the offset basis.
        assert_eq!(super::stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(super::stable_hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
