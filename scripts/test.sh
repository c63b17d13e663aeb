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
# Before the tests, so that their total stays the last line: a short fuzzing run of every target (scripts/fuzz.sh runs longer ones; FUZZ_SECONDS=0 skips).
fuzz_secs=${FUZZ_SECONDS:-10}
if [ "$fuzz_secs" != 0 ]; then
  FUZZ_DEV=1 scripts/fuzz.sh "$fuzz_secs"
fi
# The integration tests run the berth CLI binary, so build every binary first.
cargo build --workspace --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# cargo's last line belongs to whichever test binary ran last (often a doc-test run with none);
# close with the total over all of them.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
