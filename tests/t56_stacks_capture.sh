#!/usr/bin/env bash
# Call stacks, the capture (issue #19, agent/stacks.c): libunwind mapped only when asked;
# the frames of a pread loop made DEPTH frames deep (tests/stacks/deep.c) are the program's
# return addresses, leaf first, none in the agent; TRACEAGENT_STACKS_EVERY and _DEPTH;
# other categories get none; the events are the same with stacks on; a 4 KiB ring loses
# nothing but stacks; a signal handler's records take none; a plug-in's payload
# (commit_ext) is whole with a stack after it (or the stack's loss counted); each stacks key
# by environment, config file and `traceagent run` flag; libunwind's fds are not the
# program's; a handler on a small sigaltstack.
#
# The frames are read from the drainer's debug lines ("stack: tid T op NAME id ID frames
# N: ip..."), what the ring carried; an exporter plug-in (tests/stacks/stkexp.c) writes
# what the exporters get: ev->ext_len (the stack's bytes must not be in it) and ev->stack
# with api->stack_ips (the same frames, once the stack table gives ids).
source "$(dirname "$0")/lib/common.sh"
[ -f "${AGENT##*:}" ] || { fail "agent not built ($AGENT)"; finish; }
[ -e /usr/lib/x86_64-linux-gnu/libunwind.so.8 ] || ldconfig -p 2>/dev/null | grep -q 'libunwind.so.8 ' ||
    skip "no libunwind.so.8 (libunwind8; make deps installs it)"

S="$TBUILD/stacks"
mkdir -p "$S"
ta_cc "$S/deep" "$ROOT/tests/stacks/deep.c"
gcc -std=gnu11 -O1 -g -Wall -fPIC -shared -I"$ROOT/include" -o "$S/stkexp.so" \
    "$ROOT/tests/stacks/stkexp.c" || { fail "compile stkexp.c"; finish; }
DATA="$TMP/data.bin"
head -c 8192 /dev/urandom > "$DATA"

# run NAME N DEPTH env...: deep under the agent with the debug log and the stkexp exporter
run() {
    local name=$1 n=$2 depth=$3; shift 3
    mkdir -p "$TMP/$name"
    env TRACEAGENT_LOG=debug TRACEAGENT_PLUGINS="$S/stkexp.so" \
        TRACEAGENT_EXPORT=json,stats,stkexp "$@" \
        TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$TMP/$name" LD_PRELOAD="$AGENT" \
        "$S/deep" "$DATA" "$n" "$depth" maps > "$TMP/$name.out" 2> "$TMP/$name.err"
}

