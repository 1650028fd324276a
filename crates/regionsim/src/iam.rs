//! What IAM would evaluate for a simulated call: the data behind the least-privilege test.
//!
//! Every signed request names its caller (the access key id of the SigV4 credential), and
//! each service says, from the request it already parses, which [`Authorization`]s IAM
//! makes for it: one action on one resource each (an action on several resources is
//! several authorizations, since IAM allows each resource separately), with the condition
//! keys the request carries, plus the requests the service makes to KMS or Secrets Manager
//! on the caller's behalf (`via`: the KMS use of an encrypted topic or object, the managed
//! master secret RDS creates). The kernel records them with the call
//! ([`crate::CallRecord::authorizations`]); nothing here decides anything, and no service
//! answers differently because of it. The IAM names follow the Service Authorization
//! Reference (`rds:SwitchoverGlobalCluster` on the global cluster and the target cluster,
//! `sns:Publish` on the topic, `s3:PutObject` on `arn:aws:s3:::bucket/key`,
//! `cloudwatch:GetMetricData` on `*`), with two choices written down where the reference
//! is silent or contradicted:
//!
//! * `states:SendTaskSuccess` / `SendTaskFailure` / `SendTaskHeartbeat` of a callback task
//!   are evaluated on the task's state machine: that is what AWS's AccessDenied message
//!   names ("not authorized to perform: states:SendTaskSuccess on resource:
//!   arn:aws:states:...:stateMachine:..."), although the reference lists no resource type.
//! * `s3:GetObject` of a missing key also needs `s3:ListBucket` on the bucket for S3 to
//!   answer `NoSuchKey` rather than `AccessDenied` (S3 `GetObject`, "Permissions").
//!
//! Not recorded: the default parameter and option groups RDS uses when a restore names
//! none, the source snapshot's own KMS key (the simulator does not know the clusters'
//! storage keys), and KMS use through Secrets Manager (the simulated secrets carry no key).

use std::collections::BTreeMap;

use serde::Serialize;

/// The account every simulated ARN that the plan does not give lives in (the reference
/// plan's placeholder account).
pub const SIMULATED_ACCOUNT: &str = "111122223333";

/// One authorization IAM makes for a call: an action on one resource, with the request's
/// condition keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorization {
    /// `service:Action` as IAM names it (`route53-recovery-cluster:UpdateRoutingControlStates`).
    pub action: String,
    /// The resource ARN IAM evaluates, or `*` for an action without a resource type.
    pub resource: String,
    /// Condition keys and their values (`aws:RequestTag/failover:execution`,
    /// `kms:ViaService`, `s3:x-amz-server-side-encryption`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Vec<String>>,
    /// The service that makes this request on the caller's behalf (`s3`, `sns`, `rds`):
    /// set for what the call leads to, `None` for the call itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl Authorization {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { action: action.into(), resource: resource.into(), context: BTreeMap::new(), via: None }
    }

    /// Adds `value` to condition key `key`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context.entry(key.to_string()).or_default().push(value.into());
        self
    }

    /// The same action on each of `resources`.
    pub fn each(action: &str, resources: impl IntoIterator<Item = impl Into<String>>) -> Vec<Self> {
        resources.into_iter().map(|r| Self::new(action, r)).collect()
    }

    /// A request `service` makes on the caller's behalf in `region`: `kms:ViaService` is
    /// `<service>.<region>.amazonaws.com`, as KMS sees it.
    pub fn via(mut self, service: &str, region: &str) -> Self {
        self.via = Some(service.to_string());
        if self.action.starts_with("kms:") {
            self = self.with("kms:ViaService", format!("{service}.{region}.amazonaws.com"));
            self = self.with("kms:CallerAccount", SIMULATED_ACCOUNT);
        }
        self
    }

    /// The tag condition keys of a request that tags what it creates: `aws:RequestTag/<k>`
    /// (and the service's own `<prefix>:req-tag/<k>` when it has one) and `aws:TagKeys`.
    pub fn with_tags(mut self, service_prefix: Option<&str>, tags: &[(String, String)]) -> Self {
        for (k, v) in tags {
            self = self.with(&format!("aws:RequestTag/{k}"), v.clone());
            if let Some(p) = service_prefix {
                self = self.with(&format!("{p}:req-tag/{k}"), v.clone());
            }
            self = self.with("aws:TagKeys", k.clone());
        }
        self
    }
}

/// The KMS key ARN of an id, alias or ARN as a request names it, in `region`.
pub fn kms_key_arn(id: &str, region: &str) -> String {
    if id.starts_with("arn:") {
        id.to_string()
    } else if id.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{SIMULATED_ACCOUNT}:{id}")
    } else {
        format!("arn:aws:kms:{region}:{SIMULATED_ACCOUNT}:key/{id}")
    }
}

/// The AWS managed key a service uses when a request asks for KMS encryption without a
/// key (`aws/s3`, `aws/sns`), as an alias ARN: no template names it.
pub fn aws_managed_key(service: &str, region: &str) -> String {
    format!("arn:aws:kms:{region}:{SIMULATED_ACCOUNT}:alias/aws/{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_use_on_behalf_carries_the_via_service() {
        let a = Authorization::new("kms:GenerateDataKey", "arn:aws:kms:us-west-2:1:key/k").via("s3", "us-west-2");
        assert_eq!(a.via.as_deref(), Some("s3"));
        assert_eq!(a.context["kms:ViaService"], vec!["s3.us-west-2.amazonaws.com".to_string()]);
    }

    #[test]
    fn tags_give_request_tag_keys() {
        let tags = vec![("failover:execution".to_string(), "e1".to_string())];
        let a = Authorization::new("rds:AddTagsToResource", "arn").with_tags(Some("rds"), &tags);
        assert_eq!(a.context["aws:RequestTag/failover:execution"], vec!["e1".to_string()]);
        assert_eq!(a.context["rds:req-tag/failover:execution"], vec!["e1".to_string()]);
        assert_eq!(a.context["aws:TagKeys"], vec!["failover:execution".to_string()]);
    }

    #[test]
    fn key_ids_become_arns() {
        assert_eq!(kms_key_arn("abc", "us-east-1"), format!("arn:aws:kms:us-east-1:{SIMULATED_ACCOUNT}:key/abc"));
        assert_eq!(kms_key_arn("arn:aws:kms:eu-west-1:9:key/x", "us-east-1"), "arn:aws:kms:eu-west-1:9:key/x");
        assert!(aws_managed_key("s3", "us-east-1").ends_with(":alias/aws/s3"));
    }
}
