#include "memory/doc_log.h"

#include <filesystem>
#include <fstream>

#include "common/file_util.h"
#include "gtest/gtest.h"
#include "memory/memory_index.h"
#include "memory/session_dir.h"

namespace mneme::memory {
namespace {

std::string FreshDir(const std::string& name) {
  std::string d = ::testing::TempDir() + "/doc_log_test_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

DocRecord Add(int64_t ordinal, const std::string& text) {
  DocRecord r;
  r.ordinal = ordinal;
  r.id = 0xabcdef0000000000ull + static_cast<uint64_t>(ordinal);
  r.text = text;
  r.source = "s" + std::to_string(ordinal);
  r.tags = {"t"};
  return r;
}

TEST(DocLogTest, AppendsSurviveReopen) {
  const std::string path = FreshDir("reopen") + "/docs.jsonl";
  {
    auto log = DocLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->Append(Add(0, "first \"quoted\"\nline")).ok());
    ASSERT_TRUE((*log)->Append(Add(1, "second 你好")).ok());
    DocRecord del;
    del.op = DocRecord::Op::kDelete;
    del.ordinal = 0;
    ASSERT_TRUE((*log)->Append(del).ok());
    EXPECT_EQ((*log)->Append(Add(5, "gap")).code(), absl::StatusCode::kInvalidArgument);
  }
  auto log = DocLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ((*log)->records().size(), 3u);
  EXPECT_EQ((*log)->records()[0].text, "first \"quoted\"\nline");
  EXPECT_EQ((*log)->records()[1].text, "second 你好");
  EXPECT_EQ((*log)->records()[1].id, 0xabcdef0000000001ull);
  EXPECT_EQ((*log)->records()[2].op, DocRecord::Op::kDelete);
  EXPECT_EQ((*log)->next_ordinal(), 2);
}

TEST(DocLogTest, TornTailIsDroppedAndOverwritten) {
  const std::string path = FreshDir("torn") + "/docs.jsonl";
  {
    auto log = DocLog::Open(path);
    ASSERT_TRUE((*log)->Append(Add(0, "kept")).ok());
  }
  {
    std::ofstream f(path, std::ios::app);
    f << "{\"op\":\"add\",\"ordinal\":1,\"te";  // a crash mid-write
  }
  {
    auto log = DocLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_EQ((*log)->records().size(), 1u);
    ASSERT_TRUE((*log)->Append(Add(1, "after crash")).ok());
  }
  auto log = DocLog::Open(path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ((*log)->records().size(), 2u);
  EXPECT_EQ((*log)->records()[1].text, "after crash");
}

TEST(DocLogTest, DamageBeforeTheTailIsDataLoss) {
  const std::string path = FreshDir("damage") + "/docs.jsonl";
  {
    auto log = DocLog::Open(path);
    ASSERT_TRUE((*log)->Append(Add(0, "a")).ok());
    ASSERT_TRUE((*log)->Append(Add(1, "b")).ok());
  }
  std::string content = *ReadFileToString(path);
  content[3] = '#';  // break the first record
  ASSERT_TRUE(WriteFileAtomic(path, content).ok());
  auto log = DocLog::Open(path);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(log.status().message().find("docs.jsonl:1"), std::string::npos) << log.status();
}

TEST(SessionDirTest, CreateOpenLockAndList) {
  const std::string data = FreshDir("session");
  SessionManifest m;
  m.name = "contracts";
  m.model_dir = "/models/x";
  m.fingerprint = "0123";
  m.top_k = 4;
  auto s = SessionDir::Create(data, m);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(SessionDir::Create(data, m).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SessionDir::Open(data, "contracts").status().code(), absl::StatusCode::kFailedPrecondition);
  s->reset();
  auto again = SessionDir::Open(data, "contracts");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->manifest().top_k, 4);
  EXPECT_EQ((*again)->manifest().model_dir, "/models/x");
  EXPECT_EQ(SessionDir::Open(data, "missing").status().code(), absl::StatusCode::kNotFound);
  m.name = "../evil";
  EXPECT_EQ(SessionDir::Create(data, m).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*SessionDir::List(data), std::vector<std::string>{"contracts"});
}

TEST(MemoryIndexTest, ValidatesShapesAndTombstones) {
  MemoryIndex index(2, 4);
  PooledDocument bad;
  bad.num_chunks = 1;
  bad.k = bad.v = bad.kr = {std::vector<float>(4)};  // one slot, index has two
  EXPECT_EQ(index.Append(bad, "x").status().code(), absl::StatusCode::kInvalidArgument);
  PooledDocument ok;
  ok.num_chunks = 2;
  ok.num_tokens = 70;
  ok.k = ok.v = ok.kr = {std::vector<float>(8, 1.0f), std::vector<float>(8, 2.0f)};
  ASSERT_EQ(*index.Append(ok, "doc0"), 0);
  ASSERT_EQ(*index.Append(ok, "doc1"), 1);
  EXPECT_EQ(index.total_chunks(), 4);
  EXPECT_EQ(index.chunk_doc()[2], 1);
  EXPECT_EQ(index.routing_keys(1)[0], 2.0f);
  ASSERT_TRUE(index.Delete(0).ok());
  EXPECT_FALSE(index.IsLive(0));
  EXPECT_EQ(index.live_documents(), 1);
  EXPECT_EQ(index.Delete(0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(index.Delete(7).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mneme::memory
