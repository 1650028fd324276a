#!/usr/bin/env python3
"""Every check of .ci/check_template.py and .ci/check_build_metadata.py can fail.

    python3 .ci/test_check_template.py      (run by .ci/static-checks)

Transforms template.yaml once (as .ci/sam_transform.py does), asserts that the real template
passes, then breaks a copy in one way per test (a "*" action, a missing placeholder
substitution, a dangling Ref, a bad cron, ...) and asserts that the checker refuses it with
the expected message.
"""

import copy
import json
import sys
import tempfile
import unittest
from unittest import mock
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import check_build_metadata  # noqa: E402
import check_samconfig  # noqa: E402
import check_template  # noqa: E402
import iam_stacks  # noqa: E402
import sam_transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

TRANSFORMED = sam_transform.transform(
    sam_transform.localise(yaml_parse((REPO / "template.yaml").read_text())), {}, sam_transform.NoManagedPolicies()
)
ALLOWLIST = check_template.load_allowlist(HERE / "iam-star-allowlist.yaml")


def problems(template, allowlist=ALLOWLIST, root=REPO):
    return check_template.Checker(template, root, allowlist).run()


def policy(t, role, name):
    for p in t["Resources"][role]["Properties"]["Policies"]:
        if p["PolicyName"] == name:
            return p["PolicyDocument"]["Statement"]
    raise KeyError(name)


def step(t, document, name):
    for s in t["Resources"][document]["Properties"]["Content"]["mainSteps"]:
        if s["name"] == name:
            return s
    raise KeyError(name)


