#!/usr/bin/env bash
# Sets everything up, builds the Release tree and runs a secure meeting on 127.0.0.1: the switch
# (socket backend, embedded defaults) and simulated three- and one-screen rooms, with a live view
# and a verdict (see README.md). Arguments go to mpswitch-sim (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
./scripts/build.sh release >&2
exec build/release/tools/mpswitch-sim "$@"
