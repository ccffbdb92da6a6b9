#!/usr/bin/env python3
"""Opens N idle SMTP connections (reads each banner), prints "open", holds them until stdin
closes. Used to measure the relay's memory with many idle sessions."""
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.recv(512)
    socks.append(s)
print("open", len(socks), flush=True)
sys.stdin.read()
