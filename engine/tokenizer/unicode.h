// UTF-8 and Unicode helpers for the tokenizer: strict validation, lossy decoding with the same
// replacement policy as Rust's `String::from_utf8_lossy`, NFC (via utf8proc) and the character
// classes Hugging Face `tokenizers` uses around added tokens (Rust regex `\s` and `\w`).
// All functions are pure and thread-safe.
#ifndef MNEME_ENGINE_TOKENIZER_UNICODE_H_
#define MNEME_ENGINE_TOKENIZER_UNICODE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace mneme::tokenizer {

// Returns the byte offset of the first ill-formed UTF-8 sequence in `text` (overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences are ill-formed), or
// std::string_view::npos if `text` is valid UTF-8.
size_t FindInvalidUtf8(std::string_view text);

// Decodes the code point starting at `text[*pos]` and advances `*pos` past it. `text` must be
// valid UTF-8 and `*pos` < text.size() on a character boundary.
char32_t DecodeUtf8At(std::string_view text, size_t* pos);

// Decodes the last code point of non-empty valid UTF-8 `text`.
char32_t LastCodePoint(std::string_view text);

// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void AppendUtf8(char32_t cp, std::string* out);

// Appends `bytes` to `out`, replacing each maximal ill-formed subsequence with U+FFFD exactly as
// Rust's `String::from_utf8_lossy` does (Unicode "substitution of maximal subparts").
void AppendUtf8Lossy(std::string_view bytes, std::string* out);

// True if normalising `text` (valid UTF-8) to NFC provably leaves it unchanged because every
// code point is an NFC-stable starter (ASCII, Latin up to U+02FF, kana, CJK ideographs, Hangul
// syllables, emoji). A false result only means "may change".
bool IsTriviallyNfc(std::string_view text);

// Appends the NFC normalisation of `text` (valid UTF-8) to `out`. Internal if utf8proc fails
// (out of memory).
absl::Status AppendNfc(std::string_view text, std::string* out);

// Rust regex `\s`: the Unicode White_Space property.
bool IsUnicodeWhiteSpace(char32_t cp);

// Rust regex `\w`: Alphabetic, marks, decimal digits, connector punctuation, join controls.
// (Alphabetic is approximated as letters, letter numbers and the So-category Other_Alphabetic
// ranges; the remaining Other_Alphabetic code points are marks and thus covered.)
bool IsUnicodeWordChar(char32_t cp);

}  // namespace mneme::tokenizer

#endif  // MNEME_ENGINE_TOKENIZER_UNICODE_H_
