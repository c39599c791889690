"""A TLS client without a client certificate at the STOMP listener.

argv: HOST PORT CA. Sends CONNECT and reads; prints {"refused": why} and
exits 3 when the daemon ends the handshake (TLS 1.3 reports the missing
certificate at the first read), or {"answer": text} and exits 0.
"""
import json
import socket
import ssl
import sys

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
try:
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=60), server_hostname=host)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\0")
    data = s.recv(4096)
except (ssl.SSLError, OSError) as e:
    print(json.dumps({"refused": repr(e)}))
    sys.exit(3)
if not data:
    print(json.dumps({"refused": "closed without an answer"}))
    sys.exit(3)
print(json.dumps({"answer": data.decode(errors="replace")}))
