#!/usr/bin/env bash
# Installs what berth needs at run and test time on a Debian machine. Idempotent.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
command -v unshare >/dev/null || need+=(util-linux)
# The kernel tests ping between sandboxes with busybox; the test image is built from it.
command -v busybox >/dev/null || need+=(busybox-static)
# Containers run through an OCI runtime (runc by default).
command -v runc >/dev/null || need+=(runc)
# crun is the other runtime berth supports (daemon.json default-runtime); a test runs it.
command -v crun >/dev/null || need+=(crun)
command -v tar >/dev/null || need+=(tar)
# The embedded DNS redirect and the firewall are nftables rulesets applied with nft.
command -v nft >/dev/null || need+=(nftables)
# Stale UDP flows are cleared with conntrack when a published UDP port changes.
command -v conntrack >/dev/null || need+=(conntrack)
# The `berth ui` test drives headless Chromium over WebDriver.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# Benchmarks only (bench/run.sh passes --bench): load generators for DNS and published ports.
if [ "${1:-}" = --bench ]; then
  command -v dnsperf >/dev/null || need+=(dnsperf)
  command -v iperf3 >/dev/null || need+=(iperf3)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo (Rust stable) is required" >&2
  exit 1
fi
