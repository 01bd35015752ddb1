// The memory-session CLI end to end: create, add (files, JSONL, stdin), route, ask, delete,
// and the errors a user can run into.
#include <algorithm>
#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "common/json_util.h"
#include "gtest/gtest.h"
#include "tests/testutil/cli_runner.h"

namespace mneme {
namespace {

using testing::CliResult;
using testing::JsonLines;
using testing::Quote;

class SessionCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = ::testing::TempDir() + "/session_cli_" + std::to_string(::getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    ASSERT_EQ(Run("model init --preset tiny-msa --seed 2 --out " + Quote(root_ + "/model")).exit_code, 0);
    ASSERT_EQ(Run("gen contracts --count 12 --seed 3 --out " + Quote(root_ + "/corpus.jsonl")).exit_code, 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }

  static CliResult Run(const std::string& args, const std::string& stdin_text = "") {
    return testing::RunMneme("--data " + Quote(root_ + "/data") + " " + args, root_, stdin_text);
  }
  static nlohmann::json Json(const std::string& text) {
    auto j = ParseJson(text, "cli stdout");
    EXPECT_TRUE(j.ok()) << j.status() << "\n" << text;
    return j.ok() ? *j : nlohmann::json();
  }
  static std::string root_;
};
std::string SessionCliTest::root_;

TEST_F(SessionCliTest, IngestRouteAskDelete) {
  const std::string model = Quote(root_ + "/model");
  ASSERT_EQ(Run("session create legal --model " + model).exit_code, 0);
  EXPECT_EQ(Run("session create legal --model " + model).exit_code, 1);  // exists

  // JSONL: one JSON line per document, ordinals 0..11.
  CliResult add = Run("doc add --session legal --jsonl " + Quote(root_ + "/corpus.jsonl") + " --format json");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::vector<nlohmann::json> lines = JsonLines(add.out);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["ordinal"], i);
    EXPECT_GT(lines[i]["tokens"].get<int>(), 0);
  }
  EXPECT_EQ(lines.size(), 12u);
  // stdin: one document per line; a file: one document.
  CliResult in = Run("doc add --session legal --stdin --format json", "first line doc\nsecond line doc\n");
  ASSERT_EQ(in.exit_code, 0) << in.err;
  ASSERT_TRUE(WriteFileAtomic(root_ + "/note.txt", "Sensor 17 read 73.4 F.").ok());
  CliResult file = Run("doc add --session legal " + Quote(root_ + "/note.txt") + " --format json");
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(Json(file.out)["ordinal"], 14);

  CliResult route = Run("route --session legal --question 'What is the payment term?' --format json");
  ASSERT_EQ(route.exit_code, 0) << route.err;
  nlohmann::json r = Json(route.out);
  ASSERT_EQ(r["layers"].size(), 1u);
  EXPECT_EQ(r["layers"][0]["layer"], 1);
  ASSERT_EQ(r["layers"][0]["docs"].size(), 4u);  // tiny-msa: top_k 4
  const int top = r["layers"][0]["docs"][0]["ordinal"];
  // Route twice gives the same answer (replay is deterministic).
  EXPECT_EQ(Json(Run("route --session legal --question 'What is the payment term?' --format json").out)["layers"],
            r["layers"]);

  CliResult ask = Run("ask --session legal --question 'What is the payment term?' --max-tokens 6 --format json");
  ASSERT_EQ(ask.exit_code, 0) << ask.err;
  nlohmann::json a = Json(ask.out);
  ASSERT_GE(a["rounds"].size(), 1u);
  EXPECT_EQ(a["rounds"][0]["routing"]["layers"], r["layers"]);
  EXPECT_LE(a["rounds"][0]["new_ids"].size(), 6u);
  EXPECT_TRUE(a["timings"].contains("prefill_ms"));

  // Delete the top document: it no longer routes.
  ASSERT_EQ(Run("doc rm --session legal " + std::to_string(top)).exit_code, 0);
  EXPECT_EQ(Run("doc rm --session legal " + std::to_string(top)).exit_code, 1);
  EXPECT_EQ(Run("doc rm --session legal 999").exit_code, 1);
  nlohmann::json r2 = Json(Run("route --session legal --question 'What is the payment term?' --format json").out);
  for (const auto& d : r2["layers"][0]["docs"]) EXPECT_NE(d["ordinal"], top);
}

