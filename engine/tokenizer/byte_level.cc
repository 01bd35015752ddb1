#include "engine/tokenizer/byte_level.h"

#include <array>

#include "engine/tokenizer/unicode.h"

namespace mneme::tokenizer {
namespace {

constexpr char32_t kImageEnd = 0x144;  // one past the largest mapped code point (U+0143)

constexpr bool MapsToItself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char32_t, 256> MakeByteToChar() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) table[b] = MapsToItself(b) ? static_cast<char32_t>(b) : next++;
  return table;
}

constexpr std::array<int16_t, kImageEnd> MakeCharToByte() {
  std::array<int16_t, kImageEnd> table{};
  for (auto& v : table) v = -1;
  const std::array<char32_t, 256> forward = MakeByteToChar();
  for (int b = 0; b < 256; ++b) table[forward[b]] = static_cast<int16_t>(b);
  return table;
}

// UTF-8 of each mapped code point (all below U+0800, so one or two bytes).
struct Encoded {
  char bytes[2];
  uint8_t len;
};

constexpr std::array<Encoded, 256> MakeEncoded() {
  std::array<Encoded, 256> table{};
  const std::array<char32_t, 256> forward = MakeByteToChar();
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = forward[b];
    if (cp < 0x80) {
      table[b] = {{static_cast<char>(cp), 0}, 1};
    } else {
      table[b] = {{static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))}, 2};
    }
  }
  return table;
}

constexpr std::array<char32_t, 256> kByteToChar = MakeByteToChar();
constexpr std::array<int16_t, kImageEnd> kCharToByte = MakeCharToByte();
constexpr std::array<Encoded, 256> kEncoded = MakeEncoded();

static_assert(kByteToChar[' '] == 0x120 && kByteToChar['\n'] == 0x10A &&
              kByteToChar[0xAD] == 0x143);

}  // namespace

char32_t ByteToChar(uint8_t b) { return kByteToChar[b]; }

int CharToByte(char32_t cp) { return cp < kImageEnd ? kCharToByte[cp] : -1; }

void AppendByteLevel(std::string_view bytes, std::string* out) {
  for (const char c : bytes) {
    const Encoded& e = kEncoded[static_cast<uint8_t>(c)];
    out->append(e.bytes, e.len);
  }
}

void AppendByteLevelDecoded(std::string_view token, std::string* out) {
  const size_t mark = out->size();
  size_t pos = 0;
  while (pos < token.size()) {
    const int b = CharToByte(DecodeUtf8At(token, &pos));
    if (b < 0) {
      out->resize(mark);
      out->append(token);
      return;
    }
    out->push_back(static_cast<char>(b));
  }
}

}  // namespace mneme::tokenizer
