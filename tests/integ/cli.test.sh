#!/bin/sh
# tests/integ/cli.test.sh: the shoal command against the real shoald.
#
# Starts $SHOAL_BIN/shoald --dev on a temp data dir under tests/tmp with
# every port 0, waits for DATA/ports (with a deadline), then runs each
# command's happy path and its error paths (missing container, bad key,
# unknown job ...), checking exit codes (0 ok, 1 failed, 2 usage), the
# one-line error on stderr with the service's error code, and --json output
# (parsed with node). Plain TAP; the plan is printed at the end. shoald is
# stopped by its PID; its data dir (and log) is kept when a test failed.
set -u
cd "$(dirname "$0")/../.."
HARNESS_NAME=cli
HARNESS_LINES=20
. tests/integ/lib/cli_harness.sh

# ---- usage, help, configuration ----

run --help
expect "shoal --help exits 0" 0
check "--help documents the exit codes" grep -q "Exit status: 0 ok, 1" "$T/out"
run
expect "no arguments is a usage error" 2
run blob frobnicate
expect "unknown verb is a usage error" 2 "unknown command 'blob frobnicate'"
run container create
expect "missing argument is a usage error" 2 "usage: shoal container create"
run container list --bogus
expect "unknown option is a usage error" 2 "unknown option --bogus"
run task add job1 --id t1
expect "task add without a command is a usage error" 2 "give the command"
all_help=0
for cmd in "container create" "container delete" "container list" \
    "blob upload" "blob download" "blob list" "blob show" \
    "blob set-metadata" "blob delete" "queue create" "queue delete" \
    "queue list" "queue show" "queue put" "queue get" "queue peek" \
    "queue update" "queue delete-message" "queue clear" "sas container" \
    "sas blob" "sas queue" "sas account" "pool create" "pool show" \
    "pool list" "pool delete" "pool resize" "node list" "node show" \
    "job create" "job show" "job list" "job terminate" "job delete" \
    "job patch" "job wait" "task add" "task add-many" "task list" \
    "task show" "task output" "task files" "task terminate" "task delete"; do
    # shellcheck disable=SC2086
    if ! "$SHOAL" $cmd --help >"$T/out" 2>"$T/err" ||
        ! grep -q "^usage: shoal $cmd" "$T/out" ||
        ! grep -q "Exit status" "$T/out"; then
        echo "# --help failed for: $cmd"
        all_help=1
    fi
done
rc=$all_help
expect "every command has --help (exit 0, usage line, exit codes)" 0
run blob --help
expect "group --help lists its verbs" 0
check "group help names the verbs" grep -q "upload CONTAINER FILE" "$T/out"
SHOAL_CONNECTION_STRING= run container list
expect "no configuration is a usage error" 2 "no connection"
run container list --connection-string "AccountName=a;AccountName=b"
expect "a bad connection string is a usage error" 2 "given twice"
run --version
expect "--version" 0

# ---- containers ----

run container create ctest
expect "container create" 0
check "container create says created" grep -q "created ctest" "$T/out"
run container create ctest
expect "container create on an existing one fails naming ContainerAlreadyExists" \
    1 "^shoal: ContainerAlreadyExists: "
run container create ctest --if-not-exists --json
json "container create --if-not-exists --json" 'j.name === "ctest" && j.created === false'
run container create ab
expect "an invalid container name fails naming the code" 1 "InvalidResourceName"
run container list --json
json "container list --json" 'Array.isArray(j) && j.some((c) => c.name === "ctest")'
run container list --prefix zz --json
json "container list --prefix filters" 'Array.isArray(j) && j.length === 0'
run container delete nosuchcontainer
expect "container delete of a missing one" 1 "^shoal: ContainerNotFound: "

# ---- blobs ----

printf 'hello from shoal\n' >"$T/hello.txt"
printf 'second file\n' >"$T/two.txt"
head -c 45000000 /dev/urandom >"$T/big.bin"
run blob upload ctest "$T/hello.txt" --meta color=red --content-type text/plain
expect "blob upload" 0
run blob list ctest --json
json "blob list --json shows size, type and metadata" \
    'j.length === 1 && j[0].name === "hello.txt" && j[0].size === 17 && j[0].contentType === "text/plain" && j[0].metadata.color === "red"'
