#!/usr/bin/env bash
# Uses the packages scripts/package.sh built as a user of another machine would:
#   1. the tarball, unpacked into an empty directory, runs with a clean environment,
#      every library outside glibc resolved from its own lib/ (none from the build tree);
#   2. the .deb names the library packages it needs, and installed with apt into a clean
#      Debian 12 root made by debootstrap, `qstor version`, `qstor validate`,
#      `qstor devnet start`, a small `apply` and a mount (write, sync, unmount, mount again
#      from a fresh cache, read back) work there; then `destroy`.
# Exit 77 (ctest: skipped) when the packages are not built, unless QSTOR_REQUIRE_PACKAGES
# is set (scripts/test.sh sets it: CI always checks them). Needs root (chroot, mounts).
# The debootstrap root is cached as build/package-test/bookworm-minbase.tar.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
pkgs=${QSTOR_PACKAGE_DIR:-$src/build/packages}
deb=$(ls "$pkgs"/qstor_*.deb 2>/dev/null | head -1 || true)
tgz=$(ls "$pkgs"/qstor-*.tar.gz 2>/dev/null | head -1 || true)
if [ -z "$deb" ] || [ -z "$tgz" ]; then
  if [ -n "${QSTOR_REQUIRE_PACKAGES:-}" ]; then
    echo "FAIL no packages in $pkgs: run scripts/package.sh" >&2
    exit 1
  fi
  echo "skipped: no packages in $pkgs (scripts/package.sh builds them)"
  exit 77
fi
work=$(mktemp -d /tmp/qstor-package-test.XXXXXX)
root="$work/root"
cleanup() {
  set +e
  if [ -x "$root/usr/bin/qstor" ]; then
    chroot "$root" env QSTOR_HOME=/root/q QSTOR_DEVNET_DIR=/root/devnet qstor umount /mnt/pkg \
      >/dev/null 2>&1
    chroot "$root" env QSTOR_HOME=/root/q QSTOR_DEVNET_DIR=/root/devnet qstor devnet stop \
      >/dev/null 2>&1
  fi
  mountpoint -q "$root/mnt/pkg" 2>/dev/null && umount -l "$root/mnt/pkg"
  for m in dev proc; do
    mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL $*" >&2; exit 1; }
ok() { echo "ok   $*"; }

# --- 1. the tarball -------------------------------------------------------------
mkdir "$work/t"
tar -C "$work/t" -xzf "$tgz"
dir=$(ls -d "$work"/t/qstor-*)
out=$(env -i PATH=/usr/bin:/bin "$dir/bin/qstor" version) || fail "tarball: qstor version"
[[ "$out" == "qstor "* ]] || fail "tarball: qstor version printed: $out"
ok "tarball: $out"
glibc='^(linux-vdso|ld-linux[^ ]*|libc|libm|libpthread|libdl|librt|libresolv|libutil|libmvec)\.so'
bundled=0
while read -r soname _ path _; do
  [[ "$soname" =~ $glibc ]] && continue
  case "$(realpath -m "$path")" in
    "$dir/lib/"*) bundled=$((bundled + 1)) ;;
    *) fail "tarball: $soname resolves to $path, not to the tarball's lib/" ;;
  esac
done < <(env -i PATH=/usr/bin:/bin ldd "$dir/bin/qstor" | awk '$2 == "=>"')
[ "$bundled" -gt 5 ] || fail "tarball: only $bundled bundled libraries resolved"
ok "tarball: $bundled libraries resolved from its own lib/"
env -i PATH=/usr/bin:/bin "$dir/bin/qstor" validate "$dir/share/doc/qstor/examples/storage.yaml" \
  >/dev/null || fail "tarball: qstor validate of its example"
