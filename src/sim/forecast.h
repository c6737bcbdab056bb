// Rates and a time-to-full forecast for a conntrack table, from successive observations of it
// (a table dump, the count and limit, the /proc/net/stat/nf_conntrack counters, optionally the
// totals of a NEW/DESTROY event subscription). Pure arithmetic on plain structs: the live
// readers (src/host), the engine (simulations on virtual time) and tests all feed the same code.
//
// The forecast is Little's law per state class. Entries of a class arrive at rate lambda and stay
// W seconds, so the class heads for lambda * W entries. A class whose entries only leave by
// timing out (SYN_SENT under a SYN flood, unreplied UDP) has W = the kernel's timeout for that
// state; a class whose entries leave earlier (ESTABLISHED closed by FIN) has the residence the
// observations show (count / departure rate). The trajectory to that level is exact for
// timeout-driven classes: the entries present now survive until their remaining timeout runs out
// (known from the dump), new ones pile up at lambda per second for W seconds. The table is full
// when the sum of the classes reaches nf_conntrack_max.
//
//   Watcher w(cfg);                          // cfg: the namespace's timeouts (sysctl names)
//   w.Observe(sample, entries);              // once per interval
//   const WatchReport& r = w.report();       // rates, per-state rows, tops, forecast
#ifndef CTRACK_SIM_FORECAST_H_
#define CTRACK_SIM_FORECAST_H_

#include <ctrack/config.h>
#include <ctrack/entry.h>
#include <ctrack/stats.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ctrack::watch {

inline constexpr double kNever = std::numeric_limits<double>::infinity();

// A state class: the protocol and the state that selects the kernel's timeout. TCP and SCTP use
// their state numbers; UDP, UDP-Lite and GRE use kClassUnreplied / kClassReplied / kClassAssured
// (the kernel picks the stream timeout once the entry is ASSURED); other protocols use 0.
struct ClassKey {
  uint8_t proto = 0;
  uint8_t state = 0;
  friend bool operator==(ClassKey a, ClassKey b) {
    return a.proto == b.proto && a.state == b.state;
  }
};
// Named apart from the Status bits (kAssured there is bit 2, a different number).
inline constexpr uint8_t kClassUnreplied = 0, kClassReplied = 1, kClassAssured = 2;

ClassKey ClassOf(const ConnInfo& ci);
// "tcp" / "SYN_SENT", "udp" / "UNREPLIED", "icmp" / "-".
const char* ClassProtoName(ClassKey k);
const char* ClassStateName(ClassKey k);
// The timeout the kernel gives an entry of this class, in seconds, from the sysctls in `cfg`
// (tcp_timeouts[] in nf_conntrack_proto_tcp.c, udp_timeouts[], gre, sctp, icmp, generic).
uint32_t ClassTimeout(const Config& cfg, ClassKey k);

// One class as the forecast sees it.
struct ClassState {
  ClassKey key;
  uint64_t count = 0;
  double arrivals_per_s = 0;    // entries entering the class (new or from another state)
  double departures_per_s = 0;  // entries leaving it (expired, deleted, moved on)
  uint32_t timeout_s = 0;
  // survivors[r]: entries with more than r seconds left (r = 0 .. size-1); the last element also
  // stands for every later second. Empty: the remaining times are unknown (count only).
  std::vector<uint64_t> survivors;
};

// Residence time and level of one class: W = the timeout unless departures show a shorter stay.
struct ClassOutlook {
  double residence_s = 0;
  bool timeout_driven = true;
  double level = 0;  // lambda * W, the count the class settles at
};
ClassOutlook Outlook(const ClassState& c);

// Entries of class `c` expected `tau` seconds from now.
double Project(const ClassState& c, const ClassOutlook& o, double tau);

struct Forecast {
  double time_to_full_s = kNever;  // kNever: the table settles below max
  double settle_entries = 0;       // sum of class levels (may exceed max: it fills first)
  double settle_fraction = 0;      // settle_entries / max
  double horizon_s = 0;            // how far the projection looked
  int driver = -1;                 // index of the class adding most entries until full/settled
  std::string text;                // "full in 7 min at the current tcp SYN_SENT arrival rate"
};
// `other` entries not covered by any class (e.g. a count larger than the dump) are held constant.
Forecast ComputeForecast(std::span<const ClassState> classes, double other, uint64_t max);

// Human duration: "42 s", "7 min", "3.2 h", "5 d".
std::string HumanDuration(double s);

