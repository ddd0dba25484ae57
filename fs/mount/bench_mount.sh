#!/usr/bin/env bash
# Mount benchmarks: the same fio jobs and small-file test on a qstor mount and
# on gocryptfs, both over the same disk. Results go to stdout as a markdown
# table (docs/benchmarks.md, section "FUSE mount").
#
# Usage: fs/mount/bench_mount.sh QSTOR_BIN WORKDIR [SIZE_MIB] [FILES]
#   needs root, fio, gocryptfs (scripts/install-deps.sh).
set -euo pipefail
QSTOR=$1
W=$2
SIZE=${3:-1024}
FILES=${4:-10000}
rm -rf "$W" && mkdir -p "$W"

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

# qstor, durability local, cache smaller than the file so the cold read
# fetches from the backend.
Q="$W/qstor"; mkdir -p "$Q"
qmount() {
  "$QSTOR" mount --foreground --local-backend "$Q/backend" --cache-dir "$Q/cache" \
      --mountpoint "$Q/mnt" --cache-size 256MiB --durability local > "$Q/log" 2>&1 &
  for _ in $(seq 100); do mountpoint -q "$Q/mnt" && return 0; sleep 0.1; done
  echo "qstor did not mount" >&2; return 1
}
qremount() {
  "$QSTOR" sync "$Q/mnt" > /dev/null
  "$QSTOR" umount "$Q/mnt" > /dev/null
  qmount
}
qmount
run_suite qstor "qstor (local backend, durability local)" "$Q/mnt" qremount
"$QSTOR" umount "$Q/mnt" > /dev/null

G="$W/gocryptfs"; mkdir -p "$G/cipher" "$G/mnt"
echo pw > "$G/pass"
gocryptfs -q -init -passfile "$G/pass" -scryptn 10 "$G/cipher"
gmount() { gocryptfs -q -passfile "$G/pass" "$G/cipher" "$G/mnt"; }
gremount() { fusermount3 -u "$G/mnt"; gmount; }
gmount
run_suite gocryptfs "gocryptfs $(gocryptfs -version | awk '{print $2}' | head -1 | tr -d ';')" "$G/mnt" gremount
fusermount3 -u "$G/mnt"