# frames NAME ...: the checker below, on run NAME (nm of deep gives the functions' ranges)
nm -S --defined-only "$S/deep" | awk '$3 ~ /^[tT]$/ { print $1, $2, $4 }' > "$TMP/syms"
frames() {
    local name=$1; shift
    "$PY" - "$TMP/syms" "$TMP/$name.out" "$TMP/$name.err" "$TMP/$name" "$@" <<'PY'
import glob, json, math, sys
syms, outf, errf, d = sys.argv[1:5]
want = dict(a.split("=", 1) for a in sys.argv[5:])
fn = [(int(a, 16), int(a, 16) + int(s, 16), n) for a, s, n in (l.split() for l in open(syms))]
def name(ip):
    for lo, hi, n in fn:
        if lo <= ip < hi:
            return n
    return None
agent = [tuple(int(x, 16) for x in l.split()[1:3]) for l in open(outf) if l.startswith("agent ")]
mains = [int(l.split()[1], 16) for l in open(outf) if l.startswith("main ")]
bias = mains[0] - next(lo for lo, hi, n in fn if n == "main") if mains else 0
fn = [(lo + bias, hi + bias, n) for lo, hi, n in fn]
stacks = []  # (op, id, [ips])
for l in open(errf):
    if ": stack: tid " not in l:
        continue
    head, ips = l.split(" frames ")[0], l.split(":")[-1]
    op = head.split(" op ")[1].split()[0]
    sid = int(head.split(" id ")[1].split()[0])
    stacks.append((op, sid, [int(x, 16) for x in ips.split()]))
# under make test-asan, ASan's interceptor (preloaded before the agent) is the innermost
# caller of each wrapped call: its frames are left out here
asan = [tuple(int(x, 16) for x in l.split()[1:3]) for l in open(outf) if l.startswith("asan ")]
if asan:
    stacks = [(op, sid, [ip for ip in ips if not any(lo <= ip < hi for lo, hi in asan)])
              for op, sid, ips in stacks]
st = json.load(open(glob.glob(d + "/*.stats.json")[0]))
ops = {}
for o in st.get("ops", []):
    ops[(o.get("cat"), o["name"])] = ops.get((o.get("cat"), o["name"]), 0) + o["count"]
exp = [l.split() for l in open(glob.glob(d + "/*.stk")[0])] if glob.glob(d + "/*.stk") else []
bad = []
preads = [s for s in stacks if s[0] == "pread"]
check = want.get("check")
if check == "frames":
    depth = int(want["depth"]); n = int(want["n"])
    if len(preads) != n:
        bad.append(f"{len(preads)} pread stacks of {n}")
    shape = ["leaf_read"] + ["recurse"] * (depth + 1) + ["main"]
    for op, sid, ips in preads:
        names = [name(ip) for ip in ips]
        if names[:len(shape)] != shape:
            bad.append(f"frames {names[:len(shape) + 1]}")
            break
    inagent = [hex(ip) for _, _, ips in stacks for ip in ips if any(lo <= ip < hi for lo, hi in agent)]
    if not agent:
        bad.append("no agent mapping printed")
    if inagent:
        bad.append(f"frames in the agent: {inagent[:3]}")
    other = [s[0] for s in stacks if s[0] not in ("open", "pread", "close")]
    if other:
        bad.append(f"stacks on other ops: {sorted(set(other))}")
    # the exporters: every event, the stack's bytes never in ext, stack ids match the frames
    ev = [e for e in exp if e[1] == "pread"]
    if len(ev) != n:
        bad.append(f"stkexp saw {len(ev)} preads")
    if any(e[2] != "0" for e in exp):
        bad.append("an event's ext_len is not 0: " + " ".join(next(e for e in exp if e[2] != "0")[:4]))
    nonposix = [e for e in exp if e[0] != "posix" and e[3] != "0"]
    if nonposix:
        bad.append(f"a stack on {nonposix[0][:2]}")
    ids = {}
    for op, sid, ips in stacks:
        if sid:
            ids.setdefault(sid, ips)
            if ids[sid] != ips:
                bad.append(f"id {sid} names two stacks")
    for e in exp:
        sid = int(e[3])
        # the ring's frames above were read without ASan's: the same for stack_ips
        got = [ip for ip in (int(x, 16) for x in e[5:]) if not any(lo <= ip < hi for lo, hi in asan)]
        if sid and int(e[4]) and got != ids.get(sid):
            bad.append(f"stack_ips({sid}) differ from the ring's frames")
            break
elif check == "every":
    every = int(want["every"])
    posix = sum(c for (cat, _), c in ops.items() if cat == "posix")
    if len(stacks) != math.ceil(posix / every):
        bad.append(f"{len(stacks)} stacks for {posix} posix records, one in {every}")
elif check == "depth":
    depth = int(want["depth"]) - (1 if asan else 0)  # ASan's frame was one of them
    if not preads or any(len(ips) != depth for _, _, ips in preads):
        bad.append(f"frames per stack {sorted({len(i) for _, _, i in preads})}, not {depth}")
    elif [name(ip) for ip in preads[0][2]] != ["leaf_read"] + ["recurse"] * (depth - 1):
        bad.append(f"not the innermost: {[name(ip) for ip in preads[0][2]]}")
elif check in ("full", "fulldrop"):
    n = int(want["n"])
    drop = st.get("dropped") or {}
    lost_stacks = drop.get("stack", 0)
    allowed = ("stack",) if check == "full" else ("stack", "ring_full")
    others = {k: v for k, v in drop.items() if k not in allowed and v}
    posix = sum(c for (cat, _), c in ops.items() if cat == "posix")
    if check == "full" and ops.get(("posix", "pread")) != n:
        bad.append(f"preads {ops.get(('posix', 'pread'))} of {n}")
    if others:
        bad.append(f"dropped {others}")
    if len(stacks) + lost_stacks != posix:
        bad.append(f"{len(stacks)} stacks + {lost_stacks} lost != {posix} records")
    if any(len(ips) != 64 - (1 if asan else 0) for op, _, ips in preads):
        bad.append("a stack of other than 64 frames")
    print(f"stacks={len(stacks)} lost={lost_stacks} records={posix} dropped={drop}", file=sys.stderr)
print("; ".join(bad[:4]) if bad else "good")
sys.exit(1 if bad else 0)
PY
}

