//! The simulated DynamoDB behind the real `aws-sdk-dynamodb` client: conditional writes and
//! their typed errors, two concurrent conditional updates, the `by-execution` index, TTL's
//! lazy deletion on the virtual clock, validation errors that name the problem, tables
//! created through the API, and a Region that is down. Time is virtual (paused tokio
//! clock): waiting two days costs no wall time.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use failover_core::SharedClock;
use regionsim::dynamodb::{AttrValue, DynamoDb, DynamoSettings, TableSpec};
use regionsim::{DownMode, Sim, SimBuilder, service};

const TABLE: &str = "failover-approvals";
const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";

struct Fixture {
    sim: Sim,
    clock: SharedClock,
    east: Client,
    west: Client,
}

async fn fixture() -> Fixture {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone())
        .seed(7)
        .world_as_planned()
        .setting(|s: &mut DynamoSettings| s.tables.push(TableSpec::approvals(TABLE)))
        .start()
        .await
        .expect("the simulator starts");
    let url = sim.endpoints().url(service::DYNAMODB).expect("a dynamodb endpoint").to_string();
    let client = |region: &str| Client::new(&common::sdk_config(&clock, region, &url, Duration::from_secs(1)));
    let (east, west) = (client(EAST), client(WEST));
    Fixture { sim, clock, east, west }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

impl Fixture {
    fn now(&self) -> u64 {
        unix(self.clock.now())
    }

    async fn get(&self, client: &Client, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        let out = client.get_item().table_name(TABLE).key("pk", s(pk)).consistent_read(true).send().await;
        out.expect("GetItem answers").item().cloned()
    }

    async fn put(&self, pk: &str, attrs: &[(&str, AttributeValue)]) {
        let mut req = self.east.put_item().table_name(TABLE).item("pk", s(pk));
        for (k, v) in attrs {
            req = req.item(*k, v.clone());
        }
        req.send().await.expect("PutItem answers");
    }
}

