#!/bin/sh
# bench/tasks/faults.sh: task throughput on 4 local nodes while one node's
# agent is killed (SIGKILL) and restarted by shoald mid-run (see
# faults.mjs). Build first (make); SHOAL_BIN points at other binaries.
#   bench/tasks/faults.sh [--tasks N] [--task-ms MS] [--runs R]
set -eu
cd "$(dirname "$0")/../.."
exec node bench/tasks/faults.mjs "$@"
