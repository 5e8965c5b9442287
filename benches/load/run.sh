#!/usr/bin/env bash
# SIP load harness: pnswitch against Kamailio (dialog-stateful proxy doing the same X -> B translation), both
# driven by the same SIPp scenarios on 127.0.0.1. Installs sipp (Debian's sip-tester) and kamailio when missing,
# builds the release binary, then runs benches/load/driver.py, which ramps the call rate in bounded steps and
# prints the highest CPS with < 0.1% failed calls, setup latency p50/p99, memory per active call and the
# pnswitch/Kamailio ratio. Extra arguments go to the driver (see `benches/load/driver.py --help`), e.g.
#   benches/load/run.sh --bindings 20000 --rates 200,400,800 --json /tmp/load.json
# Not part of tests/run-all.sh: it takes a few minutes. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_pkgs=()
command -v sipp >/dev/null 2>&1 || need_pkgs+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || need_pkgs+=(kamailio)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
    echo "== installing ${need_pkgs[*]}"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}"
fi
# The Debian package may start its own kamailio service on 5060; the harness uses its own instance and ports.

echo "== cargo build --release -p pnswitch"
cargo build --release --locked -p pnswitch

exec python3 benches/load/driver.py --pnswitch target/release/pnswitch "$@"
