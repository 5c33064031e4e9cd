#!/usr/bin/env python3
"""chatwarden end to end beside its measured floor, in one run (issue 22).

../shared/bench/compare measures chatwarden against a generic pipeline. This script answers the other
question the issue asks: how close does chatwarden get to what the broker and an empty handler alone
cost? It runs the same end-to-end phase as compare's part B (wrk -c64 POSTing the 2.9 KB incoming_chat
with distinct chats, 8 s warm-up, drain, DUR seconds measured, CPU of every process of the system per
applied webhook) against, in this order:

  floor-empty  bench/floor -handler empty: embedded JetStream, receive + publish with a message id,
               pull, confirmed ack. No API call: what the broker alone costs for the job.
  floor-call   bench/floor -handler call: the same plus one tag_thread POST per event to the API
               stand-in: the least any program can do for the job with this broker.
  floor-audit  bench/floor -handler call -audit: the same plus an audit record per event stored
               (second stream, message id) before the ack: the least chatwarden's contract allows.
  cw           chatwarden serve, one tag_thread rule (compare's configuration).
  peer         Redpanda Connect in + out with its own nats-server (compare's), when installed.

ROUNDS=N repeats the list N times (default 1) and prints each run and the medians; KINDS=cw,peer
measures only those. Run it from the
project's root after ../shared/bench/install-tools.sh:  python3 bench/vsfloor.py
127.0.0.1 only, bounded (each phase at most DUR + 8 s of load and 90 s of drain), stops by itself.
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchutil import BENCH, SECRET, BenchError, cpu, port, wrk

CHECKOUT = os.getcwd()
W = tempfile.mkdtemp(prefix="cw-vsfloor-")
DUR = int(os.environ.get("DUR", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
PEER_BIN = os.environ.get("PEER_BIN", "/tmp/bench-bin/redpanda-connect")
NATS = shutil.which("nats-server") or os.path.expanduser("~/go/bin/nats-server")
procs = []


def die(msg):
    print("vsfloor: " + msg)
    sys.exit(1)


def start(name, argv, env=None):
    log = open(os.path.join(W, name + ".log"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                         cwd=W, start_new_session=True)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return 0, b""


def wait_up(url, p, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            die("%s exited early: %s" % (what, open(os.path.join(W, what + ".log")).read()[-300:]))
        if url.startswith("tcp:"):
            try:
                socket.create_connection(("127.0.0.1", int(url[4:])), timeout=1).close()
                return
            except OSError:
                pass
        elif get(url)[0] == 200:
            return
        time.sleep(0.2)
    die("%s not ready in %ds" % (what, timeout))


def count(url):
    st, body = get(url)
    n, last = body.split() if st == 200 else (b"0", b"0")
    return int(n), int(last) / 1e9


def drain(url, want, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        n, last = count(url)
        if n >= want:
            return n, last
        time.sleep(0.2)
    return count(url)


def build():
    for cmd, cwd in [(["go", "build", "-o", W + "/chatwarden", "./cmd/chatwarden"], CHECKOUT),
                     (["go", "build", "-o", W + "/floor", "./bench/floor"], CHECKOUT),
                     (["go", "build", "-o", W + "/echo_js", "."], BENCH + "/echo_js"),
                     (["go", "build", "-o", W + "/apisink", "."], BENCH + "/apisink")]:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if r.returncode != 0:
            die("build failed in %s: %s" % (cwd, r.stderr[-300:]))


def system(kind, sink_port):
    """Starts one system; returns (processes, webhook URL, count URL)."""
    sink = "http://127.0.0.1:%d" % sink_port
    p = port()
    if kind.startswith("floor"):
        argv = [W + "/floor", "-addr", "127.0.0.1:%d" % p, "-api", sink,
                "-handler", "empty" if kind == "floor-empty" else "call"]
        f = start(kind, argv + (["-audit"] if kind == "floor-audit" else []))
        wait_up("http://127.0.0.1:%d/readyz" % p, f, kind)
        counter = "http://127.0.0.1:%d/count" % p if kind == "floor-empty" else sink + "/count"
        return [f], "http://127.0.0.1:%d/webhooks/livechat" % p, counter
    if kind == "cw":
        rules = os.path.join(W, "rules.yaml")
        open(rules, "w").write("rules:\n  - name: bench-tag\n    on: [livechat.incoming_chat]\n"
                               "    then:\n      - livechat.tag_thread: {tag: bench}\n")
        data = tempfile.mkdtemp(prefix="data-", dir=W)
        cfg = os.path.join(W, "cw.yaml")
        open(cfg, "w").write("""http: {addr: "127.0.0.1:%d", max_body_bytes: 1048576}
nats: {url: "", listen: "127.0.0.1:%d", data_dir: "%s"}
livechat:
  api_url: "%s"
  webhook_secrets: ["%s"]
  pat: {account_id: "a", token: "t"}
