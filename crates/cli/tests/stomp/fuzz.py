"""Fuzzed STOMP frames at the listener over TLS (a real client cert).

argv: HOST PORT CERT KEY CA COUNT. Sends COUNT frames: mutations of what
an engine sends, after a valid CONNECT; a connection the daemon closes
(an ERROR for a broken frame) is opened again. Prints
{"frames": N, "connections": M}.
"""
import json
import random
import socket
import ssl
import sys

host, port, cert, key, ca, count = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6], int(sys.argv[6])
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
rng = random.Random(1234)
seeds = [
    b"SUBSCRIBE\nid:r\ndestination:jms.topic.vdsm_responses\n\n\0",
    b'SEND\ndestination:jms.topic.vdsm_requests\ncontent-length:60\n\n'
    b'{"jsonrpc":"2.0","id":1,"method":"Host.getNetworkStatistics"}\0',
    b'SEND\ndestination:jms.topic.vdsm_requests\n\n{"jsonrpc":"2.0","id":"x","method":"Nope"}\0',
    b"ACK\nid:1\n\n\0",
    b"\n",
]


def mutate(b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(b) + 1)
        op = rng.random()
        if op < 0.6 and b:
            # the body or a header value: a byte changed
            b[min(at, len(b) - 1)] = rng.choice(b"{}[]\":,ax01\\ ")
        elif op < 0.7:
            b[at:at] = bytes([rng.randrange(256)])
        elif op < 0.75:
            del b[at:]
        else:
            b[at:at] = b[at:at + rng.randrange(40)]
    return bytes(b)


def connect():
    s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\0")
    s.settimeout(60)
    s.recv(4096)
    s.setblocking(False)
    return s


conn, conns = connect(), 1
for i in range(count):
    try:
        conn.sendall(mutate(rng.choice(seeds)))
        try:
            while conn.recv(65536):
                pass
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        else:
            raise ConnectionError("closed")
    except (OSError, ssl.SSLError, ConnectionError):
        conn.close()
        conn, conns = connect(), conns + 1
conn.close()
print(json.dumps({"frames": count, "connections": conns}))
