// StoredSession against the real store and the torch-checked MSA fixture model: warm restart
// gives identical routing and greedy answers; 8-bit codecs keep the top-k sets; retention and
// concurrent use keep every visible document whole.
#include "engine/stored_session.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "common/half.h"
#include "memory/compaction.h"
#include "memory/document_segments.h"
#include "memory/store.h"
#include "tools/gen/contract_corpus.h"

namespace mneme {
namespace {

namespace fs = std::filesystem;
const char* const kModel = std::getenv("MNEME_TEST_MODEL") ? std::getenv("MNEME_TEST_MODEL") : "tests/fixtures/msa/msa_cos";

class StoredSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            ("stored_" + std::to_string(::getpid()) + "_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()))).string();
    fs::remove_all(dir_);
    gen::ContractCorpusOptions o;
    o.num_documents = 48;
    o.seed = 11;
    o.max_words = 160;
    corpus_ = *gen::GenerateContractCorpus(o);
    for (const auto& q : gen::MakeQuestions(corpus_, 60, 5)) questions_.push_back(q.question);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<memory::Store> OpenStore(bool read_only = false) {
    auto s = memory::Store::Open(dir_, memory::StoreOptions{.read_only = read_only});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<StoredSession> OpenSession(memory::Store* store, const std::string& name) {
    StoredSessionOptions o;
    o.backend = kernels::BackendKind::kCpu;
    auto s = StoredSession::Open(store, name, o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  void Create(memory::Store* store, const std::string& name, memory::SegmentCodec codec = memory::SegmentCodec::kBf16,
              memory::Retention retention = {}) {
    NewSessionOptions n;
    n.name = name;
    n.model_dir = kModel;
    n.codec = codec;
    n.retention = retention;
    auto info = StoredSession::Create(store, n);
    ASSERT_TRUE(info.ok()) << info.status();
  }
  void Fill(StoredSession* s, size_t n) {
    for (size_t i = 0; i < n && i < corpus_.size(); ++i) {
      auto a = s->Append(DocumentInput{corpus_[i].text, corpus_[i].source, corpus_[i].tags});
      ASSERT_TRUE(a.ok()) << a.status();
    }
  }
  // Per question and routed layer, the selected ordinals.
  std::vector<std::vector<int64_t>> Selections(StoredSession* s) {
    std::vector<std::vector<int64_t>> out;
    for (const std::string& q : questions_) {
      auto r = s->Route(q);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) continue;
      for (const auto& layer : r->layers) {
        std::vector<int64_t> sel;
        for (const auto& d : layer.docs) sel.push_back(d.ordinal);
        std::sort(sel.begin(), sel.end());
        out.push_back(sel);
      }
    }
    return out;
  }
  // Session "c" in bf16 with 48 documents, closed again; its selections for every question.
  std::vector<std::vector<int64_t>> Bf16Selections() {
    auto store = OpenStore();
    Create(store.get(), "c");
    auto s = OpenSession(store.get(), "c");
    Fill(s.get(), 48);
    return Selections(s.get());
  }
  std::vector<std::vector<int32_t>> Answers(StoredSession* s, size_t n) {
    std::vector<std::vector<int32_t>> out;
    AskOptions ao;
    ao.max_new_tokens = 10;
    for (size_t i = 0; i < n; ++i) {
      auto a = s->Ask(questions_[i], ao);
      EXPECT_TRUE(a.ok()) << a.status();
      std::vector<int32_t> ids;
      if (a.ok()) {
        for (const auto& r : a->rounds) ids.insert(ids.end(), r.new_ids.begin(), r.new_ids.end());
      }
      out.push_back(ids);
    }
    return out;
  }

  std::string dir_;
  std::vector<gen::GeneratedDocument> corpus_;
  std::vector<std::string> questions_;
};

TEST_F(StoredSessionTest, WarmRestartGivesIdenticalRoutingAndGreedyAnswers) {
  std::vector<std::vector<int64_t>> routing;
  std::vector<std::vector<int32_t>> answers;
  {
    auto store = OpenStore();
    Create(store.get(), "contracts");
    auto s = OpenSession(store.get(), "contracts");
    Fill(s.get(), 40);
    ASSERT_TRUE(s->Delete(7).ok());
    routing = Selections(s.get());
    answers = Answers(s.get(), 4);
  }
  auto store = OpenStore(/*read_only=*/true);  // queries need no write access
  auto s = OpenSession(store.get(), "contracts");
  EXPECT_EQ(s->live_documents(), 39);
  EXPECT_EQ(Selections(s.get()), routing);
  EXPECT_EQ(Answers(s.get(), 4), answers);
  EXPECT_EQ(s->Append(DocumentInput{"more text", "", {}}).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A batch appends like one Append per document: same ordinals and pooled memory, durable across a
// restart; a bad document in the middle stores those before it and nothing after it.
TEST_F(StoredSessionTest, AppendBatchActsLikeAppendsInOrder) {
  auto store = OpenStore();
  Create(store.get(), "one");
  Create(store.get(), "batch");
  auto one = OpenSession(store.get(), "one");
  auto batch = OpenSession(store.get(), "batch");
  std::vector<DocumentInput> docs;
  for (size_t i = 0; i < 12; ++i) docs.push_back(DocumentInput{corpus_[i].text, corpus_[i].source, corpus_[i].tags});
  Fill(one.get(), 12);
  std::vector<StoredAppend> done;
  ASSERT_TRUE(batch->AppendBatch(docs, &done).ok());
  ASSERT_EQ(done.size(), 12u);
  for (size_t i = 0; i < done.size(); ++i) EXPECT_EQ(done[i].doc.ordinal, int64_t(i));
  EXPECT_EQ(batch->next_ordinal(), 12);
  EXPECT_EQ(Selections(batch.get()), Selections(one.get()));
  const std::string bad = "bad \xff utf8";
  std::vector<DocumentInput> with_bad = {docs[0], DocumentInput{bad, "x", {}}, docs[1]};
  EXPECT_EQ(batch->AppendBatch(with_bad, &done).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(done.size(), 1u);  // the document before the bad one is stored
  EXPECT_EQ(done[0].doc.ordinal, 12);
  EXPECT_EQ(batch->next_ordinal(), 13);
  batch.reset();
  one.reset();
  auto reopened = OpenSession(store.get(), "batch");
  EXPECT_EQ(reopened->live_documents(), 13);
}

// Moves every routing-key value of session `name` one bf16 step up or down (seeded), keeping the
// bf16 codec: the smallest change bf16 storage can make.
void NudgeRoutingKeysOneUlp(memory::Store* store, const std::string& name, uint64_t seed) {
  const memory::SessionInfo s = *store->GetSession(name);
  const uint64_t fp = *memory::FingerprintValue(s.fingerprint);
  std::mt19937_64 rng(seed);
  std::vector<memory::DocumentInfo> docs;
  ASSERT_TRUE(store->ScanDocuments(s.id, 0, [&](const memory::DocumentInfo& d) {
    if (!d.deleted) docs.push_back(d);
    return absl::OkStatus();
  }).ok());
  for (const memory::DocumentInfo& d : docs) {
    std::vector<std::string> segs;
    for (int layer : s.layers) segs.push_back(*store->GetSegment(s.id, d.ordinal, layer));
    auto pooled = memory::DecodeDocumentSegments(s, fp, d, segs);
    ASSERT_TRUE(pooled.ok()) << pooled.status();
    for (auto& kr : pooled->kr) {
      for (float& x : kr) {
        if (x == 0.0f) continue;
        const uint16_t b = FloatToBf16(x);
        x = Bf16ToFloat(static_cast<uint16_t>(rng() & 1 ? b + 1 : b - 1));  // next/previous magnitude
      }
    }
    auto enc = memory::EncodeDocumentSegments(s, fp, d.id, memory::SegmentCodec::kBf16, *pooled);
    ASSERT_TRUE(enc.ok());
    ASSERT_TRUE(store->RewriteSegments(s, d, *enc).ok());
  }
}

double Agreement(const std::vector<std::vector<int64_t>>& a, const std::vector<std::vector<int64_t>>& b) {
  size_t same = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) same += a[i] == b[i];
  return a.empty() ? 0.0 : static_cast<double>(same) / static_cast<double>(a.size());
}

TEST_F(StoredSessionTest, EightBitCodecsKeepTopKSets) {
  const std::vector<std::vector<int64_t>> bf16 = Bf16Selections();
  ASSERT_GE(bf16.size(), 100u);
  for (memory::SegmentCodec codec : {memory::SegmentCodec::kInt8, memory::SegmentCodec::kFp8}) {
    auto store = OpenStore();
    memory::CompactOptions co;
    co.codec = codec;
    ASSERT_TRUE(memory::Compact(*store, co).ok());
    auto s = OpenSession(store.get(), "c");
    const auto got = Selections(s.get());
    ASSERT_EQ(got.size(), bf16.size());
    const double agreement = Agreement(got, bf16);
    std::printf("%s: top-k sets equal to bf16 on %.1f%% of %zu (question, routed layer) pairs\n",
                memory::SegmentCodecName(codec), 100.0 * agreement, got.size());
    // The goal is 99%; on this random-weight fixture (near-tied routing scores, head_dim
    // 16) int8 reaches about 94% and fp8-e4m3 (3 mantissa bits) about 61%; see docs/perf.md. The
    // bounds catch a broken codec (chance agreement is a few percent).
    EXPECT_GE(agreement, codec == memory::SegmentCodec::kInt8 ? 0.90 : 0.50);
  }
}

// The control for the figure above: how many top-k sets change when the bf16 routing keys move
// by one bf16 step, the least any re-rounding can do. On a fixture whose scores are this close,
// no 8-bit codec can reach 99% agreement.
TEST_F(StoredSessionTest, OneUlpOfBf16AlreadyChangesTopKSets) {
  const std::vector<std::vector<int64_t>> bf16 = Bf16Selections();
  auto store = OpenStore();
  NudgeRoutingKeysOneUlp(store.get(), "c", 1);
  auto s = OpenSession(store.get(), "c");
  const double agreement = Agreement(Selections(s.get()), bf16);
  std::printf("bf16 keys moved by one ulp: top-k sets equal on %.1f%% of %zu pairs\n", 100.0 * agreement,
              bf16.size());
  EXPECT_GE(agreement, 0.5);  // a nudge, not a different memory
}

TEST_F(StoredSessionTest, EightBitSessionAnswersTheSameAfterRestart) {
  std::vector<std::vector<int32_t>> answers;
  {
    auto store = OpenStore();
    Create(store.get(), "q", memory::SegmentCodec::kInt8);
    auto s = OpenSession(store.get(), "q");
    Fill(s.get(), 20);
    answers = Answers(s.get(), 3);
  }
  auto store = OpenStore();
  auto s = OpenSession(store.get(), "q");
  EXPECT_EQ(Answers(s.get(), 3), answers);
}

TEST_F(StoredSessionTest, RetentionEvictsOldestAndTheyStopRouting) {
  auto store = OpenStore();
  memory::Retention keep5;
  keep5.max_documents = 5;
  Create(store.get(), "feed", memory::SegmentCodec::kBf16, keep5);
  auto s = OpenSession(store.get(), "feed");
  std::vector<int64_t> evicted;
  for (size_t i = 0; i < 9; ++i) {
    auto a = s->Append(DocumentInput{corpus_[i].text, corpus_[i].source, {}});
    ASSERT_TRUE(a.ok());
    evicted.insert(evicted.end(), a->evicted.begin(), a->evicted.end());
  }
  EXPECT_EQ(evicted, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(s->live_documents(), 5);
  for (const auto& sel : Selections(s.get())) {
    for (int64_t o : sel) EXPECT_GE(o, 4) << "an evicted document routed";
  }
}

TEST_F(StoredSessionTest, ConcurrentAppendsAndQueriesSeeWholeDocuments) {
  auto store = OpenStore();
  Create(store.get(), "mt");
  auto s = OpenSession(store.get(), "mt");
  Fill(s.get(), 4);
  std::atomic<int> failures{0};
  std::atomic<size_t> next{4};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < 28;) {
        if (!s->Append(DocumentInput{corpus_[i].text, corpus_[i].source, {}}).ok()) ++failures;
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        auto r = s->Route(questions_[static_cast<size_t>(i + t)]);
        if (!r.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(s->live_documents(), 28);
  s.reset();
  auto again = OpenSession(store.get(), "mt");
  EXPECT_EQ(again->live_documents(), 28);
}

}  // namespace
}  // namespace mneme
