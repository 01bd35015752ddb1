#include "memory/segment_codec.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "common/half.h"
#include "gtest/gtest.h"
#include "memory/crc32c.h"
#include "common/fp8.h"

namespace mneme::memory {
namespace {

const SegmentKey kKey{0x3d97d4cb1f5f8386ull, 7, 0xe96a8a7ed7f076beull, 18};

struct Arrays {
  std::vector<float> k, v, kr;
};

Arrays RandomArrays(const SegmentShape& s, uint32_t seed, bool bf16_exact) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.7f);
  Arrays a;
  for (auto* x : {&a.k, &a.v, &a.kr}) {
    x->resize(s.values());
    for (float& f : *x) f = bf16_exact ? Bf16ToFloat(FloatToBf16(g(rng))) : g(rng);
  }
  return a;
}

TEST(Crc32cTest, KnownVectorsAndExtend) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);  // the standard CRC-32C check value
  EXPECT_EQ(Crc32c("", 0), 0u);
  const std::string s = "The quick brown fox jumps over the lazy dog, twice over.";
  EXPECT_EQ(Crc32cExtend(Crc32c(s.data(), 13), s.data() + 13, s.size() - 13), Crc32c(s.data(), s.size()));
}

TEST(Crc32cTest, HardwareAndPortablePathsAgree) {
  std::mt19937 rng(7);
  std::string buf(4099, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t start : {0, 1, 3, 8}) {
    for (size_t len : {0, 1, 7, 8, 9, 63, 64, 1000, 4090}) {
      const uint32_t seed = rng();
      EXPECT_EQ(Crc32cExtend(seed, buf.data() + start, len), Crc32cExtendPortable(seed, buf.data() + start, len))
          << start << "+" << len;
    }
  }
  EXPECT_EQ(Crc32cExtendPortable(0, "123456789", 9), 0xE3069283u);
}

TEST(SegmentCodecTest, Bf16RoundTripIsExact) {
  const SegmentShape shape{5, 8, 128};
  Arrays a = RandomArrays(shape, 1, true);
  auto bytes = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), kSegmentHeaderBytes + 3 * shape.values() * 2 + 4);
  auto d = DecodeSegment(*bytes, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->k, a.k);
  EXPECT_EQ(d->v, a.v);
  EXPECT_EQ(d->kr, a.kr);
  EXPECT_EQ(d->shape.chunks, 5u);
}

