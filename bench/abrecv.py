#!/usr/bin/env python3
"""A/B of two `chatwarden receive` builds beside the reference receiver (issue 22).

Compare's phase A method reduced to what an A/B needs: one external nats-server; the reference
(../shared/bench/echo_js: echo + JSON decode + synchronous JetStream publish with a message id)
and the two builds, each POSTed the 2.9 KB incoming_chat with distinct chats by wrk -c64 for SECS
seconds, in turn, ROUNDS times (the order of A and B alternating). Prints each round's 2xx/s and
receiver CPU microseconds per 2xx (from /proc, the broker's apart), the medians, and each build's
CPU against the reference's per round: single rounds on this machine spread by a third, so
compare builds by the medians of several rounds.

  go build -o /tmp/cw-A ./cmd/chatwarden     # at each commit to compare
  python3 bench/abrecv.py /tmp/cw-A /tmp/cw-B [ROUNDS=3] [SECS=8]

Run from the project's root after ../shared/bench/install-tools.sh (wrk, nats-server).
127.0.0.1 only, bounded (ROUNDS x 3 x SECS seconds of load), stops by itself.
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import BENCH, SECRET, BenchError, cpu, port, wrk

NATS = os.path.expanduser("~/go/bin/nats-server")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: python3 bench/abrecv.py BIN_A BIN_B [ROUNDS] [SECS]")
    bins = {"A": sys.argv[1], "B": sys.argv[2]}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    secs = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    for tool, path in (("wrk", shutil.which("wrk")), ("nats-server", NATS if os.access(NATS, os.X_OK) else None)):
        if not path:
            sys.exit("%s missing (../shared/bench/install-tools.sh)" % tool)
    work = tempfile.mkdtemp(prefix="abrecv-")
    procs = []

    def start(name, argv):
        p = subprocess.Popen(argv, stdout=open(os.path.join(work, name + ".log"), "w"), stderr=subprocess.STDOUT,
                             cwd=work, start_new_session=True)
        procs.append(p)
        return p

    try:
        subprocess.run(["go", "build", "-o", os.path.join(work, "echo_js"), "."], cwd=os.path.join(BENCH, "echo_js"),
                       check=True)
        np_ = port()
        start("nats", [NATS, "-js", "-a", "127.0.0.1", "-p", str(np_), "-sd", os.path.join(work, "nats")])
        time.sleep(1)
        nurl = "nats://127.0.0.1:%d" % np_
        t = {}
        p = port()
        t["ref"] = (start("ref", [os.path.join(work, "echo_js"), "-addr", "127.0.0.1:%d" % p, "-nats", nurl,
                                  "-msgid=true"]), "http://127.0.0.1:%d/webhook" % p)
        time.sleep(1)  # the reference creates the stream it publishes to
        for name, path in bins.items():
            p = port()
            cfg = os.path.join(work, name + ".yaml")
            open(cfg, "w").write('http: {addr: "127.0.0.1:%d", max_body_bytes: 1048576}\nadmin: {addr: "off"}\n'
                                 'nats: {url: "%s"}\nlivechat:\n  api_url: "http://127.0.0.1:9"\n'
                                 '  webhook_secrets: ["%s"]\n  pat: {account_id: "a", token: "t"}\n'
                                 'log: {level: warn}\n' % (p, nurl, SECRET))
            t[name] = (start(name, [path, "receive", "--config", cfg]), "http://127.0.0.1:%d/webhooks/livechat" % p)
        time.sleep(3)
        res = {k: [] for k in t}
        for r in range(rounds):
            order = ("ref", "A", "B") if r % 2 == 0 else ("ref", "B", "A")
            for i, k in enumerate(order):
                proc, url = t[k]
                c0 = cpu(proc)
                # A letter of its own for every phase (post_chat.lua uses the first): a
                # repeated chat id would be a duplicate, answered without being stored.
                x = wrk(url, LETTERS[(3 * r + i) % len(LETTERS)], secs)
                ok = x["requests"] - x["non2xx"]
                okps, us = ok / (x["duration_us"] / 1e6), 1e6 * (cpu(proc) - c0) / max(ok, 1)
                res[k].append((okps, us))
                print("round %d %-3s %8.0f ok/s %7.1f us/req p99 %.1f ms" % (r, k, okps, us, x["p99_ms"]), flush=True)
        for k in t:
            print("median %-3s %8.0f ok/s %7.1f us/req" % (k, statistics.median(a for a, _ in res[k]),
                                                          statistics.median(b for _, b in res[k])))
        ref_us = statistics.median(b for _, b in res["ref"])
        for k in ("A", "B"):
            per_round = ", ".join("%.2f" % (res[k][i][1] / res["ref"][i][1]) for i in range(rounds))
            print("%s / ref: CPU %.2f  (per round: %s)" % (k, statistics.median(b for _, b in res[k]) / ref_us, per_round))
    except BenchError as e:
        sys.exit("abrecv: %s" % e)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
