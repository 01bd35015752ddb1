#include "engine/tokenizer/byte_level.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {
namespace {

TEST(ByteLevel, MapIsABijectionOntoPrintableCharacters) {
  std::set<char32_t> image;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = ByteToChar(static_cast<uint8_t>(b));
    EXPECT_TRUE(image.insert(cp).second) << b;
    EXPECT_EQ(CharToByte(cp), b);
    EXPECT_FALSE(IsUnicodeWhiteSpace(cp)) << b;
    EXPECT_GT(cp, U' ') << b;
    EXPECT_LT(cp, U'\u0144') << b;
  }
  EXPECT_EQ(image.size(), 256u);
}

TEST(ByteLevel, KnownGpt2Assignments) {
  EXPECT_EQ(ByteToChar('A'), U'A');
  EXPECT_EQ(ByteToChar('~'), U'~');
  EXPECT_EQ(ByteToChar(0xE9), U'\u00E9');  // printable Latin-1 maps to itself
  EXPECT_EQ(ByteToChar(0), U'\u0100');
  EXPECT_EQ(ByteToChar(' '), U'\u0120');   // 'Ġ'
  EXPECT_EQ(ByteToChar('\n'), U'\u010A');  // 'Ċ'
  EXPECT_EQ(ByteToChar(0x7F), U'\u0121');
  EXPECT_EQ(ByteToChar(0xAD), U'\u0143');  // soft hyphen, the last remapped byte
  EXPECT_EQ(CharToByte(U' '), -1);
  EXPECT_EQ(CharToByte(U'\u0144'), -1);
  EXPECT_EQ(CharToByte(U'\u20AC'), -1);
}

TEST(ByteLevel, EncodesEveryByteOfAPiece) {
  std::string out;
  AppendByteLevel(" caf\xC3\xA9\n", &out);
  EXPECT_EQ(out, std::string("\xC4\xA0") + "caf\xC3\x83\xC2\xA9\xC4\x8A");  // ĠcafÃ©Ċ
}

TEST(ByteLevel, DecodesTokensAndPassesThroughForeignOnes) {
  std::string out;
  AppendByteLevelDecoded("\xC4\xA0hello", &out);  // "Ġhello"
  EXPECT_EQ(out, " hello");
  AppendByteLevelDecoded("<|im_end|>", &out);  // every char maps to itself
  EXPECT_EQ(out, " hello<|im_end|>");
  out.clear();
  AppendByteLevelDecoded("a b\xC4\xA0", &out);  // contains ' ' (not in the image): verbatim
  EXPECT_EQ(out, "a b\xC4\xA0");
  out.clear();
  AppendByteLevelDecoded("\xE2\x82\xAC", &out);  // '€' is not in the image: verbatim
  EXPECT_EQ(out, "\xE2\x82\xAC");
}

TEST(ByteLevel, RoundTripsAllBytes) {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
  std::string mapped;
  AppendByteLevel(bytes, &mapped);
  EXPECT_EQ(FindInvalidUtf8(mapped), std::string_view::npos);
  std::string back;
  AppendByteLevelDecoded(mapped, &back);
  EXPECT_EQ(back, bytes);
}

}  // namespace
}  // namespace mneme::tokenizer
