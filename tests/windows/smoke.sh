#!/usr/bin/env bash
# The Windows smoke test: lint and cross-build syncguard-fleet.exe
# (x86_64-pc-windows-gnu, MinGW linker, debug build) and run it under Wine against
# simulated nodes on 127.0.0.1:
#   - a fleet with a `free` node: exit 2, and the JSON names every status;
#   - a healthy fleet: exit 0;
#   - a broken config: exit 3, and the error names file:line:col;
#   - no config anywhere: exit 3, and the error lists the Windows places searched;
#   - `watch` prints transitions, stops cleanly on Ctrl-C, and has written its
#     history to %LOCALAPPDATA%;
#   - `service install`, `start`, `stop`, `uninstall` through Wine's service
#     manager: the service polls, logs to its data directory and stops cleanly.
#
#   tests/windows/smoke.sh LINUX_BINARY
#
# LINUX_BINARY (a built syncguard-fleet for this machine) runs the simulator.
# Installs what it needs (the Windows target, MinGW, Wine) when it can; when it
# cannot, prints one `SKIPPED: windows smoke test (reason)` line and exits 0, so
# .ci/run counts it. Every failure is loud (exit 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SIM_BIN="${1:?usage: tests/windows/smoke.sh LINUX_BINARY}"
TARGET=x86_64-pc-windows-gnu
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: windows smoke test: %s\n' "$*" >&2; exit 1; }
skip() { echo "SKIPPED: windows smoke test ($*)"; exit 0; }

apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    apt-get install -y -qq "$@" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; }
}

# --- tools -----------------------------------------------------------------
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    rustup target add "$TARGET" >/dev/null 2>&1 || skip "rustup cannot add the $TARGET target"
fi
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || apt_install gcc-mingw-w64-x86-64 ||
    skip "the MinGW cross-compiler (gcc-mingw-w64-x86-64) cannot be installed"
# Debian's wine64 puts its loader in /usr/lib/wine; the `wine` package adds the
# usual front end. Either will do.
find_wine() {
    for w in wine wine64 /usr/lib/wine/wine64; do
        command -v "$w" >/dev/null 2>&1 && { command -v "$w"; return 0; }
    done
    return 1
}
WINE="$(find_wine)" || { apt_install wine64 || apt_install wine; WINE="$(find_wine)"; } ||
    skip "Wine (wine64) cannot be installed"
say "$("$WINE" --version 2>/dev/null || echo wine), $(x86_64-w64-mingw32-gcc --version | head -1)"

# --- lint and build ----------------------------------------------------------
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# The Windows-only code (signals, the service) is linted only on its own target.
say "cargo clippy --target $TARGET --lib --bins --examples -- -D warnings"
cargo clippy --quiet --target "$TARGET" --lib --bins --examples -- -D warnings ||
    die "clippy found problems in the Windows build"
say "cargo build --target $TARGET (debug)"
cargo build --quiet --target "$TARGET" --bin syncguard-fleet || die "the Windows build failed"
EXE_BUILT="${CARGO_TARGET_DIR:-$PWD/target}/$TARGET/debug/syncguard-fleet.exe"
[ -f "$EXE_BUILT" ] || die "no $EXE_BUILT after the build"

W="$(mktemp -d "${TMPDIR:-/tmp}/syncguard-wine.XXXXXX")"
SIM_PID=""
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    [ -n "${WINEPREFIX:-}" ] && WINEPREFIX="$WINEPREFIX" wineserver -k 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
cp "$EXE_BUILT" "$W/syncguard-fleet.exe"
# The shim (see processprng_shim.c for why), beside the .exe only.
x86_64-w64-mingw32-gcc -O2 -shared -o "$W/bcryptprimitives.dll" \
    tests/windows/processprng_shim.c -ladvapi32 || die "cannot build the ProcessPrng shim"

export WINEPREFIX="$W/prefix" WINEDEBUG=-all
# run_exe OUT ERR ARGS...: the .exe under Wine, from its own directory (relative
# paths need no drive-letter mapping), at most 120 s; sets RC.
run_exe() {
    local out="$1" err="$2"; shift 2
    RC=0
    (cd "$W" && timeout 120 "$WINE" ./syncguard-fleet.exe "$@" >"$out" 2>"$err") || RC=$?
    [ "$RC" != 124 ] || die "the .exe did not finish within 120 s: $(tail -5 "$err")"
}

