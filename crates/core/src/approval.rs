//! Approval links, the approval request's state machine and the approval pages: the pure
//! half of the `approval` function (the Function URL behind the e-mail's links).
//!
//! When `notify` publishes an approval request, the Step Functions task token is stored
//! server-side, beside an [`ApprovalRecord`] keyed by a random [`RequestId`]
//! ([`new_request_id`]). The e-mail carries one [`Link`] per [`Decision`] to the approval
//! URL of the stack that waits: the request id, the decision, the expiry, the stack's Region
//! and the plan, signed with HMAC-SHA256 under that stack's key ([`sign`], [`verify`]).
//!
//! * A GET renders a page and never decides ([`render_get`], [`render_confirmation`]).
//! * Only the POST from the confirmation page decides: [`parse_form`], then [`verify`], then
//!   [`decide`] says what to write and send ([`Transition`]) or why not ([`Refusal`]);
//!   [`deliver_outcome`] reads Step Functions' answer, [`render_outcome`] shows it.
//! * Forged, altered, expired, replayed, signed with another key, or meant for the other
//!   Region's stack: [`render_refusal`] gives a clear page and nothing changes.
//!
//! DynamoDB deletes expired items lazily (they may still be read and still satisfy
//! conditions), so every check here tests the expiry itself; the adapter's conditional
//! writes must do the same (`expires_at > :now`).
//!
//! This module never reads the clock (time comes in as `SystemTime`) and calls no AWS
//! service. The task token is a [`TaskToken`] kept beside the record ([`StoredApproval`]),
//! never in it: no page, link or log line is built from anything that holds the token.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::form_urlencoded;

use crate::contract::Mode;
use crate::error::ErrorKind;
use crate::plan::Region;

/// The task token type of the state contract, whose `Debug` and `Display` are redacted.
pub use crate::contract::notify::TaskToken;

type HmacSha256 = Hmac<Sha256>;

/// The first line of every signed message: a new link format gets a new version, so a
/// signature of one format never verifies as another.
pub const SIGNATURE_VERSION: &str = "failover-approval-v1";

/// The form field that carries the approver's name.
pub const NAME_FIELD: &str = "name";

/// The longest approver name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The largest form body accepted, in bytes once decoded.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

/// The latest time shown as a date (9999-12-31T23:59:59Z); later ones are shown as numbers.
const MAX_SHOWN_UNIX_SECONDS: u64 = 253_402_300_799;

/// Unix seconds of `t` (0 before the epoch).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Request ids and links
// ---------------------------------------------------------------------------------------

/// An approval request's id: 128 random bits as 32 lowercase hex digits. It names the
/// DynamoDB item; unguessable, but not a credential on its own (links are signed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    /// Parses 32 lowercase hex digits; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RequestId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("request_id: `{s}` is not 32 lowercase hex digits"))
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> String {
        id.0
    }
}

/// A new request id from `rng`, which must be a cryptographic generator (e.g.
/// `rand::rng()`): the id must not be guessable from earlier ones.
pub fn new_request_id<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> RequestId {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(rng, &mut bytes);
    RequestId(hex::encode(bytes))
}

/// What a link asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    /// The wire name (`approve`, `reject`), as in the link's `d` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Decision::Approve),
            "reject" => Some(Decision::Reject),
            _ => None,
        }
    }

    /// The button label (`Approve`, `Reject`).
    pub fn label(self) -> &'static str {
        match self {
            Decision::Approve => "Approve",
            Decision::Reject => "Reject",
        }
    }

    /// `approved`, `rejected`.
    pub fn past(self) -> &'static str {
        match self {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approve or reject link, as signed: what it decides, for which request, until when,
/// for which Region's stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub request_id: RequestId,
    pub decision: Decision,
    /// Unix seconds; the link is refused from this second on.
    pub expires_at: u64,
    /// The Region of the stack whose approval URL the link is for (the stack that waits).
    pub region: Region,
    /// The plan's name.
    pub plan: String,
}

/// A part of a link or a form, as named in [`LinkError::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkField {
    RequestId,
    Decision,
    ExpiresAt,
    Region,
    Plan,
    Signature,
    /// The POST body itself (not base64, too large).
    Form,
}

