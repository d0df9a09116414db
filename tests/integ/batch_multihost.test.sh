#!/bin/sh
# tests/integ/batch_multihost.test.sh: shoald and two node agents on three
# "hosts" (network namespaces), with faults. Plain TAP.
#
# Topology, all made here and removed on exit (trap):
#
#   netns S: bridge br0 10.77.0.1/24  shoald --host 10.77.0.1
#            ports va0, vb0
#   netns A: va1 10.77.0.2/24         shoal-node --join (root A)
#   netns B: vb1 10.77.0.3/24         shoal-node --join (root B)
#
# The agents join a jointoken pool (2 slots each) over their veth links. A
# job of 50 tasks runs (each appends its id to one file; 40 wait for a gate
# file), and mid-job agent A is SIGKILLed (nobody restarts it), then started
# again on the same root; then B's link is cut (ip link set down) until its
# node is unusable, and restored. The job must complete with every task
# completed exactly once (event log), each task having run, at most once per
# attempt, and some requeueCount > 0. lib/multihost.mjs drives the REST API
# and prints the TAP lines.
#
# Needs root (ip netns). When it cannot make namespaces it says why in a
# "not ok" line: never a silent skip.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
: "${SHOAL_BIN:=$ROOT/bin}"
NS_S="shoalmh$$s"
NS_A="shoalmh$$a"
NS_B="shoalmh$$b"
mkdir -p tests/tmp
T=$(mktemp -d "$ROOT/tests/tmp/multihost-XXXXXX")
chmod 755 "$T"
PIDS="$T/pids"
: >"$PIDS"

fail_early() {
    echo "1..1"
    echo "not ok 1 - multihost: $1"
    exit 1
}

cleanup() {
    # Our processes, by pid (shoald last, so it sees its nodes go).
    if [ -s "$PIDS" ]; then
        while read -r p; do
            kill -9 "$p" 2>/dev/null
        done <"$PIDS"
    fi
    if [ -n "${SHOALD:-}" ]; then
        kill -TERM "$SHOALD" 2>/dev/null
        i=0
        while kill -0 "$SHOALD" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$SHOALD" 2>/dev/null
    fi
    # Task processes left by the killed agent live in our tree: they exit
    # when the gate file appears; make sure it exists.
    : >"$T/gate" 2>/dev/null
    for ns in "$NS_A" "$NS_B" "$NS_S"; do
        ip netns del "$ns" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 0 ]; then
        rm -rf "$T"
    else
        echo "# outputs kept in $T"
    fi
}

[ "$(id -u)" = 0 ] || fail_early "needs root to make network namespaces (ip netns)"
command -v ip >/dev/null 2>&1 || fail_early "ip (iproute2) is missing: run scripts/deps"
command -v node >/dev/null 2>&1 || fail_early "node is missing: run scripts/deps"
if ! ip netns add "$NS_S" 2>"$T/err"; then
    reason=$(cat "$T/err")
    rm -rf "$T"
    fail_early "ip netns add is not permitted here: $reason"
fi
trap cleanup EXIT
trap 'exit 1' INT TERM

setup() {
    ip netns add "$NS_A" &&
        ip netns add "$NS_B" &&
        ip -n "$NS_S" link set lo up &&
        ip -n "$NS_A" link set lo up &&
        ip -n "$NS_B" link set lo up &&
        ip -n "$NS_S" link add br0 type bridge &&
        ip -n "$NS_S" addr add 10.77.0.1/24 dev br0 &&
        ip -n "$NS_S" link set br0 up &&
        ip link add va0 netns "$NS_S" type veth peer name va1 netns "$NS_A" &&
        ip link add vb0 netns "$NS_S" type veth peer name vb1 netns "$NS_B" &&
        ip -n "$NS_S" link set va0 master br0 &&
        ip -n "$NS_S" link set vb0 master br0 &&
        ip -n "$NS_S" link set va0 up &&
        ip -n "$NS_S" link set vb0 up &&
        ip -n "$NS_A" addr add 10.77.0.2/24 dev va1 &&
        ip -n "$NS_A" link set va1 up &&
        ip -n "$NS_B" addr add 10.77.0.3/24 dev vb1 &&
        ip -n "$NS_B" link set vb1 up
}
if ! setup 2>"$T/err"; then
    fail_early "cannot build the namespaces and links: $(cat "$T/err")"
