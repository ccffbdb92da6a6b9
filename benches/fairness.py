#!/usr/bin/env python3
"""CPU fairness between tenants: how long tenant B (no plugins) waits for its `250` after
DATA while tenant A's plugin legitimately burns 150 ms of CPU per message in 16 sessions.

    benches/fairness.py [--messages N] [--slow-sessions 16] [--spin-ms 150]

Uses target/release/sluice if built (else target/debug/sluice; SLUICE_BIN overrides) and the
`stages` fixture (`make plugins`). Runs B alone, then B beside A's slow sessions, on loopback,
and prints a Markdown table of B's DATA-to-250 latency (p50, p99, max) for BENCHMARKS.md.
"""
import argparse
import os
import pathlib
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HASH = "$argon2id$v=19$m=19456,t=2,p=1$mUVUyVvOfnrjaDrADSvkdQ$4OO0u1/HvlqsvYvhEnt0GbmbzAtEnkc49TGCjPUfaGw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    if os.environ.get("SLUICE_BIN"):
        return str(pathlib.Path(os.environ["SLUICE_BIN"]).resolve())
    release = ROOT / "target/release/sluice"
    return str(release if release.exists() else ROOT / "target/debug/sluice")


def start_relay(tmp, spin_ms, running):
    port = free_port()
    fixture = ROOT / "target/wasm32-wasip2/release/fixture_stages.wasm"
    if not fixture.exists():
        sys.exit("build the fixtures first: make plugins")
    config = f"""
[server]
hostname = "relay.test"
listen = ["127.0.0.1:{port}"]
listen_tls = []
max_connections_per_ip = 200
[auth]
require_tls = false
[spool]
dir = "{tmp}/spool"
[plugins]
cache_dir = "{tmp}/cache"
{f"running_per_tenant = {running}" if running else ""}
[delivery]
mode = "local"
maildir = "{tmp}/maildir"

[[tenant]]
name = "slow"
sender_domains = ["slow.test"]
[[tenant.users]]
username = "slow"
password_hash = "{HASH}"
[[tenant.plugin]]
name = "spin"
path = "{fixture}"
timeout = "{spin_ms + 100}ms"
[tenant.plugin.config]
spin_ms = "{spin_ms}"

[[tenant]]
name = "quick"
sender_domains = ["quick.test"]
[[tenant.users]]
username = "quick"
password_hash = "{HASH}"
"""
    path = pathlib.Path(tmp) / "sluice.toml"
    path.write_text(config)
    proc = subprocess.Popen([binary(), "serve", "--config", str(path)], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                sys.exit("sluice exited at start")
            time.sleep(0.05)
    sys.exit("sluice did not start")


def session(port, user):
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    s.ehlo("bench.test")
    s.login(user, "demo-password")
    return s


def timed_data(s, sender, rcpt, body):
    """One transaction; returns seconds from the end of DATA to the reply."""
    s.mail(sender)
    s.rcpt(rcpt)
    code, _ = s.docmd("DATA")
    assert code == 354, code
    s.send(body + b".\r\n")
    start = time.perf_counter()
    code, msg = s.getreply()
    elapsed = time.perf_counter() - start
    assert code == 250, (code, msg)
    return elapsed


BODY = b"Subject: receipt\r\n\r\n" + b"thanks for your order\r\n" * 200


def quick_run(port, n):
    s = session(port, "quick")
    times = [timed_data(s, "app@quick.test", "buyer@dest.test", BODY) for _ in range(n)]
    s.quit()
    return times


def slow_sender(port, stop, sent):
    s = session(port, "slow")
    while not stop.is_set():
        timed_data(s, "app@slow.test", "lead@dest.test", BODY)
        sent.append(1)
    s.quit()


def summary(times):
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return statistics.median(ms), p99, ms[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--slow-sessions", type=int, default=16)
    ap.add_argument("--spin-ms", type=int, default=150)
    ap.add_argument("--running", type=int, default=0,
                    help="[plugins] running_per_tenant (default: the relay's own default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_relay(tmp, args.spin_ms, args.running)
        try:
            quick_run(port, 20)  # warm-up
            alone = quick_run(port, args.messages)
            stop, sent = threading.Event(), []
            slow = [threading.Thread(target=slow_sender, args=(port, stop, sent))
                    for _ in range(args.slow_sessions)]
            for t in slow:
                t.start()
            # B starts once every slow session has a message in flight.
            while len(sent) < args.slow_sessions:
                time.sleep(0.01)
            started, before = time.time(), len(sent)
            beside = quick_run(port, args.messages)
            slow_rate = (len(sent) - before) / (time.time() - started)
            stop.set()
            for t in slow:
                t.join()
        finally:
            proc.terminate()
            proc.wait()
    a, b = summary(alone), summary(beside)
    running = args.running or "default"
    print(f"running_per_tenant: {running}; binary: {binary()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}")
    print()
    print("| tenant B (no plugins), DATA to 250 | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    print(f"| alone | {a[0]:.1f} | {a[1]:.1f} | {a[2]:.1f} |")
    print(f"| beside {args.slow_sessions} sessions of A ({args.spin_ms} ms of CPU per message) "
          f"| {b[0]:.1f} | {b[1]:.1f} | {b[2]:.1f} |")
    print()
    print(f"p99 ratio beside/alone: {b[1] / a[1]:.2f}; A delivered {slow_rate:.1f} msg/s meanwhile")


if __name__ == "__main__":
    main()