impl LinkField {
    /// The link's signed parameters, in the order of the query string and of the message.
    pub const SIGNED: [LinkField; 5] =
        [LinkField::RequestId, LinkField::Decision, LinkField::ExpiresAt, LinkField::Region, LinkField::Plan];

    /// The query or form parameter (`r`, `d`, `e`, `g`, `p`, `s`).
    pub fn param(self) -> &'static str {
        match self {
            LinkField::RequestId => "r",
            LinkField::Decision => "d",
            LinkField::ExpiresAt => "e",
            LinkField::Region => "g",
            LinkField::Plan => "p",
            LinkField::Signature => "s",
            LinkField::Form => "body",
        }
    }

    /// What the parameter holds, for messages.
    pub fn description(self) -> &'static str {
        match self {
            LinkField::RequestId => "request id",
            LinkField::Decision => "decision",
            LinkField::ExpiresAt => "expiry",
            LinkField::Region => "Region",
            LinkField::Plan => "plan",
            LinkField::Signature => "signature",
            LinkField::Form => "form",
        }
    }
}

impl fmt::Display for LinkField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkField::Form => f.write_str("form body"),
            other => write!(f, "`{}` ({})", other.param(), other.description()),
        }
    }
}

/// Why a link (or the form that carries it) is refused. Nothing is read or written for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// A parameter is missing, repeated or not in its format.
    #[error("the link's {0} is missing, repeated or malformed")]
    Malformed(LinkField),
    /// The signature does not match the other parameters: one was altered, or the link was
    /// signed with another key.
    #[error("the link's signature does not match: the link was altered, or signed with another key")]
    BadSignature,
    /// The link is genuine and expired.
    #[error("the link expired at unix time {expires_at}")]
    Expired { expires_at: u64 },
    /// The link names the stack of another Region. Checked before the signature (each
    /// stack signs with its own key, so the other stack's links never verify here); the
    /// Region named is the link's claim, syntactically valid but not authenticated.
    #[error("the link is for the stack in {link}, not for this stack in {stack}")]
    WrongRegion { link: Region, stack: Region },
}

/// The canonical message that is signed: the version line, then each signed parameter as
/// `name:byte length:value` on its own line. The length prefixes make it unambiguous:
/// moving bytes from one field to another changes the message.
pub fn canonical_message(link: &Link) -> String {
    let expires_at = link.expires_at.to_string();
    let values: [&str; 5] = [link.request_id.as_str(), link.decision.as_str(), &expires_at, &link.region, &link.plan];
    let mut m = String::with_capacity(128);
    m.push_str(SIGNATURE_VERSION);
    m.push('\n');
    for (field, value) in LinkField::SIGNED.iter().zip(values) {
        let _ = writeln!(m, "{}:{}:{value}", field.param(), value.len());
    }
    m
}

fn mac(key: &[u8], link: &Link) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first): this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(canonical_message(link).as_bytes());
    mac
}

/// The link's parameters with its signature (64 lowercase hex digits), in query order: the
/// query string of [`sign`] and the hidden fields of the confirmation form.
pub fn signed_params(key: &[u8], link: &Link) -> Vec<(&'static str, String)> {
    let signature = hex::encode(mac(key, link).finalize().into_bytes());
    vec![
        (LinkField::RequestId.param(), link.request_id.to_string()),
        (LinkField::Decision.param(), link.decision.as_str().to_string()),
        (LinkField::ExpiresAt.param(), link.expires_at.to_string()),
        (LinkField::Region.param(), link.region.clone()),
        (LinkField::Plan.param(), link.plan.clone()),
        (LinkField::Signature.param(), signature),
    ]
}

/// The query string to append to the approval URL:
/// `?r=<id>&d=approve&e=<expiry>&g=<region>&p=<plan>&s=<hex hmac-sha256>`.
pub fn sign(key: &[u8], link: &Link) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in signed_params(key, link) {
        query.append_pair(name, &value);
    }
    format!("?{}", query.finish())
}

/// The value of the one parameter `name` (`None` when absent or repeated: a repeated
/// parameter is ambiguous, and two parsers could read different values from it).
fn single<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = params.iter().filter(|(k, _)| k == name);
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Some(v.as_str()),
        _ => None,
    }
}

fn param(params: &[(String, String)], field: LinkField) -> Result<&str, LinkError> {
    single(params, field.param()).ok_or(LinkError::Malformed(field))
}

