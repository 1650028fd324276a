#!/usr/bin/env python3
"""Static checks of the transformed template (the output of .ci/sam_transform.py).

    python3 .ci/check_template.py [TRANSFORMED] [--root DIR] [--allowlist FILE]
                                  [--dump-iam FILE]

TRANSFORMED defaults to target/static/template.json; DIR (default: the repository) is where
the definitions named by DefinitionS3Location keys live. Exit 0 when every check passes,
1 with every problem listed otherwise. The checks:

* IAM (identity policies of every role): no wildcard in an action (not "*", not "s3:*"), no
  NotAction or NotResource, no managed policy; Resource "*" only for an action on
  .ci/iam-star-allowlist.yaml, for a role it names (and every entry there is used); no ARN
  with a wildcard account. Resource policies (key, bucket, topic, queue): no Action "*",
  no Principal "*" on an Allow without a Condition, "kms:*" only for the account root.
* Function URLs with AuthType NONE: both permissions SAM adds, lambda:InvokeFunctionUrl
  (FunctionUrlAuthType NONE) and lambda:InvokeFunction (InvokedViaFunctionUrl).
* State machines: every ${Placeholder} of the definition has a DefinitionSubstitution and
  every substitution a placeholder; every Task's function is a Lambda function of the
  template and every started machine a state machine of the template; the machine's role
  invokes exactly those functions and starts exactly those machines; .sync integrations
  have their managed-rule permissions; Standard, logging ALL without execution data,
  tracing.
* Schedules (EventBridge Scheduler and rules): the expression parses (rate(N unit),
  cron(...) with 6 fields, at(...)); each schedule has a retry policy and a dead-letter
  queue.
* References: every Ref, Fn::GetAtt (with the attribute, for the types it knows) and
  Fn::Sub variable, in resources, conditions and outputs, SSM document content included,
  resolves; conditions named by Fn::If and Condition exist; a conditional resource is only
  referenced under its condition. In Automation documents, every {{ variable }} is a
  parameter, an automation/global variable or a declared output of a step, every step
  target exists, and every wait has an explicit timeoutSeconds (schema 0.3,
  UpdateMethod NewVersion).
* The SNS topics' KMS key is a customer managed key of the template (never alias/aws/sns)
  whose policy lets cloudwatch.amazonaws.com (alarms) use it.
* Functions: X-Ray active, JSON logs into a log group of the template with a retention; the
  dashboard body is JSON; the outputs the CLI reads exist.

--dump-iam FILE writes every function's (and state machine's) allowed actions and resources
as JSON, with the parameters and references left symbolic (the least-privilege test reads
the resolved form instead, per stack: .ci/iam_stacks.py): {"functions": {"<package>": {"logical_id",
"role", "actions": [...], "statements": [{"sid", "actions", "resources", "condition"}]}},
"state_machines": {...}}. Resources are rendered as strings, with ${Param}, ${Resource},
${Resource.Attr} and ${AWS::Region} standing for what CloudFormation fills in; a list
parameter is "${Param[]}"; both branches of an Fn::If are kept (the condition is named).
"""

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # the venv of .ci/static-checks has it
    yaml = None

PSEUDO = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}

