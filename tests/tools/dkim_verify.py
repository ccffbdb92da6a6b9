#!/usr/bin/env python3
"""Verifies every DKIM-Signature of a message with dkimpy, an implementation independent of
Sluice's (mail-auth), looking keys up in the test DNS server.

  dkim_verify.py --dns-port PORT FILE.eml

Prints one line per signature ("pass d=... s=... a=..." or "fail ...") and exits 0 only if
there is at least one signature and all of them verify.
"""
import argparse
import sys

import dkim
import dnslib


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dns-port", type=int, required=True)
    p.add_argument("file")
    a = p.parse_args()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        q = dnslib.DNSRecord.question(name.rstrip("."), "TXT")
        reply = dnslib.DNSRecord.parse(q.send("127.0.0.1", a.dns_port, timeout=timeout))
        for rr in reply.rr:
            if rr.rtype == dnslib.QTYPE.TXT:
                return b"".join(rr.rdata.data)
        return None

    message = open(a.file, "rb").read()
    d = dkim.DKIM(message)
    count = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
    ok = count > 0
    for i in range(count):
        good = d.verify(idx=i, dnsfunc=dnsfunc)
        sig = d.signature_fields
        print("pass" if good else "fail",
              "d=" + sig.get(b"d", b"?").decode(), "s=" + sig.get(b"s", b"?").decode(),
              "a=" + sig.get(b"a", b"?").decode())
        ok = ok and good
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
