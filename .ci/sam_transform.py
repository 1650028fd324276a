#!/usr/bin/env python3
"""The SAM transform of template.yaml, run locally and offline.

    python3 .ci/sam_transform.py [TEMPLATE] [OUT]   (defaults: template.yaml, target/static/template.json)

Runs aws-sam-translator's `transform` the way `sam validate` does, without credentials or
network: local paths (CodeUri, ContentUri, DefinitionUri) become fake S3 URIs whose key is
the local path (`s3://local-artifacts/<path>`, so that checks can find the file again), and
the managed-policy loader is a stub that knows no policy: the template uses none (every
role is written out), and a managed policy would fail here rather than be looked up in IAM.
The output is the CloudFormation template CloudFormation would deploy, as JSON.
"""

import json
import os
import sys
from pathlib import Path

# The translator builds a boto3 session for the pseudo parameters: give it a Region and keep
# it off the instance metadata service.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

FAKE_BUCKET = "local-artifacts"
LOCAL_URIS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}


class NoManagedPolicies:
    """A ManagedPolicyLoader that needs no IAM call: it knows no managed policy."""

    def load(self):
        return {}


def fake_s3(value):
    if isinstance(value, str) and not value.startswith("s3://"):
        return f"s3://{FAKE_BUCKET}/{value.rstrip('/')}"
    return value


def localise(template):
    for resource in template.get("Resources", {}).values():
        key = LOCAL_URIS.get(resource.get("Type"))
        props = resource.get("Properties", {})
        if key and key in props:
            props[key] = fake_s3(props[key])
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = fake_s3(function_globals["CodeUri"])
    return template


def main(argv):
    source = Path(argv[1] if len(argv) > 1 else "template.yaml")
    out = Path(argv[2] if len(argv) > 2 else "target/static/template.json")
    template = localise(yaml_parse(source.read_text()))
    transformed = transform(template, {}, NoManagedPolicies())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(transformed, indent=1, sort_keys=True, default=str) + "\n")
    print(f"sam transform: {source} -> {out} ({len(transformed.get('Resources', {}))} resources)")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Exception as e:  # the translator's errors say which resource and property
        print(f"sam transform failed: {e}", file=sys.stderr)
        for cause in getattr(e, "causes", []) or []:
            print(f"  {cause}", file=sys.stderr)
        sys.exit(1)
