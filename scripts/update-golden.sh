#!/bin/sh
# Rewrites tests/golden/expected/* from the current ctrack binary. Review `git diff` afterwards:
# every change in an expected file is a change in ctrack's output.
#
# usage: scripts/update-golden.sh [BUILD_DIR]   (default: build)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$root/build"}
cmake --build "$build" --target ctrack_cli ctrack_tests
CTRACK_UPDATE_GOLDEN=1 CTRACK_BIN="$build/ctrack" \
  "$build/tests/ctrack_tests" --gtest_filter='Manifest/CliGolden.*' --gtest_brief=1
echo "expected files rewritten under $root/tests/golden/expected; review with: git diff --stat tests/golden"
