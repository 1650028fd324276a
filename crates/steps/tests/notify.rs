//! notify over an aws-smithy-mocks SNS client per Region: subject, body and attributes for
//! several phases, the approval request without its token, redaction, deduplication ids,
//! a missing topic and throttling; then one message through regionsim's SNS over HTTP.

mod rds_mocks;

use std::sync::{Arc, Mutex};

use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use failover_core::contract::Mode;
use failover_core::contract::aurora::LagObservation;
use failover_core::contract::notify::{ApprovalTask, NotifyInput, Phase, TaskError, TaskToken, TimelineEntry};
use failover_core::contract::preflight::DataAtRisk;
use failover_core::{ErrorKind, SharedClock};
use failover_steps::aws::{AwsClients, Regional};
use failover_steps::notify::{self, MAX_SUBJECT, compose, dedup_id};
use rds_mocks::*;

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAfake+task/token==SECRET-PART-7f3a";

/// One published message as the mock saw it.
#[derive(Debug, Clone, Default)]
struct Published {
    region: String,
    topic: String,
    subject: String,
    message: String,
    attributes: Vec<(String, String, String)>,
}

type Log = Arc<Mutex<Vec<Published>>>;

fn sns_ok(log: Log, region: &str) -> Rule {
    let region = region.to_string();
    mock!(aws_sdk_sns::Client::publish).then_compute_output(move |r| {
        let mut attributes: Vec<(String, String, String)> = r
            .message_attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (k.clone(), v.data_type().to_string(), v.string_value().unwrap_or_default().to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        attributes.sort();
        log.lock().unwrap().push(Published {
            region: region.clone(),
            topic: r.topic_arn().unwrap_or_default().into(),
            subject: r.subject().unwrap_or_default().into(),
            message: r.message().unwrap_or_default().into(),
            attributes,
        });
        PublishOutput::builder().message_id("msg-0001").build()
    })
}

/// SNS clients per Region, each answering with `rule(region)`, on a virtual clock at T0.
fn clients(rule: impl Fn(&str) -> Rule + Send + Sync + 'static) -> AwsClients {
    let clock = SharedClock::virtual_at(at(0));
    let mut c = AwsClients::from_sdk_config(aws_config::SdkConfig::builder().build(), clock.clone());
    let sleep = clock.sdk_sleep();
    c.sns = Arc::new(Regional::from_fn(move |region| {
        let r = rule(region);
        let sleep = sleep.clone();
        mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&r], move |b: aws_sdk_sns::config::Builder| b
            .sleep_impl(sleep.clone()))
    }));
    c
}

fn base(phase: Phase) -> NotifyInput {
    NotifyInput {
        plan: plan(),
        running_region: SECONDARY.into(),
        execution: execution("drill-2027-01-15-0800"),
        phase,
        mode: Some(Mode::Unplanned),
        target_region: Some(SECONDARY.into()),
        error: None,
        detail: serde_json::Value::Null,
        timeline: vec![
            TimelineEntry { phase: "started".into(), at: rfc(-60) },
            TimelineEntry { phase: "traffic-moved".into(), at: rfc(-20) },
        ],
        data_at_risk: vec![],
        approval: None,
        approvals: vec![],
        writers_moved_at: vec![],
    }
}

fn attr<'a>(p: &'a Published, name: &str) -> &'a str {
    p.attributes.iter().find(|(k, _, _)| k == name).map(|(_, _, v)| v.as_str()).unwrap_or("<absent>")
}

async fn publish(input: NotifyInput) -> (failover_core::contract::notify::NotifyOutput, Published) {
    let log: Log = Arc::default();
    let l = log.clone();
    let out = notify::handle(input, &clients(move |r| sns_ok(l.clone(), r))).await.expect("published");
    let p = log.lock().unwrap().pop().expect("one message");
    (out, p)
}

