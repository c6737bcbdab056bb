// The rules that make the kernel track at all, and the NOTRACK rules beside them. Since Linux 5.x
// conntrack's hooks are registered only while something needs them (an nft `ct` expression or
// NAT chain, an iptables -m state / -m conntrack match, a nat table): nf_ct_netns_get(),
// net/netfilter/nf_conntrack_proto.c. Without any, the table stays empty.
#include <ctrack/host.h>

#include <sstream>
#include <string>

#include "host/internal.h"

namespace ctrack {
namespace {

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

bool Has(const std::string& s, const char* w) { return s.find(w) != std::string::npos; }

}  // namespace

void ClassifyNftRules(const std::string& ruleset, RuleFacts* out) {
  std::istringstream in(ruleset);
  std::string line, table, chain;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.rfind("table ", 0) == 0) {
      table = t.substr(6, t.find(" {") == std::string::npos ? std::string::npos : t.find(" {") - 6);
      continue;
    }
    if (t.rfind("chain ", 0) == 0) {
      chain = t.substr(6, t.find(" {") == std::string::npos ? std::string::npos : t.find(" {") - 6);
      continue;
    }
    if (Has(t, "type nat hook")) {
      out->nat = true;
      out->tracking.push_back("nft " + table + " " + chain + ": " + t);
      continue;
    }
    if (Has(t, "notrack")) {
      out->notrack.push_back("nft " + table + " " + chain + ": " + t);
      continue;
    }
    // Any ct expression except `ct ... set` on untracked packets needs the hooks; so do NAT
    // statements.
    if (t.rfind("ct ", 0) == 0 || Has(t, " ct ") || Has(t, "masquerade") || Has(t, "snat ") ||
        Has(t, "dnat ") || Has(t, "redirect")) {
      if (Has(t, "ct ") || Has(t, "nat") || Has(t, "masquerade") || Has(t, "redirect")) {
        out->tracking.push_back("nft " + table + " " + chain + ": " + t);
      }
    }
  }
}

void ClassifyIptablesRules(const std::string& save, const char* tool, RuleFacts* out) {
  std::istringstream in(save);
  std::string line, table;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (!t.empty() && t[0] == '*') {
      table = t.substr(1);
      continue;
    }
    if (t.rfind("-A ", 0) != 0) continue;
    std::string where = std::string(tool) + " -t " + table + ": ";
    if (Has(t, "-j NOTRACK") || Has(t, "--notrack")) {
      out->notrack.push_back(where + t);
    } else if (table == "nat") {
      out->nat = true;
      out->tracking.push_back(where + t);
    } else if (Has(t, "-m state") || Has(t, "-m conntrack") || Has(t, "--ctstate") ||
               Has(t, "--state ")) {
      out->tracking.push_back(where + t);
    }
  }
}

namespace host_internal {

void ReadRules(RuleFacts* r) {
  std::string out, err;
  const char* nft[] = {"nft", "list", "ruleset", nullptr};
  if (RunCapture(nft, &out, &err)) {
    r->nft_available = true;
    ClassifyNftRules(out, r);
  } else {
    r->nft_error = err;
  }
  bool any = false;
  std::string errs;
  for (const char* tool : {"iptables-save", "ip6tables-save"}) {
    const char* argv[] = {tool, nullptr};
    if (RunCapture(argv, &out, &err)) {
      any = true;
      ClassifyIptablesRules(out, tool, r);
    } else {
      errs += (errs.empty() ? "" : "; ") + err;
    }
  }
  r->iptables_available = any;
  if (!any) r->iptables_error = errs;
}

}  // namespace host_internal
}  // namespace ctrack
