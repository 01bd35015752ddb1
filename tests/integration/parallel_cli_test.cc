// Memory parallel end to end (docs/parallel.md): the CLI under `mpirun --oversubscribe -np N`
// against the same commands in one process, at fp32, where exact mode must give the
// single-process output bit for bit. The backend is the CPU's (CI); MNEME_TEST_BACKEND=cuda runs
// the same tests on a GPU host (tools/gpu/parallel_checks.sh), where ranks on distinct GPUs move
// their data over NCCL.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "common/file_util.h"
#include "common/json_util.h"
#include "gtest/gtest.h"
#include "tests/testutil/cli_runner.h"

namespace mneme {
namespace {

using testing::CliResult;
using testing::JsonLines;
using testing::Quote;

std::string Binary() {
  const char* bin_dir = std::getenv("MNEME_BINARY_DIR");
  return std::string(bin_dir ? bin_dir : "build") + "/tools/mneme";
}

// --backend for every command: cpu unless MNEME_TEST_BACKEND says otherwise.
std::string BackendFlags() {
  const char* b = std::getenv("MNEME_TEST_BACKEND");
  return std::string(" --backend ") + (b != nullptr && *b != '\0' ? b : "cpu") + " --precision fp32 ";
}

// mpirun as root needs --allow-run-as-root; --oversubscribe lets 3 ranks share 2 cores.
std::string Mpirun(int np, const std::string& extra = "") {
  return "mpirun --allow-run-as-root --oversubscribe --bind-to none " + extra + " -np " + std::to_string(np) + " ";
}

class ParallelCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = ::testing::TempDir() + "/parallel_cli_" + std::to_string(::getpid());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    ASSERT_EQ(Run(1, "", "model init --preset tiny-msa --seed 2 --out " + Quote(root_ + "/model")).exit_code, 0);
    ASSERT_EQ(Run(1, "", "gen contracts --count 12 --seed 3 --out " + Quote(root_ + "/corpus.jsonl")).exit_code, 0);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }

  // np == 1 runs the plain binary (one process); np > 1 runs it under mpirun.
  static CliResult Run(int np, const std::string& data, const std::string& args, const std::string& mpi_extra = "") {
    std::string cmd = np > 1 ? Mpirun(np, mpi_extra) : "";
    cmd += Quote(Binary()) + BackendFlags() + "--format json ";
    if (!data.empty()) cmd += "--data " + Quote(root_ + "/" + data) + " ";
    return testing::RunShell(cmd + args, root_);
  }
  static nlohmann::json Json(const CliResult& r) {
    auto j = ParseJson(r.out, "cli stdout");
    EXPECT_TRUE(j.ok()) << j.status() << "\nstdout: " << r.out << "\nstderr: " << r.err;
    return j.ok() ? *j : nlohmann::json();
  }
  // Creates session `name` in `data` on np ranks and adds the corpus.
  static void Build(int np, const std::string& data) {
    CliResult c = Run(np, data, "session create legal --model " + Quote(root_ + "/model"));
    ASSERT_EQ(c.exit_code, 0) << c.err;
    CliResult add = Run(np, data, "doc add --session legal --jsonl " + Quote(root_ + "/corpus.jsonl"));
    ASSERT_EQ(add.exit_code, 0) << add.err;
    const std::vector<nlohmann::json> lines = JsonLines(add.out);
    ASSERT_EQ(lines.size(), 12u) << add.out << add.err;  // printed once, by rank 0
    for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["ordinal"], i);
  }
  // The documents of one shard store: global ordinal -> chunks.
  static std::map<int64_t, int64_t> ShardDocs(const std::string& shard_dir) {
    std::map<int64_t, int64_t> out;
    CliResult l = Run(1, "", "--data " + Quote(shard_dir) + " doc list --session legal");
    EXPECT_EQ(l.exit_code, 0) << l.err;
    for (const nlohmann::json& d : JsonLines(l.out)) out[d["global_ordinal"].get<int64_t>()] = d["chunks"].get<int64_t>();
    return out;
  }

  static std::string root_;
  static constexpr const char* kQuestion = "What is the payment term?";
};
std::string ParallelCliTest::root_;

