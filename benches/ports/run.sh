#!/usr/bin/env bash
# Relay port pool under load (issue 8, item 9): ports bound vs live calls. Drives short relayed AXB calls through
# pnswitch ([media] mode = "relay") with SIPp at --rate calls/s for --seconds, and every 100 ms samples
#   - the UDP ports of the relay range that are bound (/proc/net/udp and udp6, local port in the range),
#   - the live calls (pn_sip_active_calls) and open relays (pn_media_relays),
# then prints max and median of each, the failed calls (SIPp), the relays whose ports could not be bound
# (pn_media_events_total{kind="open_failed"}) and the calls refused with 7508. A healthy pool holds about four
# ports per live call; before the fix ports stayed bound after their call ended, and calls failed with
# "Address already in use" (503 / 7508).
#
#   benches/ports/run.sh                                   # 2000 calls/s for 10 s, range 30000-30999, release build
#   benches/ports/run.sh --pnswitch /tmp/old/pnswitch      # the same against another binary (before/after)
#   benches/ports/run.sh --rate 50 --seconds 3             # a small check
# Options: --pnswitch BIN (default target/release/pnswitch, built if missing), --rate CPS (2000), --seconds S (10),
# --hold-ms MS (call length, 20), --port-min P (30000), --port-max P (30999), --shards N (binary default),
# --bindings N (1000), --csv FILE (keep the samples), --keep (keep the scratch directory).
# Bounded: SIPp places rate x seconds calls with -timeout seconds + 30; the sampler stops with it (plus 5 s to drain);
# every process started here is stopped on exit. Everything on 127.0.0.1. Not part of tests/run-all.sh: run it
# alone (figures taken while other programs compete for the CPUs are void). See docs/benchmarks.md.
set -euo pipefail
source "$(dirname "$0")/../load/harness.sh"
cd "$HARNESS_ROOT"

bin="" rate=2000 seconds=10 hold_ms=20 port_min=30000 port_max=30999 shards="" bindings=1000 csv_out="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --pnswitch) bin=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --hold-ms) hold_ms=$2; shift 2 ;;
        --port-min) port_min=$2; shift 2 ;;
        --port-max) port_max=$2; shift 2 ;;
        --shards) shards=$2; shift 2 ;;
        --bindings) bindings=$2; shift 2 ;;
        --csv) csv_out=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) log "unknown option $1 (see --help)"; exit 2 ;;
    esac
done
need sipp "apt-get install sip-tester"
need curl "apt-get install curl"
need python3 "apt-get install python3"
if [ -z "$bin" ]; then
    bin=target/release/pnswitch
    [ -x "$bin" ] || cargo build --release --locked -p pnswitch
fi

work=$(mktemp -d /tmp/pn-ports-XXXXXX)
[ "$keep" = 1 ] || trap 'harness_cleanup; rm -rf "$work"' EXIT
calls=$((rate * seconds))
log "== scratch $work; $(nproc) CPUs; $bin; $rate calls/s x ${seconds} s = $calls calls of ${hold_ms} ms; relay ports $port_min-$port_max"

uas_port=$(free_udp_port)
sipp_start "$work" uas -sf "$SCENARIOS/uas_load.xml" -aa -p "$uas_port" -timeout $((seconds + 60)) \
    -trace_stat -fd 1 -stf uas_stat.csv
wait_udp_bound "$uas_port"
env=(PNSWITCH__MEDIA__MODE=relay PNSWITCH__MEDIA__PORT_MIN="$port_min" PNSWITCH__MEDIA__PORT_MAX="$port_max")
[ -n "$shards" ] && env+=(PNSWITCH__SIP__SHARDS="$shards")
pn_start "$bin" "$work" "$uas_port" "${env[@]}"
pn_provision "$bindings" "$work/calls.csv"

# The range's ports in /proc/net/udp's notation (4 hex digits, fixed width: compared as strings).
lo=$(printf '%04X' "$port_min")
hi=$(printf '%04X' "$port_max")
bound_ports() {
    cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v lo="x$lo" -v hi="x$hi" '
        NR > 1 && $2 ~ /:/ { p = "x" substr($2, index($2, ":") + 1); if (p >= lo && p <= hi) n++ }
        END { print n + 0 }'
}
before=$(bound_ports)
[ "$before" = 0 ] || log "   note: $before port(s) of the range were bound before any call (another program?)"