log: {level: warn}
rules_file: "%s"
""" % (p, port(), data, sink, SECRET, rules))
        s = start("cw", [W + "/chatwarden", "serve", "--config", cfg])
        wait_up("http://127.0.0.1:%d/readyz" % p, s, "cw")
        return [s], "http://127.0.0.1:%d/webhooks/livechat" % p, sink + "/count"
    np_ = port()
    nats = start("nats-peer", [NATS, "-js", "-a", "127.0.0.1", "-p", str(np_), "-sd", tempfile.mkdtemp(dir=W)])
    wait_up("tcp:%d" % np_, nats, "nats-peer")
    nurl = "nats://127.0.0.1:%d" % np_
    mk = start("mkstream", [W + "/echo_js", "-addr", "127.0.0.1:%d" % port(), "-nats", nurl])
    time.sleep(1.5)
    stop(mk)
    pin = start("peer-in", [PEER_BIN, "run", os.path.join(BENCH, "peer", "http_to_jetstream.yaml")],
                {"PEER_ADDR": "127.0.0.1:%d" % p, "PEER_HTTP_ADDR": "127.0.0.1:%d" % port(), "NATS_URL": nurl})
    pwk = start("peer-work", [PEER_BIN, "run", os.path.join(BENCH, "peer", "jetstream_to_api.yaml")],
                {"PEER_HTTP_ADDR": "127.0.0.1:%d" % port(), "NATS_URL": nurl,
                 "API_URL": sink + "/v3.6/agent/action/tag_thread"})
    wait_up("tcp:%d" % p, pin, "peer-in")
    time.sleep(1)
    return [pin, pwk, nats], "http://127.0.0.1:%d/webhook" % p, sink + "/count"


def measure(kind, prefix):
    sink_port = port()
    sink = start("sink-" + kind, [W + "/apisink", "-addr", "127.0.0.1:%d" % sink_port])
    wait_up("tcp:%d" % sink_port, sink, "sink-" + kind)
    ps, url, counter = system(kind, sink_port)
    w1 = wrk(url, prefix, 8)  # warm-up, as compare's (opens the LiveChat client's adaptive limiter)
    drain(counter, w1["requests"] - w1["non2xx"], timeout=60)
    base, _ = count(counter)
    c0, t0 = cpu(*ps), time.time()
    r = wrk(url, prefix.lower(), DUR)
    accepted = r["requests"] - r["non2xx"]
    end_wrk = time.time()
    n, last = drain(counter, base + accepted)
    applied = n - base
    res = {"accepted": accepted, "applied": applied, "aps": applied / max(last - t0, 1e-3),
           "us": 1e6 * (cpu(*ps) - c0) / max(applied, 1), "lag": max(last - end_wrk, 0)}
    for x in ps + [sink]:
        stop(x)
    return res


def main():
    if not shutil.which("wrk"):
        die("wrk missing (../shared/bench/install-tools.sh)")
    kinds = ["floor-empty", "floor-call", "floor-audit", "cw"]
    if os.access(PEER_BIN, os.X_OK) and os.access(NATS, os.X_OK):
        kinds.append("peer")
    else:
        print("vsfloor: no peer at %s or no nats-server: measuring without it" % PEER_BIN)
    if os.environ.get("KINDS"):  # e.g. KINDS=cw to time one build against another
        kinds = [k for k in os.environ["KINDS"].split(",") if k in kinds]
    build()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print("end to end beside the floor, commit %s, %d round(s), wrk -c64, %d s measured each" % (rev, ROUNDS, DUR))
    print("   %-12s %10s %10s %12s %8s" % ("", "accepted", "applied/s", "CPU us/app", "lag s"))
    runs = {k: [] for k in kinds}
    for rnd in range(ROUNDS):
        for i, k in enumerate(kinds):
            # Every system starts afresh, so rounds may repeat the ids; within one, the
            # warm-up (upper case) and the measured phase (lower case) must differ, or
            # the measured webhooks would be duplicates of the warm-up's.
            s = measure(k, "GHJKL"[i])
            runs[k].append(s)
            print("   %-12s %10d %10.0f %12.1f %8.1f%s" % (k, s["accepted"], s["aps"], s["us"], s["lag"],
                  "" if s["applied"] >= s["accepted"] else "  (%d not applied)" % (s["accepted"] - s["applied"])))
    med = {k: {f: statistics.median(x[f] for x in v) for f in ("aps", "us")} for k, v in runs.items()}
    print("medians:")
    for k in kinds:
        print("   %-12s applied/s %7.0f   CPU us/applied %7.1f" % (k, med[k]["aps"], med[k]["us"]))
    if "cw" not in med or "floor-call" not in med:
        return 0
    cw, fc = med["cw"], med["floor-call"]
    print("cw vs floor-call: applied/s %.2fx, CPU/applied %.2fx" % (cw["aps"] / fc["aps"], cw["us"] / fc["us"]))
    if "peer" in med:
        pe = med["peer"]
        print("floor-call vs peer: applied/s %.2fx, CPU/applied %.2fx (the most any program on this broker gets)"
              % (fc["aps"] / pe["aps"], fc["us"] / pe["us"]))
        if "floor-audit" in med:
            fa = med["floor-audit"]
            print("floor-audit vs peer: applied/s %.2fx, CPU/applied %.2fx (the most chatwarden's contract allows)"
                  % (fa["aps"] / pe["aps"], fa["us"] / pe["us"]))
        print("cw vs peer: applied/s %.2fx, CPU/applied %.2fx" % (cw["aps"] / pe["aps"], cw["us"] / pe["us"]))
    if "floor-audit" in med:
        fa = med["floor-audit"]
        print("cw vs floor-audit: applied/s %.2fx, CPU/applied %.2fx" % (cw["aps"] / fa["aps"], cw["us"] / fa["us"]))
    return 0


if __name__ == "__main__":
    code = 1
    try:
        code = main()
    except BenchError as e:
        print("vsfloor: %s" % e)
    finally:
        for x in procs:
            stop(x)
        shutil.rmtree(W, ignore_errors=True)
    sys.exit(code)
