# tests/integ/lib/cli_harness.sh: the TAP harness of the CLI test scripts.
#
# Sourced (from the repository root) by tests/integ/cli*.test.sh after
# they set HARNESS_NAME (the temp dir prefix under tests/tmp) and
# HARNESS_LINES (how many lines of a failing run's stdout/stderr to show).
# It defines ok/not_ok/run/expect/json/check, starts bin/shoald --dev on
# free ports in a temp dir (waiting for DATA/ports with a deadline),
# exports SHOAL_CONNECTION_STRING for it, and on exit prints the plan and
# stops shoald by its PID, keeping the data dir and log when a test failed.
: "${SHOAL_BIN:=$(pwd)/bin}"
SHOAL="$SHOAL_BIN/shoal"
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
mkdir -p tests/tmp
T=$(mktemp -d "$(pwd)/tests/tmp/$HARNESS_NAME-XXXXXX")
n=0
failed=0
pid=""
rc=0

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    echo "#   exit $rc; stdout:"
    sed 's/^/#     /' "$T/out" | head -n "$HARNESS_LINES"
    echo "#   stderr:"
    sed 's/^/#     /' "$T/err" | head -n "$HARNESS_LINES"
}

# run ARGS...: run shoal, keep stdout/stderr/exit code.
run() {
    "$SHOAL" "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
}

# expect DESC RC [STDERR-PATTERN]: check the last run.
expect() {
    if [ "$rc" = "$2" ] && { [ $# -lt 3 ] || grep -qE -- "$3" "$T/err"; }; then
        ok "$1"
    else
        not_ok "$1 (wanted exit $2${3:+ and stderr /$3/})"
    fi
}

# json DESC JS: the last run exited 0 and JS (given j, the parsed stdout)
# is true.
json() {
    js="const j = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
        if (!($2)) process.exit(1);"
    if [ "$rc" = 0 ] && node -e "$js" "$T/out" 2>>"$T/err"; then
        ok "$1"
    else
        not_ok "$1 (json: $2)"
    fi
}

# check DESC COMMAND...: a plain shell condition.
check() {
    d=$1
    shift
    if "$@"; then
        ok "$d"
    else
        rc=x
        not_ok "$d"
    fi
}

stop_server() {
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
}

finish() {
    trap '' PIPE
    stop_server
    echo "1..$n"
    if [ "$failed" = 0 ]; then
        rm -rf "$T"
    else
        echo "# data dir and shoald log kept in $T"
        tail -n 40 "$T/data/shoald.log" 2>/dev/null | sed 's/^/# log: /'
    fi
}
trap finish EXIT
# A signal (or a closed stdout) must still stop shoald: exit runs finish.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

mkdir -p "$T/data"
"$SHOAL_BIN/shoald" --dev --data "$T/data" --blob-port 0 --queue-port 0 \
    --batch-port 0 >"$T/data/shoald.log" 2>&1 &
pid=$!
i=0
while ! grep -q '^batch=' "$T/data/ports" 2>/dev/null && [ $i -lt 300 ]; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if ! grep -q '^batch=' "$T/data/ports" 2>/dev/null; then
    rc=x
    : >"$T/out"
    cp "$T/data/shoald.log" "$T/err" 2>/dev/null || : >"$T/err"
    not_ok "shoald starts and writes DATA/ports"
    exit 1
fi
BLOB=$(sed -n 's/^blob=//p' "$T/data/ports")
QUEUE=$(sed -n 's/^queue=//p' "$T/data/ports")
BATCH=$(sed -n 's/^batch=//p' "$T/data/ports")
CS="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY"
CS="$CS;BlobEndpoint=http://127.0.0.1:$BLOB/devstoreaccount1"
CS="$CS;QueueEndpoint=http://127.0.0.1:$QUEUE/devstoreaccount1"
CS="$CS;BatchEndpoint=http://127.0.0.1:$BATCH"
SHOAL_CONNECTION_STRING=$CS
export SHOAL_CONNECTION_STRING
