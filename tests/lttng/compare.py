"""tests/lttng/compare.py OUTDIR BT_TEXT [MIN_PROCS]: an LTTng trace of traceagent events
(babeltrace2's text output, in BT_TEXT) against the json traces of the same run (OUTDIR).

Prints one ok/not ok line per check: the LTTng event counts by type equal those the json
traces imply, process by process; every span of posix, stdio, hdf5, of a plug-in's
category, and every marker has its LTTng event with the same thread, start, duration and
fields (path, bytes, offset, ret, errno; file, dataset, selection; a plug-in's: its cat,
and args equal to trace.json's); process_start events name each traced process and its
parent. Exits 1 when a check failed."""
import collections
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/lib")
import tacheck  # noqa: E402
from tacheck import check  # noqa: E402

LINE = re.compile(r"^\[[^\]]*\] \([^)]*\) (\S+) (traceagent:\w+): \{ cpu_id = \d+ \}, \{ (.*) \}$")


def parse_payload(s):
    """babeltrace2's `a = 1, b = "x", c = [ [0] = 1, [1] = 2 ]` as a dict"""
    out, i, n = {}, 0, len(s)
    while i < n:
        m = re.compile(r"\s*(\w+) = ").match(s, i)
        if not m:
            raise ValueError(f"cannot parse at {s[i:i+40]!r}")
        key, i = m.group(1), m.end()
        if s[i] == '"':
            j, buf = i + 1, []
            while s[j] != '"':
                if s[j] == "\\":
                    j += 1
                    buf.append({"n": "\n", "t": "\t", "r": "\r"}.get(s[j], s[j]))
                else:
                    buf.append(s[j])
                j += 1
            val, i = "".join(buf), j + 1
        elif s[i] == "[":
            depth, j = 0, i
            while True:
                if s[j] == "[":
                    depth += 1
                elif s[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            val = [int(x) for x in re.findall(r"\] = (-?\d+)", s[i:j + 1])]
            i = j + 1
        else:
            j = s.find(",", i)
            j = n if j < 0 else j
            tok = s[i:j].strip()
            try:
                val = int(tok)
            except ValueError:
                val = float(tok)
            i = j
        out[key] = val
        if i < n and s[i] == ",":
            i += 1
    return out


def load_lttng(path):
    evs = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if m:
                d = parse_payload(m.group(3))
                d["_type"] = m.group(2).split(":", 1)[1]
                evs.append(d)
    return evs


def expected_type(ev):
    """the LTTng event a json trace event becomes (None: json only)"""
    ph, cat, name = ev.get("ph"), ev.get("cat"), ev.get("name")
    if ph == "C":
        return "counter"
    if cat == "agent":
        return {("M", "thread_name"): "thread_name", ("i", "process_start"): "process_start",
                ("i", "process_end"): "process_end", ("i", "dropped"): "dropped"}.get((ph, name))
    if ph not in ("X", "i"):
        return None
    if cat in ("posix", "stdio", "hdf5", "cuda", "gpu"):
        return cat
    if cat == "marker":
        return "range" if ph == "X" else "mark"
    return "span"


def same(x, y):
    """JSON values alike (numbers to 1e-9 relative: the two exporters format doubles apart)"""
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1)
    return x == y


def ns(us):
    return int(round(us * 1000))


