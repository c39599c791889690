"""The engine's side of the STOMP listener, driven by stomp.py.

argv: HOST PORT CERT KEY CA. stdin: a JSON object {"requests": [...],
"reply_to": DEST or null, "events": bool, "wait_event": NAME or null}.
Connects (STOMP 1.2, TLS with the client certificate), subscribes to the
reply destination (and jms.queue.events), SENDs each request to
jms.topic.vdsm_requests and waits for its answer, prints one JSON object:
{"connected": headers, "answers": [...], "events": [...]}; a refused
connection prints {"refused": why} and exits 3.
"""
import json
import ssl
import sys
import threading
import time

import stomp

host, port, cert, key, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
job = json.load(sys.stdin)
reply_to = job.get("reply_to") or "jms.topic.vdsm_responses"
answers, events, connected = {}, [], {}
cond = threading.Condition()


class Listener(stomp.ConnectionListener):
    def on_connected(self, frame):
        connected.update(frame.headers)

    def on_message(self, frame):
        body = json.loads(frame.body)
        with cond:
            if frame.headers.get("destination") == "jms.queue.events":
                events.append(body)
            else:
                for a in body if isinstance(body, list) else [body]:
                    answers[json.dumps(a.get("id"))] = a
            cond.notify_all()


conn = stomp.Connection12([(host, port)], heartbeats=(1000, 1000))
conn.set_ssl(for_hosts=[(host, port)], key_file=key, cert_file=cert, ca_certs=ca)
conn.set_listener("engine", Listener())
try:
    conn.connect(wait=True, with_connect_command=True)
except Exception as e:  # refused at TLS: the handshake or the first read fails
    print(json.dumps({"refused": repr(e)}))
    sys.exit(3)
conn.subscribe(destination=reply_to, id="replies", ack="auto")
if job.get("events"):
    conn.subscribe(destination="jms.queue.events", id="events", ack="auto")
time.sleep(0.2)
want = []
deadline = time.time() + 300
for r in job["requests"]:
    ids = [json.dumps(one["id"]) for one in (r if isinstance(r, list) else [r]) if "id" in one]
    want += ids
    headers = {"reply-to": reply_to} if job.get("reply_to") else {}
    conn.send(destination="jms.topic.vdsm_requests", body=json.dumps(r),
              content_type="application/json", headers=headers)
    # One at a time, as an engine sends network verbs.
    with cond:
        while not all(w in answers for w in ids) and time.time() < deadline:
            cond.wait(1)
with cond:
    wait_event = job.get("wait_event")
    while wait_event and time.time() < deadline and not any(
            json.dumps(e).find(wait_event) >= 0 for e in events):
        cond.wait(1)
conn.disconnect(receipt="bye")
print(json.dumps({"connected": connected, "answers": [answers.get(w) for w in want], "events": events}))
