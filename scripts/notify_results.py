#!/usr/bin/env python3
"""What `scripts/bench.sh --notify` measured, as key=value lines for its results.

    scripts/notify_results.py DIR GROUP_WAIT_S NAME:TYPE...

DIR is the benchmark's working directory, with the files of its runs
notify_off1, notify_on1, notify_on2 and notify_off2 (each RUN: RUN.span,
RUN.cpu, RUN.m0 and RUN.m1 (/metrics before and after the windows),
RUN.starts.json, RUN.tcpdump.err, RUN.log, RUN.watch.err), notify_off.starts.json
and notify_on.starts.json (scripts/poll_starts.py over both runs of a set-up),
and notify.recv (scripts/notify_receiver.py's lines). GROUP_WAIT_S is the
channels' group_wait and NAME:TYPE the channels, the webhook first.

Prints notify_KEY=VALUE lines on stdout; exits non-zero, after printing, when
the results do not hold (a channel got nothing while measured, a Slack or ntfy
notification has no webhook notification of the same window beside it).
"""

import json, math, os, re, statistics, sys, time

w, gw, channels = sys.argv[1], float(sys.argv[2]), [c.split(":")[0] for c in sys.argv[3:]]
res = {}


def rec(key, value):
    res[key] = value


problems = []


def span(run):
    t0, t1, transitions, rss, recv = open(f"{w}/notify_{run}.span").read().split()
    return int(t0) / 1e9, int(t1) / 1e9, int(transitions), int(rss), int(recv)


def histogram(path):
    """syncguard_reply_latency_seconds: cumulative buckets {le: count}, and its sum."""
    b, total = {}, 0.0
    for line in open(path):
        m = re.match(r'syncguard_reply_latency_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            b[float(m.group(1))] = float(m.group(2))
        elif line.startswith("syncguard_reply_latency_seconds_sum "):
            total = float(line.split()[1])
    return b, total


def quantile(q, buckets):
    """histogram_quantile: linear within the bucket, as Prometheus does."""
    les = sorted(buckets)
    n = buckets[les[-1]]
    if n <= 0:
        return float("nan")
    rank, prev_le, prev_c = q * n, 0.0, 0.0
    for le in les:
        c = buckets[le]
        if c >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-12)
        prev_le, prev_c = le, c
    return les[-2]


def pct(values, q):
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(q * len(v)) - 1))]


# The monitor's log and stderr: its warnings and errors (the transitions are not
# in the log), each with whether it came while the windows ran (the log's times
# are local, to the second) or outside them (start-up, stop).
def log_problems(run):
    t0, t1 = span(run)[:2]
    lines = []
    for path in (f"{w}/notify_{run}.log", f"{w}/notify_{run}.watch.err"):
        try:
            for line in open(path, encoding="utf-8", errors="replace"):
                if not ("[WARN]" in line or "[ERROR]" in line):
                    continue
                m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]", line)
                at = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) if m else None
                inside = at is not None and t0 - 1 <= at <= t1
                lines.append((inside, line.rstrip("\n")))
        except FileNotFoundError:
            pass
    return lines


