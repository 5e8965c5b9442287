#!/usr/bin/env bash
# The Debian package test (issue 12): builds pnswitch's .deb with cargo-deb ([package.metadata.deb] in
# crates/pnswitch/Cargo.toml), installs it with dpkg, checks its files, modes, conffile and service user, runs
# the installed binary (--version, config, serve as user pnswitch on the installed configuration: /readyz and
# one admin API call), then purges it and checks that it is gone. Run by tests/run-all.sh after the cargo
# tests; needs root (dpkg), uses sudo otherwise. Idempotent: a package left by an earlier run is purged first,
# and the trap stops the switch and purges the package on any failure. Fails loudly (exit 1 and a message).
#
# cargo-deb is pinned: 2.12.1, installed into <target>/tools when missing (about 2 minutes, once). 2.7.0, the
# version first chosen, cannot read this workspace: its cargo_toml 0.20 refuses `resolver = "3"` ("unknown
# variant `3`, expected `1` or `2`"); 2.12.1 is the last 2.x (same [package.metadata.deb] format).
#
# To keep the test fast, the package is made from the debug binary that `cargo build -p pnswitch` (run-all's
# e2e build) already made: `--profile dev --no-build` (cargo-deb strips it: about 40 MB instead of 220) and
# `--fast` compression. cargo-deb warns that the dev profile is meant for tests only; a release package is
# `cargo deb -p pnswitch --locked` (docs/operations.md, "Debian package").
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

target=${CARGO_TARGET_DIR:-target}
tools=$target/tools
cargo_deb=$tools/bin/cargo-deb
cargo_deb_version=2.12.1
out=$(mktemp -d)
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
pid=""
installed_by_us=0

fail() {
    echo "deb test FAILED: $*" >&2
    exit 1
}

cleanup() {
    local rc=$?
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        $SUDO kill -TERM "$pid" 2>/dev/null || true
        sleep 1
        $SUDO kill -KILL "$pid" 2>/dev/null || true
    fi
    if [ "$installed_by_us" = 1 ] && dpkg-query -W -f='${Status}' pnswitch 2>/dev/null | grep -q installed; then
        $SUDO dpkg --purge pnswitch >/dev/null 2>&1 || true
    fi
    if [ "$rc" -ne 0 ] && [ -f "$out/serve.log" ]; then
        echo "--- pnswitch serve log" >&2
        cat "$out/serve.log" >&2 || true
    fi
    rm -rf "$out"
    exit "$rc"
}
trap cleanup EXIT

for tool in dpkg dpkg-deb curl setpriv; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing"
done

echo "== cargo-deb $cargo_deb_version"
if ! "$cargo_deb" --version 2>/dev/null | grep -qF "$cargo_deb_version"; then
    cargo install --locked cargo-deb --version "$cargo_deb_version" --root "$tools"
fi

echo "== build the .deb from the debug binary"
cargo build --locked -p pnswitch
"$cargo_deb" -p pnswitch --profile dev --no-build --fast -o "$out/" 2>&1 | grep -v "dev profile\|debug symbols" || true
deb=$(ls "$out"/pnswitch_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "cargo deb made no package"
version=$(cargo metadata --locked --no-deps --format-version 1 |
    sed -n 's/.*"name":"pnswitch","version":"\([^"]*\)".*/\1/p')
[ -n "$version" ] || fail "cannot read pnswitch's version from cargo metadata"

echo "== install $(basename "$deb")"
if dpkg-query -W -f='${Status}' pnswitch 2>/dev/null | grep -q installed; then
    echo "(purging a pnswitch package left by an earlier run)"
    $SUDO dpkg --purge pnswitch >/dev/null
fi
installed_by_us=1
$SUDO dpkg -i "$deb"

echo "== files, modes, conffile, user"
check_mode() { # path mode owner:group
    local got
    got=$(stat -c '%a %U:%G' "$1" 2>/dev/null) || fail "$1 is missing"
    [ "$got" = "$2 $3" ] || fail "$1: $got, want $2 $3"
}
check_mode /usr/bin/pnswitch 755 root:root
check_mode /usr/lib/systemd/system/pnswitch.service 644 root:root
check_mode /usr/lib/sysusers.d/pnswitch.conf 644 root:root
check_mode /etc/pnswitch 750 root:pnswitch
check_mode /etc/pnswitch/pnswitch.toml 640 root:pnswitch
check_mode /var/lib/pnswitch 700 pnswitch:pnswitch
check_mode /usr/share/doc/pnswitch/operations.md 644 root:root
check_mode /usr/share/doc/pnswitch/copyright 644 root:root
grep -q '^ExecStart=/usr/bin/pnswitch --config /etc/pnswitch/pnswitch.toml serve$' \
    /usr/lib/systemd/system/pnswitch.service || fail "the unit does not start /usr/bin/pnswitch"
cmp -s deploy/pnswitch.toml /etc/pnswitch/pnswitch.toml || fail "the installed configuration is not deploy/pnswitch.toml"
dpkg-query -W -f='${Conffiles}\n' pnswitch | grep -q '/etc/pnswitch/pnswitch.toml' ||
    fail "/etc/pnswitch/pnswitch.toml is not a conffile"
user=$(getent passwd pnswitch) || fail "no user pnswitch"
IFS=: read -r _ _ uid _ _ home shell <<<"$user"
[ "$uid" -lt 1000 ] || fail "pnswitch is not a system user (uid $uid)"
[ "$home" = /var/lib/pnswitch ] || fail "pnswitch's home is $home"
case "$shell" in */nologin | */false) ;; *) fail "pnswitch has a login shell: $shell" ;; esac
getent group pnswitch >/dev/null || fail "no group pnswitch"

