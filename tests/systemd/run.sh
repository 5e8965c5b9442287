#!/usr/bin/env bash
# The unit's hardening test (issue 12): `systemd-analyze security --offline=true deploy/pnswitch.service` must
# rate the unit's exposure at most 2.0 ("OK"; it was 8.5 "EXPOSED" before the hardening). Run by
# tests/run-all.sh after the cargo tests; fails loudly (exit 1).
#
# systemd-analyze comes from Debian's `systemd` package, installed when missing; nothing is started (no
# service runs in the test, and systemd is not made the init system).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "== installing systemd (for systemd-analyze)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd
    command -v systemd-analyze >/dev/null 2>&1 ||
        { echo "systemd test FAILED: the systemd package installed no systemd-analyze" >&2; exit 1; }
fi

out=$(systemd-analyze security --offline=true --no-pager deploy/pnswitch.service 2>&1) || true
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for pnswitch.service: \([0-9.]*\) .*/\1/p')
if [ -z "$level" ]; then
    printf '%s\n' "$out" >&2
    echo "systemd test FAILED: no exposure level in systemd-analyze's output (above)" >&2
    exit 1
fi
echo "systemd-analyze security deploy/pnswitch.service: exposure $level"
# The threshold is on systemd's 0-100 scale (the printed level times ten).
if ! systemd-analyze security --offline=true --no-pager --threshold=20 deploy/pnswitch.service >/dev/null 2>&1; then
    echo "systemd test FAILED: exposure $level is above 2.0" >&2
    exit 1
fi
echo "systemd test ok"
