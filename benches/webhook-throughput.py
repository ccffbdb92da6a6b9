#!/usr/bin/env python3
"""Webhook delivery rate: how fast the relay drains a backlog of events to a local receiver.

    benches/webhook-throughput.py [--messages 2000] [--concurrency 8] [--endpoints 1]

Starts the relay (target/release/sluice if built, else target/debug/sluice; SLUICE_BIN
overrides) with webhooks to a receiver that is down, sends the messages over SMTP (each one
makes an `accepted` and a `delivered` event for the tenant), waits until every event is in
the journal, then starts the receiver (tests/tools/webhook_receiver.py, Python's threading
HTTP server, keep-alive) and times the drain: from the first request the receiver logs to
the moment it has every event. Prints one Markdown table row for BENCHMARKS.md, with the CPU
time the relay and the receiver spent per event during the drain.
"""
import argparse
import json
import os
import pathlib
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
HASH = "$argon2id$v=19$m=19456,t=2,p=1$mUVUyVvOfnrjaDrADSvkdQ$4OO0u1/HvlqsvYvhEnt0GbmbzAtEnkc49TGCjPUfaGw"
SECRET = "bench-webhook-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    if os.environ.get("SLUICE_BIN"):
        return str(pathlib.Path(os.environ["SLUICE_BIN"]).resolve())
    release = ROOT / "target/release/sluice"
    return str(release if release.exists() else ROOT / "target/debug/sluice")


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False


def wait(what, timeout, f):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = f()
        if v:
            return v
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def journal_count(spool):
    n = 0
    for f in (spool / "events").glob("ev-*.jsonl"):
        for line in f.read_text().splitlines():
            e = json.loads(line)
            n += e.get("tenant") == "demo" and e.get("event") in ("accepted", "delivered")
    return n


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--endpoints", type=int, default=1)
    p.add_argument("--sessions", type=int, default=8)
    a = p.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sluice-webhook-bench-"))
    port, admin, hook = free_port(), free_port(), free_port()
    webhooks = "".join(
        f"""
[[tenant.webhook]]
name = "bench{i}"
url = "http://127.0.0.1:{hook}/hook{i}"
secret = "{SECRET}"
events = ["accepted", "delivered"]
concurrency = {a.concurrency}
"""
        for i in range(a.endpoints)
    )
    (tmp / "sluice.toml").write_text(
        f"""
[server]
hostname = "relay.test"
listen = ["127.0.0.1:{port}"]
listen_tls = []
[auth]
require_tls = false
[spool]
dir = "{tmp}/spool"
[admin]
listen = "127.0.0.1:{admin}"
[api]
enabled = false
[events]
webhook_retry_initial = "100ms"
webhook_retry_max = "200ms"
[delivery]
mode = "local"
maildir = "{tmp}/maildir"
[[tenant]]
name = "demo"
sender_domains = ["example.com"]
[[tenant.users]]
username = "demo"
password_hash = "{HASH}"
{webhooks}
"""
    )
    relay = subprocess.Popen(
        [binary(), "serve", "--config", str(tmp / "sluice.toml")],
        cwd=tmp,
        env={**os.environ, "SLUICE_LOG": "warn"},
        stderr=open(tmp / "relay.log", "w"),
    )
    receiver = None
    try:
        wait("the relay", 60, lambda: listening(port))
        body = "Subject: bench\r\n\r\n" + ("x" * 76 + "\r\n") * 13

        def session(count):
            with smtplib.SMTP("127.0.0.1", port) as s:
                s.login("demo", "demo-password")
                for _ in range(count):
                    s.sendmail("app@example.com", ["user@dest.test"], body)

        per = a.messages // a.sessions
        threads = [threading.Thread(target=session, args=(per,)) for _ in range(a.sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events = per * a.sessions * 2
        spool = tmp / "spool"
        wait("the journal", 300, lambda: journal_count(spool) >= events)

        log = tmp / "requests.jsonl"
        receiver = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/tools/webhook_receiver.py"),
             "--port", str(hook), "--log", str(log)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert receiver.stdout.readline().strip() == "ready"
        relay_cpu, receiver_cpu = cpu_seconds(relay.pid), cpu_seconds(receiver.pid)
        want = events * a.endpoints

        lines, ok, offset = [], set(), 0

        def drained():
            # Reads only what the receiver appended since the last look.
            nonlocal offset
            if not log.exists():
                return None
            with open(log) as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            offset += len(complete.encode())
            for l in complete.splitlines():
                r = json.loads(l)
                lines.append(r)
                if r["status"] == 200:
                    ok.add((r["path"], json.loads(r["body"])["id"]))
            return lines if len(ok) >= want else None

        wait("the receiver", 600, drained)
        relay_cpu = cpu_seconds(relay.pid) - relay_cpu
        receiver_cpu = cpu_seconds(receiver.pid) - receiver_cpu
        first, last = lines[0]["at"], max(r["at"] for r in lines)
        seconds = last - first
        print(
            f"| {a.messages} messages → {want} events | {a.endpoints} | {a.concurrency} | "
            f"{len(lines)} | {seconds:.2f} s | {want / seconds:.0f} events/s | "
            f"{relay_cpu / want * 1e6:.0f} µs | {receiver_cpu / want * 1e6:.0f} µs |"
        )
    finally:
        if receiver:
            receiver.stdin.close()
            receiver.wait()
        relay.terminate()
        relay.wait()


if __name__ == "__main__":
    main()
