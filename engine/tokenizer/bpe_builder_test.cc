// BuildByteLevelBpeJson and the BPE trainer behind it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/json_util.h"
#include "engine/tokenizer/bpe_trainer.h"
#include "engine/tokenizer/tokenizer.h"

namespace mneme::tokenizer {
namespace {

const std::vector<std::string> kCorpus = {
    "The quick brown fox jumps over the lazy dog. The dog sleeps.",
    "Please answer the question based on the documents. The answer is 42.",
    "\xE6\x9C\xBA\xE5\x99\xA8\xE5\xAD\xA6\xE4\xB9\xA0\xE6\x98\xAF\xE4\xBA\xBA\xE5\xB7\xA5"
    "\xE6\x99\xBA\xE8\x83\xBD\xE7\x9A\x84\xE4\xB8\x80\xE4\xB8\xAA\xE5\x88\x86\xE6\x94\xAF",
    "Emoji \xF0\x9F\x98\x80\xF0\x9F\x98\x80 and \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD everywhere",
    "<|im_start|>user\nhello hello hello<|im_end|>\n",
    "def f(x):\n    return x ** 2\n",
};
const std::vector<std::string> kSpecials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

std::unique_ptr<Tokenizer> BuildAndLoad(const std::vector<std::string>& corpus, int merges,
                                        const std::vector<std::string>& specials,
                                        std::string* json = nullptr) {
  absl::StatusOr<std::string> text = BuildByteLevelBpeJson(corpus, merges, specials);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return nullptr;
  if (json != nullptr) *json = *text;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromJson(*text, "built.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

TEST(BuildByteLevelBpeJson, LoadsAndRoundTripsText) {
  std::string json;
  std::unique_ptr<Tokenizer> tok = BuildAndLoad(kCorpus, 120, kSpecials, &json);
  ASSERT_NE(tok, nullptr);
  for (const std::string& text :
       {std::string("The quick brown fox answers."), std::string("plain ASCII ~!@#$%^&*()"),
        std::string("\xE6\x9C\xBA\xE5\x99\xA8\xE5\xAD\xA6\xE4\xB9\xA0 \xE6\x97\xA5\xE6\x9C\xAC"),
        std::string("\xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD\xF0\x9F\xA4\x96"),
        std::string("  spaces\t\ttabs\r\nCRLF\n\n"), std::string(""),
        std::string("<|im_start|>assistant\nhi<|im_end|><|endoftext|>")}) {
    absl::StatusOr<std::vector<int32_t>> ids = tok->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    absl::StatusOr<std::string> back = tok->Decode(*ids);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, text);
  }
}

TEST(BuildByteLevelBpeJson, SpecialTokensEncodeToSingleSpecialIds) {
  std::unique_ptr<Tokenizer> tok = BuildAndLoad(kCorpus, 60, kSpecials);
  ASSERT_NE(tok, nullptr);
  std::vector<int32_t> special_ids;
  for (const std::string& s : kSpecials) {
    std::optional<int32_t> id = tok->TokenToId(s);
    ASSERT_TRUE(id.has_value()) << s;
    EXPECT_TRUE(tok->IsSpecial(*id));
    absl::StatusOr<std::vector<int32_t>> ids = tok->Encode(s);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, std::vector<int32_t>{*id});
    special_ids.push_back(*id);
  }
  // Specials come right after the trained vocabulary, in order.
  EXPECT_EQ(special_ids[1], special_ids[0] + 1);
  EXPECT_EQ(special_ids[2], special_ids[0] + 2);
  EXPECT_EQ(tok->vocab_size(), special_ids[2] + 1);
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode("a<|im_end|>b");
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[1], special_ids[2]);
  EXPECT_FALSE(tok->IsSpecial((*ids)[0]));
}

TEST(BuildByteLevelBpeJson, LearnsMergesFromTheCorpus) {
  std::string json;
  std::unique_ptr<Tokenizer> trained = BuildAndLoad(kCorpus, 100, {}, &json);
  std::unique_ptr<Tokenizer> bytes_only = BuildAndLoad(kCorpus, 0, {});
  ASSERT_NE(trained, nullptr);
  ASSERT_NE(bytes_only, nullptr);
  EXPECT_EQ(bytes_only->vocab_size(), 256);
  absl::StatusOr<std::vector<int32_t>> few = trained->Encode(" hello the answer");
  absl::StatusOr<std::vector<int32_t>> many = bytes_only->Encode(" hello the answer");
  ASSERT_TRUE(few.ok() && many.ok());
  EXPECT_EQ(many->size(), 17u);  // one id per byte
  EXPECT_LT(few->size(), 8u);
  absl::StatusOr<nlohmann::json> j = ParseJson(json, "built.json");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["model"]["merges"].size(), 100u);
  EXPECT_EQ((*j)["model"]["vocab"].size(), static_cast<size_t>(trained->vocab_size()));
  // Deterministic output.
  absl::StatusOr<std::string> again = BuildByteLevelBpeJson(kCorpus, 100, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, json);
}

