#!/usr/bin/env python3
"""Cold start of each Lambda binary: process start to its first Runtime API poll, and its
peak RSS at that moment. Target: under 30 ms and 20 MB.

A fake Runtime API on 127.0.0.1 answers nothing: the time of the first
`GET /2018-06-01/runtime/invocation/next` is what is measured, then the process is killed.
Usage: bench/coldstart.py target/release/failover-routing-control ...
"""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

RUNS = 15
TARGET_MS = 30.0
TARGET_MB = 20.0


class Api(http.server.BaseHTTPRequestHandler):
    first = None
    event = threading.Event()

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next") and not Api.event.is_set():
            Api.first = time.perf_counter()
            Api.event.set()
        # Never answer: the process stays parked in its first poll until it is killed.
        time.sleep(5)

    def log_message(self, *args):
        pass


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def once(binary, port):
    Api.first = None
    Api.event.clear()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": os.path.basename(binary),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "AWS_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "AKIDBENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        # No FAILOVER_CA_BUNDLE: diff-report starts on the RDS bundle compiled into it, as
        # deployed.
    }
    t0 = time.perf_counter()
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = Api.event.wait(5)
    t1 = Api.first
    rss = vm_hwm_kb(p.pid) / 1024.0
    p.kill()
    p.wait()
    if not ok:
        raise SystemExit(f"{binary}: no Runtime API poll within 5 s")
    return (t1 - t0) * 1000.0, rss


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"cold start to the first Runtime API poll, {RUNS} runs each, median (target < {TARGET_MS:.0f} ms, < {TARGET_MB:.0f} MB)")
    worst = 0
    for binary in sys.argv[1:]:
        samples = [once(binary, port) for _ in range(RUNS)]
        ms = statistics.median(s[0] for s in samples)
        mb = max(s[1] for s in samples)
        ok = ms < TARGET_MS and mb < TARGET_MB
        worst |= not ok
        print(f"  {os.path.basename(binary):<32} {ms:6.1f} ms  (min {min(s[0] for s in samples):.1f})  peak RSS {mb:5.1f} MB  {'ok' if ok else 'OVER TARGET'}")
    server.shutdown()
    sys.exit(1 if worst else 0)


main()
