#!/usr/bin/env bash
# Sets everything up and runs every test: the Release build with its test suite and a benchmark
# smoke run, a bounded libFuzzer run of every fuzz target, and the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#   FUZZ_SECONDS   seconds per fuzz target (default 60; 0 skips fuzzing)
# A failing test does not stop the run: both suites run and the summary counts them. Tests that
# skipped themselves (GTEST_SKIP: no IPv6 loopback, no root or /dev/net/tun, no intel-ipsec-mb,
# ...) are listed by name with their reason before the last line, which is
#   tests: N passed, M failed[, K skipped]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

fuzz_seconds="${FUZZ_SECONDS:-60}"
total=0
failed=0
skipped=0
skip_report=()

# The reason each skipped test gave: the line after GoogleTest's "file:line: Skipped" in the
# test's output, which ctest keeps (untruncated) in Testing/Temporary/LastTest.log.
#   $1 file with one skipped test name a line, $2 LastTest.log; prints "name<TAB>reason" lines.
skip_reasons() {
  awk '
    FNR == NR { want[$0] = 1; next }
    /^[0-9]+\/[0-9]+ Test: / { cur = substr($0, index($0, " Test: ") + 7); out = 0; grab = 0; next }
    /^Output:$/ { out = (cur in want); next }
    out && /^<end of output>$/ { out = 0; next }
    out && grab && $0 != "" {
      if ($0 !~ /^\[  SKIPPED \]/) print cur "\t" $0
      out = 0; grab = 0; next
    }
    out && /: Skipped$/ { grab = 1 }
  ' "$1" "$2" 2>/dev/null || true
}

# Adds one ctest run to the totals: "N% tests passed, F tests failed out of T" (skipped tests are
# among the passed), and the skipped ones from "The following tests did not run:" ("(Skipped)").
#   $1 run name, $2 build directory (holding ctest.log), $3 ctest's exit status
summary() {
  local run=$1 dir=$2 rc=$3 log="$2/ctest.log" line t f names reasons n k=0
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [ -z "$line" ]; then
    echo "$run: ctest printed no summary (exit status $rc): counted as one failure"
    total=$((total + 1))
    failed=$((failed + 1))
    return
  fi
  t=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "$run: ctest exited with status $rc although no test failed: counted as one failure"
    t=$((t + 1))
    f=1
  fi
  total=$((total + t))
  failed=$((failed + f))

  names=$(mktemp)
  awk '/^The following tests did not run:/ { on = 1; next }
       on && /^[ \t]+[0-9]+ - .* \(Skipped\)$/ {
         sub(/^[ \t]+[0-9]+ - /, ""); sub(/ \(Skipped\)$/, ""); print; next }
       on && !/^[ \t]+[0-9]+ - / { on = 0 }' "$log" >"$names"
  declare -A why=()
  local lastlog
  lastlog=$(ls -t "$dir"/Testing/Temporary/LastTest*.log 2>/dev/null | head -1 || true)
  if [ -s "$names" ] && [ -n "$lastlog" ]; then
    while IFS=$'\t' read -r n reasons; do why["$n"]=$reasons; done < <(skip_reasons "$names" "$lastlog")
  fi
  while IFS= read -r n; do
    [ -n "$n" ] || continue
    k=$((k + 1))
    skip_report+=("  $run: $n${why[$n]:+ -- ${why[$n]}}")
  done <"$names"
  rm -f "$names"
  skipped=$((skipped + k))
}

echo "== Release build and tests"
./scripts/build.sh release
rc=0
(cd build/release && ctest --output-on-failure -j2 --timeout 600) 2>&1 | tee build/release/ctest.log || rc=$?
summary Release build/release "$rc"

if [ "$fuzz_seconds" != 0 ]; then
  echo "== libFuzzer, ${fuzz_seconds}s per target"
  ./scripts/build.sh fuzz
  for target in pipeline_fuzz packet_fuzz ekt_fuzz frame_fuzz ng_fuzz sim_receiver_fuzz ctl_fuzz config_fuzz cert_fuzz; do
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
rc=0
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j2 --timeout 900) 2>&1 | tee build/asan/ctest.log || rc=$?
summary ASan build/asan "$rc"

echo
suffix=""
if [ "$skipped" -ne 0 ]; then
  echo "skipped tests ($skipped):"
  printf '%s\n' "${skip_report[@]}"
  suffix=", $skipped skipped"
fi
echo "tests: $((total - failed - skipped)) passed, $failed failed$suffix"
[ "$failed" -eq 0 ]
