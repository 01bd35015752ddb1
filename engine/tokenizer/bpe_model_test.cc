#include "engine/tokenizer/bpe_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mneme::tokenizer {
namespace {

using ::testing::HasSubstr;
using Vocab = std::vector<std::pair<std::string, int32_t>>;
using Merges = std::vector<std::pair<std::string, std::string>>;

std::unique_ptr<BpeModel> Make(const Vocab& vocab, const Merges& merges, BpeOptions options = {}) {
  absl::StatusOr<std::unique_ptr<BpeModel>> model = BpeModel::Create(vocab, merges, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

std::vector<int32_t> Tokenize(const BpeModel& model, std::string_view word) {
  BpeModel::Scratch scratch;
  std::vector<int32_t> ids;
  model.Tokenize(word, &scratch, &ids);
  return ids;
}

const Vocab kAbc = {{"a", 0},  {"b", 1},   {"c", 2},  {"d", 3}, {"ab", 4},
                    {"bc", 5}, {"abc", 6}, {"cd", 7}, {"aa", 8}};

TEST(BpeModel, AppliesMergesByRank) {
  std::unique_ptr<BpeModel> m = Make(kAbc, {{"a", "b"}, {"ab", "c"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Tokenize(*m, "abc"), (std::vector<int32_t>{6}));
  EXPECT_EQ(Tokenize(*m, "cab"), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(Tokenize(*m, ""), std::vector<int32_t>{});

  // With "b c" ranked first, "abc" can no longer be reached.
  m = Make(kAbc, {{"b", "c"}, {"a", "b"}, {"ab", "c"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Tokenize(*m, "abc"), (std::vector<int32_t>{0, 5}));
}

TEST(BpeModel, LeftmostPairWinsTiesAndStaleEntriesAreSkipped) {
  std::unique_ptr<BpeModel> m = Make(kAbc, {{"a", "a"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Tokenize(*m, "aaa"), (std::vector<int32_t>{8, 0}));
  EXPECT_EQ(Tokenize(*m, "aaaa"), (std::vector<int32_t>{8, 8}));
  // After "bc" merges first, the queued (a,b) and (c,d) entries are stale.
  m = Make(kAbc, {{"b", "c"}, {"a", "b"}, {"c", "d"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Tokenize(*m, "abcd"), (std::vector<int32_t>{0, 5, 3}));
}

TEST(BpeModel, RepeatedMergeKeepsTheLaterRankLikeHf) {
  // (a,b) listed at ranks 0 and 2: the map keeps rank 2, so (b,c) at rank 1 wins.
  std::unique_ptr<BpeModel> m = Make(kAbc, {{"a", "b"}, {"b", "c"}, {"a", "b"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Tokenize(*m, "abc"), (std::vector<int32_t>{0, 5}));
}

TEST(BpeModel, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  std::unique_ptr<BpeModel> normal = Make(kAbc, {{"a", "b"}});
  BpeOptions options;
  options.ignore_merges = true;
  std::unique_ptr<BpeModel> ignoring = Make(kAbc, {{"a", "b"}}, options);
  ASSERT_NE(normal, nullptr);
  ASSERT_NE(ignoring, nullptr);
  EXPECT_EQ(Tokenize(*normal, "abc"), (std::vector<int32_t>{4, 2}));
  EXPECT_EQ(Tokenize(*ignoring, "abc"), (std::vector<int32_t>{6}));
  EXPECT_EQ(Tokenize(*ignoring, "abd"), (std::vector<int32_t>{4, 3}));  // not a vocab word
}

TEST(BpeModel, UnknownCharactersUseUnkFuseOrByteFallback) {
  const Vocab vocab = {{"a", 0}, {"<unk>", 1}, {"<0x78>", 2}, {"\xC3\xA9", 3}};
  std::unique_ptr<BpeModel> drop = Make(vocab, {});
  ASSERT_NE(drop, nullptr);
  EXPECT_EQ(Tokenize(*drop, "ayza"), (std::vector<int32_t>{0, 0}));  // no unk: dropped
  BpeOptions unk;
  unk.unk_token = "<unk>";
  std::unique_ptr<BpeModel> separate = Make(vocab, {}, unk);
  ASSERT_NE(separate, nullptr);
  EXPECT_EQ(Tokenize(*separate, "ayz\xC3\xA9"), (std::vector<int32_t>{0, 1, 1, 3}));
  unk.fuse_unk = true;
  std::unique_ptr<BpeModel> fused = Make(vocab, {}, unk);
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(Tokenize(*fused, "ayz\xC3\xA9"), (std::vector<int32_t>{0, 1, 3}));
  BpeOptions fallback = unk;
  fallback.byte_fallback = true;
  std::unique_ptr<BpeModel> bytes = Make(vocab, {}, fallback);
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(Tokenize(*bytes, "axa"), (std::vector<int32_t>{0, 2, 0}));
}

TEST(BpeModel, LookupsAndSizes) {
  std::unique_ptr<BpeModel> m = Make({{"x", 10}, {"y", 3}}, {});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->TokenToId("x"), 10);
  EXPECT_EQ(m->TokenToId("z"), std::nullopt);
  ASSERT_NE(m->IdToToken(3), nullptr);
  EXPECT_EQ(*m->IdToToken(3), "y");
  EXPECT_EQ(m->IdToToken(4), nullptr);
  EXPECT_EQ(m->vocab_entries(), 2u);
  EXPECT_EQ(m->max_id(), 10);
}

TEST(BpeModel, RejectsInconsistentDefinitions) {
  auto error = [](const Vocab& v, const Merges& merges, BpeOptions o = {}) {
    return BpeModel::Create(v, merges, o).status();
  };
  absl::Status s = error(kAbc, {{"a", "q"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"q\""));
  s = error(kAbc, {{"c", "a"}});  // "ca" is not a token
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"ca\""));
  s = error({{"a", 0}, {"b", 0}}, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("share id 0"));
  s = error({{"a", -1}}, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  BpeOptions unk;
  unk.unk_token = "<unk>";
  s = error(kAbc, {}, unk);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("<unk>"));
}

}  // namespace
}  // namespace mneme::tokenizer
