#!/usr/bin/env python3
"""SIP load harness: pnswitch against Kamailio on the same machine, same SIPp scenarios, same bindings.

For AXB calls (A calls X, the switch calls B from X) it ramps the SIPp UAC call rate in bounded steps and
reports, for each system, the highest calls per second with < 0.1 % failed calls at a sustained offered rate
(the step finishes within 25 % + 2 s of its planned length), the call-setup latency
(INVITE -> 200, SIPp -trace_rtt) p50/p99 at that rate, and for pnswitch the memory per active call (RSS
growth at a plateau of long concurrent calls / active calls). Then it prints pnswitch / Kamailio.

Everything runs on 127.0.0.1; every step has a fixed call count and a time limit; every process it starts is
stopped by the harness. Usually started by benches/load/run.sh (which installs sipp and kamailio and builds the
release binary); see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import shutil
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "sip-fixtures" / "sipp"
KAMAILIO_CFG = Path(__file__).resolve().parent / "kamailio.cfg"
AXB_PATH = "/rest/caas/relationnumber/partners/v1.0"
PAIRS_PER_X = 1000
# The UAC scenario of the ramp (--uac): uac_basic, or uac_answer_or_refusal, which also completes a call the
# switch refuses with 503 (ACK) so that an overload step measures refusals instead of aborted SIPp calls.
UAC_SCENARIO = "uac_basic"
FAIL_BUDGET = 0.001  # < 0.1 % failed calls


def log(msg: str) -> None:
    print(msg, flush=True)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_bound(port: int, what: str, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if udp_port_bound(port):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} never bound udp 127.0.0.1:{port}")


def stop(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds: only the process we started (and its own group)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def finish(report: dict, json_path: Path | None, work: Path) -> int:
    """A harness's last step: its report to `json_path` (when given), its scratch directory removed; exit 0."""
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pgid: int) -> float:
    """utime + stime so far of every live process in process group `pgid` (pnswitch: one process; Kamailio: its
    main process and the workers it forks), from /proc/PID/stat, in seconds."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the ")" closing the command name: pgrp is field 5, utime 14 and stime 15 (1-based, proc(5)).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


# ---------------------------------------------------------------------------------------------- provisioning


def numbers(n: int) -> list[tuple[str, str, str]]:
    """(A, X, B) for n AXB bindings, PAIRS_PER_X per X."""
    return [
        (f"+86138{i:08d}", f"+8617{i // PAIRS_PER_X:09d}", f"+86139{i:08d}")
        for i in range(n)
    ]


def created_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """Admin and signed provisioning calls to a running pnswitch (one keep-alive connection per thread)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.local = threading.local()
        self.counter = 0
        self.lock = threading.Lock()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.local.conn = conn
        return conn

    def request(self, method: str, path: str, body: dict | None, headers: dict) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"content-type": "application/json", **headers}
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        status, v = self.request(method, path, body, {"authorization": f"Bearer {self.token}"})
        if status != 200:
            raise SystemExit(f"admin {method} {path}: {status} {v}")
        return v

    def signed(self, method: str, path: str, app: tuple[str, str], body: dict) -> dict:
        key, secret = app
        with self.lock:
            self.counter += 1
            nonce = f"load{os.getpid()}x{self.counter}x{time.time_ns()}"
        created = created_now()
        digest = base64.b64encode(
            hmac.new(secret.encode(), (nonce + created).encode(), hashlib.sha256).digest()
        ).decode()
        headers = {
            "authorization": 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"',
            "x-aksk": f'UsernameToken Username="{key}",PasswordDigest="{digest}",'
            f'Nonce="{nonce}",Created="{created}"',
        }
        status, v = self.request(method, path, body, headers)
        if status != 200 or v.get("resultcode") != "0":
            raise SystemExit(f"signed {method} {path} {body}: {status} {v}")
        return v


