#!/usr/bin/env bash
# Installs the Debian packages ctrack builds and tests with, when any is missing.
set -euo pipefail
# python3: tests/fuzz/make_corpus.py and the scripts; conntrack/nftables/iproute2: the live-host
# tests compare with the kernel's own tools inside namespaces they create; help2man: the man
# pages, generated from --help; python3-yaml: the deploy/ manifests are parsed as YAML by the tests.
pkgs=(cmake ninja-build g++ pkg-config libgtest-dev libgmock-dev googletest
      libbenchmark-dev libmnl-dev libcpp-httplib-dev python3 python3-yaml nftables conntrack
      iproute2 iptables help2man)
# promtool (Debian `prometheus`, large; opt-in) checks the rules file and the exporter's output.
[ "${CTRACK_WITH_PROMETHEUS:-0}" = 1 ] && pkgs+=(prometheus)
# Headless Chromium for the HTML report rendering test (large; opt-in).
[ "${CTRACK_WITH_CHROMIUM:-0}" = 1 ] && pkgs+=(chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ctrack: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi
