#!/usr/bin/env bash
# Checks the Linux release artefacts that `scripts/dist.sh --linux` made:
#   - SHA256SUMS matches the files;
#   - the tarball's binary is static, runs (--version names this version) and
#     the tarball holds the man page, the completions, the docs and the unit;
#   - the .deb's fields, file list, conffiles and maintainer scripts (the
#     postinst run against stand-in commands: it creates the syncguard user and
#     enables nothing), its unit passes systemd-analyze verify, its fleet.toml
#     loads and sends the history to /var/lib/syncguard;
#   - lintian finds no error or warning;
#   - the man page renders without warnings (`man -l`).
# With --install (CI, as root, on a throwaway machine) it also installs the
# .deb with dpkg, checks the user and the files, runs the unit's command as the
# service user against a simulated node on 127.0.0.1 (history in
# /var/lib/syncguard), checks an edited config surviving a reinstall, and purges.
#
#   tests/packages/check.sh [--install] [OUT_DIR]      default OUT_DIR: target/dist
#
# A check that cannot run for want of an optional tool (lintian, man,
# systemd-analyze) prints one `SKIPPED: packages: <check> (reason)` line, which
# .ci/run counts. Anything else missing or wrong fails (exit 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

INSTALL=0 OUT=""
for arg in "$@"; do
    case "$arg" in
        --install) INSTALL=1 ;;
        -*) echo "usage: tests/packages/check.sh [--install] [OUT_DIR]" >&2; exit 2 ;;
        *) OUT="$arg" ;;
    esac
done
OUT="${OUT:-target/dist}"

FAILS=0
say() { printf '==> %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
bad() { printf 'FAIL: packages: %s\n' "$*" >&2; FAILS=$((FAILS + 1)); }
die() { printf 'FAIL: packages: %s\n' "$*" >&2; exit 1; }
skip() { printf 'SKIPPED: packages: %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing (${2:-needed for the checks})"; }

need dpkg-deb "Debian's dpkg"
need file "apt-get install file"
need sha256sum
need tar

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || die "no version in Cargo.toml"
TARBALL="$OUT/syncguard-fleet-$VERSION-x86_64-linux-musl.tar.gz"
DEB="$OUT/syncguard-fleet_${VERSION}-1_amd64.deb"
[ -f "$TARBALL" ] || die "no $TARBALL: run scripts/dist.sh --linux first"
[ -f "$DEB" ] || die "no $DEB: run scripts/dist.sh --linux first"

W="$(mktemp -d "${TMPDIR:-/tmp}/syncguard-packages.XXXXXX")"
cleanup() { rm -rf "$W"; }
trap cleanup EXIT

# --- sums ---------------------------------------------------------------------
say "SHA256SUMS"
(cd "$OUT" && sha256sum --check --quiet SHA256SUMS) || bad "SHA256SUMS does not match"
for f in "$TARBALL" "$DEB"; do
    grep -q " $(basename "$f")\$" "$OUT/SHA256SUMS" || bad "SHA256SUMS does not list $(basename "$f")"
done
ok "sums match"

# static_and_runs BIN WHAT: static, and --version names this version.
static_and_runs() {
    local kind
    kind="$(file -b "$1")"
    case "$kind" in
        *"statically linked"* | *"static-pie linked"*) ;;
        *) bad "$2 is not static: $kind"; return ;;
    esac
    if command -v ldd >/dev/null 2>&1; then
        # glibc's ldd says "not a dynamic executable" or "statically linked".
        ldd "$1" 2>&1 | grep -Eq 'not a dynamic executable|statically linked' ||
            bad "ldd lists libraries for $2: $(ldd "$1" 2>&1 | head -3)"
    fi
    local v
    v="$("$1" --version)" || { bad "$2 --version failed"; return; }
    [ "$v" = "syncguard-fleet $VERSION" ] || bad "$2 --version printed '$v'"
    ok "$2: static ($kind), '$v'"
}

