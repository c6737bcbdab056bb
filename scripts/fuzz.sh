#!/usr/bin/env bash
# fuzz.sh [--time SECONDS] [--runs N] [--jobs J] [TARGET...]
#
# Builds the `fuzz` CMake preset (clang libFuzzer + ASan + UBSan) and runs each target (parse,
# track, pcap, set, snapshot, netlink; all by default) from its seed corpus
# tests/fuzz/corpus/<target>, J targets at a time (default 2). Each run stops after SECONDS (default 60) or N executions, whichever comes
# first. New corpus entries go to $FUZZ_WORK/<target> (default build/fuzz/work), crash
# reproducers to $FUZZ_WORK/crashes/<target>/. Prints one line per target:
#
#   target=track execs=1234567 seconds=600 exec_per_s=2057 corpus=812 crashes=0
#
# A crash makes the exit status 1: minimise it, fix the bug, and copy the reproducer to
# tests/fuzz/regressions/<target>/ so that ctest replays it (FuzzReplay.CorpusAndRegressions).
# FUZZ_BUILD_DIR overrides the build directory (default build/fuzz, the preset's).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=60
runs=-1
jobs=2
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    parse|track|pcap|set|snapshot|netlink) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(parse track pcap set snapshot netlink)

build=${FUZZ_BUILD_DIR:-$root/build/fuzz}
work=${FUZZ_WORK:-$build/work}
if [[ -z ${FUZZ_BUILD_DIR:-} ]]; then
  cmake --preset fuzz >/dev/null
else
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
    -DCTRACK_BUILD_FUZZ=ON -DCTRACK_SANITIZE=ON -DCTRACK_BUILD_BENCH=OFF \
    -DCTRACK_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/ctrack_fuzz_}" >/dev/null

# Longest input per target: a frame, a packet sequence, a small capture file, one --set value.
declare -A max_len=([parse]=2048 [track]=4096 [pcap]=8192 [set]=256 [snapshot]=8192 [netlink]=8192)

run_one() {
  local t=$1
  local dir=$work/$t crashes=$work/crashes/$t log=$work/$t.log
  mkdir -p "$dir" "$crashes"
  local start=$SECONDS rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    "$build/tests/fuzz/ctrack_fuzz_$t" -max_total_time="$seconds" -runs="$runs" \
    -max_len="${max_len[$t]}" -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$dir" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  local execs corpus ncrash
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$dir" -type f | wc -l)
  ncrash=$(find "$crashes" -type f | wc -l)
  echo "target=$t execs=${execs:-0} seconds=$((SECONDS - start))" \
    "exec_per_s=$(( ${execs:-0} / (SECONDS - start > 0 ? SECONDS - start : 1) ))" \
    "corpus=$corpus crashes=$ncrash exit=$rc log=$log"
  [[ $rc -eq 0 && $ncrash -eq 0 ]]
}

status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs ]]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
