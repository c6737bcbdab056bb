#!/usr/bin/env bash
# The README's main job: builds ctrack, generates captures with the project's own generator and
# replays them through the engine: (1) a small web mix, printing the final table as
# `conntrack -L -o extended` and the counters as `conntrack -S` / `conntrack -C`; (2) a SYN flood
# against a 1024-entry table, with ctrack explaining what filled it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release ctrack_cli  # the CLI only: no tests or benchmarks to wait for
bin=build/release/ctrack
out=${CTRACK_DEMO_DIR:-build/demo}
mkdir -p "$out"
"$bin" gen web --conns 12 --duration 5 -o "$out/web.pcap"
echo "== ctrack replay $out/web.pcap -L -S -C"
"$bin" replay "$out/web.pcap" -L -S -C
"$bin" gen synflood --conns 200 --rate 500 --duration 20 -o "$out/synflood.pcap"
echo "== ctrack simulate $out/synflood.pcap --max 1024"
"$bin" simulate "$out/synflood.pcap" --max 1024