# --- the tarball ----------------------------------------------------------------
say "tarball $(basename "$TARBALL")"
top="syncguard-fleet-$VERSION-x86_64-linux-musl"
tar -tzf "$TARBALL" >"$W/tar.list"
for f in syncguard-fleet man/syncguard-fleet.1 completions/syncguard-fleet.bash \
    completions/_syncguard-fleet completions/syncguard-fleet.fish \
    completions/_syncguard-fleet.ps1 README.md fleet.toml LICENSE-MIT LICENSE-APACHE \
    docs/packages.md examples/syncguard-fleet.service; do
    grep -qx "$top/$f" "$W/tar.list" || bad "the tarball lacks $top/$f"
done
mkdir -p "$W/tar"
tar -C "$W/tar" -xzf "$TARBALL"
T="$W/tar/$top"
static_and_runs "$T/syncguard-fleet" "the tarball's binary"
# The generated files are the binary's own output, not stale copies.
cmp -s <("$T/syncguard-fleet" manpage) "$T/man/syncguard-fleet.1" ||
    bad "the tarball's man page differs from the binary's 'manpage'"
cmp -s <("$T/syncguard-fleet" completions bash) "$T/completions/syncguard-fleet.bash" ||
    bad "the tarball's bash completion differs from the binary's"
ok "tarball contents"

# --- the .deb: fields -----------------------------------------------------------
say "package $(basename "$DEB")"
field() { dpkg-deb -f "$DEB" "$1"; }
[ "$(field Package)" = syncguard-fleet ] || bad "Package: $(field Package)"
[ "$(field Version)" = "$VERSION-1" ] || bad "Version: $(field Version)"
[ "$(field Architecture)" = amd64 ] || bad "Architecture: $(field Architecture)"
[ "$(field Section)" = admin ] || bad "Section: $(field Section)"
[ "$(field Priority)" = optional ] || bad "Priority: $(field Priority)"
[ "$(field Depends)" = adduser ] || bad "Depends: '$(field Depends)', expected adduser only (static binary)"
field Maintainer | grep -Eq '^.+ <[^>]+@[^>]+>$' || bad "Maintainer: $(field Maintainer)"
field Description | sed -n 2p | grep -q 'Quadro Sync' || bad "no extended description: $(field Description)"
ok "fields: $(field Package) $(field Version) $(field Architecture), Depends: $(field Depends)"

# --- the .deb: files ------------------------------------------------------------
dpkg-deb --contents "$DEB" >"$W/contents"
# Each row ends with ./path; the unit may sit in /lib or /usr/lib.
has() { grep -Eq " \./${1#/}( ->.*)?\$" "$W/contents"; }
mode_of() { awk -v p="./${1#/}" '$NF == p { print $1 }' "$W/contents"; }
for f in /usr/bin/syncguard-fleet /usr/share/man/man1/syncguard-fleet.1.gz \
    /usr/share/bash-completion/completions/syncguard-fleet \
    /usr/share/zsh/vendor-completions/_syncguard-fleet \
    /usr/share/fish/vendor_completions.d/syncguard-fleet.fish \
    /etc/syncguard/fleet.toml /usr/share/doc/syncguard-fleet/copyright \
    /usr/share/doc/syncguard-fleet/changelog.Debian.gz \
    /usr/share/doc/syncguard-fleet/README.md /usr/share/doc/syncguard-fleet/LICENSE-MIT \
    /usr/share/doc/syncguard-fleet/LICENSE-APACHE \
    /usr/share/doc/syncguard-fleet/docs/packages.md; do
    has "$f" || bad "the package lacks $f"
done
unit_path=""
for u in /usr/lib/systemd/system/syncguard-fleet.service /lib/systemd/system/syncguard-fleet.service; do
    has "$u" && unit_path="$u"
done
[ -n "$unit_path" ] || bad "the package has no syncguard-fleet.service unit"
[ "$(mode_of /usr/bin/syncguard-fleet)" = "-rwxr-xr-x" ] ||
    bad "/usr/bin/syncguard-fleet mode $(mode_of /usr/bin/syncguard-fleet), expected 755"
grep -E ' \./' "$W/contents" | awk '{ print $2 }' | grep -Ev '^(root/root|0/0)$' >"$W/owners" || true
[ ! -s "$W/owners" ] || bad "files not owned by root: $(sort -u "$W/owners" | head -3)"
ok "$(grep -c ' \./.*[^/]$' "$W/contents") files, unit at $unit_path"

