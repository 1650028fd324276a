//! The plan validator: every broken plan gives its own message with the field path.

use failover_core::plan::{ClusterEndpoint, Plan, PlanErrors, Report, parse_arn, region_of_aws_host};

const EXAMPLE: &str = include_str!("../../../examples/retail-store.plan.yaml");

fn example() -> Plan {
    Plan::from_yaml(EXAMPLE).expect("the shipped example plan is valid")
}

/// Validates a mutated copy of the example and returns its problems as `path: message` lines.
fn problems(mutate: impl FnOnce(&mut Plan)) -> Vec<String> {
    let mut plan = example();
    mutate(&mut plan);
    match plan.validate() {
        Ok(()) => vec![],
        Err(PlanErrors(ps)) => ps.iter().map(|p| p.to_string()).collect(),
    }
}

fn assert_one(problems: Vec<String>, path: &str, fragment: &str) {
    assert_eq!(problems.len(), 1, "expected exactly one problem, got {problems:#?}");
    let p = &problems[0];
    assert!(p.starts_with(&format!("{path}: ")), "problem `{p}` does not start with the path `{path}`");
    assert!(p.contains(fragment), "problem `{p}` does not mention `{fragment}`");
}

#[test]
fn the_example_plan_is_valid_and_summarised() {
    let plan = example();
    assert_eq!(plan.name, "retail-store");
    assert_eq!(plan.databases.len(), 2);
    assert_eq!(plan.arc.cluster_endpoints.len(), 5);
    assert_eq!(plan.other_region("us-east-1"), Some("us-west-2"));
    assert_eq!(plan.other_region("eu-west-1"), None);
    let s = plan.summary();
    assert!(s.contains("primary us-east-1, secondary us-west-2"), "{s}");
    assert!(
        s.contains("database orders: global cluster retail-orders-global (aurora-postgresql), 2 report tables"),
        "{s}"
    );
}

#[test]
fn approvers_are_named_once_each_with_a_usable_name() {
    let s = example().summary();
    assert!(s.contains("approvers: Ana Silva, Ravi Menon"), "{s}");
    assert_eq!(problems(|p| p.approval.approvers.clear()), Vec::<String>::new(), "no list: anyone with the link");
    let mut open = example();
    open.approval.approvers.clear();
    assert!(open.summary().contains("approvers: anyone holding the link"), "{}", open.summary());

    assert_one(problems(|p| p.approval.approvers.push("  ".into())), "approval.approvers[2]", "must not be empty");
    assert_one(
        problems(|p| p.approval.approvers.push(" ana SILVA".into())),
        "approval.approvers[2]",
        "`ana SILVA` is listed already, as approval.approvers[0]",
    );
    assert_one(problems(|p| p.approval.approvers.push("x".repeat(101))), "approval.approvers[2]", "at most 100");
    assert_one(
        problems(|p| p.approval.approvers.insert(0, "Ana\nSilva".into())),
        "approval.approvers[0]",
        "control characters",
    );
}

#[test]
fn unknown_region() {
    assert_one(problems(|p| p.regions.secondary = "us-middle-1".into()), "regions.secondary", "not a known AWS Region");
}

#[test]
fn missing_region_is_a_structural_error_with_its_path() {
    let text = EXAMPLE.replacen("  secondary: us-west-2\n", "", 1);
    let err = Plan::from_yaml(&text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].path, "regions");
    assert!(err.0[0].message.contains("missing field `secondary`"), "{err}");
}

#[test]
fn wrong_type_names_the_nested_path() {
    let text = EXAMPLE.replacen("rto_seconds: 900", "rto_seconds: soon", 1);
    let err = Plan::from_yaml(&text).unwrap_err();
    assert_eq!(err.0[0].path, "objectives.rto_seconds", "{err}");
}

#[test]
fn unknown_field_is_refused() {
    let text = EXAMPLE.replacen("cooldown_seconds: 3600", "cooldown_seconds: 3600\ncooldown_minutes: 60", 1);
    let err = Plan::from_yaml(&text).unwrap_err();
    assert!(err.to_string().contains("unknown field `cooldown_minutes`"), "{err}");
}

#[test]
fn same_region_twice() {
    let ps = problems(|p| p.regions.secondary = "us-east-1".into());
    assert!(ps.iter().any(|p| p.starts_with("regions.secondary: must differ from regions.primary")), "{ps:#?}");
}

