#!/usr/bin/env python3
"""The OpenAPI document of a running pnswitch, checked the way a client developer would use it.

1. Fetches /openapi.json from the real binary and validates it as OpenAPI 3 (openapi-spec-validator):
   any error fails.
2. Generates a Python client from it with openapi-python-client (--fail-on-warning: an operation the
   generator cannot handle fails the test instead of silently going missing).
3. Drives every operation of the document through the generated client against the binary, signing the
   provisioning calls with X-AKSK as the reference says (HMAC-SHA256 over Nonce + Created, Base64) and the
   admin calls with the bearer token; every JSON answer is validated against the document's schema for its
   status, and the set of operations driven must equal the set in the document.

Run by tests/tests/openapi_client.rs (which starts the binary); needs the packages of requirements.txt
(tests/openapi/setup.sh installs them). Exits non-zero on any failure.
"""

import argparse
import base64
import hashlib
import hmac
import importlib
import io
import json
import sqlite3
import struct
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import httpx
import jsonschema
from openapi_spec_validator import validate as validate_spec

HERE = Path(__file__).resolve().parent

# Privacy numbers (X, Y) imported into the apps' pools, and user numbers (A, B).
X_AXB, X_SPARE, X_AX, X_AXE, X_AXYB, Y_AXYB = (f"+86171000000{i:02}" for i in range(1, 7))
A, B, C = "+8613800000001", "+8613700000002", "+8613600000003"


def wav(samples: int = 800) -> bytes:
    """An 8 kHz mono A-law WAV file (format 6) of A-law silence."""
    fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    data = b"\xd5" * samples
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def aksk_signer(app_key: str, app_secret: str):
    """An httpx request hook adding Authorization + X-AKSK with a fresh nonce (reference §0.1)."""

    def sign(request: httpx.Request) -> None:
        nonce = uuid.uuid4().hex
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        mac = hmac.new(app_secret.encode(), (nonce + created).encode(), hashlib.sha256)
        digest = base64.b64encode(mac.digest()).decode()
        request.headers["Authorization"] = 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"'
        request.headers["X-AKSK"] = (
            f'UsernameToken Username="{app_key}",PasswordDigest="{digest}",Nonce="{nonce}",Created="{created}"'
        )

    return sign