say "first start: Wine creates its prefix (10-30 s)"
run_exe "$W/version.out" "$W/version.err" --version
[ "$RC" = 0 ] || die "--version exited $RC: $(tail -5 "$W/version.err")"
grep -q '^syncguard-fleet ' "$W/version.out" || die "--version printed: $(cat "$W/version.out")"

# --- a fleet with a free node ------------------------------------------------
start_sim() {
    rm -f "$W/$1.toml"
    "$SIM_BIN" sim "${@:2}" --write-config "$W/$1.toml" >/dev/null 2>"$W/$1.sim.err" &
    SIM_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$W/$1.toml" ] && return 0
        kill -0 "$SIM_PID" 2>/dev/null || die "the simulator exited: $(cat "$W/$1.sim.err")"
        sleep 0.1
    done
    die "the simulator wrote no config"
}
stop_sim() { kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=""; }

say "--once --format json: 3 synced, 1 free on 127.0.0.1"
start_sim mixed synced=3 free=1
run_exe "$W/mixed.json" "$W/mixed.err" --once --format json --config mixed.toml
stop_sim
[ "$RC" = 2 ] || die "a fleet with a free node exited $RC, not 2: $(tail -5 "$W/mixed.err")"
python3 - "$W/mixed.json" <<'PY' || die "the JSON is not what the fleet is"
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
statuses = sorted(n["status"] for n in doc["nodes"])
want = ["free", "synced", "synced", "synced"]
assert statuses == want, f"statuses {statuses}, want {want}"
assert doc["verdict"] == "CRITICAL" and doc["exit_code"] == 2, (doc["verdict"], doc["exit_code"])
print(f"ok: {statuses}, verdict {doc['verdict']}")
PY

say "--once: a healthy fleet exits 0"
start_sim healthy synced=2
run_exe "$W/healthy.out" "$W/healthy.err" --once --format nagios --config healthy.toml
stop_sim
[ "$RC" = 0 ] || die "a healthy fleet exited $RC, not 0: $(cat "$W/healthy.out") $(tail -5 "$W/healthy.err")"
grep -q '^SYNCGUARD OK' "$W/healthy.out" || die "nagios line: $(cat "$W/healthy.out")"

say "a broken config exits 3 with file:line:col"
printf '[[node]]\nname = "wall-01"\nhost = "192.168.0.201"\nport = 70000\n' >"$W/bad.toml"
run_exe "$W/bad.out" "$W/bad.err" --once --config bad.toml
[ "$RC" = 3 ] || die "a broken config exited $RC, not 3"
grep -q 'bad.toml:4:8: node\[0\].port: port must be between 1 and 65535' "$W/bad.err" || die "the error does not name bad.toml:4:8: $(cat "$W/bad.err")"

say "no config anywhere: exit 3, and the searched places are Windows ones"
run_exe "$W/none.out" "$W/none.err" --once
[ "$RC" = 3 ] || die "a missing config exited $RC, not 3"
grep -q 'no config file found' "$W/none.err" || die "missing-config message: $(cat "$W/none.err")"
grep -qi 'AppData.Roaming.syncguard-fleet.config.fleet.toml' "$W/none.err" ||
    die "the search does not name %APPDATA%: $(cat "$W/none.err")"

# --- watch, stopped by Ctrl-C ----------------------------------------------------
# Wine turns SIGINT to a console process into CTRL_C_EVENT, which the .exe hears
# through tokio::signal::windows: a clean stop prints watch's summary.
say "watch prints transitions, serves the status page and stops cleanly on Ctrl-C"
start_sim watch synced=2
HTTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
(cd "$W" && exec timeout 120 "$WINE" ./syncguard-fleet.exe watch --config watch.toml --http "127.0.0.1:$HTTP_PORT" \
    >"$W/watch.out" 2>"$W/watch.err") &
WATCH_PID=$!
for _ in $(seq 1 600); do
    [ "$(grep -c 'pending -> synced' "$W/watch.out" 2>/dev/null)" = 2 ] && break
    kill -0 "$WATCH_PID" 2>/dev/null || die "watch exited early: $(cat "$W/watch.err")"
    sleep 0.1
