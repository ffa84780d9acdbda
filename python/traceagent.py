"""traceagent markers for Python: name the phases of a program in its trace.

    import traceagent

    with traceagent.range("load"):          # a span named "load" (cat "marker")
        data = load()

    @traceagent.traced                       # a span per call, named after the function
    def step(i): ...

    @traceagent.traced("solve")              # ... or with a name of your choice
    def solve(): ...

    traceagent.mark("checkpoint written")    # an instant event
    traceagent.counter("queue depth", 17)    # a counter track
    traceagent.enabled()                     # True when the agent is loaded

Run the program under the agent (`traceagent run -- python3 prog.py`, or
LD_PRELOAD=libtraceagent.so python3 prog.py). Without the agent, every call here does
nothing and costs next to nothing: the same program runs unchanged.

The agent keeps one range stack per thread, so ranges nest per thread and a range must be
closed on the thread that opened it (a `with` block or a decorated call always is). Ranges
are popped when an exception passes through. In asyncio code a range held across an
`await` interleaves with other tasks on the same thread; keep such ranges short or open
them around synchronous sections only.

Only the standard library is used (ctypes); the agent is found at run time among the
symbols already loaded in the process: nothing is built and no library is loaded.
"""

import ctypes as _ctypes
import functools as _functools
import inspect as _inspect

__all__ = ["range", "traced", "mark", "counter", "enabled", "push", "pop"]

_push = _pop = _mark = _counter = None


def _find_agent():
    global _push, _pop, _mark, _counter
    try:
        lib = _ctypes.CDLL(None)  # the process's global scope: the preloaded agent is there
        push = lib.traceagent_range_push
        pop = lib.traceagent_range_pop
        mark = lib.traceagent_mark
        counter = lib.traceagent_counter
    except (OSError, AttributeError):
        return False
    push.argtypes = [_ctypes.c_char_p]
    push.restype = None
    pop.argtypes = []
    pop.restype = None
    mark.argtypes = [_ctypes.c_char_p]
    mark.restype = None
    counter.argtypes = [_ctypes.c_char_p, _ctypes.c_double]
    counter.restype = None
    _push, _pop, _mark, _counter = push, pop, mark, counter
    return True


_ENABLED = _find_agent()


def _encode(name):
    if isinstance(name, bytes):
        return name
    if not isinstance(name, str):
        name = str(name)
    return name.encode("utf-8", "replace")


def enabled():
    """True when the traceagent library is loaded in this process."""
    return _ENABLED


def push(name):
    """Open a range on this thread; close it with pop() on the same thread."""
    if _ENABLED:
        _push(_encode(name))


def pop():
    """Close this thread's innermost range opened with push()."""
    if _ENABLED:
        _pop()


def mark(text):
    """An instant event."""
    if _ENABLED:
        _mark(_encode(text))


def counter(name, value):
    """A sample of the counter `name` (a number)."""
    if _ENABLED:
        _counter(_encode(name), float(value))


class _Range(object):
    """Context manager for a range; reusable, also usable as a decorator."""

    __slots__ = ("_name",)

    def __init__(self, name):
        self._name = _encode(name)

    def __enter__(self):
        _push(self._name)
        return self

    def __exit__(self, exc_type, exc, tb):
        _pop()
        return False  # exceptions go on

    def __call__(self, fn):
        return traced(self._name.decode("utf-8", "replace"))(fn)


class _NoRange(object):
    """What range() gives without the agent: does nothing."""

    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False

    def __call__(self, fn):
        return fn


_NO_RANGE = _NoRange()


def range(name):  # noqa: A001 (shadows the builtin inside this module only)
    """`with traceagent.range("name"):` marks the block as a span named `name`."""
    if _ENABLED:
        return _Range(name)
    return _NO_RANGE


def traced(arg=None, name=None):
    """Decorator: each call of the function is a span.

    @traced names the span after the function (its qualified name); @traced("name") or
    @traced(name="name") chooses the name.
    """
    if callable(arg) and not isinstance(arg, (str, bytes)):
        return _wrap(arg, name)
    if name is None:
        name = arg

    def deco(fn):
        return _wrap(fn, name)

    return deco


def _wrap(fn, name):
    if not _ENABLED:
        return fn
    if name is None:
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    bname = _encode(name)
    push_, pop_ = _push, _pop

    if _inspect.iscoroutinefunction(fn):
        @_functools.wraps(fn)
        async def awrapper(*args, **kwargs):
            push_(bname)
            try:
                return await fn(*args, **kwargs)
            finally:
                pop_()

        return awrapper

    @_functools.wraps(fn)
    def wrapper(*args, **kwargs):
        push_(bname)
        try:
            return fn(*args, **kwargs)
        finally:
            pop_()

    return wrapper
