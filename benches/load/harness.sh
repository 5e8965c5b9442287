# Shared by the bash SIP harnesses (benches/ports/run.sh, benches/dialogs/run.sh); source it, do not run it.
# Starts one pnswitch (its egress trunk a SIPp UAS) and SIPp processes on 127.0.0.1, provisions AXB bindings
# through driver.py's provisioning code, reads /metrics, and stops every process it started (by PID) on exit.
# Needs: sipp (Debian's sip-tester), python3, curl.

HARNESS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCENARIOS="$HARNESS_ROOT/sip-fixtures/sipp"
STARTED_PIDS=()

log() { printf '%s\n' "$*" >&2; }

# Stops what this script started (SIGTERM, then SIGKILL after 5 s), only those PIDs.
harness_cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${STARTED_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    for pid in "${STARTED_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap harness_cleanup EXIT

need() {
    command -v "$1" >/dev/null 2>&1 || { log "missing: $1 ($2)"; exit 2; }
}

# A loopback UDP port that was free a moment ago.
free_udp_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something binds udp 127.0.0.1:$1.
wait_udp_bound() {
    local port=$1
    for _ in $(seq 150); do
        python3 -c "import socket,sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(('127.0.0.1', $port))
except OSError:
    sys.exit(0)
sys.exit(1)" && return 0
        sleep 0.1
    done
    log "nothing bound udp 127.0.0.1:$port"
    exit 1
}

# pn_start BINARY WORKDIR EGRESS_PORT [NAME=VALUE…]: starts `pnswitch serve` (fresh data directory, HTTP and SIP
# on free loopback ports, egress trunk 127.0.0.1:EGRESS_PORT, 127.0.0.1 trusted, RUST_LOG=error) with the extra
# environment; sets PN_PID, PN_HTTP (host:port), PN_SIP (host:port), PN_TOKEN.
pn_start() {
    local bin=$1 work=$2 egress=$3
    shift 3
    mkdir -p "$work/pnswitch-data"
    env RUST_LOG=error \
        PNSWITCH__SIP__B2BUA__EGRESS="[\"127.0.0.1:$egress\"]" \
        PNSWITCH__SIP__B2BUA__TRUSTED_PEERS='["127.0.0.1"]' \
        PNSWITCH__STORE__SYNCHRONOUS_FULL=false \
        "$@" \
        "$bin" serve --http-listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --data-dir "$work/pnswitch-data" \
        >"$work/pnswitch.stdout" 2>"$work/pnswitch.stderr" </dev/null &
    PN_PID=$!
    STARTED_PIDS+=("$PN_PID")
    PN_HTTP="" PN_SIP=""
    for _ in $(seq 300); do
        PN_HTTP=$(sed -n 's/^pnswitch: http listening on //p' "$work/pnswitch.stdout" | head -1)
        PN_SIP=$(sed -n 's/^pnswitch: sip listening on udp //p' "$work/pnswitch.stdout" | head -1)
        [ -n "$PN_HTTP" ] && [ -n "$PN_SIP" ] && break
        kill -0 "$PN_PID" 2>/dev/null || { log "pnswitch exited:"; cat "$work/pnswitch.stderr" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$PN_HTTP" ] && [ -n "$PN_SIP" ] || { log "pnswitch did not print its listening lines"; exit 1; }
    PN_TOKEN=$(cat "$work/pnswitch-data/admin.token")
    log "   pnswitch pid $PN_PID: http $PN_HTTP, sip $PN_SIP"
}

# pn_provision N CSV: N AXB bindings (A_i <-> B_i on X numbers, benches/load/driver.py's numbering) through the
# signed provisioning API; writes SIPp's injection file CSV (one "A_i;X_i;" line per binding).
pn_provision() {
    local n=$1 csv=$2
    python3 - "$PN_HTTP" "$PN_TOKEN" "$n" "$csv" <<'EOF'
import os
import sys
sys.path.insert(0, os.path.join(os.environ["HARNESS_ROOT"], "benches", "load"))
import driver
http, token, n, csv = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
host, port = http.rsplit(":", 1)
triples = driver.numbers(n)
driver.provision(driver.Api(host, int(port), token), triples)
with open(csv, "w") as f:
    f.write("SEQUENTIAL\n" + "".join(f"{a};{x};\n" for a, x, _ in triples))
EOF
}

# pn_metric SERIES: the value of one /metrics series as exposed (name and labels), or nothing.
pn_metric() {
    local text
    text=$(curl -s --max-time 2 "http://$PN_HTTP/metrics" || true)
    awk -v s="$1" '$1 == s { print $2; exit }' <<<"$text"
}

# pn_calls_ended CAUSE: calls that ended with stateCode CAUSE (pn_sip_calls_total, all outcomes); "" = all causes.
pn_calls_ended() {
    local text
    text=$(curl -s --max-time 2 "http://$PN_HTTP/metrics" || true)
    awk -v c="cause=\"$1\"" '$1 ~ /^pn_sip_calls_total\{/ && (c == "cause=\"\"" || index($1, c)) { n += $2 } END { print n + 0 }' <<<"$text"
}

# sipp_start DIR LOGNAME ARGS…: SIPp in the background (bounded by the caller's -m/-timeout); sets SIPP_PID.
# (Not for a command substitution: the PID must be recorded in this shell to be stopped on exit.)
sipp_start() {
    local dir=$1 name=$2
    shift 2
    (cd "$dir" && exec sipp -i 127.0.0.1 -bind_local -nostdin "$@" >/dev/null 2>"$name.stderr" </dev/null) &
    SIPP_PID=$!
    STARTED_PIDS+=("$SIPP_PID")
}

# The last value of column NAME of a SIPp -trace_stat file.
sipp_stat() {
    local file=$1 name=$2
    [ -f "$file" ] || { echo 0; return; }
    awk -F';' -v n="$name" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next } NF > 1 { v = $c } END { print (v == "" ? 0 : v) }' "$file"
}

# max and median of the numbers on stdin: "max median".
max_median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 0"; exit } print v[NR], v[int((NR + 1) / 2)] }'
}

export HARNESS_ROOT