TEST_F(SessionCliTest, BadInputGetsClearErrors) {
  const std::string model = Quote(root_ + "/model");
  ASSERT_EQ(Run("session create bad --model " + model).exit_code, 0);
  CliResult unknown = Run("route --session nosuch --question q");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no session 'nosuch'"), std::string::npos) << unknown.err;
  // Invalid UTF-8 names the byte offset.
  ASSERT_TRUE(WriteFileAtomic(root_ + "/bad.txt", std::string("good text \xC3\x28 bad")).ok());
  CliResult utf = Run("doc add --session bad " + Quote(root_ + "/bad.txt"));
  EXPECT_EQ(utf.exit_code, 1);
  EXPECT_NE(utf.err.find("UTF-8"), std::string::npos) << utf.err;
  EXPECT_NE(utf.err.find("byte"), std::string::npos) << utf.err;
  // An empty document.
  ASSERT_TRUE(WriteFileAtomic(root_ + "/empty.jsonl", "{\"text\": \"\"}\n").ok());
  EXPECT_EQ(Run("doc add --session bad --jsonl " + Quote(root_ + "/empty.jsonl")).exit_code, 1);
  // Malformed JSONL names the line.
  ASSERT_TRUE(WriteFileAtomic(root_ + "/broken.jsonl", "{\"text\": \"ok\"}\n{nope\n").ok());
  CliResult broken = Run("doc add --session bad --jsonl " + Quote(root_ + "/broken.jsonl"));
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("broken.jsonl:2"), std::string::npos) << broken.err;
  // Asking an empty memory.
  CliResult empty_ask = Run("ask --session bad --question q");
  EXPECT_EQ(empty_ask.exit_code, 1);
  EXPECT_NE(empty_ask.err.find("no live document"), std::string::npos) << empty_ask.err;
  // A bad document after good ones (doc add appends in batches): those before it are stored and
  // printed, nothing after it.
  ASSERT_TRUE(WriteFileAtomic(root_ + "/mixed.jsonl",
                              "{\"text\": \"first good\"}\n{\"text\": \"second good\"}\n{\"text\": \"\"}\n"
                              "{\"text\": \"after\"}\n").ok());
  CliResult mixed = Run("doc add --session bad --jsonl " + Quote(root_ + "/mixed.jsonl") + " --format json");
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_NE(mixed.err.find("document 3"), std::string::npos) << mixed.err;
  auto ordinals = [](const std::string& out) {
    int n = 0;
    for (size_t at = out.find("\"ordinal\""); at != std::string::npos; at = out.find("\"ordinal\"", at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(ordinals(mixed.out), 2) << mixed.out;
  CliResult listed = Run("doc list --session bad --format json");
  EXPECT_EQ(ordinals(listed.out), 2) << listed.out;
  // Usage errors.
  EXPECT_EQ(Run("doc add --session bad").exit_code, 2);
  EXPECT_EQ(Run("ask --session bad --question q --max-rounds 0").exit_code, 2);
  EXPECT_EQ(Run("session create --model " + model).exit_code, 2);
  // Overrides that an msa checkpoint fixes are refused.
  EXPECT_EQ(Run("session create other --model " + model + " --routed-layers 0").exit_code, 1);
}

TEST_F(SessionCliTest, LongDocumentsAreSplitIntoLinkedParts) {
  ASSERT_EQ(Run("session create long --model " + Quote(root_ + "/model")).exit_code, 0);
  std::string text;
  for (int i = 0; i < 2500; ++i) text += "clause " + std::to_string(i) + " applies. ";
  ASSERT_TRUE(WriteFileAtomic(root_ + "/long.txt", text).ok());  // ~10K tokens > 4096 positions
  CliResult add = Run("doc add --session long " + Quote(root_ + "/long.txt") + " --format json");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::vector<nlohmann::json> parts = JsonLines(add.out);
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i]["ordinal"], i);
    EXPECT_EQ(parts[i]["part_of"], 0);
    EXPECT_LE(parts[i]["tokens"].get<int>(), 4096);
  }
  EXPECT_GE(parts.size(), 3u);
}

TEST_F(SessionCliTest, ModelChangeIsDetected) {
  const std::string dir = root_ + "/model2";
  ASSERT_EQ(Run("model init --preset tiny-msa --seed 5 --out " + Quote(dir)).exit_code, 0);
  ASSERT_EQ(Run("session create drift --model " + Quote(dir)).exit_code, 0);
  ASSERT_EQ(Run("doc add --session drift --stdin", "one doc\n").exit_code, 0);
  // The fingerprint covers tensor names, shapes and dtypes: replace the checkpoint with one of
  // another architecture (no router projectors) under the same path.
  std::filesystem::remove_all(dir);
  ASSERT_EQ(Run("model init --preset tiny --seed 5 --out " + Quote(dir)).exit_code, 0);
  CliResult r = Run("route --session drift --question q");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fingerprint"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mneme
