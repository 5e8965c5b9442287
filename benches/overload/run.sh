#!/usr/bin/env bash
# Overload harness: pnswitch offered 1x to 3x its capacity by SIPp on 127.0.0.1 (goodput, 503s with
# Retry-After, timeouts, RSS per step, recovery after the load). Installs sipp when missing, builds the release
# binary, then runs benches/overload/run.py; arguments go to it, e.g.
#   benches/overload/run.sh --capacity 2400 --json /tmp/overload.json
# Not part of tests/run-all.sh. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v sipp >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sip-tester
fi
echo "== cargo build --release -p pnswitch"
cargo build --release --locked -p pnswitch
exec python3 benches/overload/run.py --pnswitch target/release/pnswitch "$@"
