#!/usr/bin/env python3
"""Overload harness (issue 11): pnswitch offered up to 3x its capacity by SIPp on the same machine.

Steps of a fixed length at multiples of a capacity figure (`--capacity`, calls/s: what the load harness
benches/load measured as the highest rate with < 0.1 % failed calls). Each step runs a fresh SIPp UAS (B) and a
SIPp UAC placing calls A -> X with `uac_answer_or_refusal` (a 503 is ACKed and ends the call), and reports:
- offered and answered calls/s: goodput is the switch's answered calls per second of the step
  (`pn_sip_calls_total{outcome="answered"}`), also as a share of the capacity;
- refused: 503s with Retry-After the switch sent (`pn_sip_overload_refusals_total`, by where);
- timeouts: SIPp calls that ended with neither an answer nor a 503 (SIPp's failed calls), and
  retransmissions;
- the switch's RSS: peak during the step (sampled every 0.5 s) and after it.
After the last step, the recovery check: 2 s after the load stopped, 200 calls at 100/s must all be answered
(the switch serves normally again). Then the switch idles `--idle` seconds and its RSS is read again.

Everything runs on 127.0.0.1; every step is bounded in calls and time; every process started is stopped.
Run: benches/overload/run.sh --capacity 2400 (builds the release binary first); see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "load"))
import driver  # noqa: E402  (the load harness: SIPp, pnswitch start-up, provisioning, /proc readers)


def metric(sw: driver.Pnswitch, name: str, label: str = "") -> float:
    """The sum of the series of metric `name` whose labels contain `label` (e.g. 'outcome="answered"')."""
    try:
        conn = driver.http.client.HTTPConnection(*sw.http, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and label in line:
            total += float(line.split()[-1])
    return total


def histogram(sw: driver.Pnswitch, name: str) -> list[tuple[float, float]]:
    """The cumulative buckets (le, count) of histogram `name`."""
    try:
        conn = driver.http.client.HTTPConnection(*sw.http, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return out


def delay_quantile(before: list, after: list, q: float) -> float | None:
    """The upper bound (s) of the bucket holding quantile `q` of the observations between two scrapes."""
    if not before or not after:
        return None
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = counts[-1][1]
    if total <= 0:
        return None
    for le, c in counts:
        if c >= q * total:
            return le
    return counts[-1][0]


# SIPp's socket buffers (-buff_size, bytes): at 3x the switch's capacity SIPp itself is short of CPU on this
# 2-core box, and with the default 208 KiB its own sockets drop answers the switch did send (counted per socket
# in `udp_drops`). Capped by net.core.rmem_max / wmem_max.
SIPP_BUFFER = 4 * 1024 * 1024


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on the 127.0.0.1 UDP sockets bound to `port` (receive buffer full), from the
    `drops` column of /proc/net/udp: where a lost answer or request was lost."""
    want = f"0100007F:{port:04X}"
    total = 0
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        fields = line.split()
        if len(fields) >= 13 and fields[1] == want:
            total += int(fields[12])
    return total


def refusals_by_place(sw: driver.Pnswitch) -> dict:
    return {at: metric(sw, "pn_sip_overload_refusals_total", f'at="{at}"') for at in ("shard", "behind", "queue_full")}