TEST(SegmentCodecTest, Int8IsWithinHalfAStepAndAboutHalfTheBytes) {
  const SegmentShape shape{9, 8, 128};
  Arrays a = RandomArrays(shape, 2, false);
  auto b16 = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  auto b8 = EncodeSegment(kKey, SegmentCodec::kInt8, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(b16.ok() && b8.ok());
  EXPECT_LT(double(b8->size()) / b16->size(), 0.52);  // 1 byte + 4/128 scale bytes vs 2
  auto d = DecodeSegment(*b8, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->codec, SegmentCodec::kInt8);
  for (size_t g = 0; g < size_t{shape.chunks} * shape.kv_heads; ++g) {
    float amax = 0;
    for (size_t i = 0; i < shape.head_dim; ++i) amax = std::max(amax, std::fabs(a.v[g * 128 + i]));
    for (size_t i = 0; i < shape.head_dim; ++i) {
      ASSERT_NEAR(d->v[g * 128 + i], a.v[g * 128 + i], amax / 127 * 0.5001f);
    }
  }
}

TEST(SegmentCodecTest, WrongIdentityIsDataLoss) {
  const SegmentShape shape{2, 2, 16};
  Arrays a = RandomArrays(shape, 3, true);
  auto bytes = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(bytes.ok());
  for (int field = 0; field < 4; ++field) {
    SegmentKey other = kKey;
    if (field == 0) other.model_fingerprint ^= 1;
    if (field == 1) other.session_id ^= 1;
    if (field == 2) other.document_id ^= 1;
    if (field == 3) other.layer ^= 1;
    auto d = DecodeSegment(*bytes, other);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << field;
    EXPECT_NE(d.status().message().find("layer"), std::string::npos);
  }
}

TEST(SegmentCodecTest, EveryBitFlipAndTruncationIsDetected) {
  const SegmentShape shape{1, 2, 8};
  Arrays a = RandomArrays(shape, 4, true);
  for (SegmentCodec codec : {SegmentCodec::kBf16, SegmentCodec::kInt8, SegmentCodec::kFp8}) {
    auto bytes = EncodeSegment(kKey, codec, shape, a.k.data(), a.v.data(), a.kr.data());
    ASSERT_TRUE(bytes.ok());
    for (size_t bit = 0; bit < bytes->size() * 8; ++bit) {
      std::string damaged = *bytes;
      damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
      ASSERT_EQ(DecodeSegment(damaged, kKey).status().code(), absl::StatusCode::kDataLoss) << bit;
    }
    for (size_t len = 0; len < bytes->size(); ++len) {
      ASSERT_EQ(DecodeSegment(bytes->substr(0, len), kKey).status().code(), absl::StatusCode::kDataLoss);
    }
    ASSERT_EQ(DecodeSegment(*bytes + "x", kKey).status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST(SegmentCodecTest, RandomBytesNeverDecode) {
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 4) junk.replace(0, 4, "MNSG");
    EXPECT_FALSE(DecodeSegment(junk, kKey).ok());
  }
}

TEST(SegmentCodecTest, RejectsBadInputToEncode) {
  std::vector<float> x(16, 1.0f);
  EXPECT_FALSE(EncodeSegment(kKey, SegmentCodec::kBf16, {0, 2, 8}, x.data(), x.data(), x.data()).ok());
  x[3] = NAN;
  EXPECT_FALSE(EncodeSegment(kKey, SegmentCodec::kBf16, {1, 2, 8}, x.data(), x.data(), x.data()).ok());
  EXPECT_FALSE(ParseSegmentCodec("fp4").ok());
  EXPECT_EQ(*ParseSegmentCodec("int8"), SegmentCodec::kInt8);
  EXPECT_EQ(*ParseSegmentCodec("fp8"), SegmentCodec::kFp8);
  EXPECT_STREQ(SegmentCodecName(SegmentCodec::kFp8), "fp8");
  EXPECT_STREQ(SegmentCodecName(*ParseSegmentCodec("bf16")), "bf16");
  EXPECT_STREQ(SegmentCodecName(*ParseSegmentCodec("int8")), "int8");
}

// ---- fp8 e4m3 ----------------------------------------------------------------------------

// The OCP e4m3 (FN) value of `code`, from the definition rather than bit manipulation;
// NaN for 0x7F/0xFF.
float ReferenceE4m3(int code) {
  const double sign = (code & 0x80) ? -1.0 : 1.0;
  const int e = (code >> 3) & 0xF;
  const int m = code & 0x7;
  if (e == 15 && m == 7) return NAN;
  if (e == 0) return static_cast<float>(sign * std::ldexp(1.0, -6) * m / 8.0);
  return static_cast<float>(sign * std::ldexp(1.0, e - 7) * (1.0 + m / 8.0));
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

TEST(Fp8Test, EveryCodeDecodesToTheOcpValue) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    const float want = ReferenceE4m3(c);
    const float got = Fp8E4m3ToFloat(static_cast<uint8_t>(c));
    ASSERT_EQ(Fp8E4m3IsNan(static_cast<uint8_t>(c)), std::isnan(want)) << c;
    if (std::isnan(want)) {
      ++nans;
      EXPECT_TRUE(std::isnan(got)) << c;
      continue;
    }
    EXPECT_TRUE(SameBits(got, want)) << c << ": " << got << " vs " << want;  // -0 included
  }
  EXPECT_EQ(nans, 2);
  EXPECT_EQ(Fp8E4m3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(Fp8E4m3ToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(Fp8E4m3ToFloat(0x08), std::ldexp(1.0f, -6));
}

TEST(Fp8Test, EveryFiniteCodeRoundTripsExactly) {
  for (int c = 0; c < 256; ++c) {
    if (Fp8E4m3IsNan(static_cast<uint8_t>(c))) continue;
    EXPECT_EQ(FloatToFp8E4m3(ReferenceE4m3(c)), c) << c;
  }
  EXPECT_EQ(FloatToFp8E4m3(NAN), 0x7F);
}

TEST(Fp8Test, RoundsToNearestEven) {
  const float u = std::ldexp(1.0f, -9);  // the subnormal step
  struct Case {
    float x;
    uint8_t code;
  } cases[] = {
      {1.0f + 1.0f / 16, 0x38},            // tie between 1 (m 0) and 1.125 (m 1): even, down
      {1.0f + 3.0f / 16, 0x3A},            // tie between 1.125 and 1.25 (m 2): even, up
      {1.0f + 1.0f / 16 + 1e-6f, 0x39},    // just above the tie: up
      {1.0f + 15.0f / 16, 0x40},           // tie between 1.875 and 2: carries into the exponent
      {-(1.0f + 1.0f / 16), 0xB8},         // sign symmetric
      {0.5f * u, 0x00},                    // tie between 0 and the smallest subnormal: even, 0
      {-0.5f * u, 0x80},                   // ... keeping the sign
      {0.5f * u * 1.0001f, 0x01},          // above it: the smallest subnormal
      {1.5f * u, 0x02},                    // tie between subnormals 1 and 2: even, 2
      {2.5f * u, 0x02},                    // tie between 2 and 3: even, 2
      {7.5f * u, 0x08},                    // tie between the largest subnormal and 2^-6
      {6.5f * u, 0x06},                    // subnormal tie, down
      {432.0f, 0x7E},                      // tie between 416 (m 5) and 448 (m 6): even, up
      {424.0f, 0x7D},                      // below the tie
      {FLT_TRUE_MIN, 0x00},                // fp32 subnormals underflow to zero
  };
  for (const Case& c : cases) EXPECT_EQ(FloatToFp8E4m3(c.x), c.code) << c.x;
  // Every midpoint between neighbouring codes (exact in fp32) goes to the even one; one fp32 ulp
  // either side goes to the nearer.
  for (int c = 0; c < 0x7E; ++c) {
    for (float sign : {1.0f, -1.0f}) {
      const float mid = sign * (ReferenceE4m3(c) + ReferenceE4m3(c + 1)) / 2;
      const uint8_t neg = sign < 0 ? 0x80 : 0x00;
      EXPECT_EQ(FloatToFp8E4m3(mid), neg | (c % 2 == 0 ? c : c + 1)) << mid;
      EXPECT_EQ(FloatToFp8E4m3(std::nextafter(mid, 0.0f)), neg | c) << mid;
      EXPECT_EQ(FloatToFp8E4m3(std::nextafter(mid, sign * INFINITY)), neg | (c + 1)) << mid;
    }
  }
}

TEST(Fp8Test, SaturatesAndNeverProducesNanForNonNan) {
  for (float x : {448.0f, 448.5f, 464.0f, 480.0f, 1e6f, FLT_MAX, INFINITY}) {
    EXPECT_EQ(FloatToFp8E4m3(x), 0x7E) << x;
    EXPECT_EQ(FloatToFp8E4m3(-x), 0xFE) << x;
  }
  // Sweep every 4093rd fp32 bit pattern up to infinity (a prime stride, so mantissas vary):
  // RNE against a brute-force nearest search over the finite non-negative codes.
  float table[0x7F];
  for (int c = 0; c < 0x7F; ++c) table[c] = ReferenceE4m3(c);
  for (uint64_t bits = 0; bits < 0x7F800000u; bits += 4093) {
    float x;
    const uint32_t b32 = static_cast<uint32_t>(bits);
    std::memcpy(&x, &b32, sizeof(x));
    const uint8_t code = FloatToFp8E4m3(x);
    ASSERT_FALSE(Fp8E4m3IsNan(code)) << x;
    int best = 0;
    for (int c = 1; c <= 0x7E; ++c) {
      const double d = std::fabs(double(table[c]) - x);
      const double db = std::fabs(double(table[best]) - x);
      if (d < db || (d == db && (c & 1) == 0)) best = c;
    }
    ASSERT_EQ(code, best) << x;
  }
}

TEST(SegmentCodecTest, Fp8RoundTripsEveryCodeValueExactly) {
  // One group holding all 254 finite e4m3 values (±448 included, so its scale is exactly 1).
  std::vector<float> x;
  for (int c = 0; c < 256; ++c) {
    if (!Fp8E4m3IsNan(static_cast<uint8_t>(c))) x.push_back(ReferenceE4m3(c));
  }
  const SegmentShape shape{1, 1, static_cast<uint16_t>(x.size())};
  std::vector<float> zeros(x.size(), 0.0f);  // a zero group: scale 1, zero codes
  auto bytes = EncodeSegment(kKey, SegmentCodec::kFp8, shape, x.data(), zeros.data(), x.data());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto d = DecodeSegment(*bytes, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->codec, SegmentCodec::kFp8);
  EXPECT_EQ(d->k, x);
  EXPECT_EQ(d->kr, x);
  EXPECT_EQ(d->v, zeros);
  float v_scale;
  std::memcpy(&v_scale, bytes->data() + kSegmentHeaderBytes + 4 + x.size(), 4);
  EXPECT_EQ(v_scale, 1.0f);
}

TEST(SegmentCodecTest, Fp8IsWithinHalfAnUlpAndAboutHalfTheBytes) {
  const SegmentShape shape{9, 8, 128};
  Arrays a = RandomArrays(shape, 6, false);
  auto b16 = EncodeSegment(kKey, SegmentCodec::kBf16, shape, a.k.data(), a.v.data(), a.kr.data());
  auto b8 = EncodeSegment(kKey, SegmentCodec::kFp8, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(b16.ok() && b8.ok());
  const double ratio = double(b8->size()) / b16->size();
  std::printf("[ fp8 ] %zu bytes vs bf16 %zu: %.4f\n", b8->size(), b16->size(), ratio);
  RecordProperty("fp8_to_bf16_bytes", std::to_string(ratio));
  EXPECT_LT(ratio, 0.52);  // 1 byte + 4/128 scale bytes vs 2
  auto d = DecodeSegment(*b8, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  double worst_rel = 0;
  const std::vector<float>* in[] = {&a.k, &a.v, &a.kr};
  const std::vector<float>* out[] = {&d->k, &d->v, &d->kr};
  for (int arr = 0; arr < 3; ++arr) {
    for (size_t g = 0; g < size_t{shape.chunks} * shape.kv_heads; ++g) {
      float amax = 0;
      for (size_t i = 0; i < 128; ++i) amax = std::max(amax, std::fabs((*in[arr])[g * 128 + i]));
      const float scale = amax / 448.0f;
      for (size_t i = 0; i < 128; ++i) {
        const float x = (*in[arr])[g * 128 + i], y = (*out[arr])[g * 128 + i];
        // Half an ulp: 2^-4 relative for normals, 2^-10 x scale in the subnormal range; the
        // factor covers the fp32 rounding of x / scale and of code x scale (2 x 2^-24).
        const double bound = std::max(std::ldexp(std::fabs(x), -4), std::ldexp(scale, -10));
        ASSERT_LE(std::fabs(double(y) - x), bound * (1 + 1e-5)) << arr << " " << g << " " << i;
        if (std::fabs(x) >= std::ldexp(scale, -6)) {
          worst_rel = std::max(worst_rel, std::fabs(double(y) - x) / std::fabs(x));
        }
      }
    }
  }
  EXPECT_LE(worst_rel, 1.0 / 16 * (1 + 1e-5));
  EXPECT_GT(worst_rel, 1.0 / 32);  // the bound is tight, not vacuous
}

TEST(SegmentCodecTest, Fp8HandlesExtremeGroups) {
  const SegmentShape shape{1, 1, 4};
  std::vector<float> big = {FLT_MAX, -FLT_MAX, 1.0f, 0.0f};
  std::vector<float> tiny = {FLT_TRUE_MIN, -FLT_TRUE_MIN, 0.0f, 0.0f};  // scale underflows
  std::vector<float> zero(4, 0.0f);
  auto bytes = EncodeSegment(kKey, SegmentCodec::kFp8, shape, big.data(), tiny.data(), zero.data());
  ASSERT_TRUE(bytes.ok());
  auto d = DecodeSegment(*bytes, kKey);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->k[0], FLT_MAX);
  EXPECT_EQ(d->k[1], -FLT_MAX);
  for (float f : d->v) EXPECT_EQ(f, 0.0f);
  for (float f : d->kr) EXPECT_EQ(f, 0.0f);
}

// Rewrites byte `at` of an encoded segment (and the CRC, so the change is not caught there).
std::string Forge(std::string bytes, size_t at, const void* value, size_t n) {
  std::memcpy(bytes.data() + at, value, n);
  const size_t body = bytes.size() - 4;
  const uint32_t crc = Crc32c(bytes.data(), body);
  std::memcpy(bytes.data() + body, &crc, 4);
  return bytes;
}

TEST(SegmentCodecTest, ForgedShapeCannotWrapThePayloadSize) {
  // 3340214413 x 55810 x 49477 = 2^63 + 2 values: 6 bytes x 3 arrays each wraps (mod 2^64) to
  // 12, exactly the payload of a real {1, 1, 2} bf16 segment. Without a bound on values() the
  // decoder would believe the sizes and allocate 2^63 floats.
  const SegmentShape shape{1, 1, 2};
  const float x[2] = {1.0f, -2.0f};
  auto bytes = EncodeSegment(kKey, SegmentCodec::kBf16, shape, x, x, x);
  ASSERT_TRUE(bytes.ok());
  const uint16_t heads = 55810, dim = 49477;
  const uint32_t chunks = 3340214413u;
  std::string forged = Forge(Forge(Forge(*bytes, 12, &heads, 2), 14, &dim, 2), 16, &chunks, 4);
  ASSERT_EQ(SegmentShape({chunks, heads, dim}).values() * 6, 12u);  // the wrap is real
  EXPECT_EQ(DecodeSegment(forged, kKey).status().code(), absl::StatusCode::kDataLoss);
}

TEST(SegmentCodecTest, Fp8RejectsNanCodesAndBadScales) {
  const SegmentShape shape{2, 2, 8};
  Arrays a = RandomArrays(shape, 7, false);
  auto bytes = EncodeSegment(kKey, SegmentCodec::kFp8, shape, a.k.data(), a.v.data(), a.kr.data());
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(DecodeSegment(Forge(*bytes, 0, "MNSG", 4), kKey).ok());  // Forge itself is sound
  const size_t scales = kSegmentHeaderBytes, codes = scales + 4 * 4;
  const size_t v_codes = codes + shape.values() + 4 * 4;  // second array's codes
  for (uint8_t nan : {uint8_t{0x7F}, uint8_t{0xFF}}) {
    for (size_t at : {codes, codes + 17, v_codes + 5}) {
      auto d = DecodeSegment(Forge(*bytes, at, &nan, 1), kKey);
      EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << at;
      EXPECT_NE(d.status().message().find("NaN"), std::string::npos) << d.status();
    }
  }
  for (float scale : {0.0f, -1.0f, NAN, INFINITY, FLT_MAX}) {
    auto d = DecodeSegment(Forge(*bytes, scales + 4, &scale, 4), kKey);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << scale;
  }
  // The same byte is an ordinary value (127) under int8.
  auto i8 = EncodeSegment(kKey, SegmentCodec::kInt8, shape, a.k.data(), a.v.data(), a.kr.data());
  const uint8_t b = 0x7F;
  EXPECT_TRUE(DecodeSegment(Forge(*i8, codes, &b, 1), kKey).ok());
}

}  // namespace
}  // namespace mneme::memory
