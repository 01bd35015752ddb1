#include "memory/segment_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"
#include "common/half.h"
#include "memory/crc32c.h"
#include "common/fp8.h"
#include "common/quantize.h"

namespace mneme::memory {
namespace {

constexpr char kMagic[4] = {'M', 'N', 'S', 'G'};
constexpr uint16_t kVersion = 1;
constexpr uint8_t kArrays = 3;
// The largest fp8 scale the encoder can write (absmax = FLT_MAX); with it 448 x scale is still
// finite, so a decoded fp8 value is always finite.
constexpr float kFp8MaxScale = std::numeric_limits<float>::max() / kFp8E4m3Max;

template <typename T>
void Put(std::string* out, size_t at, T v) {  // little-endian hosts only (static_assert below)
  std::memcpy(out->data() + at, &v, sizeof(T));
}
template <typename T>
T Get(std::string_view in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof(T));
  return v;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "segment codec assumes little-endian");

size_t PayloadBytes(SegmentCodec codec, const SegmentShape& s) {
  const size_t n = s.values();
  if (codec == SegmentCodec::kBf16) return kArrays * n * 2;
  return kArrays * (size_t{s.chunks} * s.kv_heads * sizeof(float) + n);  // scales + 1-byte codes
}

bool KnownCodec(uint8_t b) {
  return b == static_cast<uint8_t>(SegmentCodec::kBf16) ||
         b == static_cast<uint8_t>(SegmentCodec::kInt8) ||
         b == static_cast<uint8_t>(SegmentCodec::kFp8);
}

// The segment codecs' 1-byte formats are common/quantize.h's.
ByteCodec ByteCodecOf(SegmentCodec codec) {
  return codec == SegmentCodec::kInt8 ? ByteCodec::kInt8 : ByteCodec::kFp8;
}

std::string Where(const SegmentKey& k) {
  return absl::StrFormat("segment (session %016x, document %016x, layer %d)", k.session_id,
                         k.document_id, k.layer);
}

}  // namespace

absl::StatusOr<SegmentCodec> ParseSegmentCodec(std::string_view name) {
  if (name == "bf16") return SegmentCodec::kBf16;
  if (name == "int8") return SegmentCodec::kInt8;
  if (name == "fp8") return SegmentCodec::kFp8;
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown codec '%s'; expected bf16, int8 or fp8", name));
}

const char* SegmentCodecName(SegmentCodec codec) {
  switch (codec) {
    case SegmentCodec::kBf16: return "bf16";
    case SegmentCodec::kInt8: return "int8";
    case SegmentCodec::kFp8: return "fp8";
  }
  return "unknown";
}

absl::StatusOr<std::string> EncodeSegment(const SegmentKey& key, SegmentCodec codec,
                                          const SegmentShape& shape, const float* k,
                                          const float* v, const float* kr) {
  if (shape.values() == 0) return absl::InvalidArgumentError("segment: empty shape");
  const size_t n = shape.values();
  const float* arrays[kArrays] = {k, v, kr};
  for (const float* a : arrays) {
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(a[i])) return absl::InvalidArgumentError(Where(key) + ": non-finite value");
    }
  }
  const size_t payload = PayloadBytes(codec, shape);
  std::string out(kSegmentHeaderBytes + payload + sizeof(uint32_t), '\0');
  std::memcpy(out.data(), kMagic, 4);
  Put<uint16_t>(&out, 4, kVersion);
  Put<uint8_t>(&out, 6, static_cast<uint8_t>(codec));
  Put<uint8_t>(&out, 7, kArrays);
  Put<uint32_t>(&out, 8, key.layer);
  Put<uint16_t>(&out, 12, shape.kv_heads);
  Put<uint16_t>(&out, 14, shape.head_dim);
  Put<uint32_t>(&out, 16, shape.chunks);
  Put<uint32_t>(&out, 20, 0);
  Put<uint64_t>(&out, 24, key.model_fingerprint);
  Put<uint64_t>(&out, 32, key.session_id);
  Put<uint64_t>(&out, 40, key.document_id);
  Put<uint64_t>(&out, 48, payload);
  size_t at = kSegmentHeaderBytes;
  const size_t groups = size_t{shape.chunks} * shape.kv_heads;
  for (const float* a : arrays) {
    if (codec == SegmentCodec::kBf16) {
      for (size_t i = 0; i < n; ++i, at += 2) Put<uint16_t>(&out, at, FloatToBf16(a[i]));
      continue;
    }
    // int8 / fp8: one scale per (chunk, head) group of head_dim values, all scales first.
    const size_t scales_at = at;
    at += groups * sizeof(float);
    for (size_t g = 0; g < groups; ++g, at += shape.head_dim) {
      const float scale = QuantizeGroup(ByteCodecOf(codec), a + g * shape.head_dim, shape.head_dim,
                                        reinterpret_cast<uint8_t*>(out.data() + at));
      Put<float>(&out, scales_at + g * sizeof(float), scale);
    }
  }
  Put<uint32_t>(&out, at, Crc32c(out.data(), at));
  return out;
}