fn region_syntax(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The plan validator's rule for names (letters, digits, hyphens), with a bound.
fn plan_syntax(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks a link's parameters (from the query string or the form; other parameters, such
/// as the approver's name, are ignored) and returns the link they sign.
///
/// In order: every parameter present once and well-formed ([`LinkError::Malformed`] names
/// the first that is not), the Region is this stack's (`expected_region`), the signature
/// matches under `key` (compared in constant time), and `now` is before the expiry.
pub fn verify(
    key: &[u8],
    params: &[(String, String)],
    now: SystemTime,
    expected_region: &str,
) -> Result<Link, LinkError> {
    let request_id =
        RequestId::parse(param(params, LinkField::RequestId)?).ok_or(LinkError::Malformed(LinkField::RequestId))?;
    let decision =
        Decision::parse(param(params, LinkField::Decision)?).ok_or(LinkError::Malformed(LinkField::Decision))?;
    let expires_at = param(params, LinkField::ExpiresAt)?;
    if expires_at.is_empty() || expires_at.len() > 20 || !expires_at.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LinkError::Malformed(LinkField::ExpiresAt));
    }
    let expires_at: u64 = expires_at.parse().map_err(|_| LinkError::Malformed(LinkField::ExpiresAt))?;
    let region = param(params, LinkField::Region)?;
    if !region_syntax(region) {
        return Err(LinkError::Malformed(LinkField::Region));
    }
    let plan = param(params, LinkField::Plan)?;
    if !plan_syntax(plan) {
        return Err(LinkError::Malformed(LinkField::Plan));
    }
    let signature = param(params, LinkField::Signature)?;
    // Lowercase only, as `sign` writes it: one link, one spelling.
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(LinkError::Malformed(LinkField::Signature));
    }
    let signature = hex::decode(signature).map_err(|_| LinkError::Malformed(LinkField::Signature))?;

    let link = Link { request_id, decision, expires_at, region: region.to_string(), plan: plan.to_string() };
    if link.region != expected_region {
        return Err(LinkError::WrongRegion { link: link.region, stack: expected_region.to_string() });
    }
    mac(key, &link).verify_slice(&signature).map_err(|_| LinkError::BadSignature)?;
    if unix_seconds(now) >= link.expires_at {
        return Err(LinkError::Expired { expires_at: link.expires_at });
    }
    Ok(link)
}

/// [`verify`] over a query string (the Function URL event's `rawQueryString`; a leading
/// `?` is allowed). Use the raw string, not `queryStringParameters`, which joins repeated
/// parameters with commas.
pub fn verify_query(key: &[u8], query: &str, now: SystemTime, expected_region: &str) -> Result<Link, LinkError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    verify(key, &params, now, expected_region)
}

/// The pairs of a POST body (`application/x-www-form-urlencoded`). A Function URL passes
/// the body base64-encoded when the event says `isBase64Encoded`.
pub fn parse_form(body: &str, is_base64: bool) -> Result<Vec<(String, String)>, LinkError> {
    // Base64 grows the body by a third: bound the text before decoding it.
    if body.len() > MAX_FORM_BYTES / 3 * 4 + 4 {
        return Err(LinkError::Malformed(LinkField::Form));
    }
    let bytes: Cow<'_, [u8]> = if is_base64 {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| LinkError::Malformed(LinkField::Form))?;
        Cow::Owned(decoded)
    } else {
        Cow::Borrowed(body.as_bytes())
    };
    if bytes.len() > MAX_FORM_BYTES {
        return Err(LinkError::Malformed(LinkField::Form));
    }
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// The value of the form field `name` (`None` when absent or repeated).
pub fn form_field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    single(pairs, name)
}

// ---------------------------------------------------------------------------------------
// The approval request and its state machine
// ---------------------------------------------------------------------------------------

/// Why the failover was started, as the approver is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Reason {
    /// The canary alarms that watch the source Region went into alarm (the proposer).
    Alarms { alarms: Vec<String> },
    /// An operator started it; `note` is what they gave as the reason.
    Operator { note: String },
}

/// A decision as recorded: what, by whom (the name typed on the page), from where (the
/// request's source IP), when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub decision: Decision,
    pub by: String,
    pub from: String,
    pub at: u64,
}

