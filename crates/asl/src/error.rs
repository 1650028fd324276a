//! Errors of this crate, and the States Language error names the runner reports.

use std::fmt;

/// `States.ALL`: matches every error a catcher may see, except the terminal ones.
pub const ALL: &str = "States.ALL";
/// Matches every error of a Task except timeouts.
pub const TASK_FAILED: &str = "States.TaskFailed";
pub const TIMEOUT: &str = "States.Timeout";
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
/// Not catchable nor retriable: a path that matches nothing, the history limit.
pub const RUNTIME: &str = "States.Runtime";
/// A payload over 256 KiB; `States.ALL` does not catch it.
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";

/// One thing wrong with a definition, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `States.<state>.<field>`, nested as `States.P.Branches[0].States.X.Retry[1].ErrorEquals`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Everything that can go wrong outside of a running execution.
#[derive(Debug, thiserror::Error)]
pub enum AslError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The definition uses something invalid or unsupported; every problem is listed.
    #[error("invalid or unsupported state machine definition ({} problem(s)):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
    #[error("definition substitution: {0}")]
    Substitution(String),
    #[error("execution input: {0}")]
    InvalidInput(String),
    #[error("an execution named `{0}` already exists")]
    ExecutionAlreadyExists(String),
    #[error("mock configuration: {0}")]
    MockConfig(String),
}

impl AslError {
    /// The problems, if this is a definition error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            AslError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn list(p: &[Problem]) -> String {
    p.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

/// Why a `SendTaskSuccess` / `SendTaskFailure` / `SendTaskHeartbeat` was refused (the AWS error codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("InvalidToken: {0}")]
    InvalidToken(String),
    #[error("TaskDoesNotExist: {0}")]
    TaskDoesNotExist(String),
    #[error("TaskTimedOut: {0}")]
    TaskTimedOut(String),
    #[error("InvalidOutput: {0}")]
    InvalidOutput(String),
}

impl CallbackError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidToken(_) => "InvalidToken",
            CallbackError::TaskDoesNotExist(_) => "TaskDoesNotExist",
            CallbackError::TaskTimedOut(_) => "TaskTimedOut",
            CallbackError::InvalidOutput(_) => "InvalidOutput",
        }
    }
}

/// A state's failure inside an execution: the error name Retry and Catch match, and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { error: error.into(), cause: cause.into() }
    }
    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Self::new(RUNTIME, cause)
    }
    pub(crate) fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(INTRINSIC_FAILURE, cause)
    }

    /// Whether an `ErrorEquals` entry matches this failure in a retrier or catcher of a `Task`,
    /// `Parallel` or `Map` state.
    pub fn matches(&self, name: &str) -> bool {
        if self.error == RUNTIME {
            return false;
        }
        match name {
            ALL => self.error != DATA_LIMIT_EXCEEDED,
            TASK_FAILED => !matches!(self.error.as_str(), TIMEOUT | HEARTBEAT_TIMEOUT | DATA_LIMIT_EXCEEDED),
            TIMEOUT => self.error == TIMEOUT || self.error == HEARTBEAT_TIMEOUT,
            other => self.error == other,
        }
    }
}
