#!/usr/bin/env bash
# The alerting rules test (issue 12): `promtool check rules deploy/pnswitch-alerts.yml`, `promtool check
# config deploy/prometheus.yml` and `promtool test rules tests/promtool/*.yml` (unit tests: each alert that
# must fire does, at the time it must, and does not where it must not). Run by tests/run-all.sh after the
# cargo tests; fails loudly (exit 1).
#
# promtool comes from Debian's `prometheus` package, installed when missing WITHOUT starting its service: a
# /usr/sbin/policy-rc.d that answers 101 (action forbidden) is in place during the install; one that was there
# before is put back afterwards, else ours is removed.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
policy=/usr/sbin/policy-rc.d

if ! command -v promtool >/dev/null 2>&1; then
    echo "== installing prometheus (for promtool), its service not started"
    backup=""
    if [ -e "$policy" ]; then
        backup=$(mktemp)
        $SUDO cp -p "$policy" "$backup"
    fi
    restore_policy() {
        if [ -n "$backup" ]; then
            $SUDO cp -p "$backup" "$policy"
            rm -f "$backup"
        else
            $SUDO rm -f "$policy"
        fi
    }
    trap restore_policy EXIT
    printf '#!/bin/sh\n# tests/promtool/run.sh: no service starts while prometheus is installed.\nexit 101\n' |
        $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus
    restore_policy
    trap - EXIT
    command -v promtool >/dev/null 2>&1 || { echo "promtool test FAILED: prometheus installed no promtool" >&2; exit 1; }
fi

echo "== promtool $(promtool --version 2>&1 | head -1)"
echo "== promtool check rules deploy/pnswitch-alerts.yml"
promtool check rules deploy/pnswitch-alerts.yml
echo "== promtool check config deploy/prometheus.yml"
# The config names its rule file relatively: promtool resolves it next to the config and checks it too.
promtool check config deploy/prometheus.yml
echo "== promtool test rules tests/promtool/*.yml"
promtool test rules tests/promtool/*.yml
echo "promtool test: ok"
