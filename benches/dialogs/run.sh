#!/usr/bin/env bash
# Calls left active after a lossy overload (issue 8, item 10). pnswitch in bypass mode; a burst of AXB calls from a
# SIPp UAC (A, answers everything and waits for the switch's BYE) to a SIPp UAS (B, sip-fixtures/sipp/uas_bye_lost.xml)
# that hangs up after --hold-ms with a BYE lost --lost % of the time (sent once, never retransmitted): the switch
# never hears of those hang-ups. Then it samples pn_sip_active_calls every second until it reaches 0 or --limit
# seconds have passed, and prints the calls still active at the end of the burst, how long they took to be released
# and how many are left. Before dead-dialog detection they stayed active for ever (no CDR); with it each is found by
# the switch's in-dialog OPTIONS probe (B no longer answers for that dialog: Timer F) and released with 7506.
#
#   benches/dialogs/run.sh                                  # 2000 calls at 200 calls/s, 20 % BYEs lost, release build
#   benches/dialogs/run.sh --pnswitch /tmp/old/pnswitch     # the same against another binary (before/after)
#   benches/dialogs/run.sh --calls 40 --rate 20 --probe-secs 2 --t1-ms 100 --limit 30   # a small check
# Options: --pnswitch BIN (default target/release/pnswitch, built if missing), --calls N (2000), --rate CPS (200),
# --hold-ms MS (1000), --lost PCT (20), --limit S (180), --probe-secs S and --t1-ms MS (set
# [sip.b2bua] dialog_probe_secs / t1_ms; default: the binary's defaults, 60 s and 500 ms; a binary without
# dialog probes refuses the key), --bindings N (1000), --keep.
# Bounded: SIPp places --calls calls; both SIPp have a -timeout; sampling stops at --limit; every process started here
# is stopped on exit. Everything on 127.0.0.1. Not part of tests/run-all.sh. See docs/benchmarks.md.
set -euo pipefail
source "$(dirname "$0")/../load/harness.sh"
cd "$HARNESS_ROOT"

bin="" calls=2000 rate=200 hold_ms=1000 lost=20 limit=180 probe_secs="" t1_ms="" bindings=1000 keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --pnswitch) bin=$2; shift 2 ;;
        --calls) calls=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --hold-ms) hold_ms=$2; shift 2 ;;
        --lost) lost=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --probe-secs) probe_secs=$2; shift 2 ;;
        --t1-ms) t1_ms=$2; shift 2 ;;
        --bindings) bindings=$2; shift 2 ;;
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

work=$(mktemp -d /tmp/pn-dialogs-XXXXXX)
[ "$keep" = 1 ] || trap 'harness_cleanup; rm -rf "$work"' EXIT
burst_s=$(((calls + rate - 1) / rate))
log "== scratch $work; $(nproc) CPUs; $bin; $calls calls at $rate calls/s, ${hold_ms} ms each, $lost % of B's BYEs lost"

# B: its BYE lost $lost % of the time. No -aa: a call B has ended gets no answer to the switch's probes.
sed "s/<send lost=\"20\">/<send lost=\"$lost\">/" "$SCENARIOS/uas_bye_lost.xml" >"$work/uas_bye_lost.xml"
uas_port=$(free_udp_port)
sipp_start "$work" uas -sf "$work/uas_bye_lost.xml" -p "$uas_port" -m "$calls" -d "$hold_ms" \
    -timeout $((burst_s + limit + 30)) -trace_stat -fd 1 -stf uas_stat.csv
wait_udp_bound "$uas_port"
env=(PNSWITCH__MEDIA__MODE=bypass)
[ -n "$probe_secs" ] && env+=(PNSWITCH__SIP__B2BUA__DIALOG_PROBE_SECS="$probe_secs")
[ -n "$t1_ms" ] && env+=(PNSWITCH__SIP__B2BUA__T1_MS="$t1_ms")
pn_start "$bin" "$work" "$uas_port" "${env[@]}"
pn_provision "$bindings" "$work/calls.csv"

# A: waits for the BYE (B's relayed, or the switch's own) and answers the probes (-aa).
uac_port=$(free_udp_port)
sipp_start "$work" uac -sf "$SCENARIOS/uac_wait_bye.xml" -aa -p "$uac_port" -m "$calls" -r "$rate" \
    -timeout $((burst_s + limit + 20)) -inf "$work/calls.csv" -trace_stat -fd 1 -stf uac_stat.csv "$PN_SIP"

# The burst: wait until every call was placed and every BYE B sent has had time to arrive.
sleep $((burst_s + hold_ms / 1000 + 3))
start=$(date +%s)
active_after_burst=$(pn_metric pn_sip_active_calls)
echo "t_s;active_calls" >"$work/samples.csv"
released_at=""
while :; do
    t=$(($(date +%s) - start))
    active=$(pn_metric pn_sip_active_calls)
    echo "$t;${active:-?}" >>"$work/samples.csv"
    if [ "${active:-1}" = 0 ]; then
        released_at=$t
        break
    fi
    [ "$t" -ge "$limit" ] && break
    if [ $((t % 10)) = 0 ]; then log "   +${t} s: $active call(s) active"; fi
    sleep 1
done
active_end=$(pn_metric pn_sip_active_calls)
dead_b=$(pn_calls_ended 7506)
normal=$(pn_calls_ended 0)
cdrs=$(pn_calls_ended "")
a_created=$(sipp_stat "$work/uac_stat.csv" TotalCallCreated)

echo
echo "== calls left active after a lossy burst: $calls calls at $rate calls/s, ${hold_ms} ms, $lost % of B's BYEs lost"
echo "   probe interval / T1                    ${probe_secs:-binary default} s / ${t1_ms:-binary default} ms"
echo "   calls placed (A)                       $a_created"
echo "   active right after the burst           ${active_after_burst:-?}"
if [ -n "$released_at" ]; then
    echo "   all released after                     ${released_at} s"
else
    echo "   still active after ${limit} s             ${active_end:-?}"
fi
echo "   ended calls: total / normal / 7506     $cdrs / $normal / $dead_b   (pn_sip_calls_total; one CDR each)"
[ "$keep" = 1 ] && echo "   files kept in $work (samples.csv)"
exit 0
