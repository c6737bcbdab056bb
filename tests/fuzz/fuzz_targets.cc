#include "fuzz/fuzz_targets.h"

#include <ctrack/config.h>
#include <ctrack/conntrack.h>
#include <ctrack/decode.h>
#include <ctrack/host.h>
#include <ctrack/sharded.h>

#include <string>
#include <string_view>
#include <vector>

#include "format/conntrack_format.h"
#include "format/snapshot.h"
#include "io/capture.h"
#include "parse/decode_impl.h"
#include "parse/ip_input.h"
#include "parse/l3.h"
#include "testing/facts.h"

namespace ctrack::fuzz {
namespace {

constexpr uint32_t kLinkTypes[] = {kLinkEthernet, kLinkRaw,  kLinkSll,  kLinkSll2,
                                   kLinkNull,     kLinkLoop, kLinkIpv4, kLinkIpv6};

}  // namespace

int FuzzParse(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint32_t lt = kLinkTypes[data[0] % std::size(kLinkTypes)];
  // Copy into an exact-size heap buffer so ASan sees any read past the end.
  std::vector<uint8_t> frame(data + 1, data + size);
  const uint32_t n = static_cast<uint32_t>(frame.size());
  const FrameFacts f = DecodeFrame(lt, frame.data(), n, n);
  // The shard read off the frame's headers must be the one its decode gives.
  static const ShardedConntrack kThree(Config{}, 3);
  if (kThree.ShardOf(lt, frame.data(), n) != kThree.ShardOf(f)) __builtin_trap();
  // The IPv4 fast branch of the decode must give the general path's facts, field for field.
  FrameFacts g;
  DecodeFrameInline(lt, frame.data(), n, n, &g, /*general=*/true);
  if (!testing::FactsDiffer(f, g).empty()) __builtin_trap();
  if (f.ip_version == 0) return 0;
  // The forwarding checks read the IPv4 options of whatever bytes the link layer handed on.
  if (f.ip_version == 4) (void)Ipv4Forwards(f.l3, f.l3_caplen);
  // nftables' own walk of the extension headers, on the same bytes.
  if (f.ip_version == 6) (void)OracleRewriteAppliesIpv6(f.l3, f.l3_caplen);
  // The layer-3 parse of the bytes as captured, receive checks or not.
  ParsedPacket pkt;
  if (ParseL3(f.l3, f.l3_caplen, &pkt) != L3Parse::kOk) return 0;
  Tuple t;
  if (GetTuple(pkt, 0, &t)) {
    Tuple r;
    (void)InvertTuple(t, &r);
  }
  if (pkt.l4_len() > 8) {
    (void)GetInnerTuple(pkt.l4() + 8, pkt.l4_len() - 8, pkt.l3num, 0, &t);
  }
  return 0;
}

int FuzzTrack(const uint8_t* data, size_t size) {
  Config cfg;
  cfg.nf_conntrack_max = 8;
  cfg.nf_conntrack_buckets = 4;
  cfg.nf_conntrack_checksum = size > 0 ? data[0] & 1 : 1;
  cfg.nf_conntrack_acct = 1;
  cfg.nf_conntrack_tcp_timeout_established = 5;
  Conntrack ct(cfg);
  // The same packets through an engine whose early drop reads every entry (no bucket
  // summaries): every verdict, entry number and count must agree.
  Config plain_cfg = cfg;
  plain_cfg.ctrack_bucket_summaries = 0;
  Conntrack plain(plain_cfg);
  Timestamp now = 0;
  size_t off = 1;
  std::vector<uint8_t> pkt;
  // Records: [len hi][len lo][flags][time step] then len bytes of frame. flags picks the link
  // type; the time step moves virtual time in quarter seconds so expiry and the GC run: forward,
  // or back when the step's top bit is set (as in a merged capture).
  while (off + 4 <= size) {
    size_t len = static_cast<size_t>(data[off] << 8 | data[off + 1]) % 2048;
    uint8_t flags = data[off + 2];
    const uint8_t step = data[off + 3];
    if (step & 0x80) {
      now -= static_cast<Timestamp>(step & 0x7f) * (kNsPerSec / 4);
    } else {
      now += static_cast<Timestamp>(step) * (kNsPerSec / 4);
    }
    off += 4;
    if (len > size - off) len = size - off;
    pkt.assign(data + off, data + off + len);
    off += len;
    uint32_t lt = kLinkTypes[flags % std::size(kLinkTypes)];
    PacketResult r = ct.ProcessFrame(lt, pkt.data(), static_cast<uint32_t>(pkt.size()),
                                     static_cast<uint32_t>(pkt.size()), now, flags >> 6);
    PacketResult rp = plain.ProcessFrame(lt, pkt.data(), static_cast<uint32_t>(pkt.size()),
                                         static_cast<uint32_t>(pkt.size()), now, flags >> 6);
    if (r.verdict != rp.verdict || r.entry != rp.entry || r.destroyed != rp.destroyed ||
        ct.count() != plain.count()) {
      __builtin_trap();
    }
    if (r.conn != kNoConn) {
      ConnInfo info;
      (void)ct.Get(r.conn, now, &info);
    }
    if (ct.count() > cfg.nf_conntrack_max) __builtin_trap();  // the count rule must hold
  }
  if (ct.stats().early_drop != plain.stats().early_drop || ct.stats().drop != plain.stats().drop ||
      ct.counters().expired != plain.counters().expired) {
    __builtin_trap();
  }
  ct.ForEach(now, [](const ConnInfo&) {});
  ct.ExpireAll(now + 1000 * kNsPerSec);
  if (ct.count() != 0) __builtin_trap();
  return 0;
}

int FuzzPcap(const uint8_t* data, size_t size) {
  // An exact-size copy so that ASan sees any read past the end of the file image.
  std::vector<uint8_t> file(data, data + size);
  CaptureReader reader;
  if (!reader.OpenMemory(file.data(), file.size(), "fuzz.pcap").empty()) return 0;
  Config cfg;
  cfg.nf_conntrack_max = 8;
  cfg.nf_conntrack_buckets = 4;
  Conntrack ct(cfg);
  CaptureRecord rec;
  Timestamp last = 0;
  const uint8_t* end = file.data() + file.size();
  // Records go through the tracker as the CLI sends them; a bound keeps one input quick.
  int n = 0;
  for (; n < 256 && reader.Next(&rec); ++n) {
    // The reader's contract: caplen <= wirelen, bytes inside the image, bounded records.
    if (rec.caplen > rec.wirelen || rec.caplen > kMaxCaptureBlock) __builtin_trap();
    if (rec.caplen > 0 && (rec.data < file.data() || rec.data + rec.caplen > end)) {
      __builtin_trap();
    }
    if (rec.ts < 0) __builtin_trap();
    last = rec.ts;
    ct.ProcessFrame(rec.linktype, rec.data, rec.caplen, rec.wirelen, rec.ts);
  }
  ct.ExpireAll(last);
  // Reading stops in exactly one way: end, warning (cut short) or error.
  if (n < 256 && !reader.error().empty() && !reader.warning().empty()) __builtin_trap();
  return 0;
}

int FuzzSet(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  size_t eq = s.find('=');
  Config cfg;
  std::string err =
      eq == std::string_view::npos ? cfg.Set(s, "") : cfg.Set(s.substr(0, eq), s.substr(eq + 1));
  if (err.empty() && !cfg.Validate().empty()) __builtin_trap();  // Set must keep Config valid
  return 0;
}

int FuzzSnapshot(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  Snapshot snap;
  if (!ReadSnapshotText(text, "fuzz", &snap).empty()) return 0;
  Config cfg;
  ApplySysctls(snap.header, &cfg);  // may refuse; the defaults stay valid then
  if (!cfg.Validate().empty()) cfg = Config{};
  cfg.nf_conntrack_max = 8;
  cfg.nf_conntrack_buckets = 4;
  Conntrack ct(cfg);
  Timestamp now = 1000 * kNsPerSec;
  for (const SnapshotEntry& e : snap.entries) {
    SnapshotEntry back;
    if (!ParseSnapshotEntryLine(FormatSnapshotEntry(e), &back).empty()) __builtin_trap();
    if (!(back.ci.orig == e.ci.orig) || !(back.ci.reply == e.ci.reply) ||
        back.ci.status != e.ci.status || back.ci.timeout_s != e.ci.timeout_s) {
      __builtin_trap();  // the writer's output must read back as the same entry
    }
    ct.Import(e.ci, now, kNsPerSec / 2);
  }
  ct.ForEach(now, [](const ConnInfo&) {});
  ct.ExpireAll(now + 100000 * kNsPerSec);
  FormatSnapshotHeader(snap.header);
  return 0;
}

int FuzzNetlink(const uint8_t* data, size_t size) {
  // Exact-size heap copy so that ASan sees any read past the end.
  std::vector<uint8_t> buf(data, data + size);
  ConnInfo ci;
  CpuStats cs;
  if (DecodeConntrackMessage(buf.data(), buf.size(), &ci).empty()) {
    (void)FormatConntrackLine(ci, true);
    (void)FormatJsonLine(ci);
  }
  (void)ForEachNetlinkMessage(buf.data(), buf.size(), [&](const uint8_t* m, size_t len) {
    if (DecodeConntrackMessage(m, len, &ci).empty()) {
      (void)FormatConntrackLine(ci, false);
      (void)FormatProcLine(ci);
    }
    (void)DecodeCpuStatsMessage(m, len, &cs);
    return true;
  });
  return 0;
}

}  // namespace ctrack::fuzz