def run_step(sw: driver.Pnswitch, uas_port: int, csv: Path, work: Path, label: str, rate: int, seconds: float,
             hold_ms: int) -> dict:
    d = work / f"step-{label}"
    d.mkdir(parents=True, exist_ok=True)
    calls = max(1, int(rate * seconds))
    limit_s = int(seconds * 2 + 20)
    uas = driver.sipp(["-sf", str(driver.SCENARIOS / "uas_load.xml"), "-aa", "-i", "127.0.0.1", "-bind_local",
                       "-p", str(uas_port), "-nostdin", "-buff_size", str(SIPP_BUFFER), "-timeout", str(limit_s + 15), "-trace_stat", "-fd", "1",
                       "-stf", "uas_stat.csv"], d, "uas.stderr")
    driver.wait_bound(uas_port, "sipp uas")
    answered_before = metric(sw, "pn_sip_calls_total", 'outcome="answered"')
    refused_before = refusals_by_place(sw)
    delays_before = histogram(sw, "pn_sip_queue_delay_seconds")
    cpu_before = driver.cpu_seconds(sw.proc.pid)
    switch_port = int(sw.target.rsplit(":", 1)[1])
    switch_drops_before = udp_drops(switch_port)
    uac_port = driver.free_udp_port()
    uac_drops = [0]
    uas_drops = [0]
    peak = [driver.rss_kib(sw.proc.pid)]
    depth = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], driver.rss_kib(sw.proc.pid))
            depth[0] = max(depth[0], metric(sw, "pn_sip_queue_depth"))
            # SIPp's sockets close when it exits: keep the last count seen.
            uac_drops[0] = max(uac_drops[0], udp_drops(uac_port))
            uas_drops[0] = max(uas_drops[0], udp_drops(uas_port))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    uac = driver.sipp(["-sf", str(driver.SCENARIOS / "uac_answer_or_refusal.xml"), "-aa", "-i", "127.0.0.1",
                       "-bind_local", "-p", str(uac_port), "-nostdin", "-buff_size", str(SIPP_BUFFER), "-m", str(calls), "-r", str(rate),
                       "-d", str(hold_ms), "-timeout", str(limit_s), "-inf", str(csv), "-trace_stat", "-fd", "1",
                       "-stf", "uac_stat.csv", sw.target], d, "uac.stderr")
    try:
        uac.wait(limit_s + 15)
    except Exception:  # noqa: BLE001  (a SIPp that overran its own timeout is stopped and counted)
        driver.stop(uac)
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    cpu = driver.cpu_seconds(sw.proc.pid) - cpu_before
    driver.stop(uas)
    stats = driver.read_stats(d / "uac_stat.csv")
    answered = metric(sw, "pn_sip_calls_total", 'outcome="answered"') - answered_before
    delays_after = histogram(sw, "pn_sip_queue_delay_seconds")
    refused_after = refusals_by_place(sw)
    refused = {k: int(refused_after[k] - refused_before[k]) for k in refused_after}
    created = stats.get("TotalCallCreated", 0)
    failed = stats.get("FailedCall(C)", 0) + max(0, calls - created)
    # The calls were offered over `calls / rate` seconds (SIPp's own pace: the offered rate it reached).
    offered_s = max(calls / rate, 1e-9)
    result = {
        "label": label, "rate": rate, "calls": calls, "created": created, "elapsed_s": round(elapsed, 1),
        "answered": int(answered), "goodput_cps": round(answered / offered_s),
        "refused_503": refused, "timeouts": failed, "retransmissions": stats.get("Retransmissions(C)"),
        "cpu_s": round(cpu, 2), "cpu_share": round(cpu / max(elapsed, 1e-9), 2),
        "queue_delay_p50_s": delay_quantile(delays_before, delays_after, 0.5),
        "queue_delay_p99_s": delay_quantile(delays_before, delays_after, 0.99),
        "queue_depth_max": int(depth[0]),
        "rss_peak_mib": peak[0] // 1024,
        "rss_after_mib": driver.rss_kib(sw.proc.pid) // 1024,
        # Datagrams the kernel dropped for a full receive buffer, by socket (SIPp's counts as last sampled).
        "udp_drops": {"switch": udp_drops(switch_port) - switch_drops_before, "uac": uac_drops[0],
                      "uas": uas_drops[0]},
    }
    driver.log(f"   {label:>6}: offered {rate:5} cps x {calls} -> answered {int(answered)} "
               f"({result['goodput_cps']} cps), 503 {sum(refused.values())} {refused}, timeouts {failed}, "
               f"retrans {result['retransmissions']}, {elapsed:.1f} s, RSS peak {result['rss_peak_mib']} MiB, "
               f"after {result['rss_after_mib']} MiB; signals: cpu {result['cpu_share']} cores, queue delay "
               f"p50 <= {result['queue_delay_p50_s']} s p99 <= {result['queue_delay_p99_s']} s, "
               f"depth max {result['queue_depth_max']}; UDP drops {result['udp_drops']}")
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pnswitch", type=Path, default=driver.ROOT / "target" / "release" / "pnswitch")
    p.add_argument("--capacity", type=int, required=True, help="calls/s the switch completes with < 0.1%% failed")
    p.add_argument("--multiples", default="1,1.5,2,3", help="offered rates as multiples of the capacity")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each step (default 10)")
    p.add_argument("--hold-ms", type=int, default=100, help="call duration (default 100)")
    p.add_argument("--bindings", type=int, default=10000)
    p.add_argument("--idle", type=float, default=60.0, help="seconds idle before the last RSS reading")
    p.add_argument("--no-protection", action="store_true",
                   help="turn the queue-delay refusal off (to compare the overload signals against failures)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment override for pnswitch (e.g. PNSWITCH__SIP__UDP_RECV_BUFFER_KIB=0); repeatable")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pn-overload-"))
    triples = driver.numbers(args.bindings)
    csv = work / "calls.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{a};{x};\n" for a, x, _ in triples))
    uas_port = driver.free_udp_port()
    report: dict = {"capacity": args.capacity, "seconds": args.seconds, "hold_ms": args.hold_ms, "steps": []}
    env = {"PNSWITCH__SIP__OVERLOAD_QUEUE_DELAY_MS": "600000"} if args.no_protection else {}
    env.update(kv.split("=", 1) for kv in args.env)
    report["protection"] = not args.no_protection
    sw = driver.Pnswitch(args.pnswitch, work, uas_port, triples, env)
    try:
        report["rss_start_mib"] = driver.rss_kib(sw.proc.pid) // 1024
        driver.log(f"== pnswitch up, RSS {report['rss_start_mib']} MiB; capacity {args.capacity} cps")
        for m in (float(x) for x in args.multiples.split(",")):
            rate = int(args.capacity * m)
            r = run_step(sw, uas_port, csv, work, f"{m:g}x", rate, args.seconds, args.hold_ms)
            r["multiple"] = m
            r["goodput_share"] = round(r["goodput_cps"] / args.capacity, 3)
            report["steps"].append(r)
            time.sleep(2.0)
        # Recovery: 2 s after the last step, normal calls again.
        rec = run_step(sw, uas_port, csv, work, "after", 100, 2.0, args.hold_ms)
        rec["all_answered"] = rec["answered"] == rec["calls"] and rec["timeouts"] == 0 \
            and sum(rec["refused_503"].values()) == 0
        report["recovery"] = rec
        driver.log(f"   recovery 2 s after the load: {rec['answered']} of {rec['calls']} answered "
                   f"({'ok' if rec['all_answered'] else 'NOT all answered'})")
        time.sleep(args.idle)
        report["rss_idle_mib"] = driver.rss_kib(sw.proc.pid) // 1024
        driver.log(f"   RSS after {args.idle:.0f} s idle: {report['rss_idle_mib']} MiB")
    finally:
        sw.close()
    driver.log("\n   multiple  offered  goodput  share  503s   timeouts  RSS peak  cpu  delay p99  depth")
    for s in report["steps"]:
        driver.log(f"   {s['multiple']:>8g} {s['rate']:>8} {s['goodput_cps']:>8} {s['goodput_share']:>6.2f} "
                   f"{sum(s['refused_503'].values()):>6} {s['timeouts']:>9} {s['rss_peak_mib']:>6} MiB "
                   f"{s['cpu_share']:>4} {s['queue_delay_p99_s']} {s['queue_depth_max']:>6}")
    return driver.finish(report, args.json, work)


if __name__ == "__main__":
    sys.exit(main())