TEST_F(ParallelCliTest, RouteAndAskEqualOneProcessOnTwoAndThreeRanks) {
  Build(1, "one");
  const std::string route = std::string("route --session legal --question '") + kQuestion + "'";
  const std::string ask = std::string("ask --session legal --max-tokens 12 --max-rounds 2 --question '") + kQuestion + "'";
  nlohmann::json r1 = Json(Run(1, "one", route));
  nlohmann::json a1 = Json(Run(1, "one", ask));
  ASSERT_FALSE(r1["layers"].empty());
  for (int np : {2, 3}) {
    const std::string data = "np" + std::to_string(np);
    Build(np, data);
    CliResult r = Run(np, data, route);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Json(r)["layers"], r1["layers"]) << "np " << np;  // documents and fp32 scores, bit for bit
    CliResult a = Run(np, data, ask);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    nlohmann::json aj = Json(a);
    EXPECT_EQ(aj["rounds"], a1["rounds"]) << "np " << np;
    EXPECT_EQ(aj["text"], a1["text"]) << "np " << np;
    // IDSA-style mode runs and reports each rank's local selection.
    CliResult idsa = Run(np, data, "--parallel-mode idsa " + route);
    ASSERT_EQ(idsa.exit_code, 0) << idsa.err;
    EXPECT_FALSE(Json(idsa)["layers"].empty());
    EXPECT_EQ(Run(np, data, "--parallel-mode idsa " + ask).exit_code, 0);
  }
}

TEST_F(ParallelCliTest, AppendsLandOnTheLeastLoadedShardAndRouteAtOnce) {
  Build(2, "place");
  // Replay the placement rule over the chunk counts the shards report.
  std::map<int64_t, int64_t> s0 = ShardDocs(root_ + "/place/shards/g1/rank-0");
  std::map<int64_t, int64_t> s1 = ShardDocs(root_ + "/place/shards/g1/rank-1");
  ASSERT_EQ(s0.size() + s1.size(), 12u);
  std::vector<int64_t> load(2, 0);
  for (int64_t g = 0; g < 12; ++g) {
    const int r = load[1] < load[0] ? 1 : 0;
    const std::map<int64_t, int64_t>& shard = r == 0 ? s0 : s1;
    ASSERT_TRUE(shard.count(g)) << "document " << g << " should be on rank " << r;
    load[static_cast<size_t>(r)] += shard.at(g);
  }
  // A new document routes from the next query on, on both ranks' memory, like in one process.
  Build(1, "place1");
  ASSERT_TRUE(WriteFileAtomic(root_ + "/new.txt", "Amendment 7: the payment term is now 90 days net.").ok());
  CliResult a2 = Run(2, "place", "doc add --session legal " + Quote(root_ + "/new.txt"));
  ASSERT_EQ(a2.exit_code, 0) << a2.err;
  EXPECT_EQ(Json(a2)["ordinal"], 12);
  ASSERT_EQ(Run(1, "place1", "doc add --session legal " + Quote(root_ + "/new.txt")).exit_code, 0);
  const std::string route = "route --session legal --question 'What is the payment term now, after amendment 7?'";
  EXPECT_EQ(Json(Run(2, "place", route))["layers"], Json(Run(1, "place1", route))["layers"]);
  // Deleting through the coordinator reaches the owner; routing matches again.
  ASSERT_EQ(Run(2, "place", "doc rm --session legal 3").exit_code, 0);
  ASSERT_EQ(Run(1, "place1", "doc rm --session legal 3").exit_code, 0);
  EXPECT_EQ(Json(Run(2, "place", route))["layers"], Json(Run(1, "place1", route))["layers"]);
}

TEST_F(ParallelCliTest, ReshardingThreeToTwoKeepsEveryDocument) {
  Build(1, "ref");
  Build(3, "reshard");
  const std::string route = std::string("route --session legal --question '") + kQuestion + "'";
  CliResult r = Run(2, "reshard", route);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("re-sharded"), std::string::npos) << r.err;
  EXPECT_EQ(Json(r)["layers"], Json(Run(1, "ref", route))["layers"]);
  std::map<int64_t, int64_t> all;
  for (int rank = 0; rank < 2; ++rank) {
    for (auto [g, c] : ShardDocs(root_ + "/reshard/shards/g2/rank-" + std::to_string(rank))) {
      EXPECT_TRUE(all.emplace(g, c).second) << "document " << g << " on two shards";
    }
  }
  EXPECT_EQ(all.size(), 12u);
  for (int64_t g = 0; g < 12; ++g) EXPECT_TRUE(all.count(g)) << g;
  EXPECT_FALSE(std::filesystem::exists(root_ + "/reshard/shards/g1"));  // the old generation is gone
  // Outside mpirun, a memory sharded over several ranks is refused with a clear error.
  CliResult single = Run(1, "reshard", route);
  EXPECT_NE(single.exit_code, 0);
  EXPECT_NE(single.err.find("sharded over 2 ranks"), std::string::npos) << single.err;
  CliResult back = Run(2, "reshard", route);  // same N: no re-shard
  EXPECT_EQ(back.err.find("re-sharded"), std::string::npos) << back.err;
}