fi

# shoald in S, bound to its bridge address; short heartbeats.
ip netns exec "$NS_S" "$SHOAL_BIN/shoald" --data "$T/data" --dev \
    --host 10.77.0.1 --blob-port 0 --queue-port 0 --batch-port 0 \
    --set sched.poll_ms=300 --set sched.heartbeat_timeout_ms=1500 \
    --set http.shutdown_ms=1000 >"$T/shoald.log" 2>&1 &
SHOALD=$!
i=0
while [ ! -s "$T/data/ports" ] && [ $i -lt 300 ]; do
    kill -0 "$SHOALD" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
[ -s "$T/data/ports" ] || fail_early "shoald did not start: $(tail -n 5 "$T/shoald.log")"
PORT=$(sed -n 's/^batch=//p' "$T/data/ports")
URL="http://10.77.0.1:$PORT"

export MH_URL="$URL" MH_MARKS="$T/marks" MH_GATE="$T/gate" MH_NS_A="$NS_A" \
    MH_ROOT_A="$T/rootA" MH_LINK_B=vb0 MH_NODE_BIN="$SHOAL_BIN/shoal-node" \
    MH_PIDS="$PIDS"
: >"$T/marks"
chmod 666 "$T/marks"
TOKEN=$(ip netns exec "$NS_S" node tests/integ/lib/multihost.mjs token 2>"$T/token.err") ||
    fail_early "cannot make the pool and its join token: $(cat "$T/token.err")"

ip netns exec "$NS_A" "$SHOAL_BIN/shoal-node" --join "$URL" --token "$TOKEN" \
    --root "$T/rootA" >"$T/rootA.log" 2>&1 &
MH_PID_A=$!
echo "$MH_PID_A" >>"$PIDS"
ip netns exec "$NS_B" "$SHOAL_BIN/shoal-node" --join "$URL" --token "$TOKEN" \
    --root "$T/rootB" >"$T/rootB.log" 2>&1 &
echo "$!" >>"$PIDS"
export MH_PID_A

{
    ip netns exec "$NS_S" node tests/integ/lib/multihost.mjs run
    echo $? >"$T/driver.rc"
} | tee "$T/tap"
rc=0
grep -q '^not ok' "$T/tap" && rc=1
n=$(grep -cE '^(ok|not ok) ' "$T/tap")
if [ "$(cat "$T/driver.rc")" != 0 ] && [ $rc = 0 ]; then
    n=$((n + 1))
    echo "not ok $n - the driver exited $(cat "$T/driver.rc")"
    rc=1
fi

# shoald stops cleanly (and, in a SAN=1 build, no sanitizer said a word).
kill -TERM "$SHOALD"
i=0
while kill -0 "$SHOALD" 2>/dev/null && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
wait "$SHOALD"
st=$?
SHOALD=""
n=$((n + 1))
if [ "$st" = 0 ] && ! grep -qE 'Sanitizer|runtime error' "$T/shoald.log" \
    "$T/rootA.log" "$T/rootB.log"; then
    echo "ok $n - shoald stopped cleanly; no sanitizer report"
else
    echo "not ok $n - shoald exit $st, or a sanitizer report"
    rc=1
fi
echo "1..$n"
if [ $rc != 0 ]; then
    KEEP=1
    echo "# shoald log:"
    tail -n 40 "$T/shoald.log" | sed 's/^/#   /'
fi
exit $rc