class Driver:
    """Calls operations of the generated client by operationId, checks and records them."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.ops = {}
        for path, item in doc["paths"].items():
            for method, op in item.items():
                self.ops[op["operationId"]] = (method.upper(), path, op)
        self.called: set[str] = set()

    def call(self, op_id: str, client, status: int, code: str | None = "0", **kwargs):
        """Runs `op_id` with `kwargs`; the HTTP status must be `status` and, for JSON, `resultcode` `code`.

        Every JSON answer is validated against the document's schema for that operation and status; a
        success (`code` "0" with 200) must parse as the operation's success model, not as the refusal shape.
        """
        method, path, op = self.ops[op_id]
        tag = op["tags"][0].lower()
        module = importlib.import_module(f"pnswitch_client.api.{tag}.{op_id}")
        resp = module.sync_detailed(client=client, **kwargs)
        self.called.add(op_id)
        where = f"{op_id} ({method} {path})"
        if resp.status_code != status:
            raise AssertionError(f"{where}: HTTP {int(resp.status_code)}, expected {status}: {resp.content[:400]!r}")
        declared = op["responses"].get(str(status))
        if declared is None:
            raise AssertionError(f"{where}: status {status} is not in the document")
        ctype = resp.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            body = json.loads(resp.content)
            schema = declared["content"]["application/json"]["schema"]
            root = dict(schema, components=self.doc["components"])
            try:
                jsonschema.Draft202012Validator(root).validate(body)
            except jsonschema.ValidationError as e:
                raise AssertionError(f"{where}: answer does not match the document: {e.message}\n{body}") from e
            if code is not None and body.get("resultcode") != code:
                raise AssertionError(f"{where}: resultcode {body.get('resultcode')}, expected {code}: {body}")
            if code == "0" and status == 200 and type(resp.parsed).__name__ == "ApiResult":
                if "$ref" not in schema or not schema["$ref"].endswith("/ApiResult"):
                    raise AssertionError(f"{where}: a success parsed as the refusal shape: {body}")
        else:
            declared_types = set(declared.get("content", {}))
            if not any(ctype.startswith(t) for t in declared_types):
                raise AssertionError(f"{where}: content type {ctype!r} not declared ({declared_types})")
        return resp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT of the running binary")
    ap.add_argument("--admin-token", required=True)
    ap.add_argument("--data-dir", required=True, help="the binary's data directory")
    ap.add_argument("--work-dir", required=True, help="where the client is generated")
    args = ap.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)

    # 1. The served document is valid OpenAPI.
    doc = httpx.get(args.base + "/openapi.json", timeout=10).raise_for_status().json()
    validate_spec(doc)
    print(f"openapi.json: valid OpenAPI {doc['openapi']}, {sum(len(i) for i in doc['paths'].values())} operations")

    # 2. A client generated from it, without a single warning.
    spec = work / "openapi.json"
    spec.write_text(json.dumps(doc))
    generator = Path(sys.executable).parent / "openapi-python-client"
    subprocess.run(
        [str(generator), "generate", "--path", str(spec), "--config", str(HERE / "generator.yml"),
         "--output-path", str(work / "client"), "--overwrite", "--fail-on-warning"],
        check=True,
    )
    sys.path.insert(0, str(work / "client"))
    from pnswitch_client import AuthenticatedClient, Client
    from pnswitch_client import models as m
    from pnswitch_client.types import File

    d = Driver(doc)
    admin = AuthenticatedClient(base_url=args.base, token=args.admin_token, timeout=httpx.Timeout(20))
    anonymous = Client(base_url=args.base, timeout=httpx.Timeout(20))

    # 3. Every operation. Service endpoints first.
    d.call("healthz", anonymous, 200, code=None)
    d.call("readyz", anonymous, 200, code=None)
    d.call("openapi", anonymous, 200, code=None)
    metrics = d.call("metrics", anonymous, 200, code=None)
    assert b"pn_api_requests" in metrics.content, metrics.content[:200]

    # Apps, one per mode; their clients sign with X-AKSK.
    apps = {}
    for mode in ("AXB", "AX", "AXE", "AXYB"):
        r = d.call("admin_create_app", admin, 200,
                   body=m.CreateAppRequest(name=f"openapi {mode}", mode=mode, record_enabled=True))
        app = r.parsed.app
        apps[mode] = (app.app_key, app.app_secret)
    signed = {
        mode: Client(base_url=args.base, timeout=httpx.Timeout(20),
                     httpx_args={"event_hooks": {"request": [aksk_signer(*kp)]}})
        for mode, kp in apps.items()
    }
    axb_key = apps["AXB"][0]
    listed = d.call("admin_list_apps", admin, 200).parsed.apps
    assert {a.app_key for a in listed} >= {k for k, _ in apps.values()}
    got = d.call("admin_get_app", admin, 200, app_key=axb_key).parsed.app
    assert got.mode == "AXB" and got.record_enabled
    upd = d.call("admin_update_app", admin, 200, app_key=axb_key,
                 body=m.UpdateAppRequest(name="openapi AXB renamed", collect_repeat=2)).parsed.app
    assert upd.name == "openapi AXB renamed"
    d.call("admin_get_app", admin, 200, code="1016001", app_key="no-such-app")
    d.call("admin_list_apps", Client(base_url=args.base), 401, code="1020176")

    # The number import and the pool.
    pools = {"AXB": [X_AXB, X_SPARE], "AX": [X_AX], "AXE": [X_AXE], "AXYB": [X_AXYB, Y_AXYB]}
    for mode, numbers in pools.items():
        r = d.call("admin_import_numbers", admin, 200, body=m.ImportNumbersRequest(
            app_key=apps[mode][0],
            numbers=[m.ImportNumber(number=n, area_code="0755", province="Guangdong") for n in numbers]))
        assert r.parsed.imported == len(numbers), r.content
        assert [x.resultcode for x in r.parsed.results] == ["0"] * len(numbers)
    # A number of another app's pool: refused, per number.
    again = d.call("admin_import_numbers", admin, 200, body=m.ImportNumbersRequest(
        app_key=apps["AX"][0], numbers=[m.ImportNumber(number=X_AXB, area_code="0755")]))
    assert again.parsed.imported == 0 and again.parsed.results[0].resultcode != "0", again.content
    d.call("admin_import_numbers", admin, 400, code="1020001",
           body=m.ImportNumbersRequest(app_key=axb_key, numbers=[]))
    pool = d.call("admin_list_numbers", admin, 200, app_key=axb_key).parsed.numbers
    assert sorted(n.number for n in pool) == sorted(pools["AXB"])
    paused = d.call("admin_set_number", admin, 200, number=X_SPARE,
                    body=m.SetNumberRequest(status="paused")).parsed
    assert paused.status == "paused"
    retired = d.call("admin_retire_number", admin, 200, number=X_SPARE, force=False).parsed
    assert retired.number == X_SPARE and retired.unbound == 0

    # Prompt upload, list, download, delete.
    audio = wav()
    up = d.call("admin_put_prompt", admin, 200, app_key=axb_key, name="hello.wav",
                body=File(payload=io.BytesIO(audio), file_name="hello.wav", mime_type="audio/wav")).parsed
    assert up.prompt.name == "hello.wav" and up.prompt.bytes_ == len(audio) and not up.prompt.shipped
    d.call("admin_put_prompt", admin, 400, code="1010002", app_key=axb_key, name="bad.wav",
           body=File(payload=io.BytesIO(b"not a wav file"), mime_type="audio/wav"))
    names = [p.name for p in d.call("admin_list_prompts", admin, 200, app_key=axb_key).parsed.prompts]
    assert "hello.wav" in names, names
    dl = d.call("admin_get_prompt", admin, 200, code=None, app_key=axb_key, name="hello.wav")
    assert dl.content == audio
    d.call("admin_get_prompt", admin, 404, code="1012007", app_key=axb_key, name="missing.wav")

    # AXB: bind, query, modify, route trace, refusals, unbind.
    axb = signed["AXB"]
    bound = d.call("axb_bind", axb, 200, body=m.AxbBindRequest(
        relation_num=X_AXB, caller_num=A, callee_num=B, call_direction=0, duration=3600,
        record_flag="true", record_hint_tone="hello.wav", max_duration=10, private_sms="false",
        pre_voice=m.PreVoice(caller_hint_tone="hello.wav"), user_data="openapi")).parsed
    assert (bound.relation_num, bound.caller_num, bound.callee_num) == (X_AXB, A, B)
    sub = bound.subscription_id
    q = d.call("axb_query", axb, 200, subscription_id=sub).parsed
    assert q.total_count == 1 and q.relation_num_list[0].record_flag == "true", q
    assert q.relation_num_list[0].pre_voice.caller_hint_tone == "hello.wav"
    q = d.call("axb_query", axb, 200, relation_num=X_AXB, page_index=1, page_size=10).parsed
    assert [e.subscription_id for e in q.relation_num_list] == [sub]
    d.call("axb_query", axb, 200, code="1016001", subscription_id="no-such-binding")
    d.call("axb_bind", axb, 400, code="1020001", body=m.AxbBindRequest(caller_num=A, callee_num=""))
    d.call("axb_modify", axb, 200, body=m.AxbModifyRequest(subscription_id=sub, callee_num=C, max_duration=0))
    trace = d.call("admin_route_trace", admin, 200, caller=A, called=X_AXB).parsed
    assert isinstance(trace, m.AnswerConnectTrace) and trace.callee == C, trace
    refused = d.call("admin_route_trace", admin, 200, caller="+8613500000004", called=X_AXB).parsed
    assert isinstance(refused, m.AnswerRejectTrace) and refused.state_code > 8000, refused

    # Call controls: replaced, read back, applied (the route trace names the control), cleared.
    ctl = {"callerBlacklist": {"numbers": [C], "prefixes": []},
           "limits": [{"key": "caller", "windowSecs": 60, "max": 5}]}
    put = d.call("admin_put_controls", admin, 200, app_key=axb_key,
                 body=m.AdminPutControlsBody.from_dict(ctl)).parsed
    assert put.controls.to_dict()["limits"][0]["max"] == 5, put
    got = d.call("admin_get_controls", admin, 200, app_key=axb_key).parsed
    assert got.controls.to_dict()["callerBlacklist"]["numbers"] == [C], got
    d.call("admin_put_controls", admin, 400, code="1020001", app_key=axb_key,
           body=m.AdminPutControlsBody.from_dict({"bogus": 1}))
    d.call("admin_get_controls", admin, 200, code="1016001", app_key="no-such-app")
    blocked = d.call("admin_route_trace", admin, 200, caller=C, called=X_AXB).parsed
    assert isinstance(blocked, m.AnswerRejectTrace) and blocked.state_code == 7005, blocked
    assert blocked.control == "caller blacklisted", blocked
    d.call("admin_put_controls", admin, 200, app_key=axb_key, body=m.AdminPutControlsBody.from_dict({}))

    # The recording download: a recording of the AXB app's, then its signed URL.
    app_id = app_id_of(Path(args.data_dir), axb_key)
    rec_dir = Path(args.data_dir) / "recordings" / str(app_id)
    rec_dir.mkdir(parents=True, exist_ok=True)
    recording = wav(1600)
    (rec_dir / "openapi-call.wav").write_bytes(recording)
    moved = d.call("record_download", axb, 301, file_name="openapi-call.wav", record_domain="ignored")
    location = urllib.parse.urlsplit(moved.headers["location"])
    prefix = "/rest/provision/voice/record/v1.0/file/"
    assert location.path.startswith(prefix), location
    app_part, object_part = location.path[len(prefix):].split("/")
    query = dict(urllib.parse.parse_qsl(location.query))
    got = d.call("record_file", anonymous, 200, code=None, app=app_part, object_=object_part,
                 expires=int(query["expires"]), signature=query["signature"])
    assert got.content == recording
    d.call("record_file", anonymous, 403, code="1020176", app=app_part, object_=object_part,
           expires=int(query["expires"]), signature="00" * 32)
    d.call("record_download", axb, 200, code="1012007", file_name="never-recorded.wav")

    d.call("axb_unbind", axb, 200, subscription_id=sub)
    d.call("axb_unbind", axb, 200, code="1012007", subscription_id=sub)

    # AX: bind, query, modify, temporary callee, unbind.
    ax = signed["AX"]
    axr = d.call("ax_bind", ax, 200, body=m.AxBindRequest(orig_num=A, private_num=X_AX, turn_flag="on")).parsed
    assert (axr.orig_num, axr.private_num) == (A, X_AX)
    entry = d.call("ax_query", ax, 200, subscription_id=axr.subscription_id).parsed.private_num_list[0]
    assert entry.turn_flag == "on" and entry.callee_num_display == "0"
    d.call("ax_modify", ax, 200, body=m.AxModifyRequest(subscription_id=axr.subscription_id, turn_flag="off"))
    d.call("ax_temp_callee", ax, 200, body=m.AxTempCalleeRequest(
        subscription_id=axr.subscription_id, callee_num=B, duration=60))
    d.call("ax_unbind", ax, 200, subscription_id=axr.subscription_id)
    d.call("ax_query", ax, 200, code="1016001", private_num=X_AX)

    # AXE: bind, both query shapes, modify, unbind.
    axe = signed["AXE"]
    er = d.call("axe_bind", axe, 200, body=m.AxeBindRequest(bind_num=A, virtual_num=X_AXE, callback_num=B)).parsed
    one = d.call("axe_query", axe, 200, subscription_id=er.subscription_id).parsed
    assert isinstance(one, m.AnswerAxeEntry), one
    assert one.extend_num == er.extend_num and one.callback_num == B, one
    listing = d.call("axe_query", axe, 200, virtual_num=X_AXE).parsed
    assert isinstance(listing, m.AnswerAxeListBody), listing
    assert [e.subscription_id for e in listing.extend_num_list] == [er.subscription_id], listing
    d.call("axe_modify", axe, 200, body=m.AxeModifyRequest(subscription_id=er.subscription_id, user_data="x"))
    d.call("axe_unbind", axe, 200, virtual_num=X_AXE, extend_num=er.extend_num)

    # AXYB: first step with a first B, second step, query, unbind.
    axyb = signed["AXYB"]
    key = apps["AXYB"][0]
    yr = d.call("axyb_bind", axyb, 200, app_key=key,
                body=m.AxybBindRequest(orig_num=A, relation_num=X_AXYB, callee_num=B)).parsed
    assert (yr.relation_number, yr.num_y, yr.num_b) == (X_AXYB, Y_AXYB, B), yr
    d.call("axyb_bind", axyb, 200, code="1012010", app_key=key,
           body=m.AxybBindRequest(subscription_id=yr.subscription_id, callee_num=B))
    xs = d.call("axyb_query", axyb, 200, app_key=key, subscription_id=yr.subscription_id).parsed
    assert [(e.num_y, e.num_b) for e in xs.xy_relation_num_list] == [(Y_AXYB, B)]
    d.call("axyb_unbind", axyb, 200, app_key=key, subscription_id=yr.subscription_id)
    d.call("axyb_query", axyb, 200, code="1016001", app_key=key, relation_num=X_AXYB)

    # Call stop: no call is up, so the signed request finds none (1020152).
    d.call("call_stop", axyb, 200, code="1020152",
           body=m.CallStopRequest(sessionid="0_1_20200101000000@nowhere", signal="call_stop"))

    # The prompt delete last (the AXB binding used it).
    gone = d.call("admin_delete_prompt", admin, 200, app_key=axb_key, name="hello.wav").parsed
    assert gone.name == "hello.wav"

    # The outbox: rows as a push driver leaves them (a delivered and a dead CDR of the AXB app, an event of no
    # app), listed, filtered and replayed.
    ids = seed_outbox(Path(args.data_dir), app_id)
    listed = d.call("admin_list_outbox", admin, 200).parsed
    assert [e.id for e in listed.entries] == ids and listed.next_ is None, listed
    assert listed.entries[2].app_key is None and listed.entries[0].app_key == axb_key, listed
    dead = d.call("admin_list_outbox", admin, 200, state="dead", kind="cdr", app_key=axb_key,
                  from_="2023-11-14 22:13:20", to="1700000100", after=0, limit=10).parsed
    assert [e.id for e in dead.entries] == [ids[1]], dead
    d.call("admin_list_outbox", admin, 400, code="1020001", state="lost")
    cdrs = d.call("admin_list_cdrs", admin, 200, app_key=axb_key, limit=1).parsed
    assert [e.id for e in cdrs.entries] == [ids[0]] and cdrs.next_ == ids[0], cdrs
    d.call("admin_list_cdrs", admin, 200, code="1016001", app_key="no-such-app")
    replayed = d.call("admin_replay_outbox", admin, 200, body=m.ReplayOutboxRequest(ids=[ids[1], ids[0]])).parsed
    assert replayed.replayed == 1, replayed
    d.call("admin_replay_outbox", admin, 400, code="1020001", body=m.ReplayOutboxRequest())

    # Coverage: every operation of the document was driven, and nothing else.
    documented = set(d.ops)
    missing, extra = documented - d.called, d.called - documented
    if missing or extra:
        raise AssertionError(f"operations not driven: {sorted(missing)}; not in the document: {sorted(extra)}")
    print(f"openapi client: all {len(documented)} operations driven through the generated client")
    return 0


def seed_outbox(data_dir: Path, app_id: int) -> list[int]:
    """Writes three outbox rows straight into the store: a delivered and a dead CDR of `app_id`, a pending
    event of no app; returns their ids."""
    db = sqlite3.connect(str(data_dir / "pnswitch.db"), timeout=10)
    ids = []
    try:
        for kind, app, created, state in (("cdr", app_id, 1700000000, 1), ("cdr", app_id, 1700000100, 2),
                                          ("call_event", 0, 1700000200, 0)):
            cur = db.execute(
                "INSERT INTO outbox (kind, app_id, payload, created_at, attempts, state, done_at) "
                "VALUES (?, ?, ?, ?, 0, ?, ?)",
                (kind, app, json.dumps({"n": len(ids)}), created, state, None if state == 0 else created + 5))
            ids.append(int(cur.lastrowid))
        db.commit()
    finally:
        db.close()
    return ids


def app_id_of(data_dir: Path, app_key: str) -> int:
    """The store's id of an app (the recordings directory is named by it)."""
    db = sqlite3.connect(f"file:{data_dir / 'pnswitch.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT id FROM apps WHERE app_key = ?", (app_key,)).fetchone()
    finally:
        db.close()
    if row is None:
        raise AssertionError(f"app {app_key} not in the store")
    return int(row[0])


if __name__ == "__main__":
    sys.exit(main())
