#!/usr/bin/env python3
"""Push benchmark: pnswitch at a fixed call rate with pushes to a local receiver vs without, interleaved.

Each run starts a fresh pnswitch (release build, fresh data directory, N AXB bindings), places `--rate` calls/s
for `--seconds` (SIPp UAC -> pnswitch -> SIPp UAS, 100 ms calls), and measures the switch's CPU time per call
(user+system of its process group over the step). With pushes on, the app's call-status and CDR URLs point at
`push-sink` (benches/src/bin/push_sink.rs), which answers 200 at once and counts what arrives; after the calls
the harness waits until every CDR arrived (0 lost: distinct icids = successful calls) and the outbox holds no
pending entry, then reports the CDR lag p50/p99 (arrival minus callEndTime, whole seconds: up to 1 s high) and the
switch's own lag histogram (pn_push_delivery_lag_seconds: from reading an entry to its 2xx). With pushes off,
`push.enabled = false`. Runs alternate off/on `--repeats` times; medians and the on/off CPU ratio are printed.

Everything is on 127.0.0.1, bounded in calls and time; every process started is stopped. Usually started by
benches/push/run.sh. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "load"))
import driver  # noqa: E402  (benches/load/driver.py: SIPp steps, pnswitch start, provisioning)

ROOT = Path(__file__).resolve().parents[2]


def http_json(addr: tuple[str, int], method: str, path: str, body: dict | None = None,
              headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*addr, timeout=10)
    conn.request(method, path, None if body is None else json.dumps(body),
                 {"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    return resp.status, resp.read().decode()


def metric(sw: driver.Pnswitch, name: str) -> dict[str, float]:
    """Every sample of metric family `name` (series text -> value)."""
    _, text = http_json(sw.http, "GET", "/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def histogram_quantile(sw: driver.Pnswitch, family: str, label: str, q: float) -> float | None:
    """The upper bound of the bucket holding quantile q of `family{label}` (Prometheus-style, no interpolation)."""
    buckets = []
    for series, value in metric(sw, family + "_bucket").items():
        if label in series:
            le = series.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), value))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return None
    target = q * buckets[-1][1]
    for le, count in buckets:
        if count >= target:
            return le
    return None


def start_sink(binary: Path, work: Path) -> tuple[subprocess.Popen, tuple[str, int]]:
    proc = subprocess.Popen([str(binary), "127.0.0.1:0"], stdout=subprocess.PIPE, text=True,
                            stderr=open(work / "sink.stderr", "wb"), start_new_session=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("push-sink listening on "):
        driver.stop(proc)
        raise SystemExit(f"push-sink did not start: {line!r}")
    host, port = line.rsplit(" ", 1)[1].rsplit(":", 1)
    return proc, (host, int(port))


def one_run(args, work: Path, label: str, pushes: bool, sink: tuple[str, int], triples, csv, uas_port) -> dict:
    run_dir = work / label
    run_dir.mkdir()
    env = {} if pushes else {"PNSWITCH__PUSH__ENABLED": "false"}
    sw = driver.Pnswitch(args.pnswitch, run_dir, uas_port, triples, env)
    try:
        if pushes:
            http_json(sink, "POST", "/reset")
            key = sw.app[0]
            sw.api.admin("PUT", f"/admin/v1/apps/{key}",
                         {"callStatusUrl": f"http://{sink[0]}:{sink[1]}/events",
                          "cdrUrl": f"http://{sink[0]}:{sink[1]}/cdr"})
        time.sleep(2.0)
        calls = args.rate * args.seconds
        step = driver.step(sw, uas_port, csv, run_dir, label, args.rate, calls, args.hold_ms,
                           args.seconds + 30)
        result = {"label": label, "pushes": pushes, **step}
        if pushes:
            deadline = time.monotonic() + args.drain_limit
            stats = {}
            while time.monotonic() < deadline:
                stats = json.loads(http_json(sink, "GET", "/stats")[1])
                pending = sum(metric(sw, "pn_store_outbox_pending ").values())
                if stats["distinct_icids"] >= step["successful"] and pending == 0:
                    break
                time.sleep(0.5)
            result["sink"] = stats
            result["drained_s"] = round(args.drain_limit - (deadline - time.monotonic()), 1)
            result["pending_after"] = sum(metric(sw, "pn_store_outbox_pending ").values())
            result["dead_letters"] = sum(metric(sw, "pn_push_dead_letters ").values())
            result["lost_cdrs"] = step["successful"] - stats.get("distinct_icids", 0)
            result["switch_lag_p50_s"] = histogram_quantile(sw, "pn_push_delivery_lag_seconds", 'kind="cdr"', 0.5)
            result["switch_lag_p99_s"] = histogram_quantile(sw, "pn_push_delivery_lag_seconds", 'kind="cdr"', 0.99)
            result["switch_event_lag_p99_s"] = histogram_quantile(
                sw, "pn_push_delivery_lag_seconds", 'kind="event"', 0.99)
            driver.log(f"      pushes: {stats.get('event_total')} events, {stats.get('cdrs')} CDRs in "
                       f"{stats.get('cdr_pushes')} pushes, {result['lost_cdrs']} lost, "
                       f"CDR lag p50 {stats.get('cdr_lag_ms_p50')} ms p99 {stats.get('cdr_lag_ms_p99')} ms "
                       f"(sink, whole-second callEndTime); switch lag p50 <= {result['switch_lag_p50_s']} s "
                       f"p99 <= {result['switch_lag_p99_s']} s; pending {result['pending_after']}, "
                       f"dead {result['dead_letters']}")
        if args.keep:
            (run_dir / "metrics.txt").write_text(http_json(sw.http, "GET", "/metrics")[1])
        return result
    finally:
        sw.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pnswitch", type=Path, default=ROOT / "target" / "release" / "pnswitch")
    p.add_argument("--sink", type=Path, default=ROOT / "target" / "release" / "push-sink")
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--hold-ms", type=int, default=100)
    p.add_argument("--bindings", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--drain-limit", type=float, default=120.0, help="longest wait for every CDR after a run (s)")
    p.add_argument("--json", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the scratch directory and each run's final /metrics")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pn-push-bench-"))
    triples = driver.numbers(args.bindings)
    csv = work / "calls.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{a};{x};\n" for a, x, _ in triples))
    uas_port = driver.free_udp_port()
    driver.log(f"== scratch {work}; {os.cpu_count()} CPUs; {args.rate} calls/s x {args.seconds} s, "
               f"{args.hold_ms} ms calls, {args.repeats} x (off, on)")
    sink_proc, sink = start_sink(args.sink, work)
    runs = []
    try:
        for i in range(args.repeats):
            for pushes in (False, True):
                runs.append(one_run(args, work, f"{'on' if pushes else 'off'}-{i + 1}", pushes, sink, triples,
                                    csv, uas_port))
    finally:
        sink_cpu = driver.cpu_seconds(sink_proc.pid)
        driver.stop(sink_proc)

    def med(key: str, pushes: bool):
        values = [r[key] for r in runs if r["pushes"] == pushes and r.get(key) is not None]
        return statistics.median(values) if values else None

    off, on = med("cpu_us_per_call", False), med("cpu_us_per_call", True)
    summary = {
        "rate": args.rate, "seconds": args.seconds, "repeats": args.repeats,
        "cpu_us_per_call_off": off, "cpu_us_per_call_on": on,
        "cpu_ratio_on_off": round(on / off, 3) if on and off else None,
        "successful_off": med("successful", False), "successful_on": med("successful", True),
        "failed_off": med("failed", False), "failed_on": med("failed", True),
        "lost_cdrs_max": max((r.get("lost_cdrs", 0) for r in runs), default=None),
        "sink_lag_ms_p50": statistics.median([r["sink"]["cdr_lag_ms_p50"] for r in runs if r.get("sink")]),
        "sink_lag_ms_p99": statistics.median([r["sink"]["cdr_lag_ms_p99"] for r in runs if r.get("sink")]),
        "switch_lag_p99_s": med("switch_lag_p99_s", True),
        "sink_cpu_s_total": round(sink_cpu, 1),
    }
    driver.log("\n== summary (medians of the runs; SIPp UAC, UAS, push-sink and pnswitch share the CPUs)")
    for k, v in summary.items():
        driver.log(f"   {k}: {v}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2, default=str))
        driver.log(f"   results written to {args.json}")
    import shutil
    if args.keep:
        driver.log(f"== kept {work} (each run's final /metrics in <run>/metrics.txt)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
