"""Events with call stacks for tests/stacks_out/harness.c, and every answer the exporters
must give for them (tests/t57_stacks.sh). Writes SCRIPT and EXPECT (JSON).
   gen.py SCRIPT EXPECT EVERY"""
import json, os, random, sys

script, expect_path, every = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(19)
T = "\t"
out = []
frames = {}  # ip -> (library, offset, function, file, line) or None (unknown)
stacks = {}  # id -> (site, [ips leaf first])

APP, LIBC, LIBX = "/opt/app/bin/app", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/opt/x/libx.so.1"

def frame(ip, lib, fn, file=None, line=0):
    frames[ip] = (lib, ip & 0xfffff, fn, file, line)
    out.append(T.join(["F", "%x" % ip, lib, "%x" % (ip & 0xfffff), fn or "-", file or "-",
                       str(line)]))

def unknown(ip):
    frames[ip] = None
    out.append(T.join(["U", "%x" % ip]))

def base(p):
    return p.rsplit("/", 1)[-1]

def short(ip):  # args.stack's frame
    f = frames[ip]
    if f is None:
        return "0x%x" % ip
    lib, off, fn, file, line = f
    return fn if fn else "%s+0x%x" % (base(lib), off)

def long_(ip):  # stackFrames' name, stats' labels
    f = frames[ip]
    if f is None:
        return "0x%x" % ip
    lib, off, fn, file, line = f
    if not fn:
        return "%s+0x%x" % (base(lib), off)
    if file and line:
        return "%s (%s:%d)" % (fn, base(file), line)
    if file:
        return "%s (%s)" % (fn, base(file))
    return fn

# the C runtime's frames
frame(0x7f0000001010, LIBC, "__pread64")
frame(0x7f0000002020, LIBC, "_IO_fwrite")
frame(0x7f0000003030, LIBC, "__libc_start_call_main")
frame(0x7f0000003040, LIBC, "__libc_start_main_impl")
frame(0x401000, APP, "_start")
frame(0x402000, APP, "main", "/src/app.c", 40)
frame(0x402010, APP, "main", "/src/app.c", 44)
frame(0x403000, APP, "helper", "/src/app.c", 70)
OUTER = [0x7f0000003030, 0x7f0000003040, 0x401000]
# 26 reader functions: 26 sites of posix (20 written, the rest in "(other sites)")
for k in range(26):
    frame(0x500000 + k * 0x100, APP, "reader_%d" % k, "/src/readers.c", 100 + k)
# a second return address with the same function and line as reader_0's: the same site
frame(0x500008, APP, "reader_0", "/src/readers.c", 100)
# a library frame without a symbol, one nothing is known of, a name to escape
frame(0x7f1000004444, LIBX, None)
unknown(0x7f2000005555)
frame(0x600000, APP, 'we"ird\\name', "/src/app.c", 90)
frame(0x600100, APP, "write_c", "/src/app.c", 12)
frame(0x600200, APP, "recurse", "/src/app.c", 95)

sid = 0
def stack(site, ips):
    global sid
    sid += 1
    stacks[sid] = (site, ips)
    out.append(T.join(["S", str(sid), str(site)] + ["%x" % i for i in ips]))
    return sid

posix_stacks = []
for k in range(26):
    r = 0x500000 + k * 0x100
    posix_stacks.append(stack(1, [0x7f0000001010, r, 0x402000] + OUTER))
    if k % 3 == 0:  # called from two places: two stacks, one site
        posix_stacks.append(stack(1, [0x7f0000001010, r, 0x403000, 0x402010] + OUTER))
s_same = stack(1, [0x7f0000001010, 0x500008, 0x402000] + OUTER)  # reader_0 again
s_lib = stack(1, [0x7f0000001010, 0x7f1000004444, 0x7f2000005555, 0x402000] + OUTER)
s_weird = stack(0, [0x600000, 0x402000] + OUTER)  # no C runtime frame at the leaf
s_deep = stack(1, [0x7f0000001010] + [0x600200] * 12 + [0x402000] + OUTER)
s_allc = stack(0, [0x7f0000001010, 0x7f0000003030])  # only the C runtime: site 0
posix_stacks += [s_same, s_lib, s_weird, s_deep, s_allc]
s_stdio = stack(1, [0x7f0000002020, 0x600100, 0x402000] + OUTER)
s_marker = stack(0, [0x402000] + OUTER)

