#!/usr/bin/env bash
# End-to-end benchmarks on loopback, with public tools only (/usr/bin/time -v,
# hyperfine, /proc): --once at 100, 1,000 and 10,000 simulated nodes, check_tcp over
# the same 1,000 nodes with xargs -P16, and continuous poll and listen load with
# CPU and RSS read from /proc. Each continuous load is also measured, in the same
# run, against a floor: a minimal raw-epoll C program doing the same socket work
# (scripts/floor/), and the ratio of the CPU medians is reported. A second floor,
# the same work as the plainest tokio program (examples/*_floor_tokio.rs), splits
# that ratio into the runtime's share and the monitor's own. Criterion medians
# are collected too. The history store's reader is timed as well: `uptime --since
# 30d` over a generated file of 10,000 nodes and 10 M transitions (examples/
# history_fill.rs). The web server of `watch --http` is measured at 10,000 nodes:
# /api/v1/status with curl, the fleet page's first render in headless Chromium
# (scripts/page_render.py, through chromedriver), and the CPU that 100 open event
# streams add during a storm. Notifications are measured in the same storm: three
# [[notify]] channels posting to a local receiver (scripts/notify_receiver.py),
# how long after a transition its notification arrives, and the monitor's CPU
# and poll start delay with the channels and without (tcpdump of its requests,
# scripts/poll_starts.py). The results table is written into BENCHMARKS.md.
#
#   scripts/bench.sh               full run (about 45 minutes), rewrites BENCHMARKS.md
#   scripts/bench.sh --quick       200 nodes, checks correctness only (CI smoke test)
#   scripts/bench.sh --continuous  only continuous poll and listen at 10,000 nodes
#                                  with their floors; prints the results, leaves
#                                  BENCHMARKS.md alone (about 6 minutes)
#   scripts/bench.sh --web         only the web server at 10,000 nodes; prints the
#                                  results and replaces the web rows and the web
#                                  section of BENCHMARKS.md, nothing else (about
#                                  11 minutes; the page needs chromium and
#                                  chromedriver, else it prints SKIPPED)
#   scripts/bench.sh --notify      only notifications in a storm of 10,000 nodes,
#                                  without and with three channels; prints the
#                                  results and replaces the notify rows and the
#                                  notify section of BENCHMARKS.md, nothing else
#                                  (about 6 minutes; needs tcpdump, installed
#                                  with apt-get when missing)
#
# Every process it starts is stopped on exit; every load is bounded in time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

QUICK=0
CONTINUOUS=0
WEB=0
NOTIFY=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --continuous) CONTINUOUS=1 ;;
        --web) WEB=1 ;;
        --notify) NOTIFY=1 ;;
        *) echo "usage: scripts/bench.sh [--quick | --continuous | --web | --notify]" >&2; exit 3 ;;
    esac
done

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# The tokio floors (examples/): the same socket work as the C floors, as the
# plainest tokio programs.
# CARGO_BUILD_TARGET (cargo's own setting) picks another target, as CI does to reuse
# the static musl build of the packages step; the outputs then sit under its name.
cargo build --release --quiet --bin syncguard-fleet --example poll_floor_tokio --example listen_floor_tokio
RELEASE_DIR="${CARGO_TARGET_DIR:-$PWD/target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release"
TOKIO_FLOOR="$RELEASE_DIR/examples/poll_floor_tokio"
TOKIO_LISTEN_FLOOR="$RELEASE_DIR/examples/listen_floor_tokio"
HISTORY_FILL="$RELEASE_DIR/examples/history_fill"
BIN="$RELEASE_DIR/syncguard-fleet"
W="$(mktemp -d "${TMPDIR:-/tmp}/syncguard-bench.XXXXXX")"
# The monitors write their history (and logs) here, not in the user's state
# directory.
export XDG_STATE_HOME="$W/state"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
# Measure a copy: another build in the same checkout during a long run must not
# swap the binary under a measurement half done.
cp "$BIN" "$W/syncguard-fleet"
BIN="$W/syncguard-fleet"
# What was built: the commit, and whether the source differed from it.
SOURCE="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    SOURCE="$SOURCE+uncommitted changes in src/"
fi

# Each simulated node and each monitored node needs an open file.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK="$(getconf CLK_TCK)"
RESULTS="$W/results.txt"
: >"$RESULTS"
record() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }

# Tools: hyperfine, GNU time and check_tcp come from Debian's packages.
need_pkgs=()
command -v hyperfine >/dev/null 2>&1 || need_pkgs+=(hyperfine)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
[ -x /usr/bin/time ] || need_pkgs+=(time)
CHECK_TCP=/usr/lib/nagios/plugins/check_tcp
[ "$QUICK" = 1 ] || [ "$WEB" = 1 ] || [ "$NOTIFY" = 1 ] || [ -x "$CHECK_TCP" ] || need_pkgs+=(monitoring-plugins-basic)
# --notify captures the monitor's poll requests.
[ "$NOTIFY" = 0 ] || command -v tcpdump >/dev/null 2>&1 || need_pkgs+=(tcpdump)
if [ "${#need_pkgs[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${need_pkgs[*]}"
    apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1; } || true
fi
[ -x /usr/bin/time ] || die "/usr/bin/time is missing"

# start_sim NAME SIM-ARGS...: starts `syncguard-fleet sim`, waits for its fleet file
# ($W/NAME.toml) and sets SIM_PID.
start_sim() {
    local name="$1"; shift
    rm -f "$W/$name.toml"
    "$BIN" sim "$@" --write-config "$W/$name.toml" >/dev/null 2>"$W/$name.sim.log" &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    for _ in $(seq 1 600); do
        [ -s "$W/$name.toml" ] && return 0
        kill -0 "$SIM_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$W/$name.sim.log" >&2
    die "simulator $name did not start"
}
stop() { kill -"${2:-TERM}" "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# with_defaults FILE DEFAULTS...: prepends a [defaults] table to a sim fleet file.
with_defaults() {
    local file="$1"; shift
    { echo "[defaults]"; printf '%s\n' "$@"; echo; cat "$file"; } >"$file.tmp"
    mv "$file.tmp" "$file"
}

median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
# medr DIGITS VALUES...: the median, rounded.
medr() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[2:]), int(sys.argv[1])))' "$@"; }

# check_json FILE KEY=VALUE...: asserts summary counts in a --once JSON report.
check_json() {
    python3 - "$@" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
by = doc["summary"]["by_status"]
for want in sys.argv[2:]:
    key, value = want.split("=")
    got = doc["summary"]["total"] if key == "total" else by.get(key)
    if got != int(value):
        sys.exit(f"{key} is {got}, expected {value}")
PY
}

