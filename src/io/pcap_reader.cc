#include "io/pcap_reader.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>


namespace ctrack {
namespace {

constexpr uint32_t kPcapMagicUs = 0xa1b2c3d4;
constexpr uint32_t kPcapMagicNs = 0xa1b23c4d;
constexpr uint32_t kPcapngMagic = 0x0a0d0d0a;  // section header block type (palindromic)
constexpr size_t kPcapFileHeaderLen = 24;

uint32_t Bswap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

// Checks the file header for what libpcap reports poorly or not at all (an empty file, a short
// header, snaplen 0), so that every error is one clear line. `hdr` holds the first `got` bytes
// (at most 24). libpcap still does the real parsing.
std::string CheckHeader(const std::string& path, const uint8_t* hdr, size_t got) {
  if (got == 0) return path + ": empty file";
  if (got < 4) return path + ": truncated file header (" + std::to_string(got) + " bytes)";
  uint32_t magic;
  std::memcpy(&magic, hdr, 4);
  if (magic == kPcapngMagic) return "";  // pcapng: libpcap checks the section header
  bool swapped;
  if (magic == kPcapMagicUs || magic == kPcapMagicNs) {
    swapped = false;
  } else if (Bswap32(magic) == kPcapMagicUs || Bswap32(magic) == kPcapMagicNs) {
    swapped = true;
  } else {
    char buf[96];
    std::snprintf(buf, sizeof buf, ": not a pcap or pcapng file (magic 0x%02x%02x%02x%02x)", hdr[0],
                  hdr[1], hdr[2], hdr[3]);
    return path + buf;
  }
  if (got < kPcapFileHeaderLen) {
    return path + ": truncated file header (" + std::to_string(got) + " of 24 bytes)";
  }
  uint32_t snaplen;
  std::memcpy(&snaplen, hdr + 16, 4);
  if (swapped) snaplen = Bswap32(snaplen);
  if (snaplen == 0) return path + ": snapshot length 0 in the file header";
  return "";
}

// The file-system side of the checks (missing file, directory), then CheckHeader.
std::string PreCheck(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return path + ": " + std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return path + ": is a directory";
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return path + ": " + std::strerror(errno);
  uint8_t hdr[kPcapFileHeaderLen];
  size_t got = std::fread(hdr, 1, sizeof hdr, f);
  std::fclose(f);
  return CheckHeader(path, hdr, got);
}

// A record's time in nanoseconds, clamped to [0, kMaxTimestamp]. A pcapng file can carry any
// 64-bit timestamp (found by fuzzing: seconds * 1e9 overflowed); the clamp keeps the engine's
// "now + timeout" arithmetic far from overflow too.
constexpr Timestamp kMaxTimestamp = Timestamp{1} << 62;  // about the year 2116
Timestamp ClampedTimestamp(int64_t sec, int64_t nsec) {
  __extension__ using I128 = __int128;
  I128 t = static_cast<I128>(sec) * kNsPerSec + nsec;
  if (t < 0) return 0;
  return t > kMaxTimestamp ? kMaxTimestamp : static_cast<Timestamp>(t);
}

std::string TrimmedError(const char* errbuf) {
  std::string msg = errbuf;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg.empty() ? "cannot read capture" : msg;
}

}  // namespace

PcapReader::~PcapReader() {
  if (pcap_ != nullptr) pcap_close(pcap_);
}

std::string PcapReader::Open(const std::string& path) {
  Reset(path);
  if (std::string err = PreCheck(path); !err.empty()) return err;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_ = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (pcap_ == nullptr) return path + ": " + TrimmedError(errbuf);
  return CheckLinkType();
}

std::string PcapReader::OpenMemory(const uint8_t* data, size_t size, const std::string& name) {
  Reset(name);
  if (std::string err = CheckHeader(name, data, std::min(size, kPcapFileHeaderLen)); !err.empty()) {
    return err;
  }
  // fmemopen never writes through a "rb" stream, so the const_cast is safe.
  FILE* f = fmemopen(const_cast<uint8_t*>(data), size, "rb");
  if (f == nullptr) return name + ": " + std::strerror(errno);
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_ = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (pcap_ == nullptr) {
    std::fclose(f);
    return name + ": " + TrimmedError(errbuf);
  }
  return CheckLinkType();
}

void PcapReader::Reset(const std::string& path) {
  if (pcap_ != nullptr) {
    pcap_close(pcap_);
    pcap_ = nullptr;
  }
  path_ = path;
  warning_.clear();
  records_ = 0;
}

std::string PcapReader::CheckLinkType() {
  int dlt = pcap_datalink(pcap_);
  // libpcap maps file LINKTYPE_ values to DLT_ values; LINKTYPE_RAW (101) becomes DLT_RAW (12 or
  // 14 by platform). The decoder takes both spellings.
  linktype_ = static_cast<uint32_t>(dlt);
  if (!LinkTypeSupported(linktype_)) {
    const char* name = pcap_datalink_val_to_name(dlt);
    std::string what = std::to_string(dlt);
    if (name != nullptr) what += std::string(" (") + name + ")";
    pcap_close(pcap_);
    pcap_ = nullptr;
    return path_ + ": unsupported link type " + what;
  }
  return "";
}

bool PcapReader::Next(CaptureRecord* rec) {
  if (pcap_ == nullptr) return false;
  struct pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(pcap_, &hdr, &data);
  if (rc == 1) {
    rec->data = data;
    rec->caplen = hdr->caplen;
    rec->wirelen = hdr->len < hdr->caplen ? hdr->caplen : hdr->len;
    // Nanosecond precision: tv_usec holds nanoseconds.
    rec->ts = ClampedTimestamp(hdr->ts.tv_sec, hdr->ts.tv_usec);
    ++records_;
    return true;
  }
  if (rc == PCAP_ERROR) {
    std::string msg = pcap_geterr(pcap_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    warning_ = path_ + ": " + msg + " (stopped after " + std::to_string(records_) + " records)";
  }
  pcap_close(pcap_);
  pcap_ = nullptr;
  return false;
}

std::string LoadCapture(const std::string& path, LoadedCapture* out) {
  PcapReader r;
  if (std::string err = r.Open(path); !err.empty()) return err;
  out->path = path;
  out->linktype = r.linktype();
  out->bytes.clear();
  out->frames.clear();
  // Offsets first: the byte buffer reallocates while it grows.
  std::vector<size_t> offsets;
  CaptureRecord rec;
  while (r.Next(&rec)) {
    offsets.push_back(out->bytes.size());
    out->bytes.insert(out->bytes.end(), rec.data, rec.data + rec.caplen);
    out->frames.push_back(Frame{nullptr, rec.caplen, rec.wirelen, rec.ts});
  }
  for (size_t i = 0; i < out->frames.size(); ++i) {
    out->frames[i].data = out->bytes.data() + offsets[i];
  }
  out->warning = r.warning();
  return "";
}

}  // namespace ctrack
