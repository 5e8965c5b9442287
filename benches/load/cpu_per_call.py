#!/usr/bin/env python3
"""CPU per call, pnswitch against Kamailio (issue 14): the same offered rate through each system, interleaved.

Three systems are started once, side by side on 127.0.0.1, each with the same AXB pairs and B behind it (a SIPp
UAS): pnswitch with `[media] mode = "bypass"`, pnswitch with the media relay (the default), and Kamailio 5.6 as
a dialog-stateful proxy doing the same X -> B translation from an htable (benches/load/kamailio.cfg). Then, for
`--rounds` rounds, each system in turn gets `--calls` calls at `--rate` calls/s (SIPp UAC `uac_load`, calls held
`--hold-ms`): the CPU each system's process tree spent over its step (user + system, /proc/PID/stat of every
process of its group: Kamailio forks workers) is divided by the calls completed. Interleaving the rounds spreads
whatever else the box does over every system alike. `--baseline PATH` adds another build's bypass and relay
systems to the same rounds (before/after figures from one invocation). Reported: per system the median of the
rounds in CPU-ms per 1,000 calls, every round's figure, and the ratios to Kamailio's median.

A step only counts when every call completed (the rate is one both systems sustain; the default 1,000 calls/s
is). `--perf DIR` also records each pnswitch step's call path with `perf record -g` (Debian's linux-perf) and
writes `perf report` summaries there (the flame graphs of docs/benchmarks.md come from these recordings).

Everything runs on 127.0.0.1, bounded in calls and time; every process started is stopped.
Run: python3 benches/load/cpu_per_call.py --pnswitch target/release/pnswitch (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402


def flame_graph(data: Path, svg: Path, title: str) -> None:
    """The recording as a flame graph (inferno's `inferno-collapse-perf` and `inferno-flamegraph`, `cargo install
    inferno`), when those are installed; the `perf report` summary is written either way."""
    collapse, draw = shutil.which("inferno-collapse-perf"), shutil.which("inferno-flamegraph")
    if not (collapse and draw):
        driver.log("   no flame graph: install inferno (cargo install inferno)")
        return
    script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, check=False)
    folded = subprocess.run([collapse], input=script.stdout, capture_output=True, check=False)
    graph = subprocess.run([draw, "--title", title, "--width", "1400", "--minwidth", "2"], input=folded.stdout,
                           capture_output=True, check=False)
    svg.write_bytes(graph.stdout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pnswitch", type=Path, default=driver.ROOT / "target" / "release" / "pnswitch")
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--calls", type=int, default=10000)
    p.add_argument("--hold-ms", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bindings", type=int, default=10000)
    p.add_argument("--baseline", type=Path,
                   help="another pnswitch build (e.g. the commit before a change), run as two more systems "
                        "(bypass and relay) interleaved with the others")
    p.add_argument("--perf", type=Path, help="record pnswitch's steps with perf into this directory")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.perf and not shutil.which("perf"):
        raise SystemExit("--perf needs perf (Debian's linux-perf)")
    work = Path(tempfile.mkdtemp(prefix="pn-cpu-"))
    triples = driver.numbers(args.bindings)
    csv = work / "calls.csv"
    with csv.open("w") as f:
        f.write("SEQUENTIAL\n")
        for a, x, _ in triples:
            f.write(f"{a};{x};\n")
    systems = []
    try:
        builds = [("pnswitch", args.pnswitch)]
        if args.baseline:
            builds.append(("pnswitch-baseline", args.baseline))
        for n, ((build, binary), (mode, env)) in enumerate(itertools.product(
                builds, (("bypass", {"PNSWITCH__MEDIA__MODE": "bypass"}), ("relay", {})))):
            name = f"{build}-{mode}"
            # Each relay its own port range: a switch keeps a pair bound a while after its call (the park).
            env = {**env, "PNSWITCH__MEDIA__PORT_MIN": str(16384 + 4096 * n),
                   "PNSWITCH__MEDIA__PORT_MAX": str(16384 + 4096 * n + 4095)}
            port = driver.free_udp_port()
            d = work / name
            d.mkdir()
            sw = driver.Pnswitch(binary, d, port, triples, env)
            sw.name = name
            systems.append((sw, port))
        port = driver.free_udp_port()
        d = work / "kamailio"
        d.mkdir()
        systems.append((driver.Kamailio(d, port, triples), port))
        limit = int(args.calls / args.rate * 2 + 30)
        rounds: dict[str, list[float]] = {s.name: [] for s, _ in systems}
        for r in range(args.rounds):
            for system, port in systems:
                perf = None
                if args.perf and system.name.startswith("pnswitch"):
                    args.perf.mkdir(parents=True, exist_ok=True)
                    data = args.perf / f"{system.name}-r{r}.data"
                    # DWARF unwinding: release builds keep no frame pointers, so `-g` alone sees one frame.
                    perf = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F", "499", "-o",
                                             str(data), "-p", str(system.proc.pid)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                res = driver.step(system, port, csv, work, f"round{r}", args.rate, args.calls, args.hold_ms, limit)
                if perf:
                    perf.send_signal(2)
                    perf.wait(30)
                    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                                             "--percent-limit", "1"], capture_output=True, text=True, check=False)
                    (args.perf / f"{system.name}-r{r}.txt").write_text(report.stdout)
                    flame_graph(data, args.perf / f"{system.name}-r{r}.svg", f"{system.name} round {r}")
                if res["failed"] or res["successful"] < args.calls:
                    driver.log(f"   {system.name} round {r}: {res['failed']} failed: not counted")
                    continue
                rounds[system.name].append(res["cpu_s"] * 1000 / (res["successful"] / 1000))
        medians = {name: statistics.median(v) for name, v in rounds.items() if v}
        kam = medians.get("kamailio")
        report = {
            "rate": args.rate, "calls": args.calls, "hold_ms": args.hold_ms, "rounds": args.rounds,
            "cpu_ms_per_1000_calls": {n: [round(x) for x in v] for n, v in rounds.items()},
            "median": {n: round(m) for n, m in medians.items()},
            "ratio_to_kamailio": {n: round(m / kam, 2) for n, m in medians.items() if kam},
        }
    finally:
        for system, _ in systems:
            system.close()
    driver.log(json.dumps(report, indent=2))
    return driver.finish(report, args.json, work)


if __name__ == "__main__":
    sys.exit(main())
