#!/usr/bin/env bash
# Fuzzes the parsers a user reaches (libFuzzer through cargo-fuzz): every target of fuzz/ for
# SECONDS each (default 20), from the committed seeds in fuzz/seeds/<target> plus the corpus
# it grew before (fuzz/corpus/<target>, not committed). A crash stops the run, and libFuzzer
# leaves the input in fuzz/artifacts/<target>/: make it a regression test next to the code.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# FUZZ_DEV=1 fuzzes a debug build: slower to run, but it builds in a fraction of the time (the
# short run of scripts/test.sh uses it).
# Stable Rust only: cargo-fuzz's nightly flags are allowed with RUSTC_BOOTSTRAP=1, and no
# sanitizer is built in (the targets are safe Rust: they look for panics, overflows and hangs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-20}
shift || true
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# Its own target directory: the instrumented build must not evict the workspace's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/../target}/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
profile=()
if [ "${FUZZ_DEV:-0}" = 1 ]; then
  profile=(--dev)
fi
cargo fuzz build -s none "${profile[@]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: one using 2 GB is a leak.
  if ! cargo fuzz run -s none "${profile[@]}" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $t failed: the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(awk '/^stat::number_of_executed_units/ { print $2 }' "$log")
  echo "fuzz: $t: ${runs:-?} inputs in ${secs}s, no crash"
done
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crash"
