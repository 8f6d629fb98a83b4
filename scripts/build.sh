#!/usr/bin/env bash
# Configures and builds one preset (release, asan or fuzz) into build/<preset>.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
jobs="${MPSWITCH_JOBS:-$(nproc)}"
cmake --preset "$preset" -G "Unix Makefiles" > "build-$preset.log" 2>&1 || { cat "build-$preset.log"; exit 1; }
rm -f "build-$preset.log"
cmake --build --preset "$preset" -j "$jobs"
