#!/usr/bin/env bash
# Installs everything routectl's demo and tests need on a fresh Debian 12 machine:
# Debian packages (FRR, BIRD, GoBGP, dockerd, iptables, ipset, …) and the npm packages,
# then builds. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(frr bird2 gobgpd busybox-static iptables ipset nftables tshark iproute2 docker.io
      etcd-server podman containernetworking-plugins golang-go procps psmisc
      golang-github-osrg-gobgp-dev golang-github-appc-cni-dev python3 exabgp)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The packages start their own daemons in the root namespace on install; the lab
# starts its own copies inside network namespaces, so stop the packaged ones.
for svc in frr bird gobgpd docker containerd etcd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