uac_port=$(free_udp_port)
sipp_start "$work" uac -sf "$SCENARIOS/uac_basic.xml" -p "$uac_port" -m "$calls" -r "$rate" -d "$hold_ms" \
    -timeout $((seconds + 30)) -inf "$work/calls.csv" -trace_stat -fd 1 -stf uac_stat.csv "$PN_SIP"
uac=$SIPP_PID
samples="$work/samples.csv"
echo "t_ms;bound_ports;active_calls;relays;phase" >"$samples"
start=$(date +%s%N)
drain_until=0
next_ms=0
while :; do
    now=$(date +%s%N)
    t_ms=$(((now - start) / 1000000))
    metrics=$(curl -s --max-time 1 "http://$PN_HTTP/metrics" || true)
    active=$(awk '$1 == "pn_sip_active_calls" { print $2 }' <<<"$metrics")
    relays=$(awk '$1 == "pn_media_relays" { print $2 }' <<<"$metrics")
    phase=load
    kill -0 "$uac" 2>/dev/null || phase=drain
    echo "$t_ms;$(bound_ports);${active:-0};${relays:-0};$phase" >>"$samples"
    if [ "$phase" = drain ]; then
        [ "$drain_until" = 0 ] && drain_until=$((t_ms + 5000))
        [ "$t_ms" -ge "$drain_until" ] && break
    fi
    [ "$t_ms" -ge $(((seconds + 40) * 1000)) ] && break
    # The next sample 100 ms after the last one was due (a sample itself takes a few ms).
    next_ms=$((next_ms + 100))
    left=$((next_ms - ($(date +%s%N) - start) / 1000000))
    if [ "$left" -gt 0 ]; then sleep "0.$(printf '%03d' "$left")"; else next_ms=$((next_ms - left)); fi
done
[ -n "$csv_out" ] && cp "$samples" "$csv_out"

# Statistics over the samples taken while SIPp was placing calls (not the drain after it).
load_samples() { awk -F';' '$5 == "load"' "$samples"; }
read -r bound_max bound_median < <(load_samples | cut -d';' -f2 | max_median)
read -r active_max active_median < <(load_samples | cut -d';' -f3 | max_median)
read -r relays_max relays_median < <(load_samples | cut -d';' -f4 | max_median)
# Samples while calls were live: ports bound per live call.
read -r ratio_max ratio_median < <(load_samples | awk -F';' '$3 > 0 { printf "%.1f\n", $2 / $3 }' | max_median)
created=$(sipp_stat "$work/uac_stat.csv" TotalCallCreated)
ok=$(sipp_stat "$work/uac_stat.csv" 'SuccessfulCall(C)')
failed=$(sipp_stat "$work/uac_stat.csv" 'FailedCall(C)')
open_failed=$(pn_metric 'pn_media_events_total{kind="open_failed"}')
refused=$(pn_calls_ended 7508)
after=$(bound_ports)
range=$((port_max - port_min + 1))

echo
echo "== relay ports vs live calls: $rate calls/s x ${seconds} s, ${hold_ms} ms calls, $range ports ($port_min-$port_max)"
echo "   samples (every 100 ms)          $(load_samples | wc -l) while calls were placed, then a 5 s drain"
echo "   ports bound        max / median  $bound_max / $bound_median   (of $range)"
echo "   live calls         max / median  $active_max / $active_median"
echo "   open relays        max / median  $relays_max / $relays_median"
echo "   ports per live call max / median  $ratio_max / $ratio_median   (4 = the call's two RTP/RTCP pairs)"
echo "   calls placed / ok / failed      $created / $ok / $failed"
echo "   relays not opened (open_failed) ${open_failed:-0}"
echo "   calls ended with 7508           $refused"
echo "   ports still bound at the end    $after"
[ "$keep" = 1 ] && echo "   files kept in $work"
exit 0
