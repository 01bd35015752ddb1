// The segment codec: how one document's pooled memory for one routed layer (K̄, V̄, K̄r, each
// [chunks, kv_heads, head_dim]) is stored. Self-describing and checksummed: the header names the
// format version, codec, shape, layer, model fingerprint, session and document, and a CRC-32C
// covers header and payload, so a value stored under the wrong key, a torn write or a flipped
// bit never decodes. Format: docs/format/segment.md.
//
// Codecs: kBf16 (the default; decodes to exactly the bf16-rounded values memory holds in RAM),
// kInt8 (per chunk-and-head absmax scales, about half the bytes) and kFp8 (fp8 e4m3, OCP FN
// variant, with per chunk-and-head scales absmax / 448; the same bytes as kInt8, relative rather
// than absolute error -- see common/fp8.h).
#ifndef MNEME_MEMORY_SEGMENT_CODEC_H_
#define MNEME_MEMORY_SEGMENT_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::memory {

enum class SegmentCodec : uint8_t { kBf16 = 1, kInt8 = 2, kFp8 = 3 };

// "bf16" | "int8" | "fp8"; InvalidArgument otherwise.
absl::StatusOr<SegmentCodec> ParseSegmentCodec(std::string_view name);
const char* SegmentCodecName(SegmentCodec codec);

// The identity a segment is bound to; decoding checks it.
struct SegmentKey {
  uint64_t model_fingerprint = 0;
  uint64_t session_id = 0;
  uint64_t document_id = 0;
  uint32_t layer = 0;
};

struct SegmentShape {
  uint32_t chunks = 0;
  uint16_t kv_heads = 0;
  uint16_t head_dim = 0;
  size_t values() const { return size_t{chunks} * kv_heads * head_dim; }
};

struct DecodedSegment {
  SegmentCodec codec = SegmentCodec::kBf16;
  SegmentShape shape;
  std::vector<float> k, v, kr;  // [chunks * kv_heads * head_dim] each
};

inline constexpr size_t kSegmentHeaderBytes = 56;

// Encodes k, v, kr (each shape.values() floats). InvalidArgument for an empty shape or
// non-finite values.
[[nodiscard]] absl::StatusOr<std::string> EncodeSegment(const SegmentKey& key, SegmentCodec codec,
                                                        const SegmentShape& shape, const float* k,
                                                        const float* v, const float* kr);

// Decodes and verifies. DataLoss, naming session/document/layer, when: the bytes are short or
// long, the magic/version/codec is unknown, the sizes disagree, the CRC fails, the header's
// identity differs from `expected`, or (kFp8) a scale is not finite and positive or a code is
// NaN (0x7F/0xFF) -- values the encoder never writes.
[[nodiscard]] absl::StatusOr<DecodedSegment> DecodeSegment(std::string_view bytes,
                                                           const SegmentKey& expected);

// The same segment bound to another session (re-sharding moves documents between stores,
// whose sessions have their own ids): verified as DecodeSegment does against `expected`, then
// the session id and checksum are rewritten; the encoded values are kept byte for byte.
[[nodiscard]] absl::StatusOr<std::string> RebindSegment(std::string_view bytes, const SegmentKey& expected,
                                                        uint64_t new_session_id);

}  // namespace mneme::memory

#endif  // MNEME_MEMORY_SEGMENT_CODEC_H_
