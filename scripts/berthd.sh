#!/usr/bin/env bash
# Sets up and runs berthd in the foreground on /run/berth/berth.sock (Ctrl-C stops it).
# Extra arguments go to berthd, e.g. --bip 10.10.0.1/24 or -H tcp://127.0.0.1:2375.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "berthd.sh: berthd manages bridges and namespaces; run as root" >&2
  exit 1
fi
scripts/install-deps.sh
cargo build --release --locked --bins
# Shell completions and man pages, made from the CLI's own definition.
mkdir -p /usr/share/bash-completion/completions /usr/local/share/man/man1
target/release/berth completion bash >/usr/share/bash-completion/completions/berth
target/release/berth man /usr/local/share/man/man1
echo "berthd: point a client at it with: target/release/berth network ls   (or: docker -H unix:///run/berth/berth.sock network ls)" >&2
exec target/release/berthd "$@"
