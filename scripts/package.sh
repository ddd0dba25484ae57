#!/usr/bin/env bash
# Builds the release packages of qstor into build/packages/:
#   qstor_<version>_<arch>.deb          Debian 12 and derivatives (apt install ./qstor_*.deb)
#   qstor-<version>-linux-<arch>.tar.gz any Linux with glibc >= Debian 12's (2.36): bin/qstor
#       with the shared libraries it needs beside it (lib/, found through an RPATH of
#       $ORIGIN/../lib), the manual page, completions, systemd unit, docs and examples.
# Usage: scripts/package.sh   (installs missing Debian packages first)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQSTOR_TESTS=OFF -DQSTOR_WERROR=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
ninja -C build -j"$jobs" qstor qstor_docs
out="$PWD/build/packages"
rm -rf "$out"
mkdir -p "$out"
version=$(sed -n 's/^project(qstor VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
arch_deb=$(dpkg --print-architecture)
arch=$(uname -m)

# .deb: CPack, dependencies from dpkg-shlibdeps.
(cd build && cpack -G DEB -B "$out/cpack" >/dev/null)
mv "$out"/cpack/qstor_*.deb "$out/"
rm -rf "$out/cpack"

# .tar.gz: the same install tree under a versioned directory, plus every
# shared library qstor loads except glibc's own (always there, and tied to
# the system's loader).
name="qstor-$version-linux-$arch"
stage="$out/stage/$name"
DESTDIR="$out/stage/root" cmake --install build --prefix /usr >/dev/null
mkdir -p "$stage"
cp -a "$out/stage/root/usr/." "$stage/"
mkdir -p "$stage/lib"
glibc='^(linux-vdso|ld-linux[^ ]*|libc|libm|libpthread|libdl|librt|libresolv|libutil|libmvec)\.so'
ldd "$stage/bin/qstor" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r soname path; do
  if [[ "$soname" =~ $glibc ]]; then continue; fi
  cp -L "$path" "$stage/lib/$soname"
  chmod 0644 "$stage/lib/$soname"
  patchelf --force-rpath --set-rpath '$ORIGIN' "$stage/lib/$soname"
done
# DT_RPATH (not RUNPATH): it also applies to the libraries' own dependencies.
patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$stage/bin/qstor"
tar -C "$out/stage" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
rm -rf "$out/stage"

for f in "$out"/*; do
  printf '%s\t%s bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"
done
