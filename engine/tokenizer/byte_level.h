// The GPT-2 byte <-> unicode map used by Hugging Face's ByteLevel pre-tokenizer and decoder.
//
// Every byte maps to one printable code point: '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF map to
// themselves; the other 68 bytes map, in increasing order, to U+0100..U+0143 (so ' ' -> U+0120
// 'Ġ', '\n' -> U+010A 'Ċ'). All functions are pure and thread-safe.
#ifndef MNEME_ENGINE_TOKENIZER_BYTE_LEVEL_H_
#define MNEME_ENGINE_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace mneme::tokenizer {

// The code point byte `b` maps to.
char32_t ByteToChar(uint8_t b);

// The byte that maps to `cp`, or -1 if `cp` is not in the image of the map.
int CharToByte(char32_t cp);

// Appends the UTF-8 encoding of ByteToChar(b) for every byte b of `bytes` (the ByteLevel
// pre-tokenizer's transformation of one piece).
void AppendByteLevel(std::string_view bytes, std::string* out);

// The ByteLevel decoder applied to one token (valid UTF-8): if every character of `token` is in
// the map's image, appends the bytes they stand for; otherwise appends `token` unchanged (this is
// how added tokens such as "<|im_end|>" or ones containing spaces come back verbatim).
void AppendByteLevelDecoded(std::string_view token, std::string* out);

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_BYTE_LEVEL_H_