echo "== the installed binary"
got=$(/usr/bin/pnswitch --version)
[ "$got" = "pnswitch $version" ] || fail "--version says '$got', want 'pnswitch $version'"
config=$(setpriv --reuid=pnswitch --regid=pnswitch --init-groups -- \
    /usr/bin/pnswitch --config /etc/pnswitch/pnswitch.toml config) || fail "pnswitch config failed"
grep -q '^data_dir = "/var/lib/pnswitch"' <<<"$config" || fail "pnswitch config does not show the installed data_dir"

echo "== serve as user pnswitch on the installed configuration"
# Port 0 (the switch prints the ports it bound): nothing the parallel tests use can clash. The relay range
# 65500-65519 is outside the e2e tests' ranges (61000-65499, tests/src/lib.rs) and the kernel's ephemeral ports.
# The log exists before the switch starts: the background shell opens its redirection only when it runs.
: >"$out/serve.log"
PNSWITCH__MEDIA__PORT_MIN=65500 PNSWITCH__MEDIA__PORT_MAX=65519 RUST_LOG=warn \
    setpriv --reuid=pnswitch --regid=pnswitch --init-groups -- \
    /usr/bin/pnswitch --config /etc/pnswitch/pnswitch.toml serve \
    --http-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 >>"$out/serve.log" 2>&1 </dev/null &
pid=$!
base=""
for _ in $(seq 1 300); do
    base=$(sed -n 's/^pnswitch: http listening on \(.*\)$/http:\/\/\1/p' "$out/serve.log" | head -1)
    [ -n "$base" ] && break
    kill -0 "$pid" 2>/dev/null || fail "pnswitch serve exited"
    sleep 0.1
done
[ -n "$base" ] || fail "pnswitch serve did not listen within 30 s"
ready=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")
[ "$ready" = 200 ] || fail "/readyz answered $ready"
token_file=/var/lib/pnswitch/admin.token
check_mode "$token_file" 600 pnswitch:pnswitch
check_mode /var/lib/pnswitch 700 pnswitch:pnswitch
token=$($SUDO cat "$token_file")
apps=$(curl -s -H "Authorization: Bearer $token" "$base/admin/v1/apps")
grep -q '"resultcode":"0"' <<<"$apps" || fail "GET /admin/v1/apps: $apps"
metrics=$(curl -s "$base/metrics")
grep -q '^pn_build_info' <<<"$metrics" || fail "/metrics has no pn_build_info"

echo "== stop"
kill -TERM "$pid"
for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "pnswitch serve did not stop within 30 s of SIGTERM"
wait "$pid" || fail "pnswitch serve exited with status $?"
pid=""

echo "== purge"
$SUDO dpkg --purge pnswitch
installed_by_us=0
dpkg-query -W -f='${Status}' pnswitch 2>/dev/null | grep -q installed && fail "pnswitch is still installed"
for gone in /usr/bin/pnswitch /usr/lib/systemd/system/pnswitch.service /usr/lib/sysusers.d/pnswitch.conf \
    /etc/pnswitch /var/lib/pnswitch /usr/share/doc/pnswitch; do
    [ ! -e "$gone" ] || fail "$gone is left after the purge"
done
echo "deb test: ok ($(basename "$deb"))"