# (a) libunwind is mapped only when stacks are asked for
run plain 16 5
check "without TRACEAGENT_STACKS no libunwind is mapped ($(grep libunwind "$TMP/plain.out"))" \
    grep -qx "libunwind mapped 0" "$TMP/plain.out"
check "without TRACEAGENT_STACKS no stack is recorded" test "$(grep -c ': stack: ' "$TMP/plain.err")" = 0
run on 64 5 TRACEAGENT_STACKS=posix
check "with TRACEAGENT_STACKS=posix libunwind is mapped ($(grep libunwind "$TMP/on.out"))" \
    grep -qx "libunwind mapped 1" "$TMP/on.out"
check "TRACEAGENT_STACKS=posix: no warning ($(grep -v ': debug: ' "$TMP/on.err" | head -c 200))" \
    test -z "$(grep -v ': debug: ' "$TMP/on.err")"

# (b) the frames: leaf_read, recurse x 6, main, leaf first; none in the agent; posix only;
# what the exporters get
r=$(frames on check=frames n=64 depth=5 2>&1)
check "STACKS=posix: each pread's stack is leaf_read < recurse x 6 < main, no agent frame, none on stdio or markers, ext_len 0 ($r)" \
    test "$r" = good
run every 64 5 TRACEAGENT_STACKS=posix TRACEAGENT_STACKS_EVERY=16
r=$(frames every check=every every=16 2>&1)
check "STACKS_EVERY=16: one posix record in 16 has a stack ($r; $(grep -c ': stack: ' "$TMP/every.err") stacks)" \
    test "$r" = good
run depth 16 20 TRACEAGENT_STACKS=posix TRACEAGENT_STACKS_DEPTH=3
r=$(frames depth check=depth depth=3 2>&1)
check "STACKS_DEPTH=3: 3 frames, the innermost ($r)" test "$r" = good

# a word that names nothing: one warning, the default (no stacks), tracing goes on
run badword 16 2 TRACEAGENT_STACKS=posix,nosuchcat
check "STACKS=posix,nosuchcat: one warning ($(grep -c 'TRACEAGENT_STACKS' "$TMP/badword.err"))" \
    test "$(grep -v ': debug: ' "$TMP/badword.err" | grep -c TRACEAGENT_STACKS)" = 1
check "STACKS=posix,nosuchcat: no stacks, libunwind not mapped, the preads traced" \
    test "$(grep -c ': stack: ' "$TMP/badword.err")" = 0 -a \
    "$(grep -c 'libunwind mapped 0' "$TMP/badword.out")" = 1 -a \
    "$(grep -c '^posix pread ' "$TMP"/badword/*.stk)" = 16

