#!/usr/bin/env bash
# The README's main job: builds ctrack, generates a capture with the project's own generator and
# replays it through the engine, printing the final table and the counters.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh release
bin=build/release/ctrack
out=${CTRACK_DEMO_DIR:-build/demo}
mkdir -p "$out"
"$bin" gen web -o "$out/web.pcap"
"$bin" replay "$out/web.pcap" -L -S -C
