#!/usr/bin/env python3
"""Call routing on the shared store against the embedded one (issue 13: "lookup latency unchanged").

Two pnswitch nodes are started side by side on 127.0.0.1 with the same AXB pairs, media in bypass, each with
B behind it (a SIPp UAS): one on its embedded SQLite store, one with `[store] backend = "postgres"` on the
database `--postgres-url` names (an empty one: the tool provisions it). Then, for `--rounds` rounds, each node
in turn gets `--calls` calls at `--rate` calls/s (SIPp UAC, calls held `--hold-ms`). Reported per node and
round: the switch's own call setup p50/p99 (`pn_sip_setup_seconds`, the caller's INVITE to B's first answer,
the route decision included: interpolated within the histogram's buckets over the step, as Prometheus'
`histogram_quantile` does), SIPp's p50/p99 (INVITE -> 200, -trace_rtt, whole milliseconds) and CPU per 1,000
calls of the node's process; then the medians. A call routes from the node's own table in both cases, so the two
should match; a difference would be the shared store's cost on the call path (call facts written to
PostgreSQL instead of SQLite included).

Everything runs on 127.0.0.1, bounded in calls and time; every process started is stopped.
Run: python3 benches/load/lookup_shared.py --postgres-url postgres://postgres@127.0.0.1:55432/lookup
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402


SETUP_BUCKETS = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"]


def setup_buckets(node) -> list[float]:
    """The cumulative counts of `pn_sip_setup_seconds` per bucket bound."""
    return [node.metric_sum(f'pn_sip_setup_seconds_bucket{{le="{le}"}}') or 0.0 for le in SETUP_BUCKETS]


def quantile(q: float, before: list[float], after: list[float]) -> float | None:
    """`histogram_quantile` over the step's counts, in milliseconds."""
    counts = [a - b for a, b in zip(after, before)]
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    lower, prev = 0.0, 0.0
    for le, cum in zip(SETUP_BUCKETS, counts):
        if cum >= rank:
            if le == "+Inf":
                return float(SETUP_BUCKETS[-2]) * 1000
            upper = float(le)
            inside = cum - prev
            return round((lower + (upper - lower) * ((rank - prev) / inside if inside else 1.0)) * 1000, 3)
        lower, prev = float(le), cum
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pnswitch", type=Path, default=driver.ROOT / "target" / "release" / "pnswitch")
    p.add_argument("--postgres-url", required=True, help="an empty database the PostgreSQL node may use")
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--hold-ms", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bindings", type=int, default=10000)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pn-lookup-"))
    triples = driver.numbers(args.bindings)
    csv = work / "calls.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{a};{x};\n" for a, x, _ in triples))
    bypass = {"PNSWITCH__MEDIA__MODE": "bypass"}
    nodes = []
    report: dict = {}
    try:
        for name, env in (
            ("sqlite", bypass),
            ("postgres", {**bypass, "PNSWITCH__STORE__BACKEND": "postgres",
                          "PNSWITCH__STORE__URL": args.postgres_url}),
        ):
            port = driver.free_udp_port()
            d = work / name
            d.mkdir()
            node = driver.Pnswitch(args.pnswitch, d, port, triples, env)
            node.name = name
            nodes.append((node, port))
        limit = int(args.calls / args.rate * 2 + 30)
        rounds: dict[str, list[dict]] = {n.name: [] for n, _ in nodes}
        for r in range(args.rounds):
            for node, port in nodes:
                before = setup_buckets(node)
                res = driver.step(node, port, csv, work, f"{node.name}{r}", args.rate, args.calls, args.hold_ms,
                                  limit)
                after = setup_buckets(node)
                done = res["successful"]
                figure = {
                    "switch_setup_p50_ms": quantile(0.5, before, after),
                    "switch_setup_p99_ms": quantile(0.99, before, after),
                    "setup_p50_ms": res["setup_p50_ms"], "setup_p99_ms": res["setup_p99_ms"],
                    "cpu_ms_per_1000": round(res["cpu_s"] * 1000 / (done / 1000)) if done else None,
                    "successful": done, "failed": res["failed"],
                }
                driver.log(f"   {node.name} round {r}: {json.dumps(figure)}")
                rounds[node.name].append(figure)

        def median(name: str, key: str) -> float | None:
            values = [f[key] for f in rounds[name] if f[key] is not None and not f["failed"]]
            return statistics.median(values) if values else None

        report = {
            "rate": args.rate, "calls": args.calls, "hold_ms": args.hold_ms, "bindings": args.bindings,
            "rounds": rounds,
            "median": {n: {k: median(n, k) for k in ("switch_setup_p50_ms", "switch_setup_p99_ms",
                                                                 "setup_p50_ms", "setup_p99_ms", "cpu_ms_per_1000")}
                       for n in rounds},
        }
    finally:
        for node, _ in nodes:
            node.close()
    driver.log(json.dumps(report.get("median", {}), indent=2))
    return driver.finish(report, args.json, work)


if __name__ == "__main__":
    sys.exit(main())
