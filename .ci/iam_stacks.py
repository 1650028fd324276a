#!/usr/bin/env python3
"""Every role's policies as deployed in each stack of samconfig.toml, fully resolved.

    python3 .ci/iam_stacks.py [--template template.yaml] [--samconfig samconfig.toml]
                              [--stack-values FILE] [--out FILE]

The input of the Rust least-privilege test (crates/drill/tests/least_privilege.rs, which
runs it through .ci/iam-stacks with the venv of .ci/static-checks). The SAM transform runs
here, offline (.ci/sam_transform.py); then, for each environment of samconfig.toml (use1,
us-east-1; usw2, us-west-2), every intrinsic function of the transformed template is
evaluated with that environment's parameter overrides (the template's defaults for the
others), the pseudo parameters (the account of the reference plan's ARNs), its conditions
(HasDatabaseKmsKeys, IsDrillOwner, ...) and the physical ids CloudFormation would give:
what the template names itself (the topic, the bucket, the documents, the machines, the
tables, the queues, the log groups) from its own properties, and what CloudFormation
generates (function names, key ids, the approval secret's suffix) from --stack-values, a
JSON object {"<Region>": {"<LogicalId>" or "<LogicalId>.<Attribute>": value}} that says
what the simulated stacks call them (failover_drill::principals::stack_values); anything
else generated gets a placeholder that names the resource.

Written as JSON (stdout, or --out FILE):

  {"account": ..., "errors": [...],
   "stacks": {"<Region>": {
      "env": "usw2", "parameters": {...}, "conditions": {...},
      "roles": {"functions/<package>" | "state_machines/<LogicalId>" | "other_roles/<LogicalId>":
                {"logical_id", "role", "statements": [{"sid", "effect", "actions",
                 "resources", "condition"}]}},
      "resource_policies": [{"owner", "type", "resources", "statements": [{"sid", "effect",
                             "principal", "actions", "resources", "condition"}]}],
      "keys": {"<LogicalId>": "<key ARN>"},
      "static_calls": [{"principal", "source", "action", "resource", "context"}]}}}

`static_calls` are the calls the template itself makes with a role, which no drill runs:
each EventBridge Scheduler schedule (its aws-sdk target with its input, the role passed
to the document it starts, its dead-letter queue) and each step of each Automation
document (aws:executeAwsApi and the waits on an API, aws:executeAutomation, and the calls
of each aws:executeScript step as SCRIPT_CALLS lists them: a script step it does not list
is an error). Exit 1 when anything does not resolve.
"""

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ENVIRONMENTS = {"use1": "us-east-1", "usw2": "us-west-2"}
# The reference plan's placeholder account (examples/retail-store.plan.yaml, samconfig.toml).
ACCOUNT = "111122223333"
# What `{{ automation:EXECUTION_ID }}` stands for in the calls below.
EXAMPLE_EXECUTION_ID = "00000000-0000-4000-8000-000000000001"
NOVALUE = object()

# The AWS calls of each aws:executeScript step, by (document logical id, step): (action,
# resource) with {Field} standing for the step's InputPayload field and {Step.Output} for
# an earlier step's output (see `outputs` below). Read from the scripts in template.yaml.
SCRIPT_CALLS = {
    ("RoundTripDocument", "StartOut"): [
        ("ssm:GetParameter", "arn:aws:ssm:{Region}:{Account}:parameter{Parameter}"),
        ("states:StartExecution", "{StateMachineArn}"),
    ],
    ("RoundTripDocument", "WaitOut"): [
        ("states:DescribeExecution", "{ExecutionArn}"),
    ],
    ("RoundTripDocument", "OutFailed"): [],
}

SUB_VAR = re.compile(r"\$\{([^}]*)\}")
SSM_VAR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


