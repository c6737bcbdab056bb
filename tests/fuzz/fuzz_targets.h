// Fuzz entry points, shared by the libFuzzer binaries and the ctest corpus replay.
#ifndef CTRACK_TESTS_FUZZ_TARGETS_H_
#define CTRACK_TESTS_FUZZ_TARGETS_H_

#include <cstddef>
#include <cstdint>

namespace ctrack::fuzz {

// Link + IP input + L3/L4 parse + tuple + ICMP inner tuple on one frame, every link type.
int FuzzParse(const uint8_t* data, size_t size);
// A sequence of packets derived from the input through one small table (max 8, 4 buckets) so
// that early drop, expiry, GC and defragmentation run.
int FuzzTrack(const uint8_t* data, size_t size);
// The input as a capture file read through the pcap reader.
int FuzzPcap(const uint8_t* data, size_t size);
// The input as `--set NAME=VALUE` text.
int FuzzSet(const uint8_t* data, size_t size);
// The input as a pasted dump or snapshot file (ReadSnapshotText: conntrack -L, /proc, -S,
// /proc/net/stat, sysctl text, ctrack JSON lines); every entry read is written back and re-read
// (must round-trip) and imported into a small table.
int FuzzSnapshot(const uint8_t* data, size_t size);
// The input as one recv() of ctnetlink messages: walked, each decoded as a conntrack entry and
// as per-CPU counters, the entries printed; and the whole input decoded as one message.
int FuzzNetlink(const uint8_t* data, size_t size);

}  // namespace ctrack::fuzz

#endif  // CTRACK_TESTS_FUZZ_TARGETS_H_
