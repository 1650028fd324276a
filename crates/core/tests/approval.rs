//! Approval links, the approval request's state machine and the approval pages (issue 11):
//! forged, altered, expired, replayed or misdirected links decide nothing, and the task
//! token never reaches a page or a `Debug` string.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use failover_core::approval::{
    Answer, ApprovalRecord, Decided, Decision, Delivery, Link, LinkError, LinkField, NAME_FIELD, Page, Reason, Refusal,
    RequestId, SIGNATURE_VERSION, Status, StoredApproval, TaskAnswer, TaskToken, Transition, canonical_message, decide,
    deliver_outcome, form_field, new_request_id, parse_form, render_confirmation, render_get, render_outcome,
    render_refusal, sign, signed_params, task_answer, verify, verify_query,
};
use failover_core::contract::Mode;
use rand::SeedableRng;

const KEY: &[u8] = b"the approval signing key of the us-east-1 stack";
const OTHER_KEY: &[u8] = b"the approval signing key of the us-west-2 stack";
const REGION: &str = "us-east-1";
const OTHER_REGION: &str = "us-west-2";
/// 2027-01-15T08:00:00Z.
const NOW: u64 = 1_800_000_000;
const ID: &str = "0123456789abcdef0123456789abcdef";
const ACTION: &str = "/";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn now() -> SystemTime {
    at(NOW)
}

fn id() -> RequestId {
    RequestId::parse(ID).expect("a valid request id")
}

fn link(decision: Decision) -> Link {
    Link { request_id: id(), decision, expires_at: NOW + 3600, region: REGION.into(), plan: "retail-store".into() }
}

fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()).into_owned().collect()
}

fn replaced(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    params.iter().map(|(k, v)| (k.clone(), if k == name { value.to_string() } else { v.clone() })).collect()
}

fn without(params: &[(String, String)], name: &str) -> Vec<(String, String)> {
    params.iter().filter(|(k, _)| k != name).cloned().collect()
}

fn signed(l: &Link) -> Vec<(String, String)> {
    pairs(&sign(KEY, l))
}

fn check(params: &[(String, String)]) -> Result<Link, LinkError> {
    verify(KEY, params, now(), REGION)
}

fn decided(decision: Decision, by: &str) -> Decided {
    Decided { decision, by: by.into(), from: "192.0.2.10".into(), at: NOW - 60 }
}

fn record(status: Status) -> ApprovalRecord {
    ApprovalRecord {
        request_id: id(),
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:failover:canary-2027-01-15".into(),
        plan: "retail-store".into(),
        source: OTHER_REGION.into(),
        target: REGION.into(),
        mode: Mode::Unplanned,
        reason: Reason::Alarms { alarms: vec!["retail-store-canary-us-west-2".into()] },
        lag_seconds: Some(2.5),
        rpo_seconds: 60,
        expires_at: NOW + 3600,
        status,
        approvers: vec![],
    }
}

// ---------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------

#[test]
fn a_link_round_trips() {
    for d in [Decision::Approve, Decision::Reject] {
        let l = link(d);
        let q = sign(KEY, &l);
        assert!(
            q.starts_with(&format!("?r={ID}&d={}&e={}&g=us-east-1&p=retail-store&s=", d.as_str(), NOW + 3600)),
            "{q}"
        );
        let s = q.rsplit("s=").next().unwrap_or_default();
        assert_eq!(s.len(), 64, "{q}");
        assert_eq!(verify_query(KEY, &q, now(), REGION), Ok(l.clone()));
        assert_eq!(verify_query(KEY, q.trim_start_matches('?'), now(), REGION), Ok(l.clone()));
        assert_eq!(check(&pairs(&q)), Ok(l));
    }
}

#[test]
fn other_parameters_such_as_the_name_are_ignored() {
    let mut params = signed(&link(Decision::Approve));
    params.push((NAME_FIELD.into(), "Alice".into()));
    assert_eq!(check(&params), Ok(link(Decision::Approve)));
}

