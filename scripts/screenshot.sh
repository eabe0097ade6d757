#!/usr/bin/env bash
# Screenshots of the status page for the docs, from the embedded demo fleet:
#
#   docs/status-page.png   the fleet page (/), 1600x1000
#   docs/wall.png          the wall (/wall), 1920x1080
#
#   scripts/screenshot.sh [BINARY]    BINARY: default ./target/release/syncguard-fleet
#
# Builds nothing. Runs `BINARY demo --http 127.0.0.1:<free port> --no-history` in a
# detached tmux session on a tmux server of its own (demo needs a terminal), waits
# until every node has a result, and takes each picture with headless Chromium
# (`chromium --headless=new --screenshot`). On exit, also on failure, it stops that
# tmux server (and with it the demo) and removes its temporary directory (the
# browser profile, the demo's state directory).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

bin="${1:-./target/release/syncguard-fleet}"
[ -x "$bin" ] || die "$bin is not an executable (build it first: cargo build --release)"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

chromium=""
for c in "${CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
    if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then
        chromium="$(command -v "$c")"
        break
    fi
done
[ -n "$chromium" ] || die "chromium not found (Debian: apt-get install chromium; or set CHROMIUM)"
command -v tmux >/dev/null 2>&1 || die "tmux not found (Debian: apt-get install tmux)"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/syncguard-screenshot.XXXXXX")"
# A tmux server of our own: another session named like ours, or the user's own
# server, is never touched.
sock="syncguard-screenshot-$$"
cleanup() {
    tmux -L "$sock" kill-server >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

# GET $1 from the demo's server; the body on stdout, or a failure.
get() {
    python3 - "$base$1" <<'PY'
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.stdout.write(r.read().decode("utf-8", "replace"))
except Exception:
    sys.exit(1)
PY
}

say "demo on $base (tmux -L $sock)"
printf -v cmd 'cd %q && exec env XDG_STATE_HOME=%q NO_COLOR=1 %q demo --http %q --no-history 2>%q' \
    "$tmp" "$tmp/state" "$bin" "127.0.0.1:$port" "$tmp/demo.stderr"
tmux -L "$sock" -f /dev/null new-session -d -s screenshot -x 160 -y 48 "$cmd"

# Every node polled (no pending), so the pictures show the demo's statuses.
ready=0
for _ in $(seq 1 60); do
    if status="$(get /api/v1/status)" && python3 -c '
import json, sys
doc = json.loads(sys.argv[1])
sys.exit(0 if doc["nodes"] and doc["summary"]["by_status"].get("pending", 0) == 0 else 1)
' "$status" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
if [ "$ready" -ne 1 ]; then
    cat "$tmp/demo.stderr" >&2 || true
    die "the demo's status page did not settle within 30 s on $base"
fi
# A few seconds of ages ("since") on the page rather than all zeros.
sleep 3

# shot WIDTH HEIGHT PATH OUTPUT
shot() {
    local width="$1" height="$2" path="$3" out="$4"
    say "$out: $base$path at ${width}x${height}"
    rm -f "$out"
    # Debian's launcher prints shell noise on stderr; kept in a log for failures.
    if ! timeout 60 "$chromium" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --disable-background-networking --disable-component-update --no-first-run \
        --no-default-browser-check --hide-scrollbars --user-data-dir="$tmp/profile" \
        --window-size="$width,$height" --screenshot="$PWD/$out" "$base$path" \
        >"$tmp/chromium.log" 2>&1 || [ ! -s "$out" ]; then
        cat "$tmp/chromium.log" >&2 || true
        die "no screenshot $out"
    fi
    python3 - "$out" "$width" "$height" <<'PY'
import struct
import sys

path, want = sys.argv[1], (int(sys.argv[2]), int(sys.argv[3]))
with open(path, "rb") as f:
    head = f.read(24)
if head[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
size = struct.unpack(">II", head[16:24])
if size != want:
    sys.exit(f"{path}: {size[0]}x{size[1]}, expected {want[0]}x{want[1]}")
PY
}

mkdir -p docs
shot 1600 1000 / docs/status-page.png
shot 1920 1080 /wall docs/wall.png

# Smaller files, when a lossless optimiser is at hand.
if command -v optipng >/dev/null 2>&1; then
    optipng -quiet -o2 docs/status-page.png docs/wall.png || true
fi
ls -l docs/status-page.png docs/wall.png
