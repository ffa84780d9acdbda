"""tests/lttng/compare.py OUTDIR BT_TEXT [MIN_PROCS]: an LTTng trace of traceagent events
(babeltrace2's text output, in BT_TEXT) against the json traces of the same run (OUTDIR).

Prints one ok/not ok line per check: the LTTng event counts by type equal those the json
traces imply, process by process; every span of posix, stdio, hdf5, of a plug-in's
category, and every marker has its LTTng event with the same thread, start, duration and
fields (path, bytes, offset, ret, errno; file, dataset, selection; a plug-in's: its cat,
and args equal to trace.json's); counters' names and values, thread and track names, drop
events (cause, count, total) as trace.json's; process_start events name each traced
process and its parent. Events are compared by (pid, image): an exec'd image's json trace
against the LTTng events from its own process_start on. Exits 1 when a check failed."""
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


def same_args(got, want):
    """LTTng's args as trace.json's; where LTTng's are marked truncated (past its 8 KiB),
    the fields it kept are trace.json's, a string cut at the same text (trace.json cuts
    long text at 4 KiB with "...")"""
    if got.get("truncated") is not True or "truncated" in want:
        return same(got, want)
    for k, v in got.items():
        if k == "truncated":
            continue
        w = want.get(k)
        if isinstance(v, str) and isinstance(w, str):
            w = w[:-3] if w.endswith("...") else w
            if not (v.startswith(w) or w.startswith(v)):
                return False
        elif not same(v, w):
            return False
    return True


def ns(us):
    return int(round(us * 1000))


def main():
    outdir, bt = sys.argv[1], sys.argv[2]
    min_procs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    lt = load_lttng(bt)
    traces = sorted(glob.glob(os.path.join(outdir, "*.trace.json")))
    check(f"{min_procs}+ json traces of the run ({len(traces)})", len(traces) >= min_procs)
    check(f"babeltrace2 read traceagent events ({len(lt)})", len(lt) > 0)
    # LTTng's events by (pid, image): a process's events, split at each process_start
    # (an exec'd image starts again under the same pid; babeltrace2 prints in time order)
    by_pid = collections.defaultdict(list)
    for e in lt:
        segs = by_pid[e["pid"]]
        if e["_type"] == "process_start" or not segs:
            segs.append([])
        segs[-1].append(e)
    count_bad, fields_bad, compared = [], [], collections.Counter()
    counters_bad, names_bad, drops_bad = [], [], []
    ncounters = ndrops = 0
    json_pids = set()
    loaded = []
    for path in traces:
        # the format checks of tacheck, plug-ins' categories allowed
        cats = set(re.findall(r'"cat":("(?:[^"\\]|\\.)*")', open(path).read()))
        events = tacheck.load_trace_cats(path, {json.loads(c) for c in cats}, require_closed=True)
        pid = int(re.search(r"-(\d+)\.trace\.json$", path).group(1))
        start = min([e["ts"] for e in events if e.get("name") == "process_start"] or [0])
        loaded.append((pid, start, path, events))
    nth = collections.Counter()
    for pid, start, path, events in sorted(loaded, key=lambda x: (x[0], x[1])):
        json_pids.add(pid)
        segs = by_pid.get(pid, [])
        mine = segs[nth[pid]] if nth[pid] < len(segs) else []
        nth[pid] += 1
        image = os.path.basename(path)
        want = collections.Counter(t for t in map(expected_type, events) if t)
        # a named track's name is a thread_name in trace.json, a track_name in LTTng
        got = collections.Counter("thread_name" if e["_type"] == "track_name" else e["_type"]
                                  for e in mine)
        if want != got:
            count_bad.append(f"{image}: json {dict(want)} lttng {dict(got)}")
        # counters: names and values, in time order (babeltrace2 2.0 prints a double as %g
        # does, 6 significant digits: to 1e-5 relative; -1e300 written -0 is far off)
        # and a plug-in's counter's other fields, in args as trace.json has them
        jc = [(e["name"], e["args"].get("value"),
               {k: v for k, v in e["args"].items() if k != "value"})
              for e in sorted(events, key=lambda e: e["ts"]) if e.get("ph") == "C"]
        lc = [(e["name"], e["value"], json.loads(e.get("args", "{}")))
              for e in sorted(mine, key=lambda e: e.get("ts", 0)) if e["_type"] == "counter"]
        ncounters += len(jc)
        if len(jc) != len(lc) or any(a[0] != b[0] or a[1] is None or not same(a[2], b[2]) or
                                     abs(a[1] - b[1]) > 1e-5 * max(abs(a[1]), abs(b[1]), 1)
                                     for a, b in zip(jc, lc)):
            counters_bad.append(f"{image}: json {jc} lttng {lc}")
        # thread and track names
        jn = sorted((e["tid"], e["args"]["name"]) for e in events
                    if e.get("ph") == "M" and e.get("name") == "thread_name")
        ln = sorted((e["tid"], e["name"]) for e in mine
                    if e["_type"] in ("thread_name", "track_name"))
        if jn != ln:
            names_bad.append(f"{image}: json {jn} lttng {ln}")
        # drops: cause, count since the cause's last event, total
        jd = sorted((e["args"]["cause"], e["args"]["count"], e["args"]["total"]) for e in events
                    if e.get("cat") == "agent" and e.get("name") == "dropped")
        ld = sorted((e["cause"], e["count"], e["total"]) for e in mine if e["_type"] == "dropped")
        ndrops += len(jd)
        if jd != ld:
            drops_bad.append(f"{image}: json {jd} lttng {ld}")
        index = {}
        for e in mine:
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
                    if e["cat"] != ev["cat"] or not same_args(got_args, a) or \
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
    check(f"counter names and values as trace.json's, process by process ({ncounters})",
          not counters_bad, counters_bad)
    check("thread and track names as trace.json's, process by process", not names_bad, names_bad)
    check(f"drop events (cause, count, total) as trace.json's, process by process ({ndrops})",
          not drops_bad, drops_bad)
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
