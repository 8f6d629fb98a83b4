#!/usr/bin/env bash
# Installs every build and test dependency of mpswitch from Debian 12 packages. Idempotent and
# non-interactive: it only calls apt-get when something is missing.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config python3
  clang libclang-rt-14-dev          # libFuzzer targets
  libssl-dev libsrtp2-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libdpdk-dev                       # DPDK backend (pulls in the net_pcap/net_ring/net_tap drivers)
  iproute2                          # ip: the kernel side of the net_tap port in the DPDK meeting test
)
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  pkgs+=(libipsec-mb-dev)           # multi-buffer HMAC-SHA1 on x86-64
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
