#!/usr/bin/env bash
# Corners of the fd table and of stream bookkeeping (tests/io/edges.c), each found by a
# review: closefrom must not close the agent's own fds (it did, and the program's next
# high fd got the trace written into it); a vfork child's calls are not the parent's; an
# open_memstream stream has no fd (it took fd 0's); fdopen "a" appends; stdout's kernel
# offset is unknown once stdio has written to it; rewind on a pipe fails and sets no
# offset; a sticky error indicator does not make a later end of file a failure; closedir
# closes its fd (a pipe that takes the number must not inherit the directory's path); fds
# 1 and 2 that start on one file (`> f 2>&1`) share one offset; O_APPEND set on a dup is
# the original's too; a failed munmap keeps the map's entry, and mremap moves it; daemon()
# ends the parent through the agent (its trace closed) and the child's fds 0-2 are
# /dev/null. Every mode must print what it prints untraced.
source "$(dirname "$0")/lib/common.sh"

bin="$TBUILD/io_edges"
ta_cc "$bin" "$ROOT/tests/io/edges.c"
printf '0123456789abcdefghijklmnopqrstuvwxyz' >"$TMP/in.txt"

# run MODE [stdin]: untraced into $TMP/MODE.ref, traced (output dir $TMP/MODE) into .got
run() {
    local mode=$1 in=${2:-/dev/null}
    mkdir -p "$TMP/$mode"
    timeout 60 "$bin" "$mode" "$TMP" <"$in" >"$TMP/$mode.ref" 2>&1
    traced "$TMP/$mode" timeout 60 "$bin" "$mode" "$TMP" <"$in" >"$TMP/$mode.got" 2>&1
    check "$mode: the program's output is unchanged ($(head -c 60 "$TMP/$mode.got" | tr "\n" " "))" \
        cmp -s "$TMP/$mode.ref" "$TMP/$mode.got"
}
for mode in closefrom memstream fdopen rewind sticky closedir setfl mmap; do run $mode; done
run vfork "$TMP/in.txt"
run stdout
mkdir -p "$TMP/stdout2"
traced "$TMP/stdout2" "$bin" stdout "$TMP" >"$TMP/stdout.txt"
# daemon: the parent returns at once; the child finishes on its own
mkdir -p "$TMP/daemon"
rm -f "$TMP/daemon.done"
traced "$TMP/daemon" "$bin" daemon "$TMP" >"$TMP/daemon.got" 2>&1
check "daemon: the parent exits 0, printing nothing" test $? = 0 -a ! -s "$TMP/daemon.got"
for i in $(seq 100); do [ -s "$TMP/daemon.done" ] && break; sleep 0.05; done
sleep 0.2 # the child's files are closed after daemon.done is written
check "daemon: the child ran to its end" test -s "$TMP/daemon.done"
mkdir -p "$TMP/shared"
traced "$TMP/shared" "$bin" shared "$TMP" >"$TMP/shared.txt" 2>&1
check "shared: the file holds the 4 writes, in order" \
    test "$(cat "$TMP/shared.txt")" = "$(printf 'out.\nerr.\nout.\nerr.')"
check "stdout: the file holds both writes, in order" \
    test "$(cat "$TMP/stdout.txt")" = "$(printf 'header line\nraw')"
check "closefrom: once the program has ended, its file holds its 3 lines only (36 bytes)" \
    test "$(stat -c %s "$TMP/cf.dat")" = 36

$PY - "$ROOT" "$TMP" <<'EOF'
import glob, sys
ROOT, T = sys.argv[1:3]
sys.path.insert(0, ROOT + "/tests/lib")
import tacheck
check = tacheck.check

def events(mode, exe="io_edges"):
    try:
        (f,) = glob.glob(f"{T}/{mode}/{exe}-*.trace.json")
        return tacheck.load_trace(f, require_closed=True)
    except Exception as e:
        check(f"{mode}: one whole trace", False, [e])
        return []

def io(evs, name=None):
    return [(e["name"], e["args"]) for e in tacheck.spans(evs)
            if e.get("cat") in ("posix", "stdio") and (name is None or e["name"] == name)]

ev = events("closefrom")
writes = io(ev, "write")
check("closefrom: the trace is whole and holds closefrom and the 3 writes",
      [a.get("bytes") for _, a in writes] == [12, 12, 12] and io(ev, "closefrom"),
      io(ev))