TEST(BuildByteLevelBpeJson, MostFrequentPairFirstWithDeterministicTies) {
  // Pieces "ab", " ab", " ab", " cd": (a,b) occurs 3 times.
  std::string json;
  ASSERT_NE(BuildAndLoad({"ab ab ab cd"}, 1, {}, &json), nullptr);
  absl::StatusOr<nlohmann::json> j = ParseJson(json, "built.json");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["model"]["merges"][0], nlohmann::json::array({"a", "b"}));
  // Pieces "ba", " dc": (b,a), (Ġ,d), (d,c) once each; the smallest left id ('b') wins.
  ASSERT_NE(BuildAndLoad({"ba dc"}, 1, {}, &json), nullptr);
  j = ParseJson(json, "built.json");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["model"]["merges"][0], nlohmann::json::array({"b", "a"}));
}

TEST(BuildByteLevelBpeJson, StopsWhenNoPairsAreLeftAndIgnoresSpecialsInTheCorpus) {
  std::string json;
  std::unique_ptr<Tokenizer> tok = BuildAndLoad({"abab<|x|>"}, 1000, {"<|x|>"}, &json);
  ASSERT_NE(tok, nullptr);
  absl::StatusOr<nlohmann::json> j = ParseJson(json, "built.json");
  ASSERT_TRUE(j.ok());
  // "abab" -> ab,ab -> abab: two merges, and nothing learned from "<|x|>".
  const nlohmann::json want = nlohmann::json::array(
      {nlohmann::json::array({"a", "b"}), nlohmann::json::array({"ab", "ab"})});
  EXPECT_EQ((*j)["model"]["merges"], want);
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode("abab");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<int32_t>{*tok->TokenToId("abab")});
}

TEST(BuildByteLevelBpeJson, RejectsBadArguments) {
  EXPECT_EQ(BuildByteLevelBpeJson(kCorpus, -1, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildByteLevelBpeJson(kCorpus, 5, {""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildByteLevelBpeJson(kCorpus, 5, {"<a>", "<a>"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildByteLevelBpeJson({"ok", "bad \xFF"}, 5, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BpeTrainer, ReusesExistingTokensForEqualConcatenations) {
  // "xyz" twice as (xy)z, and "yzq" makes (y,z) frequent too: "xyz" is reachable both ways.
  const BpeTrainingResult r = TrainByteLevelBpe({{"xy", 5}, {"xyz", 1}, {"yz", 4}, {"x", 1}}, 10);
  int xyz_tokens = 0;
  for (const std::string& t : r.vocab) xyz_tokens += t == "xyz";
  EXPECT_EQ(xyz_tokens, 1);
  EXPECT_EQ(r.merges.front(), (std::pair<std::string, std::string>{"x", "y"}));
  EXPECT_EQ(r.vocab.size(), 256u + 3u);  // xy, yz, xyz
}

}  // namespace
}  // namespace mneme::tokenizer
