#!/usr/bin/env python3
"""An authoritative DNS server for Sluice's end-to-end tests, built on dnslib.

Serves the records of a JSON zone file over UDP and TCP on 127.0.0.1:PORT:

  {"example.test": [{"type": "MX", "pref": 10, "value": "mx1.example.test"},
                    {"type": "A", "value": "127.0.0.2"},
                    {"type": "TXT", "value": "v=spf1 -all"}]}

A name that is not in the zone answers NXDOMAIN; a name without records of the asked type
answers NOERROR with no answers (NODATA). An MX of "." is a null MX (RFC 7505). The zone
file is re-read when it changes, so a test can change DNS under a running relay. Prints
"ready" once both sockets listen.
"""
import argparse
import json
import os
import sys
import time

from dnslib import A, AAAA, MX, QTYPE, RCODE, RR, TXT, DNSLabel
from dnslib.server import BaseResolver, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.zone = {}

    def load(self):
        m = os.stat(self.path).st_mtime_ns
        if m != self.mtime:
            with open(self.path) as f:
                raw = json.load(f)
            self.zone = {k.lower().rstrip("."): v for k, v in raw.items()}
            self.mtime = m

    def resolve(self, request, handler):
        self.load()
        reply = request.reply()
        q = request.q
        name = str(q.qname).lower().rstrip(".")
        qtype = QTYPE[q.qtype]
        if name not in self.zone:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rec in self.zone[name]:
            if rec["type"] != qtype:
                continue
            ttl = rec.get("ttl", 60)
            if qtype == "MX":
                rdata = MX(DNSLabel(rec["value"]), rec.get("pref", 10))
            elif qtype == "A":
                rdata = A(rec["value"])
            elif qtype == "AAAA":
                rdata = AAAA(rec["value"])
            elif qtype == "TXT":
                v = rec["value"].encode()
                rdata = TXT([v[i:i + 255] for i in range(0, len(v), 255)])
            else:
                continue
            reply.add_answer(RR(q.qname, q.qtype, rdata=rdata, ttl=ttl))
        return reply


class QuietLogger:
    def __getattr__(self, _name):
        return lambda *a, **k: None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zone", required=True)
    a = p.parse_args()
    resolver = ZoneResolver(a.zone)
    resolver.load()
    servers = [
        DNSServer(resolver, address="127.0.0.1", port=a.port, tcp=tcp, logger=QuietLogger())
        for tcp in (False, True)
    ]
    for s in servers:
        s.start_thread()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # run until the test closes our stdin or kills us
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
