#!/usr/bin/env python3
"""A notification receiver for benchmarks: answers 200 to every POST and writes
one JSON line per request.

    scripts/notify_receiver.py --out FILE [--bind 127.0.0.1] [--port 0]
                               [--port-file FILE]

Listens on BIND:PORT (port 0: any free one; the port it got is written to
--port-file, once it listens, and on stderr). Every POST is read whole and
answered `200 OK` with an empty body; then one line is appended to --out (and
flushed), with:

    t_ms       when the request's body had been read (Unix time, ms): its arrival
    path       the request path (the benchmark gives each channel its own)
    bytes      the body's length
    key        the Idempotency-Key header (the monitor sends the notification's id)
    title      the Title header (ntfy), if any

and for a JSON body with an `alerts` list (the webhook channel's Alertmanager
version 4 format):

    id, title, status          the notification's
    alerts, firing             how many alerts, how many of them firing
    first_firing_ms            the earliest `startsAt` among firing alerts (ms);
                               null when none is firing
    last_firing_ms             the latest `startsAt` among firing alerts (ms)
    first_change_ms            the earliest transition any alert reports (ms): a
                               firing alert's `startsAt`, a resolved one's `endsAt`

Standard library only (http.server's ThreadingHTTPServer). Runs until killed;
on SIGTERM or SIGINT it stops listening, finishes the line it is writing and
exits 0.
"""

import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def rfc3339_ms(text):
    """Unix ms of an RFC 3339 time such as 2026-12-01T12:30:05.123Z (or +00:00)."""
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    # fromisoformat takes at most 6 fraction digits before Python 3.11.
    if "." in t:
        head, rest = t.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        t = head + "." + (rest[:i] + "000000")[:6] + rest[i:]
    d = datetime.datetime.fromisoformat(t)
    return round(d.timestamp() * 1000)


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    out = None
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        t_ms = time.time() * 1000.0
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.wfile.flush()
        rec = {
            "t_ms": round(t_ms, 1),
            "path": self.path,
            "bytes": len(body),
            "key": self.headers.get("Idempotency-Key"),
            "title": self.headers.get("Title"),
        }
        if body[:1] == b"{":
            try:
                doc = json.loads(body)
            except ValueError as e:
                rec["error"] = f"not JSON: {e}"
                doc = None
            if isinstance(doc, dict) and isinstance(doc.get("alerts"), list):
                firing = [a for a in doc["alerts"] if a.get("status") == "firing"]
                starts, changes = [], []
                for a in doc["alerts"]:
                    # The transition an alert reports: a firing alert's is its
                    # startsAt, a resolved one's its endsAt (the recovery).
                    key = "startsAt" if a.get("status") == "firing" else "endsAt"
                    try:
                        at = rfc3339_ms(a[key])
                    except (KeyError, ValueError, TypeError):
                        rec["error"] = f"bad {key}: {a.get(key)!r}"
                        continue
                    changes.append(at)
                    if key == "startsAt":
                        starts.append(at)
                rec.update(
                    id=doc.get("id"),
                    title=doc.get("title"),
                    status=doc.get("status"),
                    version=doc.get("version"),
                    alerts=len(doc["alerts"]),
                    firing=len(firing),
                    first_firing_ms=min(starts) if starts else None,
                    last_firing_ms=max(starts) if starts else None,
                    first_change_ms=min(changes) if changes else None,
                )
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self.lock:
            self.out.write(line)
            self.out.flush()

    def do_GET(self):  # noqa: N802
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    Receiver.out = open(a.out, "a", encoding="utf-8")
    server = ThreadingHTTPServer((a.bind, a.port), Receiver)
    server.daemon_threads = True
    port = server.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(a.port_file + ".tmp", a.port_file)
    print(f"notify_receiver: listening on http://{a.bind}:{port}/", file=sys.stderr, flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.5)
    server.server_close()
    with Receiver.lock:
        Receiver.out.close()


if __name__ == "__main__":
    main()
