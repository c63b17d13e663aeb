#!/usr/bin/env bash
# Docker 20.10's figure for the compose benchmark (bench-compose measures berthd the same way).
# Runs Debian's dockerd 20.10 by hand in a network and mount namespace of its own, with its own
# data root, exec root, socket, pidfile, config file and cgroup parent, so it touches neither the
# host's firewall nor /var/lib/docker; loads the busybox image the tests use, brings
# bench/compose/docker-compose.yml up (-d) and down RUNS times after one warm-up, with the
# client's own floor (docker-compose version, config, ps of the empty project) timed in each run
# as bench-compose does, prints each run, the medians and dockerd's share (wall - config floor),
# then stops dockerd and its containerd and checks that nothing is left.
# Usage (root): bench/docker-20.10-compose.sh [RUNS]
set -euo pipefail

if [ "${1:-}" = --inner ]; then
    W=$2 RUNS=$3
    ip link set lo up
    # dockerd writes its trust key under /etc/docker: keep that write inside this namespace.
    mount -t tmpfs tmpfs /etc/docker
    echo '{}' >"$W/daemon.json"
    /usr/sbin/dockerd --data-root "$W/data" --exec-root "$W/exec" -H "unix://$W/docker.sock" \
        --pidfile "$W/dockerd.pid" --config-file "$W/daemon.json" \
        --cgroup-parent /docker2010-bench >"$W/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST="unix://$W/docker.sock" DOCKER_CONFIG="$W/docker-config"
    for _ in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
    docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}'
    # The same image as berth's tests: busybox-static's root filesystem, as a docker save archive.
    docker import "$W/busybox.tar" busybox:latest >/dev/null
    docker save -o "$W/busybox-save.tar" busybox:latest
    docker rmi busybox:latest >/dev/null
    docker load -i "$W/busybox-save.tar"
    cd "$W/proj"
    now() { date +%s%N; }
    # One timed docker-compose command: its wall time in ms goes to $ms.
    timed() {
        local t0 t1
        t0=$(now)
        docker-compose --no-ansi -p bench "$@" >"$W/cmd.log" 2>&1 || { cat "$W/cmd.log"; exit 1; }
        t1=$(now)
        ms=$(((t1 - t0) / 1000000))
    }
    versions=() configs=() ups=() downs=() pss=()
    for i in $(seq 0 "$RUNS"); do
        # The client's floor in the same conditions: version and config send no request,
        # ps of the empty project one list.
        timed version; version=$ms
        timed config -q; config=$ms
        timed up -d; up=$ms
        timed down; down=$ms
        timed ps; ps=$ms
        if [ "$i" = 0 ]; then echo "warm-up: up ${up} ms, down ${down} ms"; continue; fi
        echo "run $i: version $version  config $config  up $up  down $down  ps $ps ms"
        versions+=("$version") configs+=("$config") ups+=("$up") downs+=("$down") pss+=("$ps")
    done
    median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
    floor=$(median "${configs[@]}") up=$(median "${ups[@]}") down=$(median "${downs[@]}")
    echo "docker 20.10 compose, $RUNS runs (ms):"
    echo "  client floor: version $(median "${versions[@]}")  config $floor  ps (empty project) $(median "${pss[@]}")"
    echo "  up -d: median $up  dockerd's share (wall - config floor) $(awk "BEGIN {print $up - $floor}")"
    echo "  down:  median $down  dockerd's share (wall - config floor) $(awk "BEGIN {print $down - $floor}")"
    kill -TERM "$dockerd_pid"
    wait "$dockerd_pid" || true
    exit 0
fi

RUNS=${1:-10}
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
W=$(mktemp -d /tmp/docker2010-bench.XXXXXX)
made_etc=0
[ -d /etc/docker ] || { mkdir /etc/docker; made_etc=1; }
before_links=$(ip -o link show | awk -F': ' '{print $2}' | sort)
before_nft=$(nft list ruleset | md5sum)
before_ipt=$(iptables-save 2>/dev/null | sed '/^#/d' | md5sum)

# The busybox root filesystem, built as crates/berthd/tests/common/mod.rs builds it.
root=$W/rootfs
mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,www} "$W/proj"
cp "$(command -v busybox)" "$root/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
tar -C "$root" -cf "$W/busybox.tar" .
cp "$(dirname "$0")/compose/docker-compose.yml" "$W/proj/"

status=0
unshare --net --mount --propagation private --fork -- "$0" --inner "$W" "$RUNS" || status=$?

# Leftovers: any process still naming the work dir is killed by its pid and reported.
for pid in $(pgrep -f "$W" || true); do
    echo "leftover process $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline)" >&2
    kill -KILL "$pid" || true
    status=1
done
if grep -q "$W" /proc/self/mountinfo; then echo "leftover mounts under $W" >&2; status=1; fi
for c in /sys/fs/cgroup/*/docker2010-bench; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} \; || { echo "cannot remove cgroup $c" >&2; status=1; }
done
[ "$made_etc" = 1 ] && rmdir /etc/docker
[ "$before_links" = "$(ip -o link show | awk -F': ' '{print $2}' | sort)" ] || { echo "host links changed" >&2; status=1; }
[ "$before_nft" = "$(nft list ruleset | md5sum)" ] || { echo "host nft ruleset changed" >&2; status=1; }
[ "$before_ipt" = "$(iptables-save 2>/dev/null | sed '/^#/d' | md5sum)" ] || { echo "host iptables changed" >&2; status=1; }
rm -rf "$W"
[ "$status" = 0 ] && echo "clean: no processes, mounts, links, firewall rules or cgroups left"
exit "$status"