// What one observation carries besides the entries.
struct Sample {
  double t = 0;        // seconds on any monotonic clock
  uint64_t count = 0;  // nf_conntrack_count
  uint64_t max = 0;    // nf_conntrack_max
  uint64_t buckets = 0;
  bool has_stats = false;
  Stats stats;             // summed over CPUs
  uint64_t ignore = 0;     // the stat file's `ignore` column (not in struct Stats)
  bool has_table = false;  // `entries` is a full dump taken at t
  // Event subscription totals since it started (monotonic); has_events false without one.
  bool has_events = false;
  uint64_t events_new = 0;
  uint64_t events_destroy = 0;
  uint64_t events_overrun = 0;  // ENOBUFS: the socket buffer overflowed, some events lost
  uint64_t kernel_bytes = 0;    // slab + hash table bytes when known (0: estimate)
  uint32_t entry_bytes = 0;     // slab object size when known
};

struct TopRow {
  std::string key;  // "10.0.0.1", "tcp/443"
  uint64_t count = 0;
  int64_t growth = 0;  // change since the previous observation (0 on the first)
};

struct ClassRow {
  ClassState state;  // survivors cleared after the forecast
  ClassOutlook outlook;
};

struct WatchReport {
  double t = 0;
  double interval_s = 0;  // since the previous observation (0 on the first)
  uint64_t count = 0, max = 0, buckets = 0;
  double fill = 0;  // count / max
  bool has_table = false, has_stats = false, has_events = false;
  Stats stats;
  uint64_t ignore = 0;
  // Rates per second over the last interval; -1 when not known yet.
  double insert_per_s = -1, delete_per_s = -1, drop_per_s = -1, early_drop_per_s = -1;
  double insert_failed_per_s = -1;
  const char* rate_source = "none";  // "events", "dump" or "count"
  // Totals since the watcher started (insertions/deletions: from events when subscribed, else
  // from dump differences, which miss entries born and gone between two dumps).
  uint64_t inserts_total = 0, deletes_total = 0, events_overrun_total = 0;
  std::vector<ClassRow> classes;  // sorted by count, descending
  std::vector<std::pair<std::string, uint64_t>> by_proto;
  std::vector<std::pair<uint16_t, uint64_t>> by_zone;
  std::vector<TopRow> top_sources, top_dports;   // at most `top` rows each
  uint64_t sources_other = 0, dports_other = 0;  // entries outside the top rows
  double bucket_depth = 0;                       // nodes per bucket (two per entry)
  uint64_t kernel_bytes = 0;
  Forecast forecast;
};

class Watcher {
 public:
  // `top`: hard cap on the source and port rows (cardinality of the exported label sets).
  explicit Watcher(const Config& timeouts, uint32_t top = 10);
  ~Watcher();
  void SetTimeouts(const Config& timeouts) { cfg_ = timeouts; }
  // Streaming form, for dumps too large to hold: BeginTable() (again before a retried dump),
  // AddEntry() per entry, then Observe(s) with s.has_table. Entries' `timeout_s` is the
  // remaining time. Memory is per distinct source and port, not per entry (plus 8 bytes per
  // entry for the id list that tells arrivals and departures apart).
  void BeginTable();
  void AddEntry(const ConnInfo& ci);
  void Observe(const Sample& s);
  // `entries` is read only when s.has_table.
  void Observe(const Sample& s, std::span<const ConnInfo> entries);
  const WatchReport& report() const { return rep_; }
  uint64_t observations() const { return n_; }

 private:
  Config cfg_;
  uint32_t top_;
  uint64_t n_ = 0;
  Sample prev_;
  // (id, class index) of the previous dump, sorted by id; class index into prev_classes_.
  std::vector<std::pair<uint32_t, uint16_t>> prev_ids_, ids_;
  std::vector<ClassKey> prev_keys_;
  std::vector<std::pair<std::string, uint64_t>> prev_src_, prev_port_;
  struct Acc;  // per-dump accumulators
  std::unique_ptr<Acc> acc_;
  std::vector<double> smooth_arr_, smooth_dep_;  // per class key index (see KeyIndex)
  WatchReport rep_;

  // The phases of Observe(): the sample's own fields and drop rates; the arrivals and
  // departures per class from the previous dump's ids; the top/protocol/zone rows; the
  // insert/delete rates; the classes the forecast projects (updates the smoothed rates).
  void FillSampleFields(const Sample& s, double dt, bool rates, WatchReport* out) const;
  void DiffIds(double* arr, double* dep, uint64_t* born, uint64_t* gone) const;
  void FillTableRows(WatchReport* out);
  void FillInsertDeleteRates(const Sample& s, double dt, bool rates, uint64_t born, uint64_t gone,
                             WatchReport* out) const;
  std::vector<ClassState> ForecastClasses(const Sample& s, double dt, bool rates, const double* arr,
                                          const double* dep, double* other);
};

}  // namespace ctrack::watch

#endif  // CTRACK_SIM_FORECAST_H_