run blob show ctest hello.txt --json
json "blob show --json" 'j.size === 17 && j.metadata.color === "red" && j.blobType === "BlockBlob"'
run blob download ctest hello.txt "$T/got.txt"
expect "blob download" 0
check "downloaded bytes match" cmp -s "$T/hello.txt" "$T/got.txt"
run blob download ctest hello.txt -
check "blob download to stdout" cmp -s "$T/hello.txt" "$T/out"
run blob upload ctest "$T/hello.txt" "$T/two.txt" --prefix dir/ --json
json "blob upload of several files with --prefix" \
    'j.length === 2 && j[0].name === "dir/hello.txt" && j[1].name === "dir/two.txt"'
run blob upload ctest "$T/hello.txt" "$T/two.txt" --name x
expect "--name with two files is a usage error" 2
run blob upload ctest "$T/hello.txt" --no-overwrite
expect "blob upload --no-overwrite on an existing blob fails" 1 "BlobAlreadyExists|ConditionNotMet"
run blob list ctest --prefix dir/
check "blob list --prefix" test "$(wc -l <"$T/out")" -eq 2
run blob list ctest --delimiter / --json
json "blob list --delimiter groups a prefix" \
    'j.some((b) => b.isPrefix && b.name === "dir/") && j.some((b) => b.name === "hello.txt")'
run blob set-metadata ctest hello.txt owner=me size=small
expect "blob set-metadata" 0
run blob show ctest hello.txt --json
json "metadata replaced" 'j.metadata.owner === "me" && j.metadata.size === "small" && !("color" in j.metadata)'
run blob set-metadata ctest hello.txt bad-name=1
expect "an invalid metadata name is a usage error" 2
run blob upload ctest "$T/big.bin"
expect "a 45 MB upload (parallel blocks)" 0
run blob download ctest big.bin "$T/big2.bin"
expect "a 45 MB download (parallel ranges)" 0
check "large download matches" cmp -s "$T/big.bin" "$T/big2.bin"
run blob delete ctest big.bin dir/two.txt
expect "blob delete" 0
run blob show ctest big.bin
expect "blob show of a deleted blob" 1 "^shoal: BlobNotFound"
run blob list nosuchcontainer
expect "blob list of a missing container" 1 "^shoal: ContainerNotFound: "
run blob upload nosuchcontainer "$T/hello.txt"
expect "blob upload to a missing container" 1 "^shoal: ContainerNotFound: "
run blob upload ctest "$T/does-not-exist"
expect "blob upload of a missing file" 1 "does-not-exist"
run blob download ctest nosuchblob "$T/x"
expect "blob download of a missing blob" 1 "BlobNotFound"
check "a failed download leaves no file" test ! -e "$T/x"
run container list --key "QUJDREVGR0hJSktMTU5PUA=="
expect "a wrong key fails naming AuthenticationFailed" 1 "^shoal: AuthenticationFailed"
run container list --blob-url "http://127.0.0.1:1/devstoreaccount1"
expect "an unreachable endpoint fails" 1 "127.0.0.1"

# ---- SAS ----

