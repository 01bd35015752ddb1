// libFuzzer target for memory::DecodeSegment (docs/format/segment.md, docs/fuzzing.md).
//
// Each input is decoded three times: as is with the seeds' fixed key; as is with the identity
// read from its own header bytes; and, since libFuzzer cannot forge a CRC-32C, with its last 4
// bytes replaced by the CRC of the rest, again with the header's identity -- so every mutation of
// header or payload reaches the checks behind the CRC. Beyond "no crash, no sanitizer report",
// it checks the decoder's contract and aborts (the fuzzer's way of reporting a finding) when:
//   - a failure is not DataLoss;
//   - a decoded segment's arrays disagree with its shape, or an fp8 one holds a non-finite value;
//   - re-encoding it with the same codec fails (finite values) or succeeds (non-finite), changes
//     the size, changes a bf16 payload at all, or yields a segment that does not decode back to
//     the same codec and shape with values within the codec's error bound.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "memory/crc32c.h"
#include "memory/segment_codec.h"
#include "tests/fuzz/segment_fuzz_key.h"

namespace mneme::fuzz {
namespace {

using memory::DecodedSegment;
using memory::SegmentCodec;
using memory::SegmentKey;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "segment_decode_fuzzer: %s\n", what);
  std::abort();
}

bool AllFinite(const DecodedSegment& d) {
  for (const std::vector<float>* a : {&d.k, &d.v, &d.kr}) {
    for (float f : *a) {
      if (!std::isfinite(f)) return false;
    }
  }
  return true;
}

// The encoder's documented error for one value x quantised in a group of absmax `amax`
// (docs/format/segment.md), with room for fp32 rounding and for groups so small that the scale
// itself is an fp32 subnormal.
double ErrorBound(SegmentCodec codec, float x, float amax) {
  constexpr double kTiny = 1e-36;
  if (codec == SegmentCodec::kBf16) return 0.0;
  if (codec == SegmentCodec::kInt8) return (double(amax) / 127 / 2) * (1 + 1e-5) + kTiny;
  const double scale = double(amax) / 448;
  return std::max(std::ldexp(std::fabs(double(x)), -4), std::ldexp(scale, -10)) * (1 + 1e-5) +
         kTiny;
}

// Re-encoding the decoded values must give back a segment of the same codec, shape and size
// whose values are within the codec's bound of the first decode (equal for bf16).
void CheckReencode(std::string_view bytes, const SegmentKey& key, const DecodedSegment& d) {
  auto re = memory::EncodeSegment(key, d.codec, d.shape, d.k.data(), d.v.data(), d.kr.data());
  if (!AllFinite(d)) {
    if (d.codec == SegmentCodec::kFp8) Fail("fp8 segment decoded to a non-finite value");
    if (re.ok() || re.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("encoding non-finite values did not fail with InvalidArgument");
    }
    return;
  }
  if (!re.ok()) Fail("re-encoding a decoded segment failed");
  if (re->size() != bytes.size()) Fail("re-encoded segment has a different size");
  const size_t payload_at = memory::kSegmentHeaderBytes, payload_end = bytes.size() - 4;
  if (d.codec == SegmentCodec::kBf16 &&
      std::memcmp(re->data() + payload_at, bytes.data() + payload_at, payload_end - payload_at)) {
    Fail("bf16 payload changed on re-encoding");
  }
  auto d2 = memory::DecodeSegment(*re, key);
  if (!d2.ok()) Fail("re-encoded segment does not decode");
  if (d2->codec != d.codec || d2->shape.chunks != d.shape.chunks ||
      d2->shape.kv_heads != d.shape.kv_heads || d2->shape.head_dim != d.shape.head_dim) {
    Fail("re-encoded segment has a different codec or shape");
  }
  const size_t dim = d.shape.head_dim;
  const std::vector<float>* first[] = {&d.k, &d.v, &d.kr};
  const std::vector<float>* second[] = {&d2->k, &d2->v, &d2->kr};
  for (int a = 0; a < 3; ++a) {
    for (size_t g = 0; g * dim < first[a]->size(); ++g) {
      const float* x = first[a]->data() + g * dim;
      const float* y = second[a]->data() + g * dim;
      float amax = 0.0f;
      for (size_t i = 0; i < dim; ++i) amax = std::max(amax, std::fabs(x[i]));
      for (size_t i = 0; i < dim; ++i) {
        if (std::fabs(double(y[i]) - x[i]) > ErrorBound(d.codec, x[i], amax)) {
          Fail("re-encoded value outside the codec's error bound");
        }
      }
    }
  }
}

void CheckDecode(std::string_view bytes, const SegmentKey& key) {
  auto d = memory::DecodeSegment(bytes, key);
  if (!d.ok()) {
    if (d.status().code() != absl::StatusCode::kDataLoss) Fail("decode failed with non-DataLoss");
    return;
  }
  const size_t n = d->shape.values();
  if (n == 0 || d->k.size() != n || d->v.size() != n || d->kr.size() != n) {
    Fail("decoded arrays disagree with the decoded shape");
  }
  if (d->codec != SegmentCodec::kBf16 && d->codec != SegmentCodec::kInt8 &&
      d->codec != SegmentCodec::kFp8) {
    Fail("decoded an unknown codec");
  }
  CheckReencode(bytes, key, *d);
}

// The identity a segment's header claims (docs/format/segment.md offsets 8, 24, 32, 40).
SegmentKey HeaderKey(const uint8_t* data) {
  SegmentKey k;
  std::memcpy(&k.layer, data + 8, 4);
  std::memcpy(&k.model_fingerprint, data + 24, 8);
  std::memcpy(&k.session_id, data + 32, 8);
  std::memcpy(&k.document_id, data + 40, 8);
  return k;
}

}  // namespace
}  // namespace mneme::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mneme::fuzz::CheckDecode(bytes, mneme::fuzz::kSegmentSeedKey);
  if (size < mneme::memory::kSegmentHeaderBytes + 4) return 0;
  const mneme::memory::SegmentKey header_key = mneme::fuzz::HeaderKey(data);
  mneme::fuzz::CheckDecode(bytes, header_key);
  std::string repaired(bytes);
  const uint32_t crc = mneme::memory::Crc32c(repaired.data(), size - 4);
  std::memcpy(repaired.data() + size - 4, &crc, 4);
  mneme::fuzz::CheckDecode(repaired, header_key);
  return 0;
}
