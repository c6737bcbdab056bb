#include "io/capture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "parse/bytes.h"

namespace ctrack {
namespace {

constexpr uint32_t kPcapMagicUs = 0xa1b2c3d4;
constexpr uint32_t kPcapMagicNs = 0xa1b23c4d;
constexpr size_t kPcapFileHeaderLen = 24;
constexpr size_t kPcapRecordHeaderLen = 16;

// pcapng block types (draft-ietf-opsawg-pcapng).
constexpr uint32_t kShb = 0x0a0d0d0a;  // section header (palindromic: same in both orders)
constexpr uint32_t kIdb = 1;           // interface description
constexpr uint32_t kOpb = 2;           // obsolete packet block
constexpr uint32_t kSpb = 3;           // simple packet block
constexpr uint32_t kEpb = 6;           // enhanced packet block
constexpr uint32_t kByteOrderMagic = 0x1a2b3c4d;
// Smallest total length of each block: type, length, fixed fields, trailing length.
constexpr uint32_t kMinBlock = 12;
constexpr uint32_t kMinShb = 28;
constexpr uint32_t kMinIdb = 20;
constexpr uint32_t kMinEpb = 32;  // also the obsolete packet block
constexpr uint32_t kMinSpb = 16;
// Interface options.
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptTsResol = 9;
constexpr uint16_t kOptTsOffset = 14;

constexpr size_t kReadChunk = 256 << 10;

constexpr Timestamp kMaxTimestamp = Timestamp{1} << 62;  // about the year 2116

__extension__ using U128 = unsigned __int128;
__extension__ using I128 = __int128;

Timestamp Clamp(I128 t) {
  if (t < 0) return 0;
  return t > kMaxTimestamp ? kMaxTimestamp : static_cast<Timestamp>(t);
}

std::string Hex4(const uint8_t* p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x%02x%02x%02x", p[0], p[1], p[2], p[3]);
  return buf;
}

}  // namespace

CaptureReader::~CaptureReader() {
  if (fd_ >= 0) close(fd_);
}

void CaptureReader::Reset(const std::string& path) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  mem_ = nullptr;
  mem_size_ = 0;
  buf_.clear();
  pos_ = end_ = 0;
  eof_ = false;
  offset_ = 0;
  path_ = path;
  error_.clear();
  warning_.clear();
  done_ = false;
  pcapng_ = big_endian_ = nano_ = false;
  linktype_ = 0;
  records_ = 0;
  interfaces_.clear();
  interface_base_ = 0;
  last_ts_ = 0;
}

std::string CaptureReader::Open(const std::string& path) {
  Reset(path);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return path + ": " + std::strerror(errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    std::string err = path + ": " + std::strerror(errno);
    close(fd);
    return err;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return path + ": is a directory";
  }
  fd_ = fd;
  buf_.resize(kReadChunk);
  return Start();
}

std::string CaptureReader::OpenMemory(const uint8_t* data, size_t size, const std::string& name) {
  Reset(name);
  mem_ = data;
  mem_size_ = data == nullptr ? 0 : size;
  return Start();
}

size_t CaptureReader::Fill(size_t n) {
  if (fd_ < 0) {
    size_t left = offset_ < mem_size_ ? mem_size_ - static_cast<size_t>(offset_) : 0;
    return std::min(n, left);
  }
  if (end_ - pos_ >= n || eof_) return std::min(n, end_ - pos_);
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  while (end_ < n && !eof_) {
    // Grow only as data arrives: a declared length never allocates more than twice what the
    // file actually holds (and never more than n, itself bounded by the callers).
    if (end_ == buf_.size()) buf_.resize(std::min(std::max(n, kReadChunk), 2 * buf_.size()));
    ssize_t got = read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error_ = path_ + ": read error" + AtOffset() + ": " + std::strerror(errno);
      eof_ = true;
      break;
    }
    if (got == 0) eof_ = true;
    end_ += static_cast<size_t>(got);
  }
  return std::min(n, end_);
}

