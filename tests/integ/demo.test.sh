#!/bin/sh
# tests/integ/demo.test.sh: `make demo` (scripts/demo) end to end, twice.
#
# Runs scripts/demo non-interactively (stdin is /dev/null) and checks its
# output: the top 10 words of every bundled text, computed here
# independently with tr/sort/uniq (a word is a run of ASCII letters, digits
# and apostrophes, lower-cased; ties in byte order), appear under the
# text's heading in the same order; the timings line is there; the temp
# data dir is gone and its shoald stopped. Then runs it a second time: it
# must pass again. Plain TAP, plan at the end.
set -u
cd "$(dirname "$0")/../.."
: "${SHOAL_BIN:=$(pwd)/bin}"
export SHOAL_BIN
mkdir -p tests/tmp
T=$(mktemp -d "$(pwd)/tests/tmp/demo-XXXXXX")
n=0
failed=0

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    for f in "$@"; do
        sed 's/^/#   /' "$f" | tail -n 60
    done
}

finish() {
    echo "1..$n"
    if [ "$failed" = 0 ]; then
        rm -rf "$T"
    else
        echo "# outputs kept in $T"
    fi
}
trap finish EXIT

expected_top() { # FILE -> "word count" lines
    LC_ALL=C tr -cs "A-Za-z0-9'" '\n' <"$1" | LC_ALL=C tr 'A-Z' 'a-z' |
        grep -v '^$' | LC_ALL=C sort | uniq -c |
        LC_ALL=C sort -k1,1nr -k2,2 | head -n 10 | awk '{print $2, $1}'
}

shown_top() { # OUTPUT NAME -> the lines under "  NAME: top 10 words"
    awk -v name="$2" '
        index($0, "  " name ": top ") == 1 { on = 1; next }
        on && /^      / { sub(/^      /, ""); print; next }
        on { exit }' "$1"
}

for run in 1 2; do
    out="$T/run$run.out"
    timeout 500 scripts/demo >"$out" 2>&1 </dev/null
    rc=$?
    if [ "$rc" = 0 ]; then
        ok "run $run: scripts/demo exits 0"
    else
        echo "exit $rc" >"$T/rc"
        not_ok "run $run: scripts/demo exits 0" "$T/rc" "$out"
    fi
    for f in examples/data/*.txt; do
        name=$(basename "$f")
        expected_top "$f" >"$T/want"
        shown_top "$out" "$name" >"$T/got"
        if [ -s "$T/want" ] && cmp -s "$T/want" "$T/got"; then
            ok "run $run: top words of $name match an independent count"
        else
            not_ok "run $run: top words of $name match an independent count" \
                "$T/want" "$T/got"
        fi
    done
    if grep -q '^Elapsed time: [0-9]*:[0-9][0-9]:[0-9][0-9]$' "$out"; then
        ok "run $run: prints the elapsed time"
    else
        not_ok "run $run: prints the elapsed time" "$out"
    fi
    data=$(sed -n 's/^demo: starting shoald --dev (data \(.*\))$/\1/p' "$out")
    if [ -n "$data" ] && [ ! -e "$data" ]; then
        ok "run $run: the temporary data dir is removed"
    else
        not_ok "run $run: the temporary data dir is removed ($data)" "$out"
    fi
    spid=$(sed -n 's/^demo: shoald (pid \([0-9]*\)) listening.*/\1/p' "$out")
    if [ -n "$spid" ] && ! kill -0 "$spid" 2>/dev/null; then
        ok "run $run: shoald (pid $spid) is stopped"
    else
        not_ok "run $run: shoald (pid ${spid:-?}) is stopped" "$out"
    fi
done
