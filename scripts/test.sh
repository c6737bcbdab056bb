#!/usr/bin/env bash
# The README's test command: builds with warnings as errors and runs every test with ctest.
# CTRACK_TEST_PRESET=debug (ASan+UBSan) or release (default).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${CTRACK_TEST_PRESET:-release}
bash scripts/build.sh "$preset"
ctest --preset "$preset" --output-on-failure -j"$(nproc)"