class TemplateChecks(unittest.TestCase):
    def setUp(self):
        self.t = copy.deepcopy(TRANSFORMED)

    def refused(self, expected, template=None, **kw):
        found = problems(template or self.t, **kw)
        self.assertTrue(any(expected in p for p in found), f"expected a problem with {expected!r}, got {found}")

    def test_the_real_template_passes(self):
        self.assertEqual(problems(self.t), [])

    # IAM
    def test_star_action(self):
        policy(self.t, "NotifyRole", "notify").append({"Effect": "Allow", "Action": "*", "Resource": "*"})
        self.refused("no wildcard in an action")

    def test_service_wildcard_action(self):
        policy(self.t, "DiffReportRole", "diff-report")[1]["Action"] = ["s3:*"]
        self.refused("`s3:*`: no wildcard in an action")

    def test_star_resource_not_allow_listed(self):
        policy(self.t, "NotifyRole", "notify")[0]["Resource"] = "*"
        self.refused('`sns:Publish` on Resource "*" is not on the allow-list')

    def test_star_resource_allow_listed_for_another_role(self):
        policy(self.t, "NotifyRole", "notify").append({"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"})
        self.refused("is allow-listed, but not for NotifyRole")

    def test_unused_allow_list_entry(self):
        extra = ALLOWLIST + [{"action": "sts:GetCallerIdentity", "roles": ["NotifyRole"], "reason": "x"}]
        self.refused("no statement of that role uses it", allowlist=extra)

    def test_not_action(self):
        policy(self.t, "NotifyRole", "notify").append({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
        self.refused("NotAction is refused")

    def test_managed_policy(self):
        self.t["Resources"]["NotifyRole"]["Properties"]["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]
        self.refused("uses managed policies")

    def test_wildcard_account(self):
        policy(self.t, "NotifyRole", "notify")[0]["Resource"] = "arn:aws:sns:us-east-1:*:failover"
        self.refused("wildcard account")

    def test_open_resource_policy(self):
        stmts = self.t["Resources"]["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        stmts.append({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "x"})
        self.refused('Principal "*" on an Allow without a Condition')

    # Function URL
    def test_function_url_without_invoke_permission(self):
        del self.t["Resources"]["ApprovalFunctionURLInvokeAllowPublicAccess"]
        self.refused("no lambda:InvokeFunction permission")

    def test_function_url_without_url_permission(self):
        del self.t["Resources"]["ApprovalFunctionUrlPublicPermissions"]
        self.refused("no lambda:InvokeFunctionUrl permission")

    # state machines
    def test_missing_placeholder_substitution(self):
        del self.t["Resources"]["FailoverStateMachine"]["Properties"]["DefinitionSubstitutions"]["VerifyHealthFunctionArn"]
        self.refused("${VerifyHealthFunctionArn} of")

    def test_substitution_without_placeholder(self):
        self.t["Resources"]["RecoveryStateMachine"]["Properties"]["DefinitionSubstitutions"]["Unused"] = "x"
        self.refused("DefinitionSubstitution `Unused` is no placeholder")

    def test_placeholder_of_the_definition_file(self):
        with tempfile.TemporaryDirectory() as d:
            src = json.loads((REPO / "statemachine/readiness.asl.json").read_text())
            src["States"]["Preflight"]["Parameters"]["Payload"]["extra"] = "${NotSubstituted}"
            (Path(d) / "statemachine").mkdir()
            (Path(d) / "statemachine/readiness.asl.json").write_text(json.dumps(src))
            for f in ("failover.asl.json", "recovery.asl.json"):
                (Path(d) / "statemachine" / f).write_text((REPO / "statemachine" / f).read_text())
            self.refused("${NotSubstituted} of", root=Path(d))

    def test_task_function_that_is_not_a_function(self):
        subs = self.t["Resources"]["FailoverStateMachine"]["Properties"]["DefinitionSubstitutions"]
        subs["NotifyFunctionArn"] = {"Fn::GetAtt": ["TopicKey", "Arn"]}
        self.refused("which is not a Lambda function of the template")

    def test_started_machine_that_is_not_a_machine(self):
        subs = self.t["Resources"]["FailoverStateMachine"]["Properties"]["DefinitionSubstitutions"]
        subs["RecoveryStateMachineArn"] = {"Ref": "Topic"}
        self.refused("which is not a state machine of the template")

    def test_machine_role_invokes_a_function_it_never_calls(self):
        st = policy(self.t, "ReadinessMachineRole", "readiness-machine")[0]
        st["Resource"].append({"Fn::GetAtt": ["DiffReportFunction", "Arn"]})
        self.refused("may invoke DiffReportFunction, which its definition never calls")

    def test_machine_role_misses_a_function(self):
        st = policy(self.t, "RecoveryMachineRole", "recovery-machine")[0]
        st["Resource"] = [r for r in st["Resource"] if "DiffReportFunction" not in json.dumps(r)]
        self.refused("calls DiffReportFunction, which its role RecoveryMachineRole may not invoke")

    def test_execution_data_logged(self):
        self.t["Resources"]["FailoverStateMachine"]["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] = True
        self.refused("IncludeExecutionData false")

    # schedules
    def test_cron_with_five_fields(self):
        self.t["Resources"]["DrillSchedule"]["Properties"]["ScheduleExpression"] = "cron(0 14 * * ?)"
        self.refused("6 are needed")

    def test_cron_with_both_days(self):
        self.t["Resources"]["DrillSchedule"]["Properties"]["ScheduleExpression"] = "cron(0 14 * * MON *)"
        self.refused("exactly one of day-of-month and day-of-week")

    def test_cron_hour_out_of_range(self):
        self.t["Resources"]["DrillSchedule"]["Properties"]["ScheduleExpression"] = "cron(0 24 ? * MON *)"
        self.refused("hours `24`")

    def test_bad_parameter_default(self):
        self.t["Parameters"]["DrillScheduleExpression"]["Default"] = "cron(0 14 ? * TUE#9 *)"
        self.refused("day-of-week `TUE#9`")

    def test_rate_unit(self):
        self.t["Resources"]["ReadinessSchedule"]["Properties"]["ScheduleExpression"] = "rate(30 minute)"
        self.refused("singular unit for 1 and the plural otherwise")

    def test_schedule_without_dead_letters(self):
        del self.t["Resources"]["ReadinessSchedule"]["Properties"]["Target"]["DeadLetterConfig"]
        self.refused("no DeadLetterConfig")

    def test_schedule_expressions_that_parse(self):
        for e in ["rate(1 minute)", "rate(30 minutes)", "cron(0 14 ? * TUE#1 *)", "cron(0/15 * * * ? *)",
                  "cron(0 10 ? * MON-FRI *)", "cron(0 12 L * ? *)", "cron(15 10 ? * 6L 2026-2030)", "at(2026-01-01T00:00:00)"]:
            self.assertIsNone(check_template.schedule_error(e), e)

    # references
    def test_dangling_ref_in_outputs(self):
        self.t["Outputs"]["TopicArn"]["Value"] = {"Ref": "Topik"}
        self.refused("`Topik` resolves to no parameter")

    def test_dangling_getatt_attribute(self):
        self.t["Outputs"]["ReportBucketName"]["Value"] = {"Fn::GetAtt": ["ReportBucket", "Arm"]}
        self.refused("AWS::S3::Bucket has no attribute Arm")

    def test_dangling_sub_variable_in_document_content(self):
        s = step(self.t, "FailoverDocument", "StartExecution")
        s["inputs"]["input"] = {"Fn::Sub": '{"target_region": "${AWS::Regoin}"}'}
        self.refused("`AWS::Regoin` resolves to no")

    def test_conditional_resource_outside_its_condition(self):
        self.t["Outputs"]["Drill"] = {"Value": {"Ref": "RoundTripDocument"}}
        self.refused("exists only under condition IsDrillOwner")

    def test_unknown_condition(self):
        self.t["Resources"]["EmailSubscription"]["Condition"] = "HasMail"
        self.refused("Condition `HasMail` does not exist")

    def test_cli_output_missing(self):
        del self.t["Outputs"]["ApprovalUrl"]
        self.refused("the CLI reads ApprovalUrl")

    # Automation documents
    def test_document_variable_of_no_step(self):
        step(self.t, "ReadinessDocument", "WaitForEnd")["inputs"]["executionArn"] = "{{ StartExecution.Arn }}"
        self.refused("`{{ StartExecution.Arn }}` is no declared output")

    def test_document_unknown_parameter(self):
        step(self.t, "FailbackDocument", "StartExecution")["inputs"]["name"] = "ssm-{{ ExecutionName }}"
        self.refused("`{{ ExecutionName }}` is no parameter")

    def test_wait_without_timeout(self):
        del step(self.t, "FailoverDocument", "WaitForEnd")["timeoutSeconds"]
        self.refused("a wait without an explicit timeoutSeconds")

    def test_update_method(self):
        self.t["Resources"]["ReadinessDocument"]["Properties"]["UpdateMethod"] = "Replace"
        self.refused("UpdateMethod must be NewVersion")

    def test_step_target(self):
        step(self.t, "FailoverDocument", "AssertSucceeded")["onFailure"] = "step:ReadFailures"
        self.refused("onFailure names step `ReadFailures`")

    # topic key
    def test_topic_under_the_aws_managed_key(self):
        self.t["Resources"]["Topic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
        self.refused("an AWS managed key")

    def test_topic_key_without_cloudwatch(self):
        stmts = self.t["Resources"]["TopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        self.t["Resources"]["TopicKey"]["Properties"]["KeyPolicy"]["Statement"] = [s for s in stmts if s.get("Sid") != "CloudWatchAlarmsPublish"]
        self.refused("does not let cloudwatch.amazonaws.com")

    # functions
    def test_function_without_tracing(self):
        self.t["Resources"]["NotifyFunction"]["Properties"]["TracingConfig"] = {"Mode": "PassThrough"}
        self.refused("X-Ray tracing is not Active")

    def test_log_group_without_retention(self):
        del self.t["Resources"]["NotifyLogGroup"]["Properties"]["RetentionInDays"]
        self.refused("no RetentionInDays")

    def test_dashboard_not_json(self):
        body = self.t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        body[0] = body[0].replace('"widgets": [', '"widgets": [,', 1)
        self.refused("DashboardBody is not JSON")

    def test_iam_dump_names_every_function(self):
        dump = check_template.Checker(self.t, REPO, ALLOWLIST).dump_iam()
        self.assertIn("sns:Publish", dump["functions"]["notify"]["actions"])
        self.assertIn("states:SendTaskSuccess", dump["functions"]["approval"]["actions"])
        self.assertEqual(set(dump["state_machines"]), {"FailoverStateMachine", "RecoveryStateMachine", "ReadinessStateMachine"})


class BuildMetadataChecks(unittest.TestCase):
    def setUp(self):
        self.template = check_build_metadata.load_template(REPO / "template.yaml")
        self.packages = {n: [f"failover-{n}"] for n in
                         ["approval", "aurora-failover", "diff-report", "notify", "preflight", "propose-failover",
                          "routing-control", "snapshot-restore", "verify-health"]}
        self.root = tempfile.mkdtemp()

    def check(self, **kw):
        return check_build_metadata.check(self.template, self.packages, self.root, **kw)[0]

    def refused(self, expected, **kw):
        found = self.check(**kw)
        self.assertTrue(any(expected in p for p in found), f"expected {expected!r}, got {found}")

    def test_the_workspace_matches(self):
        self.assertEqual(self.check(), [])

    def test_package_without_function(self):
        self.packages["failback"] = ["failover-failback"]
        self.refused("functions/failback: a package with no function")

    def test_function_without_package(self):
        del self.packages["notify"]
        self.refused("CodeUri functions/notify is no package")

    def test_wrong_binary(self):
        self.template["Resources"]["NotifyFunction"]["Metadata"]["BuildProperties"]["Binary"] = "notify"
        self.refused("Binary is 'notify', not failover-notify")

    def test_binary_the_package_does_not_build(self):
        self.packages["notify"] = ["failover-notifier"]
        self.refused("has no binary 'failover-notify'")

    def pending(self):
        """propose-failover as if its package were still being written."""
        del self.packages["propose-failover"]
        return mock.patch.dict(check_build_metadata.PENDING, {"propose-failover": "being written"})

    def test_nothing_is_pending(self):
        self.assertEqual(check_build_metadata.PENDING, {})

    def test_pending_package_is_noted_not_refused(self):
        with self.pending():
            self.assertEqual(self.check(), [])

    def test_pending_package_that_exists_now(self):
        with self.pending():
            self.packages["propose-failover"] = ["failover-propose-failover"]
            self.refused("remove 'propose-failover' from PENDING")

    def test_pending_package_with_a_manifest(self):
        with self.pending():
            d = Path(self.root) / "functions" / "propose-failover"
            d.mkdir(parents=True)
            (d / "Cargo.toml").write_text("[package]\n")
            self.refused("CodeUri functions/propose-failover is no package")

    def test_pending_refused_when_all_are_required(self):
        with self.pending():
            self.refused("is pending", require_all=True)

    def test_build_method(self):
        self.template["Resources"]["PreflightFunction"]["Metadata"]["BuildMethod"] = "makefile"
        self.refused("not rust-cargolambda")

    def test_every_package_of_the_repository_has_its_start_test(self):
        self.assertEqual(check_build_metadata.start_tests(self.packages, REPO), [])

    def start_test_problems(self, text):
        d = Path(self.root) / "functions" / "notify" / "tests"
        if text is not None:
            d.mkdir(parents=True)
            (d / "starts_alone.rs").write_text(text)
        return check_build_metadata.start_tests({"notify": ["failover-notify"]}, self.root)

    def test_package_without_a_start_test(self):
        found = self.start_test_problems(None)
        self.assertTrue(any("functions/notify/tests/starts_alone.rs is missing" in p for p in found), found)

    def test_start_test_of_another_binary(self):
        real = (REPO / "functions" / "notify" / "tests" / "starts_alone.rs").read_text()
        found = self.start_test_problems(real.replace("failover-notify", "failover-preflight"))
        self.assertTrue(any("does not run starts_alone::assert_starts_alone" in p for p in found), found)


class IamStacks(unittest.TestCase):
    """.ci/iam_stacks.py: the policies of each stack, resolved for the least-privilege test."""

    def setUp(self):
        import tomllib
        self.t = copy.deepcopy(TRANSFORMED)
        self.config = tomllib.loads((REPO / "samconfig.toml").read_text())

    def build(self, values=None):
        return iam_stacks.build(self.t, self.config, values or {})

    def test_both_stacks_resolve(self):
        out = self.build()
        self.assertEqual(out["errors"], [])
        self.assertEqual(set(out["stacks"]), {"us-east-1", "us-west-2"})
        usw2 = out["stacks"]["us-west-2"]
        notify = usw2["roles"]["functions/notify"]["statements"]
        publish = next(s for s in notify if s["sid"] == "Publish")
        self.assertEqual(publish["resources"], ["arn:aws:sns:us-west-2:111122223333:failover-retail-store"])
        kms = next(s for s in notify if s["sid"] == "EncryptForTheTopic")
        self.assertEqual(kms["condition"], {"StringEquals": {"kms:ViaService": "sns.us-west-2.amazonaws.com"}})
        rc = next(s for s in usw2["roles"]["functions/routing-control"]["statements"] if s["sid"] == "ReadAndSetRoutingControls")
        self.assertEqual(len(rc["resources"]), 2, "the list parameter expands into one resource per control")
        self.assertIn("other_roles/RoundTripRole", out["stacks"]["us-east-1"]["roles"], "the drill owner's stack")
        self.assertNotIn("other_roles/RoundTripRole", usw2["roles"], "IsDrillOwner is false in us-west-2")

    def test_stack_values_name_what_cloudformation_generates(self):
        arn = "arn:aws:lambda:us-west-2:111122223333:function:failover-preflight"
        out = self.build({"us-west-2": {"PreflightFunction.Arn": arn}})
        invoke = next(s for s in out["stacks"]["us-west-2"]["roles"]["state_machines/FailoverStateMachine"]["statements"]
                      if s["sid"] == "InvokeItsFunctions")
        self.assertIn(arn, invoke["resources"])
        self.assertIn(arn + ":*", invoke["resources"])

    def test_the_schedules_and_documents_calls(self):
        calls = self.build()["stacks"]["us-east-1"]["static_calls"]
        got = {(c["principal"], c["action"]) for c in calls}
        for expected in [
            ("other_roles/SchedulerRole", "ssm:StartAutomationExecution"),
            ("other_roles/SchedulerRole", "iam:PassRole"),
            ("other_roles/SchedulerRole", "sqs:SendMessage"),
            ("other_roles/AutomationRole", "states:StartExecution"),
            ("other_roles/RoundTripRole", "ssm:GetParameter"),
            ("other_roles/RoundTripRole", "ssm:StartAutomationExecution"),
        ]:
            self.assertIn(expected, got)
        describe = next(c for c in calls if c["source"] == "FailoverDocument:WaitForEnd")
        self.assertTrue(describe["resource"].startswith("arn:aws:states:us-east-1:111122223333:execution:failover-retail-store:ssm-"), describe)

    def test_a_script_step_without_its_calls_is_an_error(self):
        step(self.t, "RoundTripDocument", "WaitOut")["name"] = "WatchOut"
        self.assertTrue(any("SCRIPT_CALLS does not list" in e for e in self.build()["errors"]), self.build()["errors"])

    def test_an_unknown_schedule_target_is_an_error(self):
        target = self.t["Resources"]["ReadinessSchedule"]["Properties"]["Target"]
        target["Arn"] = {"Fn::Sub": "arn:${AWS::Partition}:scheduler:::aws-sdk:sqs:sendMessage"}
        self.assertTrue(any("is not known here" in e for e in self.build()["errors"]))


class SamconfigChecks(unittest.TestCase):
    def setUp(self):
        import tomllib
        self.config = tomllib.loads((REPO / "samconfig.toml").read_text())
        self.template = check_build_metadata.load_template(REPO / "template.yaml")

    def overrides(self, env):
        return self.config[env]["deploy"]["parameters"]["parameter_overrides"]

    def refused(self, expected):
        found = check_samconfig.check(self.config, self.template)
        self.assertTrue(any(expected in p for p in found), f"expected {expected!r}, got {found}")

    def test_the_samconfig_passes(self):
        self.assertEqual(check_samconfig.check(self.config, self.template), [])

    def test_unknown_override(self):
        self.overrides("use1").append("PlanNmae=x")
        self.refused("override PlanNmae is no parameter")

    def test_required_parameter_missing(self):
        self.config["usw2"]["deploy"]["parameters"]["parameter_overrides"] = [o for o in self.overrides("usw2") if not o.startswith("MemberClusterArns=")]
        self.refused("MemberClusterArns has no default and no override")

    def test_not_each_others_peer(self):
        self.config["usw2"]["deploy"]["parameters"]["parameter_overrides"] = [o.replace("PeerRegion=us-east-1", "PeerRegion=eu-west-1") for o in self.overrides("usw2")]
        self.refused("not each other's peer")

    def test_allowed_values(self):
        self.overrides("use1").append("Architecture=riscv64")
        self.refused("Architecture=riscv64 is not one of")

    def test_resolve_s3(self):
        self.config["use1"]["deploy"]["parameters"]["resolve_s3"] = False
        self.refused("resolve_s3 is not true")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print(f"check tests: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
