//! The one list of built-in services, and their names.
//!
//! Each entry is a service's own `register` function: it builds the service from the plan,
//! registers its handle (`sim.service::<T>()`) and its HTTP handler, and asks the kernel
//! for the ports it serves. Adding a service is a module of its own (with `pub mod` in
//! `lib.rs`) and one line here; nothing else names it.

use crate::sim::Register;

/// The service names used for ports, the call log and faults.
pub mod service {
    /// The ARC cluster data plane (five Regional endpoints).
    pub const ARC: &str = "arc";
    pub const RDS: &str = "rds";
    pub const CLOUDWATCH: &str = "cloudwatch";
    pub const SNS: &str = "sns";
    pub const S3: &str = "s3";
    pub const SECRETS_MANAGER: &str = "secretsmanager";
    /// Step Functions; served only once a handler is installed (`sfn::Sfn::install`).
    pub const SFN: &str = "states";
    /// DynamoDB, each Region's tables of its own.
    pub const DYNAMODB: &str = "dynamodb";
    /// SSM Parameter Store, each Region's parameters of its own (the stacks' plan copies).
    pub const SSM: &str = "ssm";
    /// Each Region's Lambda function URL, one port per Region.
    pub const FUNCTION_URLS: &str = "function-urls";
    /// Each Region's application health endpoint (`GET /health`), one port per Region.
    pub const WEB: &str = "web";
    /// CloudFormation (DescribeStacks: each Region's stack and its outputs).
    pub const CLOUDFORMATION: &str = "cloudformation";
    /// STS (GetCallerIdentity).
    pub const STS: &str = "sts";
    /// The authoritative DNS server (UDP and TCP, not HTTP).
    pub const DNS: &str = "dns";
}

/// Every built-in service, in registration order.
pub(crate) const BUILTIN: &[Register] = &[
    crate::arc::ArcCluster::register,
    crate::rds::reserve_port,
    crate::cloudwatch::CloudWatch::register,
    crate::eventbridge::EventBridge::register,
    crate::sns::Sns::register,
    crate::s3::S3::register,
    crate::secrets::SecretsManager::register,
    crate::sfn::reserve_port,
    crate::dynamodb::DynamoDb::register,
    crate::ssm::Ssm::register,
    crate::web::Web::register,
    crate::function_urls::FunctionUrls::register,
    crate::dns::Dns::register,
    crate::cloudformation::CloudFormation::register,
    crate::sts::Sts::register,
    crate::resolvers::Resolvers::register,
];