#[tokio::test(start_paused = true)]
async fn a_conditional_put_succeeds_once_then_fails_its_condition() {
    let f = fixture().await;
    let put = |owner: &str| {
        f.east
            .put_item()
            .table_name(TABLE)
            .item("pk", s("lock"))
            .item("owner", s(owner))
            .condition_expression("attribute_not_exists(pk)")
    };
    put("a").send().await.expect("the first put creates the item");
    let err = put("b").send().await.expect_err("the second put fails its condition").into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");
    assert_eq!(err.code(), Some("ConditionalCheckFailedException"));
    assert_eq!(err.message(), Some("The conditional request failed"));

    // With ReturnValuesOnConditionCheckFailure the error carries the item that won.
    let err = put("c")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .expect_err("still taken")
        .into_service_error();
    let e = match err {
        PutItemError::ConditionalCheckFailedException(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.item().and_then(|i| i.get("owner")), Some(&s("a")));

    // ALL_OLD on an unconditional overwrite returns what was there.
    let out = f
        .east
        .put_item()
        .table_name(TABLE)
        .item("pk", s("lock"))
        .item("owner", s("d"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .expect("an unconditional put");
    assert_eq!(out.attributes().and_then(|a| a.get("owner")), Some(&s("a")));

    // The other Region's table is its own: the same conditional put succeeds there.
    f.west
        .put_item()
        .table_name(TABLE)
        .item("pk", s("lock"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("us-west-2 has no such item");
    assert_eq!(
        f.sim.service::<DynamoDb>().item(EAST, TABLE, &AttrValue::s("lock")).unwrap()["owner"],
        AttrValue::s("d")
    );
}

#[tokio::test(start_paused = true)]
async fn of_two_concurrent_conditional_updates_exactly_one_wins() {
    let f = fixture().await;
    let now = f.now();
    f.put("r1", &[("status", s("pending")), ("request_expires_at", n(now + 3600))]).await;
    let decide = |who: &str| {
        f.east
            .update_item()
            .table_name(TABLE)
            .key("pk", s("r1"))
            .update_expression("SET #s = :decided, decided_by = :by")
            .condition_expression("#s = :pending AND #x > :now")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#x", "request_expires_at")
            .expression_attribute_values(":decided", s("decided"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":by", s(who))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
    };
    let (alice, bob) = tokio::join!(decide("alice"), decide("bob"));
    assert_eq!(alice.is_ok() as u8 + bob.is_ok() as u8, 1, "exactly one wins: {alice:?} {bob:?}");
    let (winner, loser, out) = match (alice, bob) {
        (Ok(out), Err(e)) => ("alice", e, out),
        (Err(e), Ok(out)) => ("bob", e, out),
        other => panic!("{other:?}"),
    };
    assert!(loser.into_service_error().is_conditional_check_failed_exception());
    assert_eq!(out.attributes().and_then(|a| a.get("status")), Some(&s("decided")));
    let item = f.get(&f.east, "r1").await.expect("the item");
    assert_eq!(item.get("decided_by"), Some(&s(winner)));
}

#[tokio::test(start_paused = true)]
async fn numbers_compare_as_numbers() {
    let f = fixture().await;
    f.put("n", &[("v", n(10))]).await;
    let update = |cond: &str| {
        f.east
            .update_item()
            .table_name(TABLE)
            .key("pk", s("n"))
            .update_expression("SET v = v + :one")
            .condition_expression(cond)
            .expression_attribute_values(":nine", AttributeValue::N("9".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
    };
    // "10" < "9" as strings; 10 > 9 as numbers.
    let out = update("v > :nine").await.expect("10 > 9");
    assert_eq!(out.attributes().and_then(|a| a.get("v")), Some(&n(11)));
    let err = update("v < :nine").await.expect_err("11 < 9 is false").into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn the_by_execution_index_is_queried_and_paged() {
    let f = fixture().await;
    f.put("r1", &[("execution_arn", s("arn:exec:1"))]).await;
    f.put("r2", &[("execution_arn", s("arn:exec:1"))]).await;
    f.put("r3", &[("execution_arn", s("arn:exec:2"))]).await;
    f.put("r4", &[]).await;
    let query = || {
        f.east
            .query()
            .table_name(TABLE)
            .index_name("by-execution")
            .key_condition_expression("#e = :e")
            .expression_attribute_names("#e", "execution_arn")
            .expression_attribute_values(":e", s("arn:exec:1"))
    };
    let out = query().send().await.expect("Query answers");
    let pks: Vec<&AttributeValue> = out.items().iter().filter_map(|i| i.get("pk")).collect();
    assert_eq!(pks, [&s("r1"), &s("r2")]);
    assert_eq!(out.count(), 2);
    assert!(out.last_evaluated_key().is_none());

    let first = query().limit(1).send().await.expect("page 1");
    assert_eq!(first.items().len(), 1);
    let start = first.last_evaluated_key().cloned().expect("a next page");
    assert_eq!(start.get("execution_arn"), Some(&s("arn:exec:1")));
    let second = query().limit(1).set_exclusive_start_key(Some(start)).send().await.expect("page 2");
    assert_eq!(second.items()[0].get("pk"), Some(&s("r2")));

    // The table's own key.
    let out = f
        .east
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :k")
        .expression_attribute_values(":k", s("r3"))
        .send()
        .await
        .expect("Query on the key");
    assert_eq!(out.count(), 1);

    // An index read is never strongly consistent.
    let err = query().consistent_read(true).send().await.expect_err("refused").into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(err.message(), Some("Consistent reads are not supported on global secondary indexes"));
}

#[tokio::test(start_paused = true)]
async fn an_expired_item_is_read_and_satisfies_conditions_until_the_sweep() {
    let f = fixture().await;
    let expires_at = f.now() + 60;
    f.put("old", &[("status", s("pending")), ("expires_at", n(expires_at))]).await;
    let ddb = f.sim.service::<DynamoDb>();
    let due = ddb.sweep_due(EAST, TABLE, &AttrValue::s("old")).expect("the item is set to expire");
    let delay = due.duration_since(UNIX_EPOCH + Duration::from_secs(expires_at)).expect("after expiry");
    assert!(delay >= Duration::from_secs(24 * 3600) && delay <= Duration::from_secs(48 * 3600), "{delay:?}");

    // An hour past its expiry the item is still there, and still passes a condition.
    f.clock.sleep(Duration::from_secs(3600)).await;
    assert!(f.now() > expires_at);
    assert!(f.get(&f.east, "old").await.is_some(), "expired, not yet deleted");
    f.east
        .update_item()
        .table_name(TABLE)
        .key("pk", s("old"))
        .update_expression("SET seen = :t")
        .condition_expression("attribute_exists(pk) AND #s = :pending")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":pending", s("pending"))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .expect("an expired item still satisfies a condition");

    // Still there a second before the modeled sweep, gone a second after.
    let until = due.duration_since(f.clock.now()).expect("the sweep is ahead");
    f.clock.sleep(until - Duration::from_secs(1)).await;
    assert!(f.get(&f.east, "old").await.is_some(), "not yet swept");
    f.clock.sleep(Duration::from_secs(2)).await;
    assert!(f.get(&f.east, "old").await.is_none(), "swept");
    f.east
        .put_item()
        .table_name(TABLE)
        .item("pk", s("old"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("the key is free again");
    let deletions = ddb.ttl_deletions();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].deleted_at, due);
    assert_eq!(deletions[0].key, AttrValue::s("old"));
}

#[tokio::test(start_paused = true)]
async fn a_bad_expression_is_a_validation_exception_that_names_the_problem() {
    let f = fixture().await;
    let put = |cond: &str| f.east.put_item().table_name(TABLE).item("pk", s("x")).condition_expression(cond);
    // (condition, one expression attribute value, the message).
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 4] = [
        (
            "attribute_not_exists(pk) AND = :v",
            Some((":v", "a")),
            "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"AND = :v\"",
        ),
        (
            "status = :v",
            Some((":v", "a")),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status",
        ),
        (
            "#s = :v",
            Some((":v", "a")),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #s",
        ),
        (
            "attribute_not_exists(pk)",
            Some((":v", "a")),
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v}",
        ),
    ];
    for (cond, value, message) in cases {
        let mut req = put(cond);
        if let Some((k, v)) = value {
            req = req.expression_attribute_values(k, s(v));
        }
        let err = req.send().await.expect_err(cond).into_service_error();
        assert_eq!(err.code(), Some("ValidationException"), "{cond}");
        assert_eq!(err.message(), Some(message), "{cond}");
    }
    let err = f
        .east
        .update_item()
        .table_name(TABLE)
        .key("pk", s("x"))
        .update_expression("SET a = :v REMOVE")
        .expression_attribute_values(":v", s("a"))
        .send()
        .await
        .expect_err("a REMOVE without a path")
        .into_service_error();
    assert_eq!(err.message(), Some("Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \"REMOVE\""));
    assert!(f.get(&f.east, "x").await.is_none(), "nothing was written");

    // A table that does not exist is ResourceNotFoundException.
    let err = f.east.get_item().table_name("nope").key("pk", s("x")).send().await.expect_err("no table");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test(start_paused = true)]
async fn a_table_created_through_the_api_is_creating_then_active() {
    let f = fixture().await;
    let create = || {
        f.west
            .create_table()
            .table_name("failover-locks")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("execution_arn")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("by-execution")
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name("execution_arn")
                            .key_type(KeyType::Hash)
                            .build()
                            .unwrap(),
                    )
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .unwrap(),
            )
    };
    let out = create().send().await.expect("CreateTable answers");
    let desc = out.table_description().expect("a description");
    assert_eq!(desc.table_status(), Some(&TableStatus::Creating));
    let put = || f.west.put_item().table_name("failover-locks").item("pk", s("lock")).send();
    assert!(put().await.expect_err("CREATING").into_service_error().is_resource_not_found_exception());
    f.clock.sleep(Duration::from_secs(5)).await;
    let desc = f.west.describe_table().table_name("failover-locks").send().await.expect("DescribeTable");
    assert_eq!(desc.table().and_then(|t| t.table_status()), Some(&TableStatus::Active));
    put().await.expect("ACTIVE");
    assert!(create().send().await.expect_err("exists").into_service_error().is_resource_in_use_exception());

    f.west
        .update_time_to_live()
        .table_name("failover-locks")
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().unwrap(),
        )
        .send()
        .await
        .expect("UpdateTimeToLive");
    let ttl = f.west.describe_time_to_live().table_name("failover-locks").send().await.expect("DescribeTimeToLive");
    let d = ttl.time_to_live_description().expect("a description");
    assert_eq!(d.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(d.attribute_name(), Some("expires_at"));

    // Only in us-west-2.
    let err = f.east.describe_table().table_name("failover-locks").send().await.expect_err("not in us-east-1");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test(start_paused = true)]
async fn a_region_that_is_down_refuses_or_hangs() {
    let f = fixture().await;
    f.put("k", &[]).await;
    f.sim.set_region_down(EAST, DownMode::Refuse);
    let err = f.east.get_item().table_name(TABLE).key("pk", s("k")).send().await.expect_err("us-east-1 is down");
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert!(f.west.list_tables().send().await.expect("us-west-2 serves").table_names().contains(&TABLE.to_string()));
    let last = f.sim.calls().into_iter().rfind(|c| c.service == service::DYNAMODB && c.region.as_deref() == Some(EAST));
    assert_eq!(last.map(|c| (c.operation, c.status)), Some(("GetItem".to_string(), None)));

    f.sim.set_region_down(EAST, DownMode::Hang);
    let err = f.east.get_item().table_name(TABLE).key("pk", s("k")).send().await.expect_err("hangs");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");

    f.sim.set_region_up(EAST);
    assert!(f.get(&f.east, "k").await.is_some(), "back, with its data");
}

#[tokio::test(start_paused = true)]
async fn scan_projection_delete_item_and_delete_table() {
    let f = fixture().await;
    f.put("a", &[("status", s("pending")), ("note", s("x"))]).await;
    f.put("b", &[("status", s("decided"))]).await;

    let out = f
        .east
        .scan()
        .table_name(TABLE)
        .filter_expression("#s = :p")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":p", s("pending"))
        .send()
        .await
        .expect("Scan answers");
    assert_eq!((out.count(), out.scanned_count()), (1, 2));
    assert_eq!(out.items()[0].get("pk"), Some(&s("a")));

    let out = f
        .east
        .get_item()
        .table_name(TABLE)
        .key("pk", s("a"))
        .projection_expression("#s")
        .expression_attribute_names("#s", "status")
        .send()
        .await
        .expect("GetItem with a projection");
    let item = out.item().expect("the item");
    assert_eq!(item.len(), 1);
    assert_eq!(item.get("status"), Some(&s("pending")));

    let delete = || {
        f.east
            .delete_item()
            .table_name(TABLE)
            .key("pk", s("a"))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
    };
    let out = delete().await.expect("the item exists");
    assert_eq!(out.attributes().and_then(|a| a.get("note")), Some(&s("x")));
    let err = delete().await.expect_err("gone").into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");
    // ALL_NEW is not a ReturnValues of DeleteItem.
    let err = f
        .east
        .delete_item()
        .table_name(TABLE)
        .key("pk", s("b"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect_err("refused")
        .into_service_error();
    assert_eq!(err.message(), Some("ReturnValues can only be ALL_OLD or NONE"));

    let out = f.east.delete_table().table_name(TABLE).send().await.expect("DeleteTable");
    assert_eq!(out.table_description().and_then(|t| t.table_status()), Some(&TableStatus::Deleting));
    let err = f.east.describe_table().table_name(TABLE).send().await.expect_err("deleted").into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    // us-west-2's table of the same name is untouched.
    f.west.describe_table().table_name(TABLE).send().await.expect("us-west-2 keeps its table");
}