for c in ("off", "on"):
    runs = [f"{c}1", f"{c}2"]
    cpu = [float(x) for r in runs for x in open(f"{w}/notify_{r}.cpu").read().split()]
    rec(f"{c}_cpu_windows", ",".join(f"{x:g}" for x in cpu))
    rec(f"{c}_cpu_median_pct", round(statistics.median(cpu), 2))
    rec(f"{c}_cpu_mean_pct", round(statistics.mean(cpu), 2))
    spans = [span(r) for r in runs]
    secs = sum(s[1] - s[0] for s in spans)
    rec(f"{c}_seconds", round(secs, 1))
    rec(f"{c}_transitions_per_s", round(sum(s[2] for s in spans) / secs, 1))
    rec(f"{c}_rss_kb", max(s[3] for s in spans))
    st = json.load(open(f"{w}/notify_{c}.starts.json"))
    p = st["pooled"]
    for k in ("requests", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "empty_slots", "stalled_slots"):
        rec(f"{c}_start_{k}", p[k])
    rec(f"{c}_start_requests_per_s", st["requests_per_s"])
    rec(f"{c}_start_window_p99s", ",".join(str(x["p99_ms"]) for x in st["windows"]))
    rec(f"{c}_start_window_p99_median_ms", round(statistics.median(x["p99_ms"] for x in st["windows"]), 3))
    for r in runs:
        rec(f"{r}_start_p99_ms", json.load(open(f"{w}/notify_{r}.starts.json"))["pooled"]["p99_ms"])
    # Reply latency from /metrics: the increase over the windows, both runs added.
    total, lat_sum, scrape_secs = {}, 0.0, 0.0
    for r in runs:
        (b0, s0), (b1, s1) = histogram(f"{w}/notify_{r}.m0"), histogram(f"{w}/notify_{r}.m1")
        for le in b1:
            total[le] = total.get(le, 0.0) + b1[le] - b0.get(le, 0.0)
        lat_sum += s1 - s0
    n = total[max(total)]
    rec(f"{c}_reply_count", int(n))
    rec(f"{c}_reply_p50_ms", round(quantile(0.5, total) * 1000, 3))
    rec(f"{c}_reply_p99_ms", round(quantile(0.99, total) * 1000, 3))
    rec(f"{c}_reply_mean_ms", round(lat_sum / max(n, 1) * 1000, 3))
    # Captured, and dropped by the capture (which would bias the delays).
    dropped = 0
    for r in runs:
        m = re.search(r"(\d+) packets dropped by kernel", open(f"{w}/notify_{r}.tcpdump.err").read())
        dropped += int(m.group(1)) if m else 0
    rec(f"{c}_capture_dropped", dropped)
    warns = [x for r in runs for x in log_problems(r)]
    rec(f"{c}_log_warnings", len(warns))
    rec(f"{c}_log_warnings_measured", sum(1 for inside, _ in warns if inside))
    for i, (inside, l) in enumerate(warns[:5]):
        l = ("(while measured) " if inside else "(outside the windows) ") + l
        rec(f"{c}_log_warning_{i + 1}", l.replace("\n", " "))

rec("added_pp", round(res["on_cpu_median_pct"] - res["off_cpu_median_pct"], 2))


def mann_whitney(a, b):
    """Two-sided exact Mann-Whitney test of a against b (midranks for ties): U of
    a, and the share of all splits of the pooled ranks at least as extreme."""
    import itertools
    pooled = sorted(a + b)
    rank = {}
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1] == pooled[i]:
            j += 1
        rank[pooled[i]] = (i + j) / 2 + 1
        i = j + 1
    ranks = [rank[x] for x in pooled]
    n, m = len(a), len(b)
    shift = n * (n + 1) / 2
    u = sum(rank[x] for x in a) - shift
    mean = n * m / 2
    extreme = count = 0
    for pick in itertools.combinations(ranks, n):
        count += 1
        if abs(sum(pick) - shift - mean) >= abs(u - mean) - 1e-9:
            extreme += 1
    return u, extreme / count


off_w = [float(x) for x in res["off_start_window_p99s"].split(",")]
on_w = [float(x) for x in res["on_start_window_p99s"].split(",")]
u, p = mann_whitney(on_w, off_w)
rec("start_p99_mw_u", u)
rec("start_p99_mw_p", f"{p:.3g}")