/// What Step Functions answered to a delivered decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// It took the decision (`SendTaskSuccess` / `SendTaskFailure` succeeded).
    Accepted,
    /// The task no longer waited (`TaskTimedOut`, `TaskDoesNotExist`): the decision was
    /// delivered before (and that answer lost), or the approval timed out.
    NoLongerWaiting,
}

/// Where an approval request is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Status {
    /// Nobody decided yet.
    Pending,
    /// Decided and written, not (yet) confirmed by Step Functions.
    Decided(Decided),
    /// Decided and answered by Step Functions.
    Delivered { decided: Decided, delivered_at: u64, answer: Answer },
}

/// One approval request as stored (without its task token) and shown to the approver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub request_id: RequestId,
    /// The execution that waits for the decision.
    pub execution_arn: String,
    pub plan: String,
    /// The Region traffic and writers leave.
    pub source: Region,
    /// The Region they move to (whose stack waits and serves the link).
    pub target: Region,
    pub mode: Mode,
    pub reason: Reason,
    /// The worst replication lag at the request, seconds (`None` when unknown).
    pub lag_seconds: Option<f64>,
    /// The plan's recovery point objective, seconds.
    pub rpo_seconds: u64,
    /// Unix seconds; the request is refused from this second on, whether or not DynamoDB
    /// has deleted the item yet.
    pub expires_at: u64,
    pub status: Status,
    /// Who may decide, by name; empty means anyone who holds the link. Names are typed by
    /// the link's holder: this records who claims to decide, it authenticates nobody.
    pub approvers: Vec<String>,
}

impl ApprovalRecord {
    /// Whether the request has expired at `now` (from its expiry second on).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        unix_seconds(now) >= self.expires_at
    }
}

/// A record with the task token that answers it: what the store reads and writes. Not
/// serialisable, and its `Debug` redacts the token; pages take the record alone.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApproval {
    pub record: ApprovalRecord,
    pub task_token: TaskToken,
}

/// What a POST does to a request, from [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Write pending -> decided with this decision (conditionally: still pending and not
    /// expired), then send it to Step Functions.
    Decide(Decided),
    /// Decided before with the same decision, never confirmed: send it again (Step
    /// Functions answers `TaskTimedOut` if the first send had arrived). Write nothing first.
    Redeliver(Decided),
    /// Decided with the same decision and delivered: show the outcome, send nothing.
    AlreadyDone { decided: Decided, delivered_at: u64, answer: Answer },
}

impl Transition {
    /// The decision to send or show.
    pub fn decided(&self) -> &Decided {
        match self {
            Transition::Decide(d) | Transition::Redeliver(d) => d,
            Transition::AlreadyDone { decided, .. } => decided,
        }
    }
}

/// Why a genuine link does not decide. Nothing is written for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such request in this stack (never made here, or expired and deleted).
    #[error("no approval request with this id in this stack")]
    UnknownRequest,
    /// The request expired (even if its item still exists).
    #[error("the approval request expired at unix time {expires_at}")]
    Expired { expires_at: u64 },
    /// It was decided the other way first.
    #[error("the approval request was already {} by {} at unix time {}", .decided.decision.past(), .decided.by, .decided.at)]
    DecidedOtherwise { decided: Decided },
    /// The plan names its approvers and this is not one of them.
    #[error("name: `{name}` is not one of the plan's approvers")]
    NotAnApprover { name: String },
    /// No name was typed.
    #[error("name: required (it is recorded with the decision)")]
    NameMissing,
    /// The name is too long or holds control characters.
    #[error("name: at most {MAX_NAME_CHARS} characters, and no control characters")]
    NameInvalid,
}

/// Whether two typed names are the same approver: equal without case or surrounding blanks.
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// What is wrong with `name` as an approver's name, if anything: the rule the page applies
/// to a typed name and the plan to its list.
pub fn name_problem(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        Some("must not be empty".into())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!("at most {MAX_NAME_CHARS} characters"))
    } else if name.chars().any(char::is_control) {
        Some("must not hold control characters".into())
    } else {
        None
    }
}

/// `name`, trimmed, when it may decide `record`: given, valid, and one of the record's
/// approvers when it names any.
pub fn checked_name<'a>(record: &ApprovalRecord, name: &'a str) -> Result<&'a str, Refusal> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Refusal::NameMissing);
    }
    if name_problem(name).is_some() {
        return Err(Refusal::NameInvalid);
    }
    if !record.approvers.is_empty() && !record.approvers.iter().any(|a| same_name(a, name)) {
        return Err(Refusal::NotAnApprover { name: name.to_string() });
    }
    Ok(name)
}

