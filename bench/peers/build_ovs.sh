#!/usr/bin/env bash
# Builds Open vSwitch's user-space library (lib/libopenvswitch.la: conntrack, dp-packet, flow
# extraction) from Debian's openvswitch-source tarball with OVS's own configure, in a build
# directory outside the source tree, then links bench/peers/ovs_harness.c against it.
#
#   build_ovs.sh BUILD_DIR [TARBALL]     (default TARBALL /usr/src/openvswitch/openvswitch.tar.gz)
#
# Writes BUILD_DIR/ovs_harness. Only the library and the headers it generates are built.
set -euo pipefail
build=$(realpath -m "$1")
tarball=${2:-/usr/src/openvswitch/openvswitch.tar.gz}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$tarball" ] || { echo "build_ovs.sh: $tarball missing (apt-get install openvswitch-source)" >&2; exit 1; }
mkdir -p "$build"
if [ ! -f "$build/ovs-src/configure" ]; then
  rm -rf "$build/ovs-src" "$build/openvswitch"
  tar -C "$build" -xzf "$tarball"
  mv "$build/openvswitch" "$build/ovs-src"
fi
mkdir -p "$build/ovs"
cd "$build/ovs"
if [ ! -f Makefile ]; then
  echo "build_ovs.sh: configuring Open vSwitch in $build/ovs" >&2
  ../ovs-src/configure --disable-ssl --disable-libcapng --enable-silent-rules CFLAGS="-O2 -g" \
    > configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
fi
jobs=${CTRACK_PEER_JOBS:-2}
# Generated sources first: make's BUILT_SOURCES are not made for a single target.
built=$(printf 'include Makefile\nctrack-print-built:\n\t@echo $(BUILT_SOURCES)\n' |
        make -s -f - ctrack-print-built)
# shellcheck disable=SC2086
nice make -j"$jobs" $built lib/dirs.c > make.log 2>&1 || { tail -20 make.log >&2; exit 1; }
nice make -j"$jobs" lib/libopenvswitch.la >> make.log 2>&1 || { tail -20 make.log >&2; exit 1; }
libs=$(sed -n 's/^LIBS = //p' Makefile)
# shellcheck disable=SC2086
nice gcc -O2 -g -std=gnu11 -I. -Iinclude -Ilib -I../ovs-src/include -I../ovs-src/lib \
  -I"$here" "$here/ovs_harness.c" lib/.libs/libopenvswitch.a $libs -lpcap -lpthread -lrt \
  -o "$build/ovs_harness"
echo "build_ovs.sh: $build/ovs_harness" >&2