done
[ "$(grep -c 'pending -> synced' "$W/watch.out")" = 2 ] || die "watch did not report both nodes: $(cat "$W/watch.out")"
# The HTTP server (axum, tokio-io-timeout) on Windows: the page and the JSON.
python3 - "$HTTP_PORT" <<'PY' || die "the status page under Wine: $(tail -5 "$W/watch.err")"
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
doc = json.load(urllib.request.urlopen(base + "/api/v1/status", timeout=10))
assert [n["status"] for n in doc["nodes"]] == ["synced", "synced"], doc["nodes"]
page = urllib.request.urlopen(base + "/", timeout=10)
assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
assert 'data-verdict="OK"' in page.read().decode(), "verdict"
print("ok: the status page served by the .exe")
PY
EXE_PID="$(pgrep -f 'syncguard-fleet.exe watch --config watch.toml' | head -1)"
[ -n "$EXE_PID" ] || die "cannot find the watch process"
kill -INT "$EXE_PID"
RC=0
wait "$WATCH_PID" || RC=$?
stop_sim
[ "$RC" = 0 ] || die "watch exited $RC after Ctrl-C: $(cat "$W/watch.err")"
grep -q '^watched 2 nodes for ' "$W/watch.err" || die "no summary after Ctrl-C: $(cat "$W/watch.err")"
# It wrote its history (SQLite, built in) to %LOCALAPPDATA%, and stopped it cleanly.
db="$(find "$WINEPREFIX/drive_c" -path '*AppData/Local/syncguard-fleet/data/history.db' | head -1)"
[ -n "$db" ] || die "watch wrote no history.db under %LOCALAPPDATA%"
python3 - "$db" <<'PY' || die "the Windows history file is not what watch saw"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT status FROM transition").fetchall()
assert rows == [("synced",), ("synced",)], rows
stopped = db.execute("SELECT stopped_ms FROM run").fetchall()
assert len(stopped) == 1 and stopped[0][0] is not None, stopped
print("ok: history written on Windows:", rows)
PY

# --- the service, under Wine's service manager ---------------------------------
# Not a Windows host: Wine's manager is a stand-in, but the same calls go through
# windows-service (create, start, control Stop, delete) and the same service main
# runs. A persistent wineserver keeps Wine from starting the auto-start service
# again at every command.
say "service install, start, stop, uninstall (Wine's service manager)"
wineserver -k 2>/dev/null || true
wineserver -w 2>/dev/null || true
wineserver -p || die "cannot start a persistent wineserver"
start_sim svc synced=1
run_exe "$W/install.out" "$W/install.err" --config svc.toml service install
[ "$RC" = 0 ] || die "service install exited $RC: $(cat "$W/install.err")"
win_log="$(sed -n 's/^log: //p' "$W/install.out" | tr -d '\r')"
[ -n "$win_log" ] || die "service install named no log: $(cat "$W/install.out")"
case "$win_log" in *'syncguard-fleet\syncguard-fleet.log') ;; *) die "unexpected log path $win_log" ;; esac
run_exe "$W/start.out" "$W/start.err" service start
[ "$RC" = 0 ] || die "service start exited $RC: $(cat "$W/start.err")"
# wait_log TEXT: the service's log has TEXT within 60 s.
# Wine gives services a %ProgramData% of C:\users\Public, unlike the console's
# C:\ProgramData (on Windows both are C:\ProgramData), so the log is looked for
# under the prefix's drive C.
wait_log() {
    local log
    for _ in $(seq 1 600); do
        log="$(find "$WINEPREFIX/drive_c" -path '*/syncguard-fleet/syncguard-fleet.log' 2>/dev/null | head -1)"
        [ -n "$log" ] && grep -q "$1" "$log" 2>/dev/null && return 0
        sleep 0.1
    done
    die "the service's log never said '$1': $(tail -5 "$log" 2>/dev/null)"
}
wait_log 'pending -> synced'
run_exe "$W/stop.out" "$W/stop.err" service stop
[ "$RC" = 0 ] || die "service stop exited $RC: $(cat "$W/stop.err")"
wait_log 'service stopped'
run_exe "$W/uninstall.out" "$W/uninstall.err" service uninstall
[ "$RC" = 0 ] || die "service uninstall exited $RC: $(cat "$W/uninstall.err")"
run_exe "$W/gone.out" "$W/gone.err" service stop
[ "$RC" = 3 ] || die "stopping an uninstalled service exited $RC, not 3"
grep -q 'is it installed' "$W/gone.err" || die "after uninstall: $(cat "$W/gone.err")"
stop_sim

say "windows smoke test passed"