absl::StatusOr<DecodedSegment> DecodeSegment(std::string_view bytes, const SegmentKey& expected) {
  const std::string where = Where(expected);
  auto loss = [&](const std::string& what) { return absl::DataLossError(where + ": " + what); };
  if (bytes.size() < kSegmentHeaderBytes + sizeof(uint32_t)) {
    return loss(absl::StrFormat("%d bytes, shorter than a header", bytes.size()));
  }
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) return loss("bad magic");
  // The checksum first: nothing else in the header is trusted before it verifies.
  const size_t body = bytes.size() - sizeof(uint32_t);
  if (Crc32c(bytes.data(), body) != Get<uint32_t>(bytes, body)) return loss("checksum mismatch");
  if (Get<uint16_t>(bytes, 4) != kVersion) {
    return loss(absl::StrFormat("format version %d, expected %d", Get<uint16_t>(bytes, 4), kVersion));
  }
  const uint8_t codec_byte = Get<uint8_t>(bytes, 6);
  if (!KnownCodec(codec_byte)) return loss(absl::StrFormat("unknown codec %d", codec_byte));
  if (Get<uint8_t>(bytes, 7) != kArrays) return loss("wrong array count");
  SegmentKey got;
  got.layer = Get<uint32_t>(bytes, 8);
  got.model_fingerprint = Get<uint64_t>(bytes, 24);
  got.session_id = Get<uint64_t>(bytes, 32);
  got.document_id = Get<uint64_t>(bytes, 40);
  if (got.layer != expected.layer || got.model_fingerprint != expected.model_fingerprint ||
      got.session_id != expected.session_id || got.document_id != expected.document_id) {
    return loss(absl::StrFormat(
        "belongs to session %016x document %016x layer %d model %016x (expected model %016x)",
        got.session_id, got.document_id, got.layer, got.model_fingerprint, expected.model_fingerprint));
  }
  DecodedSegment d;
  d.codec = static_cast<SegmentCodec>(codec_byte);
  d.shape.kv_heads = Get<uint16_t>(bytes, 12);
  d.shape.head_dim = Get<uint16_t>(bytes, 14);
  d.shape.chunks = Get<uint32_t>(bytes, 16);
  const uint64_t payload = Get<uint64_t>(bytes, 48);
  // Every value takes at least one byte, so values() <= body bounds PayloadBytes() far below
  // overflow (a forged shape could otherwise wrap it around to the value's length).
  if (d.shape.values() == 0 || d.shape.values() > body ||
      payload != PayloadBytes(d.codec, d.shape) ||
      kSegmentHeaderBytes + payload != body) {
    return loss("sizes in the header disagree with the value's length");
  }
  const size_t n = d.shape.values();
  const size_t groups = size_t{d.shape.chunks} * d.shape.kv_heads;
  std::vector<float>* arrays[kArrays] = {&d.k, &d.v, &d.kr};
  size_t at = kSegmentHeaderBytes;
  for (std::vector<float>* a : arrays) {
    a->resize(n);
    if (d.codec == SegmentCodec::kBf16) {
      for (size_t i = 0; i < n; ++i, at += 2) (*a)[i] = Bf16ToFloat(Get<uint16_t>(bytes, at));
      continue;
    }
    const size_t scales_at = at;
    at += groups * sizeof(float);
    for (size_t g = 0; g < groups; ++g) {
      const float scale = Get<float>(bytes, scales_at + g * sizeof(float));
      float* x = a->data() + g * d.shape.head_dim;
      if (d.codec == SegmentCodec::kInt8) {
        // The encoder writes absmax / 127 of finite values: >= 0 and finite.
        if (!(scale >= 0.0f && scale <= std::numeric_limits<float>::max() / 127.0f)) {  // also NaN
          return loss(absl::StrFormat("int8 scale %g of group %d is out of range", scale, g));
        }
        for (size_t i = 0; i < d.shape.head_dim; ++i, ++at) {
          x[i] = DequantizeCode(ByteCodec::kInt8, Get<uint8_t>(bytes, at), scale);
        }
        continue;
      }
      if (!(scale > 0.0f && scale <= kFp8MaxScale)) {  // also catches NaN
        return loss(absl::StrFormat("fp8 scale %g of group %d is out of range", scale, g));
      }
      for (size_t i = 0; i < d.shape.head_dim; ++i, ++at) {
        const uint8_t code = Get<uint8_t>(bytes, at);
        if (Fp8E4m3IsNan(code)) return loss(absl::StrFormat("NaN fp8 code at byte %d", at));
        x[i] = DequantizeCode(ByteCodec::kFp8, code, scale);
      }
    }
  }
  return d;
}

absl::StatusOr<std::string> RebindSegment(std::string_view bytes, const SegmentKey& expected,
                                          uint64_t new_session_id) {
  absl::StatusOr<DecodedSegment> check = DecodeSegment(bytes, expected);
  if (!check.ok()) return check.status();
  std::string out(bytes);
  Put<uint64_t>(&out, 32, new_session_id);
  const size_t body = out.size() - sizeof(uint32_t);
  Put<uint32_t>(&out, body, Crc32c(out.data(), body));
  return out;
}

}  // namespace mneme::memory