const uint8_t* CaptureReader::Cur() const { return fd_ < 0 ? mem_ + offset_ : buf_.data() + pos_; }

void CaptureReader::Skip(size_t n) {
  offset_ += n;
  if (fd_ >= 0) pos_ += n;
}

std::string CaptureReader::AtOffset() const { return " at offset " + std::to_string(offset_); }

bool CaptureReader::Fail(const std::string& what) {
  if (error_.empty()) error_ = path_ + ": " + what;
  done_ = true;
  return false;
}

bool CaptureReader::Cut(const std::string& what) {
  warning_ = path_ + ": " + what;
  done_ = true;
  return false;
}

uint16_t CaptureReader::U16(const uint8_t* p) const {
  return big_endian_ ? Load16(p) : Load16Le(p);
}

uint32_t CaptureReader::U32(const uint8_t* p) const {
  return big_endian_ ? Load32(p) : Load32Le(p);
}

uint64_t CaptureReader::U64(const uint8_t* p) const {
  const uint64_t first = U32(p), second = U32(p + 4);
  return big_endian_ ? first << 32 | second : second << 32 | first;
}

std::string CaptureReader::Start() {
  size_t got = Fill(kPcapFileHeaderLen);
  if (!error_.empty()) return error_;
  if (got == 0) return path_ + ": empty file";
  if (got < 4) return path_ + ": truncated file header (" + std::to_string(got) + " bytes)";
  const uint8_t* h = Cur();
  if (Load32(h) == kShb) {
    // The first section header must be whole: a file that is only a broken header is refused,
    // not replayed as empty.
    pcapng_ = true;
    CaptureRecord none;
    ReadBlock(&none);  // the section header (the magic is its block type)
    if (!error_.empty()) return error_;
    if (offset_ == 0) {
      warning_.clear();
      return path_ + ": truncated section header (" + std::to_string(Fill(kMinShb)) + " bytes)";
    }
    return "";
  }
  if (Load32(h) == kPcapMagicUs || Load32(h) == kPcapMagicNs) {
    big_endian_ = true;
  } else if (Load32Le(h) == kPcapMagicUs || Load32Le(h) == kPcapMagicNs) {
    big_endian_ = false;
  } else {
    return path_ + ": not a pcap or pcapng file (magic " + Hex4(h) + ")";
  }
  if (got < kPcapFileHeaderLen) {
    return path_ + ": truncated file header (" + std::to_string(got) + " of 24 bytes)";
  }
  nano_ = U32(h) == kPcapMagicNs;
  // The upper 4 bits carry the FCS length; the link type is below (as the oracle masks it). The
  // snaplen (h + 16) is not a limit on records: writers exceed it, and 0 is common.
  linktype_ = U32(h + 20) & 0x0fffffff;
  if (!LinkTypeSupported(linktype_)) {
    return path_ + ": unsupported link type " + std::to_string(linktype_);
  }
  Skip(kPcapFileHeaderLen);
  return "";
}

bool CaptureReader::Next(CaptureRecord* rec) {
  if (done_) return false;
  bool ok = pcapng_ ? NextPcapng(rec) : NextPcap(rec);
  if (ok) ++records_;
  return ok;
}

