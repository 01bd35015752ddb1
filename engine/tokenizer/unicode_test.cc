#include "engine/tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <string>

namespace mneme::tokenizer {
namespace {

constexpr size_t kNpos = std::string_view::npos;
const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8Validation, AcceptsWellFormedText) {
  for (std::string_view s : {"", "plain ascii", "caf\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC",
                             "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF", "\xEF\xBF\xBD"}) {
    EXPECT_EQ(FindInvalidUtf8(s), kNpos) << s;
  }
  EXPECT_EQ(FindInvalidUtf8(std::string_view("a\0b", 3)), kNpos);
}

TEST(Utf8Validation, ReportsTheFirstIllFormedSequence) {
  EXPECT_EQ(FindInvalidUtf8("\x80"), 0u);                         // lone continuation byte
  EXPECT_EQ(FindInvalidUtf8("\xC0\x80"), 0u);                     // overlong NUL
  EXPECT_EQ(FindInvalidUtf8("ab\xE0\x80\x80"), 2u);               // overlong 3-byte form
  EXPECT_EQ(FindInvalidUtf8("a\xED\xA0\x80"), 1u);                // UTF-16 surrogate
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0u);             // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xF5\x80\x80\x80"), 0u);             // never a lead byte
  EXPECT_EQ(FindInvalidUtf8("ok\xE6\x97"), 2u);                   // truncated at the end
  EXPECT_EQ(FindInvalidUtf8(std::string("\xE6\x97") + "a"), 0u);  // truncated mid-text
  EXPECT_EQ(FindInvalidUtf8("\xC3\xA9\xFF"), 2u);
}

std::string Lossy(std::string_view bytes) {
  std::string out;
  AppendUtf8Lossy(bytes, &out);
  return out;
}

TEST(Utf8Lossy, ReplacesMaximalSubpartsLikeRust) {
  EXPECT_EQ(Lossy("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(Lossy("\xE6\x97"), kFffd);  // one truncated sequence
  EXPECT_EQ(Lossy(std::string("a\xF0\x9F\x98") + "b"), "a" + kFffd + "b");
  EXPECT_EQ(Lossy("\xE0\x80"), kFffd + kFffd);              // E0 needs A0..BF next
  EXPECT_EQ(Lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate: 3 subparts
  EXPECT_EQ(Lossy("\xF0\x80\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(Lossy("\xC3"), kFffd);
  EXPECT_EQ(Lossy("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(Lossy("\xE6\x97\xA5\xE6"), "\xE6\x97\xA5" + kFffd);
}

TEST(Utf8Codec, EncodeDecodeRoundTrip) {
  for (char32_t cp : {U'\0', U'A', U'\u00E9', U'\u20AC', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    AppendUtf8(cp, &s);
    EXPECT_EQ(FindInvalidUtf8(s), kNpos);
    size_t pos = 0;
    EXPECT_EQ(DecodeUtf8At(s, &pos), cp);
    EXPECT_EQ(pos, s.size());
    EXPECT_EQ(LastCodePoint("x" + s), cp);
  }
}

std::string Nfc(std::string_view s) {
  std::string out;
  EXPECT_TRUE(AppendNfc(s, &out).ok());
  return out;
}

TEST(Nfc, ComposesAndMapsSingletons) {
  EXPECT_EQ(Nfc("cafe\xCC\x81"), "caf\xC3\xA9");               // e + combining acute -> é
  EXPECT_EQ(Nfc("\xE2\x84\xAB"), "\xC3\x85");                  // ANGSTROM SIGN -> Å
  EXPECT_EQ(Nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // Hangul jamo -> 가
  EXPECT_EQ(Nfc("\xE3\x81\x8B\xE3\x82\x99"), "\xE3\x81\x8C");  // か + dakuten -> が
  EXPECT_EQ(Nfc("plain"), "plain");
  EXPECT_EQ(Nfc(""), "");
}

TEST(Nfc, TrivialFastPathIsConservative) {
  EXPECT_TRUE(IsTriviallyNfc("hello \xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsTriviallyNfc("e\xCC\x81"));
  EXPECT_FALSE(IsTriviallyNfc("\xE2\x84\xAB"));
  EXPECT_FALSE(IsTriviallyNfc("\xE3\x81\x8B\xE3\x82\x99"));
}

TEST(CharClasses, MatchRustRegexWhitespaceAndWord) {
  for (char32_t cp : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', U'\u0085', U'\u00A0', U'\u2003',
                      U'\u3000', U'\u2028'}) {
    EXPECT_TRUE(IsUnicodeWhiteSpace(cp)) << static_cast<uint32_t>(cp);
  }
  for (char32_t cp : {U'a', U'_', U'\u200B', U'\u180E', U'\u0000'}) {
    EXPECT_FALSE(IsUnicodeWhiteSpace(cp)) << static_cast<uint32_t>(cp);
  }
  for (char32_t cp :
       {U'a', U'Z', U'7', U'_', U'\u00E9', U'\u4E2D', U'\u0301', U'\u0663', U'\u2163', U'\u200D'}) {
    EXPECT_TRUE(IsUnicodeWordChar(cp)) << static_cast<uint32_t>(cp);
  }
  for (char32_t cp : {U' ', U'-', U'.', U'<', U'\u3002', U'\U0001F600', U'\u00B2'}) {
    EXPECT_FALSE(IsUnicodeWordChar(cp)) << static_cast<uint32_t>(cp);
  }
}

}  // namespace
}  // namespace mneme::tokenizer
