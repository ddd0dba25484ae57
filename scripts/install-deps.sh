#!/usr/bin/env bash
# Installs every build, test and runtime dependency of qstor from Debian 12
# packages. Idempotent: packages already present are skipped quickly.
# Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git clang
  # libraries (one per use, see docs/architecture.md)
  libyaml-cpp-dev          # manifest parsing (reconciler)
  nlohmann-json3-dev       # JSON everywhere
  libspdlog-dev libfmt-dev # logging
  libcli11-dev             # command line (cli)
  libboost-dev             # Asio + Beast (zdb server/client, devnet HTTP)
  libsodium-dev            # ed25519, BLAKE2b, AEAD, KDF, Argon2id
  libisal-dev              # Reed-Solomon erasure coding (fs)
  libzstd-dev              # compression (fs)
  libssl-dev               # libcrypto: fast Poly1305 for parity shard checks (fs/poly1305.h)
  libfuse3-dev fuse3       # the mount (fs)
  libqrencode-dev          # QR codes for ThreeFold Connect (reconciler)
  zlib1g-dev               # PNG output of the QR codes (reconciler/qr.cc)
  libsqlite3-dev           # devnet ledger, the mount's metadata
  libxxhash-dev            # checksums of the mount's cached blocks (fs/mount)
  libcurl4-openssl-dev     # HTTP client for the grid API (grid)
  # tests
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-tools              # redis-cli: a client nobody here wrote (zdb tests)
  zbar-tools               # zbarimg decodes the QR PNGs in tests
  groff-base               # groff checks the generated qstor(1) page in tests
  fio gocryptfs            # mount benchmarks: qstor vs gocryptfs (docs/benchmarks.md)
  wrk                      # HTTP load generator for the devnet /nodes benchmark (docs/benchmarks.md)
  libclang-rt-14-dev       # libFuzzer runtime for the fuzz targets
  procps psmisc curl ca-certificates
  # packages (scripts/package.sh) and their install test (tests/package/)
  dpkg-dev                 # dpkg-shlibdeps: the .deb's library dependencies
  patchelf                 # the relocatable tarball's RPATH
  debootstrap              # a clean Debian 12 root to install the .deb into
  systemd                  # systemd-analyze verify of the units
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# ajv (JSON Schema tests) needs node and npm; a machine may already have a
# newer Node.js whose package bundles npm, so look for the commands.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