// Mirrors the oracle's pcap loop: a record whose header is whole is returned with the bytes
// that follow it, up to its caplen; fewer than that only at the end of the file.
bool CaptureReader::NextPcap(CaptureRecord* rec) {
  size_t got = Fill(kPcapRecordHeaderLen);
  if (!error_.empty()) return Fail("");
  if (got == 0) {
    done_ = true;
    return false;
  }
  if (got < kPcapRecordHeaderLen) {
    return Cut("last record header cut short" + AtOffset() + " (" + std::to_string(got) +
               " of 16 bytes)");
  }
  const uint8_t* h = Cur();
  uint32_t sec = U32(h), frac = U32(h + 4), caplen = U32(h + 8), origlen = U32(h + 12);
  if (caplen > kMaxCaptureBlock) {
    return Fail("record" + AtOffset() + " declares " + std::to_string(caplen) +
                " captured bytes (limit " + std::to_string(kMaxCaptureBlock) + ")");
  }
  size_t have = Fill(kPcapRecordHeaderLen + caplen);
  if (!error_.empty()) return Fail("");
  uint32_t data_len = static_cast<uint32_t>(have - kPcapRecordHeaderLen);
  if (data_len < caplen) {
    // Still a packet: the bytes there may hold a whole IP datagram (the oracle injects them).
    warning_ = path_ + ": last record cut short" + AtOffset() + " (" + std::to_string(data_len) +
               " of " + std::to_string(caplen) + " bytes), replayed as far as it goes";
    done_ = true;
  }
  rec->data = Cur() + kPcapRecordHeaderLen;
  rec->caplen = data_len;
  rec->wirelen = std::max(origlen, data_len);
  rec->ts =
      Clamp(static_cast<I128>(sec) * kNsPerSec + static_cast<I128>(frac) * (nano_ ? 1 : 1000));
  rec->linktype = linktype_;
  rec->interface = 0;
  Skip(have);
  return true;
}

Timestamp CaptureReader::PcapngTime(const Interface& ifc, uint64_t units) const {
  // ns = floor(units * 1e9 / resolution): exact in 128 bits (units * 1e9 < 2^94).
  U128 scaled = static_cast<U128>(units) * static_cast<U128>(kNsPerSec);
  U128 ns = 0;
  if (ifc.binary_resolution) {
    ns = ifc.resolution_exp >= 128 ? 0 : scaled >> ifc.resolution_exp;
  } else if (ifc.resolution_exp <= 38) {  // 10^38 < 2^128
    U128 res = 1;
    for (int i = 0; i < ifc.resolution_exp; ++i) res *= 10;
    ns = scaled / res;
  }
  return Clamp(static_cast<I128>(ns) + static_cast<I128>(ifc.offset_s) * kNsPerSec);
}

bool CaptureReader::SectionHeader(const uint8_t* body, uint32_t len) {
  // body: byte-order magic (already read), major, minor, section length, options.
  (void)len;
  uint16_t major = U16(body + 4), minor = U16(body + 6);
  if (major != 1) {
    return Fail("unsupported pcapng version " + std::to_string(major) + "." +
                std::to_string(minor) + " in the section header" + AtOffset());
  }
  // Interface numbers restart in every section.
  interface_base_ += static_cast<uint32_t>(interfaces_.size());
  interfaces_.clear();
  return true;
}

bool CaptureReader::InterfaceDescription(const uint8_t* body, uint32_t len) {
  Interface ifc;
  ifc.linktype = U16(body);
  ifc.snaplen = U32(body + 4);
  // Options: code, length, value padded to 4 bytes. One that runs past the block ends the list
  // (the oracle reads no further either).
  for (uint32_t o = 8; o + 4 <= len;) {
    uint16_t code = U16(body + o), olen = U16(body + o + 2);
    if (code == kOptEnd) break;
    uint32_t padded = (static_cast<uint32_t>(olen) + 3) & ~3u;
    if (padded > len - o - 4) break;
    const uint8_t* v = body + o + 4;
    if (code == kOptTsResol && olen >= 1) {
      ifc.binary_resolution = (v[0] & 0x80) != 0;
      ifc.resolution_exp = v[0] & 0x7f;
    } else if (code == kOptTsOffset && olen >= 8) {
      ifc.offset_s = static_cast<int64_t>(U64(v));
    }
    o += 4 + padded;
  }
  if (interface_base_ == 0 && interfaces_.empty()) linktype_ = ifc.linktype;
  interfaces_.push_back(ifc);
  return true;
}

