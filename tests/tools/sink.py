#!/usr/bin/env python3
"""A receiving SMTP server for Sluice's end-to-end tests, built on aiosmtpd.

Each accepted message is written to DIR as N.eml (the bytes as received) and N.json (the
envelope), the JSON last, so a reader that sees N.json finds N.eml complete.

  --tempfail-first K   answer 451 4.3.0 to the first K DATA transactions
  --reject-rcpt ADDR   answer 550 5.1.1 to RCPT TO:<ADDR> (repeatable)
  --rcpt-reply ADDR=REPLY
                       answer REPLY to RCPT TO:<ADDR> (repeatable); a literal \n in REPLY starts
                       another line, so REPLY can be a multi-line reply ("550-5.1.1 a\n550 5.1.1 b")
  --tls-cert/--tls-key offer STARTTLS with this certificate
  --host ADDR          listen on ADDR (default 127.0.0.1; tests use other 127.0.0.x as MX hosts)
  --slow SECS          wait SECS before answering each DATA
  --extensions LIST    also offer these EHLO keywords (DSN, REQUIRETLS) and accept their
                       MAIL/RCPT parameters, which are kept in the envelope JSON
The most connections open at once so far is kept in DIR/max_sessions. Every connection and
every RCPT with its answer is appended to DIR/log ("connect PEER", "rcpt ADDR REPLY"). While
DIR/rcpt_reply exists, its first line answers every RCPT (a test switches answers mid-run).
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


EXTENSION_PARAMS = {"DSN": {"RET", "ENVID", "NOTIFY", "ORCPT"}, "REQUIRETLS": {"REQUIRETLS"}}


class Sink:
    def __init__(self, directory, tempfail_first, reject_rcpts, slow=0.0, extensions=(),
                 rcpt_replies=None):
        self.slow = slow
        self.extensions = list(extensions)
        self.rcpt_options = {}
        self.directory = directory
        self.tempfail_left = tempfail_first
        self.reject_rcpts = {r.lower() for r in reject_rcpts}
        self.rcpt_replies = {a.lower(): r for a, r in (rcpt_replies or {}).items()}
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        last = responses.pop()
        responses.extend(f"250-{e}" for e in self.extensions)
        responses.append(last)
        return responses

    def log(self, line):
        with open(os.path.join(self.directory, "log"), "a") as f:
            f.write(line + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_reply(envelope, address, rcpt_options)
        self.log(f"rcpt {address} {reply}")
        return reply

    def rcpt_reply(self, envelope, address, rcpt_options):
        try:
            with open(os.path.join(self.directory, "rcpt_reply")) as f:
                return f.readline().strip()
        except FileNotFoundError:
            pass
        if address.lower() in self.reject_rcpts:
            return "550 5.1.1 No such user"
        if address.lower() in self.rcpt_replies:
            return self.rcpt_replies[address.lower()]
        envelope.rcpt_tos.append(address)
        self.rcpt_options[address] = rcpt_options
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.slow:
            await asyncio.sleep(self.slow)
        if self.tempfail_left > 0:
            self.tempfail_left -= 1
            return "451 4.3.0 Try again later"
        self.count += 1
        n = self.count
        with open(os.path.join(self.directory, f"{n}.eml"), "wb") as f:
            f.write(envelope.original_content or envelope.content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "peer": session.peer[0] if session.peer else None,
            "mail_options": envelope.mail_options,
            "rcpt_options": {r: self.rcpt_options.get(r, []) for r in envelope.rcpt_tos},
        }
        tmp = os.path.join(self.directory, f".{n}.json")
        with open(tmp, "w") as f:
            json.dump(meta, f)
        os.rename(tmp, os.path.join(self.directory, f"{n}.json"))
        return "250 2.0.0 Message accepted"


class TlsController(Controller):
    def __init__(self, handler, tls_context, **kw):
        self.tls_context = tls_context
        super().__init__(handler, **kw)

    def factory(self):
        return CountingSMTP(self.handler, tls_context=self.tls_context, require_starttls=False,
                            enable_SMTPUTF8=True, decode_data=False)


class CountingSMTP(SMTP):
    """Keeps the highest number of connections open at once in DIR/max_sessions, and
    accepts the parameters of the extra extensions the sink offers."""
    open_now = 0
    most = 0

    def _getparams(self, params):
        parsed = super()._getparams(params)
        if parsed is not None:
            for ext in self.event_handler.extensions:
                for key in EXTENSION_PARAMS.get(ext, ()):
                    parsed.pop(key, None)
        return parsed

    def connection_made(self, transport):
        peer = transport.get_extra_info("peername")
        self.event_handler.log(f"connect {peer[0] if peer else '-'}")
        CountingSMTP.open_now += 1
        if CountingSMTP.open_now > CountingSMTP.most:
            CountingSMTP.most = CountingSMTP.open_now
            with open(os.path.join(self.event_handler.directory, "max_sessions"), "w") as f:
                f.write(str(CountingSMTP.most))
        super().connection_made(transport)

    def connection_lost(self, exc):
        CountingSMTP.open_now -= 1
        super().connection_lost(exc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tempfail-first", type=int, default=0)
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--slow", type=float, default=0.0)
    p.add_argument("--extensions", default="")
    p.add_argument("--rcpt-reply", action="append", default=[])
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    extensions = [e for e in a.extensions.upper().split(",") if e]
    rcpt_replies = {}
    for item in a.rcpt_reply:
        address, _, reply = item.partition("=")
        rcpt_replies[address] = reply.replace("\\n", "\r\n")
    handler = Sink(a.dir, a.tempfail_first, a.reject_rcpt, a.slow, extensions, rcpt_replies)
    ctx = None
    if a.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
    controller = TlsController(handler, ctx, hostname=a.host, port=a.port,
                               data_size_limit=50_000_000)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # run until the test closes our stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
