// The workload of the SIGKILL crash test (RELIABILITY.md T1), shared by the child that writes it
// (crash_child.cc) and the test that checks it (crash_test.cc). Everything is a pure function of
// the ordinal, so the checker recomputes exactly what an acknowledged document must hold.
//
// Child protocol (stdout, one write(2) per line, so a line is either whole or absent):
//   "READY <next_ordinal>\n"  the store is open; appends start at next_ordinal
//   "ACK <ordinal>\n"         Append(ordinal) returned OK
//   "DEL <ordinal>\n"         Delete(ordinal) returned OK
// The child never exits on its own; on any error it prints "ERR <status>" to stderr and exits 2.
#ifndef MNEME_TESTS_CRASH_CRASH_WORKLOAD_H_
#define MNEME_TESTS_CRASH_CRASH_WORKLOAD_H_

#include <cstdint>

#include "memory/records.h"
#include "memory/synthetic.h"

namespace mneme::crash_test {

inline constexpr const char* kSessionName = "crash";
inline constexpr int kLayers = 3, kKvHeads = 2, kHeadDim = 32;
inline constexpr uint64_t kDocSeed = 0x6d6e656d65ull;  // "mneme"

inline memory::SessionInfo CrashSessionShape() {
  return memory::SyntheticSession(kSessionName, kLayers, kKvHeads, kHeadDim);
}

// 1..4 chunks and 160..415 bytes of text, varying by ordinal.
inline int ChunksFor(int64_t ordinal) { return 1 + static_cast<int>(ordinal % 4); }
inline int TextBytesFor(int64_t ordinal) { return 160 + static_cast<int>((ordinal * 37) % 256); }

// After appending every 7th document (ordinal % 7 == 6) the child deletes ordinal - 5. Targets
// are distinct (all == 1 mod 7) and always older than the document that triggers them. The
// delete completes before the next append starts, so once ordinal + 1 exists the target must be
// a tombstone; a child that starts at next_ordinal == ordinal + 1 first finishes a pending one.
inline bool DeletesAfter(int64_t ordinal) { return ordinal % 7 == 6; }
inline int64_t DeleteTargetOf(int64_t ordinal) { return ordinal - 5; }
inline bool IsDeleteTarget(int64_t ordinal) { return ordinal % 7 == 1; }
inline int64_t DeleteTriggerOf(int64_t target) { return target + 5; }

inline absl::StatusOr<memory::SyntheticDoc> CrashDoc(const memory::SessionInfo& session, int64_t ordinal) {
  return memory::MakeSyntheticDoc(session, ordinal, kDocSeed, ChunksFor(ordinal), TextBytesFor(ordinal));
}

}  // namespace mneme::crash_test

#endif  // MNEME_TESTS_CRASH_CRASH_WORKLOAD_H_