def provision(api: Api, triples: list[tuple[str, str, str]]) -> tuple[str, str]:
    created = api.admin("POST", "/admin/v1/apps", {"name": "load", "mode": "AXB", "recordEnabled": False})
    app_json = created.get("app", created)
    app = (app_json["appKey"], app_json["appSecret"])
    xs = sorted({x for _, x, _ in triples})
    for i in range(0, len(xs), 1000):
        api.admin(
            "POST",
            "/admin/v1/numbers",
            {"appKey": app[0], "numbers": [{"number": x, "areaCode": "0755"} for x in xs[i : i + 1000]]},
        )
    started = time.monotonic()

    def bind(t: tuple[str, str, str]) -> None:
        a, x, b = t
        api.signed("POST", AXB_PATH, app, {"relationNum": x, "callerNum": a, "calleeNum": b})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(bind, triples))
    took = time.monotonic() - started
    log(f"   provisioned {len(triples)} AXB bindings on {len(xs)} X in {took:.1f} s")
    return app


# ------------------------------------------------------------------------------------------------- systems


class Pnswitch:
    name = "pnswitch"

    def __init__(self, binary: Path, work: Path, egress_port: int, triples: list,
                 extra_env: dict | None = None) -> None:
        self.work = work
        data = work / "pnswitch-data"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "RUST_LOG": "error",
            "PNSWITCH__SIP__B2BUA__EGRESS": f'["127.0.0.1:{egress_port}"]',
            "PNSWITCH__SIP__B2BUA__TRUSTED_PEERS": '["127.0.0.1"]',
            "PNSWITCH__STORE__SYNCHRONOUS_FULL": "false",
            **(extra_env or {}),
        }
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--http-listen", "127.0.0.1:0", "--sip-listen", "127.0.0.1:0",
             "--data-dir", str(data)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(work / "pnswitch.stderr", "wb"), start_new_session=True, text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()
        http_addr = sip_addr = None
        deadline = time.monotonic() + 30
        while http_addr is None or sip_addr is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic())).strip()
            except queue.Empty:
                stop(self.proc)
                raise SystemExit("pnswitch did not print its http and sip listening lines within 30 s")
            if line.startswith("pnswitch: http listening on "):
                http_addr = line.rsplit(" ", 1)[1]
            elif line.startswith("pnswitch: sip listening on udp "):
                sip_addr = line.rsplit(" ", 1)[1]
        host, port = http_addr.rsplit(":", 1)
        self.http = (host, int(port))
        sip_host, sip_port = sip_addr.rsplit(":", 1)
        self.target = f"{sip_host}:{sip_port}"
        token = (data / "admin.token").read_text().strip()
        self.api = Api(host, int(port), token)
        self.app = provision(self.api, triples)

    def active_calls(self) -> int | None:
        value = self.metric_sum("pn_sip_active_calls ")
        return None if value is None else int(value)

    def metric_sum(self, prefix: str) -> float | None:
        """The sum of every series of /metrics whose line starts with `prefix`."""
        try:
            conn = http.client.HTTPConnection(*self.http, timeout=5)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        except OSError:
            return None
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))

    def close(self) -> None:
        stop(self.proc)


class Kamailio:
    name = "kamailio"

    def __init__(self, work: Path, egress_port: int, triples: list) -> None:
        db = work / "kamailio-db"
        db.mkdir(parents=True, exist_ok=True)
        (db / "version").write_text("table_name(string) table_version(int) \nhtable:2\n")
        rows = ["id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) "]
        n = 0
        for a, x, b in triples:
            for caller, callee in ((a, b), (b, a)):
                n += 1
                rows.append(f"{n}:{x}_{caller}:0:0:{callee}:0")
        (db / "htable").write_text("\n".join(rows) + "\n")
        self.port = free_udp_port()
        self.target = f"127.0.0.1:{self.port}"
        run = work / "kamailio-run"
        run.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "1024", "-M", "16",
             "-l", f"udp:127.0.0.1:{self.port}", "-Y", str(run),
             "-A", f'EGRESS="sip:127.0.0.1:{egress_port}"', "-A", f'HTDB="text://{db}"'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(work / "kamailio.stderr", "wb"), start_new_session=True,
        )
        wait_bound(self.port, "kamailio")
        time.sleep(1.0)  # children forked, htable loaded
        if self.proc.poll() is not None:
            raise SystemExit(f"kamailio exited: see {work / 'kamailio.stderr'}")
        log(f"   kamailio on {self.target}, htable with {n} entries")

    def active_calls(self) -> int | None:
        return None

    def close(self) -> None:
        stop(self.proc)


