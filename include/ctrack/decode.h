// One decode of a captured frame: what its link header, the IP receive checks and the layer-3
// parse say about it. DecodeFrame() reads the bytes once; the facts then travel with the packet
// to every later stage (Conntrack::Process, ShardedConntrack::ShardOf, the verdict description)
// so that none of them reads the link header or the fixed IP header again.
//
//   ctrack::FrameFacts f = ctrack::DecodeFrame(ctrack::kLinkEthernet, frame, caplen, wirelen);
//   unsigned shard = sharded.ShardOf(f);
//   ctrack::PacketResult r = sharded.shard(shard).Process(f, now);
//
// The stages that the kernel runs with parsers of their own keep them, because their rules
// differ from the receive path's and the verdicts depend on the differences: the defragmenter's
// walk to the IPv6 fragment header (find_prev_fhdr()), and the ICMP error handler's parse of the
// quoted datagram (nf_ct_get_tuplepr()). A reassembled datagram is a new datagram and is parsed
// once more.
#ifndef CTRACK_DECODE_H_
#define CTRACK_DECODE_H_

#include <ctrack/packet.h>

#include <cstdint>

namespace ctrack {

// Why a frame carries no IP datagram the kernel's IP stack would receive.
enum class NotIp : uint8_t {
  kNo,          // it carries one (FrameFacts::ip_version is 4 or 6)
  kShortFrame,  // shorter than its link header
  kEmpty,       // raw link type, no bytes at all
  kRawNotIp,    // raw link type whose version nibble is neither 4 nor 6
  kFamily,      // loopback header naming another address family (not_ip_value)
  kEtherType,   // EtherType after any VLAN tags is not IP (not_ip_value; <= 1500: an 802.3 length)
  kLinkType,    // a link type the engine does not decode (not_ip_value)
};

// Invariants: l3 + l3_caplen never passes the end of the frame; ip_len <= l3_caplen; when
// `parsed`, pkt.l3 == l3 and pkt.len == ip_len; icmp_inner_off is 0 or <= pkt.len.
struct FrameFacts {
  // Link layer.
  const uint8_t* l3 = nullptr;  // first byte after the link header and any VLAN tags
  uint32_t l3_caplen = 0;       // captured bytes from l3 on
  uint8_t ip_version = 0;       // 4 or 6 from the link header; 0: see not_ip
  bool vlan = false;            // one or more 802.1Q / 802.1ad tags were stripped
  bool truncated = false;       // the frame was longer on the wire than in the capture
  NotIp not_ip = NotIp::kNo;
  uint32_t not_ip_value = 0;  // the EtherType, address family or link type named by not_ip

  // The IP receive checks before PREROUTING (ip_rcv_core() / ip6_rcv_core()): false means the
  // datagram never reaches conntrack. ip_len: its length trimmed to the IP total/payload length.
  bool ip_ok = false;
  uint32_t ip_len = 0;
  // IPv4 with MF or a fragment offset; IPv6 whose extension headers include a fragment header.
  bool fragment = false;

  // The layer-4 protocol and offset of the datagram as received (ipv4_get_l4proto() /
  // ipv6_get_l4proto()); false for a non-first fragment or a bad extension-header chain, which
  // conntrack counts invalid unless the defragmenter takes the packet. pkt is meaningful only
  // when parsed.
  bool parsed = false;
  ParsedPacket pkt;

  // For an ICMP error (IPv4 types 3, 4, 5, 11, 12; ICMPv6 types below 128) whose quoted IP
  // header is captured whole: its offset from l3. 0 otherwise. Sharding keeps the error with the
  // flow it quotes; the error handler parses the quote itself.
  uint32_t icmp_inner_off = 0;
};

// Never reads past data + caplen. `wirelen`: the frame's length on the wire (caplen if unknown).
// The out-parameter form overwrites every field of *out (the batch path decodes in place).
void DecodeFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                 FrameFacts* out);
inline FrameFacts DecodeFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen,
                              uint32_t wirelen) {
  FrameFacts f;
  DecodeFrame(linktype, data, caplen, wirelen, &f);
  return f;
}

// The same for one IP datagram without link layer, told IPv4 or IPv6 by its version nibble.
FrameFacts DecodeIp(const uint8_t* data, uint32_t len);

}  // namespace ctrack

#endif  // CTRACK_DECODE_H_