run sas blob ctest hello.txt --perms r --expiry 2h --url
expect "sas blob --url" 0
url=$(cat "$T/out")
check "a read SAS URL reads the blob" sh -c "curl -sf '$url' | cmp -s - '$T/hello.txt'"
run sas container ctest --perms cw --expiry 10m --json
json "sas container --json" 'j.token.includes("sp=cw") && j.token.includes("sr=c") && j.url.includes("/ctest?")'
curl_put() { # URL-with-sas NAME FILE
    base=${1%%\?*}
    q=${1#*\?}
    curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'x-ms-blob-type: BlockBlob' \
        --data-binary "@$3" "$base/$2?$q"
}
cw=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).url)' "$T/out")
check "a write SAS can upload" test "$(curl_put "$cw" viasas.txt "$T/two.txt")" = 201
check "a write SAS cannot read" test "$(curl -s -o /dev/null -w '%{http_code}' "${cw%%\?*}/viasas.txt?${cw#*\?}")" = 403
run sas blob ctest hello.txt --perms rq
expect "an unknown SAS permission is a usage error" 2 "permissions"
run sas container ctest --expiry soon
expect "a bad expiry is a usage error" 2 "expiry"
run sas queue q1 --perms raup --json
json "sas queue --json" 'j.token.includes("sp=raup")'
run sas account --services bq --types sco --perms rl
expect "sas account" 0
check "account SAS has ss and srt" grep -q "ss=bq&srt=sco" "$T/out"

# ---- queues ----

run queue create qtest --json
json "queue create --json" 'j.name === "qtest" && j.created === true'
run queue put qtest 'hello <&> "world"' --json
json "queue put --json" 'typeof j.id === "string" && typeof j.popReceipt === "string"'
run queue put qtest second
expect "queue put" 0
run queue show qtest --json
json "queue show counts the messages" 'j.approximateMessageCount === 2'
run queue peek qtest --count 5 --json
json "queue peek --json returns the text verbatim" \
    'j.length === 2 && j[0].text === "hello <&> \"world\"" && j[0].popReceipt === null'
run queue get qtest --visibility 60 --json
json "queue get --json" 'j.length === 1 && j[0].dequeueCount === 1 && typeof j[0].popReceipt === "string"'
id=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].id)' "$T/out")
pr=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].popReceipt)' "$T/out")
run queue update qtest "$id" "$pr" --text changed --visibility 0
expect "queue update" 0
pr2=$(cat "$T/out")
run queue delete-message qtest "$id" "$pr"
expect "queue delete-message with a stale pop receipt" 1 "PopReceiptMismatch"
run queue peek qtest --count 5 --json
json "updated text visible" 'j.some((m) => m.text === "changed")'
run queue delete-message qtest "$id" "$pr2"
expect "queue delete-message" 0
run queue get qtest --count 40
expect "queue get --count 40 is a usage error" 2
run queue clear qtest
expect "queue clear" 0
run queue peek qtest --json
json "an empty queue peeks as []" 'Array.isArray(j) && j.length === 0'
run queue list --json
json "queue list --json" 'j.some((q) => q.name === "qtest")'
run queue delete qtest
expect "queue delete" 0
run queue get qtest
expect "queue get on a missing queue" 1 "^shoal: QueueNotFound: "
run queue put nosuchqueue hi
expect "queue put on a missing queue" 1 "^shoal: QueueNotFound: "

# ---- batch ----

run pool create clipool --nodes 1 --slots 2
expect "pool create" 0
run pool create clipool --nodes 1
expect "pool create of an existing pool" 1 "^shoal: PoolExists"
run pool list --json
json "pool list --json" 'j.some((p) => p.id === "clipool" && p.targetDedicatedNodes === 1)'
run pool show clipool --json
json "pool show --json" 'j.id === "clipool" && j.taskSlotsPerNode === 2'
run pool show nosuchpool
expect "pool show of a missing pool" 1 "^shoal: PoolNotFound"
run job create clijob --pool clipool
expect "job create" 0
run job create clijob --pool clipool
expect "job create of an existing job" 1 "^shoal: JobExists"
run job show clijob --json
json "job show --json" 'j.id === "clijob" && j.poolInfo.poolId === "clipool"'
run job list --json
json "job list --json" 'j.some((x) => x.id === "clijob")'
run task add clijob --id t1 -- /bin/sh -c 'echo "hello $AZ_BATCH_TASK_ID"'
expect "task add with a command after --" 0
cat >"$T/tasks.jsonl" <<'JSONL'
# three tasks, one per line
{"id":"m1","commandLine":"/bin/echo one"}
{"id":"m2","commandLine":"/bin/echo two"}

