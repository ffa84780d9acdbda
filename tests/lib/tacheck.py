"""Reading traceagent output in tests, the way a user's tools would.

import sys; sys.path.insert(0, "<root>/tests/lib"); import tacheck

load_trace(path) checks the CONTRACT's line format (line 1 is "[", one event per line, each
line parses alone once its trailing comma is dropped, "]" only as the last line, a closed file
strict JSON) and returns the events. files(dir) finds each process's trace/stats pair.
"""
import glob
import json
import os
import re
import sys


class FormatError(Exception):
    pass


def load_trace(path, require_closed=False):
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")  # must be valid UTF-8
    text = stacks_array_form(path, text)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "[":
        raise FormatError(f"{path}: line 1 is not '['")
    events = []
    closed = False
    for i, line in enumerate(lines[1:], start=2):
        if line == "]":
            if i != len(lines):
                raise FormatError(f"{path}: ']' before the end (line {i})")
            closed = True
            break
        # every event line ends with ',' but the last one (the line before "]" has none)
        last = i == len(lines) or (i == len(lines) - 1 and lines[-1] == "]")
        if not line.endswith(",") and not last:
            raise FormatError(f"{path}:{i}: event line does not end with ','")
        try:
            ev = json.loads(line[:-1] if line.endswith(",") else line)
        except json.JSONDecodeError as e:
            raise FormatError(f"{path}:{i}: {e}: {line[:200]}")
        events.append(ev)
    # what the viewers need (FIELD_NOTES): integer pid/tid on every event (speedscope),
    # pid, tid, ph and cat on the FIRST event (speedscope's format detection), numeric ts,
    # non-negative dur on complete events
    for i, ev in enumerate(events):
        if not isinstance(ev.get("pid"), int) or not isinstance(ev.get("tid"), int):
            raise FormatError(f"{path}: event {i} has no integer pid/tid: {ev}")
        if "ph" not in ev or not isinstance(ev.get("ts"), (int, float)):
            raise FormatError(f"{path}: event {i} has no ph or numeric ts: {ev}")
        if ev["ph"] == "X" and not (isinstance(ev.get("dur"), (int, float)) and ev["dur"] >= 0):
            raise FormatError(f"{path}: complete event {i} without a valid dur: {ev}")
    if events and "cat" not in events[0]:
        raise FormatError(f"{path}: the first event has no cat (speedscope needs it)")
    cats = {"posix", "stdio", "hdf5", "cuda", "gpu", "marker", "agent"}
    for i, ev in enumerate(events):
        if ev.get("cat") not in cats:
            raise FormatError(f"{path}: event {i} has cat {ev.get('cat')!r}, not one of CONTRACT's")
    if require_closed and not closed:
        raise FormatError(f"{path}: no closing ']'")
    # a closed file is strict JSON (json.load, jq, speedscope)
    if closed:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(f"{path}: closed, but not strict JSON: {e}")
    # the whole file parses as a JSON array once the last event's trailing comma is
    # dropped, which is what chrome://tracing and Perfetto tolerate
    body = text.rstrip()
    if closed:
        body = body[:-1].rstrip()
    body = body.rstrip(",") + "]"
    json.loads(body)
    return events


