// Reading capture files (pcap, either byte order, µs or ns; pcapng) through libpcap.
//
// Errors are returned as one-line strings that name the file; nothing here prints or exits.
// Timestamps are always in nanoseconds (libpcap opened with nanosecond precision).
#ifndef CTRACK_IO_PCAP_READER_H_
#define CTRACK_IO_PCAP_READER_H_

#include <ctrack/conntrack.h>
#include <ctrack/packet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct pcap pcap_t;

namespace ctrack {

// One record as read. `data` points into the reader's buffer and is valid until the next call.
struct CaptureRecord {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;
  uint32_t wirelen = 0;
  Timestamp ts = 0;
};

// Streams the records of one capture file.
//
//   PcapReader r;
//   if (std::string err = r.Open(path); !err.empty()) { ... }
//   CaptureRecord rec;
//   while (r.Next(&rec)) { ... }
//   if (!r.warning().empty()) { ... }  // e.g. the last record was cut short
class PcapReader {
 public:
  PcapReader() = default;
  ~PcapReader();
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // Opens `path`. Returns "" on success, else "<path>: <problem>" (missing file, directory,
  // empty file, truncated file header, bad magic, snaplen 0, unsupported link type, ...).
  std::string Open(const std::string& path);
  // Opens a capture held in memory (`size` bytes at `data`, which must outlive the reader);
  // `name` stands for the path in messages. Same checks and errors as Open (for fuzzing).
  std::string OpenMemory(const uint8_t* data, size_t size, const std::string& name);

  // Reads the next record. Returns false at the end of the file, and also when the rest of the
  // file cannot be read (a record cut short, a corrupt record header): then warning() says why
  // and the records before stay valid, as tcpdump does with "truncated dump file".
  bool Next(CaptureRecord* rec);

  uint32_t linktype() const { return linktype_; }
  const std::string& path() const { return path_; }
  // Empty unless reading stopped early; one line naming the file.
  const std::string& warning() const { return warning_; }
  // Records returned so far.
  uint64_t records() const { return records_; }

 private:
  void Reset(const std::string& path);
  std::string CheckLinkType();

  pcap_t* pcap_ = nullptr;
  std::string path_;
  std::string warning_;
  uint32_t linktype_ = 0;
  uint64_t records_ = 0;
};

// A whole capture in memory (for benchmarks and repeated replays): frames point into `bytes`.
struct LoadedCapture {
  std::string path;
  uint32_t linktype = 0;
  std::vector<uint8_t> bytes;
  std::vector<Frame> frames;
  std::string warning;  // as PcapReader::warning()
};

// Reads every record of `path` into `out`. Returns "" or a one-line error (as PcapReader::Open).
std::string LoadCapture(const std::string& path, LoadedCapture* out);

}  // namespace ctrack

#endif  // CTRACK_IO_PCAP_READER_H_