# (c) the same events with stacks on (all categories) as off: ops and counts in stats.json,
# and the same events in the trace
run alloff 200 8
run allon 200 8 TRACEAGENT_STACKS=all
same_ops() {
    "$PY" - "$TMP/alloff" "$TMP/allon" <<'PY'
import glob, json, sys
def ops(d):
    st = json.load(open(glob.glob(d + "/*.stats.json")[0]))
    c = {}
    for o in st["ops"]:
        c[(o.get("cat"), o["name"])] = c.get((o.get("cat"), o["name"]), 0) + o["count"]
    tr = json.load(open(glob.glob(d + "/*.trace.json")[0]))
    ev = tr["traceEvents"] if isinstance(tr, dict) else tr
    n = {}
    for e in ev:
        if e.get("ph") in ("X", "i", "B", "E") and e.get("cat") != "agent":
            n[(e.get("cat"), e.get("name"))] = n.get((e.get("cat"), e.get("name")), 0) + 1
    return c, n
a, b = ops(sys.argv[1]), ops(sys.argv[2])
cats = {k[0] for k in a[1]}
ok = a == b and {"posix", "stdio", "marker"} <= cats and a[0].get(("posix", "pread")) == 200
print("good" if ok else f"off {sorted(a[0].items())} on {sorted(b[0].items())}")
PY
}
r=$(same_ops 2>&1)
check "STACKS=all: the posix, stdio and marker ops and counts, and the trace's events, as without stacks ($(echo "$r" | head -c 400))" \
    test "$r" = good
check "STACKS=all: stdio and marker records get stacks too" \
    grep -q ': stack: .* op fopen ' "$TMP/allon.err" && grep -q ': stack: .* op reads done ' "$TMP/allon.err"

# (d) a 4 KiB ring (64 slots) and 64-frame stacks (9 slots each): nothing lost but stacks,
# and each lost stack counted
run full 3000 70 TRACEAGENT_STACKS=posix TRACEAGENT_STACKS_DEPTH=64 TRACEAGENT_BUFFER_KB=4
r=$(frames full check=full n=3000 2>&1 | tr '\n' ' ')
check "4 KiB ring, 64 frames: every pread recorded, only stacks lost and counted ($r)" \
    grep -qw good <<<"$r"
# never waiting for the drainer: records may be dropped (ring_full); each record kept has
# its stack, or the stack's loss is counted
run fulldrop 3000 70 TRACEAGENT_STACKS=posix TRACEAGENT_STACKS_DEPTH=64 TRACEAGENT_BUFFER_KB=4 \
    TRACEAGENT_ON_FULL=drop
r=$(frames fulldrop check=fulldrop n=3000 2>&1 | tr '\n' ' ')
check "4 KiB ring, ON_FULL=drop: each recorded posix event has its stack or a counted loss ($r)" \
    grep -qw good <<<"$r"

# a signal handler's records take no stack (tests/core/sigio.c: a write from a SIGALRM
# handler every 20 us while the program preads): the walk would go on from whatever
# instruction the signal interrupted, uncached; the program must still run to its end
ta_cc "$S/sigio" "$ROOT/tests/core/sigio.c"
mkdir -p "$TMP/sig"
timeout 120 env TRACEAGENT_STACKS=posix TRACEAGENT_LOG=debug TRACEAGENT_OUTPUT="$TMP/sig" \
    LD_PRELOAD="$AGENT" "$S/sigio" 5000 pread > "$TMP/sig.out" 2> "$TMP/sig.err"
rc=$?
read -r made calls < "$TMP/sig.out"
check "handler every 20 us, STACKS=posix: the program ends (rc $rc, $made preads, ${calls:-?} handler writes)" \
    test "$rc" = 0 -a "$made" = 5000
check "handler writes take no stack, the preads do ($(grep -c ': stack: .* op write ' "$TMP/sig.err") write, $(grep -c ': stack: .* op pread ' "$TMP/sig.err") pread stacks)" \
    test "$(grep -c ': stack: .* op write ' "$TMP/sig.err")" = 0 -a \
    "$(grep -c ': stack: .* op pread ' "$TMP/sig.err")" = 5000

