// Writes classic pcap files (little endian, microsecond or nanosecond timestamps).
#ifndef CTRACK_GEN_PCAP_WRITER_H_
#define CTRACK_GEN_PCAP_WRITER_H_

#include <ctrack/packet.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ctrack {

class PcapWriter {
 public:
  // Writes to `path`; Open() returns an error line, empty on success. With `to_memory`, records
  // are kept in buffer() instead of a file (for benchmarks that replay from memory).
  PcapWriter() = default;
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  std::string Open(const std::string& path, uint32_t linktype, bool nanosecond = false);
  void OpenMemory(uint32_t linktype, bool nanosecond = false);
  void Write(Timestamp ts, const uint8_t* data, uint32_t len);
  // Flushes and closes; returns an error line, empty on success.
  std::string Close();

  const std::vector<uint8_t>& buffer() const { return buf_; }
  uint64_t records() const { return records_; }

 private:
  void Put(const void* p, size_t n);
  void FlushBuffer();

  std::FILE* file_ = nullptr;
  bool memory_ = false;
  bool nanosecond_ = false;
  bool failed_ = false;
  uint64_t records_ = 0;
  std::vector<uint8_t> buf_;
};

}  // namespace ctrack

#endif  // CTRACK_GEN_PCAP_WRITER_H_