/// The request `link` names, if `record` is it and it has not expired at `now`.
fn live_request<'a>(
    record: Option<&'a ApprovalRecord>,
    link: &Link,
    now: SystemTime,
) -> Result<&'a ApprovalRecord, Refusal> {
    let record =
        record.filter(|r| r.request_id == link.request_id && r.plan == link.plan).ok_or(Refusal::UnknownRequest)?;
    if record.is_expired(now) {
        return Err(Refusal::Expired { expires_at: record.expires_at });
    }
    Ok(record)
}

/// What the POST of a verified `link` does to `record` (`None`: no item with the link's
/// request id), by the approver who typed `name`, from the source IP `from`, at `now`.
///
/// Checks, in order: the record is the link's, it has not expired, the name is given and
/// valid, it is one of the approvers (when the plan names any). Then: pending -> decide;
/// decided the same way -> deliver again (never refused as a replay: the earlier answer to
/// Step Functions may have been lost); delivered the same way -> show it; decided the other
/// way -> refused.
pub fn decide(
    record: Option<&ApprovalRecord>,
    link: &Link,
    name: &str,
    from: &str,
    now: SystemTime,
) -> Result<Transition, Refusal> {
    let record = live_request(record, link, now)?;
    let name = checked_name(record, name)?;
    match &record.status {
        Status::Pending => Ok(Transition::Decide(Decided {
            decision: link.decision,
            by: name.to_string(),
            from: from.to_string(),
            at: unix_seconds(now),
        })),
        Status::Decided(d) if d.decision == link.decision => Ok(Transition::Redeliver(d.clone())),
        Status::Delivered { decided, delivered_at, answer } if decided.decision == link.decision => {
            Ok(Transition::AlreadyDone { decided: decided.clone(), delivered_at: *delivered_at, answer: *answer })
        }
        Status::Decided(d) | Status::Delivered { decided: d, .. } => {
            Err(Refusal::DecidedOtherwise { decided: d.clone() })
        }
    }
}

/// What to send Step Functions for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAnswer {
    /// `SendTaskSuccess` with this output (JSON text, the waiting state's `$.decision`).
    Success { output: String },
    /// `SendTaskFailure` with this error (the state machine's `Catch` matches it) and cause.
    Failure { error: &'static str, cause: String },
}

/// The answer for `decided`: the same for every delivery of the same decision, so a
/// redelivery sends exactly what the first send did.
pub fn task_answer(record: &ApprovalRecord, decided: &Decided) -> TaskAnswer {
    match decided.decision {
        Decision::Approve => TaskAnswer::Success {
            output: serde_json::json!({
                "decision": decided.decision.as_str(),
                "request_id": record.request_id.as_str(),
                "by": decided.by,
                "at": show_time(decided.at),
            })
            .to_string(),
        },
        Decision::Reject => TaskAnswer::Failure {
            error: ErrorKind::ApprovalRejected.as_str(),
            cause: format!("rejected by {} at {} (request {})", decided.by, show_time(decided.at), record.request_id),
        },
    }
}

/// What came of sending a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Step Functions answered: write the record delivered with this answer.
    Answered(Answer),
    /// It did not take the decision (`code`: throttling, a 5xx, a network error...). The
    /// record stays decided; the next POST delivers it again.
    NotDelivered { code: String },
}

