#!/usr/bin/env bash
# Mount benchmarks: the same fio jobs and small-file test on qstor mounts and
# on gocryptfs, all over the same disk, in one run. Results go to stdout as a
# markdown table (docs/benchmarks.md, section "FUSE mount").
#
# Usage: fs/mount/bench_mount.sh QSTOR_BIN WORKDIR [SIZE_MIB] [FILES]
#   QSTOR_BENCH_BACKENDS="local devnet" (default: local) chooses the qstor rows:
#     local   qstor mount --local-backend (segments as files on the same disk)
#     devnet  an embedded devnet started under WORKDIR (`qstor devnet start`),
#             a storage deployed on it with `qstor apply` (4+2 data shards on
#             devnet 0-db servers on loopback, 4 metadata namespaces) and
#             mounted from its manifest, as the quickstart does
#   Either way: durability local, cache 256 MiB (smaller than the file, so the
#   cold read after the remount fetches from the backends).
#   Needs root, fio, gocryptfs (scripts/install-deps.sh), python3.
# Everything it starts (mounts, devnet, 0-db servers) is stopped on exit,
# also on error or Ctrl-C.
set -euo pipefail
QSTOR=$(readlink -f "$1")
W=$2
SIZE=${3:-1024}
FILES=${4:-10000}
BACKENDS=${QSTOR_BENCH_BACKENDS:-local}
for b in $BACKENDS; do
  case $b in local|devnet) ;; *) echo "QSTOR_BENCH_BACKENDS: unknown backend \"$b\" (local, devnet)" >&2; exit 64 ;; esac
done
rm -rf "$W" && mkdir -p "$W"
W=$(readlink -f "$W")