mkdir -p "$W/root" "$W/control"
dpkg-deb -x "$DEB" "$W/root"
dpkg-deb -e "$DEB" "$W/control"
static_and_runs "$W/root/usr/bin/syncguard-fleet" "the package's binary"
# One build feeds both (each stripped its own way): the same GNU build ID.
build_id() { file -b "$1" | grep -o 'BuildID\[[a-z0-9]*\]=[0-9a-f]*'; }
tar_id="$(build_id "$T/syncguard-fleet" || true)"
if [ -z "$tar_id" ] || [ "$(build_id "$W/root/usr/bin/syncguard-fleet" || true)" != "$tar_id" ]; then
    bad "the package's binary and the tarball's come from different builds"
fi

# --- conffiles, the config ---------------------------------------------------------
grep -qx /etc/syncguard/fleet.toml "$W/control/conffiles" ||
    bad "conffiles does not list /etc/syncguard/fleet.toml: $(cat "$W/control/conffiles" 2>/dev/null)"
CONF="$W/root/etc/syncguard/fleet.toml"
grep -q '^path = "/var/lib/syncguard/history.db"$' "$CONF" ||
    bad "the packaged fleet.toml does not put the history in /var/lib/syncguard"
# `config check` contacts nothing: the shipped file must load as it is...
"$W/root/usr/bin/syncguard-fleet" --config "$CONF" config check >"$W/check.out" 2>&1 ||
    bad "the packaged fleet.toml does not load: $(cat "$W/check.out")"
# ...and the check is a real one: a broken copy is refused with exit 3.
sed 's/^port = 8080$/port = 70000/' "$CONF" >"$W/broken.toml"
rc=0
"$W/root/usr/bin/syncguard-fleet" --config "$W/broken.toml" config check >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] || bad "config check accepted a port of 70000 (exit $rc)"
ok "conffiles: $(tr '\n' ' ' <"$W/control/conffiles"); the shipped config loads"

# --- the unit ---------------------------------------------------------------------
UNIT="$W/root$unit_path"
if [ -f "$UNIT" ]; then
    # shellcheck disable=SC2016 # $MAINPID is the unit's text, not the shell's
    for want in 'ExecStart=/usr/bin/syncguard-fleet --config /etc/syncguard/fleet.toml watch' \
        'User=syncguard' 'StateDirectory=syncguard' 'Restart=on-failure' \
        'ExecReload=/bin/kill -HUP $MAINPID' 'ProtectSystem=strict' 'NoNewPrivileges=yes'; do
        grep -qF "$want" "$UNIT" || bad "the unit lacks '$want'"
    done
    if command -v systemd-analyze >/dev/null 2>&1; then
        # Verified with the extracted binary in place of /usr/bin (not installed here).
        sed "s|/usr/bin/syncguard-fleet|$W/root/usr/bin/syncguard-fleet|" "$UNIT" \
            >"$W/syncguard-fleet.service"
        said="$(systemd-analyze verify "$W/syncguard-fleet.service" 2>&1 | grep -v 'man syncguard-fleet(1)' || true)"
        if printf '%s' "$said" | grep -q 'syncguard-fleet.service:'; then
            bad "systemd-analyze verify: $said"
        else
            ok "systemd-analyze verify: the unit is accepted"
        fi
    else
        skip "systemd-analyze verify of the unit (systemd-analyze not installed)"
    fi
fi

# --- maintainer scripts -----------------------------------------------------------
for s in postinst prerm postrm; do
    [ -x "$W/control/$s" ] || bad "no executable $s in the package"
done
grep -q '#DEBHELPER#' "$W/control/postinst" && bad "postinst still has the #DEBHELPER# token"
# Enabled or started on install would watch the placeholder addresses.
grep -Eq 'deb-systemd-invoke (start|restart)' "$W/control/postinst" &&
    ! grep -q 'is-active' "$W/control/postinst" && bad "postinst starts the service unconditionally"
