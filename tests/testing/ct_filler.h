// Filler entries for a namespace's conntrack table, inserted through ctnetlink in batches (as
// kernel-ct's --max emulation does): UDP entries 10.x.y.z:1 -> 10.255.255.254:2 in one zone with
// a long timeout. Used by the table-full test and the status benchmark; runs in the caller's
// current network namespace.
#ifndef CTRACK_TESTING_CT_FILLER_H_
#define CTRACK_TESTING_CT_FILLER_H_

#include <cstdint>
#include <string>

namespace ctrack::testing {

// Inserts `n` entries (IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL). Returns the number the
// kernel accepted; `err` holds the first error when some were refused.
uint64_t InsertFillers(uint64_t n, uint16_t zone, std::string* err);

}  // namespace ctrack::testing

#endif  // CTRACK_TESTING_CT_FILLER_H_
