"""A bare TLS client at the STOMP listener: without a client certificate,
or with one the daemon's CA did not sign.

argv: HOST PORT CA [CERT KEY]. Sends CONNECT and reads; prints
{"refused": why} and exits 3 when the daemon ends the handshake (TLS 1.3
reports a refused certificate at the first read), or {"answer": text} and
exits 0. (stomp.py cannot be used for a refusal: its TLS transport is
non-blocking and spins on a connection closed after the handshake.)
"""
import json
import socket
import ssl
import sys

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
if len(sys.argv) > 5:
    ctx.load_cert_chain(certfile=sys.argv[4], keyfile=sys.argv[5])
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
