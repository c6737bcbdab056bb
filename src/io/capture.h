// Reading capture files without libpcap: classic pcap (either byte order, µs or ns) and pcapng
// (every section and byte order, any number of interfaces, each with its own link type, snapshot
// length and timestamp resolution/offset; enhanced, simple and obsolete packet blocks).
//
// What is read, and how, follows the kernel oracle's reader (kernel-ct), so that packet i here is
// row i of its verdicts.tsv:
//   * pcap: every record as stored, also records longer than the header's snaplen and files
//     with snaplen 0; a last record cut short is returned with the bytes that are there (it may
//     still hold a whole IP datagram) and a warning.
//   * pcapng: blocks other than packets (interface, name resolution, statistics, custom, ...)
//     give no record and take no index; a last block cut short is dropped with a warning.
//
// Untrusted input: every read is checked against what the file holds; a structure that cannot be
// (block length below the minimum, not a multiple of 4, above kMaxCaptureBlock, trailing length
// different, a packet naming an undefined interface, ...) stops reading with an error naming the
// file and offset. No allocation follows a declared length: the buffer grows only as bytes
// actually arrive, and never beyond kMaxCaptureBlock plus one read chunk.
//
// Errors and warnings are returned as one-line strings that name the file; nothing here prints
// or exits. Timestamps are nanoseconds, clamped to [0, 2^62].
#ifndef CTRACK_IO_CAPTURE_H_
#define CTRACK_IO_CAPTURE_H_

#include <ctrack/conntrack.h>
#include <ctrack/packet.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ctrack {

// The largest pcap record or pcapng block accepted: far above any real frame (an IP datagram is
// at most 64 KiB, snapshot lengths at most 256 KiB), small enough to buffer.
inline constexpr uint32_t kMaxCaptureBlock = 16u << 20;

// One packet as read. `data` points into the reader's buffer (or the memory image) and stays
// valid until the next call.
struct CaptureRecord {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;
  uint32_t wirelen = 0;  // original length, never below caplen
  Timestamp ts = 0;
  uint32_t linktype = 0;   // LINKTYPE_* of the record's interface (file values, e.g. 101 raw)
  uint32_t interface = 0;  // pcap: 0; pcapng: interface number in file order over all sections
};

// Streams the records of one capture file.
//
//   CaptureReader r;
//   if (std::string err = r.Open(path); !err.empty()) { ... }
//   CaptureRecord rec;
//   while (r.Next(&rec)) { ... }
//   if (!r.error().empty()) { ... }    // malformed: "<path>: ... at offset N"
//   if (!r.warning().empty()) { ... }  // the last record or block was cut short
class CaptureReader {
 public:
  CaptureReader() = default;
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // Opens `path` and reads its file header (pcap) or first section header (pcapng). Returns ""
  // or "<path>: <problem>" (missing file, directory, empty file, truncated file header, bad
  // magic, unsupported link type of a pcap file, malformed section header, ...).
  std::string Open(const std::string& path);
  // The same on a capture held in memory (`size` bytes at `data`, which must outlive the
  // reader); `name` stands for the path in messages. Reads nothing beyond data + size.
  std::string OpenMemory(const uint8_t* data, size_t size, const std::string& name);

  // Reads the next packet. Returns false at the end, after a cut-short end (warning()) and on a
  // malformed structure (error()); the records returned before stay valid.
  bool Next(CaptureRecord* rec);

  const std::string& path() const { return path_; }
  bool pcapng() const { return pcapng_; }
  // pcap: the header's link type. pcapng: the first interface's (0 before there is one).
  uint32_t linktype() const { return linktype_; }
  const std::string& error() const { return error_; }
  const std::string& warning() const { return warning_; }
  uint64_t records() const { return records_; }

 private:
  struct Interface {
    uint32_t linktype = 0;
    uint32_t snaplen = 0;
    bool binary_resolution = false;  // if_tsresol: units of 2^-exp (else 10^-exp) seconds
    uint8_t resolution_exp = 6;      // default: microseconds
    int64_t offset_s = 0;            // if_tsoffset, seconds added to every timestamp
  };

