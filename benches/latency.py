#!/usr/bin/env python3
"""Paced SMTP load with per-message latency: the time from the end-of-data dot to the 250.

  latency.py --port P --rate R --count N [--conns C] [--size BYTES]

Messages are started on a fixed schedule (R per second, spread over C connections that each
send many messages), so latency is measured at a known offered load rather than at saturation.
Prints one JSON object: offered and achieved rate, p50/p90/p99/max latency in ms, failures.
"""
import argparse
import asyncio
import json
import time


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] != b"-":
            return line


async def worker(port, queue, body, latencies, failures):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reply(reader)
    writer.write(b"EHLO bench.local\r\n")
    await reply(reader)
    while True:
        due = await queue.get()
        if due is None:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(b"MAIL FROM:<bench@example.com>\r\nRCPT TO:<sink@dest.test>\r\nDATA\r\n")
        codes = [await reply(reader) for _ in range(3)]
        if not codes[2].startswith(b"354"):
            failures.append(codes[2].decode(errors="replace"))
            writer.write(b"RSET\r\n")
            await reply(reader)
            continue
        writer.write(body)
        t0 = time.monotonic()
        writer.write(b".\r\n")
        r = await reply(reader)
        latencies.append(time.monotonic() - t0)
        if not r.startswith(b"250"):
            failures.append(r.decode(errors="replace"))
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--conns", type=int, default=20)
    p.add_argument("--size", type=int, default=5120)
    a = p.parse_args()
    line = b"x" * 78 + b"\r\n"
    body = b"Subject: latency probe\r\n\r\n" + line * max(1, a.size // len(line))
    queue = asyncio.Queue()
    start = time.monotonic() + 0.5
    for i in range(a.count):
        queue.put_nowait(start + i / a.rate)
    for _ in range(a.conns):
        queue.put_nowait(None)
    latencies, failures = [], []
    await asyncio.gather(*(worker(a.port, queue, body, latencies, failures) for _ in range(a.conns)))
    elapsed = time.monotonic() - start
    latencies.sort()
    pct = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)
    print(json.dumps({
        "offered_rate": a.rate, "achieved_rate": round(len(latencies) / elapsed, 1),
        "messages": len(latencies), "failures": len(failures),
        "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0),
    }))


asyncio.run(main())