#[tokio::test(start_paused = true)]
async fn a_phase_is_published_to_the_running_regions_topic_with_filterable_attributes() {
    let (out, p) = publish(base(Phase::TrafficMoved)).await;
    assert_eq!(p.region, SECONDARY, "the client of the running Region");
    assert_eq!(p.topic, "arn:aws:sns:us-west-2:111122223333:failover-retail-store");
    assert_eq!(out.topic_arn, p.topic);
    assert_eq!(out.message_id, "msg-0001");
    assert_eq!(p.subject, "[failover retail-store] traffic moved to us-west-2 (drill-2027-01-15-0800)");
    assert_eq!(out.subject, p.subject);
    assert_eq!(attr(&p, "phase"), "traffic-moved");
    assert_eq!(attr(&p, "status"), "in-progress");
    assert_eq!(attr(&p, "plan"), "retail-store");
    assert_eq!(attr(&p, "execution"), "drill-2027-01-15-0800");
    assert_eq!(attr(&p, "mode"), "unplanned");
    assert_eq!(attr(&p, "target_region"), SECONDARY);
    assert_eq!(attr(&p, "dedup_id"), out.dedup_id);
    assert!(p.attributes.iter().all(|(_, t, v)| t == "String" && !v.is_empty()));
    // The body: what happened, the elapsed time against the RTO, the timeline.
    let m = &p.message;
    assert!(m.starts_with("The routing controls now send traffic to us-west-2."), "{m}");
    assert!(m.contains("Route 53's health-check propagation (~30 s) and the DNS TTL (60 s)"), "{m}");
    assert!(
        m.contains("Elapsed so far: 1 min 00 s since the execution started, within the RTO of 15 min 00 s."),
        "{m}"
    );
    let timeline: Vec<&str> = m.lines().skip_while(|l| *l != "Timeline:").skip(1).take(3).collect();
    assert_eq!(
        timeline,
        vec![
            "  2027-01-15 07:59:00Z  +0 s           started",
            "  2027-01-15 07:59:40Z  +40 s          traffic-moved",
            "  2027-01-15 08:00:00Z  +1 min 00 s    traffic-moved (this message)",
        ],
        "{m}"
    );
    assert!(m.contains("Execution drill-2027-01-15-0800 (started 2027-01-15T07:59:00Z), plan retail-store"), "{m}");
}

#[tokio::test(start_paused = true)]
async fn the_approval_request_says_how_to_approve_and_never_carries_the_token() {
    let mut input = base(Phase::ApprovalRequested);
    input.approval = Some(ApprovalTask {
        task_token: TaskToken::new(TOKEN),
        state: Some("Approve".into()),
        question: Some("Fail over retail-store to us-west-2 with data loss?".into()),
    });
    let debug = format!("{input:?}");
    assert!(!debug.contains(TOKEN) && debug.contains("TaskToken(<redacted>)"), "the input's Debug is redacted");
    // Even a token copied into the free detail does not leave.
    input.detail = serde_json::json!({ "note": format!("token is {TOKEN}"), "taskToken": TOKEN });
    let (out, p) = publish(input).await;
    for (what, text) in [
        ("subject", p.subject.clone()),
        ("body", p.message.clone()),
        ("attributes", format!("{:?}", p.attributes)),
        ("output", serde_json::to_string(&out).unwrap()),
    ] {
        assert!(!text.contains(TOKEN) && !text.contains("SECRET-PART"), "the token leaked into the {what}: {text}");
    }
    assert_eq!(
        p.subject,
        "[failover retail-store] APPROVAL NEEDED: unplanned failover to us-west-2 (drill-2027-01-15-0800)"
    );
    assert_eq!(attr(&p, "status"), "action-required");
    let m = &p.message;
    assert!(m.contains("To approve:  failover approve --execution drill-2027-01-15-0800"), "{m}");
    assert!(m.contains("To reject:   failover reject --execution drill-2027-01-15-0800"), "{m}");
    assert!(m.contains("Question: Fail over retail-store to us-west-2 with data loss?"), "{m}");
    assert!(m.contains("Decide by 2027-01-15T09:00:00Z"), "approval timeout 3600 s: {m}");
    assert!(
        m.contains(&format!(
            "Task: Approve of execution drill-2027-01-15-0800 (token fingerprint {})",
            notify::fingerprint(TOKEN)
        )),
        "{m}"
    );
    assert!(m.contains("taskToken: [redacted]") && m.contains("note: [redacted]"), "{m}");
}