{"id":"m3","commandLine":"/bin/echo three"}
JSONL
run task add-many clijob "$T/tasks.jsonl" --json
json "task add-many --json" 'j.added === 3 && j.failed === 0'
run task add-many clijob "$T/tasks.jsonl"
expect "task add-many of existing ids fails naming TaskExists" 1 "TaskExists"
run job wait clijob --timeout 120 --json
json "job wait --json: all completed" 'j.total === 4 && j.completed === 4 && j.failed === 0 && !j.timedOut'
run task list clijob --state completed --json
json "task list --state completed --json" 'j.length === 4 && j.every((t) => t.state === "completed")'
run task list clijob --select id,state --json
json "task list --select" 'j.length === 4 && j.every((t) => Object.keys(t).sort().join() === "id,state")'
run task output clijob t1
check "task output prints stdout.txt" grep -qx "hello t1" "$T/out"
run task output clijob m2 stdout --json
json "task output --json" 'j.content === "two\n"'
run task show clijob t1 --json
json "task show --json: exit code 0" 'j.executionInfo.exitCode === 0 && j.executionInfo.result === "success"'
run task files clijob t1 --json
json "task files --json lists stdout.txt" 'j.some((f) => f.name === "stdout.txt")'
run node list clipool --json
json "node list --json" 'Array.isArray(j) && j.length === 1'
node_id=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].id)' "$T/out" 2>/dev/null)
run node show clipool "$node_id" --json
json "node show --json" 'typeof j.state === "string"'
run task add clijob --id bad -- /bin/sh -c 'exit 3'
expect "task add of a failing task" 0
run job wait clijob --timeout 120
expect "job wait exits 1 when a task failed" 1 "1 of 5 tasks failed"
run task show clijob bad --json
json "the failed task has exit code 3" 'j.executionInfo.exitCode === 3 && j.executionInfo.result === "failure"'
run task list clijob --filter "executionInfo/exitCode ne 0" --json
json "task list --filter" 'j.length === 1 && j[0].id === "bad"'
run task show clijob nosuchtask
expect "task show of a missing task" 1 "^shoal: TaskNotFound"
run job show nosuchjob
expect "job show of an unknown job" 1 "^shoal: JobNotFound"
run task list nosuchjob
expect "task list of an unknown job" 1 "^shoal: JobNotFound"
run task add nosuchjob --id x -- /bin/true
expect "task add to an unknown job" 1 "^shoal: JobNotFound"
run job wait nosuchjob
expect "job wait on an unknown job" 1 "^shoal: JobNotFound"
run task delete clijob m3
expect "task delete" 0
run job patch clijob '{"priority":100}'
expect "job patch" 0
run job show clijob --json
json "job patch took effect" 'j.priority === 100'
run job patch clijob '{not json'
expect "job patch with bad JSON is a usage error" 2 "bad JSON"
run job create bigjob --pool clipool
expect "job create (for the collection tests)" 0
node -e 'for (let i = 0; i < 250; i++) console.log(JSON.stringify({id: `c${i}`, commandLine: "/bin/true"}))' >"$T/many.jsonl"
run task add-many bigjob "$T/many.jsonl" --json
json "task add-many of 250 tasks (chunks of 100)" 'j.added === 250 && j.failed === 0'
node -e 'const v = "x".repeat(12000); for (let i = 0; i < 100; i++) console.log(JSON.stringify({id: `e${i}`, commandLine: "/bin/true", environmentSettings: [{name: "PAD", value: v}]}))' >"$T/fat.jsonl"
run task add-many bigjob "$T/fat.jsonl" --json
json "task add-many of 100 tasks over 1 MB (split before sending)" 'j.added === 100 && j.failed === 0'
run task list bigjob --select id --json
json "all 350 tasks are in the job" 'j.length === 350'
run job wait bigjob --timeout 300 --json
json "job wait on 350 tasks" 'j.total === 350 && j.completed === 350 && j.failed === 0'
run job delete bigjob
expect "job delete (collection tests)" 0
run job terminate clijob --reason done
expect "job terminate" 0
run job delete clijob
expect "job delete" 0
run pool resize clipool --nodes 0
expect "pool resize" 0
run pool delete clipool
expect "pool delete" 0
run pool delete nosuchpool
expect "pool delete of a missing pool" 1 "^shoal: PoolNotFound"
run job list --batch-url "http://127.0.0.1:$BATCH" --key "QUJDREVGR0hJSktMTU5PUA=="
expect "batch with a wrong key fails naming AuthenticationFailed" 1 "AuthenticationFailed"

run container delete ctest
expect "container delete" 0