bool CaptureReader::NextPcapng(CaptureRecord* rec) {
  for (;;) {
    Block b = ReadBlock(rec);
    if (b != Block::kSkipped) return b == Block::kPacket;
  }
}

bool CaptureReader::SectionByteOrder(const uint8_t* b, size_t got) {
  if (got < 12) {
    return Cut("last block cut short" + AtOffset() + " (" + std::to_string(got) + " bytes)");
  }
  if (Load32(b + 8) == kByteOrderMagic) {
    big_endian_ = true;
  } else if (Load32Le(b + 8) == kByteOrderMagic) {
    big_endian_ = false;
  } else {
    return Fail("section header" + AtOffset() + " has an unknown byte-order magic " + Hex4(b + 8));
  }
  return true;
}

bool CaptureReader::FrameBlock(uint32_t* type, uint32_t* len) {
  size_t got = Fill(kMinBlock);
  if (!error_.empty()) return Fail("");
  if (got == 0) {
    done_ = true;
    return false;
  }
  if (got < 8) {
    return Cut("last block cut short" + AtOffset() + " (" + std::to_string(got) + " bytes)");
  }
  const uint8_t* b = Cur();
  // The section header's type reads the same in both orders; it sets the order of what follows.
  if (Load32(b) == kShb && !SectionByteOrder(b, got)) return false;
  *type = U32(b);
  *len = U32(b + 4);
  const uint32_t min = *type == kShb                      ? kMinShb
                       : *type == kIdb                    ? kMinIdb
                       : (*type == kEpb || *type == kOpb) ? kMinEpb
                       : *type == kSpb                    ? kMinSpb
                                                          : kMinBlock;
  if (*len < min || *len % 4 != 0 || *len > kMaxCaptureBlock) {
    return Fail("block of type " + std::to_string(*type) + AtOffset() + " declares length " +
                std::to_string(*len) +
                (*len > kMaxCaptureBlock ? " (limit " + std::to_string(kMaxCaptureBlock) + ")"
                 : *len % 4 != 0         ? " (not a multiple of 4)"
                                         : " (below the minimum " + std::to_string(min) + ")"));
  }
  size_t have = Fill(*len);
  if (!error_.empty()) return Fail("");
  if (have < *len) {
    // The oracle stops here too: a packet block cut short gives no packet.
    return Cut("last block cut short" + AtOffset() + " (" + std::to_string(have) + " of " +
               std::to_string(*len) + " bytes)");
  }
  uint32_t trailer = U32(Cur() + *len - 4);
  if (trailer != *len) {
    return Fail("block" + AtOffset() + " declares length " + std::to_string(*len) +
                " but ends with " + std::to_string(trailer));
  }
  return true;
}

bool CaptureReader::PacketBlock(uint32_t type, const uint8_t* body, uint32_t len,
                                CaptureRecord* rec) {
  // Enhanced: interface (32 bits), timestamp high and low, captured and original length. The
  // obsolete packet block has a 16-bit interface and a 16-bit drop count instead.
  const uint32_t ifid = type == kEpb ? U32(body) : U16(body);
  const uint32_t caplen = U32(body + 12), origlen = U32(body + 16);
  if (caplen > len - 20) {
    return Fail("packet block" + AtOffset() + " declares " + std::to_string(caplen) +
                " captured bytes in a block of " + std::to_string(len + 12));
  }
  if (ifid >= interfaces_.size()) {
    return Fail("packet block" + AtOffset() + " names interface " + std::to_string(ifid) +
                ", the section defines " + std::to_string(interfaces_.size()));
  }
  const uint64_t units = static_cast<uint64_t>(U32(body + 4)) << 32 | U32(body + 8);
  last_ts_ = PcapngTime(interfaces_[ifid], units);
  FillRecord(ifid, body + 20, caplen, origlen, rec);
  return true;
}

