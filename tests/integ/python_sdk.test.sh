#!/bin/sh
# tests/integ/python_sdk.test.sh: the official Python Azure SDKs against the
# real shoald (Debian python3-azure: azure-batch 13.0.1, and
# python3-azure-storage: azure-storage-blob 12.15, azure-storage-queue 12.6).
#
# A thin wrapper: it checks that /usr/bin/python3 (not the python3 on PATH,
# which may lack the Debian packages) imports azure.storage.blob,
# azure.storage.queue and azure.batch, then runs tests/integ/python/test_*.py.
# Each program starts its own shoald (fresh data dir under tests/tmp, ports
# 0, DATA/ports polled with a deadline), prints TAP and stops shoald by PID.
# This wrapper renumbers their "ok"/"not ok" lines into one stream, turns any
# other output into comments, and prints the plan at the end. A missing SDK
# or a program that dies without a failing line is a "not ok", never a skip.
# Each program gets 170 s (tests/run allows 600 s for the whole file).
set -u
cd "$(dirname "$0")/../.." || exit 1
PY=/usr/bin/python3
n=0
failed=0
mkdir -p tests/tmp
T=$(mktemp -d "$(pwd)/tests/tmp/python-sdk-XXXXXX")
trap 'rm -rf "$T"' EXIT

ok() {
    n=$((n + 1))
    echo "ok $n - $*"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $*"
}

missing=0
for mod in azure.storage.blob azure.storage.queue azure.batch; do
    if [ -x "$PY" ] && "$PY" -c "import $mod" >"$T/imp" 2>&1; then
        ok "$PY imports $mod"
    else
        not_ok "$PY imports $mod (scripts/deps installs python3-azure" \
            "and python3-azure-storage)"
        sed 's/^/#   /' "$T/imp" 2>/dev/null | tail -n 5
        missing=1
    fi
done

if [ "$missing" = 0 ]; then
    for prog in tests/integ/python/test_*.py; do
        name=$(basename "$prog" .py)
        echo "# $name"
        timeout 170 "$PY" -u "$prog" >"$T/out" 2>&1
        rc=$?
        # Renumber the program's TAP lines; drop its plan; the rest becomes
        # comments. awk leaves the new count and the failures in $T/count.
        awk -v n="$n" -v f=0 -v name="$name" '
            /^ok [0-9]+/ {
                n++; sub(/^ok [0-9]+( - )?/, "ok " n " - " name ": ")
                print; next
            }
            /^not ok [0-9]+/ {
                n++; f++
                sub(/^not ok [0-9]+( - )?/, "not ok " n " - " name ": ")
                print; next
            }
            /^1\.\.[0-9]+$/ { next }
            /^#/ { print; next }
            { print "# " $0 }
            END { print n " " f >"/dev/stderr" }
        ' "$T/out" 2>"$T/count"
        read -r n f <"$T/count"
        failed=$((failed + f))
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
            not_ok "$name exited $rc without a failing case" \
                "(crashed or timed out)"
        elif [ "$rc" = 0 ] && [ "$f" != 0 ]; then
            not_ok "$name exited 0 despite failing cases"
        fi
        if ! grep -qE '^1\.\.[0-9]+$' "$T/out"; then
            not_ok "$name printed no plan (it did not finish)"
        fi
    done
fi

echo "1..$n"
[ "$failed" = 0 ]
