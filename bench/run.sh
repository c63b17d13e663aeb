#!/usr/bin/env bash
# Builds release binaries and runs the network benchmark. Needs root (private network namespace).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins
exec target/release/berth-bench "$@"
