#include "memory/compaction.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "memory/store_stats.h"
#include "memory/synthetic.h"
#include "memory/verify.h"

namespace mneme::memory {
namespace {

namespace fs = std::filesystem;

class CompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            ("compact_" + std::to_string(::getpid()) + "_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))).string();
    fs::remove_all(dir_);
    store_ = std::move(*Store::Open(dir_, {}));
    session_ = *store_->CreateSession(SyntheticSession("s", 4, 2, 128));  // MSA-4B head_dim
    for (int o = 0; o < 60; ++o) {
      auto d = MakeSyntheticDoc(session_, o, 3, 2 + o % 5, 2000);
      ASSERT_TRUE(store_->Append(session_, DocumentWrite{d->info, d->text, d->segments}).ok());
    }
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
  SessionInfo session_;
};

TEST_F(CompactionTest, ReclaimsTheBytesOfDeletedDocuments) {
  // A second session's documents are deleted one by one (tombstones); the on-disk bytes they
  // added must almost all come back, with the first session untouched.
  SessionInfo other = *store_->CreateSession(SyntheticSession("other", 4, 2, 64));
  auto base = Compact(*store_, {});
  ASSERT_TRUE(base.ok()) << base.status();
  for (int o = 0; o < 40; ++o) {
    auto d = MakeSyntheticDoc(other, o, 9, 2 + o % 5, 2000);
    ASSERT_TRUE(store_->Append(other, DocumentWrite{d->info, d->text, d->segments}).ok());
  }
  auto full = Compact(*store_, {});
  ASSERT_TRUE(full.ok());
  for (int o = 0; o < 40; ++o) ASSERT_TRUE(store_->Delete(other, o).ok());
  auto rep = Compact(*store_, {});
  ASSERT_TRUE(rep.ok()) << rep.status();
  const int64_t added = full->bytes_after - base->bytes_after;
  const double reclaimed = static_cast<double>(full->bytes_after - rep->bytes_after) / added;
  std::printf("deleted documents took %lld bytes on disk; compaction reclaimed %.1f%% (%lld -> %lld bytes)\n",
              static_cast<long long>(added), 100.0 * reclaimed, static_cast<long long>(full->bytes_after),
              static_cast<long long>(rep->bytes_after));
  EXPECT_GE(reclaimed, 0.95);
  auto report = VerifyStore(*store_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->live_documents, 60);
}

TEST_F(CompactionTest, EightBitCodecsHalveSegmentBytesAndStayVerifiable) {
  auto segment_bytes = [&] {
    int64_t total = 0;
    EXPECT_TRUE(store_->ScanDocuments(session_.id, 0, [&](const DocumentInfo& d) {
      total += d.segment_bytes;
      return absl::OkStatus();
    }).ok());
    return total;
  };
  const int64_t bf16 = segment_bytes();
  for (SegmentCodec codec : {SegmentCodec::kInt8, SegmentCodec::kFp8}) {
    CompactOptions o;
    o.session = "s";
    o.codec = codec;
    auto rep = Compact(*store_, o);
    ASSERT_TRUE(rep.ok()) << rep.status();
    EXPECT_EQ(rep->documents_reencoded, 60);
    const double ratio = static_cast<double>(segment_bytes()) / bf16;
    std::printf("%s: segment bytes %.4f of bf16 (store files %lld -> %lld)\n", SegmentCodecName(codec), ratio,
                static_cast<long long>(rep->bytes_before), static_cast<long long>(rep->bytes_after));
    // The codes are exactly half of bf16; the fp32 scale per (chunk, head) adds 1.6% of bf16 at
    // head_dim 128 and the 60-byte header and CRC (same in both codecs) the rest: a fixed
    // per-segment header makes a ratio of exactly 0.5 unreachable. docs/perf.md gives the figure
    // at the MSA-4B shape.
    EXPECT_LE(ratio, 0.53);
    EXPECT_EQ(store_->GetSession("s")->codec, codec);
    auto report = VerifyStore(*store_);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->problems.at(0).Describe();
    EXPECT_EQ(report->segments, 60 * 4);
    EXPECT_EQ(report->live_documents, 60);
  }
}

TEST_F(CompactionTest, StatsCountDocumentsAndBytes) {
  ASSERT_TRUE(store_->Delete(session_, 3).ok());
  auto st = ComputeStats(*store_);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->sessions.size(), 1u);
  EXPECT_EQ(st->sessions[0].documents, 60);
  EXPECT_EQ(st->sessions[0].live_documents, 59);
  EXPECT_GT(st->disk_bytes, 0);
  EXPECT_EQ(st->families.size(), 3u);
}

}  // namespace
}  // namespace mneme::memory
