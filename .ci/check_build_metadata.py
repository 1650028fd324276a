#!/usr/bin/env python3
"""Does template.yaml's build metadata match the Cargo workspace?

    python3 .ci/check_build_metadata.py [--template template.yaml] [--metadata FILE] [--require-all]

Every package under functions/<name>/ must have exactly one AWS::Serverless::Function with
CodeUri functions/<name>, Metadata BuildMethod rust-cargolambda and BuildProperties Binary
failover-<name>, which must be the package's binary target; runtime provided.al2023. Every
such function of the template must have its package, except the ones on PENDING below
while their package directory has no Cargo.toml. The workspace comes from
`cargo metadata --no-deps --format-version 1` (no build), from --metadata FILE (its saved
output), or, without cargo, from functions/*/Cargo.toml.

Every package must also have its start test, tests/starts_alone.rs, which runs the binary
Cargo built (CARGO_BIN_EXE_failover-<name>) alone in an empty directory until it polls a fake
Lambda Runtime API (functions/starts_alone.rs): what a function needs at run time travels
in its bootstrap.

--require-all refuses pending packages too (scripts/sam-build: SAM cannot build a function
whose package is missing).
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

# Functions declared in template.yaml whose packages are being written right now (none at
# the moment). An entry here lets the check pass while functions/<name>/Cargo.toml does not
# exist yet, and nothing else: once the package exists, the check fails until the entry is
# removed, so the list cannot hide a package that goes missing later for another reason.
PENDING: dict[str, str] = {}

RUNTIME = "provided.al2023"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags, kept as {"Fn::X": ...}."""


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path):
    return yaml.load(Path(path).read_text(), Loader=CfnLoader)


def workspace_functions(root, metadata_file=None):
    """{dir name: [bin names]} of the packages under functions/."""
    root = Path(root).resolve()
    metadata = None
    if metadata_file:
        metadata = json.loads(Path(metadata_file).read_text())
    elif shutil.which("cargo"):
        out = subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
            cwd=root, capture_output=True, text=True,
        )
        if out.returncode == 0:
            metadata = json.loads(out.stdout)
        else:
            print(f"cargo metadata failed, reading functions/*/Cargo.toml instead: {out.stderr.strip()}", file=sys.stderr)
    found = {}
    if metadata is not None:
        for pkg in metadata.get("packages", []):
            manifest = Path(pkg["manifest_path"]).resolve()
            if manifest.parent.parent == root / "functions":
                bins = [t["name"] for t in pkg.get("targets", []) if "bin" in t.get("kind", [])]
                found[manifest.parent.name] = bins
        return found
    import tomllib

    for manifest in sorted((root / "functions").glob("*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        bins = [b["name"] for b in data.get("bin", []) if "name" in b]
        if not bins and (manifest.parent / "src/main.rs").exists():
            bins = [data["package"]["name"]]
        found[manifest.parent.name] = bins
    return found


def check(template, packages, root, require_all=False):
    """(problems, notes) for a parsed template and {dir: [bins]}."""
    root = Path(root)
    problems, notes = [], []
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    by_dir = {}
    for lid, r in (template.get("Resources") or {}).items():
        if r.get("Type") != "AWS::Serverless::Function":
            continue
        props = r.get("Properties") or {}
        meta = r.get("Metadata") or {}
        code = props.get("CodeUri", globals_fn.get("CodeUri"))
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{lid}: Metadata BuildMethod is {meta.get('BuildMethod')!r}, not rust-cargolambda")
        runtime = props.get("Runtime", globals_fn.get("Runtime"))
        if runtime != RUNTIME:
            problems.append(f"{lid}: runtime {runtime!r}, not {RUNTIME}")
        if not (isinstance(code, str) and code.rstrip("/").startswith("functions/") and code.rstrip("/").count("/") == 1):
            problems.append(f"{lid}: CodeUri {code!r} is not functions/<name>")
            continue
        name = code.rstrip("/").split("/", 1)[1]
        if name in by_dir:
            problems.append(f"{lid}: CodeUri {code} is also the CodeUri of {by_dir[name][0]}")
            continue
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        by_dir[name] = (lid, binary)
        if binary != f"failover-{name}":
            problems.append(f"{lid}: BuildProperties Binary is {binary!r}, not failover-{name}")
    for name, (lid, binary) in sorted(by_dir.items()):
        if name in packages:
            if name in PENDING:
                problems.append(f"{lid}: functions/{name} exists now: remove {name!r} from PENDING in .ci/check_build_metadata.py")
            if binary not in packages[name]:
                problems.append(f"{lid}: package functions/{name} has no binary {binary!r} (its binaries: {', '.join(packages[name]) or 'none'})")
        elif name in PENDING and not (root / "functions" / name / "Cargo.toml").exists():
            if require_all:
                problems.append(f"{lid}: package functions/{name} is pending ({PENDING[name]}): it cannot be built yet")
            else:
                notes.append(f"{lid}: declared in the template, package functions/{name} pending ({PENDING[name]})")
        else:
            problems.append(f"{lid}: CodeUri functions/{name} is no package of the workspace")
    for name in sorted(set(packages) - set(by_dir)):
        problems.append(f"functions/{name}: a package with no function in template.yaml")
    for name in sorted(set(PENDING) - set(by_dir)):
        problems.append(f"PENDING names {name!r}, which template.yaml does not declare: remove it")
    return problems, notes


def start_tests(packages, root):
    """Problems of the packages' start tests: each functions/<name>/tests/starts_alone.rs
    must exist and start the package's binary failover-<name> with the shared harness."""
    problems = []
    for name in sorted(packages):
        test = Path(root) / "functions" / name / "tests" / "starts_alone.rs"
        rel = f"functions/{name}/tests/starts_alone.rs"
        if not test.is_file():
            problems.append(
                f"{rel} is missing: copy another package's and name CARGO_BIN_EXE_failover-{name} "
                "(every built function must start with nothing beside its bootstrap)"
            )
            continue
        text = test.read_text()
        if f'env!("CARGO_BIN_EXE_failover-{name}")' not in text or "assert_starts_alone(" not in text:
            problems.append(f"{rel} does not run starts_alone::assert_starts_alone(env!(\"CARGO_BIN_EXE_failover-{name}\"))")
    return problems


def main(argv=None):
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default=str(repo / "template.yaml"))
    ap.add_argument("--metadata", help="saved output of cargo metadata --no-deps --format-version 1")
    ap.add_argument("--root", default=str(repo))
    ap.add_argument("--require-all", action="store_true")
    args = ap.parse_args(argv)
    packages = workspace_functions(args.root, args.metadata)
    problems, notes = check(load_template(args.template), packages, args.root, args.require_all)
    problems += start_tests(packages, args.root)
    for n in notes:
        print(f"note: {n}")
    if problems:
        print(f"check_build_metadata: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"check_build_metadata: {len(packages)} function package(s) match template.yaml ({len(notes)} pending), each with its start test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