[ -s "$dir/share/man/man1/qstor.1" ] || fail "tarball: no qstor.1"
[ -s "$dir/share/bash-completion/completions/qstor" ] || fail "tarball: no bash completion"
ok "tarball: validate, man page, completions"
unit="$dir/lib/systemd/system/qstor-mount@.service"
[ -s "$unit" ] || fail "tarball: no systemd unit"
sed "s|/usr/bin/qstor|$dir/bin/qstor|g" "$unit" >"$work/qstor-mount@demo.service"
verify=$(systemd-analyze verify --man=no "$work/qstor-mount@demo.service" 2>&1) ||
  fail "systemd-analyze verify qstor-mount@.service: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify qstor-mount@.service says: $verify"
ok "systemd-analyze verify qstor-mount@.service: clean"

# --- 2. the .deb ----------------------------------------------------------------
depends=$(dpkg-deb -f "$deb" Depends)
for want in libyaml-cpp libsodium libfuse3 libcurl libzstd libsqlite3 fuse3; do
  [[ "$depends" == *"$want"* ]] || fail ".deb: Depends lacks $want: $depends"
done
ok ".deb: Depends: $depends"
contents=$(dpkg-deb -c "$deb")
for want in ./usr/bin/qstor ./usr/lib/systemd/system/qstor-mount@.service \
  ./usr/share/man/man1/qstor.1 ./usr/share/bash-completion/completions/qstor \
  ./usr/share/doc/qstor/examples/storage.yaml; do
  [[ "$contents" == *" $want"* ]] || fail ".deb: no $want"
done
ok ".deb: binary, unit, man page, completions, examples"

cache="$src/build/package-test/bookworm-minbase.tar"
mkdir -p "$root"
if [ -s "$cache" ]; then
  tar -C "$root" -xf "$cache"
else
  mkdir -p "$(dirname "$cache")"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  tar -C "$root" -cf "$cache" .
fi
ok "a clean Debian 12 root (debootstrap --variant=minbase bookworm)"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
in_root apt-get update -qq >"$work/apt.log" 2>&1 || { tail "$work/apt.log"; fail "apt-get update"; }
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; fail "apt-get install"; }
ok "apt-get install ./$(basename "$deb") in the clean root"

q() { in_root env QSTOR_HOME=/root/q QSTOR_DEVNET_DIR=/root/devnet QSTOR_PASSPHRASE=package-test-pass qstor "$@"; }
q version || fail "qstor version in the root"
q validate /usr/share/doc/qstor/examples/storage.yaml >/dev/null || fail "qstor validate"
ok "qstor version, validate in the root"
q init >/dev/null 2>&1 || fail "qstor init"
q devnet start >/dev/null || fail "qstor devnet start"
uri=$(q wallet topup --amount 50 --no-wait | grep '^TFT:') || fail "wallet topup"
q devnet approve "$uri" >/dev/null || fail "devnet approve"
cat >"$root/root/pkg.yaml" <<'YAML'
apiVersion: qstor.threefold.io/v1
kind: Storage
metadata:
  name: pkg
spec:
  network: devnet
  capacity: 256MiB
  redundancy:
    dataShards: 2
    parityShards: 1
  mount:
    path: /mnt/pkg
    cacheSize: 64MiB
YAML
q apply --auto-approve /root/pkg.yaml >"$work/apply.log" 2>&1 || { tail -20 "$work/apply.log"; fail "qstor apply"; }
ok "qstor devnet start + apply (and mount) in the root"
head -c 3000000 /dev/urandom >"$work/blob"
cp "$work/blob" "$root/mnt/pkg/blob" || fail "write into the mount"
q sync /mnt/pkg --timeout 120s >/dev/null || fail "qstor sync"
q umount /root/pkg.yaml >/dev/null || fail "qstor umount by manifest"
rm -rf "$root/root/q/mount-cache"
q mount /root/pkg.yaml >/dev/null 2>&1 || fail "qstor mount with a fresh cache"
cmp "$work/blob" "$root/mnt/pkg/blob" || fail "the file read back from the grid differs"
ok "write, sync, unmount, mount from a fresh cache, read back: same bytes"
q destroy --auto-approve /root/pkg.yaml >/dev/null 2>&1 || fail "qstor destroy"
q devnet stop >/dev/null || true
ok "destroy; the packages work on a clean Debian 12"
