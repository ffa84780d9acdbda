#!/usr/bin/env bash
# LTTng export streamed to a relay (issue 18): a real lttng-relayd on loopback (ports
# chosen free), a session created with --set-url=net://127.0.0.1:CTRL:DATA, and the
# sample's events (tests/lttng/sample.c: POSIX, stdio, markers, a fork) arrive in the
# relay's output directory, where babeltrace2 reads them: the same counts by type and the
# same fields as the json traces of the run (tests/lttng/compare.py). The daemons are the
# test's own (tests/lttng/lib.sh), stopped by their pids.
source "$(dirname "$0")/lib/common.sh"
command -v lttng-relayd >/dev/null ||
    skip "lttng-relayd is not installed ('make deps' installs lttng-tools)"
source "$ROOT/tests/lttng/lib.sh"

# three free TCP ports on loopback (control, data, live)
read -r CTRL DATA LIVE < <($PY - <<'PY'
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
)
lt_dir "$TMP/relay"
"${LT_AS[@]}" lttng-relayd -o "$TMP/relay" -C "tcp://127.0.0.1:$CTRL" -D "tcp://127.0.0.1:$DATA" \
    -L "tcp://127.0.0.1:$LIVE" >"$TMP/relayd.out" 2>&1 &
RELAYD_PID=$! # setpriv and env exec: this is lttng-relayd's pid
LT_PIDS="$LT_PIDS $RELAYD_PID"
up=0
for _ in $(seq 100); do
    kill -0 $RELAYD_PID 2>/dev/null || break
    if $PY -c "import socket,sys; socket.create_connection(('127.0.0.1', $CTRL), 1)" 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
check "lttng-relayd listens on 127.0.0.1:$CTRL ($(head -2 "$TMP/relayd.out"))" test $up = 1
[ $up = 1 ] || finish
lt_sessiond

lt create t61 --set-url="net://127.0.0.1:$CTRL:$DATA" >"$TMP/lttng.out" 2>&1 &&
    lt enable-event --userspace 'traceagent:*' -s t61 >>"$TMP/lttng.out" 2>&1 &&
    lt start t61 >>"$TMP/lttng.out" 2>&1
check "a session streams to the relay ($(tail -2 "$TMP/lttng.out" | tr '\n' ' '))" test $? = 0
lt_run rec json,lttng
check "the sample exits 0 under the agent (json,lttng)" test "$(cat "$TMP/rec/rc")" = 0
check "no warning ($(head -c 300 "$TMP/rec/err"))" test ! -s "$TMP/rec/err"
lt stop t61 >/dev/null 2>&1
lt destroy t61 >/dev/null 2>&1

# the relay writes HOST/SESSION-DATE/ust/...: the trace is somewhere below its directory
meta=$(find "$TMP/relay" -name metadata | head -1)
check "the relay's output directory has a trace (${meta#"$TMP/relay/"})" test -n "$meta"
babeltrace2 "$TMP/relay" >"$TMP/bt.txt" 2>"$TMP/bt.err"
check "babeltrace2 reads the relay's output ($(head -2 "$TMP/bt.err"))" test $? = 0 -a -s "$TMP/bt.txt"
$PY "$ROOT/tests/lttng/compare.py" "$TMP/rec/out" "$TMP/bt.txt" 2 || T_FAILS=$((T_FAILS + 1))
finish
