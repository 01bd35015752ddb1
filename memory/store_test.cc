#include "memory/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <thread>

#include "memory/internal/rocks.h"
#include "memory/retention.h"
#include "memory/synthetic.h"
#include "memory/verify.h"

namespace mneme::memory {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            ("store_" + std::to_string(::getpid()) + "_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> OpenRw() {
    auto s = Store::Open(dir_, {});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  SyntheticDoc Doc(const SessionInfo& s, int64_t ordinal, int chunks = 2) {
    auto d = MakeSyntheticDoc(s, ordinal, 42, chunks, 200);
    EXPECT_TRUE(d.ok()) << d.status();
    return *d;
  }
  absl::StatusOr<AppendResult> Add(Store& st, const SessionInfo& s, const SyntheticDoc& d) {
    return st.Append(s, DocumentWrite{d.info, d.text, d.segments});
  }
  std::string dir_;
};

TEST_F(StoreTest, SessionsCreateListGetDrop) {
  auto st = OpenRw();
  auto a = st->CreateSession(SyntheticSession("alpha", 2, 2, 16));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_NE(a->id, 0u);
  EXPECT_EQ(st->CreateSession(SyntheticSession("alpha", 2, 2, 16)).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(st->CreateSession(SyntheticSession(".bad", 2, 2, 16)).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(st->CreateSession(SyntheticSession("beta", 1, 2, 16)).ok());
  auto list = st->ListSessions();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alpha");
  ASSERT_TRUE(Add(*st, *a, Doc(*a, 0)).ok());
  ASSERT_TRUE(st->DropSession("alpha").ok());
  EXPECT_EQ(st->GetSession("alpha").status().code(), absl::StatusCode::kNotFound);
  int docs = 0;
  ASSERT_TRUE(st->ScanDocuments(a->id, 0, [&](const DocumentInfo&) { ++docs; return absl::OkStatus(); }).ok());
  EXPECT_EQ(docs, 0);
}

TEST_F(StoreTest, AppendedDocumentsSurviveReopenExactly) {
  SessionInfo s;
  std::vector<SyntheticDoc> docs;
  {
    auto st = OpenRw();
    s = *st->CreateSession(SyntheticSession("s", 3, 2, 16));
    for (int i = 0; i < 5; ++i) {
      docs.push_back(Doc(s, i, 1 + i));
      ASSERT_TRUE(Add(*st, s, docs.back()).ok());
    }
    EXPECT_EQ(Add(*st, s, Doc(s, 9)).status().code(), absl::StatusCode::kInvalidArgument);  // not next
  }
  auto st = OpenRw();
  EXPECT_EQ(*st->NextOrdinal(s.id), 5);
  int seen = 0;
  ASSERT_TRUE(st->ScanFull(s, [&](const DocumentInfo& d, std::string_view text, const std::vector<std::string>& segs) {
    const SyntheticDoc& want = docs[static_cast<size_t>(d.ordinal)];
    EXPECT_EQ(d.id, want.info.id);
    EXPECT_EQ(text, want.text);
    EXPECT_EQ(segs, want.segments);
    ++seen;
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(seen, 5);
  auto info = st->GetDocument(s.id, 2);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(*st->GetText(s.id, *info), docs[2].text);
  auto seg = st->GetSegment(s.id, 2, s.layers[1]);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(*seg, docs[2].segments[1]);
}

TEST_F(StoreTest, DeleteTombstonesAndNeverReusesOrdinals) {
  auto st = OpenRw();
  SessionInfo s = *st->CreateSession(SyntheticSession("s", 2, 2, 16));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Add(*st, s, Doc(s, i)).ok());
  ASSERT_TRUE(st->Delete(s, 2).ok());
  EXPECT_EQ(st->Delete(s, 2).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st->Delete(s, 7).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*st->NextOrdinal(s.id), 3);
  auto d = st->GetDocument(s.id, 2);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->deleted);
  EXPECT_EQ(st->GetText(s.id, *d).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(st->GetSegment(s.id, 2, s.layers[0]).ok());
  ASSERT_TRUE(Add(*st, s, Doc(s, 3)).ok());
}

TEST_F(StoreTest, RetentionEvictsOldestInTheSameBatch) {
  auto st = OpenRw();
  SessionInfo proto = SyntheticSession("feed", 1, 2, 16);
  proto.retention.max_documents = 3;
  SessionInfo s = *st->CreateSession(proto);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Add(*st, s, Doc(s, i))->evicted.empty());
  auto r = Add(*st, s, Doc(s, 3));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted, (std::vector<int64_t>{0}));
  EXPECT_TRUE(st->GetDocument(s.id, 0)->deleted);
  EXPECT_FALSE(st->GetDocument(s.id, 1)->deleted);
}

TEST_F(StoreTest, RetentionByBytesAndAge) {
  Retention by_bytes;
  by_bytes.max_bytes = 250;
  std::deque<LiveDoc> older = {{0, 0, 100}, {1, 0, 100}};
  EXPECT_EQ(PickEvictions(by_bytes, older, 200, {2, 0, 100}, 0), (std::vector<int64_t>{0}));
  Retention by_age;
  by_age.max_age_seconds = 10;
  older = {{0, 0, 1}, {1, 5000, 1}};
  EXPECT_EQ(PickEvictions(by_age, older, 2, {2, 20000, 1}, 20000), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(PickEvictions(by_bytes, {}, 0, {5, 0, 1000}, 0).empty());  // the newest always stays
  older = {{0, 0, 10}, {1, 0, 10}};
  EXPECT_EQ(PickEvictions(by_bytes, older, 20, {2, 0, 1000}, 0), (std::vector<int64_t>{0, 1}));
}

TEST_F(StoreTest, SecondWriterIsRefusedReadOnlyWorks) {
  auto st = OpenRw();
  SessionInfo s = *st->CreateSession(SyntheticSession("s", 1, 2, 16));
  ASSERT_TRUE(Add(*st, s, Doc(s, 0)).ok());
  auto second = Store::Open(dir_, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  auto ro = Store::Open(dir_, StoreOptions{.read_only = true});
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_EQ((*ro)->GetDocument(s.id, 0)->id, Doc(s, 0).info.id);
  EXPECT_EQ((*ro)->Delete(s, 0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Store::Open(dir_ + "-missing", StoreOptions{.read_only = true}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, ConcurrentAppendersAcrossSessionsAndReaders) {
  auto st = OpenRw();
  std::vector<SessionInfo> sessions;
  for (int i = 0; i < 4; ++i) sessions.push_back(*st->CreateSession(SyntheticSession("s" + std::to_string(i), 2, 2, 16)));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (const SessionInfo& s : sessions) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < 25; ++i) {
        auto d = MakeSyntheticDoc(s, i, 1, 1, 64);
        if (!d.ok() || !st->Append(s, DocumentWrite{d->info, d->text, d->segments}).ok()) ++failures;
      }
    });
  }
  threads.emplace_back([&] {  // a reader: every visible document is whole
    for (int round = 0; round < 20; ++round) {
      for (const SessionInfo& s : sessions) {
        absl::Status r = st->ScanFull(s, [&](const DocumentInfo& d, std::string_view, const std::vector<std::string>& segs) {
          return segs.size() == s.layers.size() ? absl::OkStatus() : absl::DataLossError("partial");
        });
        if (!r.ok()) ++failures;
      }
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const SessionInfo& s : sessions) EXPECT_EQ(*st->NextOrdinal(s.id), 25);
}

}  // namespace
}  // namespace mneme::memory

namespace mneme::memory {
namespace {

TEST_F(StoreTest, VerifyReportsDamageAndOrphans) {
  auto st = OpenRw();
  SessionInfo s = *st->CreateSession(SyntheticSession("s", 2, 2, 16));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Add(*st, s, Doc(s, i)).ok());
  auto clean = VerifyStore(*st);
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->ok());
  EXPECT_EQ(clean->segments, 8);
  internal::Rocks& r = st->rocks();
  // A text and a segment of a session that does not exist, a segment left under a live
  // document's wrong layer, and a damaged segment of document 2.
  ASSERT_TRUE(r.db->Put(r.SyncWrite(), r.text, TextKey(s.id + 1, 0), "foreign").ok());
  ASSERT_TRUE(r.db->Put(r.SyncWrite(), r.segments, SegmentKeyBytes(s.id + 1, 0, 0), "foreign").ok());
  std::string seg = *st->GetSegment(s.id, 2, s.layers[1]);
  seg[seg.size() / 2] ^= 1;
  ASSERT_TRUE(r.db->Put(r.SyncWrite(), r.segments, SegmentKeyBytes(s.id, 2, static_cast<uint32_t>(s.layers[1])), seg).ok());
  auto report = VerifyStore(*st);
  ASSERT_TRUE(report.ok());
  std::string all;
  for (const auto& p : report->problems) all += p.Describe() + "\n";
  EXPECT_EQ(report->problems.size(), 3u) << all;
  EXPECT_NE(all.find("text stored for no live document"), std::string::npos) << all;
  EXPECT_NE(all.find("segment stored for no live document"), std::string::npos) << all;
  EXPECT_NE(all.find("session 's' document 2 layer " + std::to_string(s.layers[1])), std::string::npos) << all;
}

}  // namespace
}  // namespace mneme::memory
