"""Looks at the status page in headless Chromium over the DevTools
protocol (on a pipe: no port), makes a change, and waits for the page to
show its event live.

argv: URL PNG EXPECT NODE CMD...  Loads URL, waits for the picture and
the event stream, runs CMD, waits until an event that came over the stream
contains EXPECT and the picture's node NODE (its data-node) is drawn down
(the page redrew itself), saves a screenshot to PNG and prints
{"svg": text of the picture, "rows": the networks table, "live": events,
"before"/"after": NODE's class before CMD and at the end,
"redraws": redraws the page did}. With EXPECT "-" (a saved page, as
file://) there is no event stream and no CMD: it renders, keeps the
screenshot and prints what it shows, with "boxes": the size of each
picture node as drawn, by data-node.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

url, png, expect, node, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()
profile = tempfile.mkdtemp()
args = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
        "--user-data-dir=" + profile, "--window-size=1400,1000", "about:blank"]
browser = subprocess.Popen(
    ["sh", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', "chromium", *args],
    pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_chrome_r)
os.close(from_chrome_w)
buf, next_id = b"", 0


def recv():
    global buf
    while b"\0" not in buf:
        chunk = os.read(from_chrome_r, 1 << 16)
        if not chunk:
            raise SystemExit("chromium closed the pipe")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)


def send(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
    while True:
        m = recv()
        if m.get("id") == next_id:
            if "error" in m:
                raise SystemExit(f"{method}: {m['error']}")
            return m["result"]


def until(check, what, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        v = check()
        if v:
            return v
        time.sleep(0.3)
    raise SystemExit("timed out waiting for " + what)


try:
    target = send("Target.createTarget", {"url": url})["targetId"]
    session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def js(expr):
        r = send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
        return r["result"].get("value")

    until(lambda: js("document.readyState === 'complete' && !!document.querySelector('#picture svg')"),
          "the page and its picture")
    live = expect != "-"
    if live:
        until(lambda: js("typeof es !== 'undefined' && es.readyState === 1"), "the event stream")
    node_js = "(e => e && e.getAttribute('class'))(" \
        "document.querySelector('#picture svg [data-node=\"%s\"]'))" % node
    before = js(node_js)
    live_js = "[...document.querySelectorAll('#events li.live')].map(l => l.textContent)"
    if live:
        subprocess.run(cmd, check=True)
        until(lambda: any(expect in e for e in js(live_js)), "the live event")
        until(lambda: "down" in (js(node_js) or "").split(), node + " drawn down")
    shot = send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
    with open(png, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    rows = js("[...document.querySelectorAll('#networks tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
    print(json.dumps({"svg": js("document.querySelector('#picture svg').textContent"),
                      "rows": rows, "live": js(live_js), "before": before,
                      "after": js(node_js), "redraws": js("document.body.dataset.redraws"),
                      "boxes": js("Object.fromEntries([...document.querySelectorAll("
                                  "'#picture svg [data-node]')].map(g => {const b = g.getBBox();"
                                  " return [g.dataset.node, [b.width, b.height]];}))")}))
finally:
    try:
        send("Browser.close")
    except BaseException:
        pass
    browser.wait(timeout=30)
