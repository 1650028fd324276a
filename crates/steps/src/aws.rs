//! AWS clients for the steps: one per service and Region, built once, on the shared clock.
//!
//! [`AwsClients`] hands out a client for a Region, built from a base `SdkConfig` (loaded
//! once in a function's `main`) and cached, so connection pools are reused across
//! invocations. Tests build it from [`Regional::from_fn`] with aws-smithy-mocks clients.
//! [`arc_client`] builds the ARC data-plane client of one cluster endpoint: signed for the
//! endpoint's own Region, with the SDK's retries off and short timeouts, because the
//! endpoint loop in `routing` decides itself when to move to the next endpoint.
//!
//! [`classify`] maps an SDK error to the error contract.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ErrorKind as RetryKind;
use failover_core::plan::{ArcTimeouts, ClusterEndpoint};
use failover_core::{ErrorKind, SharedClock, StepError};

/// A cache of clients of one service, one per Region.
pub struct Regional<C> {
    make: Box<dyn Fn(&str) -> C + Send + Sync>,
    cache: Mutex<HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    /// Clients made by `make(region)`, each made once.
    pub fn from_fn(make: impl Fn(&str) -> C + Send + Sync + 'static) -> Self {
        Self { make: Box::new(make), cache: Mutex::new(HashMap::new()) }
    }

    /// The client for `region`.
    pub fn get(&self, region: &str) -> C {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.entry(region.to_string()).or_insert_with(|| (self.make)(region)).clone()
    }
}

impl<C> std::fmt::Debug for Regional<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Regional")
    }
}

/// Builds the ARC data-plane client of one cluster endpoint.
pub type ArcFactory =
    Arc<dyn Fn(&ClusterEndpoint, &ArcTimeouts) -> aws_sdk_route53recoverycluster::Client + Send + Sync>;

/// Every client a step may need, per Region, plus the clock.
#[derive(Clone)]
pub struct AwsClients {
    pub clock: SharedClock,
    /// Seeds the endpoint shuffle for reproducible drills; `None` in AWS (OS randomness).
    pub seed: Option<u64>,
    pub rds: Arc<Regional<aws_sdk_rds::Client>>,
    pub cloudwatch: Arc<Regional<aws_sdk_cloudwatch::Client>>,
    pub sns: Arc<Regional<aws_sdk_sns::Client>>,
    pub s3: Arc<Regional<aws_sdk_s3::Client>>,
    pub secrets: Arc<Regional<aws_sdk_secretsmanager::Client>>,
    /// The approvals table of each Region's stack (approval requests, `crate::approval`).
    pub dynamodb: Arc<Regional<aws_sdk_dynamodb::Client>>,
    /// Step Functions, for the approval's callbacks (`SendTaskSuccess` / `SendTaskFailure`)
    /// and the proposer's `ListExecutions` / `StartExecution`.
    pub sfn: Arc<Regional<aws_sdk_sfn::Client>>,
    /// SSM Parameter Store: each stack's copy of the plan (`/failover/<name>/plan`), read by
    /// the starters in their own Region.
    pub ssm: Arc<Regional<aws_sdk_ssm::Client>>,
    pub arc: ArcFactory,
    /// Plain HTTP(S), for the health probes of the application's endpoints; built on first
    /// use (its TLS roots cost a few milliseconds a cold start need not pay).
    pub http: Arc<std::sync::OnceLock<reqwest::Client>>,
}

impl AwsClients {
    /// The HTTP client for health probes.
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(reqwest::Client::new)
    }
}

impl std::fmt::Debug for AwsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClients").field("clock", &self.clock).finish_non_exhaustive()
    }
}

/// Connect, per-attempt and whole-operation timeouts of every control-plane client (RDS,
/// CloudWatch, SNS, Secrets Manager, DynamoDB, Step Functions, SSM): a hanging endpoint costs one attempt, and an operation
/// with its SDK retries ends well inside the shortest Lambda timeout of a function that makes
/// it (notify: 15 s), so the function answers with a classified error instead of being
/// killed. S3 carries report files and gets [`s3_timeouts`].
pub fn control_plane_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}

/// S3's timeouts: a report upload may be tens of megabytes; diff-report runs for up to 15
/// minutes, so a minute per attempt still leaves room for its retries.
pub fn s3_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(180))
        .build()
}

/// `base` with its Region replaced, the clock as sleep and time source, and the
/// control-plane timeouts.
pub fn regional_config(base: &SdkConfig, region: &str, clock: &SharedClock) -> SdkConfig {
    base.to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .sleep_impl(clock.sdk_sleep())
        .time_source(clock.sdk_time_source())
        .timeout_config(control_plane_timeouts())
        .build()
}

impl AwsClients {
    /// Clients built from the configuration loaded in `main` (credentials, endpoint
    /// overrides such as `AWS_ENDPOINT_URL_RDS`), each for an explicit Region.
    pub fn from_sdk_config(base: SdkConfig, clock: SharedClock) -> Self {
        Self::with_endpoints(base, clock, &std::collections::BTreeMap::new())
    }

