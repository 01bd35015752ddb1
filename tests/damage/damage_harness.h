// The damage harness shared by damage_test.cc (store files) and snapshot_damage_test.cc: a
// reference store with data in every kind of file, file damage, and a reader that compares
// everything a damaged store serves with the reference (RELIABILITY.md T4).
#ifndef MNEME_TESTS_DAMAGE_DAMAGE_HARNESS_H_
#define MNEME_TESTS_DAMAGE_DAMAGE_HARNESS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "memory/records.h"
#include "memory/store.h"
#include "memory/synthetic.h"

namespace mneme::memory::damage_test {

namespace fs = std::filesystem;

inline constexpr const char* kSession = "ref";

// MNEME_DAMAGE_SEED (default fixed, so the tables are reproducible); MNEME_DAMAGE_VERBOSE.
uint64_t DamageSeed();
bool Verbose();

// ---- files ----
std::string ReadAll(const fs::path& p);
// A fresh regular copy (snapshot SST/blob files are hard links of the live ones, and damage must
// not reach the reference through a link).
void CopyTree(const fs::path& from, const fs::path& to);
// "WAL", "SST", "blob", "MANIFEST", "CURRENT", "OPTIONS", "IDENTITY", "manifest.json", or empty.
std::string TypeOf(const std::string& name);
std::vector<std::string> FilesOfType(const fs::path& dir, const std::string& type);

// ---- damage ----
enum class Kind { kBitFlip, kZeroPage, kTruncate, kTruncateToZero, kDelete, kDeleteWithWals, kSwap };

struct Damage {
  Kind kind = Kind::kBitFlip;
  std::string file;     // name inside the damaged directory
  uint64_t offset = 0;  // bit flip / zeroed page / truncation point
  int bit = 0;
  fs::path swap_from;  // the replacement for kSwap
  std::string label;   // "bit flip (middle)", for the table
};

// Applies `d` to <dir>/<d.file>. Returns whether the file's bytes changed (a swap with an
// identical file does not change anything).
bool Apply(const Damage& d, const fs::path& dir);

// The damages of one file: bit flips near the head, in the middle, near the tail and anywhere; a
// zeroed 4 KiB page; a random truncation; truncation to zero; deletion (for CURRENT also with the
// WAL); the same-named file (else the same-typed one at the same position) from `other_dir`.
std::vector<Damage> DamagesFor(const fs::path& dir, const std::string& file, const fs::path& other_dir,
                               std::mt19937_64& rng);

// ---- the reference store ----
struct RefDoc {
  DocumentInfo info;                  // as stored
  std::string text;                   // the synthetic original (also for tombstones)
  std::vector<std::string> segments;  // likewise
};

struct Reference {
  std::string data_dir;
  SessionInfo session;
  std::map<int64_t, RefDoc> docs;
};

SyntheticDoc Synth(const SessionInfo& s, int64_t ordinal);
void FlushAll(Store& st);
// 60 documents: 0-24 and 25-49 each flushed to SST (meta, text) and blob files (segments), 50-59
// and the deletes of 7 and 55 only in the WAL; five deletes in all. Closed on return.
void BuildStore(const std::string& data_dir, Reference* ref);
// Reads the reference back from an undamaged copy and checks it against the synthetic originals.
void LoadReference(Reference* ref, const fs::path& scratch);

// ---- one case ----
struct Outcome {
  std::string cell;  // for the table
  bool opened = false;
  bool wrong = false;        // served bytes other than the reference's
  bool silent_loss = false;  // reference documents (or deletes) gone without an error
  std::string detail;
};

// Store::Open (read-write as the CLI opens it, or read-only), then every read the store offers
// compared with `ref`, then VerifyStore, which must flag damage whenever a read was refused.
Outcome OpenAndRead(const std::string& data_dir, const Reference& ref, bool read_only);

// (type, damage) -> column -> outcome cell -> count; printed as markdown, rows in first-seen order.
class Table {
 public:
  void Add(const std::string& type, const std::string& damage, int column, const std::string& cell);
  void Print(const std::vector<std::string>& columns) const;

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::map<int, std::map<std::string, int>>> rows_;
};

// Builds reference stores A and B (same workload, different session ids) once per suite.
class DamageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  static fs::path* root_;
  static Reference* a_;
  static Reference* b_;
};

}  // namespace mneme::memory::damage_test

#endif  // MNEME_TESTS_DAMAGE_DAMAGE_HARNESS_H_