#[tokio::test(start_paused = true)]
async fn a_failure_shows_the_error_message_the_data_at_risk_and_redacts_secrets() {
    let mut input = base(Phase::Failed);
    input.error = Some(TaskError {
        error: "Failover.PreconditionFailed".into(),
        cause: Some(
            serde_json::json!({"errorType": "Failover.PreconditionFailed", "errorMessage": "engine versions differ: retail-catalog-usw2 runs `3.04.1`"})
                .to_string(),
        ),
    });
    input.data_at_risk = vec![
        DataAtRisk {
            database: "catalog".into(),
            global_cluster: "retail-catalog-global".into(),
            writer: Some(member_arn(&plan(), "catalog", PRIMARY)),
            writer_region: Some(PRIMARY.into()),
            lag: Some(LagObservation { metric: "AuroraGlobalDBRPOLag".into(), milliseconds: 1200, at: rfc(-30) }),
        },
        DataAtRisk {
            database: "orders".into(),
            global_cluster: "retail-orders-global".into(),
            writer: None,
            writer_region: None,
            lag: None,
        },
    ];
    input.detail = serde_json::json!({
        "report": {"lost": 3, "url": "https://b.s3.amazonaws.com/r.html?X-Amz-Algorithm=AWS4&X-Amz-Signature=abc"},
        "db_password": "hunter2",
    });
    let (_, p) = publish(input).await;
    assert_eq!(
        p.subject,
        "[failover retail-store] unplanned failover to us-west-2 FAILED: Failover.PreconditionFailed (dri..."
    );
    assert_eq!(p.subject.len(), MAX_SUBJECT);
    assert_eq!(attr(&p, "status"), "failed");
    let m = &p.message;
    assert!(
        m.contains("Error: Failover.PreconditionFailed\n  engine versions differ: retail-catalog-usw2 runs `3.04.1`"),
        "{m}"
    );
    assert!(
        m.contains(
            "Data at risk: writes to the old writer not yet replicated to us-west-2 when last measured (RPO 5 s):"
        ),
        "{m}"
    );
    assert!(m.contains("  catalog (retail-catalog-global): up to 1200 ms of writes (AuroraGlobalDBRPOLag at 2027-01-15T07:59:30Z), writer in us-east-1"), "{m}");
    assert!(m.contains("  orders (retail-orders-global): unknown (no replication lag reading)"), "{m}");
    assert!(m.contains("report.lost: 3"), "{m}");
    assert!(m.contains("report.url: [redacted: presigned URL]"), "{m}");
    assert!(m.contains("db_password: [redacted]") && !m.contains("hunter2"), "{m}");
    assert!(!m.contains("X-Amz-Signature"), "{m}");
}

