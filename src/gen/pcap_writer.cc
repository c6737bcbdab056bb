#include "gen/pcap_writer.h"

#include <cerrno>
#include <cstring>

namespace ctrack {
namespace {
constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr size_t kFlushAt = 1 << 22;
}  // namespace

PcapWriter::~PcapWriter() {
  if (file_) std::fclose(file_);
}

std::string PcapWriter::Open(const std::string& path, uint32_t linktype, bool nanosecond) {
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) return path + ": " + std::strerror(errno);
  OpenMemory(linktype, nanosecond);
  memory_ = false;
  return "";
}

void PcapWriter::OpenMemory(uint32_t linktype, bool nanosecond) {
  memory_ = true;
  nanosecond_ = nanosecond;
  uint32_t hdr[6] = {nanosecond ? kMagicNano : kMagicMicro, 0x00040002u, 0, 0, 65535, linktype};
  Put(hdr, sizeof(hdr));
}

void PcapWriter::Write(Timestamp ts, const uint8_t* data, uint32_t len) {
  uint32_t rec[4];
  rec[0] = static_cast<uint32_t>(ts / kNsPerSec);
  Timestamp frac = ts % kNsPerSec;
  rec[1] = static_cast<uint32_t>(nanosecond_ ? frac : frac / 1000);
  rec[2] = len;
  rec[3] = len;
  Put(rec, sizeof(rec));
  Put(data, len);
  ++records_;
}

void PcapWriter::Put(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  buf_.insert(buf_.end(), b, b + n);
  if (!memory_ && buf_.size() >= kFlushAt) FlushBuffer();
}

void PcapWriter::FlushBuffer() {
  if (file_ && !buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
    failed_ = true;
  }
  buf_.clear();
}

std::string PcapWriter::Close() {
  if (!file_) return "";
  FlushBuffer();
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (failed_ || rc != 0) return std::string("write failed: ") + std::strerror(errno);
  return "";
}

}  // namespace ctrack