# ------------------------------------------------------------------------------------------------ the steps


def read_stats(path: Path) -> dict:
    try:
        lines = [l for l in path.read_text().splitlines() if l.strip()]
    except FileNotFoundError:
        return {}
    if len(lines) < 2:
        return {}
    header, last = lines[0].split(";"), lines[-1].split(";")
    out = {}
    for key in ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)", "CurrentCall",
                "Retransmissions(C)", "OutOfCallMsgs(C)", "DeadCallMsgs(C)"):
        if key in header and header.index(key) < len(last):
            try:
                out[key] = int(last[header.index(key)])
            except ValueError:
                pass
    return out


def read_rtts(directory: Path) -> list[float]:
    values = []
    for f in directory.glob("*_rtt.csv"):
        for line in f.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3 and parts[2] == "setup":
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    pass
    return sorted(values)


def sipp(args: list[str], cwd: Path, log_name: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["sipp", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(cwd / log_name, "wb"), start_new_session=True,
    )


def step(system, uas_port: int, csv: Path, work: Path, label: str, rate: int, calls: int, hold_ms: int,
         limit_s: int, sample_at: float | None = None) -> dict:
    """One bounded SIPp run: a fresh UAS as B, a UAC placing `calls` calls at `rate` through `system`."""
    d = work / f"{system.name}-{label}"
    d.mkdir(parents=True, exist_ok=True)
    # -aa: both sides answer pnswitch's in-dialog OPTIONS probes (sent on calls up longer than dialog_probe_secs).
    uas = sipp(["-sf", str(SCENARIOS / "uas_load.xml"), "-aa", "-i", "127.0.0.1", "-bind_local", "-p", str(uas_port),
                "-nostdin", "-timeout", str(limit_s + 15), "-trace_stat", "-fd", "1", "-stf", "uas_stat.csv"],
               d, "uas.stderr")
    wait_bound(uas_port, "sipp uas")
    uac_port = free_udp_port()
    refusals = getattr(system, "metric_sum", lambda _prefix: None)
    refused_before = refusals("pn_sip_overload_refusals_total")
    cpu_before = cpu_seconds(system.proc.pid)
    started = time.monotonic()
    uac = sipp(["-sf", str(SCENARIOS / f"{UAC_SCENARIO}.xml"), "-aa", "-i", "127.0.0.1", "-bind_local", "-p", str(uac_port),
                "-nostdin", "-m", str(calls), "-r", str(rate), "-d", str(hold_ms), "-timeout", str(limit_s),
                "-inf", str(csv), "-trace_stat", "-fd", "1", "-stf", "uac_stat.csv",
                "-trace_rtt", "-rtt_freq", "200", system.target],
               d, "uac.stderr")
    sample = None
    if sample_at is not None:
        time.sleep(max(0.0, sample_at - (time.monotonic() - started)))
        sample = {"rss_kib": rss_kib(system.proc.pid), "active": system.active_calls(),
                  "uac_current": read_stats(d / "uac_stat.csv").get("CurrentCall")}
    try:
        code = uac.wait(limit_s + 15)
    except subprocess.TimeoutExpired:
        stop(uac)
        code = -1
    elapsed = time.monotonic() - started
    # The switch's CPU over the step (calls placed, answered, held and released; the UAS stops after).
    cpu = cpu_seconds(system.proc.pid) - cpu_before
    stop(uas)
    refused_after = refusals("pn_sip_overload_refusals_total")
    refused = int(refused_after - refused_before) if refused_before is not None and refused_after is not None else 0
    rss = rss_kib(system.proc.pid)
    stats = read_stats(d / "uac_stat.csv")
    rtts = read_rtts(d)
    created = stats.get("TotalCallCreated", 0)
    ok = stats.get("SuccessfulCall(C)", 0)
    failed = stats.get("FailedCall(C)", 0) + max(0, calls - created)
    result = {
        "system": system.name, "label": label, "rate": rate, "calls": calls, "created": created,
        "successful": ok, "failed": failed, "sipp_exit": code, "elapsed_s": round(elapsed, 1),
        "retransmissions": stats.get("Retransmissions(C)"),
        "cpu_s": round(cpu, 2), "cpu_us_per_call": round(cpu * 1e6 / ok) if ok else None,
        "setup_p50_ms": percentile(rtts, 50), "setup_p99_ms": percentile(rtts, 99), "rtt_samples": len(rtts),
        # Passed: < 0.1 % failed calls, and the offered rate was sustained (SIPp placed every call and the
        # step ended within 25 % + 2 s of its planned length: calls / rate + hold).
        "sustained": elapsed <= (calls / rate) * 1.25 + hold_ms / 1000 + 2.0,
        "passed": ok >= calls * (1 - FAIL_BUDGET) and failed < calls * FAIL_BUDGET
        and elapsed <= (calls / rate) * 1.25 + hold_ms / 1000 + 2.0,
        "sample": sample,
        # New INVITEs the switch refused with 503 (cause 522) in the step, and its RSS after it.
        "refused_503": refused,
        "rss_kib_after": rss,
    }
    log(f"   {system.name:8} {label:>10}: {rate:5} cps x {calls:6} calls -> ok {ok}, failed {failed}, "
        f"p50 {result['setup_p50_ms']:.0f} ms, p99 {result['setup_p99_ms']:.0f} ms, "
        f"{result['retransmissions']} retrans, {elapsed:.1f} s, cpu {result['cpu_us_per_call']} us/call{'' if result['sustained'] else ' (rate not sustained)'} "
        f"{'PASS' if result['passed'] else 'FAIL'}; 503 refusals {refused}, RSS {rss // 1024} MiB")
    return result


def ramp(system, uas_port: int, csv: Path, work: Path, rates: list[int], step_s: float, hold_ms: int,
         limit_s: int) -> list[dict]:
    results = []
    for rate in rates:
        calls = max(1, int(rate * step_s))
        r = step(system, uas_port, csv, work, f"r{rate}", rate, calls, hold_ms, limit_s)
        results.append(r)
        if not r["passed"]:
            break
        time.sleep(1.0)  # let the previous step's late retransmissions and timers drain
    return results


def memory_plateau(system, uas_port: int, csv: Path, work: Path, rate: int, calls: int) -> dict:
    """Long calls until `calls` are up at once; RSS growth / active calls."""
    # Warm-up: shard threads, pools and tables touched once.
    step(system, uas_port, csv, work, "warmup", 100, 200, 200, 20)
    time.sleep(1.5)
    base = rss_kib(system.proc.pid)
    ramp_s = calls / rate
    hold_ms = int((ramp_s + 6) * 1000)
    r = step(system, uas_port, csv, work, "plateau", rate, calls, hold_ms, int(ramp_s * 2 + 30),
             sample_at=ramp_s + 2.0)
    sample = r["sample"] or {}
    active = sample.get("active") or sample.get("uac_current") or 0
    grown = sample.get("rss_kib", base) - base
    per_call = (grown * 1024 / active) if active else float("nan")
    log(f"   memory: RSS {base} KiB -> {sample.get('rss_kib')} KiB with {active} active calls "
        f"(switch gauge {sample.get('active')}, SIPp {sample.get('uac_current')}): {per_call:.0f} B/call")
    return {"rss_base_kib": base, "rss_plateau_kib": sample.get("rss_kib"), "active_calls": active,
            "bytes_per_call": per_call, "plateau_step": r}


def best(results: list[dict]) -> dict | None:
    passed = [r for r in results if r["passed"]]
    return max(passed, key=lambda r: r["rate"]) if passed else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pnswitch", type=Path, default=ROOT / "target" / "release" / "pnswitch")
    p.add_argument("--bindings", type=int, default=10000, help="AXB bindings provisioned (default 10000)")
    p.add_argument("--rates", default="100,200,400,600,800,1000,1200,1600,2000,2400,3200,4000",
                   help="comma-separated call rates of the ramp (cps)")
    p.add_argument("--step-seconds", type=float, default=8.0, help="calls per step = rate x this (default 8)")
    p.add_argument("--hold-ms", type=int, default=1000, help="call duration during the ramp (default 1000)")
    p.add_argument("--step-limit", type=int, default=25, help="SIPp -timeout per step, seconds (default 25)")
    p.add_argument("--plateau-calls", type=int, default=4000, help="concurrent calls for the memory figure")
    p.add_argument("--plateau-rate", type=int, default=400)
    p.add_argument("--skip-kamailio", action="store_true")
    p.add_argument("--skip-pnswitch", action="store_true", help="measure Kamailio only")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--uac", default="uac_basic", choices=["uac_basic", "uac_answer_or_refusal"],
                   help="UAC scenario of the ramp (uac_answer_or_refusal: 503s are ACKed and count as completed)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()
    global UAC_SCENARIO
    UAC_SCENARIO = args.uac
    rates = [int(r) for r in args.rates.split(",") if r.strip()]

    work = Path(tempfile.mkdtemp(prefix="pn-load-"))
    triples = numbers(args.bindings)
    csv = work / "calls.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{a};{x};\n" for a, x, _ in triples))
    uas_port = free_udp_port()
    log(f"== scratch {work}; {os.cpu_count()} CPUs; {args.bindings} bindings; B (SIPp UAS) on 127.0.0.1:{uas_port}")

    report: dict = {"bindings": args.bindings, "cpus": os.cpu_count(), "rates": rates,
                    "step_seconds": args.step_seconds, "hold_ms": args.hold_ms}
    systems = []
    try:
        if not args.skip_pnswitch:
            log("== pnswitch")
            sw = Pnswitch(args.pnswitch, work, uas_port, triples)
            systems.append(sw)
            report["pnswitch_memory"] = memory_plateau(sw, uas_port, csv, work, args.plateau_rate,
                                                       args.plateau_calls)
            time.sleep(2.0)
            report["pnswitch"] = ramp(sw, uas_port, csv, work, rates, args.step_seconds, args.hold_ms,
                                      args.step_limit)
            sw.close()
        if not args.skip_kamailio:
            log("== kamailio (dialog-stateful proxy, htable X+A -> B, uac_replace_from)")
            kam = Kamailio(work, uas_port, triples)
            systems.append(kam)
            report["kamailio"] = ramp(kam, uas_port, csv, work, rates, args.step_seconds, args.hold_ms,
                                      args.step_limit)
            kam.close()
    finally:
        for s in systems:
            s.close()

    log("\n== summary (all traffic on 127.0.0.1; SIPp UAC, SIPp UAS and the system under test share the CPUs)")
    pn_best = best(report.get("pnswitch", []))
    kam_best = best(report.get("kamailio", []))
    for name, b in (("pnswitch", pn_best), ("kamailio", kam_best)):
        if (name == "kamailio" and args.skip_kamailio) or (name == "pnswitch" and args.skip_pnswitch):
            continue
        if b is None:
            log(f"   {name:8}: no step passed")
        else:
            log(f"   {name:8}: highest CPS with < 0.1% failed calls: {b['rate']} "
                f"(setup p50 {b['setup_p50_ms']:.0f} ms, p99 {b['setup_p99_ms']:.0f} ms)")
    mem = report.get("pnswitch_memory", {})
    if mem:
        log(f"   pnswitch memory per active call: {mem['bytes_per_call'] / 1024:.1f} KiB "
            f"({mem['active_calls']} active calls)")
    if pn_best and kam_best:
        ratio = pn_best["rate"] / kam_best["rate"]
        report["ratio"] = ratio
        top = rates[-1]
        capped = " (both reached the top of the ramp: raise --rates)" if pn_best["rate"] == kam_best["rate"] == top else ""
        log(f"   ratio pnswitch / kamailio CPS: {ratio:.2f}x{capped}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        log(f"   results written to {args.json}")
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"   files kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
