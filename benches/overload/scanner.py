#!/usr/bin/env python3
"""Scanner harness (issue 11): a flood of calls from distinct callers, and what it does to pnswitch's memory.

An AX app (anyone who dials X reaches A) with a per-caller frequency limit (2 calls per minute, cause 8047), so
every call the switch admits writes a counter for a caller it has never seen. A SIPp UAC places `--calls` calls,
each from a different caller (a CSV of distinct +8613… numbers), at `--rate` calls/s with the
`uac_answer_or_refusal` scenario (answered calls last `--hold-ms`; a 503 is ACKed); a SIPp UAS answers as A.

It reports the calls SIPp placed and the rate it reached, answered / refused calls by cause, SIPp timeouts, and
the switch's RSS: before, peak (sampled every 0.5 s), right after, and after `--idle` seconds. Memory must stay
within a bound whatever the number of distinct callers: the counters are a fixed table (16 MiB), refused calls
hold nothing, admitted calls are released when they end.

Everything runs on 127.0.0.1, bounded in calls and time; every process started is stopped.
Run: python3 benches/overload/scanner.py --pnswitch target/release/pnswitch (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "load"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402
from run import metric  # noqa: E402

AX_PATH = "/rest/provision/caas/privatenumber/v1.0"
X = "+8617099990001"
A = "+8613999990001"


def rust_scanner(args, sw, report: dict, started: float, answered_before: float, peak: list,
                 done: threading.Event) -> None:
    """Runs sip-scanner against the switch and fills `report` as the SIPp path does."""
    import subprocess
    out = subprocess.run([str(args.scanner), "--target", sw.target, "--x", X, "--calls", str(args.calls),
                          "--rate", str(args.rate), "--linger", "5"],
                         capture_output=True, text=True, timeout=args.limit + 60, check=True)
    elapsed = time.monotonic() - started
    done.set()
    scan = json.loads(out.stdout)
    report.update({
        "generator": "sip-scanner", "placed": scan["sent"], "elapsed_s": round(elapsed, 1),
        "placed_per_s": scan["sent_per_s"], "sending_s": scan["sending_secs"], "finals": scan["finals"],
        "no_final": scan["no_final"], "byes_answered": scan["byes_answered"],
        "requests_from_switch": scan["requests"], "unexpected": scan["unexpected"],
        "datagrams": scan["datagrams"], "last_datagram_s": scan["last_datagram_secs"],
        "answered": int(metric(sw, "pn_sip_calls_total", 'outcome="answered"') - answered_before),
        "refused_overload": int(metric(sw, "pn_sip_overload_refusals_total")),
        "refused_8047": int(metric(sw, "pn_route_lookups_total", 'outcome="8047"')),
        "rss_peak_mib": peak[0] // 1024, "rss_after_mib": driver.rss_kib(sw.proc.pid) // 1024,
    })


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pnswitch", type=Path, default=driver.ROOT / "target" / "release" / "pnswitch")
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--rate", type=int, default=16_667, help="offered calls/s (1M in 60 s: 16,667)")
    p.add_argument("--hold-ms", type=int, default=100)
    p.add_argument("--limit", type=int, default=120, help="SIPp -timeout, seconds")
    p.add_argument("--idle", type=float, default=30.0)
    p.add_argument("--json", type=Path)
    p.add_argument("--generator", choices=["sipp", "rust"], default="sipp",
                   help="who places the calls: SIPp (uac_answer_or_refusal, tops out near 8,000/s here) or "
                        "sip-scanner (benches/src/bin/sip_scanner.rs: one INVITE per caller, never retransmitted)")
    p.add_argument("--scanner", type=Path, default=driver.ROOT / "target" / "release" / "sip-scanner")
    p.add_argument("--sipp-instances", type=int, default=1,
                   help="SIPp UACs placing the calls together (each a share of the callers and of the rate)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pn-scanner-"))
    uas_port = driver.free_udp_port()
    # The AXB app of the load harness is not used: 10 bindings only, to start the switch the same way.
    sw = driver.Pnswitch(args.pnswitch, work, uas_port, driver.numbers(10))
    report: dict = {"calls": args.calls, "rate": args.rate}
    try:
        created = sw.api.admin("POST", "/admin/v1/apps", {"name": "scanner", "mode": "AX"})
        app_json = created.get("app", created)
        app = (app_json["appKey"], app_json["appSecret"])
        sw.api.admin("POST", "/admin/v1/numbers", {"appKey": app[0], "numbers": [{"number": X, "areaCode": "0755"}]})
        sw.api.signed("POST", AX_PATH, app, {"origNum": A, "privateNum": X})
        sw.api.admin("PUT", f"/admin/v1/apps/{app[0]}/controls",
                     {"limits": [{"key": "caller", "windowSecs": 60, "max": 2}]})
        n = max(1, args.sipp_instances)
        csvs = [work / f"scanner{k}.csv" for k in range(n)]
        files = [c.open("w") for c in csvs]
        for f in files:
            f.write("SEQUENTIAL\n")
        for i in range(args.calls):
            files[i % n].write(f"+8613{100000000 + i:09d};{X};\n")
        for f in files:
            f.close()
        d = work / "sipp"
        d.mkdir()
        uas = driver.sipp(["-sf", str(driver.SCENARIOS / "uas_load.xml"), "-aa", "-i", "127.0.0.1", "-bind_local",
                           "-p", str(uas_port), "-nostdin", "-buff_size", str(4 << 20),
                           "-timeout", str(args.limit + 20)], d, "uas.stderr")
        driver.wait_bound(uas_port, "sipp uas")
        report["rss_before_mib"] = driver.rss_kib(sw.proc.pid) // 1024
        answered_before = metric(sw, "pn_sip_calls_total", 'outcome="answered"')
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.5):
                peak[0] = max(peak[0], driver.rss_kib(sw.proc.pid))

        threading.Thread(target=sample, daemon=True).start()
        started = time.monotonic()
        if args.generator == "rust":
            rust_scanner(args, sw, report, started, answered_before, peak, done)
            driver.stop(uas)
        else:
            uacs = [driver.sipp(["-sf", str(driver.SCENARIOS / "uac_answer_or_refusal.xml"), "-aa", "-i",
                                 "127.0.0.1", "-bind_local", "-p", str(driver.free_udp_port()), "-nostdin",
                                 "-buff_size", str(4 << 20), "-m", str(args.calls // n + (k < args.calls % n)),
                                 "-r", str(args.rate // n), "-d", str(args.hold_ms), "-timeout", str(args.limit),
                                 "-inf", str(csvs[k]), "-trace_stat", "-fd", "1", "-stf", f"uac{k}_stat.csv",
                                 sw.target], d, f"uac{k}.stderr")
                    for k in range(n)]
            for uac in uacs:
                try:
                    uac.wait(max(1.0, args.limit + 20 - (time.monotonic() - started)))
                except Exception:  # noqa: BLE001
                    driver.stop(uac)
            elapsed = time.monotonic() - started
            done.set()
            driver.stop(uas)
            stats = [driver.read_stats(d / f"uac{k}_stat.csv") for k in range(n)]
            placed = sum(st.get("TotalCallCreated", 0) for st in stats)
            report.update({
                "placed": placed, "elapsed_s": round(elapsed, 1), "placed_per_s": round(placed / elapsed),
                "sipp_instances": n, "timeouts": sum(st.get("FailedCall(C)", 0) for st in stats),
                "answered": int(metric(sw, "pn_sip_calls_total", 'outcome="answered"') - answered_before),
                "refused_overload": int(metric(sw, "pn_sip_overload_refusals_total")),
                "refused_8047": int(metric(sw, "pn_route_lookups_total", 'outcome="8047"')),
                "rss_peak_mib": peak[0] // 1024, "rss_after_mib": driver.rss_kib(sw.proc.pid) // 1024,
            })
        time.sleep(args.idle)
        report["rss_idle_mib"] = driver.rss_kib(sw.proc.pid) // 1024
    finally:
        sw.close()
    driver.log(json.dumps(report, indent=2))
    return driver.finish(report, args.json, work)


if __name__ == "__main__":
    sys.exit(main())
