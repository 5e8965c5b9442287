#!/usr/bin/env bash
# Media relay benchmark: concurrent relayed G.711 calls through pnswitch's RTP relay ([media] mode = "relay")
# and through rtpengine (Debian's rtpengine-daemon, userspace forwarding), same generator, same streams, all on
# 127.0.0.1. Installs rtpengine-daemon when missing (its packaged service is not used: the harness runs its own
# foreground instance on loopback), builds the release binaries, then runs target/release/media-load, which
# prints loss, p50/p99 added latency, packets/s per core and the pnswitch/rtpengine ratio.
#   benches/media/run.sh                                  # 1000 calls, 20 s measured per relay
#   benches/media/run.sh --json /tmp/media.json --calls 2000
#   target/release/media-load --help                      # every knob
# Bounded: media-load runs under `timeout` (4 min); every process it started is stopped on exit (trap).
# Not part of tests/run-all.sh. See docs/benchmarks.md ("Media relay").
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v rtpengine >/dev/null 2>&1 && [ ! -x /usr/bin/rtpengine ] && [ ! -x /usr/sbin/rtpengine ]; then
    echo "== installing rtpengine-daemon"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # policy-rc.d / no systemd in containers: the package's service usually does not start; stop it if it did.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rtpengine-daemon
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet rtpengine-daemon 2>/dev/null; then
        $SUDO systemctl stop rtpengine-daemon || true
        $SUDO systemctl disable rtpengine-daemon || true
    fi
    if command -v service >/dev/null 2>&1; then
        $SUDO service rtpengine-daemon stop >/dev/null 2>&1 || true
    fi
fi

echo "== cargo build --release -p pnswitch -p pn-benches --bin media-load"
cargo build --release --locked -p pnswitch
cargo build --release --locked -p pn-benches --bin media-load

# media-load runs in its own process group (setsid), so the trap can stop it and everything it started
# (pnswitch, rtpengine) even if it is killed before its own clean-up runs.
pgid=""
cleanup() {
    if [ -n "$pgid" ] && kill -0 "$pgid" 2>/dev/null; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        sleep 2
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

setsid timeout --kill-after=10 240 target/release/media-load --pnswitch target/release/pnswitch "$@" &
pgid=$!
status=0
wait "$pgid" || status=$?
pgid_done=$pgid
pgid=""
# Whatever is left in the group (nothing, normally) goes too.
kill -KILL -- "-$pgid_done" 2>/dev/null || true
exit "$status"