# --- cleanup: every mount and daemon this script started -------------------
MOUNTS=()      # mount points to detach
PIDS=()        # mount processes to end
DEVNET_DIR=""  # devnet data dir to stop
cleanup() {
  set +e
  local m p
  for m in "${MOUNTS[@]}"; do
    if mountpoint -q "$m" 2>/dev/null; then
      case $m in
        */gocryptfs/*) fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" ;;
        *) "$QSTOR" umount "$m" --no-sync --timeout 20s >/dev/null 2>&1 || fusermount3 -u -z "$m" ;;
      esac
    fi
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
  done
  if [ -n "$DEVNET_DIR" ]; then
    "$QSTOR" devnet stop --data "$DEVNET_DIR" >/dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
mbps() { # fio json -> MB/s of read or write
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('%.1f' % (j['jobs'][0][sys.argv[2]]['bw_bytes']/1e6))" "$1" "$2"
}
iops() {
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('%.0f' % (j['jobs'][0][sys.argv[2]]['iops']))" "$1" "$2"
}
create_files() { # dir count -> files/s
  python3 - "$1" "$2" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
buf = os.urandom(4096)
t = time.time()
for i in range(n):
    with open(os.path.join(d, "f%d" % i), "wb") as f:
        f.write(buf)
os.sync()
print("%.0f" % (n / (time.time() - t)))
PY
}
mount_pid() { # qstor mount point -> pid of its mount process
  "$QSTOR" --json fs stats "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['pid'])"
}

run_suite() { # tag name dir remount_cmd
  local tag=$1 name=$2 dir=$3 remount=$4
  fio --name=seqw --directory="$dir" --rw=write --bs=1M --size=${SIZE}M --ioengine=psync \
      --end_fsync=1 --output-format=json > "$W/$tag-seqw.json"
  eval "$remount"; drop
  fio --name=seqw --directory="$dir" --rw=read --bs=1M --size=${SIZE}M --ioengine=psync \
      --output-format=json > "$W/$tag-seqr.json"
  fio --name=rand --directory="$dir" --rw=randrw --bs=4k --size=256M --ioengine=psync \
      --runtime=20 --time_based --output-format=json > "$W/$tag-rand.json"
  local cr; cr=$(create_files "$dir/small" "$FILES")
  echo "| $name | $(mbps $W/$tag-seqw.json write) | $(mbps $W/$tag-seqr.json read) |" \
       "$(iops $W/$tag-rand.json read) | $(iops $W/$tag-rand.json write) | $cr |"
}

echo "| filesystem | seq write 1M MB/s | cold seq read 1M MB/s | rand 4k read IOPS | rand 4k write IOPS | create 4 KiB files/s |"
echo "|---|---:|---:|---:|---:|---:|"

# --- qstor over the local development backend -------------------------------
Q="$W/qstor"
qmount() {
  mkdir -p "$Q/mnt"
  "$QSTOR" mount --foreground --local-backend "$Q/backend" --cache-dir "$Q/cache" \
      --mountpoint "$Q/mnt" --cache-size 256MiB --durability local >> "$Q/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do mountpoint -q "$Q/mnt" && return 0; sleep 0.1; done
  echo "qstor did not mount; $Q/log:" >&2; tail -5 "$Q/log" >&2; return 1
}
qremount() {
  "$QSTOR" sync "$Q/mnt" > /dev/null
  "$QSTOR" umount "$Q/mnt" > /dev/null
  qmount
}
if [[ " $BACKENDS " == *" local "* ]]; then
  mkdir -p "$Q"; MOUNTS+=("$Q/mnt")
  qmount
  run_suite qstor "qstor (local backend, durability local)" "$Q/mnt" qremount
  "$QSTOR" umount "$Q/mnt" > /dev/null
fi

# --- qstor over devnet 0-db backends -----------------------------------------
D="$W/devnet"
dmount() { # background mount from the manifest; returns once it serves
  "$QSTOR" mount "$D/storage.yaml" > /dev/null
  PIDS+=("$(mount_pid "$D/mnt")")
}
dremount() {
  "$QSTOR" sync "$D/mnt" > /dev/null
  "$QSTOR" umount "$D/mnt" > /dev/null
  dmount
}
if [[ " $BACKENDS " == *" devnet "* ]]; then
  mkdir -p "$D" && chmod 700 "$D"
  # A throwaway identity and devnet of this run only (never a real keystore).
  export QSTOR_HOME="$D/home" QSTOR_DEVNET_DIR="$D/devnet"
  QSTOR_PASSPHRASE=$(head -c 18 /dev/urandom | base64)
  export QSTOR_PASSPHRASE
  "$QSTOR" init > /dev/null 2>> "$D/setup.log"  # prints the demo's recovery words: not kept
  DEVNET_DIR="$D/devnet"
  "$QSTOR" devnet start --data "$DEVNET_DIR" >> "$D/setup.log" 2>&1
  uri=$("$QSTOR" wallet topup --amount 50 --no-wait 2>> "$D/setup.log" | grep '^TFT:')
  "$QSTOR" devnet approve "$uri" >> "$D/setup.log" 2>&1
  cat > "$D/storage.yaml" <<EOF
apiVersion: qstor.threefold.io/v1
kind: Storage
metadata:
  name: bench
spec:
  network: devnet
  capacity: 4GiB
  redundancy: {dataShards: 4, parityShards: 2}
  metadata: {backends: 4}
  locations: random
  payment: {method: wallet}
  mount:
    path: $D/mnt
    cacheDir: $D/cache
    cacheSize: 256MiB
    durability: local
EOF
  mkdir -p "$D/mnt"; MOUNTS+=("$D/mnt")
  "$QSTOR" apply "$D/storage.yaml" --auto-approve > "$D/apply.log" 2>&1 \
    || { echo "qstor apply failed; $D/apply.log:" >&2; tail -20 "$D/apply.log" >&2; exit 1; }
  mountpoint -q "$D/mnt" || { echo "qstor apply did not mount $D/mnt" >&2; exit 1; }
  PIDS+=("$(mount_pid "$D/mnt")")
  run_suite qstor-devnet "qstor (devnet 0-db backends, 4+2, durability local)" "$D/mnt" dremount
  "$QSTOR" umount "$D/mnt" > /dev/null
fi

# --- gocryptfs over the same disk ----------------------------------------------
G="$W/gocryptfs"; mkdir -p "$G/cipher" "$G/mnt"
echo pw > "$G/pass"
gocryptfs -q -init -passfile "$G/pass" -scryptn 10 "$G/cipher" 2>> "$G/log"
gmount() { gocryptfs -q -passfile "$G/pass" "$G/cipher" "$G/mnt" 2>> "$G/log"; }
gremount() { fusermount3 -u "$G/mnt"; gmount; }
MOUNTS+=("$G/mnt")
gmount
run_suite gocryptfs "gocryptfs $(gocryptfs -version | awk '{print $2}' | head -1 | tr -d ';')" "$G/mnt" gremount
fusermount3 -u "$G/mnt"