/// Reads Step Functions' answer to `SendTaskSuccess`/`SendTaskFailure`: `Ok`, or the error
/// code. `TaskTimedOut` and `TaskDoesNotExist` mean the task no longer waits: already
/// decided (an earlier delivery arrived) or expired; nothing is left to deliver.
pub fn deliver_outcome(result: Result<(), &str>) -> Delivery {
    match result {
        Ok(()) => Delivery::Answered(Answer::Accepted),
        Err("TaskTimedOut" | "TaskDoesNotExist") => Delivery::Answered(Answer::NoLongerWaiting),
        Err(code) => Delivery::NotDelivered { code: code.to_string() },
    }
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

/// An HTTP response for the Function URL: status, headers, HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The headers of every page: not cached, not framed, no referrer (the URL holds the
/// link), no script, forms only to this origin.
pub fn page_headers() -> Vec<(String, String)> {
    [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:0 auto;padding:.8rem;\
line-height:1.35}h1{font-size:1.3rem;margin:.2rem 0 .6rem}dl{display:grid;grid-template-columns:auto 1fr;\
gap:.15rem .7rem;margin:.4rem 0}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}\
label{display:block;margin-top:.6rem;font-weight:600}input[type=text]{width:100%;box-sizing:border-box;\
font-size:1.1rem;padding:.4rem}button{font-size:1.2rem;padding:.6rem 1.6rem;margin-top:.7rem}\
.note{font-size:.85rem;color:#444}.warn{color:#a40000;font-weight:600}";

/// Text between tags, escaped.
fn text(s: &str) -> Cow<'_, str> {
    html_escape::encode_text(s)
}

/// A double-quoted attribute value, escaped.
fn attr(s: &str) -> Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

/// A time as RFC 3339 UTC (as a number when outside the years 1970-9999).
fn show_time(unix: u64) -> String {
    match UNIX_EPOCH.checked_add(Duration::from_secs(unix)) {
        Some(t) if unix <= MAX_SHOWN_UNIX_SECONDS => crate::time_fmt::rfc3339(t),
        _ => format!("unix time {unix}"),
    }
}

fn page(status: u16, title: &str, main: &str) -> Page {
    let mut body = String::with_capacity(main.len() + STYLE.len() + 256);
    body.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    body.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(body, "<title>{}</title><style>{STYLE}</style></head><body>", text(title));
    body.push_str(main);
    body.push_str("</body></html>\n");
    Page { status, headers: page_headers(), body }
}

fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Planned => "planned: switchover, nothing is lost",
        Mode::Unplanned => "unplanned: failover with data loss allowed",
    }
}

fn reason_text(reason: &Reason) -> String {
    match reason {
        Reason::Alarms { alarms } if alarms.is_empty() => "canary alarms".to_string(),
        Reason::Alarms { alarms } => format!("canary alarms: {}", alarms.join(", ")),
        Reason::Operator { note } if note.trim().is_empty() => "started by an operator".to_string(),
        Reason::Operator { note } => format!("started by an operator: {note}"),
    }
}

fn risk_text(record: &ApprovalRecord) -> (String, bool) {
    let rpo = record.rpo_seconds;
    match (record.lag_seconds, record.mode) {
        (None, _) => (format!("replication lag unknown at the request; RPO {rpo} s"), record.mode == Mode::Unplanned),
        (Some(lag), Mode::Planned) => {
            (format!("replication lag {lag:.1} s at the request (a switchover waits for it); RPO {rpo} s"), false)
        }
        (Some(lag), Mode::Unplanned) => {
            let over = lag > rpo as f64;
            let verdict = if over { ", over the RPO" } else { "" };
            (
                format!(
                    "up to {lag:.1} s of writes (the replication lag at the request), against an RPO of {rpo} s{verdict}"
                ),
                over,
            )
        }
    }
}

fn what_happens(record: &ApprovalRecord, decision: Decision) -> String {
    let (source, target) = (&record.source, &record.target);
    match (decision, record.mode) {
        (Decision::Reject, _) => "The execution stops at the approval: no traffic and no database moves.".to_string(),
        (Decision::Approve, Mode::Planned) => format!(
            "Traffic moves from {source} to {target} (routing controls), every global database switches over \
             to {target} without data loss, and the result is verified."
        ),
        (Decision::Approve, Mode::Unplanned) => format!(
            "Traffic moves from {source} to {target} (routing controls) and every global database fails over to \
             {target}: writes not yet replicated from {source} are lost until the recovery report lists them."
        ),
    }
}

fn summary(main: &mut String, record: &ApprovalRecord) {
    let (risk, warn) = risk_text(record);
    main.push_str("<dl>");
    let _ = write!(main, "<dt>Plan</dt><dd>{}</dd>", text(&record.plan));
    let _ = write!(main, "<dt>Move</dt><dd>{} &rarr; {}</dd>", text(&record.source), text(&record.target));
    let _ = write!(main, "<dt>Mode</dt><dd>{}</dd>", text(mode_text(record.mode)));
    let _ = write!(main, "<dt>Why</dt><dd>{}</dd>", text(&reason_text(&record.reason)));
    let class = if warn { " class=\"warn\"" } else { "" };
    let _ = write!(main, "<dt>At risk</dt><dd{class}>{}</dd>", text(&risk));
    let _ = write!(main, "<dt>Expires</dt><dd>{}</dd>", text(&show_time(record.expires_at)));
    main.push_str("</dl>");
}