TEST_F(ParallelCliTest, ReshardRefusesAMissingShardAndKeepsTheMemory) {
  Build(2, "missing");
  const std::string shard1 = root_ + "/missing/shards/g1/rank-1";
  std::filesystem::rename(shard1 + "/db", root_ + "/missing-rank1-db");  // as if its mount were gone
  const std::string route = std::string("route --session legal --question '") + kQuestion + "'";
  CliResult r = testing::RunShell(Mpirun(1) + Quote(Binary()) + BackendFlags() + "--format json --data " +
                                      Quote(root_ + "/missing") + " " + route, root_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("DATA_LOSS"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("rank 1's store of generation 1 is missing"), std::string::npos) << r.err;
  // Nothing was switched or removed: with the shard back, two ranks route as before.
  std::filesystem::rename(root_ + "/missing-rank1-db", shard1 + "/db");
  EXPECT_TRUE(std::filesystem::exists(root_ + "/missing/shards/g1/rank-0/db"));
  CliResult back = Run(2, "missing", route);
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(Json(back)["layers"].size(), 1u);
}

// A rank that dies (SIGKILL) or stalls (SIGSTOP) between two questions of one job: the second
// fails with UNAVAILABLE naming it within the bound, and the job ends (no hang).
void LoseRank(const std::string& root, int signal_number, const std::string& mpi_extra) {
  const std::string out = root + "/lose.out", err = root + "/lose.err", fifo = root + "/lose.fifo";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string cmd = Mpirun(2, mpi_extra) + Quote(Binary()) + BackendFlags() + "--format json --rank-timeout-ms 2000 --data " +
                          Quote(root + "/np2") + " route --session legal --questions-stdin >" + Quote(out) + " 2>" +
                          Quote(err) + " <" + Quote(fifo);
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(child, 0);
  FILE* questions = std::fopen(fifo.c_str(), "w");  // opens once the job reads its stdin
  ASSERT_NE(questions, nullptr);
  std::fputs("What is the payment term?\n", questions);
  std::fflush(questions);
  // The first question is answered by both ranks; then rank 1 is taken away.
  long pid = -1;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    const std::string text = ReadFileToString(err).value_or("");
    const size_t at = text.find("mneme rank 1 (pid ");
    if (at != std::string::npos) pid = std::atol(text.c_str() + at + 18);
    if (pid > 0 && ReadFileToString(out).value_or("").find("layers") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(pid, 0) << ReadFileToString(err).value_or("");
  ASSERT_NE(ReadFileToString(out).value_or("").find("layers"), std::string::npos);
  ::kill(static_cast<pid_t>(pid), signal_number);
  const auto lost = std::chrono::steady_clock::now();
  std::fputs("Who are the parties?\n", questions);
  std::fclose(questions);
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() - lost < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (done == 0) {
    ::kill(static_cast<pid_t>(pid), SIGKILL);
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "the job hung after rank 1 was lost";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - lost).count();
  EXPECT_LT(secs, 20.0);  // the bound is 2 s; the rest is MPI teardown on a loaded CI machine
  const std::string o = ReadFileToString(out).value_or(""), e = ReadFileToString(err).value_or("");
  EXPECT_NE(o.find("\"UNAVAILABLE\""), std::string::npos) << o << e;
  EXPECT_NE(e.find("rank 1 lost"), std::string::npos) << e;
  std::filesystem::remove(fifo);
}

TEST_F(ParallelCliTest, KilledRankFailsWithUnavailableWithinTheBound) {
  if (!std::filesystem::exists(root_ + "/np2")) Build(2, "np2");
  // --enable-recovery keeps mpirun from tearing the job down itself when a rank dies, so the
  // coordinator's own detection is what is tested.
  LoseRank(root_, SIGKILL, "--enable-recovery");
}

TEST_F(ParallelCliTest, StalledRankFailsWithUnavailableWithinTheBound) {
  if (!std::filesystem::exists(root_ + "/np2")) Build(2, "np2");
  LoseRank(root_, SIGSTOP, "");
}

}  // namespace
}  // namespace mneme
