#!/usr/bin/env bash
# Builds every Lambda binary in release mode and measures its cold start (bench/coldstart.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet $(for d in functions/*/; do echo -p "failover-fn-$(basename "$d")"; done)
exec python3 bench/coldstart.py $(for d in functions/*/; do echo "target/release/failover-$(basename "$d")"; done)
