// End-to-end tests of the `mneme` binary: output formats, exit codes, error messages.
#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "common/json_util.h"
#include "gtest/gtest.h"
#include "tests/testutil/cli_runner.h"

namespace mneme {
namespace {

using testing::CliResult;
using testing::Quote;

CliResult RunCli(const std::string& args) { return testing::RunMneme(args, ::testing::TempDir()); }

nlohmann::json Json(const CliResult& r) {
  auto j = ParseJson(r.out, "cli stdout");
  EXPECT_TRUE(j.ok()) << j.status() << "\nstdout: " << r.out << "\nstderr: " << r.err;
  return j.ok() ? *j : nlohmann::json();
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = ::testing::TempDir() + "/cli_model_" + std::to_string(::getpid());
    std::filesystem::remove_all(model_dir_);
    CliResult r = RunCli("model init --preset tiny --seed 3 --out " + Quote(model_dir_) + " --format json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(model_dir_); }
  static std::string model_dir_;
};
std::string CliTest::model_dir_;

TEST_F(CliTest, ModelInitWritesHfLayout) {
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(std::filesystem::exists(model_dir_ + "/" + f)) << f;
  }
}

TEST_F(CliTest, TokenizeRoundTripsJson) {
  CliResult r = RunCli("tokenize --model " + Quote(model_dir_) +
                       " --text 'Hello <|im_start|>world 你好' --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = Json(r);
  EXPECT_GT(j["ids"].size(), 3u);
  EXPECT_EQ(j["text"], "Hello <|im_start|>world 你好");
}

TEST_F(CliTest, GenerateGreedyIsDeterministicAndHonoursMaxTokens) {
  const std::string cmd = "generate --model " + Quote(model_dir_) +
                          " --prompt 'The contract' --max-tokens 7 --format json";
  CliResult a = RunCli(cmd), b = RunCli("--format json " + cmd);  // global flag before or after
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  nlohmann::json ja = Json(a), jb = Json(b);
  EXPECT_EQ(ja["new_ids"].size(), 7u);  // greedy never stops early without --stop-at-eos
  EXPECT_EQ(ja["new_ids"], jb["new_ids"]);
  EXPECT_FALSE(ja["prompt_ids"].empty());
  // --prompt-ids with the same ids continues identically.
  std::string ids;
  for (const auto& id : ja["prompt_ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(id.get<int>());
  CliResult c = RunCli("generate --model " + Quote(model_dir_) + " --prompt-ids " + ids +
                       " --max-tokens 7 --format json");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(Json(c)["new_ids"], ja["new_ids"]);
}

TEST_F(CliTest, SampledGenerationDependsOnSeed) {
  auto run = [&](int seed) {
    CliResult r = RunCli("generate --model " + Quote(model_dir_) + " --prompt-ids 5,6,7 --max-tokens 24 "
                         "--temperature 1.5 --seed " + std::to_string(seed) + " --format json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Json(r)["new_ids"];
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  for (const char* args : {"", "frobnicate", "generate --bogus 1", "model init --preset tiny",
                           "generate --model x --prompt a --prompt-ids 1", "--format yaml tokenize",
                           "generate --model x --prompt-ids 1,,2", "generate --model x --prompt a --max-tokens many",
                           "model init --preset huge --out /tmp/x"}) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << "args: " << args << "\nstderr: " << r.err;
    EXPECT_FALSE(r.err.empty()) << args;
  }
}

TEST_F(CliTest, RuntimeErrorsExitOneWithJsonError) {
  CliResult r = RunCli("generate --model /nonexistent/model --prompt-ids 1 --format json");
  EXPECT_EQ(r.exit_code, 1);
  nlohmann::json j = Json(r);
  EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("/nonexistent/model"), std::string::npos);
  // Token id outside the vocabulary.
  r = RunCli("generate --model " + Quote(model_dir_) + " --prompt-ids 99999999 --format json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("outside the vocabulary"), std::string::npos) << r.err;
  // Invalid UTF-8 in the text to tokenize.
  const std::string bad = ::testing::TempDir() + "/bad_utf8.txt";
  ASSERT_TRUE(WriteFileAtomic(bad, std::string("ok \xff\xfe bad")).ok());
  r = RunCli("tokenize --model " + Quote(model_dir_) + " --file " + Quote(bad));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
}

TEST_F(CliTest, BenchForwardReportsThroughput) {
  CliResult r = RunCli("bench forward --model " + Quote(model_dir_) +
                       " --prompt-tokens 16 --decode-tokens 4 --repeats 2 --warmup 0 --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = Json(r);
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
  EXPECT_EQ(j["prefill_runs"].size(), 2u);
}

}  // namespace
}  // namespace mneme