    /// Like [`AwsClients::from_sdk_config`], with an endpoint URL per service (`rds`,
    /// `cloudwatch`, `sns`, `s3`, `secretsmanager`, `dynamodb`, `states` for Step
    /// Functions, `ssm`): a simulated Region pair in-process, where environment variables are not
    /// the way to say it.
    pub fn with_endpoints(
        base: SdkConfig,
        clock: SharedClock,
        endpoints: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        Self::with_endpoints_partitioned(base, clock, endpoints, None)
    }

    /// Like [`AwsClients::with_endpoints`], with the SDK's retry quota (its token bucket,
    /// shared by every client of a process with the same retry partition) kept apart
    /// under `partition`: what a separate Lambda process has, and what several drills in one
    /// process need so that one's throttling does not drain another's retries.
    pub fn with_endpoints_partitioned(
        base: SdkConfig,
        clock: SharedClock,
        endpoints: &std::collections::BTreeMap<String, String>,
        partition: Option<String>,
    ) -> Self {
        let base = Arc::new(base);
        macro_rules! regional {
            ($krate:ident, $service:literal) => {{
                let base = base.clone();
                let clock = clock.clone();
                let url = endpoints.get($service).cloned();
                let partition = partition.clone();
                Arc::new(Regional::from_fn(move |r| {
                    let mut b = $krate::config::Builder::from(&regional_config(&base, r, &clock));
                    if let Some(u) = &url {
                        b = b.endpoint_url(u.clone());
                    }
                    if let Some(p) = &partition {
                        b = b.retry_partition($krate::config::retry::RetryPartition::new(format!(
                            "{p}/{}/{r}",
                            $service
                        )));
                    }
                    $krate::Client::from_conf(b.build())
                }))
            }};
        }
        let arc_base = base.clone();
        let arc_clock = clock.clone();
        let s3_url = endpoints.get("s3").cloned();
        let s3_partition = partition.clone();
        AwsClients {
            rds: regional!(aws_sdk_rds, "rds"),
            cloudwatch: regional!(aws_sdk_cloudwatch, "cloudwatch"),
            sns: regional!(aws_sdk_sns, "sns"),
            s3: {
                let base = base.clone();
                let clock = clock.clone();
                Arc::new(Regional::from_fn(move |r| {
                    let mut b = aws_sdk_s3::config::Builder::from(&regional_config(&base, r, &clock))
                        .timeout_config(s3_timeouts())
                        .force_path_style(base.endpoint_url().is_some() || s3_url.is_some());
                    if let Some(u) = &s3_url {
                        b = b.endpoint_url(u.clone());
                    }
                    if let Some(p) = &s3_partition {
                        b = b.retry_partition(aws_sdk_s3::config::retry::RetryPartition::new(format!("{p}/s3/{r}")));
                    }
                    aws_sdk_s3::Client::from_conf(b.build())
                }))
            },
            secrets: regional!(aws_sdk_secretsmanager, "secretsmanager"),
            dynamodb: regional!(aws_sdk_dynamodb, "dynamodb"),
            sfn: regional!(aws_sdk_sfn, "states"),
            ssm: regional!(aws_sdk_ssm, "ssm"),
            arc: Arc::new(move |ep, t| arc_client(&arc_base, ep, t, &arc_clock)),
            clock,
            seed: None,
            http: Arc::default(),
        }
    }
}

/// The ARC data-plane client of one endpoint: its own Region, no SDK retries, the plan's
/// connect and per-attempt timeouts on the shared clock.
pub fn arc_client(
    base: &SdkConfig,
    endpoint: &ClusterEndpoint,
    timeouts: &ArcTimeouts,
    clock: &SharedClock,
) -> aws_sdk_route53recoverycluster::Client {
    let conf = aws_sdk_route53recoverycluster::config::Builder::from(&regional_config(base, &endpoint.region, clock))
        .endpoint_url(endpoint.url.clone())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(timeouts.connect_ms))
                .operation_attempt_timeout(Duration::from_millis(timeouts.attempt_ms))
                .operation_timeout(Duration::from_millis(timeouts.attempt_ms))
                .build(),
        )
        .build();
    aws_sdk_route53recoverycluster::Client::from_conf(conf)
}

/// The retry classifier of calls that must not run twice (the Aurora move calls): it runs
/// after the SDK's own classifiers and keeps only their throttling verdict. A throttled
/// request was refused before it was executed, so re-sending it is safe; every other
/// retryable answer (a timeout, a dropped connection, a 5xx) may follow an executed call,
/// and is not re-sent.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlesOnly;

impl ClassifyRetry for ThrottlesOnly {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError { kind: RetryKind::ThrottlingError, .. }) => {
                previous.clone()
            }
            _ if matches!(ctx.output_or_error(), Some(Ok(_))) => RetryAction::NoActionIndicated,
            _ => RetryAction::RetryForbidden,
        }
    }

    fn name(&self) -> &'static str {
        "ThrottlesOnly"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// What an SDK error means for the error contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: ErrorKind,
    /// The AWS error code (`ThrottlingException`), or the failure class (`timeout`).
    pub code: String,
    pub message: String,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
}

