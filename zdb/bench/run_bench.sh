#!/usr/bin/env bash
# Benchmark of docs/benchmarks.md, section "zdb": qstor's zdb server vs
# redis-server (appendonly yes, appendfsync everysec), same machine, loopback.
# Usage: zdb/bench/run_bench.sh SERVER_BIN [N]
#   SERVER_BIN: build-zdb-rel/zdb/zdb_bench_serve (Release, -DQSTOR_BENCHES=ON)
#               (the same zdb::Server as `qstor zdb serve`)
set -euo pipefail
BIN=${1:?server binary}
N=${2:-200000}
WORK=$(mktemp -d /tmp/zdb-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_zdb() {  # $1 = sync policy
  rm -rf "$WORK/zdb"; mkdir -p "$WORK/zdb"
  "$BIN" "$WORK/zdb" 0 "$1" > "$WORK/zdb.out" 2> "$WORK/zdb.err" &
  ZPID=$!; PIDS+=("$ZPID")
  for _ in $(seq 100); do grep -q listening "$WORK/zdb.out" 2>/dev/null && break; sleep 0.05; done
  ZPORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$WORK/zdb.out")
}
stop_zdb() { kill "$ZPID"; wait "$ZPID" || true; }

bench() {  # $1 = port, rest = extra args
  local port=$1; shift
  redis-benchmark -h 127.0.0.1 -p "$port" -P 16 -d 4096 -t set,get -r 100000 -n "$N" --csv "$@" 2>/dev/null
}

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install redis-server redis-tools" >&2; exit 1; }
done

echo "== redis-server --appendonly yes --appendfsync everysec"
RPORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$RPORT" --dir "$WORK/redis" --appendonly yes \
  --appendfsync everysec --save '' --daemonize no > "$WORK/redis.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
# redis-benchmark spins forever against a port nobody listens on: wait for it.
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$RPORT" ping >/dev/null || { echo "redis-server did not start: $(tail -3 "$WORK/redis.log")" >&2; exit 1; }
bench "$RPORT"
kill "$RPID"; wait "$RPID" || true

for sync in 1000 always; do
  echo "== qstor zdb server --sync $sync"
  start_zdb "$sync"
  bench "$ZPORT"
  stop_zdb
done

echo "== 4 MiB SETs (zdb --sync always, 4 clients, 400 requests)"
start_zdb always
redis-benchmark -h 127.0.0.1 -p "$ZPORT" -c 4 -d 4194304 -t set -n 400 --csv 2>/dev/null
stop_zdb

echo "== 10 million seq keys: peak RSS"
start_zdb 1000
redis-cli -p "$ZPORT" NSNEW 1 >/dev/null
redis-cli -p "$ZPORT" NSSET 1 mode seq >/dev/null
redis-benchmark -h 127.0.0.1 -p "$ZPORT" --dbnum 1 -c 8 -P 64 -n 10000000 --csv SET "" x 2>/dev/null
redis-cli -p "$ZPORT" NSINFO 1 | grep -E '^(entries|index_size_bytes|data_disk_bytes):'
grep -E 'VmHWM|VmRSS' /proc/"$ZPID"/status
stop_zdb_keep() { kill "$ZPID"; wait "$ZPID" || true; }
stop_zdb_keep
echo "-- reopen (index snapshot)"
"$BIN" "$WORK/zdb" 0 1000 > "$WORK/zdb.out" 2>/dev/null &
ZPID=$!; PIDS+=("$ZPID")
T0=$(date +%s.%N)
for _ in $(seq 600); do grep -q listening "$WORK/zdb.out" 2>/dev/null && break; sleep 0.05; done
T1=$(date +%s.%N)
echo "open time: $(echo "$T1 - $T0" | bc) s"
grep -E 'VmHWM|VmRSS' /proc/"$ZPID"/status
kill "$ZPID"; wait "$ZPID" || true
echo "-- reopen without snapshot (rebuild from data files)"
rm -f "$WORK/zdb/1/index"
"$BIN" "$WORK/zdb" 0 1000 > "$WORK/zdb.out" 2>/dev/null &
ZPID=$!; PIDS+=("$ZPID")
T0=$(date +%s.%N)
for _ in $(seq 1200); do grep -q listening "$WORK/zdb.out" 2>/dev/null && break; sleep 0.05; done
T1=$(date +%s.%N)
echo "open time: $(echo "$T1 - $T0" | bc) s"
grep -E 'VmHWM|VmRSS' /proc/"$ZPID"/status
kill "$ZPID"; wait "$ZPID" || true
