"""N clients connect, STARTTLS, then wait for one another and send a failing AUTH PLAIN at
the same moment. Prints one JSON line: the reply each client got, in order.

    python3 tests/tools/auth_burst.py PORT N            # each client from its own loopback
        # address (127.0.0.11, .12, ...) as its own unknown user: no lockout applies
    python3 tests/tools/auth_burst.py PORT N one-client # all from 127.0.0.2 as "demo"
"""
import base64
import json
import smtplib
import ssl
import sys
import threading

port, n = int(sys.argv[1]), int(sys.argv[2])
one_client = sys.argv[3:] == ["one-client"]
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
together = threading.Barrier(n)
replies = [None] * n


def client(i):
    k = 10 + i
    source = "127.0.0.2" if one_client else f"127.0.{k // 250}.{k % 250 + 1}"
    user = "demo" if one_client else f"burst{i}"
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=120, source_address=(source, 0))
        s.ehlo("burst.test")
        s.starttls(context=tls)
        s.ehlo("burst.test")
        token = base64.b64encode(f"\0{user}\0wrong-password-{i}".encode()).decode()
        together.wait(timeout=120)
        code, text = s.docmd("AUTH", "PLAIN " + token)
        replies[i] = f"{code} {text.decode(errors='replace')}"
        s.close()
    except Exception as e:  # reported to the test, which names the client
        together.abort()
        replies[i] = f"error from {source}: {e!r}"


threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(replies))