class Unresolved(Exception):
    pass


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class Stack:
    """The transformed template as deployed in one Region with one set of parameters."""

    def __init__(self, template, region, params, stack_name, physical):
        self.t = template
        self.resources = template.get("Resources", {})
        self.region = region
        self.stack_name = stack_name
        self.physical = physical
        self.params = {}
        for name, p in template.get("Parameters", {}).items():
            value = params.get(name, p.get("Default"))
            if value is None:
                raise Unresolved(f"parameter {name} has no value and no default")
            if p.get("Type", "").startswith(("CommaDelimitedList", "List<")):
                value = [x.strip() for x in str(value).split(",")] if value != "" else [""]
            self.params[name] = value
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{stack_name}/generated",
        }
        self._conds = {}

    # -------------------------------------------------------------- conditions
    def cond(self, name):
        if name.startswith("!"):
            return not self.cond(name[1:])
        if name not in self._conds:
            c = self.t.get("Conditions", {}).get(name)
            if c is None:
                raise Unresolved(f"condition {name} does not exist")
            self._conds[name] = bool(self.ev(c))
        return self._conds[name]

    def exists(self, logical_id):
        c = self.resources.get(logical_id, {}).get("Condition")
        return c is None or self.cond(c)

    # -------------------------------------------------------------- physical ids
    def prop(self, logical_id, name):
        v = self.resources.get(logical_id, {}).get("Properties", {}).get(name)
        return None if v is None else self.ev(v)

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NOVALUE
        if name in self.params:
            return self.params[name]
        if name in self.physical:
            return self.physical[name]
        r = self.resources.get(name)
        if r is None:
            raise Unresolved(f"Ref {name}: no parameter or resource")
        typ = r.get("Type")
        R, A = self.region, ACCOUNT
        named = {
            "AWS::SNS::Topic": lambda: f"arn:aws:sns:{R}:{A}:{self.prop(name, 'TopicName')}",
            "AWS::S3::Bucket": lambda: self.prop(name, "BucketName"),
            "AWS::StepFunctions::StateMachine": lambda: f"arn:aws:states:{R}:{A}:stateMachine:{self.prop(name, 'StateMachineName')}",
            "AWS::SSM::Document": lambda: self.prop(name, "Name"),
            "AWS::DynamoDB::Table": lambda: self.prop(name, "TableName"),
            "AWS::SQS::Queue": lambda: f"https://sqs.{R}.amazonaws.com/{A}/{self.prop(name, 'QueueName')}",
            "AWS::Logs::LogGroup": lambda: self.prop(name, "LogGroupName"),
            "AWS::SecretsManager::Secret": lambda: f"arn:aws:secretsmanager:{R}:{A}:secret:{self.prop(name, 'Name')}-GnRtEd",
            "AWS::Scheduler::Schedule": lambda: self.prop(name, "Name"),
        }
        if typ in named:
            v = named[typ]()
            if v is not None:
                return v
        # What CloudFormation generates: a name that says so.
        return f"{self.stack_name}-{name}-generated"

    def getatt(self, name, attr):
        key = f"{name}.{attr}"
        if key in self.physical:
            return self.physical[key]
        r = self.resources.get(name)
        if r is None:
            raise Unresolved(f"Fn::GetAtt {key}: no such resource")
        typ = r.get("Type")
        R, A = self.region, ACCOUNT
        ref = lambda: self.ref(name)  # noqa: E731
        table = {
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:aws:s3:::{ref()}",
            ("AWS::StepFunctions::StateMachine", "Arn"): ref,
            ("AWS::StepFunctions::StateMachine", "Name"): lambda: ref().rsplit(":", 1)[-1],
            ("AWS::SNS::Topic", "TopicArn"): ref,
            ("AWS::SNS::Topic", "TopicName"): lambda: ref().rsplit(":", 1)[-1],
            ("AWS::DynamoDB::Table", "Arn"): lambda: f"arn:aws:dynamodb:{R}:{A}:table/{ref()}",
            ("AWS::SQS::Queue", "Arn"): lambda: f"arn:aws:sqs:{R}:{A}:{self.prop(name, 'QueueName')}",
            ("AWS::Logs::LogGroup", "Arn"): lambda: f"arn:aws:logs:{R}:{A}:log-group:{ref()}:*",
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:aws:iam::{A}:role/{ref()}",
            ("AWS::Lambda::Function", "Arn"): lambda: f"arn:aws:lambda:{R}:{A}:function:{ref()}",
            ("AWS::KMS::Key", "Arn"): lambda: f"arn:aws:kms:{R}:{A}:key/{ref()}",
            ("AWS::Events::Rule", "Arn"): lambda: f"arn:aws:events:{R}:{A}:rule/{ref()}",
            ("AWS::Scheduler::Schedule", "Arn"): lambda: f"arn:aws:scheduler:{R}:{A}:schedule/default/{ref()}",
        }
        f = table.get((typ, attr))
        if f is None:
            raise Unresolved(f"Fn::GetAtt {key}: attribute of {typ} not known here")
        return f()

    # -------------------------------------------------------------- intrinsics
    def sub(self, text, local):
        def one(m):
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in local:
                v = local[var]
            elif "." in var and var.split(".", 1)[0] in self.resources:
                v = self.getatt(*var.split(".", 1))
            else:
                v = self.ref(var)
            if isinstance(v, list):
                raise Unresolved(f"Fn::Sub ${{{var}}}: a list")
            return str(v)

        return SUB_VAR.sub(one, text)

    def ev(self, v):
        if isinstance(v, dict) and len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return self.ref(a)
            if k == "Fn::GetAtt":
                parts = a if isinstance(a, list) else str(a).split(".", 1)
                return self.getatt(parts[0], parts[1])
            if k == "Fn::Sub":
                if isinstance(a, str):
                    return self.sub(a, {})
                return self.sub(a[0], {n: self.ev(x) for n, x in a[1].items()})
            if k == "Fn::Join":
                items = [x for x in as_list(self.ev(a[1])) if x is not NOVALUE]
                return a[0].join(str(x) for x in items)
            if k == "Fn::Split":
                return str(self.ev(a[1])).split(a[0])
            if k == "Fn::Select":
                return as_list(self.ev(a[1]))[int(self.ev(a[0]))]
            if k == "Fn::If":
                return self.ev(a[1] if self.cond(a[0]) else a[2])
            if k == "Fn::Equals":
                return self.ev(a[0]) == self.ev(a[1])
            if k == "Fn::Not":
                return not self.ev(a[0])
            if k == "Fn::And":
                return all(self.ev(x) for x in a)
            if k == "Fn::Or":
                return any(self.ev(x) for x in a)
            if k == "Condition":
                return self.cond(a)
            if k.startswith("Fn::"):
                raise Unresolved(f"{k} is not evaluated here")
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                y = self.ev(x)
                if y is not NOVALUE:
                    out[k] = y
            return out
        if isinstance(v, list):
            out = []
            for x in v:
                y = self.ev(x)
                if y is not NOVALUE:
                    out.append(y)
            return out
        return v


