#!/usr/bin/env bash
# The time routing-control spends getting past four dead ARC endpoints with the default
# timeouts, in real time against regionsim on 127.0.0.1. Target: under 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p failover-steps --bench arc_dead_endpoints
