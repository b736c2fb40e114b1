#!/usr/bin/env bash
# Release binaries for the gateways, stripped, in target/dist/:
#   x86_64-unknown-linux-gnu        industrial PCs
#   aarch64-unknown-linux-gnu       64-bit ARM boxes (RK3568, i.MX8, Raspberry Pi 4/5 with a 64-bit OS)
#   armv7-unknown-linux-gnueabihf   32-bit ARM boxes (i.MX6, AM335x, Raspberry Pi OS 32-bit)
# Dynamically linked against glibc only (plus libgcc_s, Rust's unwinder, present on every
# glibc system); the script refuses a binary that needs anything else.
#
# Needs, for the ARM targets (Debian/Ubuntu):
#   rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
#   apt install gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf      (bundled SQLite, ring)
# Linkers and C compilers are passed through environment variables
# (CARGO_TARGET_<TRIPLE>_LINKER, CC_<triple>, AR_<triple>) so that no committed
# .cargo/config changes anyone else's builds.
#
# Usage: deploy/build-release.sh [TRIPLE...]     (default: all three)
# Builds in $CARGO_TARGET_DIR (default target/cross, so it does not hold the lock on target/).
# Prints one line per binary: path, size, newest glibc symbol version it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cross}
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p target/dist

# Shared libraries a release binary may need: glibc's own, and libgcc_s.
allowed_needed='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|ld-linux[-a-z0-9_.]*\.so\.[0-9]+)$'

for triple in "${targets[@]}"; do
  case "$triple" in
    x86_64-unknown-linux-gnu) prefix="" ;;
    aarch64-unknown-linux-gnu) prefix=aarch64-linux-gnu- ;;
    armv7-unknown-linux-gnueabihf) prefix=arm-linux-gnueabihf- ;;
    *) echo "build-release.sh: unsupported target $triple" >&2; exit 2 ;;
  esac
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    echo "build-release.sh: rustup target add $triple" >&2
    rustup target add "$triple" >&2
  fi
  if [ -n "$prefix" ]; then
    if ! command -v "${prefix}gcc" >/dev/null; then
      echo "build-release.sh: ${prefix}gcc not found: apt install gcc-${prefix%-}" >&2
      exit 2
    fi
    upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    lower=$(echo "$triple" | tr '-' '_')
    export "CARGO_TARGET_${upper}_LINKER=${prefix}gcc"
    export "CC_${lower}=${prefix}gcc"
    export "AR_${lower}=${prefix}ar"
  fi

  echo "build-release.sh: cargo build --release --target $triple" >&2
  cargo build --release --locked --target "$triple" --bin edgeproof >&2
  out="target/dist/edgeproof-${version}-${triple}"
  cp "$CARGO_TARGET_DIR/$triple/release/edgeproof" "$out"
  "${prefix}strip" --strip-unneeded "$out"

  needed=$(readelf -d "$out" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for lib in $needed; do
    if ! [[ "$lib" =~ $allowed_needed ]]; then
      echo "build-release.sh: $out needs $lib, which is not part of glibc" >&2
      exit 1
    fi
  done
  glibc=$(readelf --dyn-syms -W "$out" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
  size=$(stat -c %s "$out")
  printf '%s\t%s bytes (%s MiB)\tglibc >= %s\tneeds: %s\n' "$out" "$size" \
    "$(awk "BEGIN{printf \"%.1f\", $size/1048576}")" "$glibc" "$(echo $needed | tr ' ' ',')"
done