/// The confirmation page of a GET: what the decision does, and the one form whose POST
/// decides (hidden fields re-signed under `key`, identical to the link's; a required name;
/// one button). `action_url` is where the form posts: this Function URL, as a path.
pub fn render_confirmation(record: &ApprovalRecord, link: &Link, key: &[u8], action_url: &str) -> Page {
    let d = link.decision;
    let title = format!("{} failover of {}?", d.label(), record.plan);
    let mut main = String::with_capacity(4096);
    let _ = write!(main, "<h1>{}</h1>", text(&title));
    summary(&mut main, record);
    let _ = write!(main, "<p><strong>If you {}:</strong> {}</p>", d.as_str(), text(&what_happens(record, d)));
    if let Status::Decided(earlier) = &record.status {
        let _ = write!(
            main,
            "<p class=\"warn\">Already {} by {} at {}, but Step Functions has not confirmed it: submitting \
             delivers it again (it is not counted twice).</p>",
            earlier.decision.past(),
            text(&earlier.by),
            text(&show_time(earlier.at)),
        );
    }
    let _ = write!(main, "<form method=\"post\" action=\"{}\">", attr(action_url));
    for (name, value) in signed_params(key, link) {
        let _ = write!(main, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", attr(name), attr(&value));
    }
    if !record.approvers.is_empty() {
        let _ = write!(
            main,
            "<p>Only the plan's approvers may decide: {}. Type your name as it is listed.</p>",
            text(&record.approvers.join(", "))
        );
    }
    let _ = write!(
        main,
        "<label for=\"{NAME_FIELD}\">Your name</label><input type=\"text\" id=\"{NAME_FIELD}\" name=\"{NAME_FIELD}\" \
         required maxlength=\"{MAX_NAME_CHARS}\" autocomplete=\"name\"><button type=\"submit\">{}</button></form>",
        d.label()
    );
    main.push_str(
        "<p class=\"note\">This link is a bearer credential: anyone with the e-mail can use it. Do not forward \
         it. Your name and address are recorded with the decision.</p>",
    );
    let _ = write!(main, "<p class=\"note\">Execution: {}</p>", text(&record.execution_arn));
    page(200, &title, &main)
}

/// The page of a GET with a verified `link`: the confirmation form while the request can be
/// decided that way (pending, or decided that way and not delivered), the outcome once it
/// is delivered, a refusal otherwise. Never decides.
pub fn render_get(record: Option<&ApprovalRecord>, link: &Link, key: &[u8], action_url: &str, now: SystemTime) -> Page {
    let record = match live_request(record, link, now) {
        Ok(r) => r,
        Err(refusal) => return render_refusal(refusal),
    };
    match &record.status {
        Status::Pending => render_confirmation(record, link, key, action_url),
        Status::Decided(d) if d.decision == link.decision => render_confirmation(record, link, key, action_url),
        Status::Delivered { decided, answer, .. } if decided.decision == link.decision => {
            render_outcome(record, decided, &Delivery::Answered(*answer))
        }
        Status::Decided(d) | Status::Delivered { decided: d, .. } => {
            render_refusal(Refusal::DecidedOtherwise { decided: d.clone() })
        }
    }
}

/// The page after a POST: the decision and what Step Functions made of it.
pub fn render_outcome(record: &ApprovalRecord, decided: &Decided, delivery: &Delivery) -> Page {
    let done = match decided.decision {
        Decision::Approve => "Approved",
        Decision::Reject => "Rejected",
    };
    let (status, title) = match delivery {
        Delivery::Answered(_) => (200, format!("{done}: failover of {}", record.plan)),
        Delivery::NotDelivered { .. } => (503, format!("{done}, not delivered yet: failover of {}", record.plan)),
    };
    let next = match (delivery, decided.decision) {
        (Delivery::Answered(Answer::Accepted), Decision::Approve) => {
            format!("Step Functions took the decision: the failover to {} goes on.", record.target)
        }
        (Delivery::Answered(Answer::Accepted), Decision::Reject) => {
            "Step Functions took the decision: the execution stops, nothing moves.".to_string()
        }
        (Delivery::Answered(Answer::NoLongerWaiting), _) => {
            "Step Functions no longer waits for this decision: it was delivered earlier, or the approval timed \
             out. The execution's history says which."
                .to_string()
        }
        (Delivery::NotDelivered { code }, _) => format!(
            "The decision is recorded, but Step Functions did not take it ({code}). Submit the form again, or open \
             the link from the e-mail again, to deliver it: it is not counted twice."
        ),
    };
    let mut main = String::with_capacity(2048);
    let _ = write!(main, "<h1>{}</h1>", text(&title));
    let _ = write!(main, "<p>{done} by {} at {}.</p>", text(&decided.by), text(&show_time(decided.at)));
    let _ = write!(main, "<p>{}</p>", text(&next));
    let _ = write!(main, "<p class=\"note\">Execution: {}</p>", text(&record.execution_arn));
    page(status, &title, &main)
}

/// Anything [`render_refusal`] shows: a refused link or a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Link(LinkError),
    Request(Refusal),
}