# a plug-in's records with payloads (commit_ext, tests/core/extrec.c: 0..4000 bytes, 4
# threads, 64-slot rings) with a stack after each payload: every payload whole, and each
# has its stack (what stkexp got) or the stack's loss is counted (dropped "stack")
ta_cc "$S/extrec" "$ROOT/tests/core/extrec.c" -ldl
mkdir -p "$TMP/ext"
env TRACEAGENT_STACKS=all TRACEAGENT_BUFFER_KB=4 TRACEAGENT_OUTPUT="$TMP/ext" LD_PRELOAD="$AGENT" \
    TRACEAGENT_PLUGINS="$S/stkexp.so" "$S/extrec" 4 3000 > "$TMP/ext.out" 2> "$TMP/ext.err"
value() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print -1 }' "$2"; }
f=("$TMP"/ext/*.extcheck)
if [ ! -f "${f[0]}" ]; then
    fail "payloads with stacks: the extrec exporter wrote its file ($(head -c 300 "$TMP/ext.err"))"
else
    check "payloads with stacks: all 12000 received, every payload whole and right ($(value recv "${f[0]}") received, $(value bad "${f[0]}") bad, $(value noext "${f[0]}") without)" \
        test "$(value recv "${f[0]}")" = 12000 -a "$(value bad "${f[0]}")" = 0 -a "$(value noext "${f[0]}")" = 0
fi
r=$("$PY" - "$TMP/ext" <<'PY'
import glob, json, sys
d = sys.argv[1]
stk = glob.glob(d + "/*.stk"); st = glob.glob(d + "/*.stats.json")
if not stk or not st:
    print("no .stk or stats.json"); sys.exit(1)
ev = [l.split() for l in open(stk[0])]
recs = [e for e in ev if e[0] == "extrec" and e[1] == "extrec"]
have = sum(1 for e in recs if e[3] != "0" and int(e[4]) > 0)
lost = (json.load(open(st[0])).get("dropped") or {}).get("stack", 0)
ok = len(recs) == 12000 and len(recs) - have <= lost and have > len(recs) // 2
print(("good " if ok else "") + f"{len(recs)} payloads, {have} with a stack, {lost} stacks lost")
PY
)
check "payloads with stacks: each has its stack or a counted stack loss, most have one ($r)" \
    grep -qw good <<<"$r"

# every stacks key by each way (environment, config file, `traceagent run` flag) has its
# effect: stacks=posix gives each pread its stack, stacks_every=16 one in 16, stacks_depth=3
# three frames (the other keys by the environment)
runway() { # NAME WAY KEY VALUE env...: like run, with KEY given by WAY
    local name=$1 way=$2 key=$3 v=$4; shift 4
    local var="TRACEAGENT_${key^^}"
    mkdir -p "$TMP/$name"
    local base=(env TRACEAGENT_LOG=debug TRACEAGENT_PLUGINS="$S/stkexp.so" "$@"
        TRACEAGENT_MIN_DURATION_NS=0 TRACEAGENT_OUTPUT="$TMP/$name")
    local prog=("$S/deep" "$DATA" 16 20 maps)
    case $way in
    env) "${base[@]}" "$var=$v" LD_PRELOAD="$AGENT" "${prog[@]}" ;;
    file)
        if [[ $v =~ ^[0-9]+$ ]]; then j=$v; else j="\"$v\""; fi
        echo "{\"$key\": $j}" > "$TMP/$name.json"
        "${base[@]}" TRACEAGENT_CONFIG="$TMP/$name.json" LD_PRELOAD="$AGENT" "${prog[@]}" ;;
    flag) "${base[@]}" "$CLI" run -q "--${key//_/-}" "$v" -- "${prog[@]}" ;;
    esac > "$TMP/$name.out" 2> "$TMP/$name.err"
}
for way in env file flag; do
    runway "k-stacks-$way" "$way" stacks posix
    n=$(grep -c ': stack: .* op pread ' "$TMP/k-stacks-$way.err")
    check "key stacks=posix by $way: each of the 16 preads has a stack ($n)" test "$n" = 16
    runway "k-every-$way" "$way" stacks_every 16 TRACEAGENT_STACKS=posix
    r=$(frames "k-every-$way" check=every every=16 2>&1)
    check "key stacks_every=16 by $way: one posix record in 16 has a stack ($r)" test "$r" = good
    runway "k-depth-$way" "$way" stacks_depth 3 TRACEAGENT_STACKS=posix
    r=$(frames "k-depth-$way" check=depth depth=3 2>&1)
    check "key stacks_depth=3 by $way: 3 frames, the innermost ($r)" test "$r" = good
done

# libunwind's own fds (its memory-check pipe, opened at load) are the agent's, high: the
# program's first open() gets 3; a program that closes every fd from 3 up and opens files
# on those numbers finds them untouched while a new thread's first walks check addresses
# through libunwind's pipe (tests/stacks/fdreuse.c)
ta_cc "$S/fdreuse" "$ROOT/tests/stacks/fdreuse.c"
mkdir -p "$TMP/fr" "$TMP/fro"
env TRACEAGENT_STACKS=posix TRACEAGENT_LOG=debug TRACEAGENT_OUTPUT="$TMP/fro" LD_PRELOAD="$AGENT" \
    "$S/fdreuse" "$DATA" "$TMP/fr" 200 < /dev/null > "$TMP/fr.out" 2> "$TMP/fr.err"
rc=$?
check "STACKS=posix: the program's first open() gets fd 3 ($(head -1 "$TMP/fr.out"))" \
    grep -qx "first 3" "$TMP/fr.out"
n=$(grep -c ': stack: .* op pread ' "$TMP/fr.err")
check "STACKS=posix: fds 3.. closed and reopened by the program, its files untouched while stacks are taken, no pipe of libunwind's below fd 1000 (rc $rc, $(sed -n 2,3p "$TMP/fr.out" | tr '\n' ' ')$n pread stacks)" \
    test "$rc" = 0 -a "$(grep -c '^files good' "$TMP/fr.out")" = 1 -a \
    "$(grep -c '^lowpipes 0$' "$TMP/fr.out")" = 1 -a "$n" = 1004

# a handler on a small sigaltstack (tests/stacks/altstack.c, a guard page below it) that
# preads: with stacks on it needs at most MINSIGSTKSZ (2048) + 512 bytes more than without
# (the probe runs before the walk's buffer is on the stack; agent/README.md). Not under
# ASan: the sanitized agent's frames carry redzones (12,968 bytes used with stacks there)
ta_cc "$S/altstack" "$ROOT/tests/stacks/altstack.c"
if [ -n "${TA_ASAN:-}" ]; then
    echo "# skipped under ASan (make test-asan): the sigaltstack check, the sanitized agent's frames are larger; the plain suite runs it"
    finish
fi
env TRACEAGENT_OUTPUT="$TMP/alt0" LD_PRELOAD="$AGENT" "$S/altstack" 65536 100 > "$TMP/alt0.out" 2>&1
env TRACEAGENT_STACKS=posix TRACEAGENT_OUTPUT="$TMP/alt1" LD_PRELOAD="$AGENT" "$S/altstack" 65536 100 \
    > "$TMP/alt1.out" 2>&1
u0=$(awk '$1 == "used" { print $2 }' "$TMP/alt0.out")
u1=$(awk '$1 == "used" { print $2 }' "$TMP/alt1.out")
size=$(( ${u0:-0} + 2048 + 512 ))
env TRACEAGENT_STACKS=posix TRACEAGENT_OUTPUT="$TMP/alt2" LD_PRELOAD="$AGENT" "$S/altstack" "$size" 100 \
    > "$TMP/alt2.out" 2>&1
rc=$?
check "handler on a sigaltstack of ${size} bytes (used without stacks ${u0:-?} + 2048 + 512), STACKS=posix: 100 handler preads run (rc $rc; ${u1:-?} bytes used with stacks)" \
    test -n "$u0" -a "$rc" = 0 -a "$(grep -c '^used .* ran 100$' "$TMP/alt2.out")" = 1
finish
