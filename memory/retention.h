// Retention for streaming sessions: which live documents an append evicts.
#ifndef MNEME_MEMORY_RETENTION_H_
#define MNEME_MEMORY_RETENTION_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "memory/records.h"

namespace mneme::memory {

struct LiveDoc {
  int64_t ordinal = 0;
  int64_t created_unix_ms = 0;
  int64_t bytes = 0;  // text + segments
};

// `older` holds the session's live documents in ordinal order and `older_bytes` their byte total;
// `newest` is the document being appended. Returns the ordinals of `older` to evict, oldest
// first: while the policy is exceeded (more than max_documents, more than max_bytes, or the
// oldest older than max_age_seconds at now_unix_ms), the oldest live document goes. The newest
// document is never evicted, even when it alone exceeds max_bytes. Reads only what it evicts
// plus one entry, so an append costs O(evicted), not O(live documents).
std::vector<int64_t> PickEvictions(const Retention& policy, const std::deque<LiveDoc>& older,
                                   int64_t older_bytes, const LiveDoc& newest, int64_t now_unix_ms);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_RETENTION_H_
