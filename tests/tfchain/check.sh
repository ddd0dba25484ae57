#!/usr/bin/env bash
# Cross-checks qstor's TFChain encodings with @polkadot/types (ctest tfchain_polkadot).
# Usage: check.sh TFCHAIN_VECTORS_BIN METADATA_JSON NPM_DIR
# Installs tests/tfchain/package-lock.json into NPM_DIR (in the build tree,
# reused while the lock file is unchanged), runs tfchain_vectors and
# check_polkadot.js. Without node, npm, the network or the recorded metadata
# it skips (exit 77) saying why, except when CI=true: then it fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vectors_bin=$1
metadata=$2
npm_dir=$3

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "tfchain_polkadot: FAILED (required when CI=true): $*" >&2
    exit 1
  fi
  echo "tfchain_polkadot: SKIPPED: $*"
  exit 77
}

command -v node >/dev/null || skip "node is not installed"
command -v npm >/dev/null || skip "npm is not installed"
[ -f "$metadata" ] || skip "recorded metadata not found at $metadata"

mkdir -p "$npm_dir"
if ! cmp -s "$here/package-lock.json" "$npm_dir/package-lock.json" ||
   [ ! -d "$npm_dir/node_modules/@polkadot/types" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund >npm-ci.log 2>&1) ||
    { tail -20 "$npm_dir/npm-ci.log" >&2; skip "npm ci failed in $npm_dir (network?)"; }
fi

out=$(mktemp)
log=$(mktemp)
trap 'rm -f "$out" "$log"' EXIT
"$vectors_bin" "$metadata" >"$out"
status=0
NODE_PATH="$npm_dir/node_modules" node "$here/check_polkadot.js" "$metadata" "$out" >"$log" 2>&1 || status=$?
# polkadot-js warns about ContractIdProvides (correctly: it is zero-size) and
# logs registry notes; show only the other lines.
grep -v -e 'REGISTRY:' -e 'Unknown signed extensions' "$log" || true
exit "$status"
