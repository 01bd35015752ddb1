#include "engine/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/tokenizer/regex.h"

namespace mneme::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

std::unique_ptr<Regex> MustCompile(std::string_view pattern, bool literal = false) {
  absl::StatusOr<std::unique_ptr<Regex>> re = Regex::Compile(pattern, literal);
  EXPECT_TRUE(re.ok()) << re.status();
  return re.ok() ? *std::move(re) : nullptr;
}

Pieces SplitText(const PreTokenizer& pre, std::string_view text) {
  PreTokenizer::Scratch scratch;
  std::vector<std::string_view> views;
  absl::Status status = pre.Split(text, &scratch, &views);
  EXPECT_TRUE(status.ok()) << status;
  return Pieces(views.begin(), views.end());
}

PreTokenizer SplitOnly(std::string_view pattern) {
  PreTokenizer pre;
  pre.AddSplit(MustCompile(pattern));
  return pre;
}

TEST(Regex, IteratesLikeOnigFindIter) {
  std::unique_ptr<Regex> re = MustCompile("x*");
  ASSERT_NE(re, nullptr);
  RegexMatchState state;
  std::vector<std::pair<size_t, size_t>> matches;
  ASSERT_TRUE(re->FindAll("axxb", &state, &matches).ok());
  // Empty match at 0 accepted; "xx"; the empty match right after "xx" is skipped; then 4.
  const std::vector<std::pair<size_t, size_t>> want = {{0, 0}, {1, 3}, {4, 4}};
  EXPECT_EQ(matches, want);
  ASSERT_TRUE(re->FindAll("", &state, &matches).ok());
  EXPECT_EQ(matches, (std::vector<std::pair<size_t, size_t>>{{0, 0}}));
}

TEST(Regex, EmptyMatchesAdvanceByWholeCharacters) {
  std::unique_ptr<Regex> re = MustCompile("");
  ASSERT_NE(re, nullptr);
  RegexMatchState state;
  std::vector<std::pair<size_t, size_t>> matches;
  ASSERT_TRUE(re->FindAll(std::string("\xC3\xA9") + "a", &state, &matches).ok());  // éa
  EXPECT_EQ(matches, (std::vector<std::pair<size_t, size_t>>{{0, 0}, {2, 2}, {3, 3}}));
}