#[test]
fn an_altered_request_id_is_a_bad_signature() {
    let params = replaced(&signed(&link(Decision::Approve)), "r", "fedcba9876543210fedcba9876543210");
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn an_altered_decision_is_a_bad_signature() {
    let params = replaced(&signed(&link(Decision::Approve)), "d", "reject");
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn an_altered_expiry_is_a_bad_signature() {
    let params = replaced(&signed(&link(Decision::Approve)), "e", &(NOW + 7200).to_string());
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn an_altered_region_is_a_bad_signature() {
    // A link for the other stack, edited to name this one.
    let mut l = link(Decision::Approve);
    l.region = OTHER_REGION.into();
    let params = replaced(&signed(&l), "g", REGION);
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn an_altered_plan_is_a_bad_signature() {
    let params = replaced(&signed(&link(Decision::Approve)), "p", "other-store");
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn an_altered_signature_is_a_bad_signature() {
    let params = signed(&link(Decision::Approve));
    let s = form_field(&params, "s").expect("signed").to_string();
    let last = if s.ends_with('0') { '1' } else { '0' };
    let altered = format!("{}{last}", &s[..63]);
    assert_eq!(check(&replaced(&params, "s", &altered)), Err(LinkError::BadSignature));
}

#[test]
fn a_link_signed_with_another_key_is_a_bad_signature() {
    let params = pairs(&sign(OTHER_KEY, &link(Decision::Approve)));
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn moving_bytes_between_fields_changes_the_message() {
    let mut a = link(Decision::Approve);
    a.region = "us-east-1".into();
    a.plan = "a-b".into();
    let mut b = a.clone();
    b.region = "us-east-1a".into();
    b.plan = "-b".into();
    let (ma, mb) = (canonical_message(&a), canonical_message(&b));
    assert!(ma.starts_with(&format!("{SIGNATURE_VERSION}\n")), "{ma}");
    assert_ne!(ma, mb);
    assert_ne!(form_field(&signed(&a), "s"), form_field(&signed(&b), "s"));
}

#[test]
fn an_expired_link_is_refused_from_its_expiry_second_on() {
    let l = link(Decision::Approve);
    let params = signed(&l);
    let expired = Err(LinkError::Expired { expires_at: l.expires_at });
    assert_eq!(verify(KEY, &params, at(l.expires_at), REGION), expired);
    assert_eq!(verify(KEY, &params, at(l.expires_at + 1), REGION), expired);
    assert_eq!(verify(KEY, &params, at(l.expires_at + 86_400), REGION), expired);
    assert_eq!(verify(KEY, &params, at(l.expires_at - 1), REGION), Ok(l));
}

#[test]
fn a_forged_expired_link_is_a_bad_signature_not_expired() {
    let params = replaced(&signed(&link(Decision::Approve)), "e", &(NOW - 10).to_string());
    assert_eq!(check(&params), Err(LinkError::BadSignature));
}

#[test]
fn a_link_for_the_other_regions_stack_is_wrong_region() {
    let mut l = link(Decision::Approve);
    l.region = OTHER_REGION.into();
    let wrong = Err(LinkError::WrongRegion { link: OTHER_REGION.into(), stack: REGION.into() });
    // Signed by the other stack's key, as it would be...
    assert_eq!(check(&pairs(&sign(OTHER_KEY, &l))), wrong);
    // ...and even under this stack's key.
    assert_eq!(check(&signed(&l)), wrong);
}

#[test]
fn a_missing_parameter_is_malformed_and_named() {
    let params = signed(&link(Decision::Approve));
    for field in [
        LinkField::RequestId,
        LinkField::Decision,
        LinkField::ExpiresAt,
        LinkField::Region,
        LinkField::Plan,
        LinkField::Signature,
    ] {
        assert_eq!(check(&without(&params, field.param())), Err(LinkError::Malformed(field)), "{field}");
    }
}

#[test]
fn a_malformed_parameter_is_named() {
    let params = signed(&link(Decision::Approve));
    let not_hex = "zz".repeat(32);
    let cases: &[(&str, &str, LinkField)] = &[
        ("r", "xyz", LinkField::RequestId),
        ("r", "0123456789ABCDEF0123456789ABCDEF", LinkField::RequestId),
        ("r", "0123456789abcdef0123456789abcde", LinkField::RequestId),
        ("d", "maybe", LinkField::Decision),
        ("d", "Approve", LinkField::Decision),
        ("e", "", LinkField::ExpiresAt),
        ("e", "-1", LinkField::ExpiresAt),
        ("e", "+1800003600", LinkField::ExpiresAt),
        ("e", "18a", LinkField::ExpiresAt),
        ("e", "99999999999999999999999", LinkField::ExpiresAt),
        ("g", "", LinkField::Region),
        ("g", "US-EAST-1", LinkField::Region),
        ("g", "us east 1", LinkField::Region),
        ("p", "", LinkField::Plan),
        ("p", "<script>", LinkField::Plan),
        ("s", "", LinkField::Signature),
        ("s", &not_hex, LinkField::Signature),
        ("s", "abcd", LinkField::Signature),
    ];
    for (name, value, field) in cases {
        assert_eq!(check(&replaced(&params, name, value)), Err(LinkError::Malformed(*field)), "{name}={value}");
    }
    // Uppercase hex is not the signature's one spelling.
    let s = form_field(&params, "s").expect("signed").to_uppercase();
    assert_eq!(check(&replaced(&params, "s", &s)), Err(LinkError::Malformed(LinkField::Signature)));
}

#[test]
fn a_repeated_parameter_is_malformed() {
    let mut params = signed(&link(Decision::Approve));
    params.push(("d".into(), "reject".into()));
    assert_eq!(check(&params), Err(LinkError::Malformed(LinkField::Decision)));
}

#[test]
fn junk_is_malformed() {
    for junk in ["", "?", "%%%&&==&", "r", "?r=%ZZ&&&", "\u{0}\u{ff}"] {
        assert_eq!(verify_query(KEY, junk, now(), REGION), Err(LinkError::Malformed(LinkField::RequestId)), "{junk:?}");
    }
}

#[test]
fn malformed_messages_name_the_field() {
    let m = LinkError::Malformed(LinkField::ExpiresAt).to_string();
    assert!(m.contains("`e` (expiry)"), "{m}");
}

#[test]
fn request_ids_are_128_random_bits_in_hex() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let a = new_request_id(&mut rng);
    let b = new_request_id(&mut rng);
    assert_ne!(a, b);
    for r in [&a, &b] {
        assert_eq!(r.as_str().len(), 32);
        assert_eq!(RequestId::parse(r.as_str()).as_ref(), Some(r));
    }
    assert_eq!(RequestId::parse("not-an-id"), None);
}

// ---------------------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------------------

#[test]
fn a_pending_request_is_decided() {
    let r = record(Status::Pending);
    let t = decide(Some(&r), &link(Decision::Approve), "  Alice  ", "198.51.100.7", now());
    assert_eq!(
        t,
        Ok(Transition::Decide(Decided {
            decision: Decision::Approve,
            by: "Alice".into(),
            from: "198.51.100.7".into(),
            at: NOW
        }))
    );
}

#[test]
fn decided_the_same_way_and_not_delivered_is_delivered_again() {
    let earlier = decided(Decision::Reject, "Alice");
    let r = record(Status::Decided(earlier.clone()));
    // Whoever posts again, the recorded decision is what is sent.
    let t = decide(Some(&r), &link(Decision::Reject), "Bob", "203.0.113.5", now());
    assert_eq!(t, Ok(Transition::Redeliver(earlier)));
}

#[test]
fn delivered_the_same_way_is_already_done() {
    let earlier = decided(Decision::Approve, "Alice");
    let r = record(Status::Delivered { decided: earlier.clone(), delivered_at: NOW - 59, answer: Answer::Accepted });
    let t = decide(Some(&r), &link(Decision::Approve), "Alice", "192.0.2.10", now());
    assert_eq!(t, Ok(Transition::AlreadyDone { decided: earlier, delivered_at: NOW - 59, answer: Answer::Accepted }));
}

#[test]
fn decided_the_other_way_is_refused() {
    let earlier = decided(Decision::Reject, "Alice");
    let want = Err(Refusal::DecidedOtherwise { decided: earlier.clone() });
    let r = record(Status::Decided(earlier.clone()));
    assert_eq!(decide(Some(&r), &link(Decision::Approve), "Bob", "203.0.113.5", now()), want);
    let r = record(Status::Delivered { decided: earlier, delivered_at: NOW - 59, answer: Answer::Accepted });
    assert_eq!(decide(Some(&r), &link(Decision::Approve), "Bob", "203.0.113.5", now()), want);
}

#[test]
fn an_expired_record_that_still_exists_is_expired() {
    // DynamoDB has not deleted the item yet: the expiry itself decides.
    let mut r = record(Status::Pending);
    r.expires_at = NOW;
    let l = link(Decision::Approve);
    assert_eq!(decide(Some(&r), &l, "Alice", "192.0.2.10", now()), Err(Refusal::Expired { expires_at: NOW }));
    r.status = Status::Decided(decided(Decision::Approve, "Alice"));
    assert_eq!(decide(Some(&r), &l, "Alice", "192.0.2.10", now()), Err(Refusal::Expired { expires_at: NOW }));
    assert!(r.is_expired(now()));
    assert!(!r.is_expired(at(NOW - 1)));
}

#[test]
fn not_an_approver_is_refused() {
    let mut r = record(Status::Pending);
    r.approvers = vec!["Alice".into(), "Bob".into()];
    let l = link(Decision::Approve);
    assert_eq!(
        decide(Some(&r), &l, "Mallory", "203.0.113.5", now()),
        Err(Refusal::NotAnApprover { name: "Mallory".into() })
    );
    assert!(matches!(decide(Some(&r), &l, " alice ", "192.0.2.10", now()), Ok(Transition::Decide(_))));
}

#[test]
fn a_missing_or_invalid_name_is_refused() {
    let r = record(Status::Pending);
    let l = link(Decision::Approve);
    for name in ["", "   ", "\t"] {
        assert_eq!(decide(Some(&r), &l, name, "192.0.2.10", now()), Err(Refusal::NameMissing), "{name:?}");
    }
    let long = "a".repeat(101);
    for name in [long.as_str(), "Al\u{7}ice", "Alice\nBob"] {
        assert_eq!(decide(Some(&r), &l, name, "192.0.2.10", now()), Err(Refusal::NameInvalid), "{name:?}");
    }
}

#[test]
fn an_unknown_request_is_refused() {
    let l = link(Decision::Approve);
    assert_eq!(decide(None, &l, "Alice", "192.0.2.10", now()), Err(Refusal::UnknownRequest));
    let mut r = record(Status::Pending);
    r.request_id = RequestId::parse("fedcba9876543210fedcba9876543210").expect("valid");
    assert_eq!(decide(Some(&r), &l, "Alice", "192.0.2.10", now()), Err(Refusal::UnknownRequest));
}

#[test]
fn step_functions_answers() {
    assert_eq!(deliver_outcome(Ok(())), Delivery::Answered(Answer::Accepted));
    assert_eq!(deliver_outcome(Err("TaskTimedOut")), Delivery::Answered(Answer::NoLongerWaiting));
    assert_eq!(deliver_outcome(Err("TaskDoesNotExist")), Delivery::Answered(Answer::NoLongerWaiting));
    assert_eq!(
        deliver_outcome(Err("ThrottlingException")),
        Delivery::NotDelivered { code: "ThrottlingException".into() }
    );
}

#[test]
fn the_task_answer_is_the_same_on_every_delivery() {
    let r = record(Status::Pending);
    let approve = decided(Decision::Approve, "Alice");
    match task_answer(&r, &approve) {
        TaskAnswer::Success { output } => {
            let v: serde_json::Value = serde_json::from_str(&output).expect("JSON output");
            assert_eq!(v["decision"], "approve");
            assert_eq!(v["by"], "Alice");
            assert_eq!(v["request_id"], ID);
        }
        other => panic!("expected success, got {other:?}"),
    }
    assert_eq!(task_answer(&r, &approve), task_answer(&r, &approve));
    match task_answer(&r, &decided(Decision::Reject, "Bob")) {
        TaskAnswer::Failure { error, cause } => {
            assert_eq!(error, "Failover.ApprovalRejected");
            assert!(cause.contains("Bob"), "{cause}");
        }
        other => panic!("expected failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

fn every_page(r: &ApprovalRecord) -> Vec<Page> {
    let d = decided(Decision::Approve, "Alice");
    let mut pages = vec![
        render_confirmation(r, &link(Decision::Approve), KEY, ACTION),
        render_confirmation(r, &link(Decision::Reject), KEY, ACTION),
        render_get(Some(r), &link(Decision::Approve), KEY, ACTION, now()),
        render_outcome(r, &d, &Delivery::Answered(Answer::Accepted)),
        render_outcome(r, &d, &Delivery::Answered(Answer::NoLongerWaiting)),
        render_outcome(r, &d, &Delivery::NotDelivered { code: "ServiceUnavailable".into() }),
    ];
    for e in [
        LinkError::Malformed(LinkField::Plan),
        LinkError::Malformed(LinkField::Form),
        LinkError::BadSignature,
        LinkError::Expired { expires_at: NOW },
        LinkError::WrongRegion { link: OTHER_REGION.into(), stack: REGION.into() },
    ] {
        pages.push(render_refusal(e));
    }
    for refusal in [
        Refusal::UnknownRequest,
        Refusal::Expired { expires_at: NOW },
        Refusal::DecidedOtherwise { decided: decided(Decision::Reject, "Bob") },
        Refusal::NotAnApprover { name: "Mallory".into() },
        Refusal::NameMissing,
        Refusal::NameInvalid,
    ] {
        pages.push(render_refusal(refusal));
    }
    pages
}

#[test]
fn every_page_has_the_security_headers() {
    let want = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    ];
    for page in every_page(&record(Status::Pending)) {
        for (name, value) in want {
            assert_eq!(page.header(name), Some(value), "{name} on a {} page", page.status);
        }
        assert!(page.body.starts_with("<!DOCTYPE html>"));
        assert!(!page.body.contains("<script"), "{}", page.body);
    }
}

#[test]
fn the_confirmation_page_says_what_happens_and_posts_the_signed_link() {
    let r = record(Status::Pending);
    let l = link(Decision::Approve);
    let page = render_confirmation(&r, &l, KEY, ACTION);
    assert_eq!(page.status, 200);
    let b = &page.body;
    for fragment in [
        "retail-store",
        "us-west-2 &rarr; us-east-1",
        "unplanned",
        "retail-store-canary-us-west-2",
        "2.5 s",
        "RPO of 60 s",
        "2027-01-15T09:00:00",
        "bearer credential",
        "<form method=\"post\" action=\"/\">",
        "required",
        ">Approve</button>",
        "fails over to us-east-1",
    ] {
        assert!(b.contains(fragment), "`{fragment}` missing from {b}");
    }
    for (name, value) in signed_params(KEY, &l) {
        let hidden = format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">");
        assert!(b.contains(&hidden), "`{hidden}` missing from {b}");
    }
    assert_eq!(b.matches("<form").count(), 1);
    assert_eq!(b.matches("<button").count(), 1);

    let reject = render_confirmation(&r, &link(Decision::Reject), KEY, ACTION).body;
    assert!(reject.contains(">Reject</button>"), "{reject}");
    assert!(reject.contains("execution stops"), "{reject}");
    assert!(!reject.contains(">Approve</button>"), "{reject}");
}

#[test]
fn the_confirmation_page_names_the_plans_approvers_when_it_lists_any() {
    let mut r = record(Status::Pending);
    let anyone = render_confirmation(&r, &link(Decision::Approve), KEY, ACTION).body;
    assert!(!anyone.contains("approvers may decide"), "a plan without approvers names none: {anyone}");
    r.approvers = vec!["Ana Silva".into(), "<b>Ravi</b>".into()];
    let listed = render_confirmation(&r, &link(Decision::Approve), KEY, ACTION).body;
    assert!(
        listed.contains("Only the plan's approvers may decide: Ana Silva, &lt;b&gt;Ravi&lt;/b&gt;."),
        "the names, escaped: {listed}"
    );
}

#[test]
fn the_confirmation_form_posts_what_verify_accepts() {
    let l = link(Decision::Reject);
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in signed_params(KEY, &l) {
        form.append_pair(name, &value);
    }
    form.append_pair(NAME_FIELD, "Alice Smith");
    let body = form.finish();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&body);
    let params = parse_form(&encoded, true).expect("a base64 form body");
    assert_eq!(params, parse_form(&body, false).expect("a plain form body"));
    assert_eq!(form_field(&params, NAME_FIELD), Some("Alice Smith"));
    assert_eq!(check(&params), Ok(l));
}

#[test]
fn a_bad_form_body_is_malformed() {
    assert_eq!(parse_form("!!! not base64 !!!", true), Err(LinkError::Malformed(LinkField::Form)));
    let huge = "a=b&".repeat(5000);
    assert_eq!(parse_form(&huge, false), Err(LinkError::Malformed(LinkField::Form)));
    assert_eq!(parse_form("", false), Ok(vec![]));
}

#[test]
fn a_get_never_decides_and_shows_where_the_request_is() {
    let l = link(Decision::Approve);
    let pending = record(Status::Pending);
    let page = render_get(Some(&pending), &l, KEY, ACTION, now());
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);

    // Decided the same way, not delivered: the form again, to deliver it.
    let redeliver = record(Status::Decided(decided(Decision::Approve, "Alice")));
    let page = render_get(Some(&redeliver), &l, KEY, ACTION, now());
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    assert!(page.body.contains("Already approved by Alice"), "{}", page.body);

    let delivered = record(Status::Delivered {
        decided: decided(Decision::Approve, "Alice"),
        delivered_at: NOW - 59,
        answer: Answer::Accepted,
    });
    let page = render_get(Some(&delivered), &l, KEY, ACTION, now());
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<form"), "{}", page.body);
    assert!(page.body.contains("Approved by Alice"), "{}", page.body);

    let otherwise = record(Status::Decided(decided(Decision::Reject, "Bob")));
    assert_eq!(render_get(Some(&otherwise), &l, KEY, ACTION, now()).status, 409);
    assert_eq!(render_get(None, &l, KEY, ACTION, now()).status, 404);
    assert_eq!(render_get(Some(&pending), &l, KEY, ACTION, at(pending.expires_at)).status, 410);
}

#[test]
fn refusal_pages_are_clear() {
    let page = render_refusal(LinkError::WrongRegion { link: OTHER_REGION.into(), stack: REGION.into() });
    assert_eq!(page.status, 421);
    assert!(page.body.contains("us-west-2") && page.body.contains("us-east-1"), "{}", page.body);
    let page = render_refusal(LinkError::Malformed(LinkField::ExpiresAt));
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expiry"), "{}", page.body);
    assert_eq!(render_refusal(LinkError::BadSignature).status, 403);
    assert_eq!(render_refusal(LinkError::Expired { expires_at: NOW }).status, 410);
    assert_eq!(render_refusal(Refusal::NameMissing).status, 400);
    for page in every_page(&record(Status::Pending)).into_iter().filter(|p| p.status >= 400 && p.status != 503) {
        assert!(page.body.contains("Nothing was decided or changed."), "{}", page.body);
    }
}

#[test]
fn pages_escape_what_they_show() {
    let mut r = record(Status::Pending);
    r.plan = "<script>alert(1)</script>".into();
    r.reason = Reason::Operator { note: "<script>steal()</script> & more".into() };
    r.execution_arn = "arn\"><img src=x onerror=alert(2)>".into();
    let page = render_confirmation(&r, &link(Decision::Approve), KEY, "/\"><script>alert(3)</script>");
    let b = &page.body;
    assert!(!b.contains("<script"), "{b}");
    assert!(!b.contains("<img"), "{b}");
    assert!(b.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{b}");
    assert!(b.contains("&lt;script&gt;steal()&lt;/script&gt; &amp; more"), "{b}");
    assert!(b.contains("action=\"/&quot;&gt;&lt;script&gt;"), "{b}");

    let mut d = decided(Decision::Approve, "<script>x</script>");
    d.from = "<b>".into();
    for page in [
        render_outcome(&r, &d, &Delivery::Answered(Answer::Accepted)),
        render_outcome(&r, &d, &Delivery::NotDelivered { code: "<script>".into() }),
        render_refusal(Refusal::DecidedOtherwise { decided: d.clone() }),
        render_refusal(Refusal::NotAnApprover { name: "<script>y</script>".into() }),
    ] {
        assert!(!page.body.contains("<script"), "{}", page.body);
        assert!(page.body.contains("&lt;script&gt;"), "{}", page.body);
    }
}

#[test]
fn the_task_token_reaches_no_page_and_no_debug_string() {
    const SECRET: &str = "AAAAKgAAAAIAAAAAAAAAAf-secret-task-token-7f3a";
    let token = TaskToken::new(SECRET);
    assert_eq!(token.expose(), SECRET);
    assert_eq!(format!("{token:?}"), "TaskToken(<redacted>)");
    assert!(!format!("{token}").contains(SECRET));

    let pending = StoredApproval { record: record(Status::Pending), task_token: token.clone() };
    let decided_ = StoredApproval {
        record: record(Status::Decided(decided(Decision::Approve, "Alice"))),
        task_token: token.clone(),
    };
    let mut strings = vec![
        format!("{pending:?}"),
        format!("{decided_:?}"),
        format!("{:?}", pending.record),
        serde_json::to_string(&pending.record).expect("a record serialises"),
        serde_json::to_string(&decided_.record).expect("a record serialises"),
    ];
    for stored in [&pending, &decided_] {
        for page in every_page(&stored.record) {
            strings.push(format!("{page:?}"));
            strings.push(page.body);
        }
        for d in [Decision::Approve, Decision::Reject] {
            let l = link(d);
            strings.push(sign(KEY, &l));
            strings.push(format!("{l:?}"));
            let t = decide(Some(&stored.record), &l, "Alice", "192.0.2.10", now());
            strings.push(format!("{t:?}"));
            if let Ok(t) = t {
                strings.push(format!("{:?}", task_answer(&stored.record, t.decided())));
            }
        }
    }
    for s in &strings {
        assert!(!s.contains(SECRET), "the task token leaked into {s}");
    }
}

#[test]
fn a_record_round_trips_through_json() {
    let r = record(Status::Delivered {
        decided: decided(Decision::Approve, "Alice"),
        delivered_at: NOW - 59,
        answer: Answer::NoLongerWaiting,
    });
    let json = serde_json::to_string(&r).expect("serialises");
    let back: ApprovalRecord = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, r);
    let bad = json.replace(ID, "not-an-id");
    assert!(serde_json::from_str::<ApprovalRecord>(&bad).is_err());
}