  void Reset(const std::string& path);
  std::string Start();
  // Makes up to `n` bytes from the current position readable at Cur(); returns how many are.
  size_t Fill(size_t n);
  const uint8_t* Cur() const;
  void Skip(size_t n);
  bool Fail(const std::string& what);  // sets error_ ("<path>: <what>"), stops; returns false
  bool Cut(const std::string& what);   // sets warning_, stops; returns false
  std::string AtOffset() const;        // " at offset N" of the current position

  // Fields in the byte order of the file or section (parse/bytes.h reads).
  uint16_t U16(const uint8_t* p) const;
  uint32_t U32(const uint8_t* p) const;
  uint64_t U64(const uint8_t* p) const;

  bool NextPcap(CaptureRecord* rec);
  bool NextPcapng(CaptureRecord* rec);
  // One pcapng block: a packet (filled into *rec), another block, or the end (clean, cut short
  // or malformed: done_ is set).
  enum class Block { kPacket, kSkipped, kStop };
  Block ReadBlock(CaptureRecord* rec);
  // Makes the whole block at Cur() readable and checks its framing (type, length against the
  // type's minimum and the limit, trailing length); a section header first sets the byte order.
  // False once stopped (clean end, Cut() or Fail()).
  bool FrameBlock(uint32_t* type, uint32_t* len);
  bool SectionByteOrder(const uint8_t* block, size_t got);
  // Block bodies (between the length fields); false after Fail().
  bool SectionHeader(const uint8_t* body, uint32_t len);
  bool InterfaceDescription(const uint8_t* body, uint32_t len);
  bool PacketBlock(uint32_t type, const uint8_t* body, uint32_t len, CaptureRecord* rec);
  bool SimplePacketBlock(const uint8_t* body, uint32_t len, CaptureRecord* rec);
  void FillRecord(uint32_t ifid, const uint8_t* data, uint32_t caplen, uint32_t origlen,
                  CaptureRecord* rec) const;
  Timestamp PcapngTime(const Interface& ifc, uint64_t units) const;

  // Source: a memory image, or a file read through buf_.
  const uint8_t* mem_ = nullptr;
  size_t mem_size_ = 0;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0, end_ = 0;  // readable bytes of buf_
  bool eof_ = false;
  uint64_t offset_ = 0;  // file offset of the current position

  std::string path_, error_, warning_;
  bool done_ = false;
  bool pcapng_ = false;
  bool big_endian_ = false;  // byte order of the pcap file / the current pcapng section
  bool nano_ = false;        // pcap: nanosecond timestamps
  uint32_t linktype_ = 0;
  uint64_t records_ = 0;
  std::vector<Interface> interfaces_;  // of the current pcapng section
  uint32_t interface_base_ = 0;        // interfaces of the sections before
  Timestamp last_ts_ = 0;              // a simple packet block has none: the previous packet's
};

// A whole capture in memory (simulation, benchmarks, tests): frames point into `bytes`; frame i
// has link type linktypes[i] and interface interfaces[i].
struct LoadedCapture {
  std::string path;
  std::vector<uint8_t> bytes;
  std::vector<Frame> frames;
  std::vector<uint32_t> linktypes;
  std::vector<uint32_t> interfaces;
  std::string warning;  // as CaptureReader::warning()

  // Maximal runs of frames with one link type, in order (what one ProcessBatch call can take).
  struct LinkRun {
    size_t begin, end;
    uint32_t linktype;
  };
  std::vector<LinkRun> LinkRuns() const;
};

// Reads every record of `path` into `out`. Returns "" or a one-line error (as
// CaptureReader::Open, or the reader's error()); a cut-short end is only a warning.
std::string LoadCapture(const std::string& path, LoadedCapture* out);
// The same from a file image in memory (copied; `name` stands for the path in messages).
std::string LoadCaptureMemory(const uint8_t* data, size_t size, const std::string& name,
                              LoadedCapture* out);

}  // namespace ctrack

#endif  // CTRACK_IO_CAPTURE_H_