#[test]
fn controls_for_a_region_not_in_the_plan() {
    let ps = problems(|p| {
        let c = p.arc.routing_controls["us-west-2"].clone();
        p.arc.routing_controls.insert("eu-west-1".into(), vec![c[0].replace("usw2", "euw1")]);
    });
    assert_one(ps, "arc.routing_controls.eu-west-1", "not one of the plan's Regions");
}

#[test]
fn a_region_without_controls() {
    assert_one(problems(|p| drop(p.arc.routing_controls.remove("us-west-2"))), "arc.routing_controls", "us-west-2");
}

#[test]
fn a_table_without_key() {
    assert_one(
        problems(|p| p.databases[1].report.as_mut().unwrap().tables[0].key.clear()),
        "databases[1].report.tables[0].key",
        "needs its key columns",
    );
}

#[test]
fn rto_of_zero() {
    assert_one(problems(|p| p.objectives.rto_seconds = 0), "objectives.rto_seconds", "greater than zero");
}

#[test]
fn an_endpoint_url_that_does_not_parse() {
    assert_one(
        problems(|p| p.arc.cluster_endpoints[2].url = "https//no-colon".into()),
        "arc.cluster_endpoints[2].url",
        "not a valid URL",
    );
}

#[test]
fn duplicate_names() {
    let ps = problems(|p| p.databases[1].name = "catalog".into());
    assert_one(ps, "databases[1]", "duplicate database name `catalog`");
    let ps = problems(|p| {
        let dup = p.arc.cluster_endpoints[0].clone();
        p.arc.cluster_endpoints.push(ClusterEndpoint { url: dup.url, region: dup.region });
    });
    assert_one(ps, "arc.cluster_endpoints[5]", "duplicate endpoint URL");
}

#[test]
fn a_control_in_both_regions() {
    let ps = problems(|p| {
        let c = p.arc.routing_controls["us-east-1"][0].clone();
        p.arc.routing_controls.get_mut("us-west-2").unwrap().push(c);
    });
    assert_one(ps, "arc.routing_controls.us-west-2[1]", "a control belongs to one Region");
}

#[test]
fn member_arn_in_the_wrong_region() {
    let ps = problems(|p| {
        p.databases[0].members.insert("us-west-2".into(), "arn:aws:rds:eu-west-1:111122223333:cluster:x".into());
    });
    assert_one(ps, "databases[0].members.us-west-2", "another Region");
}

#[test]
fn a_writer_endpoint_as_the_report_reader() {
    let ps =
        problems(|p| {
            p.databases[0].report.as_mut().unwrap().reader_endpoints.insert(
                "us-west-2".into(),
                "retail-catalog-usw2.cluster-mnopqrstuvwx.us-west-2.rds.amazonaws.com".into(),
            );
        });
    assert_one(ps, "databases[0].report.reader_endpoints.us-west-2", "reader endpoint");
}

#[test]
fn ignoring_a_key_column() {
    let ps = problems(|p| p.databases[1].report.as_mut().unwrap().tables[0].ignore_columns.push("id".into()));
    assert_one(ps, "databases[1].report.tables[0].ignore_columns[1]", "key column");
}

#[test]
fn rows_per_part_of_zero() {
    let ps = problems(|p| p.databases[1].report.as_mut().unwrap().rows_per_part = Some(0));
    assert_one(ps, "databases[1].report.rows_per_part", "at least 1");
    assert!(problems(|p| p.databases[1].report.as_mut().unwrap().rows_per_part = Some(1)).is_empty());
    assert_eq!(example().databases[1].report.as_ref().unwrap().rows_per_part(), 50_000_000, "the default");
}

#[test]
fn serverless_without_capacity_and_bad_class() {
    let ps = problems(|p| p.databases[0].recovery.capacity.serverless = None);
    assert_one(ps, "databases[0].recovery.capacity.serverless", "min_acu and max_acu");
    let ps = problems(|p| p.databases[1].recovery.capacity.instance_class = "r6g.large".into());
    assert_one(ps, "databases[1].recovery.capacity.instance_class", "not an instance class");
}

#[test]
fn a_topic_that_is_not_an_sns_arn_and_a_missing_stack() {
    let ps = problems(|p| {
        p.stacks.get_mut("us-east-1").unwrap().topic_arn = "failover-topic".into();
        p.stacks.remove("us-west-2");
    });
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert!(ps.iter().any(|p| p.starts_with("stacks: missing an entry for Region `us-west-2`")), "{ps:#?}");
    assert!(ps.iter().any(|p| p.starts_with("stacks.us-east-1.topic_arn: ")), "{ps:#?}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let ps = problems(|p| {
        p.objectives.rto_seconds = 0;
        p.dns.name_servers.clear();
        p.approval.timeout_seconds = 0;
        p.arc.timeouts.connect_ms = 0;
    });
    let paths: Vec<&str> = ps.iter().map(|p| p.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        vec!["objectives.rto_seconds", "arc.timeouts.connect_ms", "dns.name_servers", "approval.timeout_seconds"],
        "{ps:#?}"
    );
}

