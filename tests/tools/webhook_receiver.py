#!/usr/bin/env python3
"""A webhook receiver for Sluice's tests and benchmarks: accepts POSTs on HOST:PORT and
appends one JSON line per request to LOG (method, path, lower-cased headers, body, the status
it answered, and when).

  webhook_receiver.py --port P --log FILE [--host 127.0.0.1]
                      [--fail-first N]                 answer 500 to the first N requests
                      [--slow-first N --slow-seconds S] wait S seconds before answering
                                                       the first N (after --fail-first ones)
                      [--cert C --key K]               HTTPS
                      [--quiet]                        no log file (benchmarks): count only

Prints "ready" once listening; runs until stdin closes. HTTP/1.1 with keep-alive.
"""
import argparse
import http.server
import json
import ssl
import sys
import threading
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--slow-first", type=int, default=0)
    p.add_argument("--slow-seconds", type=float, default=0.0)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    lock = threading.Lock()
    state = {"n": 0}
    log = None if a.quiet else open(a.log, "a", encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The status line and headers go out in one write, the body in another: without
        # this, Nagle holds the body until the relay's delayed ACK (40 ms a request).
        disable_nagle_algorithm = True

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with lock:
                state["n"] += 1
                n = state["n"]
            status = 200
            if n <= a.fail_first:
                status = 500
            elif n <= a.fail_first + a.slow_first:
                time.sleep(a.slow_seconds)
            answer = b"ok\n" if status == 200 else b"failing on purpose\n"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
                answered = True
            except OSError:
                answered = False
            if log is not None:
                record = {
                    "n": n,
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "status": status,
                    "answered": answered,
                    "at": time.time(),
                }
                with lock:
                    log.write(json.dumps(record) + "\n")
                    log.flush()

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that hung up (a relay killed or timing out) is not news

    server = Server((a.host, a.port), Handler)
    server.daemon_threads = True
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
