#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine (run as root, or with sudo):
# installs dependencies, builds qstor, and on the embedded devnet:
#   validate examples/storage.yaml -> create an identity -> top up the wallet
#   (the devnet plays the phone app) -> qstor apply (deploy 0-db namespaces,
#   mount at /mnt/qstor-demo) -> write a file, sync it to the grid, read it
#   back and compare -> qstor status.
#
# It keeps its demo identity and devnet under .quickstart/ in this checkout
# (QSTOR_HOME, QSTOR_DEVNET_DIR), so it never touches a real keystore. The
# demo keystore's passphrase is random and kept in .quickstart/passphrase
# (mode 0600) so you can go on with the demo afterwards:
#   export QSTOR_HOME=$PWD/.quickstart/home QSTOR_DEVNET_DIR=$PWD/.quickstart/devnet
#   export QSTOR_PASSPHRASE=$(cat .quickstart/passphrase)
#   build/cli/qstor status examples/storage.yaml
# Running it again is safe: it reuses the identity and the deployment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
QSTOR="$PWD/build/cli/qstor"
DEMO="$PWD/.quickstart"
mkdir -p "$DEMO"
chmod 700 "$DEMO"
export QSTOR_HOME="$DEMO/home" QSTOR_DEVNET_DIR="$DEMO/devnet"
if [ ! -s "$DEMO/passphrase" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 > "$DEMO/passphrase")
fi
QSTOR_PASSPHRASE="$(cat "$DEMO/passphrase")"
export QSTOR_PASSPHRASE

step() { echo; echo "\$ qstor $*"; "$QSTOR" "$@"; }

step --version
step validate examples/storage.yaml
if [ ! -f "$QSTOR_HOME/keystore.json" ]; then
  echo
  echo "\$ qstor init     # a fresh 24-word identity for this demo"
  "$QSTOR" init
fi
step devnet start

# Fund the wallet the way a user does: `wallet topup` prints the bridge QR;
# on the devnet `qstor devnet approve` plays the ThreeFold Connect app.
free=$("$QSTOR" --json wallet balance | sed -n 's/.*"free_units":\([0-9]*\).*/\1/p')
if [ "${free:-0}" -lt 200000000 ]; then  # under 20 TFT
  echo
  echo "\$ qstor wallet topup --amount 50 --no-wait"
  uri=$("$QSTOR" wallet topup --amount 50 --no-wait | grep '^TFT:')
  echo "$uri"
  step devnet approve "$uri"
fi
step wallet balance

# Deploy and mount (the mount point is spec.mount.path of the manifest).
step apply examples/storage.yaml --auto-approve
MNT=/mnt/qstor-demo

echo
echo "\$ write 8 MiB of random data to $MNT/hello.bin, sync it to the grid, read it back"
head -c 8388608 /dev/urandom > "$DEMO/hello.bin"
cp "$DEMO/hello.bin" "$MNT/hello.bin"
"$QSTOR" sync "$MNT"
echo "written: $(sha256sum < "$DEMO/hello.bin" | cut -c1-64)"
echo "read:    $(sha256sum < "$MNT/hello.bin" | cut -c1-64)"
cmp "$DEMO/hello.bin" "$MNT/hello.bin"
echo "the file reads back byte for byte"
set +e
step status examples/storage.yaml
set -e
echo
echo "Done. The storage stays mounted at $MNT; to clean up:"
echo "  build/cli/qstor destroy examples/storage.yaml --auto-approve && build/cli/qstor devnet stop"
echo "(with the QSTOR_HOME, QSTOR_DEVNET_DIR and QSTOR_PASSPHRASE shown at the top of this script)"