# ------------------------------------------------------------------ policies
def statements(doc):
    out = []
    for st in as_list((doc or {}).get("Statement")):
        if isinstance(st, dict):
            resources = [r for r in as_list(st.get("Resource")) if r != ""]
            flat = []
            for r in resources:
                flat.extend(as_list(r))
            out.append({
                "sid": st.get("Sid"),
                "effect": st.get("Effect"),
                "principal": st.get("Principal"),
                "actions": as_list(st.get("Action")),
                "resources": [r for r in flat if r != ""],
                "condition": st.get("Condition") or {},
            })
    return out


def role_statements(stack, role):
    out = []
    props = stack.ev(stack.resources[role].get("Properties", {}))
    for pol in as_list(props.get("Policies")):
        out.extend(statements(pol.get("PolicyDocument")))
    for lid, r in stack.resources.items():
        if r.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and stack.exists(lid):
            p = r.get("Properties", {})
            if any(isinstance(x, dict) and x.get("Ref") == role for x in as_list(p.get("Roles"))):
                out.extend(statements(stack.ev(p.get("PolicyDocument"))))
    for st in out:
        st.pop("principal", None)
    return out


def target(v):
    if isinstance(v, dict):
        if "Ref" in v:
            return v["Ref"]
        if "Fn::GetAtt" in v:
            a = v["Fn::GetAtt"]
            return (a if isinstance(a, list) else a.split("."))[0]
    return None


def roles(stack):
    out, used = {}, set()
    for lid, r in stack.resources.items():
        if not stack.exists(lid):
            continue
        p = r.get("Properties", {})
        if r.get("Type") == "AWS::Lambda::Function":
            key = (p.get("Code") or {}).get("S3Key", lid)
            name = key.split("/", 1)[1] if key.startswith("functions/") else lid
            role = target(p.get("Role"))
            out[f"functions/{name}"] = {"logical_id": lid, "role": role, "statements": role_statements(stack, role)}
            used.add(role)
        elif r.get("Type") == "AWS::StepFunctions::StateMachine":
            role = target(p.get("RoleArn"))
            out[f"state_machines/{lid}"] = {"logical_id": lid, "role": role, "statements": role_statements(stack, role)}
            used.add(role)
    for lid, r in stack.resources.items():
        if r.get("Type") == "AWS::IAM::Role" and lid not in used and stack.exists(lid):
            out[f"other_roles/{lid}"] = {"logical_id": lid, "role": lid, "statements": role_statements(stack, lid)}
    return out


