#!/usr/bin/env bash
# Builds every libFuzzer target (clang, ASan+UBSan) and runs each for a
# bounded time. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]  (default 30)
# Crashes are saved under fuzz-out/<target>/ and make the script exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-30}"
BUILD=build-fuzz
cmake -S . -B "$BUILD" -G Ninja -DQSTOR_FUZZ=ON -DQSTOR_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQSTOR_ROOMS="common;zdb;grid;fs;devnet;reconciler" >/dev/null
targets=$(grep -v "^$" "$BUILD/fuzzers.txt" | sort -u)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
ninja -C "$BUILD" $targets
status=0
for t in $targets; do
  bin=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -1)
  out="fuzz-out/$t"
  mkdir -p "$out/corpus"
  seeds=()
  case "$t" in
    fuzz_manifest) seeds=(tests/manifests/good tests/manifests/bad tests/manifests/semantic examples)
                   extra=(-dict=tests/fuzz/manifest.dict -max_len=8192) ;;
    *) extra=(-max_len=65536)
       # A room (or a library inside one, e.g. grid/tfchain) may ship seeds
       # in <room>/fuzz-seeds/<target>/ or <room>/<lib>/fuzz-seeds/<target>/.
       for d in */fuzz-seeds/"$t" */*/fuzz-seeds/"$t"; do [ -d "$d" ] && seeds+=("$d"); done ;;
  esac
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  if ! "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$out/" -print_final_stats=1 "${extra[@]}" "$out/corpus" "${seeds[@]}" \
       >"$out/log.txt" 2>&1; then
    echo "fuzz: $t FAILED; see $out/log.txt and the crash file in $out/" >&2
    tail -40 "$out/log.txt" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$out/log.txt" | tr '\n' ' '
    echo
  fi
done
exit $status
