#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"
#include "tools/mneme/cli.h"

namespace mneme::cli {

constexpr char kUsagePayload[] = "mneme/usage";

absl::Status UsageError(const std::string& message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("1"));
  return s;
}

bool IsUsageError(const absl::Status& s) { return s.GetPayload(kUsagePayload).has_value(); }

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& argv,
                                 const std::vector<FlagSpec>& specs) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& tok = argv[i];
    if (tok.size() < 3 || tok.rfind("--", 0) != 0) {
      a.positionals_.push_back(tok);
      continue;
    }
    std::string name = tok.substr(2), value;
    bool has_inline = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& f : specs) {
      if (f.name == name) spec = &f;
    }
    if (spec == nullptr) return UsageError("unknown flag --" + name);
    if (spec->takes_value && !has_inline) {
      if (i + 1 >= argv.size()) return UsageError("flag --" + name + " needs a value");
      value = argv[++i];
    } else if (!spec->takes_value && has_inline) {
      return UsageError("flag --" + name + " takes no value");
    }
    a.values_[name] = value;
  }
  return a;
}

std::optional<std::string> Args::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::string> Args::Required(const std::string& name) const {
  auto v = Get(name);
  if (!v) return UsageError("missing required flag --" + name);
  return *v;
}

absl::StatusOr<int64_t> Args::GetInt(const std::string& name, int64_t def) const {
  auto v = Get(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0) {
    return UsageError("flag --" + name + " expects an integer, got '" + *v + "'");
  }
  return static_cast<int64_t>(x);
}

absl::StatusOr<double> Args::GetDouble(const std::string& name, double def) const {
  auto v = Get(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno != 0 || !std::isfinite(x)) {
    return UsageError("flag --" + name + " expects a number, got '" + *v + "'");
  }
  return x;
}

absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& s) {
  std::vector<int32_t> ids;
  size_t at = 0;
  while (at <= s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    const std::string part = s.substr(at, comma - at);
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || errno != 0 || x < 0 || x > INT32_MAX) {
      return UsageError("bad token id list '" + s + "': expected comma-separated ids like 1,2,3");
    }
    ids.push_back(static_cast<int32_t>(x));
    at = comma + 1;
  }
  return ids;
}

}  // namespace mneme::cli