ev = events("vfork")
pids = {e["pid"] for e in ev if e.get("ph") == "X"}
names = [n for n, _ in io(ev)]
check("vfork: the parent's trace has none of the child's calls (no open, close, dup2)",
      not {"open", "open64", "close", "dup2"} & set(names) and len(pids) == 1, io(ev))
reads = io(ev, "read")
check("vfork: the parent's read of fd 0 names its own stdin",
      len(reads) == 1 and reads[0][1].get("path") == f"{T}/in.txt"
      and reads[0][1].get("bytes") == 4, reads)

ev = events("memstream")
rd = [a for n, a in io(ev, "fread")]
check("memstream: the reads of fd 0 are at offsets 0, 10, 20",
      [a.get("offset") for a in rd] == [0, 10, 20], rd)
ms = [(n, a) for n, a in io(ev) if n == "fwrite"] + [io(ev, "fclose")[0]]
check("memstream: its fwrite and fclose carry no fd and no path",
      all("fd" not in a and "path" not in a for _, a in ms), ms)

ev = events("fdopen")
fw = io(ev, "fwrite")
check("fdopen \"a+\": the append has no offset (it went to the end, not to 2)",
      len(fw) == 1 and "offset" not in fw[0][1] and fw[0][1].get("bytes") == 2, fw)

ev = events("stdout")
w = io(ev, "write")
check("stdout: write(1) after stdio wrote 12 bytes to the file shows no offset 0",
      len(w) == 1 and w[0][1].get("fd") == 1 and "offset" not in w[0][1], w)

ev = events("rewind")
rw = io(ev, "rewind") + io(ev, "fread")
check("rewind on a pipe: neither it nor the next fread shows an offset",
      len(rw) == 2 and all("offset" not in a for _, a in rw), rw)

ev = events("sticky")
fr = io(ev, "fread")
fwr = io(ev, "fwrite")
check("sticky: the failed fwrite has errno, the fread at end of file has none",
      len(fwr) == 1 and fwr[0][1].get("errno") == 9 and len(fr) == 1
      and "errno" not in fr[0][1], fwr + fr)
ev = events("closedir")
p = [a for n, a in io(ev) if n in ("read", "write") and a.get("bytes") == 5]
check("closedir: the pipe's read and write carry no path and no offset",
      len(p) == 2 and all("path" not in a and "offset" not in a for a in p), p)

ev = events("shared")
w = io(ev, "write")
offs = [a.get("offset") for _, a in w]
check("shared: fds 1 and 2 on one description: offsets unknown, or right (0 5 10 15)",
      len(w) == 4 and offs in ([None] * 4, [0, 5, 10, 15]), w)
ev = events("setfl")
w = io(ev, "write")
check("setfl: after O_APPEND on its closed dup and lseek(0), the write shows no offset 0",
      len(w) == 2 and "offset" not in w[1][1] and w[1][1].get("bytes") == 2, w)
ev = events("mmap")
mu = io(ev, "munmap")
# the moved map's munmap once, or again each time another thread took its old place
want = [(None, -1, True), (4096, 0, True)] + [(1 << 20, 0, True)] * max(1, len(mu) - 2)
got = [(a.get("bytes"), a.get("ret"), a.get("path", "").endswith("/mm.dat")) for _, a in mu]
check("mmap: munmap(a, 0) (failed), munmap(a, 4096), the moved map's munmap: all on the file;"
      " the anonymous memory's munmap not recorded", got == want, mu)
fs = sorted(glob.glob(f"{T}/daemon/io_edges-*.trace.json"))
check("daemon: two traces, the parent's and the child's", len(fs) == 2, fs)
whole = tacheck.whole_traces(f"{T}/daemon/io_edges-*.trace.json", "daemon")
check("daemon: both traces closed, each with its stats.json",
      len(whole) == 2 and all(glob.glob(f.replace(".trace.json", ".stats.json")) for f, _ in whole),
      fs)
w1 = [a for _, ev in whole for n, a in io(ev, "write") if a.get("fd") == 1 and a.get("bytes")]
check("daemon: the child's write to fd 1 names /dev/null",
      len(w1) == 1 and w1[0].get("path") == "/dev/null", w1)
tacheck.finish()
EOF
[ $? -eq 0 ] || T_FAILS=$((T_FAILS + 1))
finish
