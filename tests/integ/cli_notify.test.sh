#!/bin/sh
# tests/integ/cli_notify.test.sh: events and notifications from the shoal
# command, and the notify example, against the real shoald.
#
# Starts $SHOAL_BIN/shoald --dev on a temp data dir under tests/tmp with
# every port 0, waits for DATA/ports (with a deadline), then runs: --help
# and usage errors of the new commands; endpoint create/list/show/delete
# (queue, base64 queue, webhook; bad names and URLs; --json parsed with
# node); the registration message on the endpoint's queue; event watch
# (--since, --count, --types, --json); job subscribe/unsubscribe/
# subscriptions (happy and error paths) and the message a subscription
# delivers; job watch of a job that finishes (exit 0), errors (1) and is
# terminated (1), live and replayed, --json and on a terminal (script(1));
# and bin/notify-example end to end, FinalStatesOnly and --all. Plain TAP;
# the plan is printed at the end. shoald is stopped by its PID; its data
# dir (and log) is kept when a test failed.
set -u
cd "$(dirname "$0")/../.."
HARNESS_NAME=cli-notify
HARNESS_LINES=30
. tests/integ/lib/cli_harness.sh

# jsonl DESC RC JS: the last run exited RC and JS holds for v, the array of
# its stdout's JSON lines.
jsonl() {
    js="const v = require('fs').readFileSync(process.argv[1], 'utf8')
          .split('\n').filter((l) => l).map((l) => JSON.parse(l));
        if (!($3)) process.exit(1);"
    if [ "$rc" = "$2" ] && node -e "$js" "$T/out" 2>>"$T/err"; then
        ok "$1"
    else
        not_ok "$1 (exit $2, jsonl: $3)"
    fi
}

# field FILE JS: print a value computed from the JSON in FILE (j).
field() {
    node -e "const j = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
             console.log($2)" "$1" 2>/dev/null
}

