#!/usr/bin/env bash
# Smoke-tests the ARM release binaries on an x86 machine under qemu-user-static: for each one,
# `--version`, `check configs/example.toml`, and a 10-second `demo` publishing to a local
# mosquitto, with a mosquitto_sub that must see data messages from every simulated device.
# Slow (release cross builds, then emulation), so it is not part of scripts/test; run it
# after deploy/build-release.sh when the build or a dependency changes.
#
# Needs (Debian/Ubuntu): qemu-user-static mosquitto mosquitto-clients python3, and the
# cross C libraries that the cross compilers bring (libc6-armhf-cross libc6-arm64-cross,
# libgcc-s1-*-cross) for qemu's -L sysroot.
#
# Usage: deploy/smoke-arm.sh [BINARY...]
#   default: target/dist/edgeproof-<version>-{aarch64-unknown-linux-gnu,armv7-unknown-linux-gnueabihf}
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  binaries=("target/dist/edgeproof-${version}-aarch64-unknown-linux-gnu"
            "target/dist/edgeproof-${version}-armv7-unknown-linux-gnueabihf")
fi
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
for tool in "$mosquitto" mosquitto_sub python3; do
  command -v "$tool" >/dev/null || { echo "smoke-arm.sh: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

failed=0
for bin in "${binaries[@]}"; do
  [ -x "$bin" ] || { echo "smoke-arm.sh: no binary $bin (deploy/build-release.sh first)" >&2; exit 2; }
  machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
  case "$machine" in
    *AArch64*) qemu=qemu-aarch64-static; sysroot=/usr/aarch64-linux-gnu ;;
    *ARM*) qemu=qemu-arm-static; sysroot=/usr/arm-linux-gnueabihf ;;
    *) echo "smoke-arm.sh: $bin is $machine, not ARM" >&2; exit 2 ;;
  esac
  command -v "$qemu" >/dev/null || { echo "smoke-arm.sh: $qemu not found (apt install qemu-user-static)" >&2; exit 2; }
  [ -d "$sysroot" ] || { echo "smoke-arm.sh: no $sysroot (apt install the cross libc)" >&2; exit 2; }
  emu() { "$qemu" -L "$sysroot" "$bin" "$@"; }
  echo "== $bin ($machine, under $qemu)"

  echo "-- --version: $(emu --version)"
  if emu check configs/example.toml >"$work/check.out" 2>&1; then
    echo "-- check configs/example.toml: ok ($(head -1 "$work/check.out"))"
  else
    echo "-- check configs/example.toml: FAILED"; cat "$work/check.out"; failed=1
  fi

  port=$(free_port)
  conf="$work/mosquitto.conf"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$conf"
  [ "$(id -u)" -eq 0 ] && echo "user root" >>"$conf"
  "$mosquitto" -c "$conf" >"$work/mosquitto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  mosquitto_sub -h 127.0.0.1 -p "$port" -t 'edgeproof/#' -v >"$work/sub.log" 2>/dev/null &
  sub=$!
  pids+=($sub)
  sleep 0.5

  started=$(date +%s.%N)
  if emu demo --duration 10s --status-every 5s --broker "mqtt://127.0.0.1:$port" \
      --metrics 127.0.0.1:0 --data-dir "$work/demo-$(basename "$bin")" >"$work/demo.out" 2>"$work/demo.err"; then
    took=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
    sleep 0.5
    kill "$sub" 2>/dev/null || true
    data=$(grep -c '/data/' "$work/sub.log" || true)
    devices=$(grep -o '/data/[^ ]*' "$work/sub.log" | sort -u | tr '\n' ' ')
    echo "-- demo --duration 10s: exit 0 after ${took} s; ${data} data messages at the subscriber from: ${devices}"
    grep '^\[' "$work/demo.out" | tail -1 | sed 's/^/   last status: /'
    if [ "${data:-0}" -eq 0 ]; then echo "-- FAILED: no data message reached the subscriber"; failed=1; fi
  else
    echo "-- demo: FAILED"; cat "$work/demo.out" "$work/demo.err" | tail -30; failed=1
  fi
  kill "${pids[@]}" 2>/dev/null || true
  pids=()
done
exit "$failed"
