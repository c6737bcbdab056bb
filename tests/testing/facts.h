// Comparing two decodes' facts field by field, for the tests and the fuzz target that hold the
// decode's IPv4 fast branch (decode_detail::Ipv4Fast) to its general path.
#ifndef CTRACK_TESTING_FACTS_H_
#define CTRACK_TESTING_FACTS_H_

#include <ctrack/decode.h>

#include <string>

namespace ctrack::testing {

// The names of the fields of FrameFacts (and of its ParsedPacket) in which `a` and `b` differ,
// comma-separated; empty when they agree in every one.
inline std::string FactsDiffer(const FrameFacts& a, const FrameFacts& b) {
  std::string d;
  auto check = [&d](bool same, const char* name) {
    if (same) return;
    if (!d.empty()) d += ",";
    d += name;
  };
  check(a.l3 == b.l3, "l3");
  check(a.l3_caplen == b.l3_caplen, "l3_caplen");
  check(a.ip_version == b.ip_version, "ip_version");
  check(a.vlan == b.vlan, "vlan");
  check(a.truncated == b.truncated, "truncated");
  check(a.not_ip == b.not_ip, "not_ip");
  check(a.not_ip_value == b.not_ip_value, "not_ip_value");
  check(a.ip_ok == b.ip_ok, "ip_ok");
  check(a.ip_len == b.ip_len, "ip_len");
  check(a.fragment == b.fragment, "fragment");
  check(a.parsed == b.parsed, "parsed");
  check(a.pkt.l3 == b.pkt.l3, "pkt.l3");
  check(a.pkt.len == b.pkt.len, "pkt.len");
  check(a.pkt.l4_off == b.pkt.l4_off, "pkt.l4_off");
  check(a.pkt.l3num == b.pkt.l3num, "pkt.l3num");
  check(a.pkt.protonum == b.pkt.protonum, "pkt.protonum");
  check(a.icmp_inner_off == b.icmp_inner_off, "icmp_inner_off");
  return d;
}

}  // namespace ctrack::testing

#endif  // CTRACK_TESTING_FACTS_H_
