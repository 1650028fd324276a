//! The plan validator: every broken plan gives its own message with the field path.

use failover_core::plan::{ClusterEndpoint, Plan, PlanErrors};

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