#[test]
fn the_plan_round_trips_through_json() {
    let plan = example();
    let json = serde_json::to_value(&plan).unwrap();
    let back = Plan::from_json_value(json).unwrap();
    assert_eq!(back, plan);
}

// ----- mistakes that would only surface during an outage -----

fn report(p: &mut Plan, db: usize) -> &mut Report {
    p.databases[db].report.as_mut().unwrap()
}

/// One mistake applied to the example plan, the field it must be refused at, and a
/// fragment of the message.
struct Broken {
    name: &'static str,
    mutate: fn(&mut Plan),
    path: &'static str,
    says: &'static str,
}

const USE1_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";
const USW2_KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/66666666-7777-8888-9999-000000000000";
const SAFETY_RULE: &str = "arn:aws:route53-recovery-control::111122223333:controlpanel/0123456789abcdef0123456789abcdef/safetyrule/atleastone00001";

fn broken_plans() -> Vec<Broken> {
    vec![
        // KMS keys: databases[i].recovery.kms_keys.<R> (the issue's `report.kms_key`).
        Broken {
            name: "kms key id instead of an ARN",
            mutate: |p| {
                drop(
                    p.databases[0]
                        .recovery
                        .kms_keys
                        .insert("us-east-1".into(), USE1_KEY.rsplit('/').next().unwrap().into()),
                )
            },
            path: "databases[0].recovery.kms_keys.us-east-1",
            says: "is not a KMS key ARN",
        },
        Broken {
            name: "bare alias name instead of an ARN",
            mutate: |p| {
                drop(p.databases[0].recovery.kms_keys.insert("us-west-2".into(), "alias/retail-recovery".into()))
            },
            path: "databases[0].recovery.kms_keys.us-west-2",
            says: "is not a KMS key ARN",
        },
        Broken {
            name: "kms ARN without a 12-digit account",
            mutate: |p| {
                drop(
                    p.databases[0]
                        .recovery
                        .kms_keys
                        .insert("us-east-1".into(), USE1_KEY.replace("111122223333", "1111")),
                )
            },
            path: "databases[0].recovery.kms_keys.us-east-1",
            says: "12-digit account",
        },
        Broken {
            name: "kms key of the other Region",
            mutate: |p| drop(p.databases[0].recovery.kms_keys.insert("us-east-1".into(), USW2_KEY.into())),
            path: "databases[0].recovery.kms_keys.us-east-1",
            says: "the ARN is in `us-west-2`, another Region than `us-east-1`",
        },
        // Report credentials: databases[i].report.credentials.<R>.
        Broken {
            name: "report credentials by secret name",
            mutate: |p| drop(report(p, 0).credentials.insert("us-west-2".into(), "retail/catalog/report".into())),
            path: "databases[0].report.credentials.us-west-2",
            says: "is not a Secrets Manager secret ARN",
        },
        Broken {
            name: "report credentials in the other Region",
            mutate: |p| {
                let use1 = report(p, 1).credentials["us-east-1"].clone();
                report(p, 1).credentials.insert("us-west-2".into(), use1);
            },
            path: "databases[1].report.credentials.us-west-2",
            says: "another Region than `us-west-2`",
        },
        // Approval secrets: stacks.<R>.approval_secret.
        Broken {
            name: "approval secret as an SSM parameter ARN",
            mutate: |p| {
                p.stacks.get_mut("us-east-1").unwrap().approval_secret =
                    Some("arn:aws:ssm:us-east-1:111122223333:parameter/failover/approval-key".into())
            },
            path: "stacks.us-east-1.approval_secret",
            says: "is not a Secrets Manager secret ARN",
        },
        Broken {
            name: "approval secret in the other Region",
            mutate: |p| {
                let use1 = p.stacks["us-east-1"].approval_secret.clone();
                p.stacks.get_mut("us-west-2").unwrap().approval_secret = use1;
            },
            path: "stacks.us-west-2.approval_secret",
            says: "another Region than `us-west-2`",
        },
        // Topics: stacks.<R>.topic_arn (the issue's `stacks.<R>.topic`).
        Broken {
            name: "topic of the other Region",
            mutate: |p| p.stacks.get_mut("us-east-1").unwrap().topic_arn = p.stacks["us-west-2"].topic_arn.clone(),
            path: "stacks.us-east-1.topic_arn",
            says: "another Region than `us-east-1`",
        },
        Broken {
            name: "subscription ARN as the topic",
            mutate: |p| {
                p.stacks.get_mut("us-east-1").unwrap().topic_arn =
                    "arn:aws:sns:us-east-1:111122223333:failover-retail-store:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
                        .into()
            },
            path: "stacks.us-east-1.topic_arn",
            says: "is not an SNS topic ARN",
        },
        // ARC cluster endpoints: arc.cluster_endpoints[i].region against the URL's host.
        Broken {
            name: "cluster endpoint signed for another Region than its host",
            mutate: |p| p.arc.cluster_endpoints[2].region = "eu-central-1".into(),
            path: "arc.cluster_endpoints[2].region",
            says: "the URL's host is in `eu-west-1`",
        },
        // Reader endpoints: databases[i].report.reader_endpoints.<R>.
        Broken {
            name: "reader endpoint of the other Region",
            mutate: |p| {
                let use1 = report(p, 1).reader_endpoints["us-east-1"].clone();
                report(p, 1).reader_endpoints.insert("us-west-2".into(), use1);
            },
            path: "databases[1].report.reader_endpoints.us-west-2",
            says: "is in `us-east-1`, another Region than `us-west-2`",
        },
        // Routing controls and safety rules: arc.routing_controls.<R>[i], arc.safety_rules[i].arn.
        Broken {
            name: "safety rule listed as a routing control",
            mutate: |p| p.arc.routing_controls.get_mut("us-east-1").unwrap().push(SAFETY_RULE.into()),
            path: "arc.routing_controls.us-east-1[1]",
            says: "is a safety rule, not a routing control",
        },
        Broken {
            name: "control panel ARN listed as a routing control",
            mutate: |p| {
                p.arc.routing_controls.get_mut("us-west-2").unwrap()[0] =
                    "arn:aws:route53-recovery-control::111122223333:controlpanel/0123456789abcdef0123456789abcdef"
                        .into()
            },
            path: "arc.routing_controls.us-west-2[0]",
            says: "is not an ARC routing control ARN",
        },
        Broken {
            name: "routing control listed as a safety rule",
            mutate: |p| p.arc.safety_rules[0].arn = p.arc.routing_controls["us-east-1"][0].clone(),
            path: "arc.safety_rules[0].arn",
            says: "is a routing control, not a safety rule",
        },
        // Watcher alarms: health.<R>.alarms[i].
        Broken {
            name: "watcher alarm in the Region it watches",
            mutate: |p| p.health.get_mut("us-east-1").unwrap().alarms[0].region = Some("us-east-1".into()),
            path: "health.us-east-1.alarms[0].region",
            says: "would go silent with us-east-1; a canary judging us-east-1 runs in us-west-2",
        },
        Broken {
            name: "watcher alarm named by its ARN",
            mutate: |p| {
                p.health.get_mut("us-west-2").unwrap().alarms[0].name =
                    "arn:aws:cloudwatch:us-east-1:111122223333:alarm:retail-canary-watching-usw2".into()
            },
            path: "health.us-west-2.alarms[0].name",
            says: "give the alarm's name (`retail-canary-watching-usw2`)",
        },
        // A Region's own signals: health.<R>.own_alarms[i] (read by R's proposer, in R).
        Broken {
            name: "no own signal for a Region",
            mutate: |p| p.health.get_mut("us-west-2").unwrap().own_alarms.clear(),
            path: "health.us-west-2.own_alarms",
            says: "name at least one alarm living in us-west-2 that watches us-west-2 itself",
        },
        Broken {
            name: "own signal living in the other Region",
            mutate: |p| p.health.get_mut("us-west-2").unwrap().own_alarms[0].region = Some("us-east-1".into()),
            path: "health.us-west-2.own_alarms[0].region",
            says: "us-west-2's own signals live in us-west-2",
        },
        Broken {
            name: "own signal that is also a watcher of the other Region",
            mutate: |p| {
                p.health.get_mut("us-west-2").unwrap().own_alarms[0].name = "retail-canary-watching-use1".into()
            },
            path: "health.us-west-2.own_alarms[0].name",
            says: "also judges the other Region",
        },
        Broken {
            name: "own signal named by its ARN",
            mutate: |p| {
                p.health.get_mut("us-east-1").unwrap().own_alarms[0].name =
                    "arn:aws:cloudwatch:us-east-1:111122223333:alarm:retail-canary-self-use1".into()
            },
            path: "health.us-east-1.own_alarms[0].name",
            says: "is an ARN",
        },
        // Member clusters: databases[i].members.<R> (the same parser, now with the resource type).
        Broken {
            name: "global cluster ARN as a member",
            mutate: |p| {
                drop(p.databases[0].members.insert(
                    "us-east-1".into(),
                    "arn:aws:rds::111122223333:global-cluster:retail-catalog-global".into(),
                ))
            },
            path: "databases[0].members.us-east-1",
            says: "is not an Aurora cluster ARN",
        },
    ]
}

