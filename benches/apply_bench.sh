#!/usr/bin/env bash
# Apply through the devnet's TFChain: how long an apply of K+M data shards
# (plus the 4 metadata backends) takes, how many extrinsics it signs and how
# many blocks of chain time it spans. Results go to docs/benchmarks.md.
#
# Usage: benches/apply_bench.sh QSTOR_BIN DATA PARITY BLOCK_MS [NODES] [CAPACITY]
#   benches/apply_bench.sh build/cli/qstor 64 32 1000 10000 10TiB   # 100 namespaces
#   benches/apply_bench.sh build/cli/qstor 4 2 6000 100 1GiB         # 10, TFChain's 6 s blocks
# Everything lives in a temporary QSTOR_HOME and devnet, removed at the end.
set -euo pipefail
QSTOR="$(realpath "${1:?qstor binary}")"
DATA="${2:?data shards}"
PARITY="${3:?parity shards}"
BLOCK_MS="${4:?block time in ms}"
NODES="${5:-10000}"
CAPACITY="${6:-10TiB}"

WORK="$(mktemp -d /tmp/qstor-apply-bench.XXXXXX)"
export QSTOR_HOME="$WORK/home" QSTOR_DEVNET_DIR="$WORK/devnet" QSTOR_PASSPHRASE="apply-bench"
cleanup() {
  "$QSTOR" devnet stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$QSTOR" init >/dev/null 2>&1
"$QSTOR" devnet start --nodes "$NODES" --seed 7 --block-ms "$BLOCK_MS" >/dev/null
chain_url=$("$QSTOR" --json devnet status | sed -n 's/.*"chain_url":"\(ws:[^"]*\)".*/\1/p')
address=$("$QSTOR" --json wallet address | sed -n 's/.*"address":"\([^"]*\)".*/\1/p')
"$QSTOR" devnet fund "$address" 100000 >/dev/null

# The chain's best block number, over the node's HTTP JSON-RPC.
http_url="http${chain_url#ws}"
block() {
  curl -s -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"chain_getHeader","params":[]}' "$http_url" |
    sed -n 's/.*"number":"0x\([0-9a-f]*\)".*/\1/p' | { read -r hex; echo $((16#$hex)); }
}

cat > "$WORK/bench.yaml" <<EOF
apiVersion: qstor.threefold.io/v1
kind: Storage
metadata:
  name: bench
spec:
  network: devnet
  capacity: $CAPACITY
  redundancy:
    dataShards: $DATA
    parityShards: $PARITY
  locations: random
  payment:
    method: wallet
EOF

first=$(block)
start=$(date +%s.%N)
"$QSTOR" --json apply "$WORK/bench.yaml" --auto-approve --no-mount --seed 1 > "$WORK/apply.jsonl"
end=$(date +%s.%N)
last=$(block)

namespaces=$(grep -c '"step":"ready"' "$WORK/apply.jsonl" || true)
chunks=$(grep -c '"step":"signed"' "$WORK/apply.jsonl" || true)
twin=$(grep -c '"step":"twin"' "$WORK/apply.jsonl" || true)
printf 'namespaces %s | block-ms %s | nodes %s | wall %.2f s | extrinsics %s (twin %s, signing chunks %s) | blocks %s (%s..%s) | chain time %.1f s\n' \
  "$namespaces" "$BLOCK_MS" "$NODES" "$(echo "$end - $start" | bc)" "$((chunks + twin))" "$twin" \
  "$chunks" "$((last - first))" "$first" "$last" "$(echo "($last - $first) * $BLOCK_MS / 1000" | bc -l)"
