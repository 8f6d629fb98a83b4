#!/usr/bin/env bash
# Sets everything up and runs every test: the Release build with its test suite and a benchmark
# smoke run, a bounded libFuzzer run of every fuzz target, and the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#   FUZZ_SECONDS   seconds per fuzz target (default 60; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

fuzz_seconds="${FUZZ_SECONDS:-60}"
total=0
failed=0
summary() {
  # "N% tests passed, F tests failed out of T" -> running totals
  local line t f
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
  t=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
  total=$((total + ${t:-0}))
  failed=$((failed + ${f:-0}))
}

echo "== Release build and tests"
./scripts/build.sh release
(cd build/release && ctest --output-on-failure -j2 --timeout 600) 2>&1 | tee build/release/ctest.log
summary build/release/ctest.log

if [ "$fuzz_seconds" != 0 ]; then
  echo "== libFuzzer, ${fuzz_seconds}s per target"
  ./scripts/build.sh fuzz
  for target in pipeline_fuzz packet_fuzz ekt_fuzz frame_fuzz ng_fuzz sim_receiver_fuzz; do
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/$target/." "$work/"
    # New inputs land in a scratch copy; the committed seeds stay as they are.
    ASAN_OPTIONS=detect_leaks=1 "build/fuzz/tests/fuzz/$target" "$work" \
      -max_total_time="$fuzz_seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 2>"build/fuzz/$target.log" || {
        tail -50 "build/fuzz/$target.log"; echo "fuzz target $target FAILED"; exit 1; }
    grep -E 'stat::number_of_executed_runs|Done' "build/fuzz/$target.log" | tail -2
    rm -rf "$work"
  done
fi

echo "== ASan + UBSan build and tests"
./scripts/build.sh asan
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j2 --timeout 900) 2>&1 | tee build/asan/ctest.log
summary build/asan/ctest.log

echo
echo "tests: $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
