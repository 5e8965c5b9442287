#!/usr/bin/env bash
# Runs every test of pnswitch on a fresh Debian machine with Rust: installs what the tests need, checks
# formatting and lints, builds the binary the end-to-end tests drive, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
# Tools the test suite uses (curl for the demo check; SIPp etc. join here as the SIP tests land).
for tool in curl; do
    command -v "$tool" >/dev/null 2>&1 || need_pkgs+=("$tool")
done
if ((${#need_pkgs[@]})); then
    echo "== installing ${need_pkgs[*]}"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build the binary the e2e tests drive"
cargo build --locked -p pnswitch
echo "== cargo test"
cargo test --workspace --locked
