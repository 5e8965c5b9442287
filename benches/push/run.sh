#!/usr/bin/env bash
# Push benchmark: pnswitch at 1,000 calls/s for 60 s with pushes (call events + CDRs) to a local receiver
# (push-sink) vs with pushes off, interleaved three times; CPU per call on/off, calls/s, lost CDRs, push lag
# p50/p99. Installs sipp when missing, builds the release binaries, then runs benches/push/bench.py.
# Extra arguments go to bench.py, e.g. benches/push/run.sh --rate 500 --seconds 30 --json /tmp/push.json
# Not part of tests/run-all.sh (about 10 minutes). Run it on an otherwise idle machine. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v sipp >/dev/null 2>&1; then
    echo "== installing sip-tester"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sip-tester
fi

echo "== cargo build --release -p pnswitch; -p pn-benches --bin push-sink"
cargo build --release --locked -p pnswitch
cargo build --release --locked -p pn-benches --bin push-sink

exec python3 benches/push/bench.py --pnswitch target/release/pnswitch --sink target/release/push-sink "$@"
