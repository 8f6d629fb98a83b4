#!/usr/bin/env bash
# Sets everything up, builds the Release tree and runs the dataplane demonstration: SRTP senders
# protected by libsrtp2 switched to receivers on 127.0.0.1 ... see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
./scripts/build.sh release >&2
exec build/release/tools/mpswitch-core-demo "$@"
