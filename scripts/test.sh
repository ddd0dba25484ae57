#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (run as root, or as a
# user with sudo): installs dependencies, builds with ASan+UBSan and -Werror,
# runs a bounded fuzzing pass over every fuzz target, builds the release
# packages, then every test through ctest (GoogleTest suites, the ajv schema
# check, end-to-end tests, the packages installed into a clean Debian 12).
# Environment: QSTOR_FUZZ_SECONDS (default 30 per target; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

echo "== dependencies"
bash scripts/install-deps.sh
echo "== ajv for the schema tests"
(cd tests/schema && npm ci --no-audit --no-fund --loglevel=error)
echo "== the ThreeFold Connect login SDK for the login vectors"
(cd tests/connect && npm ci --no-audit --no-fund --loglevel=error)

echo "== build (ASan+UBSan, -Werror)"
bash scripts/build.sh test

fuzz_seconds="${QSTOR_FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" != "0" ]; then
  echo "== fuzz (${fuzz_seconds}s per target)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi

echo "== release packages (.deb, .tar.gz) for the install test"
bash scripts/package.sh
export QSTOR_REQUIRE_PACKAGES=1

echo "== tests"
cd build-test
ctest --output-on-failure --timeout 600 -j2
