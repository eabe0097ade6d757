#!/usr/bin/env python3
"""Times how long a page takes to render in headless Chromium, through
chromedriver's W3C WebDriver HTTP API (plain urllib: no Selenium needed).

    scripts/page_render.py URL [--loads N] [--chromedriver PATH] [--chromium PATH]
                           [--expect-rows N] [--expect-tiles N]

Each load is a cold first visit: a new browser session with a fresh profile (so
app.js and app.css come over the wire too), a settle on about:blank while the
browser finishes starting, then one navigation to URL, which returns once the
page's load event has fired. From the page it reads
performance.getEntriesByType('navigation')[0] (responseStart,
domContentLoadedEventEnd, loadEventEnd, sizes) and the first-contentful-paint
entry, all in ms from the navigation's start (rendered_ms: the later of the load
event's end and the first contentful paint), plus the rows of the node table
and the tiles, which are checked against --expect-rows and --expect-tiles.

Prints one JSON object per load on stderr as it goes and, on stdout, one JSON
document: every load and the median of each timing. Exits non-zero (with the
reason) when chromedriver or Chromium fails, or the page is not what was
expected.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1600,1000",
]

# What the page tells about itself, read once it has loaded.
PROBE = """
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const rows = document.querySelectorAll('#node-table tbody tr').length;
const tiles = document.querySelectorAll('#groups .tile').length;
return JSON.stringify({
  ready: document.readyState,
  fcp_ms: fcp ? fcp.startTime : null,
  response_start_ms: nav ? nav.responseStart : null,
  response_end_ms: nav ? nav.responseEnd : null,
  dom_interactive_ms: nav ? nav.domInteractive : null,
  dcl_end_ms: nav ? nav.domContentLoadedEventEnd : null,
  load_end_ms: nav ? nav.loadEventEnd : null,
  transfer_bytes: nav ? nav.transferSize : null,
  encoded_bytes: nav ? nav.encodedBodySize : null,
  decoded_bytes: nav ? nav.decodedBodySize : null,
  rows: rows,
  tiles: tiles,
  title: document.title,
});
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Driver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, timeout=120):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:2000]
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {detail}") from None


def wait_ready(driver, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromedriver exited with {proc.returncode}")
        try:
            if driver.call("GET", "/status", timeout=2).get("ready"):
                return
        except (OSError, RuntimeError):
            pass
        time.sleep(0.1)
    raise RuntimeError("chromedriver did not become ready")


def one_load(driver, url, chromium, profile, settle):
    opts = {"args": FLAGS + [f"--user-data-dir={profile}"]}
    if chromium:
        opts["binary"] = chromium
    caps = {
        "capabilities": {
            "alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "goog:chromeOptions": opts,
                "timeouts": {"pageLoad": 60000, "script": 30000},
            }
        }
    }
    session = driver.call("POST", "/session", caps)["sessionId"]
    try:
        driver.call("POST", f"/session/{session}/url", {"url": "about:blank"})
        time.sleep(settle)
        wall0 = time.monotonic()
        # Returns when the load event has fired (pageLoadStrategy normal).
        driver.call("POST", f"/session/{session}/url", {"url": url})
        wall = (time.monotonic() - wall0) * 1000.0
        # The paint entry can trail the load event by a frame.
        for _ in range(50):
            got = json.loads(driver.call("POST", f"/session/{session}/execute/sync", {"script": PROBE, "args": []}))
            if got["fcp_ms"] is not None and got["load_end_ms"]:
                break
            time.sleep(0.1)
        got["webdriver_wall_ms"] = round(wall, 1)
        # Rendered: loaded and painted, whichever comes last (a headless
        # browser may paint first after the load event).
        if got["fcp_ms"] is not None and got["load_end_ms"]:
            got["rendered_ms"] = max(got["fcp_ms"], got["load_end_ms"])
        return got
    finally:
        try:
            driver.call("DELETE", f"/session/{session}", timeout=30)
        except (OSError, RuntimeError):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--loads", type=int, default=7)
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds on about:blank before each load")
    ap.add_argument("--expect-rows", type=int)
    ap.add_argument("--expect-tiles", type=int)
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="page-render.")
    port = free_port()
    log = open(os.path.join(work, "chromedriver.log"), "w")
    proc = subprocess.Popen([a.chromedriver, f"--port={port}"], stdout=log, stderr=subprocess.STDOUT)
    driver = Driver(port)
    loads = []
    try:
        wait_ready(driver, proc)
        for i in range(a.loads):
            profile = os.path.join(work, f"profile-{i}")
            got = one_load(driver, a.url, a.chromium, profile, a.settle)
            shutil.rmtree(profile, ignore_errors=True)
            print(json.dumps(got), file=sys.stderr, flush=True)
            problems = []
            if got["ready"] != "complete" or not got["load_end_ms"]:
                problems.append(f"page not loaded: readyState {got['ready']}")
            if got["fcp_ms"] is None:
                problems.append("no first-contentful-paint entry")
            if a.expect_rows is not None and got["rows"] != a.expect_rows:
                problems.append(f"{got['rows']} table rows, expected {a.expect_rows}")
            if a.expect_tiles is not None and got["tiles"] != a.expect_tiles:
                problems.append(f"{got['tiles']} tiles, expected {a.expect_tiles}")
            if problems:
                sys.exit(f"load {i + 1}: " + "; ".join(problems))
            loads.append(got)
    except RuntimeError as e:
        sys.exit(f"page_render: {e}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    keys = ["response_start_ms", "dom_interactive_ms", "dcl_end_ms", "load_end_ms", "fcp_ms", "rendered_ms", "webdriver_wall_ms"]
    out = {
        "url": a.url,
        "loads": loads,
        "median": {k: round(statistics.median(l[k] for l in loads), 1) for k in keys},
        "rows": loads[0]["rows"],
        "tiles": loads[0]["tiles"],
        "transfer_bytes": loads[0]["transfer_bytes"],
        "decoded_bytes": loads[0]["decoded_bytes"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
