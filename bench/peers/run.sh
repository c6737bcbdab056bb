#!/usr/bin/env bash
# Runs ctrack and its peers side by side on the same frames, interleaved, and prints
# min / median / max per side and the ratio of medians.
#
#   bash bench/peers/run.sh [--runs N] [--no-install] [--no-build] [--only "w1 w4 ..."]
#
# Peers: Open vSwitch 3.1's user-space conntrack (Debian openvswitch-source, built by
# build_ovs.sh; harness ovs_harness.c around conntrack_execute) and DPDK 22.11's rte_hash
# (Debian libdpdk-dev; harness dpdk_harness.c). The packages are installed here (opt-in: not by
# scripts/deps.sh) unless --no-install. Each workload is exported once by
# `ctrack bench NAME --export DIR`; every harness checks the frames' digest against ctrack's, then
# each round runs one process per side (peer, [peer,] ctrack), N rounds (default 5). ctrack-only
# workloads (new-steady, w1 --threads 2, flood) run N processes each. The raw lines go to
# build/peers/results.raw, the summary to stdout and build/peers/results.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=5
install=1
build=1
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-build) build=0; shift ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$runs" -ge 1 ] 2>/dev/null || { echo "run.sh: --runs wants a positive number" >&2; exit 2; }

if [ "$install" = 1 ]; then
  bash "$root/scripts/deps.sh"
  missing=()
  for p in openvswitch-source libdpdk-dev libpcap-dev python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" </dev/null
  fi
fi

cd "$root"
if [ "$build" = 1 ]; then
  [ -f build/release/build.ninja ] || cmake --preset release > /dev/null
  # Reconfigure so that the peer targets appear once their packages are there.
  cmake build/release > /dev/null
  nice cmake --build build/release --target ctrack ctrack_peer_dpdk ctrack_peer_ovs > /dev/null
fi
ctrack=build/release/ctrack
ovs=build/peers/ovs_harness
dpdk=build/peers/dpdk_harness
for b in "$ctrack" "$ovs" "$dpdk"; do
  [ -x "$b" ] || { echo "run.sh: $b missing (run without --no-build)" >&2; exit 1; }
done
wl=build/peers/wl
mkdir -p "$wl"
raw=build/peers/results.raw
: > "$raw"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

# workload -> peers
declare -A peers=([w1]="ovs" [w2]="ovs" [w3]="ovs" [w4]="ovs dpdk" [lookup1m]="ovs dpdk"
                  [new]="ovs dpdk")
for w in w1 lookup1m new w4 w2 w3; do
  want "$w" || continue
  "$ctrack" bench "$w" --export "$wl"
  for ((i = 1; i <= runs; i++)); do
    for p in ${peers[$w]}; do
      bin=$ovs; [ "$p" = dpdk ] && bin=$dpdk
      echo "$w $p $("$bin" "$wl" "$w" 2>/dev/null | tail -1)" >> "$raw"
    done
    echo "$w ctrack $("$ctrack" bench "$w" --repeat 1 2>/dev/null | tail -1)" >> "$raw"
    echo "  $w round $i/$runs done" >&2
  done
  rm -f "$wl/$w".*.pcap
done
for spec in "w1 --threads 2" "flood" "new-steady"; do
  w=${spec%% *}
  want "${spec// /_}" || want "$w" || continue
  for ((i = 1; i <= runs; i++)); do
    # shellcheck disable=SC2086
    echo "${spec// /_} ctrack $("$ctrack" bench $spec --repeat 1 2>/dev/null | tail -1)" >> "$raw"
    echo "  $spec run $i/$runs done" >&2
  done
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ncpu=$(nproc)
l3=$(lscpu 2>/dev/null | sed -n 's/^L3 cache:[[:space:]]*//p' | head -1)
# Some VMs expose no cache topology (no lscpu cache lines, no sysfs cache/); say so rather than
# print a size from elsewhere, and give the one figure /proc/cpuinfo has.
if [ -z "$l3" ]; then
  l3="not reported by this VM (/proc/cpuinfo cache size: $(sed -n 's/^cache size[[:space:]]*: //p' /proc/cpuinfo | head -1))"
fi
{
  echo "machine: $cpu, $ncpu CPUs, L3 $l3; kernel $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "load average at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the CPUs)"
  echo "ctrack $(git rev-parse --short HEAD 2>/dev/null || echo ?); OVS $(dpkg-query -W -f='${Version}' openvswitch-source 2>/dev/null); DPDK $(dpkg-query -W -f='${Version}' libdpdk-dev 2>/dev/null); $runs processes per side, interleaved"
  python3 "$root/bench/peers/summarize.py" "$raw"
} | tee build/peers/results.txt
