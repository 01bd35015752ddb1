#include "engine/tokenizer/added_vocabulary.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mneme::tokenizer {
namespace {

AddedTokenSpec Spec(std::string content, bool special = true) {
  AddedTokenSpec s;
  s.content = std::move(content);
  s.special = special;
  s.normalized = !special;
  return s;
}

class AddedVocabularyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<BpeModel>> m =
        BpeModel::Create({{"a", 0}, {"b", 1}, {"<x>", 2}}, {}, {});
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *std::move(m);
  }

  AddedVocabulary Build(const std::vector<AddedTokenSpec>& specs, bool nfc = false) {
    absl::StatusOr<AddedVocabulary> v = AddedVocabulary::Build(specs, *model_, nfc);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : AddedVocabulary();
  }

  // Segments rendered as "text" for plain gaps and "[text]" for tokens.
  static std::vector<std::string> Segments(const AddedVocabulary& v, std::string_view text,
                                           bool normalized_set = false) {
    std::vector<AddedSegment> segs;
    v.FindMatches(text, normalized_set, &segs);
    std::vector<std::string> out;
    for (const AddedSegment& s : segs) {
      const std::string piece(text.substr(s.begin, s.end - s.begin));
      out.push_back(s.id >= 0 ? "[" + piece + "]" : piece);
    }
    return out;
  }

  std::unique_ptr<BpeModel> model_;
};

TEST_F(AddedVocabularyTest, AssignsIdsLikeHfAddTokens) {
  const AddedVocabulary v = Build({Spec("<s>"), Spec("<x>"), Spec("</s>", false), Spec("")});
  EXPECT_EQ(v.TokenToId("<s>"), 3);  // first id after the 3 vocabulary entries
  EXPECT_EQ(v.TokenToId("<x>"), 2);  // already in the vocabulary: keeps its id
  EXPECT_EQ(v.TokenToId("</s>"), 4);
  EXPECT_EQ(v.TokenToId(""), std::nullopt);
  EXPECT_TRUE(v.IsSpecial(3));
  EXPECT_TRUE(v.IsSpecial(2));
  EXPECT_FALSE(v.IsSpecial(4));
  EXPECT_FALSE(v.IsSpecial(0));
  EXPECT_EQ(v.max_id(), 4);
  // Re-adding identical tokens is a no-op; changed flags update the entry in place.
  const AddedVocabulary w = Build({Spec("<s>"), Spec("<s>"), Spec("<s>", false), Spec("<t>")});
  EXPECT_EQ(w.TokenToId("<s>"), 3);
  EXPECT_EQ(w.TokenToId("<t>"), 4);
}

TEST_F(AddedVocabularyTest, MatchesLeftmostLongest) {
  const AddedVocabulary v =
      Build({Spec("<a>"), Spec("<a><b>"), Spec("b>"), Spec("cd"), Spec("bcde")});
  EXPECT_EQ(Segments(v, "x<a><b>y<a>"), (std::vector<std::string>{"x", "[<a><b>]", "y", "[<a>]"}));
  EXPECT_EQ(Segments(v, "abcde"), (std::vector<std::string>{"a", "[bcde]"}));
  EXPECT_EQ(Segments(v, "acdcd"), (std::vector<std::string>{"a", "[cd]", "[cd]"}));
  EXPECT_EQ(Segments(v, "plain"), (std::vector<std::string>{"plain"}));
  EXPECT_EQ(Segments(v, ""), (std::vector<std::string>{""}));
}

TEST_F(AddedVocabularyTest, StripsWhitespaceAndHonoursSingleWord) {
  AddedTokenSpec mask = Spec("<m>");
  mask.lstrip = true;
  mask.rstrip = true;
  AddedTokenSpec cat = Spec("cat", false);
  cat.normalized = false;
  cat.single_word = true;
  const AddedVocabulary v = Build({mask, cat});
  EXPECT_EQ(Segments(v, "a \t<m>\n b"), (std::vector<std::string>{"a", "[ \t<m>\n ]", "b"}));
  EXPECT_EQ(Segments(v, "<m>  <m>"), (std::vector<std::string>{"[<m>  ]", "[<m>]"}));
  EXPECT_EQ(Segments(v, "cat concat cat. cats"),
            (std::vector<std::string>{"[cat]", " concat ", "[cat]", ". cats"}));
}

TEST_F(AddedVocabularyTest, NormalizedTokensMatchTheirNfcFormInNormalizedText) {
  AddedTokenSpec accented = Spec("cafe\xCC\x81", false);  // "café" with a combining accent
  const AddedVocabulary v = Build({accented, Spec("<raw>")}, /*nfc=*/true);
  ASSERT_TRUE(v.TokenToId("cafe\xCC\x81").has_value());
  const int32_t id = *v.TokenToId("cafe\xCC\x81");
  ASSERT_NE(v.IdToToken(id), nullptr);
  EXPECT_EQ(*v.IdToToken(id), "caf\xC3\xA9");  // decodes as the NFC form, like HF
  EXPECT_EQ(Segments(v, "a caf\xC3\xA9", /*normalized_set=*/true),
            (std::vector<std::string>{"a ", "[caf\xC3\xA9]"}));
  EXPECT_EQ(Segments(v, "a caf\xC3\xA9<raw>", /*normalized_set=*/false),
            (std::vector<std::string>{"a caf\xC3\xA9", "[<raw>]"}));
}

}  // namespace
}  // namespace mneme::tokenizer
