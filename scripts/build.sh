#!/usr/bin/env bash
# build.sh PRESET: configures and builds one of the CMakePresets.json presets.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
bash scripts/deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)"
