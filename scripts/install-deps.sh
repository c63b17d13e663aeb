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
# The cluster store (issue 19): etcd-client's build compiles etcd's protos with protoc and the
# well-known includes; the cluster tests start their own etcd members (Debian etcd-server 3.4).
command -v protoc >/dev/null || need+=(protobuf-compiler)
[ -e /usr/include/google/protobuf/empty.proto ] || need+=(libprotobuf-dev)
command -v etcd >/dev/null || need+=(etcd-server)
# The `berth ui` test drives headless Chromium over WebDriver.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# Benchmarks only (bench/run.sh passes --bench): load generators for DNS and published ports.
if [ "${1:-}" = --bench ]; then
  command -v dnsperf >/dev/null || need+=(dnsperf)
  command -v iperf3 >/dev/null || need+=(iperf3)
fi
# The pull tests (issue 21) run Debian's registry (distribution 2.8) on loopback in their own
# namespace and fill it with skopeo from an archive they make.
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
# `run --init` bind-mounts tini's static build as /sbin/docker-init, as Docker does.
[ -x /usr/bin/tini-static ] || [ -x /usr/bin/docker-init ] || need+=(tini)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's etcd-server package starts a machine-wide etcd on 2379; the tests run their own, so
# the package's service must not stay up (stopped however this machine runs services).
if [ -e /lib/systemd/system/etcd.service ] || [ -x /etc/init.d/etcd ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/etcd ] && /etc/init.d/etcd status >/dev/null 2>&1; then
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
  fi
fi
# Debian's docker-registry package starts a machine-wide registry on :5000; the tests run
# their own, so the package's service must not stay up either.
if [ -e /lib/systemd/system/docker-registry.service ] || [ -x /etc/init.d/docker-registry ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/docker-registry ] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
    /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
  fi
fi
# The compose tests drive Debian's docker-compose 1.29; without its recommended docker.io, so
# no Docker daemon lands on the machine.
if ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: docker-compose" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo (Rust stable) is required" >&2
  exit 1
fi
