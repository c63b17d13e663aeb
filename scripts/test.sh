#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and integration tests that run a real
# berthd inside throwaway network namespaces (so it needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: the integration tests create network namespaces and bridges; run as root" >&2
  exit 1
fi
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The integration tests run the berth CLI binary, so build every binary first.
cargo build --workspace --locked
cargo test --workspace --locked