# wait_job_done JOB: poll until the job is completed (deadline 60 s).
wait_job_done() {
    i=0
    while [ $i -lt 600 ]; do
        "$SHOAL" job show "$1" --json >"$T/js" 2>/dev/null &&
            [ "$(field "$T/js" 'j.state')" = completed ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# ---- help and usage ----

all_help=0
for cmd in "job watch" "job subscribe" "job unsubscribe" "job subscriptions" \
    "event watch" "endpoint create" "endpoint list" "endpoint show" \
    "endpoint delete"; do
    # shellcheck disable=SC2086
    if ! "$SHOAL" $cmd --help >"$T/out" 2>"$T/err" ||
        ! grep -q "^usage: shoal $cmd" "$T/out" ||
        ! grep -q "Exit status" "$T/out"; then
        echo "# --help failed for: $cmd"
        all_help=1
    fi
done
rc=$all_help
expect "every new command has --help (exit 0, usage line, exit codes)" 0
run endpoint --help
expect "endpoint --help lists its verbs" 0
check "endpoint help names create" grep -q "create NAME" "$T/out"
run --help
check "global help lists the event and endpoint groups" \
    grep -qE "^  endpoint +notification endpoints" "$T/out"
run endpoint create e
expect "endpoint create without --queue or --webhook is a usage error" 2 \
    "one of --queue QUEUE and --webhook URL"
run endpoint create e --queue q1 --webhook http://x/
expect "endpoint create with both is a usage error" 2 "one of --queue"
run endpoint create e --webhook http://x/ --base64
expect "--base64 with a webhook is a usage error" 2 "for queue endpoints"
run job subscribe j e
expect "job subscribe without --all or --final is a usage error" 2 \
    "one of --all and --final"
run job subscribe j e --all --final
expect "job subscribe with both is a usage error" 2 "one of --all and --final"
run job watch j --since abc
expect "job watch --since abc is a usage error" 2 "--since takes"
run job watch j --timeout soon
expect "job watch --timeout soon is a usage error" 2 "--timeout takes"
run event watch --count x
expect "event watch --count x is a usage error" 2 "--count takes"
run event watch extra
expect "event watch takes no argument" 2 "usage: shoal event watch"

# ---- endpoints ----

run endpoint create ep1 --queue notes
expect "endpoint create --queue" 0
check "endpoint create prints the id" grep -qE "^created endpoint nb:nepid:UUID:" "$T/out"
EP1=$(sed -n 's/^created endpoint //p' "$T/out")
run endpoint create ep2 --queue notes-b64 --base64 --json
json "endpoint create --base64 --json" \
    'j.id.startsWith("nb:nepid:UUID:") && j.endpointType === "queue" && j.base64 === true && j.endpointAddress === "notes-b64"'
EP2=$(field "$T/out" 'j.id')
run endpoint create hook --webhook http://127.0.0.1:9/hook --json
json "endpoint create --webhook --json returns the signing key once" \
    'j.endpointType === "webhook" && Buffer.from(j.signingKey, "base64").length === 64'
HOOK=$(field "$T/out" 'j.id')
run endpoint create hook2 --webhook http://127.0.0.1:9/hook2
expect "endpoint create --webhook (plain)" 0
check "plain output shows the signing key" grep -qE "^signing key: [A-Za-z0-9+/=]{88}$" "$T/out"
HOOK2=$(sed -n 's/^created endpoint //p' "$T/out")
run endpoint create bad --queue Bad_Name
expect "endpoint create with a bad queue name" 1 \
    "^shoal: InvalidPropertyValue: endpointAddress must be a queue name"
run endpoint create bad --webhook ftp://example.com/x
expect "endpoint create with a non-http URL" 1 "^shoal: InvalidPropertyValue: "
run endpoint list --json
json "endpoint list --json" \
    "[\"$EP1\", \"$EP2\", \"$HOOK\"].every((id) => j.some((e) => e.id === id)) && j.every((e) => e.signingKey === undefined)"
run endpoint list
expect "endpoint list" 0
check "endpoint list shows type, name and address" \
    grep -qE "^$EP1 +queue +ep1 +notes " "$T/out"
run endpoint show "$EP1" --json
json "endpoint show --json" "j.id === \"$EP1\" && j.name === 'ep1' && typeof j.pendingDeliveries === 'number'"
run endpoint show nb:nepid:UUID:00000000-0000-0000-0000-000000000000
expect "endpoint show of an unknown id" 1 "^shoal: NotificationEndPointNotFound: "
run endpoint delete "$HOOK"
expect "endpoint delete" 0
check "endpoint delete says so" grep -q "deleted endpoint $HOOK" "$T/out"
run endpoint delete "$HOOK"
expect "endpoint delete twice" 1 "^shoal: NotificationEndPointNotFound: "
run endpoint delete "$HOOK2" --quiet
expect "endpoint delete --quiet" 0
check "--quiet prints nothing" test ! -s "$T/out"
run endpoint list --json
json "a deleted endpoint is not listed" "!j.some((e) => e.id === \"$HOOK\")"
run event watch --since 0 --timeout 1s --hold 1
expect "event watch of everything so far" 0
check "the deletion is an event: Registered -> Unregistered" \
    grep -qE "^\[[0-9]+\] [0-9T:.-]+Z notificationEndPoint $HOOK: Registered -> Unregistered$" "$T/out"

# The registration message lands on the endpoint's queue (raw JSON), and
# base64-encoded on a --base64 endpoint.
i=0
while [ $i -lt 100 ]; do
    run queue peek notes --json
    [ "$(field "$T/out" 'j.length')" = 1 ] && break
    sleep 0.1
    i=$((i + 1))
done
json "the registration message is on the queue" \
    "(() => { const m = JSON.parse(j[0].text); return m.MessageVersion === '1.0' && m.EventType === 'NotificationEndPointRegistration' && /^[0-9a-f]{64}\$/.test(m.ETag) && m.Properties.State === 'Registered' && m.Properties.NotificationEndPointId === \"$EP1\"; })()"
i=0
while [ $i -lt 100 ]; do
    run queue peek notes-b64 --json
    [ "$(field "$T/out" 'j.length')" = 1 ] && break
    sleep 0.1
    i=$((i + 1))
done
json "a --base64 endpoint gets base64 text" \
    "JSON.parse(Buffer.from(j[0].text, 'base64').toString()).Properties.Name === 'ep2'"

# ---- event watch ----

run event watch --since 0 --count 3 --json
jsonl "event watch --since 0 --count 3 --json" 0 \
    "v.length === 3 && v.every((e) => e.type === 'NotificationEndPointRegistration') && v[0].sequence < v[1].sequence && v[1].sequence < v[2].sequence && v[0].entityId === \"$EP1\""
run event watch --since 0 --count 1
expect "event watch (plain)" 0
check "a plain event line" \
    grep -qE "^\[1\] [0-9T:.-]+Z notificationEndPoint $EP1: - -> Registered$" "$T/out"
run event watch --since 1 --count 1 --json
jsonl "event watch --since 1 starts after 1" 0 "v.length === 1 && v[0].sequence > 1"
run event watch --since 0 --types JobStateChange --timeout 1s --hold 1
expect "event watch --timeout without --count ends well" 0
check "nothing matched the type filter" test ! -s "$T/out"
run event watch --since now --count 1 --timeout 1s --hold 1
expect "event watch --count with too few events times out" 1 "timed out after 0 of 1 events"
run event watch --types Bogus --timeout 1s
expect "event watch --types Bogus" 1 "^shoal: InvalidQueryParameterValue: "

# ---- subscriptions ----

run pool create npool --nodes 1
expect "pool create" 0
run job create j1 --pool npool
expect "job create" 0
run job subscribe j1 "$EP1" --all
expect "job subscribe --all" 0
check "job subscribe says what it did" grep -q "every state change" "$T/out"
run job subscriptions j1 --json
json "job subscriptions --json" \
    "j.length === 1 && j[0].notificationEndPointId === \"$EP1\" && j[0].targetJobState === 'All'"
run job subscribe j1 "$EP1" --final --json
json "job subscribe again changes the target" "j.targetJobState === 'FinalStatesOnly' && j.job === 'j1'"
run job subscriptions j1 --json
json "still one subscription, now FinalStatesOnly" \
    "j.length === 1 && j[0].targetJobState === 'FinalStatesOnly'"
run job subscribe j1 "$EP2" --all
expect "job subscribe a second endpoint" 0
run job subscriptions j1
expect "job subscriptions (plain)" 0
check "both subscriptions listed" test "$(wc -l <"$T/out")" = 2
run job unsubscribe j1 "$EP2"
expect "job unsubscribe" 0
run job unsubscribe j1 "$EP2"
expect "job unsubscribe of an endpoint not subscribed" 1 "has no subscription"
run job subscriptions j1 --json
json "one subscription left" "j.length === 1 && j[0].notificationEndPointId === \"$EP1\""
run job subscribe j1 nb:nepid:UUID:00000000-0000-0000-0000-000000000000 --all
expect "job subscribe an unknown endpoint" 1 "^shoal: NotificationEndPointNotFound: "
run job subscribe nojob "$EP1" --all
expect "job subscribe on an unknown job" 1 "^shoal: JobNotFound: "
run job subscriptions nojob
expect "job subscriptions of an unknown job" 1 "^shoal: JobNotFound: "

# A subscription made with the CLI delivers: j1 runs one task, and the
# FinalStatesOnly endpoint's queue gets exactly the Finished message.
run queue clear notes
expect "queue clear (registration message)" 0
run task add j1 --id t1 -- /bin/true
expect "task add" 0
run job patch j1 '{"onAllTasksComplete":"terminatejob"}'
expect "job patch onAllTasksComplete" 0
check "job j1 completes" wait_job_done j1
i=0
while [ $i -lt 100 ]; do
    run queue peek notes --json
    [ "$(field "$T/out" 'j.length')" = 1 ] && break
    sleep 0.1
    i=$((i + 1))
done
json "the subscribed queue gets JobStateChange Processing -> Finished" \
    "j.length === 1 && (() => { const m = JSON.parse(j[0].text); return m.EventType === 'JobStateChange' && m.Properties.JobId === 'j1' && m.Properties.NewState === 'Finished' && m.Properties.OldState === 'Processing'; })()"

# ---- job watch ----

run job watch nojob
expect "job watch of an unknown job" 1 "^shoal: JobNotFound: "

# Live: the watch starts before the job has tasks, and ends with it.
run job create jfin --pool npool
"$SHOAL" job watch jfin --timeout 60s >"$T/watch.out" 2>"$T/watch.err" </dev/null &
wpid=$!
run task add jfin --id t1 -- /bin/sh -c 'sleep 1'
run task add jfin --id t2 -- /bin/true
run job patch jfin '{"onAllTasksComplete":"terminatejob"}'
wait $wpid
rc=$?
cp "$T/watch.out" "$T/out"
cp "$T/watch.err" "$T/err"
expect "job watch exits 0 when the job is Finished" 0
check "job watch ends with the Finished line" \
    sh -c "tail -n 1 '$T/out' | grep -qE '^\[[0-9]+\] [0-9T:.-]+Z job jfin: Processing -> Finished$'"
check "job watch shows each task completing" \
    sh -c "grep -qE 'task jfin/t1: running -> completed \(exit 0\)' '$T/out' && grep -qE 'task jfin/t2: running -> completed \(exit 0\)' '$T/out'"
check "job watch lines are in sequence order" \
    sh -c "sed -n 's/^\[\([0-9]*\)\].*/\1/p' '$T/out' | sort -n -c"
check "job watch of a finishing job writes nothing on stderr" test ! -s "$T/err"

# Replayed: the job has ended; its retained events answer at once.
run job watch jfin --json
jsonl "job watch --json replays a finished job" 0 \
    "v.length >= 5 && v.every((e) => e.jobId === 'jfin' && (e.type === 'JobStateChange' || e.type === 'TaskStateChange')) && v[v.length - 1].newState === 'Finished' && v.every((e, i) => i === 0 || e.sequence > v[i - 1].sequence)"
LAST=$("$SHOAL" job watch jfin --json 2>/dev/null | tail -n 1 | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).sequence)')
run job watch jfin --since "$LAST" --timeout 1s
expect "job watch --since after the end times out" 1 "timed out watching job jfin"
run job watch jfin --since now --timeout 1s
expect "job watch --since now times out on an ended job" 1 "timed out"

run job create jerr --pool npool
run task add jerr --id ok -- /bin/true
run task add jerr --id boom -- /bin/sh -c 'exit 3'
run job patch jerr '{"onAllTasksComplete":"terminatejob"}'
run job watch jerr --timeout 60s
expect "job watch exits 1 when the job ends in Error" 1 "^shoal: job jerr ended in state Error$"
check "the failed task shows its exit code and failure code" \
    grep -qE "task jerr/boom: running -> completed \(exit 3, FailureExitCode\)" "$T/out"
check "the last line is the Error transition" \
    sh -c "tail -n 1 '$T/out' | grep -qE 'job jerr: [A-Za-z]+ -> Error$'"

run job create jcan --pool npool
run task add jcan --id long -- /bin/sh -c 'sleep 60'
"$SHOAL" job watch jcan --timeout 60s >"$T/watch.out" 2>"$T/watch.err" </dev/null &
wpid=$!
i=0
while [ $i -lt 100 ]; do
    grep -q "task jcan/long: active -> running" "$T/watch.out" && break
    sleep 0.1
    i=$((i + 1))
done
run job terminate jcan
wait $wpid
rc=$?
cp "$T/watch.out" "$T/out"
cp "$T/watch.err" "$T/err"
expect "job watch exits 1 when the job is Canceled" 1 "ended in state Canceled"
check "the watch shows Canceling, then Canceled" \
    sh -c "grep -qE 'job jcan: Processing -> Canceling' '$T/out' && tail -n 1 '$T/out' | grep -qE 'job jcan: Canceling -> Canceled$'"

# On a terminal: one status line redrawn with \r, then the final state.
if command -v script >/dev/null 2>&1; then
    script -qec "'$SHOAL' job watch jfin" /dev/null >"$T/out" 2>&1 </dev/null
    rc=$?
    : >"$T/err"
    expect "job watch on a terminal exits 0 for a Finished job" 0
    check "the status line is redrawn in place" \
        sh -c "tr '\r' '\n' <'$T/out' | grep -qE '^job jfin: Processing +tasks: active 0 +preparing 0 +running [0-9]+ +completed [0-9]+ +failed 0'"
    check "the terminal view ends with the final state" \
        sh -c "tr -d '\r' <'$T/out' | tail -n 1 | grep -qx 'job jfin: Finished'"
else
    ok "# SKIP script(1) not installed: no terminal test"
fi

# ---- the notify example ----

EX="$SHOAL_BIN/notify-example"
"$EX" --help >"$T/out" 2>"$T/err"
rc=$?
expect "notify-example --help" 0
"$EX" --bogus >"$T/out" 2>"$T/err"
rc=$?
expect "notify-example with a bad option is a usage error" 2
"$EX" --connection-string "$CS" --timeout 120 >"$T/out" 2>"$T/err" </dev/null
rc=$?
expect "notify-example runs end to end (FinalStatesOnly)" 0
check "it prints the registration message" \
    grep -qE "^NotificationEndPointRegistration  ETag=[0-9a-f]{64}  TimeStamp=" "$T/out"
check "it prints the Finished message" \
    sh -c "grep -qE '^JobStateChange  ETag=[0-9a-f]{64}  TimeStamp=[0-9T:.-]+Z$' '$T/out' && grep -q '    NewState: Finished' '$T/out'"
check "FinalStatesOnly sends no intermediate state" \
    sh -c "! grep -q 'NewState: Processing' '$T/out'"
check "it ends saying Finished" grep -qE "^job NotifyExampleJob-[0-9]+-[0-9]+: Finished \(2 messages\)$" "$T/out"
"$EX" --connection-string "$CS" --all --timeout 120 >"$T/out" 2>"$T/err" </dev/null
rc=$?
expect "notify-example --all runs end to end" 0
check "--all prints the intermediate states too" \
    sh -c "grep -q 'NewState: Processing' '$T/out' && grep -q 'NewState: Finished' '$T/out' && ! grep -q 'NewState: Queued' '$T/out'"
run endpoint list --json
json "notify-example deleted its endpoints" "!j.some((e) => e.name === 'notify-example')"
run pool list --json
json "notify-example deleted (or is deleting) its pools" \
    "j.every((p) => !p.id.startsWith('NotifyExamplePool-') || p.state === 'deleting')"
