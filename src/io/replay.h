// The one replay loop: the packets of several captures in order, numbered as the rows of
// kernel-ct's verdicts.tsv, each with the time it is replayed at. `ctrack replay` runs it over
// streaming readers, `ctrack simulate` and the tests over captures loaded in memory.
//
//   std::vector<CaptureReader*> readers = ...;   // or CaptureCursor* over LoadedCaptures
//   std::string err = Replay(readers, times_or_null, "times.tsv", [&](const ReplayPacket& p) {
//     ct.ProcessFrame(p.rec.linktype, p.rec.data, p.rec.caplen, p.rec.wirelen, p.now);
//   });
#ifndef CTRACK_IO_REPLAY_H_
#define CTRACK_IO_REPLAY_H_

#include <ctrack/packet.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "io/capture.h"

namespace ctrack {

// Packet i's time from a kernel-ct run (column t_replay of row i); nullopt for '-', which keeps
// the previous packet's time.
using ReplayTimes = std::vector<std::optional<Timestamp>>;

struct ReplayPacket {
  uint64_t index;            // over all captures, from 0: row `index` of a verdicts.tsv
  size_t capture;            // which capture of the list
  const CaptureRecord& rec;  // link type, interface, bytes, capture timestamp
  Timestamp now;             // the replay clock
};

// A LoadedCapture read with CaptureReader's Next() / error() / warning(), so that the same loop
// replays from memory.
class CaptureCursor {
 public:
  explicit CaptureCursor(const LoadedCapture& cap) : cap_(&cap) {}
  bool Next(CaptureRecord* rec) {
    if (i_ >= cap_->frames.size()) return false;
    const Frame& f = cap_->frames[i_];
    rec->data = f.data;
    rec->caplen = f.caplen;
    rec->wirelen = f.wirelen;
    rec->ts = f.ts;
    rec->linktype = i_ < cap_->linktypes.size() ? cap_->linktypes[i_] : 0;
    rec->interface = i_ < cap_->interfaces.size() ? cap_->interfaces[i_] : 0;
    ++i_;
    return true;
  }
  const std::string& error() const { return kNone; }
  const std::string& warning() const { return cap_->warning; }

 private:
  static inline const std::string kNone;
  const LoadedCapture* cap_;
  size_t i_ = 0;
};

// Replays the records of `sources` (CaptureReader or CaptureCursor) in order through `fn`, which
// returns void or false to stop early. The clock: with `times`, packet i takes row i's time
// (before any row has one, 0); without, the record's own timestamp. Returns "" or one line: a
// source's error(), or `times_name` having fewer rows than there are packets.
template <typename Source, typename Fn>
std::string Replay(const std::vector<Source*>& sources, const ReplayTimes* times,
                   const std::string& times_name, Fn&& fn) {
  uint64_t index = 0;
  Timestamp now = 0;
  CaptureRecord rec;
  for (size_t c = 0; c < sources.size(); ++c) {
    Source& src = *sources[c];
    while (src.Next(&rec)) {
      if (times != nullptr) {
        if (index >= times->size()) {
          return times_name + ": has " + std::to_string(times->size()) +
                 " rows, fewer than the packets replayed";
        }
        if ((*times)[index]) now = *(*times)[index];
      } else {
        now = rec.ts;
      }
      const ReplayPacket p{index, c, rec, now};
      if constexpr (std::is_void_v<decltype(fn(p))>) {
        fn(p);
      } else {
        if (!fn(p)) return "";
      }
      ++index;
    }
    if (!src.error().empty()) return src.error();
  }
  return "";
}

}  // namespace ctrack

#endif  // CTRACK_IO_REPLAY_H_
