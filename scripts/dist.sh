#!/usr/bin/env bash
# Release artefacts, all from release builds, into OUT_DIR with their SHA-256 sums:
#
#   syncguard-fleet-VERSION-x86_64-linux-musl.tar.gz  static Linux binary, man page,
#       shell completions, README, licences, example fleet.toml, docs, systemd unit
#   syncguard-fleet_VERSION-1_amd64.deb               the Debian package (cargo-deb),
#       from the same static binary (see docs/packages.md)
#   syncguard-fleet-VERSION-x86_64-windows.zip        cross-built with MinGW
#
#   scripts/dist.sh [--linux] [--windows] [OUT_DIR]    default: both, target/dist
#
# --linux builds the tarball and the .deb, --windows the zip; neither flag means
# both. OUT_DIR/SHA256SUMS lists the artefacts this run made, and is printed.
# A missing tool stops the script with what to install: a release never silently
# lacks a part.
#
# Linux needs: rustup target x86_64-unknown-linux-musl, musl-gcc (Debian's
# musl-tools, for SQLite's C code), cargo-deb (cargo install cargo-deb --locked).
# Windows needs: rustup target x86_64-pc-windows-gnu, x86_64-w64-mingw32-gcc, zip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'dist: %s\n' "$*" >&2; exit 1; }
say() { printf 'dist: %s\n' "$*" >&2; }

LINUX=0 WINDOWS=0 OUT=""
for arg in "$@"; do
    case "$arg" in
        --linux) LINUX=1 ;;
        --windows) WINDOWS=1 ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $arg (use --linux, --windows, or neither for both)" ;;
        *) [ -z "$OUT" ] || die "more than one OUT_DIR: $OUT and $arg"; OUT="$arg" ;;
    esac
done
[ "$LINUX" = 1 ] || [ "$WINDOWS" = 1 ] || { LINUX=1; WINDOWS=1; }
OUT="${OUT:-target/dist}"

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || die "no version in Cargo.toml"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
MUSL=x86_64-unknown-linux-musl
WIN=x86_64-pc-windows-gnu
# cargo-deb reads the generated assets from here (paths in Cargo.toml's
# [package.metadata.deb] are relative to the crate, whatever CARGO_TARGET_DIR is).
GEN="$PWD/target/deb-gen"

have_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

# Every tool is checked before anything is built: a missing one costs no build time.
if [ "$LINUX" = 1 ]; then
    have_target "$MUSL" || die "the $MUSL target is missing: rustup target add $MUSL"
    command -v musl-gcc >/dev/null 2>&1 ||
        die "musl-gcc is missing (SQLite is compiled in): apt-get install musl-tools"
    cargo deb --version >/dev/null 2>&1 ||
        die "cargo-deb is missing: cargo install cargo-deb --locked"
    command -v file >/dev/null 2>&1 || die "file is missing (to check the binary is static): apt-get install file"
    command -v strip >/dev/null 2>&1 || die "strip is missing: apt-get install binutils"
    # The Debian changelog names the package version; a release bumps both.
    grep -q "^syncguard-fleet ($VERSION-1) " scripts/deb/changelog ||
        die "scripts/deb/changelog does not start with version $VERSION-1: add an entry"
fi
if [ "$WINDOWS" = 1 ]; then
    have_target "$WIN" || die "the $WIN target is missing: rustup target add $WIN"
    command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 ||
        die "the MinGW linker is missing: apt-get install gcc-mingw-w64-x86-64"
    command -v zip >/dev/null 2>&1 || die "zip is missing: apt-get install zip"
fi

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/syncguard-dist.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
MADE=()

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

