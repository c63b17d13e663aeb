#!/usr/bin/env bash
# Builds release binaries and runs every benchmark. Needs root (private namespaces).
# Usage: bench/run.sh [network|attach|grow|run|dns|publish|iperf|tls|import|engine|cluster|check] [RUNS]
# dns needs dnsperf and iperf needs iperf3 (scripts/install-deps.sh --bench installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
cargo build --release --locked --bins
which=${1:-all}
runs=${2:-200}
if [ "$which" = all ] || [ "$which" = network ]; then target/release/bench-network "$runs"; fi
if [ "$which" = all ] || [ "$which" = attach ]; then target/release/bench-attach "$runs"; fi
if [ "$which" = all ] || [ "$which" = grow ]; then target/release/bench-grow "${2:-1000}"; fi
if [ "$which" = all ] || [ "$which" = run ]; then target/release/bench-run "${2:-100}"; fi
if [ "$which" = all ] || [ "$which" = dns ]; then target/release/bench-dns "${2:-1000}"; fi
if [ "$which" = all ] || [ "$which" = publish ]; then target/release/bench-publish "${2:-1000}"; fi
if [ "$which" = all ] || [ "$which" = iperf ]; then target/release/bench-iperf "${2:-5}" 5; fi
if [ "$which" = all ] || [ "$which" = tls ]; then target/release/bench-tls "${2:-100}"; fi
if [ "$which" = all ] || [ "$which" = import ]; then target/release/bench-import "${2:-300}"; fi
if [ "$which" = all ] || [ "$which" = engine ]; then target/release/bench-engine "${2:-100}"; fi
if [ "$which" = all ] || [ "$which" = cluster ]; then target/release/bench-cluster "${2:-100}"; fi
if [ "$which" = all ] || [ "$which" = check ]; then target/release/bench-check "${2:-1000}"; fi
if [ "$which" = all ] || [ "$which" = overlay ]; then target/release/bench-overlay all "${2:-20}"; fi
if [ "$which" = all ] || [ "$which" = compose ]; then target/release/bench-compose "${2:-10}"; fi