TEST(Regex, LiteralPatternsAndCompileErrors) {
  std::unique_ptr<Regex> re = MustCompile("a.b", /*literal=*/true);
  ASSERT_NE(re, nullptr);
  RegexMatchState state;
  std::vector<std::pair<size_t, size_t>> matches;
  ASSERT_TRUE(re->FindAll("axb a.b", &state, &matches).ok());
  EXPECT_EQ(matches, (std::vector<std::pair<size_t, size_t>>{{4, 7}}));
  absl::StatusOr<std::unique_ptr<Regex>> bad = Regex::Compile("(unclosed", false);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

// Character classes follow Oniguruma (as probed through HF tokenizers 0.23.2), not PCRE2.
TEST(Regex, EscapesMeanWhatTheyMeanInOniguruma) {
  auto matches = [](std::string_view pattern, std::string_view subject) {
    std::unique_ptr<Regex> re = MustCompile(pattern);
    RegexMatchState state;
    std::vector<std::pair<size_t, size_t>> found;
    EXPECT_TRUE(re != nullptr && re->FindAll(subject, &state, &found).ok()) << pattern;
    return !found.empty();
  };
  EXPECT_FALSE(matches(R"(\s)", "\xE1\xA0\x8E"));  // U+180E is not White_Space
  EXPECT_TRUE(matches(R"(\S)", "\xE1\xA0\x8E"));
  EXPECT_TRUE(matches(R"([\s])", "\xE3\x80\x80"));  // U+3000 inside a class
  EXPECT_TRUE(matches(R"(\w)", "\xC2\xB2"));        // '²' (No) is a word character
  EXPECT_TRUE(matches(R"(\w)", "\xCC\x81"));        // combining acute (Mn)
  EXPECT_FALSE(matches(R"(\w)", "\xE2\x80\x8D"));   // ZWJ is not
  EXPECT_TRUE(matches(R"(\W)", "\xE2\x80\x8D"));
  EXPECT_TRUE(matches(R"(\h)", "F"));  // hex digit, not horizontal space
  EXPECT_FALSE(matches(R"(\h)", " "));
  EXPECT_TRUE(matches(R"(x\b)", "x\xE2\x80\x8D"));  // boundary before ZWJ
  EXPECT_FALSE(matches(R"(x\b)", "x\xC2\xB2"));
  EXPECT_TRUE(matches(R"(\Q\s\E)", "\\s"));  // literal section untouched
  EXPECT_EQ(Regex::Compile(R"([\W])", false).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(QwenSplit, WhitespaceLookaheadLeavesOneSpaceForTheNextWord) {
  const PreTokenizer pre = SplitOnly(kQwenSplitPattern);
  EXPECT_EQ(SplitText(pre, "a  b"), (Pieces{"a", " ", " b"}));
  EXPECT_EQ(SplitText(pre, "x   y"), (Pieces{"x", "  ", " y"}));
  EXPECT_EQ(SplitText(pre, "x   \n"), (Pieces{"x", "   \n"}));
  EXPECT_EQ(SplitText(pre, "trailing   "), (Pieces{"trailing", "   "}));
  EXPECT_EQ(SplitText(pre, "\n\n\n"), (Pieces{"\n\n\n"}));
  EXPECT_EQ(SplitText(pre, "tabs\tand\r\nX"), (Pieces{"tabs", "\tand", "\r\n", "X"}));
}

TEST(QwenSplit, ContractionsDigitsAndPunctuation) {
  const PreTokenizer pre = SplitOnly(kQwenSplitPattern);
  EXPECT_EQ(SplitText(pre, "I'm DON'T"), (Pieces{"I", "'m", " DON", "'T"}));
  EXPECT_EQ(SplitText(pre, "2026-11"), (Pieces{"2", "0", "2", "6", "-", "1", "1"}));
  EXPECT_EQ(SplitText(pre, "x**2\n"), (Pieces{"x", "**", "2", "\n"}));
  EXPECT_EQ(SplitText(pre, " ...\n\nnext"), (Pieces{" ...\n\n", "next"}));
  EXPECT_EQ(SplitText(pre, "\xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C"),  // 中文，
            (Pieces{"\xE4\xB8\xAD\xE6\x96\x87", "\xEF\xBC\x8C"}));
  EXPECT_EQ(SplitText(pre, ""), Pieces{});
}

TEST(Gpt2Split, MatchesTheByteLevelRegex) {
  const PreTokenizer pre = SplitOnly(kGpt2SplitPattern);
  EXPECT_EQ(SplitText(pre, "a  b"), (Pieces{"a", " ", " b"}));
  EXPECT_EQ(SplitText(pre, "x   \n"), (Pieces{"x", "   \n"}));
  EXPECT_EQ(SplitText(pre, "I'm 123 ok!?"), (Pieces{"I", "'m", " 123", " ok", "!?"}));
  EXPECT_EQ(SplitText(pre, "DON'T"), (Pieces{"DON", "'", "T"}));  // no (?i) in the GPT-2 pattern
}

TEST(PrefixSpace, AddsASpaceOnlyWhereMissing) {
  PreTokenizer pre;
  pre.AddPrefixSpace();
  pre.AddSplit(MustCompile(kGpt2SplitPattern));
  EXPECT_EQ(SplitText(pre, "hello world"), (Pieces{" hello", " world"}));
  EXPECT_EQ(SplitText(pre, " hi"), (Pieces{" hi"}));
  EXPECT_EQ(SplitText(pre, "\thi"), (Pieces{" ", "\t", "hi"}));  // " \thi" split by the regex
  EXPECT_EQ(SplitText(pre, ""), Pieces{});
}

TEST(PrefixSpace, AppliesToEveryPieceOfAnEarlierSplit) {
  PreTokenizer pre;
  pre.AddSplit(MustCompile(",", /*literal=*/true));
  pre.AddPrefixSpace();
  EXPECT_EQ(SplitText(pre, "a,b"), (Pieces{" a", " ,", " b"}));
}

TEST(QwenSplit, HugeWhitespaceRunsDoNotOverflowTheRegexStack) {
  const PreTokenizer pre = SplitOnly(kQwenSplitPattern);
  const std::string spaces(300000, ' ');
  EXPECT_EQ(SplitText(pre, spaces + "x"), (Pieces{spaces.substr(1), " x"}));
  const std::string mixed = std::string(200000, '\n') + std::string(100000, ' ');
  EXPECT_EQ(SplitText(pre, mixed), (Pieces{std::string(200000, '\n'), std::string(100000, ' ')}));
}

}  // namespace
}  // namespace mneme::tokenizer
