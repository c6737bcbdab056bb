// DecodeFrame(): the link header (DecodeLink), the IP receive checks (Ipv4Input / Ipv6Input) and
// the layer-3 parse (ParseL3), run once per frame; see include/ctrack/decode.h. The body is in
// parse/decode_impl.h, which the batch path inlines.
#include <ctrack/decode.h>

#include "parse/decode_impl.h"

namespace ctrack {

void DecodeFrame(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                 FrameFacts* out) {
  DecodeFrameInline(linktype, data, caplen, wirelen, out);
}

FrameFacts DecodeIp(const uint8_t* data, uint32_t len) {
  return DecodeFrame(kLinkRaw, data, len, len);
}

}  // namespace ctrack