impl Classified {
    /// No answer came from the service: a timeout, a connection that failed, or a server
    /// error. A throttled or refused request was answered (the Region's API is there).
    pub fn unanswered(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }

    /// A [`StepError`] saying what failed: `"{what}: {code}: {message}"`.
    pub fn into_step_error(self, what: &str) -> StepError {
        StepError::new(self.kind, format!("{what}: {}: {}", self.code, self.message))
    }
}

/// Maps an SDK error into the error contract, keeping the AWS code and message.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Classified
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::TimeoutError(_) => Classified {
            kind: ErrorKind::Transient,
            code: "timeout".into(),
            message: "no answer in time".into(),
            status: None,
        },
        SdkError::DispatchFailure(d) => {
            let code = if d.is_timeout() {
                "timeout"
            } else if d.is_io() {
                "connect"
            } else {
                "dispatch"
            };
            Classified {
                kind: ErrorKind::Transient,
                code: code.into(),
                message: d
                    .as_connector_error()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "the request was not sent".into()),
                status: None,
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            Classified {
                kind: if status >= 500 || status == 429 { ErrorKind::Transient } else { ErrorKind::Internal },
                code: format!("http-{status}"),
                message: "the response could not be read".into(),
                status: Some(status),
            }
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("").to_string();
            let message = s.err().message().unwrap_or("").to_string();
            let kind = kind_of(&code, status);
            Classified {
                kind,
                code: if code.is_empty() { format!("http-{status}") } else { code },
                message,
                status: Some(status),
            }
        }
        SdkError::ConstructionFailure(_) => Classified {
            kind: ErrorKind::Internal,
            code: "construction".into(),
            message: "the request could not be built".into(),
            status: None,
        },
        other => {
            Classified { kind: ErrorKind::Internal, code: "unknown".into(), message: other.to_string(), status: None }
        }
    }
}

/// The error-contract kind of an AWS error code and HTTP status.
pub fn kind_of(code: &str, status: u16) -> ErrorKind {
    const THROTTLING: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "EndpointTemporarilyUnavailableException",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    ];
    const DENIED: &[&str] = &[
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthorizationError",
        "KMSKeyNotAccessibleFault",
    ];
    if THROTTLING.contains(&code) {
        return ErrorKind::Transient;
    }
    if DENIED.contains(&code) {
        return ErrorKind::AccessDenied;
    }
    if code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
        || code.ends_with("NotFoundException")
        || code == "NoSuchKey"
        || code == "NoSuchBucket"
        || code == "NotFound"
    {
        return ErrorKind::NotFound;
    }
    if code.contains("QuotaExceeded") || code.contains("LimitExceeded") || code.starts_with("Insufficient") {
        return ErrorKind::QuotaExceeded;
    }
    if code.starts_with("Invalid") && (code.ends_with("StateFault") || code.ends_with("State")) {
        return ErrorKind::InvalidState;
    }
    if code.ends_with("AlreadyExistsFault") || code.ends_with("AlreadyExists") || code == "ConflictException" {
        return ErrorKind::InvalidState;
    }
    if code == "ValidationException" || code == "ValidationError" || code.starts_with("InvalidParameter") {
        return ErrorKind::BadInput;
    }
    if status >= 500 || status == 429 {
        return ErrorKind::Transient;
    }
    if status == 403 {
        return ErrorKind::AccessDenied;
    }
    ErrorKind::Internal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_contract() {
        assert_eq!(kind_of("ThrottlingException", 400), ErrorKind::Transient);
        assert_eq!(kind_of("Throttling", 400), ErrorKind::Transient);
        assert_eq!(kind_of("AccessDeniedException", 403), ErrorKind::AccessDenied);
        assert_eq!(kind_of("DBClusterNotFoundFault", 404), ErrorKind::NotFound);
        assert_eq!(kind_of("GlobalClusterNotFoundFault", 404), ErrorKind::NotFound);
        assert_eq!(kind_of("ResourceNotFoundException", 400), ErrorKind::NotFound);
        assert_eq!(kind_of("InvalidGlobalClusterStateFault", 400), ErrorKind::InvalidState);
        assert_eq!(kind_of("InvalidDBClusterStateFault", 400), ErrorKind::InvalidState);
        assert_eq!(kind_of("SnapshotQuotaExceeded", 400), ErrorKind::QuotaExceeded);
        assert_eq!(kind_of("ServiceLimitExceededException", 402), ErrorKind::QuotaExceeded);
        assert_eq!(kind_of("InsufficientDBInstanceCapacity", 400), ErrorKind::QuotaExceeded);
        assert_eq!(kind_of("ValidationException", 400), ErrorKind::BadInput);
        assert_eq!(kind_of("SomethingNew", 503), ErrorKind::Transient);
        assert_eq!(kind_of("SomethingNew", 400), ErrorKind::Internal);
    }
}
