#include "engine/parallel/transport_choice.h"

#include <gtest/gtest.h>

namespace mneme::parallel {
namespace {

TEST(TransportChoiceTest, DistinctGpusTakeNcclUnlessMpiIsAskedFor) {
  const std::vector<std::string> two = {"a:gpu@0000:60:00.0", "a:gpu@0000:70:00.0"};
  absl::StatusOr<TransportChoice> c = ChooseTransport(two, "auto");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->nccl);
  EXPECT_EQ(c->why, "");
  EXPECT_EQ(c->devices, 2);
  c = ChooseTransport(two, "nccl");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->nccl);
  c = ChooseTransport(two, "mpi");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->nccl);
  EXPECT_EQ(c->why, "--transport mpi");
}

TEST(TransportChoiceTest, ASharedGpuFallsBackToMpiAndSaysWhich) {
  // Ranks 0 and 2 share one GPU (the one-GPU host's two ranks, or a launcher's round robin).
  const std::vector<std::string> devs = {"vm:gpu@0000:60:00.0", "vm:gpu@0000:70:00.0", "vm:gpu@0000:60:00.0"};
  absl::StatusOr<TransportChoice> c = ChooseTransport(devs, "auto");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->nccl);
  EXPECT_EQ(c->devices, 2);
  EXPECT_EQ(c->why, "GPUs shared: vm:gpu@0000:60:00.0 (ranks 0,2); NCCL refuses ranks sharing a GPU");
  // Asked for explicitly, it is an error naming the same cause.
  c = ChooseTransport(devs, "nccl");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("ranks 0,2"), std::string::npos) << c.status();
}

TEST(TransportChoiceTest, SameBusIdOnAnotherHostIsAnotherGpu) {
  const std::vector<std::string> devs = {"n1:gpu@0000:60:00.0", "n2:gpu@0000:60:00.0"};
  absl::StatusOr<TransportChoice> c = ChooseTransport(devs, "auto");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->nccl);
}

TEST(TransportChoiceTest, CpuRanksAndOneRankUseMpi) {
  absl::StatusOr<TransportChoice> c = ChooseTransport({"vm:cpu", "vm:cpu"}, "auto");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->nccl);
  EXPECT_FALSE(c->all_gpu);
  EXPECT_EQ(c->why, "ranks run on the CPU");
  c = ChooseTransport({"vm:gpu@0000:60:00.0", "vm:cpu"}, "auto");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->nccl);
  c = ChooseTransport({"vm:gpu@0000:60:00.0"}, "auto");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->nccl);
  EXPECT_EQ(c->why, "one rank");
  c = ChooseTransport({"vm:gpu@0000:60:00.0"}, "nccl");  // nothing to link: not an error
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->nccl);
  EXPECT_EQ(ChooseTransport({"vm:cpu", "vm:cpu"}, "nccl").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TransportChoiceTest, BadInputIsRefused) {
  EXPECT_EQ(ChooseTransport({"vm:cpu"}, "tcp").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChooseTransport({}, "auto").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TransportChoiceTest, NcclSetUpStartsOnlyWhenEveryRankCanTakePart) {
  const std::string id("+\0!id-bytes", 11);  // an id may hold any byte, '!' and NUL included
  absl::StatusOr<std::string> agreed = AgreeNcclId({id, "", ""});
  ASSERT_TRUE(agreed.ok()) << agreed.status();
  EXPECT_EQ(*agreed, id.substr(1));
  agreed = AgreeNcclId({id, "", "!cannot load libnccl.so.2"});
  EXPECT_EQ(agreed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(agreed.status().message(), "NCCL is not available on rank 2: cannot load libnccl.so.2");
  agreed = AgreeNcclId({"!no id", ""});
  EXPECT_EQ(agreed.status().message(), "NCCL is not available on rank 0: no id");
  EXPECT_EQ(AgreeNcclId({"", ""}).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace mneme::parallel
