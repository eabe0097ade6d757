#!/usr/bin/env bash
# Release archives: the Linux and Windows binaries (release builds), each with the
# README, the example fleet.toml, the docs, the systemd unit and the licences, and
# their SHA-256 sums.
#
#   scripts/dist.sh [OUT_DIR]      default OUT_DIR: target/dist
#
# Linux:   syncguard-fleet-VERSION-x86_64-linux.tar.gz
# Windows: syncguard-fleet-VERSION-x86_64-windows.zip (cross-built with MinGW)
# Writes OUT_DIR/SHA256SUMS and prints it. Needs the x86_64-pc-windows-gnu target
# and x86_64-w64-mingw32-gcc for the Windows archive; without them it stops with
# a message (an archive set without Windows is not a release).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${1:-target/dist}"
die() { printf 'dist: %s\n' "$*" >&2; exit 1; }

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || die "no version in Cargo.toml"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
WIN=x86_64-pc-windows-gnu

rustup target list --installed 2>/dev/null | grep -qx "$WIN" ||
    die "the $WIN target is missing: rustup target add $WIN"
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 ||
    die "the MinGW linker is missing: apt-get install gcc-mingw-w64-x86-64"
command -v zip >/dev/null 2>&1 || die "zip is missing: apt-get install zip"

echo "building syncguard-fleet $VERSION for Linux and Windows" >&2
cargo build --release --quiet --bin syncguard-fleet
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
    cargo build --release --quiet --bin syncguard-fleet --target "$WIN"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/syncguard-dist.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

# stage NAME BINARY: the archive's folder, with everything but the binary shared.
stage() {
    local dir="$STAGE/$1"
    mkdir -p "$dir/docs" "$dir/examples"
    cp "$2" "$dir/"
    cp README.md fleet.toml "$dir/"
    cp docs/LICENSE-MIT docs/LICENSE-APACHE "$dir/"
    cp docs/*.md "$dir/docs/"
    cp -r examples/prometheus examples/syncguard-fleet.service "$dir/examples/"
}

linux="syncguard-fleet-$VERSION-x86_64-linux"
stage "$linux" "$TARGET_DIR/release/syncguard-fleet"
tar -C "$STAGE" -czf "$OUT/$linux.tar.gz" "$linux"

windows="syncguard-fleet-$VERSION-x86_64-windows"
stage "$windows" "$TARGET_DIR/$WIN/release/syncguard-fleet.exe"
# Windows readers open text files in Notepad: CRLF line ends for the example config.
sed 's/$/\r/' fleet.toml >"$STAGE/$windows/fleet.toml"
(cd "$STAGE" && zip -qr "$OUT/$windows.zip" "$windows")

(cd "$OUT" && sha256sum "$linux.tar.gz" "$windows.zip" >SHA256SUMS)
echo "archives in $OUT:" >&2
cat "$OUT/SHA256SUMS"
