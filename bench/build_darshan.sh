#!/usr/bin/env bash
# bench/build_darshan.sh SRC PREFIX: build Darshan without MPI into PREFIX, for
# bench/whole.sh's `darshan` and `darshan-all` configurations (DARSHAN_PREFIX=PREFIX).
# Debian has no Darshan package and CI has no network, so this builds from a source tree
# already on the machine: SRC is a git clone of github.com/darshan-hpc/darshan, an
# extracted release, or a release tarball (darshan-X.Y.Z.tar.gz, extracted next to PREFIX).
# A clone has no configure: it is generated with the clone's prepare.sh (autoreconf -fi),
# which needs autoconf, automake and libtool; a release has configure. zlib's headers
# (zlib1g-dev) are needed either way.
# Options (darshan-runtime/doc/darshan-runtime.rst, "without MPI support"):
#   --without-mpi                          the LD_PRELOAD library for non-MPI programs (run
#                                          with DARSHAN_ENABLE_NONMPI=1)
#   --with-log-path-by-env=DARSHAN_LOGPATH one of the two log-path options is mandatory; the
#                                          bench names each log with DARSHAN_LOGFILE
#   --with-jobid-env=NONE                  mandatory; NONE: the job id is the pid
#   CC=gcc
# darshan-runtime (lib/libdarshan.so) and darshan-util (bin/darshan-parser, used by whole.sh
# to check the logs) are both built, out of tree in a temporary directory.
# Idempotent: when PREFIX holds both and the stamp PREFIX/share/traceagent-darshan.stamp
# names the same source and options, nothing is done. Environment: JOBS (2), CC (gcc).
set -eu
[ $# = 2 ] || { echo "usage: $0 SRC PREFIX (SRC: a Darshan clone, release tree or tarball)" >&2; exit 2; }
SRC=$1 PREFIX=$2
JOBS=${JOBS:-2}
CC=${CC:-gcc}
case $PREFIX in /*) ;; *) PREFIX=$PWD/$PREFIX ;; esac
OPTS=(--without-mpi --with-log-path-by-env=DARSHAN_LOGPATH --with-jobid-env=NONE "CC=$CC")
say() { echo "build_darshan: $*"; }

if [ -f "$SRC" ]; then # a release tarball: extract it once beside PREFIX
    dest="$PREFIX.src"
    if [ ! -d "$dest" ]; then
        say "extracting $SRC into $dest"
        mkdir -p "$dest"
        tar -xzf "$SRC" -C "$dest" --strip-components=1
    fi
    ID="tarball $(basename "$SRC") sha256 $(sha256sum "$SRC" | cut -c1-16)"
    SRC=$dest
elif [ -d "$SRC" ]; then
    SRC=$(cd "$SRC" && pwd)
    if git -C "$SRC" rev-parse HEAD >/dev/null 2>&1; then
        ID="git $(git -C "$SRC" rev-parse HEAD) ($(git -C "$SRC" describe --tags 2>/dev/null || echo no tag))"
    else
        ID="tree $SRC version $(cat "$SRC/darshan.version" 2>/dev/null || echo unknown)"
    fi
else
    echo "build_darshan: $SRC is neither a directory nor a tarball" >&2
    exit 2
fi
[ -f "$SRC/darshan-runtime/lib/darshan-core.c" ] || { echo "build_darshan: $SRC is not a Darshan source tree" >&2; exit 2; }

STAMP="$PREFIX/share/traceagent-darshan.stamp"
WANT="$ID; ${OPTS[*]}"
if [ -f "$PREFIX/lib/libdarshan.so" ] && [ -x "$PREFIX/bin/darshan-parser" ] &&
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    say "already built: $PREFIX from $WANT"
    echo "DARSHAN_PREFIX=$PREFIX"
    exit 0
fi

# Since 3.4 one configure at the top builds runtime and util; older releases have one in
# each of darshan-runtime/ and darshan-util/.
if [ -f "$SRC/configure.ac" ]; then PARTS=(.); else PARTS=(darshan-runtime darshan-util); fi
if [ ! -f "$SRC/${PARTS[0]}/configure" ]; then
    missing=""
    for t in autoreconf automake libtoolize; do command -v $t >/dev/null || missing="$missing $t"; done
    [ -z "$missing" ] || { echo "build_darshan: a clone needs autoconf, automake and libtool to generate configure (missing:$missing): apt-get install autoconf automake libtool" >&2; exit 1; }
    say "generating configure in $SRC (autoreconf -fi)"
    for p in "${PARTS[@]}"; do (cd "$SRC/$p" && autoreconf -fi >/dev/null 2>&1) || { echo "build_darshan: autoreconf failed in $SRC/$p" >&2; exit 1; }; done
fi
printf '#include <zlib.h>\n' | $CC -E -x c - >/dev/null 2>&1 ||
    { echo "build_darshan: zlib's headers are missing: apt-get install zlib1g-dev" >&2; exit 1; }

B=$(mktemp -d "${TMPDIR:-/tmp}/darshan-build.XXXXXX")
trap 'rm -rf "$B"' EXIT
for p in "${PARTS[@]}"; do
    mkdir -p "$B/$p"
    say "configure $p: --prefix=$PREFIX ${OPTS[*]}"
    (cd "$B/$p" && "$SRC/$p/configure" --prefix="$PREFIX" "${OPTS[@]}" >"$B/configure.log" 2>&1) ||
        { tail -20 "$B/configure.log" >&2; echo "build_darshan: configure failed in $p" >&2; exit 1; }
    say "make -j$JOBS && make install ($p)"
    (cd "$B/$p" && make -j"$JOBS" >"$B/make.log" 2>&1 && make install >>"$B/make.log" 2>&1) ||
        { tail -20 "$B/make.log" >&2; echo "build_darshan: make failed in $p" >&2; exit 1; }
done
[ -f "$PREFIX/lib/libdarshan.so" ] || { echo "build_darshan: no $PREFIX/lib/libdarshan.so after make install" >&2; exit 1; }

# Smoke test: one file written and read under the library must come back from the log.
# Darshan skips paths under /dev/, /usr/, /etc/, /var/ and a few more: the NAME_INCLUDE
# keeps the check valid wherever TMPDIR is. Shell builtins only: a child process would
# write its own log to the same DARSHAN_LOGFILE.
T="$B/smoke"
mkdir -p "$T"
printf 'NAME_INCLUDE ^%s/ *\n' "$T" >"$T/conf"
env DARSHAN_ENABLE_NONMPI=1 DARSHAN_CONFIG_PATH="$T/conf" DARSHAN_LOGFILE="$T/log.darshan" \
    LD_PRELOAD="$PREFIX/lib/libdarshan.so" sh -c "echo x >'$T/f'; read l <'$T/f'"
[ -s "$T/log.darshan" ] || { echo "build_darshan: the smoke test wrote no log" >&2; exit 1; }
if [ -x "$PREFIX/bin/darshan-parser" ]; then
    "$PREFIX/bin/darshan-parser" "$T/log.darshan" | grep -q "POSIX_OPENS.*$T/f" ||
        { echo "build_darshan: darshan-parser finds no record of the smoke test's file" >&2; exit 1; }
    say "smoke test: darshan-parser reads the record of $T/f"
fi
mkdir -p "$(dirname "$STAMP")"
echo "$WANT" >"$STAMP"
say "built $PREFIX from $WANT"
echo "DARSHAN_PREFIX=$PREFIX"
