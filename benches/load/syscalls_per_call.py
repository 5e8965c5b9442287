#!/usr/bin/env python3
"""System calls per call (issue 14): pnswitch under SIPp load on 127.0.0.1, counted by `perf stat` tracepoints.

Starts pnswitch (MODE: `bypass`, `relay`, or either with a trailing `1` for one shard) with 2,000 AXB bindings and a
SIPp UAS behind it, places 5,000 calls at 500/s held 100 ms (SIPp UAC), and counts the switch's system calls with
`perf stat -e syscalls:sys_enter_*` (Debian's linux-perf). Prints the step's result and perf's counts; divide by
the calls. The tracepoints slow the switch: its CPU figure here is not comparable with cpu_per_call.py's.
Bounded in calls and time; every process started is stopped.
Run: python3 benches/load/syscalls_per_call.py target/release/pnswitch bypass
     python3 benches/load/syscalls_per_call.py target/release/pnswitch bypass --per-thread   # counts by thread
"""

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import driver  # noqa: E402

SYSCALLS = ["recvfrom", "sendto", "futex", "epoll_wait", "write", "read", "pwrite64", "pread64", "fcntl",
            "fdatasync", "fsync", "recvmmsg", "sendmmsg", "socket", "bind", "close", "epoll_ctl"]


def main() -> int:
    binary, mode = Path(sys.argv[1]), sys.argv[2]
    per_thread = ["--per-thread"] if "--per-thread" in sys.argv[3:] else []
    work = Path(tempfile.mkdtemp(prefix="pn-sc-"))
    triples = driver.numbers(2000)
    csv = work / "calls.csv"
    with csv.open("w") as f:
        f.write("SEQUENTIAL\n")
        for a, x, _ in triples:
            f.write(f"{a};{x};\n")
    env = {"PNSWITCH__MEDIA__MODE": "bypass"} if mode.startswith("bypass") else {}
    if mode.endswith("1"):
        env["PNSWITCH__SIP__SHARDS"] = "1"
    port = driver.free_udp_port()
    sw = driver.Pnswitch(binary, work, port, triples, env)
    sw.name = "pnswitch"
    try:
        events = ",".join("syscalls:sys_enter_" + s for s in SYSCALLS)
        perf = subprocess.Popen(["perf", "stat", *per_thread, "-e", events, "-p", str(sw.proc.pid), "-o",
                                 str(work / "perf.txt")])
        res = driver.step(sw, port, csv, work, "s", 500, 5000, 100, 60)
        perf.send_signal(2)
        perf.wait(30)
    finally:
        sw.close()
    print(res)
    print((work / "perf.txt").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
