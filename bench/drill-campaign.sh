#!/usr/bin/env bash
# Wall time of a drill campaign (the scenario x fault x seed matrix, default 3 seeds: at
# least 60 drills) on the embedded default with the release binary, against the target
# (under 5 minutes on 2 cores) and the baseline: the same drills one after another, the sum
# of their own wall times (what one worker would take). SEEDS and JOBS override the
# campaign's --seeds and --jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin failover
out=$(mktemp -d)
args=(drill --campaign --quiet --json "$out/campaign.json")
[ -n "${SEEDS:-}" ] && args+=(--seeds "$SEEDS")
[ -n "${JOBS:-}" ] && args+=(--jobs "$JOBS")
start=$(date +%s.%N)
set +e
./target/release/failover "${args[@]}" >"$out/table.txt"
code=$?
set -e
end=$(date +%s.%N)
cat "$out/table.txt"
python3 - "$out/campaign.json" "$start" "$end" "$code" "$(nproc)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
cells = d["cells"]
serial = sum(c["wall_s"] for c in cells)
slowest = max(cells, key=lambda c: c["wall_s"])
print(f"campaign: {len(cells)} drills (target: at least 60) on {d['workers']} workers, {sys.argv[5]} cores; "
      f"{len(d['unexpected'])} not as expected (exit {sys.argv[4]})")
print(f"wall {wall:.1f} s (target < 300 s on 2 cores); baseline, one drill after another: {serial:.1f} s "
      f"(speed-up {serial / wall:.2f}); slowest drill {slowest['id']} {slowest['wall_s']:.1f} s")
PY
