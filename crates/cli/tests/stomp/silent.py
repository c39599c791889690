"""A client that promises heart-beats and then says nothing.

argv: HOST PORT CERT KEY CA. CONNECTs with heart-beat:1000,0, then reads
until the daemon closes. Prints {"connected": text, "after": seconds,
"last": text of the last frame}.
"""
import json
import socket
import ssl
import sys
import time

host, port, cert, key, ca = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection((host, port), timeout=300), server_hostname=host)
s.sendall(b"CONNECT\naccept-version:1.2\nhost:x\nheart-beat:1000,0\n\n\0")
connected = s.recv(4096).decode(errors="replace")
start, last = time.time(), b""
while True:
    try:
        data = s.recv(4096)
    except (ssl.SSLError, OSError):
        break
    if not data:
        break
    last = data
print(json.dumps({"connected": connected, "after": time.time() - start,
                  "last": last.decode(errors="replace")}))
