#!/usr/bin/env bash
# RTO against its lower bound, API calls per service and wall time of the offline drills
# (planned and region-outage) on the embedded default. Targets: rto_s / rto_lower_bound_s
# at most 1.10; a region-outage drill under 10 s of wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin failover
out=$(mktemp -d)
for scenario in planned region-outage; do
  start=$(date +%s.%N)
  ./target/release/failover drill --quiet --scenario "$scenario" --json "$out/$scenario.json" >/dev/null
  end=$(date +%s.%N)
  python3 - "$out/$scenario.json" "$scenario" "$start" "$end" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
wall = float(sys.argv[4]) - float(sys.argv[3])
rto, lb = d["rto_s"], d["rto_lower_bound_s"]
calls = ", ".join(f"{svc} {sum(ops.values())}" for svc, ops in d["api_calls"].items())
print(f"{sys.argv[2]:<14} rto {rto:.1f} s, lower bound {lb:.1f} s, ratio {rto/lb:.3f} (target <= 1.10); "
      f"wall {wall:.2f} s (target < 10 s for region-outage); history {d['history_events']}")
print(f"{'':<14} API calls: {calls}; report exact: {d['lost']['exact']} ({d['lost']['keys_compared']} keys)")
PY
done
