#!/usr/bin/env bash
# embed_check.sh [PRESET]: installs a built preset (default release) into a temporary prefix and
# builds and runs examples/embed against it twice: through find_package(ctrack CONFIG) and
# through pkg-config. Also checks that the man pages and the bash completion were installed.
# Run by .ci/run after the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
build=build/$preset
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/ctrack/conntrack.h include/ctrack/version.h bin/ctrack \
         share/bash-completion/completions/ctrack share/man/man1/ctrack.1 \
         share/man/man1/ctrack-replay.1; do
  [ -e "$prefix/$f" ] || { echo "embed_check: $f not installed" >&2; exit 1; }
done

# 1. CMake package.
cmake -S examples/embed -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
echo "== examples/embed (find_package)"
"$work/cmake/embed"

# 2. pkg-config.
pcdir=$(dirname "$(find "$prefix" -name ctrack.pc | head -1)")
export PKG_CONFIG_PATH=$pcdir
# shellcheck disable=SC2046
${CXX:-c++} -std=c++20 -O1 examples/embed/main.cc $(pkg-config --cflags --libs ctrack) \
  -o "$work/embed-pc"
echo "== examples/embed (pkg-config)"
"$work/embed-pc"
