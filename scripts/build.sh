#!/usr/bin/env bash
# build.sh PRESET [TARGET...]: configures and builds one of the CMakePresets.json presets (all
# targets, or only those named).
# CTRACK_WERROR=ON in the environment (CI) turns warnings into errors in the build's cache; its
# absence changes nothing, so a later build without it (scripts/demo.sh) does not flip the
# setting and rebuild everything.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
bash scripts/deps.sh
cmake --preset "$preset" ${CTRACK_WERROR:+-DCTRACK_WERROR="$CTRACK_WERROR"} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build --preset "$preset" -j"$(nproc)" "${targets[@]}"
