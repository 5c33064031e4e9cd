"""What the Python bench scripts (vsfloor.py, abrecv.py) share: the shared bench's files, free
ports, CPU time from /proc and wrk POSTing the 2.9 KB incoming_chat with distinct chats."""
import json
import os
import socket
import subprocess

# The shared bench beside the checkout (../shared/bench), run from the project's root.
BENCH = os.path.normpath(os.path.join(os.getcwd(), "..", "shared", "bench"))
SECRET = "lc_whsec_7Qm2Vx9Kp4Rt8Ny3Zb6Hd1Jf5Ls0Wc"  # the one in the shared incoming_chat.json
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A bench step failed; the message says which."""


def port():
    """A free TCP port on 127.0.0.1."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu(*procs):
    """User + system CPU seconds of procs so far (those that have exited count 0)."""
    total = 0.0
    for p in procs:
        try:
            f = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / TICK
        except OSError:
            pass
    return total


def wrk(url, prefix, seconds):
    """wrk -t2 -c64 for seconds POSTing incoming_chat to url, chat ids starting with prefix's first
    letter; returns post_chat.lua's WRKJSON figures or raises BenchError."""
    env = {**os.environ, "BODY_FILE": os.path.join(BENCH, "incoming_chat.json"), "ID_PREFIX": prefix}
    r = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % seconds, "-s", os.path.join(BENCH, "post_chat.lua"), url],
                       cwd=BENCH, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in r.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    raise BenchError("wrk gave no result for %s: %s" % (url, (r.stdout + r.stderr)[-200:]))