# once_runs LABEL RUNS SIM-ARGS... -- CHECKS...: times `--once` RUNS times, each
# against a freshly started simulator (fresh ports, so no TIME_WAIT left by an
# earlier run slows the next, as with cron a minute apart), checks the JSON of
# every run, and records the median wall time and peak RSS.
once_runs() {
    local label="$1" runs="$2"; shift 2
    local sim_args=() checks=() defaults=()
    while [ "$1" != "--" ]; do sim_args+=("$1"); shift; done; shift
    while [ $# -gt 0 ] && [ "$1" != "--defaults" ]; do checks+=("$1"); shift; done
    if [ $# -gt 0 ]; then shift; defaults=("$@"); fi
    local times=() rss=()
    for run in $(seq 1 "$runs"); do
        start_sim "$label" "${sim_args[@]}"
        [ "${#defaults[@]}" -gt 0 ] && with_defaults "$W/$label.toml" "${defaults[@]}"
        sleep 0.3
        local rc=0 t0 t1
        # GNU time reports wall time in 10 ms steps; the clock around it is finer.
        t0="$(date +%s%N)"
        /usr/bin/time -v -o "$W/$label.time" "$BIN" --once --config "$W/$label.toml" --format json \
            >"$W/$label.json" 2>"$W/$label.err" || rc=$?
        t1="$(date +%s%N)"
        stop "$SIM_PID"
        check_json "$W/$label.json" "${checks[@]}" || die "$label run $run: wrong report (exit $rc)"
        local wall
        wall="$(python3 -c "print(round(($t1 - $t0) / 1e9, 4))")"
        times+=("$wall")
        rss+=("$(awk -F': ' '/Maximum resident set size/{print $2}' "$W/$label.time")")
        say "$label run $run: ${wall}s, exit $rc"
    done
    record "${label}_median_s" "$(median "${times[@]}")"
    record "${label}_runs_s" "$(IFS=,; echo "${times[*]}")"
    record "${label}_rss_kb" "$(median "${rss[@]}")"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }

# sample_cpu LABEL PID WINDOWS SECONDS: CPU % of one core in each window, their
# median, the mean over all windows, and RSS at the end.
sample_cpu() {
    local label="$1" pid="$2" windows="$3" secs="$4" pcts=() t0 t1 total0
    total0="$(cpu_ticks "$pid")"
    for _ in $(seq 1 "$windows"); do
        t0="$(cpu_ticks "$pid")"
        sleep "$secs"
        t1="$(cpu_ticks "$pid")"
        pcts+=("$(python3 -c "print(round(($t1 - $t0) / $CLK_TCK / $secs * 100, 2))")")
    done
    local mean
    mean="$(python3 -c "print(round(($t1 - $total0) / $CLK_TCK / ($windows * $secs) * 100, 2))")"
    record "${label}_cpu_windows" "$(IFS=,; echo "${pcts[*]}")"
    record "${label}_cpu_median_pct" "$(median "${pcts[@]}")"
    record "${label}_cpu_mean_pct" "$mean"
    record "${label}_cpu_seconds" "$(python3 -c "print(round(($t1 - $total0) / $CLK_TCK, 3))")"
    record "${label}_rss_kb" "$(rss_kb "$pid")"
    record "${label}_hwm_kb" "$(hwm_kb "$pid")"
    say "$label: CPU ${pcts[*]} % per window, mean $mean %, RSS $(rss_kb "$pid") kB"
}

# continuous_poll LABEL N WARMUP WINDOWS SECS SIM-ARGS...: `watch` over N poll nodes,
# with WATCH_ARGS (say --no-history) before the subcommand.
continuous_poll() {
    local label="$1" n="$2" warmup="$3" windows="$4" secs="$5"; shift 5
    start_sim "$label" "$@"
    local sim_pid="$SIM_PID"
    # As a fleet is watched in production: nodes in sync groups of 8, and /metrics
    # on and scraped every 15 s, as a Prometheus would.
    local mport
    mport="$(free_port)"
    python3 - "$W/$label.toml" "$mport" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
head, *nodes = open(path).read().split("[[node]]")
out = [head, f'[metrics]\nbind = "127.0.0.1:{port}"\n\n']
for i, body in enumerate(nodes):
    out.append("[[node]]" + body.rstrip("\n") + f'\ngroup = "g{i // 8:05d}"\n\n')
open(path, "w").write("".join(out))
PY
    # shellcheck disable=SC2086 # WATCH_ARGS is a list of flags
    "$BIN" --config "$W/$label.toml" ${WATCH_ARGS:-} watch >"$W/$label.events" 2>"$W/$label.watch.err" &
    local pid=$!
    PIDS+=("$pid")
    # Bounded by the monitor's life: it ends when watch is stopped.
    (while kill -0 "$pid" 2>/dev/null; do
        curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$mport/metrics" || true
        sleep 15
    done) &
    PIDS+=("$!")
    sleep "$warmup"
    kill -0 "$pid" 2>/dev/null || { cat "$W/$label.watch.err" >&2; die "$label: watch exited"; }
    sample_cpu "$label" "$pid" "$windows" "$secs"
    curl -s --max-time 10 -o "$W/$label.metrics" "http://127.0.0.1:$mport/metrics" ||
        die "$label: /metrics did not answer"
    record "${label}_metrics_bytes" "$(wc -c <"$W/$label.metrics")"
    record "${label}_metrics_node_series" "$(grep -c '^syncguard_node_[a-z_]*{node=' "$W/$label.metrics" || true)"
    stop "$pid" TERM
    stop "$sim_pid"
    local synced
    synced="$(grep -c -- '-> synced' "$W/$label.events" || true)"
    [ "$synced" -ge "$n" ] || die "$label: only $synced of $n nodes reported synced"
    record "${label}_summary" "$(tail -n 1 "$W/$label.watch.err")"
    record "${label}_nodes" "$n"
    # What the history store holds (each node's first transition at least), when on.
    local db="$XDG_STATE_HOME/syncguard-fleet/history.db"
    if [ -f "$db" ]; then
        local rows
        rows="$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from transition').fetchone()[0])" "$db")"
        record "${label}_history_rows" "$rows"
        [ "$rows" -ge "$n" ] || die "$label: the history store holds $rows transitions for $n nodes"
        rm -f "$db" "$db-wal" "$db-shm"
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# continuous_push LABEL N WARMUP WINDOWS SECS: `watch` receiving N V3 senders at 1 line/s.
continuous_push() {
    local label="$1" n="$2" warmup="$3" windows="$4" secs="$5"
    local port
    port="$(free_port)"
    "$BIN" sim --push "127.0.0.1:$port" --nodes "$n" --interval 1s --write-config "$W/$label.toml" \
        >/dev/null 2>"$W/$label.sim.log" &
    local sim_pid=$!
    PIDS+=("$sim_pid")
    for _ in $(seq 1 100); do [ -s "$W/$label.toml" ] && break; sleep 0.1; done
    "$BIN" --config "$W/$label.toml" watch >"$W/$label.events" 2>"$W/$label.watch.err" &
    local pid=$!
    PIDS+=("$pid")
    sleep "$warmup"
    kill -0 "$pid" 2>/dev/null || { cat "$W/$label.watch.err" >&2; die "$label: watch exited"; }
    sample_cpu "$label" "$pid" "$windows" "$secs"
    # Stop the senders first, let the monitor drain, then compare sent with counted.
    stop "$sim_pid" INT
    sleep 2
    stop "$pid" TERM
    local sent counted heard
    sent="$({ grep -o 'sent [0-9]* lines' "$W/$label.sim.log" | grep -o '[0-9]*'; } || true)"
    counted="$({ grep -o '[0-9]* push lines' "$W/$label.watch.err" | grep -o '^[0-9]*'; } || true)"
    heard="$({ grep -o 'push nodes heard [0-9]*/[0-9]*' "$W/$label.watch.err" | grep -o '[0-9]*/[0-9]*'; } || true)"
    record "${label}_lines_sent" "$sent"
    record "${label}_lines_counted" "$counted"
    record "${label}_heard" "$heard"
    record "${label}_nodes" "$n"
    say "$label: sent $sent, counted $counted, heard $heard"
    [ -n "$sent" ] && [ "$sent" = "$counted" ] || die "$label: sent $sent lines but the monitor counted $counted"
    [ "$heard" = "$n/$n" ] || die "$label: heard $heard senders"
}

# history_uptime LABEL NODES TRANSITIONS DAYS RUNS: fills a history file with
# examples/history_fill.rs (NODES nodes in groups of 16, TRANSITIONS rows spread
# over the last DAYS days, written as a monitor writes them), checks the JSON of
# `uptime --since 30d` over it, then times that RUNS times with hyperfine (none:
# correctness only) and records the median, the peak RSS of one more run, and the
# file's size per transition. The file is removed at the end (it is large).
history_uptime() {
    local label="$1" nodes="$2" rows="$3" days="$4" runs="$5"
    local db="$W/$label.db" t0 t1
    cargo build --release --quiet --example history_fill
    t0="$(date +%s%N)"
    "$HISTORY_FILL" --nodes "$nodes" --transitions "$rows" --days "$days" "$db" >"$W/$label.fill" ||
        die "$label: history_fill failed"
    t1="$(date +%s%N)"
    say "$label: $(tr '\n' ' ' <"$W/$label.fill")"
    local stored bytes
    stored="$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from transition').fetchone()[0])" "$db")"
    # The example folds the write-ahead log into the file; count it if left.
    bytes="$(wc -c <"$db")"
    [ -f "$db-wal" ] && bytes=$((bytes + $(wc -c <"$db-wal")))
    record "${label}_fill_s" "$(python3 -c "print(round(($t1 - $t0) / 1e9, 1))")"
    record "${label}_transitions" "$stored"
    record "${label}_file_bytes" "$bytes"
    record "${label}_bytes_per_transition" "$(python3 -c "print(round($bytes / $stored, 1))")"
    "$BIN" uptime --db "$db" --since 30d --format json >"$W/$label.json" 2>"$W/$label.err" ||
        { cat "$W/$label.err" >&2; die "$label: uptime failed"; }
    python3 - "$W/$label.json" "$nodes" <<'PY' || die "$label: wrong uptime report"
import json, sys
doc = json.load(open(sys.argv[1]))
nodes = int(sys.argv[2])
if len(doc["nodes"]) != nodes:
    sys.exit(f"{len(doc['nodes'])} nodes, expected {nodes}")
if len(doc["groups"]) != -(-nodes // 16):
    sys.exit(f"{len(doc['groups'])} groups, expected {-(-nodes // 16)}")
fleet = doc["fleet"]
# The generated nodes are in lock most of the time, and monitored but for the
# minutes between runs.
if not (90 <= fleet["in_lock_pct"] <= 100 and fleet["monitored_pct"] > 99 and fleet["incidents"] > 0):
    sys.exit(f"implausible fleet line: {fleet}")
PY
    [ "$runs" -gt 0 ] || { rm -f "$db" "$db-wal" "$db-shm"; return 0; }
    hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$W/$label.hf.json" \
        -n "uptime --since 30d" "$BIN uptime --db $db --since 30d --format json >/dev/null" >&2
    /usr/bin/time -v -o "$W/$label.time" "$BIN" uptime --db "$db" --since 30d --format json >/dev/null
    local median
    median="$(python3 -c "import json; print(round(json.load(open('$W/$label.hf.json'))['results'][0]['median'], 4))")"
    record "${label}_median_s" "$median"
    record "${label}_runs_s" "$(python3 -c "import json; print(','.join(str(round(t, 4)) for t in json.load(open('$W/$label.hf.json'))['results'][0]['times']))")"
    record "${label}_rss_kb" "$(awk -F': ' '/Maximum resident set size/{print $2}' "$W/$label.time")"
    say "$label: uptime --since 30d over $stored transitions of $nodes nodes: median ${median}s (target 1 s)"
    rm -f "$db" "$db-wal" "$db-shm"
}

# The floors, compiled here so they are built for this machine. Without a C
# compiler the quick run skips them (one SKIPPED line); a measuring run cannot.
FLOORS=0
build_floors() {
    if ! command -v cc >/dev/null 2>&1; then
        [ "$QUICK" = 1 ] || die "cc is missing: the floors need a C compiler"
        echo "SKIPPED: floor (no C compiler)"
        return 0
    fi
    cc -O2 -Wall -Wextra -Werror -o "$W/poll_floor" scripts/floor/poll_floor.c || die "poll_floor.c"
    cc -O2 -Wall -Wextra -Werror -o "$W/listen_floor" scripts/floor/listen_floor.c || die "listen_floor.c"
    FLOORS=1
}

# wait_exit PID SECONDS: waits for a process that ends on its own, at most SECONDS.
wait_exit() {
    local pid="$1"
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    stop "$pid" KILL
    return 1
}

# field FILE NAME: the value of NAME=VALUE in a floor's summary line.
field() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p"; }

# floor_poll LABEL N WARMUP WINDOWS SECS SIM-ARGS...: the poll floor over N
# simulated nodes, sampled like continuous_poll samples the monitor. FLOOR_BIN
# picks the floor (the C one unless set).
floor_poll() {
    local label="$1" n="$2" warmup="$3" windows="$4" secs="$5"; shift 5
    local floor_bin="${FLOOR_BIN:-$W/poll_floor}"
    start_sim "$label" "$@"
    local sim_pid="$SIM_PID"
    awk '/^host = /{h=$3; gsub(/"/, "", h)} /^port = /{print h, $3}' "$W/$label.toml" >"$W/$label.addrs"
    [ "$(wc -l <"$W/$label.addrs")" = "$n" ] || die "$label: expected $n addresses"
    # It ends on its own a little after the last window.
    local run_for=$((warmup + windows * secs + 3))
    "$floor_bin" "$W/$label.addrs" "$run_for" >"$W/$label.out" 2>"$W/$label.err" &
    local pid=$!
    PIDS+=("$pid")
    sleep "$warmup"
    kill -0 "$pid" 2>/dev/null || { cat "$W/$label.err" >&2; die "$label: floor exited"; }
    sample_cpu "$label" "$pid" "$windows" "$secs"
    wait_exit "$pid" 30 || die "$label: the floor did not end on its own"
    stop "$sim_pid"
    record "${label}_summary" "$(cat "$W/$label.out")"
    say "$label: $(cat "$W/$label.out")"
    local replied
    replied="$(field "$W/$label.out" replied_nodes)"
    [ "$replied" = "$n" ] || die "$label: $replied of $n nodes replied to the floor"
}

# floor_push LABEL N WARMUP WINDOWS SECS: the listen floor receiving N V3 senders
# at 1 line/s, sampled like continuous_push samples the monitor. FLOOR_BIN picks
# the floor (the C one unless set).
floor_push() {
    local label="$1" n="$2" warmup="$3" windows="$4" secs="$5"
    local floor_bin="${FLOOR_BIN:-$W/listen_floor}"
    local port
    port="$(free_port)"
    # It ends on its own a few seconds after the last window: time for the senders
    # to stop and for it to read their last lines.
    local run_for=$((warmup + windows * secs + 5))
    "$floor_bin" "$port" "$run_for" >"$W/$label.out" 2>"$W/$label.err" &
    local pid=$!
    PIDS+=("$pid")
    # The senders' first lines come one interval after they start: no race with
    # the floor's listen.
    "$BIN" sim --push "127.0.0.1:$port" --nodes "$n" --interval 1s >/dev/null 2>"$W/$label.sim.log" &
    local sim_pid=$!
    PIDS+=("$sim_pid")
    sleep "$warmup"
    kill -0 "$pid" 2>/dev/null || { cat "$W/$label.err" >&2; die "$label: floor exited"; }
    sample_cpu "$label" "$pid" "$windows" "$secs"
    stop "$sim_pid" INT
    wait_exit "$pid" 30 || die "$label: the floor did not end on its own"
    local sent counted peak
    sent="$({ grep -o 'sent [0-9]* lines' "$W/$label.sim.log" | grep -o '[0-9]*'; } || true)"
    counted="$(field "$W/$label.out" lines)"
    peak="$(field "$W/$label.out" peak_open)"
    record "${label}_summary" "$(cat "$W/$label.out")"
    record "${label}_lines_sent" "$sent"
    record "${label}_lines_counted" "$counted"
    say "$label: sent $sent, counted $counted; $(cat "$W/$label.out")"
    [ -n "$sent" ] && [ "$sent" = "$counted" ] || die "$label: sent $sent lines but the floor counted $counted"
    [ "$peak" = "$n" ] || die "$label: $peak of $n senders connected at once"
}

# ratio LABEL: the monitor's CPU over its floor's, both as medians of their windows.
ratio() {
    local m f
    m="$(sed -n "s/^$1_cpu_median_pct=//p" "$RESULTS")"
    f="$(sed -n "s/^$1_floor_cpu_median_pct=//p" "$RESULTS")"
    if python3 -c "import sys; sys.exit(0 if float('$f') > 0 else 1)"; then
        local r
        r="$(python3 -c "print(round($m / $f, 2))")"
        record "${1}_floor_ratio" "$r"
        say "$1: monitor $m% / floor $f% of a core (window medians) = x$r"
    else
        say "$1: monitor $m%, floor $f% of a core: too short a window for a ratio"
    fi
}

# tokio_ratio LABEL: the tokio floor's CPU over the C floor's, and the monitor's
# over the tokio floor's (window medians).
tokio_ratio() {
    local m t f
    m="$(sed -n "s/^$1_cpu_median_pct=//p" "$RESULTS")"
    t="$(sed -n "s/^$1_tokio_cpu_median_pct=//p" "$RESULTS")"
    f="$(sed -n "s/^$1_floor_cpu_median_pct=//p" "$RESULTS")"
    if python3 -c "import sys; sys.exit(0 if float('$f') > 0 and float('$t') > 0 else 1)"; then
        record "${1}_tokio_over_floor" "$(python3 -c "print(round($t / $f, 2))")"
        record "${1}_monitor_over_tokio" "$(python3 -c "print(round($m / $t, 2))")"
        say "$1: tokio floor $t% = x$(python3 -c "print(round($t / $f, 2))") the C floor; monitor = x$(python3 -c "print(round($m / $t, 2))") the tokio floor"
    fi
}

# The continuous loads at 10,000 nodes, each followed by its floor.
continuous_10000() {
    say "continuous poll: 10,000 nodes, 5 windows of 12 s after warm-up; then its floor"
    continuous_poll poll_10000 10000 20 5 12 synced=10000 --shared-port
    say "continuous poll: the same with the history store off"
    WATCH_ARGS=--no-history continuous_poll poll_10000_nohist 10000 20 5 12 synced=10000 --shared-port
    floor_poll poll_10000_floor 10000 20 5 12 synced=10000 --shared-port
    ratio poll_10000
    # The same socket work as the plainest tokio program: how much of the
    # monitor's cost over the C floor is the runtime's, not the monitor's.
    say "continuous poll: the tokio floor over the same 10,000 nodes"
    FLOOR_BIN="$TOKIO_FLOOR" floor_poll poll_10000_tokio 10000 20 5 12 synced=10000 --shared-port
    tokio_ratio poll_10000

    say "listen: 10,000 V3 senders at 1 line/s, 5 windows of 12 s after warm-up; then its floor"
    continuous_push push_10000 10000 25 5 12
    floor_push push_10000_floor 10000 25 5 12
    ratio push_10000
    say "listen: the tokio floor receiving the same 10,000 senders"
    FLOOR_BIN="$TOKIO_LISTEN_FLOOR" floor_push push_10000_tokio 10000 25 5 12
    tokio_ratio push_10000
}

# ---- The web server of `watch --http` ----------------------------------------

# group_fleet FILE MODE: puts a sim fleet file's nodes in sync groups of 8, as a
# fleet is run: `contiguous` (nodes 1-8, 9-16, ...) or `spread` (node i in group
# i mod N/8: a run of unhealthy nodes at the end of the file touches every group).
group_fleet() {
    python3 - "$1" "$2" <<'PY'
import sys
path, mode = sys.argv[1], sys.argv[2]
head, *nodes = open(path).read().split("[[node]]")
groups = max(1, len(nodes) // 8)
out = [head]
for i, body in enumerate(nodes):
    g = i // 8 if mode == "contiguous" else i % groups
    out.append("[[node]]" + body.rstrip("\n") + f'\ngroup = "g{g:05d}"\n\n')
open(path, "w").write("".join(out))
PY
}

WEB_HOST=127.0.3.1

# web_start LABEL GROUPING SIM-ARGS...: a simulator, its nodes in groups of 8
# (group_fleet GROUPING), and `watch --http` on a free port with the history off;
# waits (about a minute at most) until every node has a first result. Sets
# WEB_PID, WEB_SIM_PID, WEB_PORT and WEB_URL; the status document it waited for
# is $W/LABEL.status.json, the transitions it printed $W/LABEL.events.
web_start() {
    local label="$1" grouping="$2"; shift 2
    start_sim "$label" "$@"
    WEB_SIM_PID="$SIM_PID"
    group_fleet "$W/$label.toml" "$grouping"
    local n
    n="$(grep -c '^\[\[node\]\]' "$W/$label.toml")"
    # A loopback address of its own: a client elsewhere on this machine that
    # retries 127.0.0.1:PORT (a browser left on a stopped monitor, say) cannot
    # land on this one when PORT comes round again.
    WEB_PORT="$(free_port)"
    WEB_URL="http://$WEB_HOST:$WEB_PORT"
    "$BIN" watch --config "$W/$label.toml" --http "$WEB_HOST:$WEB_PORT" --no-history \
        >"$W/$label.events" 2>"$W/$label.watch.err" &
    WEB_PID=$!
    PIDS+=("$WEB_PID")
    for _ in $(seq 1 120); do
        kill -0 "$WEB_PID" 2>/dev/null || { cat "$W/$label.watch.err" >&2; die "$label: watch exited"; }
        if curl -s --max-time 10 -o "$W/$label.status.json" "$WEB_URL/api/v1/status" &&
            python3 - "$W/$label.status.json" "$n" 2>/dev/null <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
sys.exit(0 if s["total"] == int(sys.argv[2]) and s["by_status"]["pending"] == 0 else 1)
PY
        then
            return 0
        fi
        sleep 0.5
    done
    die "$label: not every one of $n nodes had a first result within a minute"
}
web_stop() { stop "$WEB_PID" TERM; stop "$WEB_SIM_PID"; }

# web_status LABEL RUNS CHECKS...: after one untimed request, GET /api/v1/status
# RUNS times as a script does
# (no Accept-Encoding: the document as it is), then RUNS times as
# a browser does (Accept-Encoding: gzip), each on a new connection, 0.2 s apart,
# timed by curl: time_total, and time_starttransfer (the document is built
# before its first byte goes out). The plain document is checked with CHECKS
# (check_json), the compressed one for its encoding and its node count.
web_status() {
    local label="$1" runs="$2"; shift 2
    local plain=() plain_ttfb=() gz=() gz_ttfb=() code ttfb total size gz_size
    # One request first, not timed (as hyperfine's --warmup 1).
    curl -s -o /dev/null "$WEB_URL/api/v1/status"
    for _ in $(seq 1 "$runs"); do
        read -r code ttfb total size < <(curl -s -o "$W/$label.plain" \
            -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' "$WEB_URL/api/v1/status")
        [ "$code" = 200 ] || die "$label: /api/v1/status answered $code"
        plain+=("$total"); plain_ttfb+=("$ttfb")
        sleep 0.2
    done
    check_json "$W/$label.plain" "$@" || die "$label: wrong /api/v1/status document"
    for _ in $(seq 1 "$runs"); do
        read -r code ttfb total gz_size < <(curl -s -o "$W/$label.gz" -D "$W/$label.gz.head" \
            -H 'Accept-Encoding: gzip' \
            -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' "$WEB_URL/api/v1/status")
        [ "$code" = 200 ] || die "$label: /api/v1/status (gzip) answered $code"
        gz+=("$total"); gz_ttfb+=("$ttfb")
        sleep 0.2
    done
    grep -qi '^content-encoding: *gzip' "$W/$label.gz.head" || die "$label: gzip was asked for but not sent"
    python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.decompress(open(sys.argv[1], "rb").read()))' \
        "$W/$label.gz" >"$W/$label.gz.json" || die "$label: the gzip answer does not decompress"
    check_json "$W/$label.gz.json" "$@" || die "$label: wrong /api/v1/status document (gzip)"
    record "${label}_runs" "$runs"
    record "${label}_plain_median_s" "$(medr 6 "${plain[@]}")"
    record "${label}_plain_ttfb_median_s" "$(medr 6 "${plain_ttfb[@]}")"
    record "${label}_plain_runs_s" "$(IFS=,; echo "${plain[*]}")"
    record "${label}_plain_bytes" "$size"
    # Pretty-printed (indented, as `--once --format json`) or on one line.
    record "${label}_pretty" "$(python3 -c 'import sys; print("yes" if open(sys.argv[1], "rb").read(2) == b"{\n" else "no")' "$W/$label.plain")"
    record "${label}_gzip_median_s" "$(medr 6 "${gz[@]}")"
    record "${label}_gzip_ttfb_median_s" "$(medr 6 "${gz_ttfb[@]}")"
    record "${label}_gzip_runs_s" "$(IFS=,; echo "${gz[*]}")"
    record "${label}_gzip_bytes" "$gz_size"
    say "$label: plain median $(medr 6 "${plain[@]}") s ($size bytes), gzip median $(medr 6 "${gz[@]}") s ($gz_size bytes), $runs runs each (target 0.02 s)"
}

# find_browser: sets CHROMIUM, and NO_BROWSER to why the page cannot be rendered
# here (empty: it can).
find_browser() {
    CHROMIUM="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
    NO_BROWSER=""
    if [ -z "$CHROMIUM" ]; then
        NO_BROWSER="no chromium"
    elif ! command -v chromedriver >/dev/null 2>&1; then
        NO_BROWSER="no chromedriver"
    fi
}

# web_page LABEL LOADS ROWS TILES: the fleet page's first render in headless
# Chromium, LOADS cold loads (scripts/page_render.py: a fresh browser profile each,
# timings from the page's Navigation Timing and Paint Timing entries), each checked
# to list ROWS rows and TILES tiles. Without chromium or chromedriver: SKIPPED.
web_page() {
    local label="$1" loads="$2" rows="$3" tiles="$4"
    find_browser
    if [ -n "$NO_BROWSER" ]; then
        echo "SKIPPED: $label: the fleet page in headless Chromium ($NO_BROWSER)"
        record "${label}_skipped" "$NO_BROWSER"
        return 0
    fi
    python3 scripts/page_render.py "$WEB_URL/" --loads "$loads" --chromium "$CHROMIUM" \
        --expect-rows "$rows" --expect-tiles "$tiles" >"$W/$label.json" 2>"$W/$label.log" ||
        { cat "$W/$label.log" >&2; die "$label: page_render.py failed"; }
    python3 - "$W/$label.json" "$label" >>"$RESULTS" <<'PY'
import json, sys
d, label = json.load(open(sys.argv[1])), sys.argv[2]
for k, v in d["median"].items():
    print(f"{label}_{k}={v}")
for k in ("rendered_ms", "load_end_ms", "dcl_end_ms", "fcp_ms", "response_start_ms"):
    print(f"{label}_{k}_runs=" + ",".join(str(round(x[k], 1)) for x in d["loads"]))
print(f"{label}_loads={len(d['loads'])}")
for k in ("rows", "tiles", "transfer_bytes", "decoded_bytes"):
    print(f"{label}_{k}={d[k]}")
PY
    say "$label: $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["median"])' "$W/$label.json") (medians of $loads loads, ms; target 1500 ms)"
}

# cpu_windows PID WINDOWS SECS: the CPU % of one core of PID in each window, one a line.
cpu_windows() {
    local t0 t1
    for _ in $(seq 1 "$2"); do
        t0="$(cpu_ticks "$1")"
        sleep "$3"
        t1="$(cpu_ticks "$1")"
        python3 -c "print(round(($t1 - $t0) / $CLK_TCK / $3 * 100, 2))"
    done
}

# connections: the connections open to the monitor's web server now.
connections() { ss -Htn state established "( sport = :$WEB_PORT )" | wc -l; }

# foreign LABEL PHASE COUNT: records (and says) that more than COUNT clients were
# connected in a phase: its numbers are not what they claim, and the report says so.
foreign() {
    local who
    # The client ends of the connections, and their processes.
    who="$(ss -Htnp state established "( dport = :$WEB_PORT )" | grep -o 'users:(("[^"]*",pid=[0-9]*' | sort | uniq -c | tr -s ' \n' ' ')"
    record "${1}_foreign" "phase $2: $(connections) connections, expected $3 ($who)"
    echo "WARNING: $1: $(connections) connections to the monitor in phase $2, expected $3 ($who)" >&2
}

# stream_phase LABEL PHASE COUNT WINDOWS SECS [RAW]: COUNT event streams open (or
# none) while the monitor's CPU is sampled (cpu_windows); appends the windows to
# $W/LABEL.PHASE.cpu and "transitions milliseconds" to $W/LABEL.PHASE.rate. With
# RAW, the first client writes what it receives, HTTP chunks and all, to RAW, and
# the transitions the monitor printed while it was connected go to $W/LABEL.client.
stream_phase() {
    local label="$1" phase="$2" count="$3" windows="$4" secs="$5" raw="${6:-}"
    local clients=() life=$((windows * secs + 30)) l0 l1 m0 m1 t0 t1 open
    l0="$(wc -l <"$W/$label.events")"
    for i in $(seq 1 "$count"); do
        if [ "$i" = 1 ] && [ -n "$raw" ]; then
            timeout "$life" curl -sN --raw -o "$raw" "$WEB_URL/api/v1/events" &
        else
            timeout "$life" curl -sN -o /dev/null "$WEB_URL/api/v1/events" &
        fi
        clients+=($!)
    done
    if [ "$count" -gt 0 ]; then
        PIDS+=("${clients[@]}")
        sleep 3
    fi
    open="$(connections)"
    [ "$open" -ge "$count" ] || die "$label: $open of $count event streams open"
    # Anyone else connected would make this phase measure something else.
    [ "$open" = "$count" ] || foreign "$label" "$phase" "$count"
    t0="$(date +%s%N)"; m0="$(wc -l <"$W/$label.events")"
    cpu_windows "$WEB_PID" "$windows" "$secs" >>"$W/$label.$phase.cpu"
    t1="$(date +%s%N)"; m1="$(wc -l <"$W/$label.events")"
    # The server drops a stream whose reader stalls: none may have been dropped.
    open="$(connections)"
    [ "$open" -ge "$count" ] || die "$label: only $open of $count event streams still open after the windows"
    [ "$open" = "$count" ] || foreign "$label" "$phase" "$count"
    echo "$((m1 - m0)) $(((t1 - t0) / 1000000))" >>"$W/$label.$phase.rate"
    for c in "${clients[@]}"; do kill "$c" 2>/dev/null || true; done
    for c in "${clients[@]}"; do wait "$c" 2>/dev/null || true; done
    l1="$(wc -l <"$W/$label.events")"
    [ -z "$raw" ] || echo "$((l1 - l0))" >>"$W/$label.client"
    say "$label, streams open: $count; CPU $(tail -n "$windows" "$W/$label.$phase.cpu" | tr '\n' ' ')% per window, $((m1 - m0)) transitions"
}

# web_streams LABEL STREAMS WARMUP ROUNDS WINDOWS SECS: what open event streams
# add to a storm. 10,000 `flap` nodes (all switch between Synced and Free every
# 10 s, and each is polled every 5-10 s: about 1,000 shown transitions a second,
# without end) under `watch --http`, in groups of 8. After WARMUP s, ROUNDS
# rounds of three phases of WINDOWS windows of SECS s: no stream open, one, then
# STREAMS (`curl -sN` to /dev/null; the first of them `--raw` to a file, whose
# HTTP chunks are the server's writes to that client). First, as a reference,
# the same storm under `watch` without --http, ROUNDS x WINDOWS windows. CPU of
# the monitor from /proc/PID/stat as in sample_cpu; its stdout (a line per
# transition) counts the transitions.
web_streams() {
    local label="$1" streams="$2" warmup="$3" rounds="$4" windows="$5" secs="$6"
    # The reference: the same storm under `watch` without --http (no web server).
    start_sim "${label}_nohttp" flap=10000 --flap-period 10s --shared-port
    group_fleet "$W/${label}_nohttp.toml" contiguous
    "$BIN" watch --config "$W/${label}_nohttp.toml" --no-history \
        >"$W/${label}_nohttp.events" 2>"$W/${label}_nohttp.watch.err" &
    local ref=$!
    PIDS+=("$ref")
    for _ in $(seq 1 600); do
        [ "$(wc -l <"$W/${label}_nohttp.events")" -ge 10000 ] && break
        kill -0 "$ref" 2>/dev/null || { cat "$W/${label}_nohttp.watch.err" >&2; die "$label: watch exited"; }
        sleep 0.1
    done
    [ "$(wc -l <"$W/${label}_nohttp.events")" -ge 10000 ] || die "$label: no first result from every node within a minute"
    sleep "$warmup"
    local m0 m1 t0 t1
    t0="$(date +%s%N)"; m0="$(wc -l <"$W/${label}_nohttp.events")"
    cpu_windows "$ref" "$((rounds * windows))" "$secs" >"$W/$label.nohttp.cpu"
    t1="$(date +%s%N)"; m1="$(wc -l <"$W/${label}_nohttp.events")"
    echo "$((m1 - m0)) $(((t1 - t0) / 1000000))" >"$W/$label.nohttp.rate"
    say "$label, no web server: CPU $(tr '\n' ' ' <"$W/$label.nohttp.cpu")% per window, $((m1 - m0)) transitions"
    stop "$ref" TERM
    stop "$SIM_PID"

    web_start "$label" contiguous flap=10000 --flap-period 10s --shared-port
    # Lag warnings from here on happen under measurement, not at the start.
    local err0
    err0="$(wc -l <"$W/$label.watch.err")"
    sleep "$warmup"
    for round in $(seq 1 "$rounds"); do
        stream_phase "$label" off 0 "$windows" "$secs"
        stream_phase "$label" one 1 "$windows" "$secs"
        stream_phase "$label" many "$streams" "$windows" "$secs" "$W/$label.raw.$round"
    done
    kill -0 "$WEB_PID" 2>/dev/null || { cat "$W/$label.watch.err" >&2; die "$label: watch exited"; }
    record "${label}_rss_kb" "$(rss_kb "$WEB_PID")"
    web_stop
    record "${label}_streams" "$streams"
    record "${label}_rounds" "$rounds"
    record "${label}_windows_s" "$secs"
    local phase
    for phase in nohttp off one many; do
        local pcts
        mapfile -t pcts <"$W/$label.$phase.cpu"
        record "${label}_${phase}_cpu_windows" "$(IFS=,; echo "${pcts[*]}")"
        record "${label}_${phase}_cpu_median_pct" "$(medr 2 "${pcts[@]}")"
        record "${label}_${phase}_cpu_mean_pct" "$(python3 -c 'import statistics, sys; print(round(statistics.mean(map(float, sys.argv[1:])), 2))' "${pcts[@]}")"
        record "${label}_${phase}_transitions_per_s" "$(awk '{n += $1; ms += $2} END {printf "%.1f", n / (ms / 1000)}' "$W/$label.$phase.rate")"
    done
    # The monitor's warnings that a reader fell behind the hub's transitions:
    # stdout (which then skips to the current state) and the event feed (whose
    # open streams then resync from a snapshot), at the start and while measured.
    record "${label}_stdout_lags_start" "$(head -n "$err0" "$W/$label.watch.err" | grep -c 'stdout fell' || true)"
    record "${label}_feed_lags_start" "$(head -n "$err0" "$W/$label.watch.err" | grep -c 'event stream fell' || true)"
    record "${label}_stdout_lags" "$(tail -n +"$((err0 + 1))" "$W/$label.watch.err" | grep -c 'stdout fell' || true)"
    record "${label}_feed_lags" "$(tail -n +"$((err0 + 1))" "$W/$label.watch.err" | grep -c 'event stream fell' || true)"
    # The recorded client: what it was sent, in how many writes, against the
    # transitions the monitor printed while it was connected.
    python3 - "$label" "$(awk '{n += $1} END {print n}' "$W/$label.client")" "$W/$label.raw."* \
        >>"$RESULTS" <<'PY' || die "$label: the recorded client's stream is wrong"
import collections, statistics, sys
label, printed, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
chunks = 0
per_chunk = []
count, size = collections.Counter(), collections.Counter()
total = 0
for path in paths:
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        j = data.find(b"\r\n", i)
        if j < 0:
            break
        n = int(data[i:j].split(b";")[0], 16)
        if n == 0 or j + 2 + n > len(data):
            break  # the end, or cut off when the client was stopped
        chunk = data[j + 2 : j + 2 + n]
        i = j + 2 + n + 2
        chunks += 1
        total += n
        per_chunk.append(chunk.count(b"\nevent: transition\n"))
        for frame in chunk.split(b"\n\n"):
            for line in frame.split(b"\n"):
                if line.startswith(b"event: "):
                    kind = line[7:].decode()
                    count[kind] += 1
                    size[kind] += len(frame) + 2
with_t = [n for n in per_chunk if n]
print(f"{label}_client_chunks={chunks}")
print(f"{label}_client_bytes={total}")
for kind in ("transition", "summary", "ping", "snapshot"):
    print(f"{label}_client_{kind}s={count[kind]}")
    print(f"{label}_client_{kind}_bytes={size[kind]}")
print(f"{label}_client_chunks_with_transitions={len(with_t)}")
print(f"{label}_client_transitions_per_chunk_median={statistics.median(with_t) if with_t else 0}")
print(f"{label}_client_transitions_per_chunk_max={max(with_t) if with_t else 0}")
print(f"{label}_client_monitor_transitions={printed}")
# It connected a moment after the count began and was stopped a moment before
# it ended: nearly every transition, not all.
if count["transition"] < 0.9 * printed:
    sys.exit(f"it got {count['transition']} transitions of the {printed} the monitor printed meanwhile")
PY
    rm -f "$W/$label.raw."*
    # Connected for the sampled windows and the 3 s before them, each round.
    record "${label}_client_seconds" "$((rounds * (windows * secs + 3)))"
    local off_m one_m many_m
    off_m="$(sed -n "s/^${label}_off_cpu_median_pct=//p" "$RESULTS")"
    one_m="$(sed -n "s/^${label}_one_cpu_median_pct=//p" "$RESULTS")"
    many_m="$(sed -n "s/^${label}_many_cpu_median_pct=//p" "$RESULTS")"
    record "${label}_added_pp" "$(python3 -c "print(round($many_m - $off_m, 2))")"
    record "${label}_one_added_pp" "$(python3 -c "print(round($one_m - $off_m, 2))")"
    local nohttp_m
    nohttp_m="$(sed -n "s/^${label}_nohttp_cpu_median_pct=//p" "$RESULTS")"
    record "${label}_server_added_pp" "$(python3 -c "print(round($off_m - $nohttp_m, 2))")"
    say "$label: CPU median window $nohttp_m% without the web server; with it, $off_m% with no stream, $one_m% with one, $many_m% with $streams (target: at most +5 points)"
    say "$label: the recorded client: $(grep "^${label}_client_" "$RESULTS" | tr '\n' ' ')"
}

# The web scenarios at 10,000 nodes.
web_10000() {
    record web_date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    record web_command "scripts/bench.sh${1:+ $1}"
    record web_source "$SOURCE"
    record web_version "$("$BIN" --version)"
    record web_machine "$(nproc) cores: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); Linux $(uname -r)"
    find_browser
    if [ -z "$NO_BROWSER" ]; then
        record web_browser "$("$CHROMIUM" --version 2>/dev/null | tail -n 1); $(chromedriver --version | cut -d' ' -f1-2)"
    fi
    say "web: /api/v1/status and the fleet page, 10,000 healthy nodes in groups of 8"
    web_start web_healthy contiguous synced=10000 --shared-port
    web_status web_status 30 total=10000 synced=10000
    web_page web_page_healthy 7 0 1250
    web_stop
    say "web: the fleet page, 10,000 nodes of which 2,000 free, spread over every group of 8"
    web_start web_unhealthy spread synced=8000 free=2000 --shared-port
    web_page web_page_storm 7 2000 1250
    web_stop
    say "web: 100 event streams during a storm of 10,000 flapping nodes"
    web_streams web_streams 100 20 2 5 12
}

# The web server's correctness at 200 nodes, in seconds: the status document,
# the page, /healthz, a replay of the event ring from its start, and a live stream.
web_quick() {
    web_start q_web contiguous synced=200
    check_json "$W/q_web.status.json" total=200 synced=200 || die "q_web: wrong /api/v1/status"
    local code rows id replayed distinct live
    code="$(curl -s -o "$W/q_web.html" -w '%{http_code}' "$WEB_URL/")"
    [ "$code" = 200 ] || die "q_web: / answered $code"
    rows="$(grep -o '<tr data-node=' "$W/q_web.html" | wc -l)"
    [ "$rows" = 200 ] || die "q_web: the fleet page lists $rows of 200 nodes"
    code="$(curl -s -o "$W/q_web.health" -w '%{http_code}' "$WEB_URL/healthz")"
    [ "$code" = 200 ] && grep -q '"status":"ok"' "$W/q_web.health" || die "q_web: /healthz answered $code: $(cat "$W/q_web.health")"
    # The page carries the id of the newest event; its run, from sequence 0,
    # replays the ring: every node's first transition.
    id="$(sed -n 's/.*data-event-id="\([0-9]*\)-[0-9]*".*/\1/p' "$W/q_web.html" | head -n 1)"
    [ -n "$id" ] || die "q_web: no data-event-id in the fleet page"
    # Both streams at once: the replay for 3 s, and live for 5 s.
    curl -sN --max-time 3 -o "$W/q_web.replay" "$WEB_URL/api/v1/events?since=$id-0" &
    local replay=$!
    curl -sN --max-time 5 -o "$W/q_web.live" "$WEB_URL/api/v1/events" || true
    wait "$replay" || true
    replayed="$(grep -c '^event: transition$' "$W/q_web.replay" || true)"
    distinct="$(grep '^data: ' "$W/q_web.replay" | grep -o '"node":"[^"]*"' | sort -u | wc -l)"
    [ "$replayed" -ge 200 ] && [ "$distinct" = 200 ] ||
        die "q_web: the event stream replayed $replayed transitions of $distinct nodes, expected 200 nodes"
    # Live: the greeting, then the 2 s ping, within 5 s.
    live="$(grep -c -E '^event: (ping|transition|summary)$' "$W/q_web.live" || true)"
    [ "$live" -ge 2 ] || die "q_web: the event stream sent $live events in 5 s, expected the greeting and a ping"
    web_stop
    say "q_web: /api/v1/status 200/200 synced, / lists 200 rows, /healthz ok, $replayed transitions replayed, $live live events in 5 s"
}

# ---- Notifications under a storm ---------------------------------------------

# The channels of the runs with notifications: name:type, each pointed at the
# receiver; and their group_wait.
NOTIFY_CHANNELS=(hook:webhook chat:slack phone:ntfy)
NOTIFY_WAIT_S=10

# notify_receiver_start: scripts/notify_receiver.py on a free port of 127.0.0.1,
# one JSON line per request to $W/notify.recv. Sets RECV_PID and RECV_URL.
notify_receiver_start() {
    rm -f "$W/notify.recv.port"
    python3 scripts/notify_receiver.py --out "$W/notify.recv" --port-file "$W/notify.recv.port" \
        2>"$W/notify.recv.err" &
    RECV_PID=$!
    PIDS+=("$RECV_PID")
    for _ in $(seq 1 100); do
        [ -s "$W/notify.recv.port" ] && break
        kill -0 "$RECV_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$W/notify.recv.port" ] || { cat "$W/notify.recv.err" >&2; die "the notification receiver did not start"; }
    RECV_URL="http://127.0.0.1:$(cat "$W/notify.recv.port")"
}

# notify_run LABEL CHANNELS WARMUP WINDOWS SECS: one run of the storm: 10,000
# `flap` nodes (`--flap-period 10s`: about 1,000 shown transitions a second) in
# groups of 8 under `watch --http` with the history file on, and with CHANNELS=1
# the three [[notify]] channels of NOTIFY_CHANNELS (group_wait NOTIFY_WAIT_S),
# each posting to the receiver under /LABEL/NAME. Its poll requests are captured
# on loopback (tcpdump: one packet per request, the packet's time is when the
# request left); after WARMUP s, WINDOWS windows of SECS s of the monitor's CPU
# (cpu_windows), with /metrics read just before and just after them. Writes
# $W/LABEL.span: "t0_ns t1_ns transitions rss_kb receiver_cpu_ticks".
notify_run() {
    local label="$1" with="$2" warmup="$3" windows="$4" secs="$5"
    start_sim "$label" flap=10000 --flap-period 10s --shared-port
    local sim_pid="$SIM_PID"
    group_fleet "$W/$label.toml" contiguous
    if [ "$with" = 1 ]; then
        local ch
        for ch in "${NOTIFY_CHANNELS[@]}"; do
            printf '\n[[notify]]\nname = "%s"\ntype = "%s"\nurl = "%s/%s/%s"\ngroup_wait = "%ss"\n' \
                "${ch%%:*}" "${ch#*:}" "$RECV_URL" "$label" "${ch%%:*}" "$NOTIFY_WAIT_S" >>"$W/$label.toml"
        done
    fi
    # Every node of a --shared-port simulator listens on the same port.
    local simport
    simport="$(awk '/^port = /{print $3; exit}' "$W/$label.toml")"
    [ -n "$simport" ] || die "$label: no port in the fleet file"
    # Only what the monitor writes to the nodes, with data (the requests; a
    # connection's SYN and ACKs carry none).
    tcpdump -i lo -n -s 64 -B 32768 -w "$W/$label.pcap" \
        "tcp dst port $simport and (tcp[tcpflags] & tcp-push != 0)" 2>"$W/$label.tcpdump.err" &
    local cap=$!
    PIDS+=("$cap")
    for _ in $(seq 1 100); do
        grep -q 'listening on' "$W/$label.tcpdump.err" 2>/dev/null && break
        kill -0 "$cap" 2>/dev/null || break
        sleep 0.1
    done
    grep -q 'listening on' "$W/$label.tcpdump.err" || { cat "$W/$label.tcpdump.err" >&2; die "$label: tcpdump did not start"; }
    local hport
    hport="$(free_port)"
    # The log has the monitor's own lines at info (the notifications made and
    # delivered); the transitions are its stdout already.
    RUST_LOG="info,transitions=off" "$BIN" watch --config "$W/$label.toml" --http "$WEB_HOST:$hport" \
        --history "$W/$label.db" --log-file "$W/$label.log" \
        >"$W/$label.events" 2>"$W/$label.watch.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 600); do
        [ "$(wc -l <"$W/$label.events")" -ge 10000 ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$W/$label.watch.err" >&2; die "$label: watch exited"; }
        sleep 0.1
    done
    [ "$(wc -l <"$W/$label.events")" -ge 10000 ] || die "$label: no first result from every node within a minute"
    sleep "$warmup"
    curl -s --max-time 10 -o "$W/$label.m0" "http://$WEB_HOST:$hport/metrics" || die "$label: /metrics did not answer"
    # The scrape's own work stays out of the windows.
    sleep 1
    local t0 t1 e0 e1 r0=0 r1=0
    [ "$with" = 1 ] && r0="$(cpu_ticks "$RECV_PID")"
    t0="$(date +%s%N)"; e0="$(wc -l <"$W/$label.events")"
    cpu_windows "$pid" "$windows" "$secs" >"$W/$label.cpu"
    t1="$(date +%s%N)"; e1="$(wc -l <"$W/$label.events")"
    [ "$with" = 1 ] && r1="$(cpu_ticks "$RECV_PID")"
    sleep 1
    curl -s --max-time 10 -o "$W/$label.m1" "http://$WEB_HOST:$hport/metrics" || die "$label: /metrics did not answer"
    kill -0 "$pid" 2>/dev/null || { cat "$W/$label.watch.err" >&2; die "$label: watch exited"; }
    echo "$t0 $t1 $((e1 - e0)) $(rss_kb "$pid") $((r1 - r0))" >"$W/$label.span"
    stop "$pid" TERM
    stop "$cap" TERM
    stop "$sim_pid"
    rm -f "$W/$label.db" "$W/$label.db-wal" "$W/$label.db-shm" "$W/$label.db.lock"
    say "$label ($([ "$with" = 1 ] && echo "${#NOTIFY_CHANNELS[@]} channels" || echo "no [[notify]]")): CPU $(tr '\n' ' ' <"$W/$label.cpu")% per window, $((e1 - e0)) transitions; $(grep -o '[0-9]* packets dropped by kernel' "$W/$label.tcpdump.err" || echo 'capture: no count')"
}

# notify_starts OUT SECS RUN...: the poll start delays of the runs' captures over
# their measured windows (scripts/poll_starts.py, windows of SECS s), to OUT.
notify_starts() {
    local out="$1" secs="$2" r t0 t1 args=()
    shift 2
    for r in "$@"; do
        read -r t0 t1 _ <"$W/notify_$r.span"
        args+=("$W/notify_$r.pcap" "${t0:0:-9}.${t0: -9}" "${t1:0:-9}.${t1: -9}")
    done
    python3 scripts/poll_starts.py --window "$secs" "${args[@]}" >"$out" || die "notify: poll_starts.py failed"
}

# notify_10000 COMMAND: the storm without and with notifications, in the order
# off, on, on, off (a drift over the run weighs on both alike), each run 20 s of
# warm-up and 5 windows of 12 s; then what it measured, to $RESULTS.
notify_10000() {
    local warmup=20 windows=5 secs=12 order=(off1 on1 on2 off2)
    record notify_date "$(date -u '+%Y-%m-%d %H:%M UTC')"
    record notify_command "scripts/bench.sh${1:+ $1}"
    record notify_source "$SOURCE"
    record notify_version "$("$BIN" --version)"
    record notify_machine "$(nproc) cores: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); Linux $(uname -r)"
    record notify_capture "$(tcpdump --version 2>&1 | sed -n 1p)"
    record notify_order "$(IFS=,; echo "${order[*]}")"
    record notify_warmup_s "$warmup"
    record notify_windows "$windows"
    record notify_windows_s "$secs"
    record notify_group_wait_s "$NOTIFY_WAIT_S"
    record notify_channels "$(IFS=,; echo "${NOTIFY_CHANNELS[*]}")"
    : >"$W/notify.recv"
    notify_receiver_start
    local run
    for run in "${order[@]}"; do
        notify_run "notify_$run" "$([ "${run#on}" != "$run" ] && echo 1 || echo 0)" "$warmup" "$windows" "$secs"
    done
    stop "$RECV_PID" TERM
    local c
    for c in off on; do
        notify_starts "$W/notify_$c.starts.json" "$secs" "${c}1" "${c}2"
        notify_starts "$W/notify_${c}1.starts.json" "$secs" "${c}1"
        notify_starts "$W/notify_${c}2.starts.json" "$secs" "${c}2"
    done
    python3 scripts/notify_results.py "$W" "$NOTIFY_WAIT_S" "${NOTIFY_CHANNELS[@]}" >>"$RESULTS" ||
        die "notify: the results do not hold"
    # The verdicts' inputs, said.
    local k line=""
    for k in off_cpu_median_pct on_cpu_median_pct added_pp off_start_p99_ms on_start_p99_ms \
        off1_start_p99_ms off2_start_p99_ms on1_start_p99_ms on2_start_p99_ms off_reply_p99_ms on_reply_p99_ms \
        hook_delay_median_s hook_delay_max_s chat_delay_max_s phone_delay_max_s made delivered late; do
        line="$line $k=$(sed -n "s/^notify_$k=//p" "$RESULTS")"
    done
    say "notify:$line"
    rm -f "$W"/notify_*.pcap
}

# The web scenarios need no floor.
[ "$WEB" = 1 ] || [ "$NOTIFY" = 1 ] || build_floors

if [ "$QUICK" = 1 ]; then
    say "quick mode: 200 nodes, correctness only"
    once_runs q_once 1 synced=200 -- total=200 synced=200
    once_runs q_silent 1 synced=180 silent=20 -- synced=180 timeout=20 --defaults 'timeout = "1s"'
    continuous_poll q_poll 200 3 1 2 synced=200
    continuous_push q_push 200 4 1 2
    if [ "$FLOORS" = 1 ]; then
        # Correctness only: every node answers the poll floor, and the listen
        # floor counts every line the senders wrote.
        floor_poll q_poll_floor 200 2 1 1 synced=200
        floor_push q_push_floor 200 3 1 1
    fi
    # The same for the tokio floors.
    FLOOR_BIN="$TOKIO_FLOOR" floor_poll q_poll_tokio 200 2 1 1 synced=200
    FLOOR_BIN="$TOKIO_LISTEN_FLOOR" floor_push q_push_tokio 200 3 1 1
    # The history reader over a generated file: correctness only.
    history_uptime q_uptime 200 200000 400 0
    # The web server: correctness only.
    web_quick
    say "quick benchmark passed"
    exit 0
fi

if [ "$WEB" = 1 ]; then
    web_10000 --web
    say "results"
    cat "$RESULTS"
    say "updating the web rows and the web section of BENCHMARKS.md"
    python3 scripts/bench_report.py --merge-web "$RESULTS" BENCHMARKS.md
    exit 0
fi

if [ "$NOTIFY" = 1 ]; then
    command -v tcpdump >/dev/null 2>&1 || die "tcpdump is missing (apt-get install tcpdump)"
    say "notifications: a storm of 10,000 flapping nodes, without [[notify]] and with three channels"
    notify_10000 --notify
    say "results"
    cat "$RESULTS"
    say "updating the notify rows and the notify section of BENCHMARKS.md"
    python3 scripts/bench_report.py --merge-notify "$RESULTS" BENCHMARKS.md
    exit 0
fi

if [ "$CONTINUOUS" = 1 ]; then
    record machine_cores "$(nproc)"
    record version "$("$BIN" --version)"
    continuous_10000
    say "results"
    cat "$RESULTS"
    exit 0
fi

say "machine"
record machine_cores "$(nproc)"
record machine_kernel "$(uname -r)"
record machine_cpu "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
record machine_date "$(date -u +%Y-%m-%d)"
record version "$("$BIN" --version)"

say "--once, healthy fleets (7 runs each, fresh simulator per run)"
once_runs once_100 7 synced=100 -- total=100 synced=100
once_runs once_1000 7 synced=1000 -- total=1000 synced=1000
once_runs once_10000 7 synced=10000 --shared-port -- total=10000 synced=10000
say "--once, 10,000 nodes of which 1,000 never reply, timeout 2s (5 runs)"
once_runs once_silent 5 synced=9000 silent=1000 --shared-port -- synced=9000 timeout=1000 --defaults 'timeout = "2s"'

say "side by side: --once and check_tcp (xargs -P16) over the same 1,000 nodes"
start_sim side synced=1000
grep '^port = ' "$W/side.toml" | awk '{print $3}' >"$W/side.ports"
[ "$(wc -l <"$W/side.ports")" = 1000 ] || die "side: expected 1000 ports"
ok="$(xargs -P16 -I{} "$CHECK_TCP" -H 127.0.0.1 -p {} -s GET_STATUS -e Synced <"$W/side.ports" | grep -c '^TCP OK' || true)"
[ "$ok" = 1000 ] || die "check_tcp: $ok of 1000 OK"
hyperfine --style basic --runs 7 --warmup 1 --export-json "$W/side.json" \
    -n syncguard-fleet "$BIN --once --config $W/side.toml --format json >/dev/null" \
    -n "check_tcp xargs -P16" "xargs -P16 -I{} $CHECK_TCP -H 127.0.0.1 -p {} -s GET_STATUS -e Synced <$W/side.ports >/dev/null" \
    >&2
stop "$SIM_PID"
record side_ours_median_s "$(python3 -c "import json; print(json.load(open('$W/side.json'))['results'][0]['median'])")"
record side_check_tcp_median_s "$(python3 -c "import json; print(json.load(open('$W/side.json'))['results'][1]['median'])")"

say "continuous poll: 1,000 nodes, 5 windows of 12 s after warm-up"
continuous_poll poll_1000 1000 15 5 12 synced=1000
continuous_10000

say "history: uptime --since 30d over 10,000 nodes and 10 M transitions spread over 400 days (7 runs)"
history_uptime uptime_10000 10000 10000000 400 7
say "history: the worst case, all 10 M transitions within the last 30 days (3 runs)"
history_uptime uptime_10000_30d 10000 10000000 30 3

say "web server: /api/v1/status, the fleet page, event streams in a storm (10,000 nodes)"
web_10000

say "criterion benches"
cargo bench --quiet --bench decode --bench fleet --bench render --bench metrics --bench store -- \
    --warm-up-time 1 --measurement-time 3 >"$W/criterion.log" 2>&1 || { cat "$W/criterion.log" >&2; die "cargo bench"; }
record store_bytes_per_transition "$(cat target/criterion/store/bytes_per_transition)"
python3 - "$RESULTS" <<'PY'
import json, pathlib, sys
out = open(sys.argv[1], "a")
for est in sorted(pathlib.Path("target/criterion").glob("**/new/estimates.json")):
    name = "/".join(est.parts[2:-2])
    median_ns = json.load(open(est))["median"]["point_estimate"]
    out.write(f"criterion:{name}={median_ns}\n")
PY

say "writing BENCHMARKS.md"
# The sections measured by hand are carried over from the file being replaced.
python3 scripts/bench_report.py "$RESULTS" --keep BENCHMARKS.md >"$RESULTS.md"
mv "$RESULTS.md" BENCHMARKS.md
cat BENCHMARKS.md >&2