def main():
    outdir, bt = sys.argv[1], sys.argv[2]
    min_procs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    lt = load_lttng(bt)
    traces = sorted(glob.glob(os.path.join(outdir, "*.trace.json")))
    check(f"{min_procs}+ json traces of the run ({len(traces)})", len(traces) >= min_procs)
    check(f"babeltrace2 read traceagent events ({len(lt)})", len(lt) > 0)
    by_pid = collections.defaultdict(list)
    for e in lt:
        by_pid[e["pid"]].append(e)
    count_bad, fields_bad, compared = [], [], collections.Counter()
    json_pids = set()
    for path in traces:
        # the format checks of tacheck, plug-ins' categories allowed
        cats = set(re.findall(r'"cat":("(?:[^"\\]|\\.)*")', open(path).read()))
        events = tacheck.load_trace_cats(path, {json.loads(c) for c in cats}, require_closed=True)
        pid = int(re.search(r"-(\d+)\.trace\.json$", path).group(1))
        json_pids.add(pid)
        want = collections.Counter(t for t in map(expected_type, events) if t)
        # a named track's name is a thread_name in trace.json, a track_name in LTTng
        got = collections.Counter("thread_name" if e["_type"] == "track_name" else e["_type"]
                                  for e in by_pid.get(pid, []))
        if want != got:
            count_bad.append(f"pid {pid}: json {dict(want)} lttng {dict(got)}")
        index = {}
        for e in by_pid.get(pid, []):
            if "ts" in e and "tid" in e:
                index.setdefault((e["_type"], e["tid"], e["ts"]), []).append(e)
        for ev in events:
            t = expected_type(ev)
            if t not in ("posix", "stdio", "hdf5", "range", "mark", "span"):
                continue
            cand = index.get((t, ev["tid"], ns(ev["ts"])), [])
            a = ev.get("args", {})
            diffs = None
            for e in cand:
                d = []
                if t in ("range", "mark"):
                    if e["text"] != ev["name"]:
                        d.append(("text", ev["name"], e["text"]))
                elif e["name"] != ev["name"]:
                    d.append(("name", ev["name"], e["name"]))
                if t == "span":
                    # a plug-in's category: every field in args, as trace.json has them
                    got_args = json.loads(e["args"])
                    if e["cat"] != ev["cat"] or not same(got_args, a) or \
                            e["instant"] != (ev["ph"] == "i"):
                        d.append(("cat/args/instant", (ev["cat"], a), (e["cat"], got_args)))
                if ph_dur(ev) != e.get("dur", 0):
                    d.append(("dur", ph_dur(ev), e.get("dur")))
                if t in ("posix", "stdio"):
                    for k, lk, absent in (("path", "path", "-"), ("bytes", "bytes", -1),
                                          ("offset", "offset", -1), ("fd", "fd", -1),
                                          ("ret", "ret", 0), ("errno", "errnum", 0)):
                        if a.get(k, absent) != e[lk]:
                            d.append((k, a.get(k, absent), e[lk]))
                if t == "hdf5":
                    for k, lk, absent in (("file", "file", "-"), ("dataset", "dataset", "-"),
                                          ("selection", "selection", "-"), ("bytes", "bytes", -1),
                                          ("ret", "ret", 0)):
                        if a.get(k, absent) != e[lk]:
                            d.append((k, a.get(k, absent), e[lk]))
                    if int(bool(a.get("error"))) != e["error"]:
                        d.append(("error", a.get("error"), e["error"]))
                if not d:
                    diffs = None
                    break
                diffs = d
            if not cand:
                fields_bad.append(f"pid {pid} {t} {ev['name']} at {ev['ts']}: no LTTng event")
            elif diffs:
                fields_bad.append(f"pid {pid} {t} {ev['name']} at {ev['ts']}: {diffs}")
            else:
                compared[t] += 1
    check("LTTng event counts by type equal the json traces', process by process",
          not count_bad, count_bad)
    check(f"every posix/stdio/hdf5/plug-in span and marker has its LTTng event with the same "
          f"tid, ts, dur and fields ({dict(compared)})", not fields_bad and sum(compared.values()) > 0,
          fields_bad)
    starts = {e["pid"]: e for e in lt if e["_type"] == "process_start"}
    check("a process_start per traced process", set(starts) == json_pids,
          [f"lttng {sorted(starts)} json {sorted(json_pids)}"])
    parents = [p for p in starts.values() if p["ppid"] in starts]
    check("a forked child's process_start names its parent", len(parents) >= min_procs - 1)
    tacheck.finish()


def ph_dur(ev):
    return ns(ev["dur"]) if ev.get("ph") == "X" else 0


if __name__ == "__main__":
    main()
