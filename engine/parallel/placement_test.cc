// Placement rule, manifest and wire encoding of the memory-parallel layer (no MPI needed; the
// ranks themselves are exercised by tests/integration/parallel_cli_test.cc under mpirun).
#include "engine/parallel/placement.h"

#include <filesystem>

#include "engine/parallel/wire.h"
#include "gtest/gtest.h"

namespace mneme::parallel {
namespace {

TEST(PlacementTest, LeastLoadedPicksFewestChunksThenLowestRank) {
  EXPECT_EQ(LeastLoaded({5, 3, 3}), 1);
  EXPECT_EQ(LeastLoaded({0, 0}), 0);
  EXPECT_EQ(LeastLoaded({7, 9, 2}), 2);
  // Greedy in input order balances documents of equal size round-robin.
  std::vector<int64_t> load(3, 0);
  std::vector<int> got;
  for (int i = 0; i < 6; ++i) {
    const int r = LeastLoaded(load);
    got.push_back(r);
    load[static_cast<size_t>(r)] += 4;
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

TEST(PlacementTest, ManifestRoundTripsAndRejectsGarbage) {
  const std::string dir = ::testing::TempDir() + "/placement_manifest";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<Manifest> none = ReadManifest(dir);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->ranks, 1);
  EXPECT_EQ(none->generation, 0);
  EXPECT_EQ(ShardDir(dir, 0, 0), dir);
  EXPECT_EQ(ShardDir(dir, 3, 2), dir + "/shards/g3/rank-2");
  Manifest m;
  m.ranks = 3;
  m.generation = 2;
  m.next_ordinal["legal"] = 41;
  ASSERT_TRUE(WriteManifest(dir, m).ok());
  absl::StatusOr<Manifest> back = ReadManifest(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ranks, 3);
  EXPECT_EQ(back->generation, 2);
  EXPECT_EQ(back->next_ordinal.at("legal"), 41);
  std::FILE* f = std::fopen((dir + "/PLACEMENT.json").c_str(), "w");
  std::fputs("{\"ranks\": 0}", f);
  std::fclose(f);
  EXPECT_TRUE(absl::IsDataLoss(ReadManifest(dir).status()));
  std::filesystem::remove_all(dir);
}

TEST(WireTest, RoundTripsAndRefusesTruncation) {
  std::string msg;
  Writer(&msg).Put<int32_t>(-7).PutString("héllo").PutVector(std::vector<float>{1.5f, -2.0f}).PutStatus(
      absl::UnavailableError("rank 2 lost"));
  Reader in(msg);
  EXPECT_EQ(*in.Get<int32_t>(), -7);
  EXPECT_EQ(*in.GetString(), "héllo");
  std::vector<float> v;
  ASSERT_TRUE(in.GetVector(&v).ok());
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f}));
  absl::Status st;
  ASSERT_TRUE(in.GetStatus(&st).ok());
  EXPECT_TRUE(absl::IsUnavailable(st));
  EXPECT_EQ(st.message(), "rank 2 lost");
  EXPECT_TRUE(in.done());
  for (size_t cut = 0; cut < msg.size(); ++cut) {  // every truncation is DataLoss, never a read past the end
    Reader r(std::string_view(msg).substr(0, cut));
    absl::Status s = r.Get<int32_t>().status();
    if (s.ok()) s = r.GetString().status();
    if (s.ok()) s = r.GetVector(&v);
    absl::Status got;
    if (s.ok()) s = r.GetStatus(&got);
    EXPECT_TRUE(absl::IsDataLoss(s)) << cut;
  }
}

}  // namespace
}  // namespace mneme::parallel
