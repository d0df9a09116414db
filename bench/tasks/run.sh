#!/bin/sh
# bench/tasks/run.sh: the Batch task benchmark (see run.mjs for what it
# measures). Build first (make); SHOAL_BIN points at other binaries.
#   bench/tasks/run.sh [--tasks N] [--parallel-tasks N] [--latency N]
set -eu
cd "$(dirname "$0")/../.."
exec node bench/tasks/run.mjs "$@"