#[tokio::test(start_paused = true)]
async fn the_recovery_time_runs_to_clients_and_writers_on_the_target_less_the_approval_wait() {
    use failover_core::contract::notify::ApprovalDecision;
    let mut input = base(Phase::Succeeded);
    input.execution.started_at = rfc(-600);
    input.timeline.push(TimelineEntry { phase: "clients-switched".into(), at: rfc(-100) });
    input.writers_moved_at = vec![rfc(-120), rfc(-90)];
    input.approvals = vec![
        Some(ApprovalDecision {
            asked_at: Some(rfc(-550)),
            answer: serde_json::json!({"decision": "approve", "by": "Alice", "at": rfc(-250)}),
        }),
        None,
    ];
    let (_, p) = publish(input.clone()).await;
    // From -600 s to the last writer at -90 s is 510 s, of which 300 s waiting for Alice.
    assert!(
        p.message.contains(
            "Recovery time: 3 min 30 s from the start to clients and writers on us-west-2, less 5 min 00 s waiting \
             for approval (reported apart), within the RTO of 15 min 00 s."
        ),
        "{}",
        p.message
    );
    // A writer time that is not a timestamp is bad input, naming the field.
    input.writers_moved_at = vec!["noon".into()];
    let err =
        notify::handle(input, &clients(|r| panic!("no SNS client may be built (asked for {r})"))).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadInput);
    assert!(err.message.contains("writers_moved_at[0]"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn success_states_the_recovery_time_against_the_rto() {
    let mut input = base(Phase::Succeeded);
    let (_, p) = publish(input.clone()).await;
    assert!(
        p.message.contains("Recovery time: 1 min 00 s since the execution started, within the RTO of 15 min 00 s."),
        "{}",
        p.message
    );
    assert_eq!(attr(&p, "status"), "succeeded");
    // Started 20 minutes ago: over the 15-minute RTO.
    input.execution.started_at = rfc(-1200);
    let (_, p) = publish(input).await;
    assert!(
        p.message.contains(
            "Recovery time: 20 min 00 s since the execution started, OVER the RTO of 15 min 00 s by 5 min 00 s."
        ),
        "{}",
        p.message
    );
}

#[test]
fn recovery_phases_do_not_claim_an_rto() {
    let mut input = base(Phase::ReportReady);
    input.detail = serde_json::json!({"lost": 3, "diverged": 1, "key": "reports/drill/report.json"});
    let m = compose(&input, at(0));
    assert!(m.body.contains("Recovery time: measured by the failover execution"), "{}", m.body);
    assert!(!m.body.contains("RTO"), "{}", m.body);
    assert!(m.body.contains("no link is sent"), "{}", m.body);
    assert!(m.body.contains("lost: 3"));
    assert_eq!(m.attributes["status"], "succeeded");
}

#[test]
fn dedup_ids_are_stable_across_attempts_and_distinct_across_phases() {
    let a = base(Phase::TrafficMoved);
    assert_eq!(dedup_id(&a), dedup_id(&a.clone()));
    assert_eq!(compose(&a, at(0)).dedup_id, compose(&a, at(90)).dedup_id, "a retry later is the same message");
    assert_ne!(dedup_id(&a), dedup_id(&base(Phase::DatabasesMoved)));
    let mut other = a.clone();
    other.execution.name = "drill-2".into();
    assert_ne!(dedup_id(&a), dedup_id(&other));
}

#[test]
fn every_phase_has_a_short_ascii_subject() {
    for phase in Phase::ALL {
        let mut input = base(phase);
        input.execution.name = "x".repeat(80);
        if phase == Phase::ApprovalRequested {
            input.approval = Some(ApprovalTask { task_token: TaskToken::new(TOKEN), state: None, question: None });
        }
        let m = compose(&input, at(0));
        assert!(m.subject.len() <= MAX_SUBJECT, "{phase}: {}", m.subject);
        assert!(m.subject.is_ascii() && !m.subject.contains('\n'), "{phase}: {}", m.subject);
        assert!(m.subject.starts_with("[failover retail-store] "), "{phase}: {}", m.subject);
        assert_eq!(m.attributes["phase"], phase.as_str());
        assert!(!m.body.is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_missing_topic_is_not_found_and_throttling_is_transient() {
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let missing = clients(move |_| {
        let c = c.clone();
        mock!(aws_sdk_sns::Client::publish).then_error(move || {
            *c.lock().unwrap() += 1;
            PublishError::generic(meta("NotFound", "Topic does not exist"))
        })
    });
    let err = notify::handle(base(Phase::Started), &missing).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.message.contains("Publish to arn:aws:sns:us-west-2:111122223333:failover-retail-store in us-west-2"),
        "{}",
        err.message
    );
    assert_eq!(*calls.lock().unwrap(), 1, "not retried");

    let throttled = clients(|_| {
        mock!(aws_sdk_sns::Client::publish).then_error(|| PublishError::generic(meta("Throttling", "Rate exceeded")))
    });
    let err = notify::handle(base(Phase::Started), &throttled).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
}

#[tokio::test(start_paused = true)]
async fn bad_input_names_the_field_and_publishes_nothing() {
    let nothing = clients(|r| panic!("no SNS client may be built (asked for {r})"));
    let cases: Vec<(NotifyInput, &str)> = vec![
        (base(Phase::ApprovalRequested), "approval: required with phase approval-requested"),
        (
            NotifyInput {
                approval: Some(ApprovalTask { task_token: TaskToken::new(TOKEN), state: None, question: None }),
                ..base(Phase::Started)
            },
            "approval: only phase approval-requested",
        ),
        (
            NotifyInput {
                timeline: vec![TimelineEntry { phase: "started".into(), at: "noon".into() }],
                ..base(Phase::Started)
            },
            "timeline[0].at:",
        ),
        (NotifyInput { running_region: "eu-west-1".into(), ..base(Phase::Started) }, "running_region: `eu-west-1`"),
    ];
    for (input, want) in cases {
        let err = notify::handle(input, &nothing).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadInput);
        assert!(err.message.starts_with(want), "{} (want {want})", err.message);
    }
    // An unknown phase is refused when the event is parsed.
    let mut v = serde_json::to_value(base(Phase::Started)).unwrap();
    v["phase"] = "exploded".into();
    let err = failover_core::contract::parse_input::<NotifyInput>(v).unwrap_err();
    assert!(err.message.starts_with("phase: unknown variant `exploded`"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn regionsim_receives_the_message_over_http() {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use regionsim::{SimBuilder, service};

    let clock = SharedClock::virtual_at(at(0));
    let sim = SimBuilder::new(clock.clone()).seed(2).world_as_planned().start().await.expect("the simulator starts");
    let base_conf = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(SECONDARY))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        )))
        .endpoint_url(sim.endpoints().url(service::SNS).unwrap())
        .build();
    let clients = AwsClients::from_sdk_config(base_conf, clock);
    let mut input = base(Phase::ApprovalRequested);
    input.plan = sim.plan();
    input.data_at_risk.clear();
    input.approval =
        Some(ApprovalTask { task_token: TaskToken::new(TOKEN), state: Some("Approve".into()), question: None });
    let out = notify::handle(input.clone(), &clients).await.expect("published through the simulator");

    let msgs = sim.sns_messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.message_id, out.message_id);
    assert_eq!(m.region.as_deref(), Some(SECONDARY), "signed for the running Region");
    assert_eq!(m.topic_arn, input.plan.stacks[SECONDARY].topic_arn);
    assert_eq!(m.subject.as_deref(), Some(out.subject.as_str()));
    assert_eq!(m.attributes["phase"], ("String".to_string(), "approval-requested".to_string()));
    assert_eq!(m.attributes["dedup_id"].1, out.dedup_id);
    assert!(m.message.contains("failover approve --execution drill-2027-01-15-0800"));
    assert!(!m.message.contains(TOKEN));

    // A topic the simulated Region does not have.
    input.plan.stacks.get_mut(SECONDARY).unwrap().topic_arn = "arn:aws:sns:us-west-2:111122223333:gone".into();
    let err = notify::handle(input, &clients).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert_eq!(sim.sns_messages().len(), 1);
}

#[test]
fn the_sample_events_are_valid_and_their_messages_keep_the_token_out() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("notify.") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let input: NotifyInput = failover_core::contract::parse_input(v).unwrap_or_else(|e| panic!("{name}: {e}"));
        input.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = compose(&input, at(0));
        if let Some(a) = &input.approval {
            assert!(!m.body.contains(a.task_token.expose()) && !m.subject.contains(a.task_token.expose()), "{name}");
        }
        seen += 1;
    }
    assert!(seen >= 4, "sample notify events: {seen}");
}