# events: thread 7 runs phases (a marker at depth 0) of preads at depth 1; thread 8 writes
# at depth 0; some events have no stack (sampled out)
events = []  # (cat, tid, depth, ts, dur, bytes, stack) or ("marker", ...)
ts = 1000
weights = {s: rnd.randint(1, 30) for s in posix_stacks}
for phase in range(12):
    t0 = ts
    for _ in range(40):
        s = rnd.choice(posix_stacks)
        for _ in range(rnd.randint(1, 3)):
            dur = rnd.randint(50, 5000) * weights[s]
            b = rnd.choice([0, 512, 4096, 65536])
            stk = s if rnd.random() < 0.8 else 0
            events.append(("posix", 7, 1, ts, dur, b, stk))
            ts += dur + 10
    events.append(("marker", 7, 0, t0, ts - t0, 0, s_marker if phase % 2 else 0))
    ts += 100
    for _ in range(rnd.randint(1, 4)):
        dur = rnd.randint(100, 900)
        events.append(("stdio", 8, 0, ts, dur, 512, s_stdio))
        ts += dur + 10
for e in events:
    if e[0] == "marker":
        out.append(T.join(["m", str(e[1]), str(e[2]), str(e[3]), str(e[4]), "phase", str(e[6])]))
    else:
        out.append(T.join(["e"] + [str(x) for x in e]))
open(script, "w").write("\n".join(out) + "\n")

# ---- the answers
def site_label(s):
    site, ips = stacks[s]
    return long_(ips[site])

def args_stack(s):
    ips = stacks[s][1]
    t = " < ".join(short(i) for i in ips[:8])
    return t + (" < ..." if len(ips) > 8 else "")

rows = {}  # (cat, label) -> row
per_stack = {}
for e in events:
    cat, stk = e[0], e[6]
    if not stk:
        continue
    k = (cat, stk)
    p = per_stack.setdefault(k, [0, 0, 0])
    p[0] += 1; p[1] += e[4]; p[2] += e[5]
for (cat, s), (c, t, b) in sorted(per_stack.items()):
    lab = site_label(s)
    r = rows.setdefault((cat, lab), {"cat": cat, "site": lab, "count": 0, "total_ns": 0,
                                     "bytes": 0, "stacks": 0, "best": (0, 0)})
    r["count"] += c; r["total_ns"] += t; r["bytes"] += b; r["stacks"] += 1
    if c > r["best"][0]:  # the most frequent stack; the first (lowest id) of a tie
        r["best"] = (c, s)
sites = []
for cat in sorted({c for c, _ in rows}):
    rs = sorted((r for r in rows.values() if r["cat"] == cat),
                key=lambda r: (-r["total_ns"], -r["count"], r["site"]))
    for r in rs[:20]:
        s = r["best"][1]
        site, ips = stacks[s]
        f = frames[ips[site]]
        r2 = dict(r)
        del r2["best"]
        r2["function"] = f[2] if f else None
        r2["library"] = f[0] if f else None
        r2["file"] = f[3] if f else None
        r2["line"] = f[4] if f else 0
        r2["example"] = [long_(i) for i in ips[site:site + 16]]
        sites.append(r2)
    if len(rs) > 20:
        o = {"cat": cat, "site": "(other sites)", "function": None, "library": None,
             "file": None, "line": 0, "example": []}
        for k in ("count", "total_ns", "bytes", "stacks"):
            o[k] = sum(r[k] for r in rs[20:])
        sites.append(o)

# the tree: marker:phase > posix:pread64, each node's top 3 sites; stdio:fwrite at the top
def node_sites(cat, name):
    agg = {}
    for e in events:
        if e[6] and e[0] == cat:
            a = agg.setdefault(site_label(e[6]), [0, 0])
            a[0] += 1; a[1] += e[4]
    top = sorted(agg.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:3]
    return [{"site": k, "count": v[0], "total_ns": v[1]} for k, v in top]

ev_stacks = {}  # (tid, ts) -> (args.stack, [stackFrames names leaf first], [categories])
for e in events:
    if e[6]:
        ips = stacks[e[6]][1]
        name = {"posix": "pread64", "stdio": "fwrite", "marker": "phase"}[e[0]]
        ev_stacks["%d/%d/%s" % (e[1], e[3], name)] = {
            "text": args_stack(e[6]),
            "names": [long_(i) for i in ips],
            "cats": [base(frames[i][0]) if frames[i] else "?" for i in ips]}
used = {e[6] for e in events if e[6]}
nodes = set()
for s in used:
    ips = stacks[s][1]
    for k in range(len(ips)):
        nodes.add(tuple(ips[k:]))
expect = {
    "sites": sites, "stacks_every": every,
    "tree_pread": node_sites("posix", "pread64"), "tree_fwrite": node_sites("stdio", "fwrite"),
    "tree_marker": node_sites("marker", "phase"),
    "events": ev_stacks, "nevents": len(events),
    "nodes": len(nodes),
    # each frame of a stack once (its tree nodes key on the resolved frame), not per event
    "lookups_trace": sum(len(stacks[s][1]) for s in used),
}
json.dump(expect, open(expect_path, "w"), indent=1)
