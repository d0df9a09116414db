#!/bin/sh
# bench/tasks/deps.sh: the Batch dependency benchmark (see deps.mjs for what
# it measures). Build first (make); SHOAL_BIN points at other binaries.
#   bench/tasks/deps.sh [--tasks N] [--segment L] [--baseline]
set -eu
cd "$(dirname "$0")/../.."
exec node bench/tasks/deps.mjs "$@"
