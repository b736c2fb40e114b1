#!/usr/bin/env bash
# Builds edgeproof_<version>_<arch>.deb from an already built binary, with dpkg-deb alone:
# no cargo-deb to compile, no debhelper, no fakeroot (dpkg-deb --root-owner-group).
#
# What the package does (deploy/README.md has the operator's view):
#   /usr/bin/edgeproof                      the binary (stripped unless --no-strip)
#   /lib/systemd/system/edgeproof.service   the unit; not enabled, not started
#   /etc/edgeproof/edgeproof.example.toml   the annotated example, a conffile (configs/example.toml)
#   /etc/edgeproof/edgeproof.toml           the live config: copied from the example by
#                                           postinst only when absent, so an existing config is
#                                           never overwritten and never prompted about — not on
#                                           install over a hand-made file, not on upgrade.
#                                           (Shipping it as the conffile itself makes a
#                                           non-interactive `dpkg -i` fail at a conffile prompt
#                                           whenever the file already exists.) Purge removes both.
#   /usr/share/doc/edgeproof/               README.md, deploy README, CHANGELOG, copyright
#   postinst: system user and group `edgeproof` (adduser --system), member of `dialout`
#             for serial ports; the live config if absent, readable by that group only;
#             daemon-reload;
#             on upgrade `try-restart` (restarts only a running service)
#   prerm:    stops the service on remove
#   postrm:   keeps /var/lib/edgeproof (journal, evidence log, keys) even on purge
#
# Usage: deploy/build-deb.sh [--binary PATH] [--arch DEB_ARCH] [--out DIR] [--no-strip] [--fast]
#   --binary  default target/release/edgeproof
#   --arch    amd64 | arm64 | armhf; default: from the binary's ELF header
#   --out     default target/deb
#   --fast    gzip -1 instead of xz (tests: a debug binary compresses in a second)
# Prints the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=target/release/edgeproof
arch=""
out=target/deb
strip_binary=1
compress=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-strip) strip_binary=0; shift ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "build-deb.sh: no executable at $binary (cargo build --release first)" >&2; exit 2; }
for tool in dpkg-deb readelf; do
  command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool not found (apt install dpkg binutils)" >&2; exit 2; }
done

machine=$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
case "$machine" in
  *X86-64*) elf_arch=amd64; strip_tool=strip ;;
  *AArch64*) elf_arch=arm64; strip_tool=aarch64-linux-gnu-strip ;;
  *ARM*) elf_arch=armhf; strip_tool=arm-linux-gnueabihf-strip ;;
  *) echo "build-deb.sh: unknown ELF machine '$machine' in $binary" >&2; exit 2 ;;
esac
arch=${arch:-$elf_arch}
[ "$arch" = "$elf_arch" ] || { echo "build-deb.sh: --arch $arch but $binary is $elf_arch" >&2; exit 2; }
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" \
  "$stage/etc/edgeproof" "$stage/usr/share/doc/edgeproof"
install -m 0755 "$binary" "$stage/usr/bin/edgeproof"
if [ "$strip_binary" = 1 ]; then
  if command -v "$strip_tool" >/dev/null; then
    "$strip_tool" --strip-unneeded "$stage/usr/bin/edgeproof"
  else
    echo "build-deb.sh: $strip_tool not found; packaging the binary unstripped" >&2
  fi
fi
install -m 0644 deploy/systemd/edgeproof.service "$stage/lib/systemd/system/edgeproof.service"
install -m 0644 configs/example.toml "$stage/etc/edgeproof/edgeproof.example.toml"
install -m 0644 README.md "$stage/usr/share/doc/edgeproof/README.md"
install -m 0644 deploy/README.md "$stage/usr/share/doc/edgeproof/README.deploy.md"
install -m 0644 CHANGELOG.md "$stage/usr/share/doc/edgeproof/CHANGELOG.md"
cat > "$stage/usr/share/doc/edgeproof/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: edgeproof
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
EOF

# Runtime dependencies from the binary itself: the newest glibc symbol version it needs,
# and libgcc_s (Rust's unwinder) when it is linked.
glibc=$(readelf --dyn-syms -W "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
depends="libc6 (>= ${glibc:-2.31}), adduser"
if readelf -d "$binary" | grep -q 'NEEDED.*libgcc_s'; then
  depends="$depends, libgcc-s1"
fi
size_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)

cat > "$stage/DEBIAN/control" <<EOF
Package: edgeproof
Version: $version
Architecture: $arch
Maintainer: edgeproof maintainers <edgeproof@localhost>
Section: net
Priority: optional
Installed-Size: $size_kib
Depends: $depends
Description: data-collection agent for factory gateways
 Polls PLCs, meters and sensors over Modbus, keeps every reading in a local
 journal until an MQTT broker acknowledged it, and logs signed usage evidence.
 The systemd service is installed but neither enabled nor started: edit
 /etc/edgeproof/edgeproof.toml, check it with
 "edgeproof doctor -c /etc/edgeproof/edgeproof.toml", then
 "systemctl enable --now edgeproof".
EOF
echo /etc/edgeproof/edgeproof.example.toml > "$stage/DEBIAN/conffiles"

cat > "$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd edgeproof >/dev/null; then
        adduser --quiet --system --group --home /var/lib/edgeproof --no-create-home edgeproof
    fi
    # RS-485 / serial adapters belong to dialout.
    if getent group dialout >/dev/null; then
        adduser --quiet edgeproof dialout
    fi
    # The live config, only if there is none: never overwrite what the operator wrote. It
    # may hold a broker password, so it is readable by the service's group only.
    if [ ! -e /etc/edgeproof/edgeproof.toml ]; then
        install -m 0640 -o root -g edgeproof /etc/edgeproof/edgeproof.example.toml \
            /etc/edgeproof/edgeproof.toml
    fi
    # For `edgeproof run` / `doctor` by hand; under systemd StateDirectory= makes it too.
    if [ ! -d /var/lib/edgeproof ]; then
        install -d -o edgeproof -g edgeproof -m 0750 /var/lib/edgeproof
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        # An upgrade restarts a running service; nothing is started otherwise.
        if [ -n "$2" ]; then
            systemctl try-restart edgeproof.service >/dev/null || true
        fi
    fi
fi
exit 0
EOF

cat > "$stage/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop edgeproof.service >/dev/null 2>&1 || true
fi
exit 0
EOF

cat > "$stage/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
case "$1" in
    remove)
        if [ -d /run/systemd/system ]; then
            systemctl --system daemon-reload >/dev/null || true
        fi
        ;;
    purge)
        # The live config postinst made (dpkg removes the example conffile itself).
        rm -f /etc/edgeproof/edgeproof.toml
        rmdir /etc/edgeproof 2>/dev/null || true
        # An enablement left behind by `systemctl enable` would dangle now.
        rm -f /etc/systemd/system/multi-user.target.wants/edgeproof.service
        if [ -d /var/lib/edgeproof ]; then
            echo "edgeproof: keeping /var/lib/edgeproof (journal, evidence log, keys);" \
                 "remove it by hand once its evidence is no longer needed." >&2
        fi
        ;;
esac
exit 0
EOF
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/edgeproof_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"
