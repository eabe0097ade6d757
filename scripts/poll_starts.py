#!/usr/bin/env python3
"""Poll start delay of `watch`, from a packet capture of its requests.

    scripts/poll_starts.py [--window SECS] [--tick MS] [--stall MS] PCAP T0 T1 [PCAP T0 T1 ...]

Each PCAP holds the monitor's poll requests as they went over loopback, captured by
`tcpdump -i lo -w PCAP 'tcp dst port SIMPORT and tcp[tcpflags] & tcp-push != 0'`
(one packet per request: the monitor keeps its connections, so every poll is one
write). T0 and T1 bound the period of it analysed (Unix seconds), cut into
windows of SECS seconds (default 12); several captures (runs of the same
set-up) are analysed together, their windows one after the other.

The monitor starts its polls on a grid (src/engine/timetable.rs: POLL_TICK,
100 ms): every poller due in a slot is woken at the slot's instant, and each then
writes its request. How late a request leaves after its slot's instant is its
start delay: the runtime's timer, then the pollers ahead of it in the slot, then
anything else the single runtime thread was busy with. The grid's origin is an
Instant inside the monitor; here it is found from the requests themselves, per
window: most requests leave within a few ms of their slot, so their times modulo
the tick pile up just after the slots' phase; the least delayed request of that
pile (no request leaves before its slot) is taken as delay 0. Delays are
therefore beyond the best case of that window (which is the timer's wake-up,
about 0-1 ms, the same in every run). A delay of a whole tick or more would
alias to a short one; it shows as a slot with no request (about 130 are due in
each at 10,000 nodes), counted as empty_slots.

Prints one JSON document: per window the request count, the delay's p50, p90,
p99, p99.9 and maximum (ms), the empty slots and the stalled ones (whose latest
request left more than --stall ms late, default 20: [slot instant in Unix s,
that delay]), and the same over all windows pooled, with the requests per
second.
Standard library only (the pcap file format is read directly).
"""

import argparse
import json
import math
import struct
import sys


def read_pcap(path):
    """Packet times (Unix seconds, float) of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit(f"{path}: not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    div = 1e9 if nano else 1e6
    rec = struct.Struct(end + "IIII")
    out = []
    i = 24
    while i + 16 <= len(data):
        sec, frac, incl, _ = rec.unpack_from(data, i)
        out.append(sec + frac / div)
        i += 16 + incl
    return out


def quantile(sorted_values, q):
    """The q-quantile of sorted values (nearest rank)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def delays(times, tick_ms):
    """Each request's delay after its slot (ms), and how many slots between the
    first and the last request had none (a slot whose requests all left a tick
    or more late). The slots' phase is found as described above."""
    if not times:
        return [], 0, []
    phases = [(t * 1000.0) % tick_ms for t in times]
    bins = int(round(tick_ms * 2))  # 0.5 ms each
    width = tick_ms / bins
    count = [0] * bins
    for p in phases:
        count[min(bins - 1, int(p / width))] += 1
    # Most requests leave within a few ms of their slot: the fullest bin is just
    # after the slots' instant. Walk back from it through occupied bins (at most
    # 5 ms: nothing leaves before its slot, so the requests just before the
    # fullest bin are the least delayed of the same slots).
    peak = max(range(bins), key=lambda j: count[j])
    first = peak
    for _ in range(int(5.0 / width)):
        prev = (first - 1) % bins
        if count[prev] == 0:
            break
        first = prev
    # The least delayed request: the smallest phase at or after that bin.
    lo = first * width
    origin = min(((p - lo) % tick_ms, p) for p in phases)[1]
    out, slots = [], {}
    for t in times:
        x = t * 1000.0 - origin
        k = x // tick_ms
        d = x - k * tick_ms
        slots[k] = max(slots.get(k, 0.0), d)
        out.append(d)
    empty = int(max(slots) - min(slots) + 1 - len(slots))
    # Each slot's instant (Unix s) and its latest request's delay (ms).
    worst = [((k * tick_ms + origin) / 1000.0, d) for k, d in sorted(slots.items())]
    return out, empty, worst


def summary(values):
    v = sorted(values)
    return {
        "requests": len(v),
        "p50_ms": round(quantile(v, 0.50), 3),
        "p90_ms": round(quantile(v, 0.90), 3),
        "p99_ms": round(quantile(v, 0.99), 3),
        "p999_ms": round(quantile(v, 0.999), 3),
        "max_ms": round(v[-1], 3) if v else float("nan"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spans", nargs="+", metavar="PCAP T0 T1")
    ap.add_argument("--window", type=float, default=12.0)
    ap.add_argument("--tick", type=float, default=100.0, help="the poll grid, ms")
    ap.add_argument("--stall", type=float, default=20.0, help="list the slots whose latest request left more than this late, ms")
    a = ap.parse_args()
    if len(a.spans) % 3:
        ap.error("give PCAP T0 T1 for each capture")
    windows, pooled, seconds, requests = [], [], 0.0, 0
    for i in range(0, len(a.spans), 3):
        path, t0, t1 = a.spans[i], float(a.spans[i + 1]), float(a.spans[i + 2])
        times = [t for t in read_pcap(path) if t0 <= t < t1]
        seconds += t1 - t0
        requests += len(times)
        n = max(1, int(round((t1 - t0) / a.window)))
        for w in range(n):
            lo = t0 + w * a.window
            hi = t1 if w == n - 1 else lo + a.window
            d, empty, worst = delays([t for t in times if lo <= t < hi], a.tick)
            pooled.extend(d)
            stalled = [[round(at, 3), round(ms, 1)] for at, ms in worst if ms > a.stall]
            windows.append(dict(summary(d), empty_slots=empty, stalled_slots=stalled))
    doc = {
        "seconds": round(seconds, 3),
        "requests_per_s": round(requests / max(seconds, 1e-9), 1),
        "windows": windows,
        "pooled": dict(
            summary(pooled),
            empty_slots=sum(w["empty_slots"] for w in windows),
            stalled_slots=sum(len(w["stalled_slots"]) for w in windows),
        ),
    }
    json.dump(doc, sys.stdout)
    print()


if __name__ == "__main__":
    main()
