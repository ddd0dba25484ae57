#!/usr/bin/env bash
# Configures and builds qstor. Usage: scripts/build.sh [release|test]
#   release: build/        optimised, the `qstor` binary users run
#   test:    build-test/   ASan+UBSan, -Werror, every test binary
# Installs missing Debian packages first (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-release}"
bash scripts/install-deps.sh
jobs=$(nproc)
case "$kind" in
  release)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQSTOR_TESTS=OFF -DQSTOR_WERROR=OFF >/dev/null
    ninja -C build -j"$jobs" qstor
    ;;
  test)
    cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
      -DQSTOR_SANITIZE=ON -DQSTOR_WERROR=ON -DQSTOR_TESTS=ON >/dev/null
    ninja -C build-test -j"$jobs"
    ;;
  *)
    echo "usage: scripts/build.sh [release|test]" >&2
    exit 64
    ;;
esac