#[test]
fn each_mistake_that_would_surface_in_an_outage_is_refused_at_its_field() {
    assert_eq!(problems(|_| {}), Vec::<String>::new(), "the example plan itself passes");
    let mut failures = Vec::new();
    for case in broken_plans() {
        let ps = problems(case.mutate);
        let ok = ps.len() == 1 && ps[0].starts_with(&format!("{}: ", case.path)) && ps[0].contains(case.says);
        if !ok {
            failures.push(format!("{}: expected one `{}: ...{}...`, got {ps:#?}", case.name, case.path, case.says));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn legitimate_variants_still_pass() {
    // An alias ARN names its Region and account like a key ARN: RDS and SSE-KMS take it.
    let alias = "arn:aws:kms:us-west-2:111122223333:alias/retail-recovery";
    assert!(problems(|p| drop(p.databases[0].recovery.kms_keys.insert("us-west-2".into(), alias.into()))).is_empty());
    // An alarm without `region` lives in the watching Region by default.
    assert!(problems(|p| p.health.get_mut("us-east-1").unwrap().alarms[0].region = None).is_empty());
    // An own signal may name its Region, when it is its own.
    assert!(
        problems(|p| p.health.get_mut("us-east-1").unwrap().own_alarms[0].region = Some("us-east-1".into())).is_empty()
    );
    // A reader endpoint with its port, and hosts outside amazonaws.com (a simulator on
    // loopback, a private name) have no Region to compare.
    assert!(
        problems(|p| {
            let r = report(p, 1);
            let host = r.reader_endpoints["us-west-2"].clone();
            r.reader_endpoints.insert("us-west-2".into(), format!("{host}:5432"));
            r.reader_endpoints.insert("us-east-1".into(), "orders-reader.internal.example".into());
            p.arc.cluster_endpoints[0].url = "http://127.0.0.1:41001/v1".into();
        })
        .is_empty()
    );
    // No approval secret at all is not a mistake of this kind.
    assert!(problems(|p| p.stacks.get_mut("us-east-1").unwrap().approval_secret = None).is_empty());
}

#[test]
fn one_arn_parser_splits_the_six_parts() {
    let a = parse_arn("arn:aws:secretsmanager:us-west-2:111122223333:secret:retail/orders/report-StUvWx").unwrap();
    assert_eq!(
        (a.partition, a.service, a.region, a.account, a.resource),
        ("aws", "secretsmanager", "us-west-2", "111122223333", "secret:retail/orders/report-StUvWx")
    );
    let rc = parse_arn(SAFETY_RULE).unwrap();
    assert_eq!((rc.region, rc.resource.rsplit('/').next()), ("", Some("atleastone00001")));
    assert_eq!(parse_arn("arn:aws-cn:sns:cn-north-1:111122223333:t").unwrap().partition, "aws-cn");
    for not_an_arn in ["", "alias/x", "arn:aws:kms:us-east-1:111122223333", "arn:gcp:kms:r:a:key/x", "arn:aws::r:a:x"] {
        assert_eq!(parse_arn(not_an_arn), None, "{not_an_arn}");
    }
}

#[test]
fn the_region_of_an_aws_host() {
    assert_eq!(region_of_aws_host("a1b2.route53-recovery-cluster.eu-west-1.amazonaws.com"), Some("eu-west-1"));
    assert_eq!(region_of_aws_host("x.cluster-ro-abc.us-west-2.rds.amazonaws.com:3306"), Some("us-west-2"));
    assert_eq!(region_of_aws_host("x.cluster-ro-abc.cn-north-1.rds.amazonaws.com.cn"), Some("cn-north-1"));
    assert_eq!(region_of_aws_host("127.0.0.1:41001"), None);
    assert_eq!(region_of_aws_host("us-east-1.example.com"), None);
}
