#!/usr/bin/env bash
# Runs every test of pnswitch on a fresh Debian machine with Rust: installs what the tests need, checks
# formatting and lints, builds the binary the end-to-end tests drive, and runs the whole test suite, then the
# Debian package test (tests/deb/run.sh) and the alert rule tests (tests/promtool/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
# Tools the test suite uses, as tool:Debian package: sipp (Debian's sip-tester) for the SIP end-to-end tests
# (tests/tests/sipp_*.rs fail, never skip, without it); kamailio for the front of several nodes
# (tests/tests/kamailio_front.rs, deploy/kamailio/; it fails without it). The tests start their own instances on
# free loopback ports, never the package's service. openssl makes the throwaway PostgreSQL server's TLS
# certificates (pn-store's TLS tests fail without it).
for tool_pkg in sipp:sip-tester kamailio:kamailio openssl:openssl; do
    tool=${tool_pkg%%:*}
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || need_pkgs+=("${tool_pkg#*:}")
done
# PostgreSQL's server binaries (Debian's `postgresql`) for pn-store's PostgreSQL conformance tests and
# tests/tests/store_postgres.rs: each test process runs a throwaway cluster of its own in a temp directory (they
# fail, never skip, without the binaries). Needed when no /usr/lib/postgresql/*/bin/initdb exists.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    need_pkgs+=(postgresql)
fi
# Installed WITHOUT starting any system service (kamailio's or postgresql's): a /usr/sbin/policy-rc.d answering
# 101 (action forbidden) is in place during the install; one that was there before is put back afterwards, else
# ours is removed.
if ((${#need_pkgs[@]})); then
    echo "== installing ${need_pkgs[*]} (their services not started)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    policy=/usr/sbin/policy-rc.d
    policy_backup=""
    if [ -e "$policy" ]; then
        policy_backup=$(mktemp)
        $SUDO cp -p "$policy" "$policy_backup"
    fi
    restore_policy() {
        if [ -n "$policy_backup" ]; then
            $SUDO cp -p "$policy_backup" "$policy"
            rm -f "$policy_backup"
        else
            $SUDO rm -f "$policy"
        fi
    }
    trap restore_policy EXIT
    printf '#!/bin/sh\n# tests/run-all.sh: no service starts while test tools are installed.\nexit 101\n' |
        $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
    restore_policy
    trap - EXIT
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
        { echo "postgresql installed no /usr/lib/postgresql/*/bin/initdb" >&2; exit 1; }
fi

# Python packages (pinned) of the OpenAPI client test (tests/tests/openapi_client.rs fails, never skips,
# without them): openapi-spec-validator, openapi-python-client and what they pull in, in <target>/openapi-venv.
tests/openapi/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== sans-IO crates depend on no runtime"
for crate in pn-sip pn-b2bua pn-media pn-bindings pn-numbers pn-notify; do
    if cargo tree --locked -p "$crate" -e normal | grep -E ' (tokio|tokio-[a-z-]+|futures|futures-[a-z-]+|socket2|mio) v'; then
        echo "$crate depends on a runtime (above): sans-IO crates must not" >&2
        exit 1
    fi
done
echo "== the SIP runtime (pn-runtime) and pn-provision do not depend on pn-api or any HTTP crate"
if cargo tree --locked -p pn-runtime -e normal | grep -E ' (pn-api|axum|axum-core|hyper|utoipa|reqwest) v'; then
    echo "pn-runtime depends on the HTTP layer (above): it must use pn-provision only" >&2
    exit 1
fi
if cargo tree --locked -p pn-provision -e normal | grep -E ' (pn-api|axum|axum-core|hyper|utoipa) v'; then
    echo "pn-provision depends on the HTTP layer (above)" >&2
    exit 1
fi
echo "== cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== build the binary the e2e tests drive"
cargo build --locked -p pnswitch
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run (cargo's own last line is a crate's doc-tests, often "0 passed").
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# After the cargo tests (each script fails loudly, stopping this one): the Debian package built from the
# debug binary, installed, run and purged (tests/deb/run.sh); the alert rules checked and unit-tested with
# promtool (tests/promtool/run.sh; installs Debian's prometheus without starting it when promtool is missing);
# the unit's hardening rated by systemd-analyze (tests/systemd/run.sh; installs Debian's systemd when missing).
echo "== tests/deb/run.sh"
tests/deb/run.sh
echo "== tests/promtool/run.sh"
tests/promtool/run.sh
echo "== tests/systemd/run.sh"
tests/systemd/run.sh
