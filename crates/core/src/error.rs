//! The error contract: the stable `errorType` names that the state machines match.
//!
//! Lambda reports a function error as `{errorType, errorMessage}` and Step Functions'
//! `Retry` and `Catch` match `errorType`. The runtime's default is a Rust type name, which
//! would change with a refactor, so every handler returns a [`StepError`] whose
//! [`ErrorKind`] is one of the names below. `ARCHITECTURE.md` carries the same table; the
//! state machine definitions may match only these names (a test checks it).
//!
//! Adding a kind is an API change: add it here, to the table, and to the state machines.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable error names, each with whether the state machine retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The awaited condition is not reached yet; the state machine polls again.
    #[serde(rename = "Failover.NotYet")]
    NotYet,
    /// The target Region does not serve yet (verify-health); polled like `NotYet`.
    #[serde(rename = "Failover.NotHealthyYet")]
    NotHealthyYet,
    /// A transient AWS failure: throttling, 5xx, timeout, connection error.
    #[serde(rename = "Failover.Transient")]
    Transient,
    /// Every ARC cluster endpoint failed in this invocation.
    #[serde(rename = "Failover.EndpointsUnavailable")]
    EndpointsUnavailable,
    /// ARC kept answering `ConflictException` after the bounded retries.
    #[serde(rename = "Failover.Conflict")]
    Conflict,
    /// Refused by a safety rule: ours (no Region left On) or ARC's safety rules.
    #[serde(rename = "Failover.SafetyRefusal")]
    SafetyRefusal,
    /// A planned switchover's preconditions fail (replication lag over the RPO, a member
    /// not available); the unplanned mode may still be possible.
    #[serde(rename = "Failover.SwitchoverRefused")]
    SwitchoverRefused,
    /// A precondition of every mode fails (engine versions differ, no instance).
    #[serde(rename = "Failover.PreconditionFailed")]
    PreconditionFailed,
    /// A resource is in a state that forbids the action (e.g. a failover to another target
    /// is in progress).
    #[serde(rename = "Failover.InvalidState")]
    InvalidState,
    /// The event or the plan is invalid; nothing was changed.
    #[serde(rename = "Failover.BadInput")]
    BadInput,
    /// A resource named in the plan or the event does not exist.
    #[serde(rename = "Failover.NotFound")]
    NotFound,
    /// IAM denied the call.
    #[serde(rename = "Failover.AccessDenied")]
    AccessDenied,
    /// A service quota or limit was reached.
    #[serde(rename = "Failover.QuotaExceeded")]
    QuotaExceeded,
    /// The old primary's snapshot will never appear: the lost rows cannot be known.
    #[serde(rename = "Failover.SnapshotUnavailable")]
    SnapshotUnavailable,
    /// An approver rejected the request (sent as a task failure by the approval path).
    #[serde(rename = "Failover.ApprovalRejected")]
    ApprovalRejected,
    /// A bug or an answer that makes no sense; never retried.
    #[serde(rename = "Failover.Internal")]
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::NotYet,
        ErrorKind::NotHealthyYet,
        ErrorKind::Transient,
        ErrorKind::EndpointsUnavailable,
        ErrorKind::Conflict,
        ErrorKind::SafetyRefusal,
        ErrorKind::SwitchoverRefused,
        ErrorKind::PreconditionFailed,
        ErrorKind::InvalidState,
        ErrorKind::BadInput,
        ErrorKind::NotFound,
        ErrorKind::AccessDenied,
        ErrorKind::QuotaExceeded,
        ErrorKind::SnapshotUnavailable,
        ErrorKind::ApprovalRejected,
        ErrorKind::Internal,
    ];

    /// The `errorType` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotYet => "Failover.NotYet",
            ErrorKind::NotHealthyYet => "Failover.NotHealthyYet",
            ErrorKind::Transient => "Failover.Transient",
            ErrorKind::EndpointsUnavailable => "Failover.EndpointsUnavailable",
            ErrorKind::Conflict => "Failover.Conflict",
            ErrorKind::SafetyRefusal => "Failover.SafetyRefusal",
            ErrorKind::SwitchoverRefused => "Failover.SwitchoverRefused",
            ErrorKind::PreconditionFailed => "Failover.PreconditionFailed",
            ErrorKind::InvalidState => "Failover.InvalidState",
            ErrorKind::BadInput => "Failover.BadInput",
            ErrorKind::NotFound => "Failover.NotFound",
            ErrorKind::AccessDenied => "Failover.AccessDenied",
            ErrorKind::QuotaExceeded => "Failover.QuotaExceeded",
            ErrorKind::SnapshotUnavailable => "Failover.SnapshotUnavailable",
            ErrorKind::ApprovalRejected => "Failover.ApprovalRejected",
            ErrorKind::Internal => "Failover.Internal",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the state machines retry this kind (polls and transient failures).
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::NotYet
                | ErrorKind::NotHealthyYet
                | ErrorKind::Transient
                | ErrorKind::EndpointsUnavailable
                | ErrorKind::Conflict
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every handler returns on failure: a stable kind and a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
    pub fn not_yet(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotYet, message)
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// The `errorType` the Lambda runtime reports.
    pub fn error_type(&self) -> &'static str {
        self.kind.as_str()
    }
}

impl From<StepError> for lambda_runtime::Diagnostic {
    fn from(e: StepError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.kind.as_str().to_string(), error_message: e.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_round_trip() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
            assert!(kind.as_str().starts_with("Failover."));
        }
        assert_eq!(ErrorKind::from_name("Lambda.ServiceException"), None);
    }

    #[test]
    fn diagnostic_carries_the_stable_name() {
        let d: lambda_runtime::Diagnostic = StepError::not_yet("switching-over").into();
        assert_eq!(d.error_type, "Failover.NotYet");
        assert_eq!(d.error_message, "switching-over");
    }

    #[test]
    fn only_polls_and_transients_are_retryable() {
        let retryable: Vec<_> = ErrorKind::ALL.into_iter().filter(|k| k.retryable()).collect();
        assert_eq!(
            retryable,
            vec![
                ErrorKind::NotYet,
                ErrorKind::NotHealthyYet,
                ErrorKind::Transient,
                ErrorKind::EndpointsUnavailable,
                ErrorKind::Conflict
            ]
        );
    }
}
