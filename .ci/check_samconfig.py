#!/usr/bin/env python3
"""Do samconfig.toml's environments deploy template.yaml as intended?

    python3 .ci/check_samconfig.py [--samconfig samconfig.toml] [--template template.yaml]

One environment per Region of the reference pair (use1 = us-east-1, usw2 = us-west-2), each
with resolve_s3, CAPABILITY_IAM, a stack name, and parameter overrides that name only
parameters of the template, set every parameter without a default, satisfy AllowedValues
and AllowedPattern, and make the two stacks each other's peer with one drill owner.
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path

from check_build_metadata import load_template

ENVIRONMENTS = {"use1": "us-east-1", "usw2": "us-west-2"}


def overrides(value):
    items = value if isinstance(value, list) else re.findall(r'(\w+=(?:"[^"]*"|\S+))', value or "")
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        out[key] = val.strip('"') if sep else None
    return out


def check(config, template):
    problems = []
    params = template.get("Parameters", {})
    peers, owners = {}, set()
    for env, region in ENVIRONMENTS.items():
        d = (config.get(env) or {}).get("deploy", {}).get("parameters")
        if not d:
            problems.append(f"[{env}.deploy.parameters] is missing")
            continue
        w = f"[{env}.deploy.parameters]"
        if d.get("region") != region:
            problems.append(f"{w}: region {d.get('region')!r}, not {region}")
        if d.get("resolve_s3") is not True:
            problems.append(f"{w}: resolve_s3 is not true")
        if "CAPABILITY_IAM" not in str(d.get("capabilities", "")).split():
            problems.append(f"{w}: capabilities lack CAPABILITY_IAM")
        if not d.get("stack_name"):
            problems.append(f"{w}: no stack_name")
        o = overrides(d.get("parameter_overrides"))
        for key in o:
            if key not in params:
                problems.append(f"{w}: override {key} is no parameter of template.yaml")
        for key, p in params.items():
            if "Default" not in p and key not in o:
                problems.append(f"{w}: parameter {key} has no default and no override")
            val = o.get(key, p.get("Default"))
            if val is None:
                continue
            val = str(val)
            allowed = [str(a) for a in p.get("AllowedValues", [])]
            if allowed and val not in allowed:
                problems.append(f"{w}: {key}={val} is not one of {allowed}")
            if "AllowedPattern" in p and not re.fullmatch(p["AllowedPattern"], val):
                problems.append(f"{w}: {key}={val} does not match {p['AllowedPattern']}")
        peers[region] = o.get("PeerRegion")
        owners.add(o.get("DrillOwnerRegion", params.get("DrillOwnerRegion", {}).get("Default")))
    regions = list(ENVIRONMENTS.values())
    if len(peers) == 2 and (peers.get(regions[0]) != regions[1] or peers.get(regions[1]) != regions[0]):
        problems.append(f"the stacks are not each other's peer: {peers}")
    if len(owners) != 1 or not owners <= set(regions):
        problems.append(f"the drill round trip needs one owner Region of the pair in both environments, not {sorted(map(str, owners))}")
    return problems


def main(argv=None):
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samconfig", default=str(repo / "samconfig.toml"))
    ap.add_argument("--template", default=str(repo / "template.yaml"))
    args = ap.parse_args(argv)
    problems = check(tomllib.loads(Path(args.samconfig).read_text()), load_template(args.template))
    if problems:
        print(f"check_samconfig: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"check_samconfig: {', '.join(ENVIRONMENTS)} deploy template.yaml to {', '.join(ENVIRONMENTS.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