# The notifications: what arrived at the receiver while each run's windows ran.
got = [json.loads(l) for l in open(f"{w}/notify.recv")]
per = {ch: [] for ch in channels}
made = delivered = not_delivered = gave_up = 0
windows_total = 0.0
for r in ("on1", "on2"):
    t0, t1, _, _, recv_ticks = span(r)
    windows_total += (t1 - t0) / gw
    run_all = [g for g in got if g["path"].startswith(f"/notify_{r}/")]
    mine = [g for g in run_all if t0 * 1000 <= g["t_ms"] < t1 * 1000]
    # Beside a Slack or ntfy notification of the windows, the webhook one of the
    # same window may have arrived just after them: all of the run's are looked at.
    hooks = [g for g in run_all if g["path"].endswith(f"/{channels[0]}")]
    for g in mine:
        ch = g["path"].rsplit("/", 1)[1]
        if ch == channels[0]:
            base = g
        else:
            # The same window closed for every channel at once (they see the
            # same changes): its webhook notification says when it began.
            near = [h for h in hooks if abs(h["t_ms"] - g["t_ms"]) < 2000]
            if not near:
                problems.append(f"{r}: a {ch} notification at {g['t_ms']} has no webhook notification beside it")
                continue
            base = min(near, key=lambda h: abs(h["t_ms"] - g["t_ms"]))
        if base.get("first_change_ms") is None:
            problems.append(f"{r}: webhook notification {base.get('id')} reports no transition")
            continue
        per[ch].append(dict(g, delay_s=(g["t_ms"] - base["first_change_ms"]) / 1000.0,
                            firing_delay_s=None if base.get("first_firing_ms") is None
                            else (g["t_ms"] - base["first_firing_ms"]) / 1000.0))
    log = open(f"{w}/notify_{r}.log", encoding="utf-8", errors="replace").read()
    made += len(re.findall(r"\] notify \S+: (?:firing|resolved|reminder) ", log))
    delivered += len(re.findall(r"\] notify \S+: delivered ", log))
    not_delivered += len(re.findall(r"\] notify \S+: .* not delivered ", log))
    gave_up += len(re.findall(r"\] notify \S+: gave up on ", log))
    # The slots whose polls left more than 20 ms late: how many came in the
    # second before a notification of this run arrived (or just after it).
    arrivals = sorted(g["t_ms"] / 1000.0 for g in run_all)
    stalled = [at for x in json.load(open(f"{w}/notify_{r}.starts.json"))["windows"] for at, _ in x["stalled_slots"]]
    near_sends = sum(1 for at in stalled if any(a - 1.0 <= at <= a + 0.2 for a in arrivals))
    rec(f"{r}_stalled_slots", len(stalled))
    rec(f"{r}_stalled_slots_near_notifications", near_sends)
    rec(f"{r}_receiver_cpu_pct", round(recv_ticks / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100, 2))
rec("made", made)
rec("delivered", delivered)
rec("not_delivered", not_delivered)
rec("gave_up", gave_up)
rec("window_count", round(windows_total, 1))
all_delays = []
for ch in channels:
    d = [x["delay_s"] for x in per[ch]]
    all_delays += d
    rec(f"{ch}_count", len(d))
    rec(f"{ch}_per_window", round(len(d) / windows_total, 2))
    if not d:
        problems.append(f"no {ch} notification arrived while measured")
        continue
    rec(f"{ch}_delay_median_s", round(statistics.median(d), 3))
    rec(f"{ch}_delay_p99_s", round(pct(d, 0.99), 3))
    rec(f"{ch}_delay_max_s", round(max(d), 3))
    rec(f"{ch}_bytes_median", int(statistics.median(x["bytes"] for x in per[ch])))
    if ch == channels[0]:
        rec(f"{ch}_alerts_median", int(statistics.median(x["alerts"] for x in per[ch])))
        rec(f"{ch}_alerts_max", max(x["alerts"] for x in per[ch]))
        rec(f"{ch}_firing", sum(1 for x in per[ch] if x["status"] == "firing"))
        rec(f"{ch}_resolved", sum(1 for x in per[ch] if x["status"] == "resolved"))
        f = [x["firing_delay_s"] for x in per[ch] if x["firing_delay_s"] is not None]
        if f:
            rec(f"{ch}_firing_delay_median_s", round(statistics.median(f), 3))
            rec(f"{ch}_firing_delay_max_s", round(max(f), 3))
if all_delays:
    rec("delay_max_s", round(max(all_delays), 3))
    rec("late", sum(1 for d in all_delays if d > gw + 1))
rec("notifications", len(all_delays))
for key, value in res.items():
    print(f"notify_{key}={value}")
if problems:
    sys.exit("; ".join(problems))
