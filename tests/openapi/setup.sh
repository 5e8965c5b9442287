#!/usr/bin/env bash
# Installs the OpenAPI client test's Python packages (requirements.txt, pinned) into <target>/openapi-venv,
# where tests/tests/openapi_client.rs looks for them. Idempotent: does nothing when that venv already holds
# exactly these requirements. Installs Debian's python3/python3-venv first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
venv=$target/openapi-venv
req=tests/openapi/requirements.txt
stamp=$venv/requirements.installed
if [ -x "$venv/bin/python" ] && cmp -s "$stamp" "$req" 2>/dev/null; then
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "== installing python3 python3-venv"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv
fi
echo "== python packages for the OpenAPI client test -> $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