if [ "$LINUX" = 1 ]; then
    say "building syncguard-fleet $VERSION for $MUSL (static)"
    # The cc crate would find musl-gcc by itself; named here so a wrong compiler
    # cannot be picked up from the environment.
    CC_x86_64_unknown_linux_musl=musl-gcc \
        cargo build --release --quiet --bin syncguard-fleet --target "$MUSL"
    BIN="$TARGET_DIR/$MUSL/release/syncguard-fleet"
    [ -x "$BIN" ] || die "no $BIN after the build"
    kind="$(file -b "$BIN")"
    case "$kind" in
        *"statically linked"* | *"static-pie linked"*) ;;
        *) die "$BIN is not a static executable: $kind" ;;
    esac
    "$BIN" --version >/dev/null || die "$BIN --version failed"

    # The generated assets: from the binary just built, so they match it.
    rm -rf "$GEN"
    mkdir -p "$GEN"
    "$BIN" manpage >"$GEN/syncguard-fleet.1"
    "$BIN" completions bash >"$GEN/syncguard-fleet.bash"
    "$BIN" completions zsh >"$GEN/_syncguard-fleet"
    "$BIN" completions fish >"$GEN/syncguard-fleet.fish"
    "$BIN" completions powershell >"$GEN/_syncguard-fleet.ps1"
    for f in "$GEN"/*; do [ -s "$f" ] || die "$f came out empty"; done
    # The packaged /etc/syncguard/fleet.toml: the example fleet, with the history
    # in the service's StateDirectory (the service user's XDG state directory
    # would work too, but hidden under /var/lib/syncguard/.local).
    grep -q '^\[history\]' fleet.toml &&
        die "fleet.toml has a [history] table; the packaged config adds its own"
    {
        cat <<'HEAD'
# /etc/syncguard/fleet.toml: the fleet the syncguard-fleet service watches
# (systemctl enable --now syncguard-fleet; reload after edits with
# systemctl reload syncguard-fleet). A configuration file of the package: an
# upgrade keeps your edits. Full reference: /usr/share/doc/syncguard-fleet/docs/.
#
HEAD
        cat fleet.toml
        cat <<'TAIL'

# Where the service keeps its history (systemd's StateDirectory=syncguard).
[history]
path = "/var/lib/syncguard/history.db"
TAIL
    } >"$GEN/fleet.toml"

    linux="syncguard-fleet-$VERSION-x86_64-linux-musl"
    # Stripped, as cargo-deb strips the package's copy: the two carry the same bytes.
    cp "$BIN" "$STAGE/syncguard-fleet"
    strip "$STAGE/syncguard-fleet"
    stage "$linux" "$STAGE/syncguard-fleet"
    mkdir -p "$STAGE/$linux/man" "$STAGE/$linux/completions"
    cp "$GEN/syncguard-fleet.1" "$STAGE/$linux/man/"
    cp "$GEN/syncguard-fleet.bash" "$GEN/_syncguard-fleet" "$GEN/syncguard-fleet.fish" \
        "$GEN/_syncguard-fleet.ps1" "$STAGE/$linux/completions/"
    tar -C "$STAGE" -czf "$OUT/$linux.tar.gz" "$linux"
    MADE+=("$linux.tar.gz")

    say "packaging the .deb (cargo-deb, the static binary above)"
    deb_args=(--target "$MUSL" --no-build --output "$OUT")
    # SYNCGUARD_DEB_MAINTAINER="Name <mail>" signs the package as whoever builds it.
    [ -n "${SYNCGUARD_DEB_MAINTAINER:-}" ] && deb_args+=(--maintainer "$SYNCGUARD_DEB_MAINTAINER")
    deb_path="$(cargo deb "${deb_args[@]}" | tail -1)"
    [ -f "$deb_path" ] || die "cargo deb made no package (it printed: $deb_path)"
    MADE+=("$(basename "$deb_path")")
fi

if [ "$WINDOWS" = 1 ]; then
    say "building syncguard-fleet $VERSION for $WIN"
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
        cargo build --release --quiet --bin syncguard-fleet --target "$WIN"
    windows="syncguard-fleet-$VERSION-x86_64-windows"
    stage "$windows" "$TARGET_DIR/$WIN/release/syncguard-fleet.exe"
    # Windows readers open text files in Notepad: CRLF line ends for the example config.
    sed 's/$/\r/' fleet.toml >"$STAGE/$windows/fleet.toml"
    rm -f "$OUT/$windows.zip"
    (cd "$STAGE" && zip -qr "$OUT/$windows.zip" "$windows")
    MADE+=("$windows.zip")
fi

(cd "$OUT" && sha256sum "${MADE[@]}" >SHA256SUMS)
say "artefacts in $OUT:"
cat "$OUT/SHA256SUMS"
