#!/usr/bin/env bash
# Installs every build and test dependency of mpswitch from Debian 12 packages. Idempotent and
# non-interactive: it only calls apt-get when something is missing.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config python3
  clang libclang-rt-14-dev          # libFuzzer targets
  libssl-dev libsrtp2-dev libabsl-dev
  openssl                           # the CLI: lsc_test checks CSRs with `openssl req -verify`
  libtomlplusplus-dev               # the daemon's TOML config file
  libgtest-dev libgmock-dev libbenchmark-dev
  libdpdk-dev                       # DPDK backend (pulls in the net_pcap/net_ring/net_tap drivers)
  iproute2                          # ip: the kernel side of the net_tap port in the DPDK meeting test
)
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  pkgs+=(libipsec-mb-dev)           # multi-buffer HMAC-SHA1 on x86-64
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# What tests that would otherwise skip need from the machine: /dev/net/tun (the DPDK meeting on a
# net_tap port) and IPv6 on loopback (the IPv6 socket test). Best effort: a container without
# them still builds and runs everything else, and the test summary names what skipped.
if [ ! -c /dev/net/tun ]; then
  $sudo modprobe tun 2>/dev/null || true
  if [ ! -c /dev/net/tun ]; then
    $sudo mkdir -p /dev/net && $sudo mknod -m 0666 /dev/net/tun c 10 200 2>/dev/null || true
  fi
fi
if [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null || echo 0)" != 0 ]; then
  $sudo sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 2>/dev/null || true
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