def resource_policies(stack):
    out = []
    for lid, r in stack.resources.items():
        if not stack.exists(lid):
            continue
        typ = r.get("Type")
        p = r.get("Properties", {})
        if typ == "AWS::KMS::Key":
            out.append({"owner": lid, "type": typ, "resources": [stack.getatt(lid, "Arn")],
                        "statements": statements(stack.ev(p.get("KeyPolicy")))})
        elif typ in ("AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            owners = {"AWS::SNS::TopicPolicy": "Topics", "AWS::S3::BucketPolicy": "Bucket", "AWS::SQS::QueuePolicy": "Queues"}[typ]
            out.append({"owner": lid, "type": typ, "resources": as_list(stack.ev(p.get(owners))),
                        "statements": statements(stack.ev(p.get("PolicyDocument")))})
    return out


# ------------------------------------------------------------------ static calls
def ssm_text(value, variables):
    """`value` with its {{ variables }} replaced (an unknown one is an error)."""
    def one(m):
        var = m.group(1)
        if var not in variables:
            raise Unresolved(f"{{{{ {var} }}}} has no value here")
        return str(variables[var])
    return SSM_VAR.sub(one, str(value))


def exec_arn(machine_arn, name):
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def documents(stack):
    return {lid: r for lid, r in stack.resources.items()
            if r.get("Type") == "AWS::SSM::Document" and stack.exists(lid)
            and (r.get("Properties") or {}).get("DocumentType") == "Automation"}


def document_role(stack, doc_lid):
    """The role logical id and ARN an Automation document runs as by default."""
    content = stack.resources[doc_lid]["Properties"]["Content"]
    default = (content.get("parameters", {}).get("AutomationAssumeRole") or {}).get("default")
    return target(default), stack.ev(default)


def document_by_name(stack, name):
    for lid in documents(stack):
        if stack.prop(lid, "Name") == name:
            return lid
    raise Unresolved(f"no Automation document named {name}")


def start_automation_calls(stack, principal, source, doc_name):
    doc = document_by_name(stack, doc_name)
    _, role_arn = document_role(stack, doc)
    R, A = stack.region, ACCOUNT
    return [
        call(principal, source, "ssm:StartAutomationExecution", f"arn:aws:ssm:{R}:{A}:automation-definition/{doc_name}:$DEFAULT"),
        call(principal, source, "iam:PassRole", role_arn, {"iam:PassedToService": ["ssm.amazonaws.com"]}),
    ]


def call(principal, source, action, resource, context=None):
    return {"principal": principal, "source": source, "action": action, "resource": resource, "context": context or {}}


def principal_of_role(stack, role_lid, role_map):
    for key, entry in role_map.items():
        if entry["role"] == role_lid:
            return key
    raise Unresolved(f"role {role_lid} is no role of the stack")


API = {"ssm": "ssm", "stepfunctions": "states"}


def api_call(stack, principal, source, inputs, variables, outputs_of):
    service = API.get(str(inputs.get("Service")).lower())
    api = inputs.get("Api")
    if service is None:
        raise Unresolved(f"{source}: service {inputs.get('Service')} is not known here")
    R, A = stack.region, ACCOUNT
    if (service, api) == ("ssm", "GetParameter"):
        name = ssm_text(inputs["Name"], variables)
        return [call(principal, source, "ssm:GetParameter", f"arn:aws:ssm:{R}:{A}:parameter{name}")], {}
    if (service, api) == ("states", "StartExecution"):
        machine = ssm_text(inputs["stateMachineArn"], variables)
        name = ssm_text(inputs["name"], variables)
        return [call(principal, source, "states:StartExecution", machine)], {"ExecutionArn": exec_arn(machine, name)}
    if (service, api) == ("states", "DescribeExecution"):
        return [call(principal, source, "states:DescribeExecution", ssm_text(inputs["executionArn"], variables))], {}
    raise Unresolved(f"{source}: {service}:{api} is not known here")


def static_calls(stack, role_map):
    out = []
    R, A = stack.region, ACCOUNT
    # The schedules: the role calls the target's API with the input, and sends what fails to the DLQ.
    for lid, r in stack.resources.items():
        if r.get("Type") != "AWS::Scheduler::Schedule" or not stack.exists(lid):
            continue
        t = stack.ev(r["Properties"]["Target"])
        principal = principal_of_role(stack, target(r["Properties"]["Target"]["RoleArn"]), role_map)
        m = re.fullmatch(r"arn:aws:scheduler:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)", t["Arn"])
        if not m or (m.group(1), m.group(2)) != ("ssm", "startAutomationExecution"):
            raise Unresolved(f"{lid}: target {t['Arn']} is not known here")
        doc_name = json.loads(t["Input"])["DocumentName"]
        out.extend(start_automation_calls(stack, principal, lid, doc_name))
        if (t.get("DeadLetterConfig") or {}).get("Arn"):
            out.append(call(principal, f"{lid} (dead letters)", "sqs:SendMessage", t["DeadLetterConfig"]["Arn"]))
    # The Automation documents, step by step.
    for lid in documents(stack):
        role_lid, _ = document_role(stack, lid)
        principal = principal_of_role(stack, role_lid, role_map)
        content = stack.ev(stack.resources[lid]["Properties"]["Content"])
        variables = {"automation:EXECUTION_ID": EXAMPLE_EXECUTION_ID, "global:ACCOUNT_ID": A, "global:REGION": R}
        for name, p in (content.get("parameters") or {}).items():
            if "default" in p:
                variables[name] = p["default"]
        variables.setdefault("Mode", "planned")
        variables.setdefault("Force", "false")
        for step in content.get("mainSteps", []):
            source = f"{lid}:{step['name']}"
            action = step.get("action")
            inputs = step.get("inputs") or {}
            outputs = {}
            if action in ("aws:executeAwsApi", "aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty"):
                calls, outputs = api_call(stack, principal, source, inputs, variables, None)
                out.extend(calls)
            elif action == "aws:executeAutomation":
                doc_name = ssm_text(inputs["DocumentName"], variables)
                out.extend(start_automation_calls(stack, principal, source, doc_name))
                out.append(call(principal, source, "ssm:GetAutomationExecution",
                                f"arn:aws:ssm:{R}:{A}:automation-execution/{EXAMPLE_EXECUTION_ID}"))
            elif action == "aws:executeScript":
                listed = SCRIPT_CALLS.get((lid, step["name"]))
                if listed is None:
                    raise Unresolved(f"{source}: a script step SCRIPT_CALLS does not list: say which calls it makes")
                payload = {k: ssm_text(v, variables) for k, v in (inputs.get("InputPayload") or {}).items()}
                payload["Account"] = A
                for act, res in listed:
                    out.append(call(principal, source, act, res.format(**payload)))
                if "StateMachineArn" in payload and "Name" in payload:
                    outputs["ExecutionArn"] = exec_arn(payload["StateMachineArn"], payload["Name"])
                if step["name"] == "WaitOut":
                    outputs["Status"] = "SUCCEEDED"
            elif action in ("aws:branch", "aws:sleep"):
                pass
            else:
                raise Unresolved(f"{source}: action {action} is not known here")
            for o in step.get("outputs", []) or []:
                key = o.get("Name")
                variables[f"{step['name']}.{key}"] = outputs.get(key, f"<{step['name']}.{key}>")
            for key, v in outputs.items():
                variables.setdefault(f"{step['name']}.{key}", v)
    return out


# ------------------------------------------------------------------ main
def overrides(value):
    items = value if isinstance(value, list) else re.findall(r'(\w+=(?:"[^"]*"|\S+))', value or "")
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        out[key] = val.strip('"')
    return out


def transform(template_path):
    from sam_transform import NoManagedPolicies, localise  # noqa: E402
    from samtranslator.translator.transform import transform as sam  # noqa: E402
    from samtranslator.yaml_helper import yaml_parse  # noqa: E402
    return json.loads(json.dumps(sam(localise(yaml_parse(Path(template_path).read_text())), {}, NoManagedPolicies()), default=str))


def build(template, samconfig, stack_values):
    out = {"account": ACCOUNT, "stacks": {}, "errors": []}
    for env, region in ENVIRONMENTS.items():
        d = (samconfig.get(env) or {}).get("deploy", {}).get("parameters", {})
        try:
            stack = Stack(template, region, overrides(d.get("parameter_overrides")), d.get("stack_name", "stack"),
                          stack_values.get(region, {}))
            role_map = roles(stack)
            keys = {lid: stack.getatt(lid, "Arn") for lid, r in stack.resources.items()
                    if r.get("Type") == "AWS::KMS::Key" and stack.exists(lid)}
            out["stacks"][region] = {
                "env": env,
                "parameters": stack.params,
                "conditions": {c: stack.cond(c) for c in template.get("Conditions", {})},
                "roles": role_map,
                "resource_policies": resource_policies(stack),
                "keys": keys,
                "static_calls": static_calls(stack, role_map),
            }
        except Unresolved as e:
            out["errors"].append(f"{env} ({region}): {e}")
    return out


def main(argv=None):
    repo = HERE.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default=str(repo / "template.yaml"))
    ap.add_argument("--samconfig", default=str(repo / "samconfig.toml"))
    ap.add_argument("--stack-values", help="JSON: what the stacks call what CloudFormation generates, per Region")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    template = transform(args.template)
    samconfig = tomllib.loads(Path(args.samconfig).read_text())
    values = json.loads(Path(args.stack_values).read_text()) if args.stack_values else {}
    result = build(template, samconfig, values)
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    for e in result["errors"]:
        print(f"iam_stacks: {e}", file=sys.stderr)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