# The postinst, run against stand-ins for the commands it calls, records what it
# would do: a first install creates the user; an upgrade (user present) does not.
mkdir -p "$W/bin"
for cmd in adduser chown chmod dpkg-statoverride deb-systemd-helper deb-systemd-invoke systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$cmd" "$W" >"$W/bin/$cmd"
done
# What a machine without the package answers: no override on the config, the
# unit neither installed nor enabled before. Everything else succeeds.
echo 'exit 1' >>"$W/bin/dpkg-statoverride"
printf 'case "$*" in *debian-installed* | *was-enabled* | *is-enabled*) exit 1 ;; esac\n' >>"$W/bin/deb-systemd-helper"
# getent: the user exists only when GETENT_USER is set.
# shellcheck disable=SC2016 # the stand-in's own code
printf '#!/bin/sh\n[ -n "$GETENT_USER" ] && echo "syncguard:x:999:999::/var/lib/syncguard:/usr/sbin/nologin"\n' >"$W/bin/getent"
chmod +x "$W/bin/"*
: >"$W/calls"
PATH="$W/bin:$PATH" GETENT_USER="" sh "$W/control/postinst" configure ||
    bad "postinst configure failed on a first install"
grep -Eq '^adduser .*--system.*--group.*--home /var/lib/syncguard.* syncguard$' "$W/calls" ||
    bad "postinst did not create the syncguard system user: $(cat "$W/calls")"
grep -Eq '^deb-systemd-helper enable' "$W/calls" &&
    bad "postinst enables the service on install: $(grep deb-systemd-helper "$W/calls")"
grep -Eq '^deb-systemd-invoke start' "$W/calls" && bad "postinst starts the service on install"
grep -q '^chown root:syncguard /etc/syncguard/fleet.toml' "$W/calls" ||
    bad "postinst does not give the config to the syncguard group: $(cat "$W/calls")"
: >"$W/calls"
PATH="$W/bin:$PATH" GETENT_USER=1 sh "$W/control/postinst" configure "$VERSION-1" ||
    bad "postinst configure failed on an upgrade"
grep -q '^adduser' "$W/calls" && bad "postinst ran adduser although the user exists"
ok "postinst: creates the syncguard user, enables and starts nothing"

# --- lintian ----------------------------------------------------------------------
if command -v lintian >/dev/null 2>&1; then
    say "lintian"
    # (Its stderr says that running as root is not recommended; tags are on stdout.)
    if lintian --fail-on error,warning --display-info "$DEB" >"$W/lintian" 2>"$W/lintian.err"; then
        ok "lintian: no errors or warnings ($(grep -c '^I:' "$W/lintian" || true) info tags)"
        sed 's/^/  /' "$W/lintian"
    else
        bad "lintian: $(cat "$W/lintian" "$W/lintian.err")"
    fi
else
    skip "lintian (not installed)"
fi

# --- the man page -------------------------------------------------------------------
if command -v man >/dev/null 2>&1; then
    say "man -l"
    MANWIDTH=80 man --warnings -l "$W/root/usr/share/man/man1/syncguard-fleet.1.gz" \
        >"$W/man.out" 2>"$W/man.err" || bad "man -l failed: $(cat "$W/man.err")"
    [ ! -s "$W/man.err" ] || bad "man -l warnings: $(head -5 "$W/man.err")"
    grep -q 'syncguard-fleet' "$W/man.out" || bad "the rendered man page is empty"
    ok "man page renders without warnings ($(wc -l <"$W/man.out") lines)"
else
    skip "man -l rendering (man not installed)"
fi

