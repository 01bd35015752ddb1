// The admin CLI end to end over a real memory directory: doc get/list, session describe/drop,
// stats, verify (and its exit code on damage), snapshots, compaction with re-encoding, and
// identical answers after restart and after a restore.
#include <filesystem>
#include <fstream>
#include <string>

#include "common/json_util.h"
#include "gtest/gtest.h"
#include "tests/testutil/cli_runner.h"

namespace mneme {
namespace {

using testing::CliResult;
using testing::JsonLines;
using testing::Quote;
namespace fs = std::filesystem;

class AdminCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = ::testing::TempDir() + "/admin_cli_" + std::to_string(::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    ASSERT_EQ(Run("model init --preset tiny-msa --seed 4 --out " + Quote(root_ + "/model")).exit_code, 0);
    ASSERT_EQ(Run("gen contracts --count 16 --seed 5 --out " + Quote(root_ + "/corpus.jsonl")).exit_code, 0);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static CliResult Run(const std::string& args, const std::string& data = "data") {
    return testing::RunMneme("--data " + Quote(root_ + "/" + data) + " " + args, root_);
  }
  static nlohmann::json Json(const CliResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = ParseJson(r.out, "cli stdout");
    EXPECT_TRUE(j.ok()) << j.status() << "\n" << r.out;
    return j.ok() ? *j : nlohmann::json();
  }
  static std::string root_;
};
std::string AdminCliTest::root_;

TEST_F(AdminCliTest, DocumentsSnapshotsCompactionVerify) {
  ASSERT_EQ(Run("session create legal --model " + Quote(root_ + "/model")).exit_code, 0);
  CliResult add = Run("doc add --session legal --jsonl " + Quote(root_ + "/corpus.jsonl") + " --format json");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  ASSERT_EQ(JsonLines(add.out).size(), 16u);

  nlohmann::json doc = Json(Run("doc get --session legal 3 --format json"));
  EXPECT_EQ(doc["ordinal"], 3);
  EXPECT_FALSE(doc["text"].get<std::string>().empty());
  EXPECT_EQ(Run("doc get --session legal 99").exit_code, 1);
  EXPECT_EQ(Run("doc rm --session legal 3 --format json").exit_code, 0);
  EXPECT_EQ(JsonLines(Run("doc list --session legal --format json").out).size(), 15u);
  EXPECT_EQ(JsonLines(Run("doc list --session legal --deleted --format json").out).size(), 16u);
  EXPECT_EQ(Json(Run("session describe legal --format json"))["live_documents"], 15);

  const std::string q = "--question " + Quote("Who are the parties to the master agreement?");
  const nlohmann::json before = Json(Run("ask --session legal --max-tokens 8 --format json " + q));

  nlohmann::json stats = Json(Run("stats --format json"));
  EXPECT_EQ(stats["sessions"][0]["live_documents"], 15);
  EXPECT_GT(stats["tiers"]["disk_bytes"].get<int64_t>(), 0);
  EXPECT_TRUE(Json(Run("verify --format json"))["ok"].get<bool>());

  nlohmann::json snap = Json(Run("snapshot create before-compact --format json"));
  EXPECT_EQ(snap["sessions"][0]["live_documents"], 15);
  EXPECT_EQ(Json(Run("snapshot list --format json"))["snapshots"].size(), 1u);
  EXPECT_EQ(Run("snapshot verify before-compact").exit_code, 0);

  nlohmann::json compact = Json(Run("compact --codec int8 --format json"));
  EXPECT_EQ(compact["documents_reencoded"], 15);
  EXPECT_EQ(Json(Run("session describe legal --format json"))["codec"], "int8");
  EXPECT_TRUE(Json(Run("verify --format json"))["ok"].get<bool>());

  // The snapshot still holds the bf16 memory: restored, it answers exactly as before.
  ASSERT_EQ(Run("snapshot restore before-compact --to " + Quote(root_ + "/restored")).exit_code, 0);
  EXPECT_EQ(Run("snapshot restore before-compact --to " + Quote(root_ + "/restored")).exit_code, 1);  // exists
  const nlohmann::json restored = Json(Run("ask --session legal --max-tokens 8 --format json " + q, "restored"));
  EXPECT_EQ(restored["text"], before["text"]);
  EXPECT_EQ(restored["rounds"][0]["routing"], before["rounds"][0]["routing"]);

  EXPECT_EQ(Run("snapshot rm before-compact").exit_code, 0);
  EXPECT_EQ(Run("session drop legal").exit_code, 0);
  EXPECT_EQ(Run("session describe legal").exit_code, 1);
}

TEST_F(AdminCliTest, VerifyNamesDamageAndExitsOne) {
  const std::string data = "damaged";
  ASSERT_EQ(Run("session create s --model " + Quote(root_ + "/model"), data).exit_code, 0);
  ASSERT_EQ(Run("doc add --session s --jsonl " + Quote(root_ + "/corpus.jsonl"), data).exit_code, 0);
  ASSERT_EQ(Run("compact", data).exit_code, 0);  // everything in SST and blob files
  // Flip a byte in the middle of every blob file (segments).
  int flipped = 0;
  for (const auto& e : fs::directory_iterator(root_ + "/" + data + "/db")) {
    if (e.path().extension() != ".blob") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(e.path()) / 2));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(static_cast<std::streamoff>(fs::file_size(e.path()) / 2));
    f.write(&c, 1);
    ++flipped;
  }
  ASSERT_GT(flipped, 0);
  CliResult v = Run("verify", data);
  EXPECT_EQ(v.exit_code, 1) << v.out;
  EXPECT_NE(v.out.find("DAMAGED session 's' document"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("layer"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace mneme
