#!/usr/bin/env python3
"""Events for tests/writer/harness.c and the trace lines they must give, formatted here
with Python's own integer formatting (what printf's %llu / %lld / "%llu.%03u" give) and
the escaping rules of CONTRACT (jsonw.h): the reference the trace writer is held to, byte
for byte.

    gen.py SCRIPT EXPECTED [MIN_NS MIN_MASK]
SCRIPT: the harness's input; EXPECTED: the event lines (without process_name,
process_start, process_end), in order, each ending with ",\\n".
"""
import random
import struct
import sys

PID = 4242
CATS = ["posix", "stdio", "hdf5", "cuda", "gpu", "marker", "agent"]
F_FD, F_BYTES, F_OFFSET, F_ERR, F_NS, F_RET, F_UNFIN = 1, 2, 4, 8, 16, 32, 64
U64 = (1 << 64) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
MAX_STR = 4096


# ---- the reference formatting ----------------------------------------------------------
def us(ns):
    return "%d.%03d" % (ns // 1000, ns % 1000)


def utf8_len(b, i):
    """length of the valid UTF-8 sequence at b[i], or 0 (jsonw.c utf8_valid)"""
    c = b[i]
    if c < 0x80:
        return 1
    if 0xC2 <= c <= 0xDF:
        need = 2
    elif 0xE0 <= c <= 0xEF:
        need = 3
    elif 0xF0 <= c <= 0xF4:
        need = 4
    else:
        return 0
    if len(b) - i < need:
        return 0
    try:
        ch = b[i:i + need].decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return need if len(ch) == 1 and not (0xD800 <= ord(ch) <= 0xDFFF) else 0


def jstr(b):
    cut = len(b) > MAX_STR
    if cut:
        b = b[:MAX_STR]
    o = ['"']
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x22 or c == 0x5C:
            o.append("\\" + chr(c))
            i += 1
        elif c < 0x20 or c == 0x7F:
            o.append({10: "\\n", 9: "\\t", 13: "\\r"}.get(c, "\\u%04x" % c))
            i += 1
        elif c < 0x80:
            o.append(chr(c))
            i += 1
        else:
            k = utf8_len(b, i)
            if k:
                o.append(b[i:i + k].decode("utf-8"))
                i += k
            else:
                o.append("\\ufffd")
                i += 1
    if cut:
        o.append("...")
    o.append('"')
    return "".join(o)


def dbl(v):
    """jsonw.c ta_buf_dbl, for the values this script uses (|v| < 9e15)"""
    if v != v or v - v != 0:
        return "null"
    if -9e15 < v < 9e15 and v == float(int(v)):
        return "%d" % int(v)
    s = ""
    if v < 0:
        s, v = "-", -v
    ip = int(v)
    fp = int((v - float(ip)) * 1e6 + 0.5)
    if fp >= 1000000:
        ip, fp = ip + 1, fp - 1000000
    s += "%d" % ip
    if fp:
        s += ("." + "%06d" % fp).rstrip("0")
    return s


def head(ph, cat, name, tid):
    return '{"ph":"%s","cat":%s,"name":%s,"pid":%d,"tid":%d' % (
        ph, jstr(cat.encode()), jstr(name), PID, tid)


def signed(u, bits=64):
    u &= (1 << bits) - 1
    return u - (1 << bits) if u >> (bits - 1) else u


# ---- the ops (harness.c ops[]) ---------------------------------------------------------
def io_fields(key2):
    return [("fd", "i32", "fd", F_FD), ("path", "str", "str", 0), (key2, "str", "str2", 0),
            ("bytes", "i64", 1, F_BYTES), ("offset", "i64", 2, F_OFFSET),
            ("ret", "i64", 0, F_RET), ("errno", "u16", "err", F_ERR),
            ("unfinished", "true", None, F_UNFIN)]


DEV = [("correlation", "u64", 1, 0), ("device", "u32", 0, 0), ("stream", "u32", 1, 0),
       ("grid", "dim3", ("ext", 0), 0), ("label", "text", ("ext", 12), 0),
       ("pinned", "true", None, F_OFFSET), ("small", "u16", "err", 0),
       ("signed", "i32", "fd", F_FD), ("flow", "u64", 1, F_RET),
       ('key "quoted"\t', "i64", 2, 0), ("a_key_longer_than_its_slot_in_the_plan", "i64", 0, 0),
       ("path", "str", "str", 0), ("second", "str", "str2", 0),
       ("ratio", "f64", ("ext", 28), F_BYTES)]
# (name, cat, shape, name_from_str, fields)
OPS = [("pread64", 0, "X", False, io_fields("detail")),
       ("rename", 0, "X", False, io_fields("path2")),
       ("fwrite", 1, "X", False, io_fields("detail")),
       ("range", 5, "X", True, []),
       ("mark", 5, "i", True, []),
       ("queue depth", 6, "C", False, [("value", "f64", 0, 0)]),
       ("kernel", 4, "X", False, DEV),
       ("many", 2, "X", False, [("k%d" % i, "i64", i % 3, 0) for i in range(20)])]
OPS += [("op%d" % i, 2, "X", False, [("v", "i64", 0, 0)]) for i in range(100)]


def expect(ev, min_ns, min_mask):
    """the lines event ev gives"""
    name, cat, ph, from_str, fields = OPS[ev["op"]]
    if ph == "X" and ev["dur"] < min_ns and (min_mask >> cat) & 1:
        return []
    shown = ev["str"] if from_str else name.encode()
    line = head(ph, CATS[cat], shown, ev["tid"])
    if ph == "X":
        line += ',"ts":%s,"dur":%s' % (us(ev["ts"]), us(ev["dur"]))
    elif ph == "i":
        line += ',"s":"t","ts":%s' % us(ev["ts"])
    else:
        line += ',"ts":%s' % us(ev["ts"])
    args = []
    flows = []
    u, ext = ev["u"], ev["ext"]
    for key, typ, where, flag in fields:
        if (ev["flags"] & flag) != flag:
            continue
        if isinstance(where, tuple):  # in the payload: present when it reaches the field
            off = where[1]
            size = {"dim3": 12, "text": 1, "f64": 8, "i64": 8, "u64": 8}[typ]
            if ext is None or off + size > len(ext):
                continue
            raw = ext[off:]
        if typ == "true":
            val = "true"
        elif typ == "str":
            sid = ev[where]
            if sid is None:
                continue
            val = jstr(sid) if isinstance(sid, bytes) else '""'
        elif typ == "dim3":
            val = "[%d,%d,%d]" % struct.unpack("<3I", raw[:12])
        elif typ == "text":
            t = raw.split(b"\0")[0]
            val = jstr(t)
        elif typ == "f64":
            v = struct.unpack("<d", raw[:8])[0] if isinstance(where, tuple) else \
                struct.unpack("<d", struct.pack("<Q", u[where]))[0]
            val = dbl(v)
        elif where == "fd":
            val = "%d" % signed(ev["fd"], 32)
        elif where == "err":
            val = "%d" % (ev["err"] & 0xFFFF)
        elif typ == "i64":
            val = "%d" % signed(u[where])
        elif typ == "u64":
            val = "%d" % u[where]
        elif typ == "u32":
            val = "%d" % ((u[where // 2] >> (32 * (where % 2))) & 0xFFFFFFFF)
        else:
            raise ValueError(typ)
        args.append("%s:%s" % (jstr(key.encode()), val))
        if key == "flow" and u[1]:
            flows.append(u[1])
    if args:
        line += ',"args":{' + ",".join(args) + "}"
    out = [line + "},\n"]
    for fid in flows:
        v = fid ^ (PID << 40)
        fl = head("f", "agent", b"flow", ev["tid"])
        fl += ',"ts":%s,"id":"0x%x","bp":"e"},\n' % (
            us(ev["ts"] + (1 if ev["dur"] > 1 else 0)), v)
        out.append(fl)
    return out


# ---- the events ------------------------------------------------------------------------
EDGE_NS = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 9999, 10000, 99999, 100000, 999999,
           1000000, 1000001, 9999999, 10000000, 123456789, 999999999999, 1000000000000,
           43210987654321, 10 ** 15, 10 ** 16 - 1, 10 ** 18, I64_MAX, U64]
EDGE_I64 = [0, 1, -1, 9, 10, -10, 99, 100, 4096, 999999, 10 ** 8 - 1, 10 ** 8, 10 ** 9,
            2 ** 31 - 1, -(2 ** 31), 2 ** 32, 10 ** 16, 10 ** 17 + 3, I64_MAX, I64_MIN,
            I64_MIN + 1, -123456789012345678]
EDGE_U64 = [0, 1, 99, 100, 2 ** 32 - 1, 10 ** 19 - 1, 10 ** 19, U64 - 1, U64]
STRINGS = [b"/data/in.bin", b"/tmp/a b/c.txt", b"quote\"back\\slash", b"nl\ntab\tcr\r",
           b"ctl\x01\x1f\x7f.", "caf\u00e9/\u65e5\u672c/\U0001F600".encode(),
           b"bad\xff\xfe.", b"trunc\xe6\x97", b"surrogate\xed\xa0\x80.", b"overlong\xc0\x80.",
           b"/long/" + b"x" * 300, b"/edge/" + b"y" * 234, b"/edge/" + b"z" * 235,
           b"/longer/" + b"q" * 5000, b"\\\\\\\\" * 70, b""]


def main():
    script, expected = sys.argv[1], sys.argv[2]
    min_ns = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    min_mask = int(sys.argv[4], 0) if len(sys.argv) > 4 else 0
    rnd = random.Random(20)
    events = []
    ts = 43210987654321

    def ev(op, **kw):
        e = dict(op=op, tid=kw.get("tid", 4242), ts=kw.get("ts", ts), dur=kw.get("dur", 1234),
                 flags=kw.get("flags", 0), fd=kw.get("fd", 0), str=kw.get("str"),
                 str2=kw.get("str2"), u=[x & U64 for x in kw.get("u", [0, 0, 0])],
                 err=kw.get("err", 0), ext=kw.get("ext"))
        events.append(e)

    io = F_FD | F_BYTES | F_OFFSET | F_RET
    # numbers at their edges: time stamps, durations, each integer field
    for v in EDGE_NS:
        ev(0, ts=v, dur=v, flags=io, fd=3, str=b"/data/in.bin", u=[1, 1, 0])
        ev(4, ts=v, str=b"tick")
    for v in EDGE_I64:
        ev(0, flags=io | F_ERR, fd=v & 0xFFFFFFFF, str=b"/data/in.bin", u=[v, v, v],
           err=v & 0xFFFF)
    for v in EDGE_U64:
        ext = struct.pack("<3I", v & 0xFFFFFFFF, v >> 32 & 0xFFFFFFFF, 7) + b"lbl\0" + \
            b"\0" * 12 + struct.pack("<d", 0.125)
        ev(6, flags=F_RET | F_FD | F_BYTES | F_OFFSET, fd=v & 0xFFFFFFFF, err=v & 0xFFFF,
           u=[v, v, v], str=b"/dev/nvidia0", str2=b"stream \"7\"", ext=ext)
    for c in [0.0, 1.0, -1.0, 2.5, 0.125, -3.75, 1e6, 123456.5, 0.000001]:
        ev(5, u=[struct.unpack("<Q", struct.pack("<d", c))[0], 0, 0])
    # every string, as path, second string, marker name; kept and not
    for s in STRINGS:
        for rep in range(2):
            ev(0, flags=io, fd=4, str=s or None, str2=s or None, u=[5, 5, 0])
            ev(1, flags=F_RET, str=s or None, str2=b"/target", u=[0, 0, 0])
            ev(3, str=s or b"-", dur=77)
    ev(0, flags=io, fd=4, str=99999, u=[1, 1, 1])  # an id past the string table
    # a payload too short for some fields, a text without its NUL, no payload at all
    ev(6, flags=F_RET, u=[0, 5, 0], ext=struct.pack("<3I", 1, 2, 3) + b"no nul")
    ev(6, flags=F_RET | F_BYTES, u=[0, 0, 0], ext=b"\x01\x00")
    ev(6, flags=0, u=[0, 9, 0])
    ev(7, u=[1, -2, 3])
    ev(2, flags=F_UNFIN | F_RET, fd=1, str=b"/dev/stdout", u=[-1, 0, 0])
    # a long marker name (past the head's slot), then many threads, ops, strings, at random
    ev(3, str=b"m" * 200, dur=5)
    ev(3, str=b"m" * 200, dur=6)
    paths = [b"/data/train/%05d.bin" % i for i in range(1500)]
    for i in range(20000):
        ts += rnd.choice([1, 17, 999, 1357, 20011, 1000003, 7 * 10 ** 9])
        k = rnd.random()
        tid = rnd.choice([4242, 4243, 4244] + list(range(5000, 5400)) if k < 0.1 else
                         [4242, 4243])
        if k < 0.55:
            ev(0, tid=tid, ts=ts, dur=rnd.choice([0, 1, 999, 1000, 4567, 10 ** 6, 10 ** 10]),
               flags=io | (F_ERR if k < 0.02 else 0), fd=rnd.randrange(-1, 2000),
               str=rnd.choice(paths[:rnd.choice([3, 600, 1500])]),
               u=[rnd.choice([4096, -1, 0]), 4096, rnd.randrange(0, 2 ** 40)], err=9)
        elif k < 0.7:
            ev(3, tid=tid, ts=ts, dur=rnd.randrange(0, 5000),
               str=rnd.choice([b"step", b"epoch", b"load batch", b"m\xc3\xa9"]))
        elif k < 0.8:
            ev(8 + rnd.randrange(100), tid=tid, ts=ts, dur=rnd.randrange(0, 3000),
               u=[rnd.randrange(-10 ** 12, 10 ** 12), 0, 0])
        elif k < 0.9:
            ev(4, tid=tid, ts=ts, str=b"tick")
        else:
            ev(2, tid=tid, ts=ts, dur=rnd.randrange(0, 3000), flags=io, fd=1,
               str=b"/dev/stdout", u=[12, 12, 0])
    with open(script, "w") as f, open(expected, "w") as x:
        for i, e in enumerate(events):
            def s(v):
                if v is None:
                    return "-"
                if isinstance(v, int):
                    return "#%d" % v
                return v.hex()
            f.write("\t".join(["e", str(e["op"]), str(e["tid"]), str(e["ts"]), str(e["dur"]),
                               str(e["flags"]), str(signed(e["fd"], 32)), s(e["str"]),
                               s(e["str2"]), *map(str, e["u"]), str(e["err"]),
                               e["ext"].hex() if e["ext"] else "-"]) + "\n")
            if i % 997 == 0:
                f.write("c\n")
            for line in expect(e, min_ns, min_mask):
                x.write(line)


main()