# Attributes Fn::GetAtt may ask of the types this template uses.
ATTRIBUTES = {
    "AWS::Lambda::Function": {"Arn", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus"},
    "AWS::Lambda::Url": {"FunctionArn", "FunctionUrl"},
    "AWS::IAM::Role": {"Arn", "RoleId"},
    "AWS::Logs::LogGroup": {"Arn"},
    "AWS::KMS::Key": {"Arn", "KeyId"},
    "AWS::SQS::Queue": {"Arn", "QueueName", "QueueUrl"},
    "AWS::S3::Bucket": {"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
    "AWS::StepFunctions::StateMachine": {"Arn", "Name", "StateMachineRevisionId"},
    "AWS::DynamoDB::Table": {"Arn", "StreamArn"},
    "AWS::Events::Rule": {"Arn"},
    "AWS::CloudWatch::Alarm": {"Arn"},
    "AWS::SNS::Topic": {"TopicArn", "TopicName"},
    "AWS::SecretsManager::Secret": {"Id"},
    "AWS::Scheduler::Schedule": {"Arn"},
    "AWS::Lambda::LayerVersion": {"LayerVersionArn"},
}

SUB_VAR = re.compile(r"\$\{([^}]*)\}")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
SSM_VAR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")

CLI_OUTPUTS = [
    "FailoverStateMachineArn",
    "RecoveryStateMachineArn",
    "ApprovalUrl",
    "TopicArn",
    "ReportBucketName",
    "ApprovalsTableName",
    "PlanParameterName",
]


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def intrinsic(v):
    """(name, argument) when v is an intrinsic function, else None."""
    if isinstance(v, dict) and len(v) == 1:
        (k, a), = v.items()
        if k == "Ref" or k.startswith("Fn::") or k == "Condition":
            return k, a
    return None


class Checker:
    def __init__(self, template, root, allowlist):
        self.t = template
        self.root = Path(root)
        self.allowlist = allowlist
        self.problems = []
        self.resources = template.get("Resources", {})
        self.params = template.get("Parameters", {})
        self.conditions = template.get("Conditions", {})

    def fail(self, where, msg):
        self.problems.append(f"{where}: {msg}")

    def of_type(self, *types):
        return {k: r for k, r in self.resources.items() if r.get("Type") in types}

    def props(self, logical_id):
        return self.resources.get(logical_id, {}).get("Properties", {})

    # ------------------------------------------------------------ references
    def target_of(self, v):
        """The logical ID a Ref / GetAtt / Sub-of-one-name points to, else None."""
        i = intrinsic(v)
        if not i:
            return None
        k, a = i
        if k == "Ref" and isinstance(a, str):
            return a
        if k == "Fn::GetAtt":
            parts = a if isinstance(a, list) else str(a).split(".", 1)
            return parts[0]
        if k == "Fn::Sub" and isinstance(a, str):
            m = re.fullmatch(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z.]+)?\}", a)
            if m:
                return m.group(1)
        return None

    def check_name(self, where, name, attr=None, local=(), under=()):
        if name in local:
            return
        if attr is None and (name in self.params or name in PSEUDO):
            return
        if name not in self.resources:
            self.fail(where, f"`{name}{'.' + attr if attr else ''}` resolves to no parameter, resource or pseudo parameter")
            return
        rtype = self.resources[name].get("Type")
        if attr is not None and rtype in ATTRIBUTES and attr not in ATTRIBUTES[rtype]:
            self.fail(where, f"`{name}.{attr}`: {rtype} has no attribute {attr}")
        cond = self.resources[name].get("Condition")
        if cond and cond not in under:
            self.fail(where, f"`{name}` exists only under condition {cond}, referenced outside it")

    def walk_refs(self, where, v, under=()):
        i = intrinsic(v)
        if i:
            k, a = i
            if k == "Ref":
                if not isinstance(a, str):
                    self.fail(where, f"Ref of a non-string {a!r}")
                else:
                    self.check_name(where, a, under=under)
                return
            if k == "Fn::GetAtt":
                parts = a if isinstance(a, list) else str(a).split(".", 1)
                if len(parts) != 2 or not all(isinstance(p, str) for p in parts):
                    self.fail(where, f"malformed Fn::GetAtt {a!r}")
                    return
                if parts[0] in PSEUDO or parts[0] in self.params:
                    self.fail(where, f"Fn::GetAtt of `{parts[0]}`, which is not a resource")
                    return
                self.check_name(where, parts[0], parts[1], under=under)
                return
            if k == "Fn::Sub":
                if isinstance(a, str):
                    text, local = a, {}
                elif isinstance(a, list) and len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], dict):
                    text, local = a
                    for lk, lv in local.items():
                        self.walk_refs(f"{where}/Fn::Sub.{lk}", lv, under)
                else:
                    self.fail(where, f"malformed Fn::Sub {a!r}")
                    return
                for var in SUB_VAR.findall(text):
                    if var.startswith("!"):
                        continue
                    name, _, attr = var.partition(".")
                    if name in local:
                        continue
                    self.check_name(where, name, attr or None, under=under)
                return
            if k == "Fn::If":
                if not (isinstance(a, list) and len(a) == 3 and isinstance(a[0], str)):
                    self.fail(where, f"malformed Fn::If {a!r}")
                    return
                if a[0] not in self.conditions:
                    self.fail(where, f"Fn::If names condition `{a[0]}`, which does not exist")
                self.walk_refs(where, a[1], under + (a[0],))
                self.walk_refs(where, a[2], under)
                return
            if k == "Condition":
                if a not in self.conditions:
                    self.fail(where, f"condition `{a}` does not exist")
                return
            for x in as_list(a):
                self.walk_refs(where, x, under)
            return
        if isinstance(v, dict):
            for k, x in v.items():
                self.walk_refs(f"{where}/{k}", x, under)
        elif isinstance(v, list):
            for n, x in enumerate(v):
                self.walk_refs(f"{where}[{n}]", x, under)

    def check_references(self):
        for name, c in self.conditions.items():
            self.walk_refs(f"Conditions.{name}", c)
        for lid, r in self.resources.items():
            cond = r.get("Condition")
            under = (cond,) if cond else ()
            if cond and cond not in self.conditions:
                self.fail(lid, f"Condition `{cond}` does not exist")
            for dep in as_list(r.get("DependsOn")):
                if dep not in self.resources:
                    self.fail(lid, f"DependsOn `{dep}`, which is not a resource")
            self.walk_refs(lid, r.get("Properties", {}), under)
        for name, o in self.t.get("Outputs", {}).items():
            cond = o.get("Condition")
            if cond and cond not in self.conditions:
                self.fail(f"Outputs.{name}", f"Condition `{cond}` does not exist")
            self.walk_refs(f"Outputs.{name}", o, (cond,) if cond else ())
        missing = [o for o in CLI_OUTPUTS if o not in self.t.get("Outputs", {})]
        if missing:
            self.fail("Outputs", f"the CLI reads {', '.join(missing)}, which the template does not output")

    # ------------------------------------------------------------ IAM
    def branches(self, v, conds=()):
        """Every concrete form of v under Fn::If, as (value, conditions) pairs."""
        i = intrinsic(v)
        if i and i[0] == "Fn::If" and isinstance(i[1], list) and len(i[1]) == 3:
            c, a, b = i[1]
            yield from self.branches(a, conds + (c,))
            yield from self.branches(b, conds + ("!" + c,))
            return
        if isinstance(v, dict) and v == {"Ref": "AWS::NoValue"}:
            return
        yield v, conds

    def statements(self, doc):
        for st, conds in self.branches(doc.get("Statement", []) if isinstance(doc, dict) else []):
            for s in as_list(st):
                for one, more in self.branches(s, conds):
                    yield one, more

    def flat_resources(self, v):
        """The resources of a statement, each a literal string or an intrinsic."""
        out = []
        for x, _ in self.branches(v):
            if isinstance(x, list):
                for y in x:
                    out.extend(self.flat_resources(y))
            else:
                i = intrinsic(x)
                if i and i[0] == "Fn::Split":
                    out.append(x)
                else:
                    out.append(x)
        return out

    def roles(self):
        """role logical ID -> [(where, statement)] of its identity policies."""
        out = {}
        for lid, r in self.of_type("AWS::IAM::Role").items():
            p = r.get("Properties", {})
            if p.get("ManagedPolicyArns"):
                self.fail(lid, "uses managed policies, whose content this check cannot see: write the statements out")
            for n, pol in enumerate(as_list(p.get("Policies"))):
                name = pol.get("PolicyName", n) if isinstance(pol, dict) else n
                for st, conds in self.statements(pol.get("PolicyDocument", {}) if isinstance(pol, dict) else {}):
                    out.setdefault(lid, []).append((f"{lid}.Policies[{name}]", st, conds))
        for lid, r in self.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").items():
            p = r.get("Properties", {})
            for role in as_list(p.get("Roles")):
                target = self.target_of(role) or str(role)
                for st, conds in self.statements(p.get("PolicyDocument", {})):
                    out.setdefault(target, []).append((lid, st, conds))
        return out

    def check_identity_policies(self):
        allowed = {}
        for e in self.allowlist:
            allowed.setdefault(e["action"].lower(), set()).update(e.get("roles", []))
        used = set()
        for role, sts in self.roles().items():
            for where, st, _ in sts:
                if not isinstance(st, dict):
                    self.fail(where, f"statement is not an object: {st!r}")
                    continue
                sid = st.get("Sid", "(no Sid)")
                w = f"{where}.{sid}"
                for bad in ("NotAction", "NotResource", "NotPrincipal"):
                    if bad in st:
                        self.fail(w, f"{bad} is refused: say what is allowed")
                if st.get("Effect") != "Allow":
                    continue
                actions = as_list(st.get("Action"))
                if not actions:
                    self.fail(w, "no Action")
                for a in actions:
                    if not isinstance(a, str):
                        self.fail(w, f"action {a!r} is not a string")
                    elif "*" in a:
                        self.fail(w, f"action `{a}`: no wildcard in an action")
                resources = self.flat_resources(st.get("Resource"))
                if not resources:
                    self.fail(w, "no Resource")
                for res in resources:
                    if res == "*":
                        for a in actions:
                            if not isinstance(a, str):
                                continue
                            roles_ok = allowed.get(a.lower())
                            if roles_ok is None:
                                self.fail(w, f"`{a}` on Resource \"*\" is not on the allow-list (.ci/iam-star-allowlist.yaml)")
                            elif role not in roles_ok:
                                self.fail(w, f"`{a}` on Resource \"*\" is allow-listed, but not for {role}")
                            else:
                                used.add((a.lower(), role))
                    else:
                        text = res if isinstance(res, str) else (intrinsic(res) or (None, None))[1]
                        if isinstance(text, list) and text and isinstance(text[0], str):
                            text = text[0]
                        if isinstance(text, str) and text.startswith("arn:"):
                            fields = text.split(":")
                            if len(fields) > 4 and fields[4] == "*":
                                self.fail(w, f"`{text}`: wildcard account in a resource ARN")
        for e in self.allowlist:
            for role in e.get("roles", []):
                if (e["action"].lower(), role) not in used:
                    self.fail(".ci/iam-star-allowlist.yaml", f"`{e['action']}` for {role} is allowed on \"*\" but no statement of that role uses it: remove it")
            if not e.get("reason"):
                self.fail(".ci/iam-star-allowlist.yaml", f"`{e['action']}` has no reason")

    def is_account_root(self, principal):
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        i = intrinsic(aws)
        return bool(i and i[0] == "Fn::Sub" and isinstance(i[1], str) and i[1].endswith(":iam::${AWS::AccountId}:root"))

    def check_resource_policies(self):
        docs = []
        for lid, r in self.of_type("AWS::KMS::Key").items():
            docs.append((lid, r.get("Properties", {}).get("KeyPolicy", {})))
        for lid, r in self.of_type("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy").items():
            docs.append((lid, r.get("Properties", {}).get("PolicyDocument", {})))
        for lid, doc in docs:
            for st, _ in self.statements(doc):
                if not isinstance(st, dict) or st.get("Effect") != "Allow":
                    continue
                w = f"{lid}.{st.get('Sid', '(no Sid)')}"
                actions = as_list(st.get("Action"))
                if "*" in actions:
                    self.fail(w, "Action \"*\" in a resource policy")
                if any(isinstance(a, str) and a.endswith(":*") for a in actions) and not self.is_account_root(st.get("Principal")):
                    self.fail(w, "a service-wide action (`x:*`) for a principal other than the account root")
                principal = st.get("Principal")
                star = principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))
                if star and not st.get("Condition"):
                    self.fail(w, "Principal \"*\" on an Allow without a Condition")

    # ------------------------------------------------------------ function URLs
    def check_function_urls(self):
        perms = self.of_type("AWS::Lambda::Permission")
        for lid, r in self.of_type("AWS::Lambda::Url").items():
            p = r.get("Properties", {})
            if p.get("AuthType") != "NONE":
                continue
            fn = self.target_of(p.get("TargetFunctionArn"))
            url_perm = invoke_perm = False
            for plid, pr in perms.items():
                pp = pr.get("Properties", {})
                if self.target_of(pp.get("FunctionName")) != fn or pp.get("Principal") != "*":
                    continue
                if pp.get("Action") == "lambda:InvokeFunctionUrl" and pp.get("FunctionUrlAuthType") == "NONE":
                    url_perm = True
                if pp.get("Action") == "lambda:InvokeFunction" and pp.get("InvokedViaFunctionUrl") is True:
                    invoke_perm = True
            if not url_perm:
                self.fail(lid, f"AuthType NONE but no lambda:InvokeFunctionUrl permission (FunctionUrlAuthType NONE) for {fn}")
            if not invoke_perm:
                self.fail(lid, f"AuthType NONE but no lambda:InvokeFunction permission (InvokedViaFunctionUrl) for {fn}: write AuthType: NONE literally so that SAM adds it")

    # ------------------------------------------------------------ state machines
    def definition(self, lid, p):
        loc = p.get("DefinitionS3Location")
        if isinstance(loc, dict) and isinstance(loc.get("Key"), str):
            path = self.root / loc["Key"]
            try:
                text = path.read_text()
            except OSError as e:
                self.fail(lid, f"definition {path}: {e}")
                return None, None
            return text, path
        if isinstance(p.get("DefinitionString"), str):
            return p["DefinitionString"], "DefinitionString"
        if isinstance(p.get("Definition"), dict):
            return json.dumps(p["Definition"]), "Definition"
        self.fail(lid, "no definition this check can read")
        return None, None

    def tasks(self, states, path=""):
        for name, s in (states or {}).items():
            if not isinstance(s, dict):
                continue
            here = f"{path}{name}"
            if s.get("Type") == "Task":
                yield here, s
            for b in s.get("Branches", []) or []:
                yield from self.tasks(b.get("States"), here + "/")
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(s.get(key), dict):
                    yield from self.tasks(s[key].get("States"), here + "/")

    def substitution_target(self, lid, subs, value, where, kind):
        m = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
        if not m:
            self.fail(where, f"{kind} `{value}` is not a ${{Placeholder}}: it must be a {kind.lower()} of the template")
            return None
        target = self.target_of(subs.get(m.group(1)))
        return target

    def check_state_machines(self):
        role_sts = self.roles()
        for lid, r in self.of_type("AWS::StepFunctions::StateMachine").items():
            p = r.get("Properties", {})
            if p.get("StateMachineType", "STANDARD") != "STANDARD":
                self.fail(lid, "not a Standard workflow")
            lc = p.get("LoggingConfiguration") or {}
            if lc.get("Level") != "ALL" or lc.get("IncludeExecutionData") is not False:
                self.fail(lid, "logging must be Level ALL with IncludeExecutionData false (the approval task token is execution data)")
            self.check_log_group(lid, [self.target_of(d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")) for d in lc.get("Destinations", [])])
            if (p.get("TracingConfiguration") or {}).get("Enabled") is not True:
                self.fail(lid, "X-Ray tracing is not enabled")
            text, source = self.definition(lid, p)
            if text is None:
                continue
            subs = p.get("DefinitionSubstitutions") or {}
            placeholders = set(PLACEHOLDER.findall(text))
            for missing in sorted(placeholders - set(subs)):
                self.fail(lid, f"${{{missing}}} of {source} has no DefinitionSubstitution")
            for unused in sorted(set(subs) - placeholders):
                self.fail(lid, f"DefinitionSubstitution `{unused}` is no placeholder of {source}")
            try:
                definition = json.loads(text)
            except json.JSONDecodeError as e:
                self.fail(lid, f"{source} is not JSON: {e}")
                continue
            functions, machines, sync = set(), set(), False
            for where, task in self.tasks(definition.get("States")):
                w = f"{lid}:{where}"
                resource = task.get("Resource", "")
                args = task.get("Parameters") or task.get("Arguments") or {}
                if resource.startswith("arn:aws:states:::lambda:invoke"):
                    fn = self.substitution_target(lid, subs, args.get("FunctionName"), w, "Function")
                    if fn is not None:
                        if self.resources.get(fn, {}).get("Type") != "AWS::Lambda::Function":
                            self.fail(w, f"FunctionName resolves to `{fn}`, which is not a Lambda function of the template")
                        else:
                            functions.add(fn)
                elif resource.startswith("arn:aws:states:::states:startExecution"):
                    sm = self.substitution_target(lid, subs, args.get("StateMachineArn"), w, "StateMachine")
                    if sm is not None:
                        if self.resources.get(sm, {}).get("Type") != "AWS::StepFunctions::StateMachine":
                            self.fail(w, f"StateMachineArn resolves to `{sm}`, which is not a state machine of the template")
                        else:
                            machines.add(sm)
                    sync = sync or ".sync" in resource
                elif PLACEHOLDER.fullmatch(resource):
                    fn = self.target_of(subs.get(PLACEHOLDER.fullmatch(resource).group(1)))
                    if self.resources.get(fn, {}).get("Type") != "AWS::Lambda::Function":
                        self.fail(w, f"Resource resolves to `{fn}`, which is not a Lambda function of the template")
                    else:
                        functions.add(fn)
                else:
                    self.fail(w, f"Resource `{resource}`: an integration this check does not know")
            self.check_machine_role(lid, p, role_sts, functions, machines, sync)

    def check_machine_role(self, lid, p, role_sts, functions, machines, sync):
        role = self.target_of(p.get("RoleArn"))
        if role not in role_sts:
            self.fail(lid, f"its role `{role}` is not a role of the template with policies")
            return
        invoked, started, actions = set(), set(), set()
        for _, st, _ in role_sts[role]:
            if not isinstance(st, dict) or st.get("Effect") != "Allow":
                continue
            acts = {a.lower() for a in as_list(st.get("Action")) if isinstance(a, str)}
            actions |= acts
            for res in self.flat_resources(st.get("Resource")):
                target = self.target_of(res)
                if "lambda:invokefunction" in acts:
                    if res == "*":
                        self.fail(lid, "its role may invoke every function")
                    elif target:
                        invoked.add(target)
                if "states:startexecution" in acts:
                    if res == "*":
                        self.fail(lid, "its role may start every state machine")
                    elif target:
                        started.add(target)
        for fn in sorted(functions - invoked):
            self.fail(lid, f"calls {fn}, which its role {role} may not invoke")
        for fn in sorted(invoked - functions):
            self.fail(lid, f"its role {role} may invoke {fn}, which its definition never calls")
        for sm in sorted(machines - started):
            self.fail(lid, f"starts {sm}, which its role {role} may not start")
        for sm in sorted(started - machines):
            self.fail(lid, f"its role {role} may start {sm}, which its definition never starts")
        if sync:
            need = {"events:puttargets", "events:putrule", "events:describerule"}
            if not need <= actions:
                self.fail(lid, "a .sync startExecution needs events:PutTargets, PutRule and DescribeRule on StepFunctionsGetEventsForStepFunctionsExecutionRule")

    # ------------------------------------------------------------ schedules
    def literal_or_default(self, v):
        if isinstance(v, str):
            return v
        t = self.target_of(v)
        if t in self.params and intrinsic(v)[0] == "Ref":
            return self.params[t].get("Default")
        return None

    def check_schedules(self):
        for lid, r in self.of_type("AWS::Scheduler::Schedule", "AWS::Events::Rule").items():
            p = r.get("Properties", {})
            if "ScheduleExpression" not in p:
                continue
            expr = self.literal_or_default(p["ScheduleExpression"])
            if expr is None:
                self.fail(lid, "ScheduleExpression is neither a literal nor a parameter with a default")
            else:
                err = schedule_error(expr, scheduler=r["Type"] == "AWS::Scheduler::Schedule")
                if err:
                    self.fail(lid, f"ScheduleExpression `{expr}`: {err}")
        for lid, r in self.of_type("AWS::Scheduler::Schedule").items():
            target = r.get("Properties", {}).get("Target", {})
            if not target.get("RetryPolicy"):
                self.fail(lid, "no explicit RetryPolicy")
            if not (target.get("DeadLetterConfig") or {}).get("Arn"):
                self.fail(lid, "no DeadLetterConfig")

    # ------------------------------------------------------------ SSM documents
    def check_documents(self):
        for lid, r in self.of_type("AWS::SSM::Document").items():
            p = r.get("Properties", {})
            if p.get("DocumentType") != "Automation":
                continue
            if p.get("UpdateMethod") != "NewVersion":
                self.fail(lid, "UpdateMethod must be NewVersion")
            c = p.get("Content") or {}
            if str(c.get("schemaVersion")) != "0.3":
                self.fail(lid, "schemaVersion must be 0.3")
            params = set((c.get("parameters") or {}).keys())
            steps = c.get("mainSteps") or []
            names = [s.get("name") for s in steps]
            outputs = {}
            for s in steps:
                declared = {o.get("Name") for o in s.get("outputs", []) or []}
                implicit = {
                    "aws:executeAutomation": {"ExecutionId", "Status", "Output"},
                    "aws:executeScript": {"Payload"},
                    "aws:invokeLambdaFunction": {"StatusCode", "FunctionError", "LogResult", "Payload"},
                    "aws:executeStateMachine": {"ExecutionArn"},
                }.get(s.get("action"), set())
                outputs[s.get("name")] = declared | implicit
            for s in steps:
                w = f"{lid}:{s.get('name')}"
                if s.get("action") in ("aws:waitForAwsResourceProperty", "aws:executeAutomation", "aws:sleep") and "timeoutSeconds" not in s:
                    self.fail(w, "a wait without an explicit timeoutSeconds")
                for key in ("onFailure", "onCancel"):
                    v = s.get(key)
                    if isinstance(v, str) and v.startswith("step:") and v[5:] not in names:
                        self.fail(w, f"{key} names step `{v[5:]}`, which does not exist")
                if isinstance(s.get("nextStep"), str) and s["nextStep"] not in names:
                    self.fail(w, f"nextStep `{s['nextStep']}` does not exist")
                if s.get("action") == "aws:branch":
                    inputs = s.get("inputs", {})
                    for ch in inputs.get("Choices", []):
                        if ch.get("NextStep") not in names:
                            self.fail(w, f"branch NextStep `{ch.get('NextStep')}` does not exist")
                    if inputs.get("Default") and inputs["Default"] not in names:
                        self.fail(w, f"branch Default `{inputs['Default']}` does not exist")
                for var in ssm_vars(s):
                    self.check_ssm_var(w, var, params, outputs)
            for o in c.get("outputs", []) or []:
                step, _, out = str(o).partition(".")
                if step not in outputs or out not in outputs[step]:
                    self.fail(f"{lid}:outputs", f"`{o}` is no declared output of a step")
            if "assumeRole" in c:
                for var in SSM_VAR.findall(str(c["assumeRole"])):
                    self.check_ssm_var(f"{lid}:assumeRole", var, params, outputs)

    def check_ssm_var(self, where, var, params, outputs):
        if var.startswith(("automation:", "global:")):
            if var not in ("automation:EXECUTION_ID", "automation:DOCUMENT_EXECUTION_ID", "global:ACCOUNT_ID", "global:REGION", "global:AWS_PARTITION", "global:DATE", "global:DATE_TIME"):
                self.fail(where, f"`{{{{ {var} }}}}` is no automation or global variable")
            return
        step, dot, out = var.partition(".")
        if not dot:
            if var not in params:
                self.fail(where, f"`{{{{ {var} }}}}` is no parameter of the document")
            return
        if step not in outputs or out not in outputs[step]:
            self.fail(where, f"`{{{{ {var} }}}}` is no declared output of a step")

    # ------------------------------------------------------------ topics, functions, dashboard
    def key_of(self, v):
        t = self.target_of(v)
        if t and self.resources.get(t, {}).get("Type") == "AWS::KMS::Alias":
            t = self.target_of(self.props(t).get("TargetKeyId"))
        return t

    def check_topics(self):
        for lid, r in self.of_type("AWS::SNS::Topic").items():
            k = r.get("Properties", {}).get("KmsMasterKeyId")
            if k is None:
                self.fail(lid, "no KmsMasterKeyId: the topic is not encrypted")
                continue
            if isinstance(k, str):
                if "alias/aws/" in k:
                    self.fail(lid, f"encrypted with `{k}`, an AWS managed key: CloudWatch alarms cannot publish to it")
                else:
                    self.fail(lid, f"KmsMasterKeyId `{k}` is not a key of this template")
                continue
            key = self.key_of(k)
            if self.resources.get(key, {}).get("Type") != "AWS::KMS::Key":
                self.fail(lid, "KmsMasterKeyId is not a customer managed key of this template")
                continue
            ok = False
            for st, _ in self.statements(self.props(key).get("KeyPolicy", {})):
                if not isinstance(st, dict) or st.get("Effect") != "Allow":
                    continue
                services = as_list((st.get("Principal") or {}).get("Service") if isinstance(st.get("Principal"), dict) else None)
                acts = {a.lower() for a in as_list(st.get("Action")) if isinstance(a, str)}
                if "cloudwatch.amazonaws.com" in services and "kms:decrypt" in acts and ({"kms:generatedatakey*", "kms:generatedatakey"} & acts):
                    ok = True
            if not ok:
                self.fail(lid, f"the policy of its key {key} does not let cloudwatch.amazonaws.com (alarms) use it")

    def check_log_group(self, where, targets):
        targets = [t for t in targets if t]
        if not targets:
            self.fail(where, "logs to no log group of the template")
        for t in targets:
            lg = self.resources.get(t, {})
            if lg.get("Type") != "AWS::Logs::LogGroup":
                self.fail(where, f"logs to `{t}`, which is not a log group of the template")
            elif "RetentionInDays" not in lg.get("Properties", {}):
                self.fail(t, "no RetentionInDays")

    def check_functions(self):
        roles = {}
        for lid, r in self.of_type("AWS::Lambda::Function").items():
            p = r.get("Properties", {})
            if (p.get("TracingConfig") or {}).get("Mode") != "Active":
                self.fail(lid, "X-Ray tracing is not Active")
            lc = p.get("LoggingConfig") or {}
            if lc.get("LogFormat") != "JSON":
                self.fail(lid, "LoggingConfig.LogFormat is not JSON")
            self.check_log_group(lid, [self.target_of(lc.get("LogGroup"))])
            role = self.target_of(p.get("Role"))
            if role in roles:
                self.fail(lid, f"shares its role {role} with {roles[role]}: one role per function")
            roles[role] = lid
        for lid, r in self.of_type("AWS::Logs::LogGroup").items():
            if "RetentionInDays" not in r.get("Properties", {}):
                self.fail(lid, "no RetentionInDays")

    def check_dashboards(self):
        for lid, r in self.of_type("AWS::CloudWatch::Dashboard").items():
            body = r.get("Properties", {}).get("DashboardBody")
            i = intrinsic(body)
            text = i[1] if i and i[0] == "Fn::Sub" else body
            if isinstance(text, list):
                text = text[0]
            if not isinstance(text, str):
                self.fail(lid, "DashboardBody is neither a string nor a Fn::Sub")
                continue
            try:
                json.loads(SUB_VAR.sub("0", text))
            except json.JSONDecodeError as e:
                self.fail(lid, f"DashboardBody is not JSON: {e}")

    def run(self):
        self.check_references()
        self.check_identity_policies()
        self.check_resource_policies()
        self.check_function_urls()
        self.check_state_machines()
        self.check_schedules()
        self.check_documents()
        self.check_topics()
        self.check_functions()
        self.check_dashboards()
        return self.problems

    # ------------------------------------------------------------ IAM dump
    def render(self, v):
        i = intrinsic(v)
        if not i:
            return v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, sort_keys=True)
        k, a = i
        if k == "Ref":
            if a in self.params and self.params[a].get("Type", "").startswith(("CommaDelimitedList", "List<")):
                return f"${{{a}[]}}"
            return f"${{{a}}}"
        if k == "Fn::GetAtt":
            parts = a if isinstance(a, list) else str(a).split(".", 1)
            return f"${{{parts[0]}.{parts[1]}}}"
        if k == "Fn::Sub":
            if isinstance(a, str):
                return a
            text, local = a
            return SUB_VAR.sub(lambda m: str(self.render(local[m.group(1)])) if m.group(1) in local else m.group(0), text)
        if k == "Fn::Join":
            return a[0].join(str(self.render(x)) for x in as_list(a[1]))
        if k == "Fn::If":
            return {"if": a[0], "then": self.render(a[1]), "else": self.render(a[2])}
        return json.dumps(v, sort_keys=True)

    def render_resources(self, v):
        out = []
        for x, conds in self.branches(v):
            i = intrinsic(x)
            if isinstance(x, list):
                for y in x:
                    out.extend(self.render_resources(y))
            elif i and i[0] == "Fn::Split":
                joined = self.render(i[1][1])
                for part in str(joined).split(i[1][0]):
                    if part:
                        out.append(part if not conds else {"when": list(conds), "resource": part})
            else:
                r = self.render(x)
                out.append(r if not conds else {"when": list(conds), "resource": r})
        return out

    def render_deep(self, v):
        if intrinsic(v):
            return self.render(v)
        if isinstance(v, dict):
            return {k: self.render_deep(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.render_deep(x) for x in v]
        return v

    def dump_iam(self):
        roles = self.roles()

        def entry(lid, role):
            sts = []
            for _, st, conds in roles.get(role, []):
                if not isinstance(st, dict) or st.get("Effect") != "Allow":
                    continue
                sts.append({
                    "sid": st.get("Sid"),
                    "when": list(conds),
                    "actions": sorted(as_list(st.get("Action"))),
                    "resources": self.render_resources(st.get("Resource")),
                    "condition": self.render_deep(st.get("Condition")),
                })
            return {
                "logical_id": lid,
                "role": role,
                "actions": sorted({a for s in sts for a in s["actions"]}),
                "statements": sts,
            }

        functions = {}
        for lid, r in self.of_type("AWS::Lambda::Function").items():
            code = r.get("Properties", {}).get("Code", {})
            key = code.get("S3Key", lid) if isinstance(code, dict) else lid
            name = key.split("/", 1)[1] if isinstance(key, str) and key.startswith("functions/") else lid
            functions[name] = entry(lid, self.target_of(r["Properties"].get("Role")))
        machines = {}
        for lid, r in self.of_type("AWS::StepFunctions::StateMachine").items():
            machines[lid] = entry(lid, self.target_of(r["Properties"].get("RoleArn")))
        others = {}
        used = {e["role"] for e in list(functions.values()) + list(machines.values())}
        for role in sorted(set(roles) - used):
            others[role] = entry(role, role)
        return {"functions": functions, "state_machines": machines, "other_roles": others}


def ssm_vars(v):
    if isinstance(v, str):
        yield from SSM_VAR.findall(v)
    elif isinstance(v, dict):
        for x in v.values():
            yield from ssm_vars(x)
    elif isinstance(v, list):
        for x in v:
            yield from ssm_vars(x)


# ---------------------------------------------------------------- schedule expressions
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()


def _field_ok(field, lo, hi, names=(), extra=""):
    for part in field.split(","):
        if part == "*":
            continue
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*" and slash:
            continue
        ends = base.split("-")
        if len(ends) > 2:
            return False
        for e in ends:
            if e.isdigit():
                if not lo <= int(e) <= hi:
                    return False
            elif e.upper() in names:
                continue
            elif extra and re.fullmatch(extra, e.upper()):
                continue
            else:
                return False
    return True


def cron_error(body):
    fields = body.split()
    if len(fields) != 6:
        return f"cron has {len(fields)} fields, 6 are needed (minutes hours day-of-month month day-of-week year)"
    minute, hour, dom, month, dow, year = fields
    if not _field_ok(minute, 0, 59):
        return f"minutes `{minute}`"
    if not _field_ok(hour, 0, 23):
        return f"hours `{hour}`"
    if dom != "?" and not _field_ok(dom, 1, 31, extra=r"L|LW|[0-9]{1,2}W"):
        return f"day-of-month `{dom}`"
    if not _field_ok(month, 1, 12, MONTHS):
        return f"month `{month}`"
    if dow != "?" and not _field_ok(dow, 1, 7, DAYS, extra=r"([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(#[1-5]|L)|L"):
        return f"day-of-week `{dow}`"
    if not _field_ok(year, 1970, 2199):
        return f"year `{year}`"
    if (dom == "?") == (dow == "?"):
        return "exactly one of day-of-month and day-of-week must be `?`"
    return None


def schedule_error(expr, scheduler=True):
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expr)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n <= 0:
            return "a rate must be positive"
        if (n == 1) != (not unit.endswith("s")):
            return "use the singular unit for 1 and the plural otherwise"
        return None
    m = re.fullmatch(r"cron\((.*)\)", expr)
    if m:
        return cron_error(m.group(1))
    if scheduler and re.fullmatch(r"at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)", expr):
        return None
    return "neither rate(N unit), cron(6 fields) nor at(yyyy-mm-ddThh:mm:ss)"


def load_allowlist(path):
    text = Path(path).read_text()
    if yaml is not None:
        data = yaml.safe_load(text)
    else:  # pragma: no cover
        raise SystemExit("PyYAML is needed to read the allow-list")
    if not isinstance(data, list) or not all(isinstance(e, dict) and "action" in e for e in data):
        raise SystemExit(f"{path}: a list of {{action, roles, reason}} entries is expected")
    return data


def main(argv=None):
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("template", nargs="?", default=str(repo / "target/static/template.json"))
    ap.add_argument("--root", default=str(repo))
    ap.add_argument("--allowlist", default=str(repo / ".ci/iam-star-allowlist.yaml"))
    ap.add_argument("--dump-iam", metavar="FILE")
    args = ap.parse_args(argv)
    template = json.loads(Path(args.template).read_text())
    checker = Checker(template, args.root, load_allowlist(args.allowlist))
    problems = checker.run()
    if args.dump_iam:
        out = Path(args.dump_iam)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(checker.dump_iam(), indent=1, sort_keys=True) + "\n")
        print(f"check_template: IAM of every function written to {out}")
    if problems:
        print(f"check_template: {len(problems)} problem(s) in {args.template}:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"check_template: {args.template}: IAM, function URLs, definitions, schedules, references, documents, topic keys: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
