#include "memory/retention.h"

namespace mneme::memory {

std::vector<int64_t> PickEvictions(const Retention& policy, const std::deque<LiveDoc>& older,
                                   int64_t older_bytes, const LiveDoc& newest, int64_t now_unix_ms) {
  std::vector<int64_t> out;
  if (!policy.any()) return out;
  int64_t count = static_cast<int64_t>(older.size()) + 1;
  int64_t bytes = older_bytes + newest.bytes;
  for (const LiveDoc& d : older) {
    const bool over_count = policy.max_documents > 0 && count > policy.max_documents;
    const bool over_bytes = policy.max_bytes > 0 && bytes > policy.max_bytes;
    const bool too_old = policy.max_age_seconds > 0 &&
                         now_unix_ms - d.created_unix_ms > policy.max_age_seconds * 1000;
    if (!over_count && !over_bytes && !too_old) break;
    out.push_back(d.ordinal);
    --count;
    bytes -= d.bytes;
  }
  return out;
}

}  // namespace mneme::memory