impl From<LinkError> for Problem {
    fn from(e: LinkError) -> Self {
        Problem::Link(e)
    }
}

impl From<Refusal> for Problem {
    fn from(r: Refusal) -> Self {
        Problem::Request(r)
    }
}

/// The page of a refused link or request: what is wrong, what to do, and that nothing was
/// decided.
pub fn render_refusal(problem: impl Into<Problem>) -> Page {
    let problem: Problem = problem.into();
    let (status, title, detail) = match problem {
        Problem::Link(LinkError::Malformed(LinkField::Form)) => {
            (400, "This form is not valid".to_string(), "The form's body could not be read.".to_string())
        }
        Problem::Link(LinkError::Malformed(field)) => (
            400,
            "This link is incomplete".to_string(),
            format!(
                "The link's {} is missing, repeated or malformed. Open the link from the e-mail again, whole \
                 (some mail clients cut long links).",
                field.description()
            ),
        ),
        Problem::Link(LinkError::BadSignature) => (
            403,
            "This link is not valid".to_string(),
            "Its signature does not match: the link was altered, or was not signed by this stack.".to_string(),
        ),
        Problem::Link(LinkError::Expired { expires_at }) | Problem::Request(Refusal::Expired { expires_at }) => (
            410,
            "This approval request expired".to_string(),
            format!(
                "It expired at {}. The execution takes its timeout path; start a new one to fail over.",
                show_time(expires_at)
            ),
        ),
        Problem::Link(LinkError::WrongRegion { link, stack }) => (
            421,
            "This link is for another Region".to_string(),
            format!(
                "It belongs to the approval URL of the stack in {link}; this is the stack in {stack}. Use the link \
                 from the e-mail as it is."
            ),
        ),
        Problem::Request(Refusal::UnknownRequest) => (
            404,
            "Unknown approval request".to_string(),
            "This stack has no approval request with this id: it was made elsewhere, or it expired and was removed."
                .to_string(),
        ),
        Problem::Request(Refusal::DecidedOtherwise { decided }) => (
            409,
            format!("Already {}", decided.decision.past()),
            format!(
                "This request was already {} by {} at {}; a decision cannot be replaced.",
                decided.decision.past(),
                decided.by,
                show_time(decided.at)
            ),
        ),
        Problem::Request(Refusal::NotAnApprover { name }) => (
            403,
            "Not an approver".to_string(),
            format!("{name} is not one of this plan's approvers. Type your name as the plan lists it."),
        ),
        Problem::Request(Refusal::NameMissing) => (
            400,
            "Your name is required".to_string(),
            "Type your name: it is recorded with the decision. Go back and submit again.".to_string(),
        ),
        Problem::Request(Refusal::NameInvalid) => (
            400,
            "This name is not valid".to_string(),
            format!(
                "A name has at most {MAX_NAME_CHARS} characters and no control characters. Go back and submit again."
            ),
        ),
    };
    let mut main = String::with_capacity(1024);
    let _ = write!(main, "<h1>{}</h1><p>{}</p>", text(&title), text(&detail));
    main.push_str("<p class=\"note\">Nothing was decided or changed.</p>");
    page(status, &title, &main)
}