bool CaptureReader::SimplePacketBlock(const uint8_t* body, uint32_t len, CaptureRecord* rec) {
  if (interfaces_.empty())
    return Fail("simple packet block" + AtOffset() + " before any interface");
  // Captured length: the original length, limited by interface 0's snaplen and the block. No
  // timestamp: the record keeps the previous packet's.
  const uint32_t origlen = U32(body);
  uint32_t caplen = std::min(origlen, len - 4);
  if (interfaces_[0].snaplen != 0) caplen = std::min(caplen, interfaces_[0].snaplen);
  FillRecord(0, body + 4, caplen, origlen, rec);
  return true;
}

void CaptureReader::FillRecord(uint32_t ifid, const uint8_t* data, uint32_t caplen,
                               uint32_t origlen, CaptureRecord* rec) const {
  rec->data = data;
  rec->caplen = caplen;
  rec->wirelen = std::max(origlen, caplen);
  rec->ts = last_ts_;
  rec->linktype = interfaces_[ifid].linktype;
  rec->interface = interface_base_ + ifid;
}

CaptureReader::Block CaptureReader::ReadBlock(CaptureRecord* rec) {
  uint32_t type = 0, len = 0;
  if (!FrameBlock(&type, &len)) return Block::kStop;
  const uint8_t* body = Cur() + 8;
  const uint32_t body_len = len - 12;
  bool ok = true;
  bool packet = false;
  switch (type) {
    case kShb:
      ok = SectionHeader(body, body_len);
      break;
    case kIdb:
      ok = InterfaceDescription(body, body_len);
      break;
    case kEpb:
    case kOpb:
      ok = packet = PacketBlock(type, body, body_len, rec);
      break;
    case kSpb:
      ok = packet = SimplePacketBlock(body, body_len, rec);
      break;
    default:
      // Name resolution, statistics, decryption secrets, custom, ...: nothing to replay.
      break;
  }
  if (!ok) return Block::kStop;
  Skip(len);
  return packet ? Block::kPacket : Block::kSkipped;
}

std::vector<LoadedCapture::LinkRun> LoadedCapture::LinkRuns() const {
  std::vector<LinkRun> runs;
  for (size_t i = 0; i < frames.size(); ++i) {
    uint32_t lt = i < linktypes.size() ? linktypes[i] : 0;
    if (runs.empty() || runs.back().linktype != lt) runs.push_back(LinkRun{i, i, lt});
    runs.back().end = i + 1;
  }
  return runs;
}

namespace {

std::string LoadFrom(CaptureReader& r, const std::string& path, LoadedCapture* out) {
  out->path = path;
  out->bytes.clear();
  out->frames.clear();
  out->linktypes.clear();
  out->interfaces.clear();
  // Offsets first: the byte buffer reallocates while it grows.
  std::vector<size_t> offsets;
  CaptureRecord rec;
  while (r.Next(&rec)) {
    offsets.push_back(out->bytes.size());
    out->bytes.insert(out->bytes.end(), rec.data, rec.data + rec.caplen);
    out->frames.push_back(Frame{nullptr, rec.caplen, rec.wirelen, rec.ts});
    out->linktypes.push_back(rec.linktype);
    out->interfaces.push_back(rec.interface);
  }
  if (!r.error().empty()) return r.error();
  for (size_t i = 0; i < out->frames.size(); ++i) {
    out->frames[i].data = out->bytes.data() + offsets[i];
  }
  out->warning = r.warning();
  return "";
}

}  // namespace

std::string LoadCapture(const std::string& path, LoadedCapture* out) {
  CaptureReader r;
  if (std::string err = r.Open(path); !err.empty()) return err;
  return LoadFrom(r, path, out);
}

std::string LoadCaptureMemory(const uint8_t* data, size_t size, const std::string& name,
                              LoadedCapture* out) {
  CaptureReader r;
  if (std::string err = r.OpenMemory(data, size, name); !err.empty()) return err;
  return LoadFrom(r, name, out);
}

}  // namespace ctrack