# --- a real install (CI) --------------------------------------------------------------
if [ "$INSTALL" = 1 ]; then
    say "dpkg -i, reinstall with an edited config, purge"
    [ "$(id -u)" = 0 ] || die "--install needs root"
    dpkg -s syncguard-fleet >/dev/null 2>&1 &&
        die "syncguard-fleet is already installed here; --install wants a machine without it"
    purge() { dpkg --purge syncguard-fleet >/dev/null 2>&1 || true; }
    trap 'purge; cleanup' EXIT
    DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB" >"$W/dpkg.out" 2>&1 ||
        die "dpkg -i failed: $(cat "$W/dpkg.out")"
    getent passwd syncguard | grep -q ':/var/lib/syncguard:' ||
        bad "no syncguard user with home /var/lib/syncguard after install"
    [ "$(stat -c '%U:%G %a' /etc/syncguard/fleet.toml)" = "root:syncguard 640" ] ||
        bad "/etc/syncguard/fleet.toml is $(stat -c '%U:%G %a' /etc/syncguard/fleet.toml)"
    [ "$(/usr/bin/syncguard-fleet --version)" = "syncguard-fleet $VERSION" ] ||
        bad "the installed binary's --version"
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl is-enabled syncguard-fleet >/dev/null 2>&1 && bad "the service is enabled after install"
    fi
    # The service's command line, as its user, against one simulated node on
    # 127.0.0.1 (no systemd here: setpriv stands in for User=, and the state
    # directory is made as StateDirectory= would): it watches and writes its
    # history where the unit lets it.
    need setpriv "util-linux"
    SIM_PID="" WATCH_PID=""
    "$W/root/usr/bin/syncguard-fleet" sim synced=1 --write-config "$W/sim.toml" >/dev/null 2>"$W/sim.err" &
    SIM_PID=$!
    trap 'kill $SIM_PID $WATCH_PID 2>/dev/null || true; purge; cleanup' EXIT
    for _ in $(seq 1 100); do [ -s "$W/sim.toml" ] && break; sleep 0.1; done
    [ -s "$W/sim.toml" ] || die "the simulator wrote no config: $(cat "$W/sim.err")"
    { cat "$W/sim.toml"; printf '\n[history]\npath = "/var/lib/syncguard/history.db"\n'; } \
        >/etc/syncguard/fleet.toml
    install -d -o syncguard -g syncguard -m 750 /var/lib/syncguard
    ExecStart="$(sed -n 's/^ExecStart=//p' "$UNIT")"
    # shellcheck disable=SC2086 # the unit's command line, split as systemd would
    setpriv --reuid syncguard --regid syncguard --clear-groups --reset-env -- $ExecStart \
        >"$W/watch.out" 2>"$W/watch.err" &
    WATCH_PID=$!
    for _ in $(seq 1 100); do grep -q '"synced"' "$W/watch.out" 2>/dev/null && break; sleep 0.1; done
    grep -q '"synced"' "$W/watch.out" || bad "the service's command saw no synced node: $(cat "$W/watch.out" "$W/watch.err")"
    kill -TERM "$WATCH_PID"
    rc=0
    wait "$WATCH_PID" || rc=$?
    WATCH_PID=""
    [ "$rc" = 0 ] || bad "watch exited $rc on SIGTERM: $(cat "$W/watch.err")"
    [ "$(stat -c %U /var/lib/syncguard/history.db 2>/dev/null)" = syncguard ] ||
        bad "no history.db of the syncguard user in /var/lib/syncguard: $(cat "$W/watch.err")"
    kill "$SIM_PID" 2>/dev/null || true
    ok "the unit's command, as syncguard, watched a simulated node and wrote /var/lib/syncguard/history.db"

    echo '# edited by the site' >>/etc/syncguard/fleet.toml
    # No --force-conf* option: an edited conffile the package did not change is kept
    # without a question (stdin is closed, so a question would fail the step).
    DEBIAN_FRONTEND=noninteractive dpkg -i "$DEB" </dev/null >"$W/dpkg2.out" 2>&1 ||
        die "reinstalling failed: $(cat "$W/dpkg2.out")"
    tail -1 /etc/syncguard/fleet.toml | grep -qx '# edited by the site' ||
        bad "a reinstall lost the edited /etc/syncguard/fleet.toml"
    dpkg --purge syncguard-fleet >"$W/purge.out" 2>&1 || bad "purge failed: $(cat "$W/purge.out")"
    [ ! -e /etc/syncguard/fleet.toml ] || bad "purge left /etc/syncguard/fleet.toml"
    [ ! -e /usr/bin/syncguard-fleet ] || bad "purge left /usr/bin/syncguard-fleet"
    [ ! -e /var/lib/syncguard ] || bad "purge left /var/lib/syncguard"
    ok "installed, kept an edited config over a reinstall, purged"
fi

if [ "$FAILS" -gt 0 ]; then
    echo "packages: $FAILS check(s) failed" >&2
    exit 1
fi
say "packages: all checks passed"
