//! What the regionsim test binaries share: an SDK configuration pointed at the simulator.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use failover_core::SharedClock;

/// The virtual clock's start in every test: 2026-01-01T00:00:00Z.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// A client configuration for `region` at `url`: static test credentials, the clock as
/// sleep and time source, no SDK retries (the tests see every answer), a 500 ms connect
/// timeout and the given per-attempt timeout.
pub fn sdk_config(clock: &SharedClock, region: &str, url: &str, attempt: Duration) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        )))
        .endpoint_url(url)
        .sleep_impl(clock.sdk_sleep())
        .time_source(clock.sdk_time_source())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(attempt)
                .build(),
        )
        .build()
}