def is_closed(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(OBJECT_HEAD.encode()):
        return True  # the object form is written only at a clean end, whole
    return data.rstrip(b"\n").endswith(b"\n]")


# With TRACEAGENT_STACKS (issue #19) line 1 is "[" and 16 spaces, room for the object form's
# head that a clean end writes over it, after appending the frames: `{"traceEvents":[ `,
# the same lines, "]", then `,"stackFrames":{...}}`.
OBJECT_HEAD = '{"traceEvents":[ \n'
STACKS_HEAD = "[" + " " * 16 + "\n"


def stacks_array_form(path, text):
    """The text of a trace with stacks as the array form load_trace checks: the object form
    (strict JSON, with traceEvents and stackFrames) cut at its array's end; the padded line
    1 as "[". A trace without stacks is returned as it is."""
    if text.startswith(STACKS_HEAD):
        return "[\n" + text[len(STACKS_HEAD):]
    if not text.startswith(OBJECT_HEAD):
        return text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: object form, but not strict JSON: {e}")
    if not isinstance(obj.get("traceEvents"), list) or not isinstance(obj.get("stackFrames"), dict):
        raise FormatError(f"{path}: object form without traceEvents and stackFrames")
    lines = text.split("\n")
    if "]" not in lines:
        raise FormatError(f"{path}: object form without a line ']'")
    return "\n".join(["["] + lines[1:lines.index("]") + 1]) + "\n"


def load_stats(path):
    with open(path) as f:
        s = json.load(f)
    if s.get("schema") != "traceagent-stats/1":
        raise FormatError(f"{path}: schema is {s.get('schema')!r}")
    return s


def files(outdir):
    """{pid: {"exe":..., "trace": path, "stats": path or None}} for every process."""
    procs = {}
    for p in glob.glob(os.path.join(outdir, "*.trace.json")):
        m = re.match(r"(.+)-(\d+)(?:\.(\d+))?\.trace\.json$", os.path.basename(p))
        if not m:
            continue
        pid = int(m.group(2))
        stats = p[: -len(".trace.json")] + ".stats.json"
        procs.setdefault(pid, []).append(
            {"exe": m.group(1), "trace": p, "stats": stats if os.path.exists(stats) else None}
        )
    return procs


def spans(events, cat=None, name=None):
    return [
        e for e in events
        if e.get("ph") == "X" and (cat is None or e.get("cat") == cat)
        and (name is None or e.get("name") == name)
    ]


def check_nesting(events):
    """X events on each tid must nest strictly. Returns a list of problems."""
    bad = []
    by_tid = {}
    for e in events:
        if e.get("ph") == "X":
            by_tid.setdefault((e["pid"], e["tid"]), []).append(e)
    for key, evs in by_tid.items():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in evs:
            # in integer ns: ts + dur in float us is off by ~1e-6 at these magnitudes, and a
            # span that starts the very ns the one before it ended must not look overlapping
            start = round(e["ts"] * 1000)
            end = start + round(e["dur"] * 1000)
            while stack and stack[-1] <= start:
                stack.pop()
            if stack and end > stack[-1]:
                bad.append((key, e["name"], start, end, stack[-1]))
            stack.append(end)
    return bad


failures = 0


def check(desc, cond, detail=None):
    """One "ok - DESC" or "not ok - DESC" line, as tests/run.sh counts them; on failure, up to
    8 lines of detail after it. Returns cond."""
    global failures
    print(("ok - " if cond else "not ok - ") + desc)
    if not cond:
        failures += 1
        for line in list(detail or [])[:8]:
            print("#   " + str(line))
    return cond


def finish():
    """Exit 1 if any check failed, else 0."""
    sys.exit(1 if failures else 0)


def whole_traces(pattern, what):
    """[(path, events)] for the trace files matching pattern, each whole and closed; a check
    fails (named `what`) for each that is not."""
    out = []
    for f in sorted(glob.glob(pattern)):
        try:
            out.append((f, load_trace(f, require_closed=True)))
        except Exception as e:
            check(f"{what}: {f} whole and closed", False, [e])
    return out


def op(stats, cat, name):
    for row in stats["ops"]:
        if row["cat"] == cat and row["name"] == name:
            return row
    return None



def load_trace_cats(path, extra_cats=(), require_closed=False):
    """load_trace for a trace that also holds the categories plug-ins added (extra_cats,
    e.g. {"tpapi"}): every check of load_trace, with those categories allowed besides the
    CONTRACT's. The events are returned as load_trace returns them."""
    extra = set(extra_cats)
    with open(path, "rb") as f:
        text = stacks_array_form(path, f.read().decode("utf-8"))
    # load_trace on a copy whose added categories read as a built-in one: the line format,
    # the closing and the per-event checks stay load_trace's own
    import tempfile
    fd, tmp = tempfile.mkstemp(suffix=".trace.json")
    try:
        lines = text.split("\n")
        out = []
        for line in lines:
            for c in extra:
                line = line.replace('"cat":' + json.dumps(c), '"cat":"agent"', 1)
            out.append(line)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(out))
        load_trace(tmp, require_closed=require_closed)
    finally:
        os.unlink(tmp)
    events = []
    for line in lines[1:]:
        if line in ("", "]"):
            continue
        events.append(json.loads(line[:-1] if line.endswith(",") else line))
    return events

if __name__ == "__main__":
    # tacheck.py validate FILE...: exit 1 on the first format error
    if len(sys.argv) > 2 and sys.argv[1] == "validate":
        for p in sys.argv[2:]:
            try:
                evs = load_trace(p)
                print(f"{p}: {len(evs)} events")
            except Exception as e:  # noqa
                print(f"{p}: {e}")
                sys.exit(1)


def datasets(stats):
    """stats.json's `datasets` rows as {(file, dataset): row} (file None where the events
    named no file); {} when the section is absent (a run without dataset events)."""
    rows = stats.get("datasets", [])
    out = {}
    for r in rows:
        key = (r["file"], r["dataset"])
        assert key not in out, f"datasets: two rows for {key}"
        out[key] = r
    return out
