// Text helpers shared by the printers, the simulator's reports and the CLI.
#ifndef CTRACK_FORMAT_TEXT_H_
#define CTRACK_FORMAT_TEXT_H_

#include <string>
#include <string_view>

namespace ctrack {

// Appends printf-formatted text to *out, whatever its length.
__attribute__((format(printf, 2, 3))) void Appendf(std::string* out, const char* fmt, ...);

// `s` as a JSON string literal, quotes included: '"' and '\' escaped, control bytes as \u00XX.
// Other bytes pass through unchanged (the callers' strings are UTF-8 or ASCII).
std::string JsonQuote(std::string_view s);

}  // namespace ctrack

#endif  // CTRACK_FORMAT_TEXT_H_
