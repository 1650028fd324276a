//! The simulated Parameter Store behind the real `aws-sdk-ssm` client: versions, the
//! `name:N` selector, `ParameterNotFound` and `ParameterVersionNotFound` as typed errors,
//! `ParameterAlreadyExists` without `Overwrite`, lookup by ARN, each Region's parameters its
//! own, and a Region that is down.

mod common;

use std::time::Duration;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::operation::put_parameter::PutParameterError;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use failover_core::SharedClock;
use regionsim::ssm::Ssm;
use regionsim::{DownMode, Sim, SimBuilder, service};

const PLAN: &str = "/failover/retail-store/plan";
const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";

async fn start() -> (Sim, Client, Client) {
    let clock = SharedClock::virtual_at(common::epoch());
    let sim = SimBuilder::new(clock.clone()).seed(3).start().await.expect("the simulator starts");
    let url = sim.endpoints().url(service::SSM).expect("an ssm endpoint").to_string();
    let client = |region: &str| Client::new(&common::sdk_config(&clock, region, &url, Duration::from_secs(1)));
    let (east, west) = (client(EAST), client(WEST));
    (sim, east, west)
}

async fn put(c: &Client, value: &str, overwrite: bool) -> Result<i64, SdkError<PutParameterError>> {
    c.put_parameter()
        .name(PLAN)
        .value(value)
        .r#type(ParameterType::String)
        .tier(ParameterTier::Advanced)
        .overwrite(overwrite)
        .send()
        .await
        .map(|o| o.version())
}

#[tokio::test(start_paused = true)]
async fn versions_selectors_and_typed_errors() {
    let (sim, east, west) = start().await;

    // Nothing yet: ParameterNotFound, typed.
    let err = west.get_parameter().name(PLAN).send().await.expect_err("no parameter yet");
    assert!(matches!(err.as_service_error(), Some(GetParameterError::ParameterNotFound(_))), "{err:?}");

    assert_eq!(put(&west, r#"{"name":"retail-store","v":1}"#, false).await.unwrap(), 1);
    let again = put(&west, r#"{"name":"retail-store","v":2}"#, false).await.expect_err("exists, no overwrite");
    assert!(matches!(again.as_service_error(), Some(PutParameterError::ParameterAlreadyExists(_))), "{again:?}");
    assert_eq!(put(&west, r#"{"name":"retail-store","v":2}"#, true).await.unwrap(), 2);

    let latest = west.get_parameter().name(PLAN).send().await.unwrap();
    let p = latest.parameter().expect("a parameter");
    assert_eq!((p.value(), p.version()), (Some(r#"{"name":"retail-store","v":2}"#), 2));
    assert_eq!(p.name(), Some(PLAN));
    let arn = p.arn().expect("its ARN").to_string();
    assert_eq!(arn, "arn:aws:ssm:us-west-2:111122223333:parameter/failover/retail-store/plan");

    // A version selector, and the same parameter by its ARN.
    let first = west.get_parameter().name(format!("{PLAN}:1")).send().await.unwrap();
    assert_eq!(
        first.parameter().map(|p| (p.value(), p.version())),
        Some((Some(r#"{"name":"retail-store","v":1}"#), 1))
    );
    let by_arn = west.get_parameter().name(&arn).send().await.unwrap();
    assert_eq!(by_arn.parameter().map(|p| p.version()), Some(2));
    let err = west.get_parameter().name(format!("{PLAN}:9")).send().await.expect_err("no version 9");
    assert!(matches!(err.as_service_error(), Some(GetParameterError::ParameterVersionNotFound(_))), "{err:?}");
    assert_eq!(err.code(), Some("ParameterVersionNotFound"));

    // Each Region has its own: us-east-1 has none.
    let err = east.get_parameter().name(PLAN).send().await.expect_err("us-east-1 has no copy");
    assert!(matches!(err.as_service_error(), Some(GetParameterError::ParameterNotFound(_))), "{err:?}");
    assert_eq!(sim.service::<Ssm>().put(EAST, PLAN, "{}"), 1);
    assert_eq!(east.get_parameter().name(PLAN).send().await.unwrap().parameter().map(|p| p.version()), Some(1));

    // The call log names the parameter's ARN for IAM.
    let call = sim.calls().into_iter().rfind(|c| c.service == service::SSM).expect("a logged call");
    assert_eq!(call.operation, "GetParameter");

    // A Region that is down answers nothing; the other still does.
    sim.set_region_down(EAST, DownMode::Refuse);
    let err = east.get_parameter().name(PLAN).send().await.expect_err("us-east-1 is down");
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert_eq!(west.get_parameter().name(PLAN).send().await.unwrap().parameter().map(|p| p.version()), Some(2));
}
